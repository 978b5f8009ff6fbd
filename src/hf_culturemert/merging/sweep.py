"""Choosing lambda: merge each candidate, score it (probing on validation splits by default), keep the best."""

import json
import logging
import math
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .core import prepare_output, move_folder_contents, run_merge, sweep_markdown, write_record

logger = logging.getLogger(__name__)

PROBING_CRITERION = ("mean over the datasets of the validation ROC-AUC of the MARBLE probe (the probe reported by "
                     "hf_culturemert.probing: best layer / weighted sum and learning rate by validation ROC-AUC, "
                     "mean over probe seeds); test splits are not used for the choice")


@dataclass
class SweepResult:
    """The sweep table (``rows``: lambda, per-dataset scores, criterion), the pick and the files written."""

    best_lambda: float
    rows: list
    criterion: str
    merge: object
    files: dict = field(default_factory=dict)

    @property
    def output(self):
        """The folder holding the selected merge."""
        return self.merge.output

    @property
    def best_weight(self):
        return self.best_lambda

    @property
    def scores(self):
        """``{lambda: criterion}``."""
        return {row["lambda"]: row["criterion"] for row in self.rows}


def probing_score_fn(datasets, split="validation", data_root=None, **probe_overrides):
    """The default scorer: ``folder -> {dataset: validation ROC-AUC}`` with :func:`hf_culturemert.probing.probe_model`.

    The test split is never read: the probes report on ``split`` as their "test" split too (its features are the
    cached ones), so a sweep costs no test extraction and cannot leak test results into the choice of lambda.

    ``probe_overrides`` are :class:`~hf_culturemert.probing.ProbeArguments` fields (``window_seconds``, ``seeds``,
    ``max_epochs``, ``device`` ...).
    """
    if not datasets:
        raise ValueError("The probing scorer needs at least one dataset (--eval_datasets)")

    def score(folder):
        from ..probing import probe_model

        scores = {}
        for dataset in datasets:
            result = probe_model(str(folder), dataset, validation_split=split, test_split=split,
                                 data_root=data_root, **probe_overrides)
            reported = result["reported_layer"]
            scores[Path(str(dataset)).name] = float(result["layers"][reported]["validation_roc_auc"])
        return scores

    return score


def recipe_score_fn(recipe):
    """The probing scorer configured by the ``eval_*`` fields of a recipe."""
    overrides = {name: getattr(recipe, f"eval_{name}") for name in ("window_seconds", "seeds", "max_epochs",
                                                                    "max_tracks", "device", "backend")
                 if getattr(recipe, f"eval_{name}") is not None}
    overrides["progress"] = recipe.progress
    return probing_score_fn(recipe.eval_datasets, split=recipe.eval_split, data_root=recipe.eval_data_root,
                            **overrides)


def _criterion(scores):
    values = [float(v) for v in scores.values()]
    if not values or any(not math.isfinite(v) for v in values):
        return float("-inf")
    return sum(values) / len(values)


