"""Results of the transfer sweep in the paper's layout: single-domain table, best source per target, full matrix;
one heatmap per model and mode; model cards for the single-domain models.

The best source for a target is chosen on the *validation* ROC-AUC of the transferred models and reported with its
test metrics (the paper reports its best transfers without saying how the source was chosen; selecting on test
would overstate transfer).
"""

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def _pair(metrics):
    roc, ap = metrics.get("roc_auc"), metrics.get("average_precision")
    return "-" if roc is None else f"{roc:.4f} / {ap:.4f}" if ap is not None else f"{roc:.4f}"


def best_sources(results, plan):
    """{model: {mode: {target: {source, validation_roc_auc, test}}}} chosen on validation ROC-AUC."""
    best = {}
    for model, per_mode in results["transfer"].items():
        for mode, per_source in per_mode.items():
            for target in plan.datasets:
                candidates = [(per_source[s][target]["validation"].get("roc_auc", float("nan")), s)
                              for s in per_source if target in per_source[s]]
                candidates = [(v, s) for v, s in candidates if v == v]
                if not candidates:
                    continue
                value, source = max(candidates)
                best.setdefault(model, {}).setdefault(mode, {})[target] = {
                    "source": source, "validation_roc_auc": value, "test": per_source[source][target]["test"]}
    return best


