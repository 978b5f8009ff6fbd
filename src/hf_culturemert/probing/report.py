"""Result tables in the layout of the CultureMERT model card (one row per model, one column per dataset + average)."""

import math

PAIRS = {
    "roc_auc_map": ("roc_auc", "average_precision", "ROC-AUC / mAP"),
    "f1": ("micro_f1", "macro_f1", "micro-F1 / macro-F1"),
}


def _percent(value):
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def table_rows(results, models, datasets, pair):
    """Rows of one table as dicts: per dataset (first, second) means, and the average of all 2 x datasets values
    (the model card's `avg`: e.g. mean of every ROC-AUC and mAP)."""
    first, second, _ = PAIRS[pair]
    rows = []
    for model in models:
        row = {"model": model, "datasets": {}, "average": None}
        values = []
        for dataset in datasets:
            result = results.get(model, {}).get(dataset)
            if result is None:
                row["datasets"][dataset] = None
                continue
            a, b = result["summary"][first]["mean"], result["summary"][second]["mean"]
            row["datasets"][dataset] = {first: a, second: b}
            values += [v for v in (a, b) if not math.isnan(v)]
        row["average"] = sum(values) / len(values) if values else None
        rows.append(row)
    return rows


def markdown_table(rows, datasets, pair):
    first, second, title = PAIRS[pair]
    lines = [f"| model ({title}, %) | " + " | ".join(datasets) + " | avg |",
             "|---|" + "---|" * (len(datasets) + 1)]
    for row in rows:
        cells = []
        for dataset in datasets:
            cell = row["datasets"][dataset]
            cells.append("–" if cell is None else f"{_percent(cell[first])}/{_percent(cell[second])}")
        lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {_percent(row['average'])} |")
    return "\n".join(lines)


def results_markdown(results, models, datasets, num_seeds=None):
    """Both model-card tables as one markdown document."""
    seeds = f", mean of {num_seeds} seeds" if num_seeds else ""
    parts = ["# Probing results", "",
             f"MARBLE constrained probing (frozen features, MLP probe{seeds}); test split; `avg` is the mean of all "
             "values of the row (as in the CultureMERT model card).", ""]
    for pair in PAIRS:
        parts += [markdown_table(table_rows(results, models, datasets, pair), datasets, pair), ""]
    reported = sorted({r["reported_layer"] for per in results.values() for r in per.values()})
    parts.append(f"Reported probe per model and dataset: {', '.join(reported)} (selected on validation ROC-AUC "
                 "when 'best').")
    return "\n".join(parts) + "\n"
