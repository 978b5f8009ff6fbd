"""Figures of probing results (matplotlib, Agg backend: works headless)."""

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def plot_layer_scores(results, path, metric="roc_auc"):
    """Test ``metric`` per layer, one line per model, one panel per dataset; the weighted-sum probe is a dashed
    horizontal line in the model's colour. ``results``: {model: {dataset: probe_model result}}. Returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    datasets = list(dict.fromkeys(d for per in results.values() for d in per))
    if not datasets:
        raise ValueError("No results to plot")
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for column, dataset in enumerate(datasets):
        ax = axes[0, column]
        for index, (model, per) in enumerate(results.items()):
            result = per.get(dataset)
            if result is None:
                continue
            color = colors[index % len(colors)]
            layers = sorted(int(k) for k in result["layers"] if k != "weighted")
            means = [100 * result["layers"][str(k)]["test"][metric]["mean"] for k in layers]
            stds = [100 * result["layers"][str(k)]["test"][metric]["std"] for k in layers]
            ax.errorbar(layers, means, yerr=stds, marker="o", markersize=3, capsize=2, color=color, label=model)
            if "weighted" in result["layers"]:
                ax.axhline(100 * result["layers"]["weighted"]["test"][metric]["mean"], color=color, linestyle="--",
                           linewidth=1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(dataset)
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
        if column == 0:
            ax.set_ylabel(f"test {metric.replace('_', '-').upper()} (%)")
    axes[0, -1].legend(fontsize=8, title="dashed: weighted sum", title_fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    logger.info("Wrote %s", path)
    return path