def results_markdown(results, plan, best):
    from .models import PRETTY

    models = list(plan.models)
    name = {m: PRETTY.get(m, m) if plan.models[m] != "mert" else m for m in models}
    lines = ["# From West to East: transfer study", ""]
    if plan.miniature:
        lines += ["Miniature run (`culturemert transfer`): synthetic corpus, small models, few epochs. The numbers "
                  "show that the pipeline runs end to end, not how these models do on real music.", ""]
    lines += ["## Single-domain training (test ROC-AUC / PR-AUC, per track)", "",
              "| target | " + " | ".join(name[m] for m in models) + " |", "|---|" + "---|" * len(models)]
    for dataset in plan.datasets:
        cells = [_pair(results["single"][m][dataset]["test"]) for m in models]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    lines += ["", "## Best source per target (test ROC-AUC / PR-AUC; source chosen on validation ROC-AUC)", "",
              "Each cell: " + " ; ".join(f"{mode}: source ROC / PR" for mode in plan.modes) + ".", "",
              "| target | " + " | ".join(name[m] for m in models) + " |", "|---|" + "---|" * len(models)]
    for dataset in plan.datasets:
        cells = []
        for m in models:
            parts = []
            for mode in plan.modes:
                entry = best.get(m, {}).get(mode, {}).get(dataset)
                parts.append(f"{entry['source']} {_pair(entry['test'])}" if entry else "-")
            cells.append(" ; ".join(parts))
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    lines += ["", "## Full matrix (test ROC-AUC / PR-AUC; rows: source, columns: target; diagonal: single-domain)"]
    for m in models:
        for mode in plan.modes:
            per_source = results["transfer"].get(m, {}).get(mode, {})
            lines += ["", f"### {name[m]}, {mode}", "", "| source \\ target | " + " | ".join(plan.datasets) + " |",
                      "|---|" + "---|" * len(plan.datasets)]
            for source in plan.datasets:
                cells = []
                for target in plan.datasets:
                    if source == target:
                        cells.append(f"*{_pair(results['single'][m][source]['test'])}*")
                    else:
                        entry = per_source.get(source, {}).get(target)
                        cells.append(_pair(entry["test"]) if entry else "-")
                lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_heatmap(results, plan, model, mode, path, metric="roc_auc"):
    """Source x target heatmap of test ``metric`` (diagonal: single-domain), annotated, one PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    names = plan.datasets
    grid = np.full((len(names), len(names)), np.nan)
    per_source = results["transfer"].get(model, {}).get(mode, {})
    for i, source in enumerate(names):
        for j, target in enumerate(names):
            entry = results["single"][model][source] if i == j else per_source.get(source, {}).get(target)
            if entry is not None and entry["test"].get(metric) is not None:
                grid[i, j] = entry["test"][metric]
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2.2, 1.0 * len(names) + 1.6))
    image = ax.imshow(grid, cmap="viridis", vmin=np.nanmin(grid), vmax=np.nanmax(grid))
    for i in range(len(names)):
        for j in range(len(names)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=8,
                        color="white" if grid[i, j] < np.nanmean(grid) else "black",
                        fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    ax.set_title(f"{model}, {mode}: test {metric} (diagonal: single-domain)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def write_report(results, plan, folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    best = best_sources(results, plan)
    payload = {"preset": plan.args.preset, "datasets": plan.datasets, "models": plan.models, "modes": plan.modes,
               "selection": "best source per target by validation ROC-AUC; test metrics reported",
               "single_domain": {m: {d: {k: r[k] for k in ("validation", "test", "train_seconds", "parameters")
                                         if k in r} for d, r in per.items()} for m, per in results["single"].items()},
               "best_source": best,
               "transfer": {m: {mode: {s: {t: {k: r[k] for k in ("validation", "test", "train_seconds") if k in r}
                                           for t, r in per_t.items()} for s, per_t in per_s.items()}
                                for mode, per_s in per_mode.items()} for m, per_mode in results["transfer"].items()}}
    json_path, md_path = folder / "results.json", folder / "results.md"
    json_path.write_text(json.dumps(payload, indent=2))
    md_path.write_text(results_markdown(results, plan, best), encoding="utf-8")
    heatmaps = [plot_heatmap(results, plan, m, mode, folder / f"heatmap_{m}_{mode}.png")
                for m in plan.models for mode in plan.modes if results["transfer"].get(m, {}).get(mode)]
    return {"json": str(json_path), "markdown": str(md_path), "heatmaps": heatmaps}


def _fmt(metrics, key):
    value = metrics.get(key)
    return "-" if value is None else f"{value:.4f}"


def write_cards(results, plan):
    """A README.md (Hub model card) in every single-domain model folder."""
    from huggingface_hub import ModelCard, ModelCardData

    from ..cards import render_card
    from ..constants import SAMPLING_RATE
    from ..data.registry import CCML_CITATION, hub_org
    from .models import PRETTY, mert_chunk_seconds

    written = []
    for model, per in results["single"].items():
        family = plan.models[model]
        for dataset, entry in per.items():
            folder = Path(entry["folder"])
            config = json.loads((folder / "config.json").read_text())
            settings = plan.settings(model, dataset)
            repo_id = f"{hub_org()}/{model}-{dataset}"
            data = ModelCardData(library_name="transformers", pipeline_tag="audio-classification", license="apache-2.0",
                                 tags=["music", "audio", "music-tagging", "west-to-east", family],
                                 model_name=f"{model}-{dataset}")
            if family == "mert":
                chunk, rate = f"{mert_chunk_seconds(config):g} s", SAMPLING_RATE
                input_text = "mono 24 kHz waveforms (MERT's extractor: zero mean, unit variance per clip)."
            else:
                frames = config.get("chunk_frames") or config.get("max_length")
                chunk, rate = f"{frames} frames ({frames * 256 / 16000:.2f} s)", 16000
                input_text = ("mono 16 kHz audio -> mel-dB (n_fft 512, hop 256, 128 mels, f_max 8 kHz), the "
                              "`feature_extraction_mel.py` front end saved with the model.")
            note = ("Miniature run on the synthetic corpus: it shows the pipeline works, not how the model does on "
                    "real music." if plan.miniature else "")
            v, t = entry["validation"], entry["test"]
            text = render_card("transfer_tagger.md", data, title=f"{PRETTY.get(family, family)} on {dataset}",
                               family=PRETTY.get(family, family), dataset=dataset,
                               num_tags=len(config.get("id2label", {})), note=note, repo_id=repo_id, rate=rate,
                               chunk=chunk, input_text=input_text, v_roc=_fmt(v, "roc_auc"),
                               v_ap=_fmt(v, "average_precision"), v_mi=_fmt(v, "micro_f1"), v_ma=_fmt(v, "macro_f1"),
                               t_roc=_fmt(t, "roc_auc"), t_ap=_fmt(t, "average_precision"), t_mi=_fmt(t, "micro_f1"),
                               t_ma=_fmt(t, "macro_f1"), lr=settings.learning_rate, wd=settings.weight_decay,
                               batch=settings.batch_size, epochs=settings.epochs, citation=CCML_CITATION)
            ModelCard(text).save(str(folder / "README.md"))
            written.append(str(folder / "README.md"))
    return written