def plot_sweep(sweep, path):
    """lambda (x) against each dataset's score and the criterion (bold); the selected lambda is starred."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = sweep["rows"]
    lambdas = [row["lambda"] for row in rows]
    datasets = list(dict.fromkeys(d for row in rows for d in row["scores"]))
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if len(datasets) > 1:
        for dataset in datasets:
            ax.plot(lambdas, [row["scores"].get(dataset, float("nan")) for row in rows], marker="o", markersize=3,
                    linewidth=1, alpha=0.7, label=dataset)
    criteria = [row["criterion"] for row in rows]
    ax.plot(lambdas, criteria, marker="o", color="black", linewidth=2, label=sweep["criterion_name"])
    best = next(row for row in rows if row["lambda"] == sweep["best_lambda"])
    ax.plot([best["lambda"]], [best["criterion"]], marker="*", markersize=14, color="tab:red", linestyle="none",
            label=f"selected lambda = {best['lambda']:g}")
    ax.set_xlabel("lambda")
    ax.set_ylabel(sweep.get("score_label", "validation score"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def sweep_lambda(recipe, grid=None, score_fn=None, *, criterion=None, keep_candidates=None):
    """Merge ``recipe`` once per lambda of ``grid``, score each merged folder, keep the best in ``recipe.output``.

    ``score_fn(model_folder) -> float | {name: float}`` (higher is better; default: :func:`recipe_score_fn`, the
    validation ROC-AUC of probes on ``recipe.eval_datasets``). The criterion is the value, or the mean of the
    values; ties keep the first lambda of the grid. Writes ``lambda_sweep.md``, ``lambda_sweep.json`` and
    ``lambda_sweep.png`` beside the merged weights, and records the sweep in the model card and
    ``merge_recipe.yaml`` (whose ``weight`` is the selected lambda).

    Args:
        recipe: the merge, with ``output`` set.
        grid: the lambdas to try (default: ``recipe.lambda_grid``).
        score_fn: ``score_fn(model_folder) -> float | {name: float}``, higher is better; it must read validation
            data only.
        criterion: a description of the criterion, for the table and the card.
        keep_candidates: keep every candidate folder (default: ``recipe.keep_candidates``); otherwise only the
            candidate folders the sweep created are removed.

    Returns:
        A :class:`SweepResult`: the table, the selected lambda, the final merge and the files written.

    Example:
        ```python
        recipe = MergeRecipe(base="mert-v1-95m", models=["runs/lyra", "runs/makam"], output="merged/ta",
                             eval_datasets=["lyra", "makam"])
        result = sweep_lambda(recipe, grid=[0.1, 0.2, 0.4])  # probes each candidate on the validation splits
        result.best_lambda, result.output
        ```
    """
    grid = [float(v) for v in (grid if grid is not None else recipe.lambda_grid or [])]
    if not grid:
        raise ValueError("No lambda candidates: pass --lambda_grid 0.1,0.2,... (or `lambda_grid` in the recipe)")
    if recipe.method == "average":
        raise ValueError("method=average does not use lambda; there is nothing to sweep")
    if not recipe.output:
        raise ValueError("The lambda sweep needs --output (the best candidate is written there)")
    if score_fn is None:
        if not recipe.eval_datasets:
            raise ValueError("The lambda sweep scores candidates by probing: pass --eval_datasets (e.g. lyra makam)")
        score_fn = recipe_score_fn(recipe)
        criterion = criterion or PROBING_CRITERION
        score_label = f"{recipe.eval_split} ROC-AUC"
    else:
        score_label = "validation score"
    criterion = criterion or "mean of the values returned by score_fn (higher is better)"
    keep_candidates = recipe.keep_candidates if keep_candidates is None else keep_candidates
    recipe.check_complete()
    output = Path(recipe.output).expanduser().resolve()
    if output.is_dir() and any(output.iterdir()) and not recipe.overwrite:  # fail before hours of compute
        raise ValueError(f"Output folder {output} is not empty; pass --overwrite or choose a new folder")
    candidates_root = output.parent / f"{output.name}-lambda-sweep"
    # the candidates folder is ours only if an earlier sweep wrote its manifest; a user's folder of that name
    # (or any file in it that a candidate would replace) is refused before any compute, unless --overwrite
    from ..outputs import OutputManifest

    candidates = OutputManifest(candidates_root, "merge --lambda_grid", overwrite=recipe.overwrite)
    candidate_names = [f"lambda-{lam:g}" for lam in grid]
    candidates.check(candidate_names)
    candidates.claim(candidate_names)
    rows, results, best = [], {}, None
    try:
        for lam in grid:
            folder = candidates_root / f"lambda-{lam:g}"
            candidate = recipe.replace(weight=lam, output=str(folder), overwrite=True, lambda_grid=None)
            results[lam] = run_merge(candidate)
            raw = score_fn(str(folder))
            scores = {str(k): float(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {"score": float(raw)}
            row = {"lambda": lam, "scores": scores, "criterion": _criterion(scores)}
            if keep_candidates:
                row["folder"] = str(folder)
            rows.append(row)
            logger.info("lambda %g: %s (criterion %.4f)", lam, scores, row["criterion"])
            if best is None or row["criterion"] > best["criterion"]:
                best = row
        if best["criterion"] == float("-inf"):
            raise RuntimeError("Every lambda candidate scored NaN/inf; check the scorer and the evaluation data")
        sweep = {"criterion": criterion, "criterion_name": "mean" if len(rows[0]["scores"]) > 1 else "score",
                 "score_label": score_label,
                 "best_lambda": best["lambda"], "grid": grid, "rows": rows}
        prepare_output(output, recipe.overwrite, [])
        best_folder = candidates_root / f"lambda-{best['lambda']:g}"
        if keep_candidates:
            shutil.copytree(best_folder, output, dirs_exist_ok=True)
        else:
            move_folder_contents(best_folder, output)
        merge = results[best["lambda"]]
        merge.output = output
        merge.recipe = recipe.replace(weight=best["lambda"], lambda_grid=None)
        write_record(merge, sweep)
    finally:
        if not keep_candidates:  # only the candidate folders this sweep made; the folder goes if nothing else is in it
            for name in candidate_names:
                if (candidates_root / name).exists() or candidates.owns(name):
                    candidates.remove(name)
            candidates.dissolve()
    files = {"markdown": output / "lambda_sweep.md", "json": output / "lambda_sweep.json",
             "plot": output / "lambda_sweep.png"}
    files["markdown"].write_text("# Lambda sweep\n\n" + sweep_markdown(sweep) + "\n", encoding="utf-8")
    files["json"].write_text(json.dumps(sweep, indent=2), encoding="utf-8")
    plot_sweep(sweep, files["plot"])
    logger.info("Selected lambda %g (%s %.4f); wrote %s", best["lambda"], sweep["criterion_name"], best["criterion"],
                output)
    return SweepResult(best_lambda=best["lambda"], rows=rows, criterion=criterion, merge=merge,
                       files={k: str(v) for k, v in files.items()})
