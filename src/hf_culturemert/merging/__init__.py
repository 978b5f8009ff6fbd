"""Model merging for MERT checkpoints: task arithmetic (CultureMERT-TA), TIES, DARE, magnitude pruning, soups.

Python API::

    merge_models(base, models, method="task_arithmetic", weight=0.2, *, weights=None, density=None, seed=0,
                 include=("*",), exclude=(), keep_from_base=(), heads="drop", dtype=None, output=None,
                 overwrite=False, streaming=True, **recipe_fields) -> MergeResult
    run_merge(recipe: MergeRecipe) -> MergeResult
    sweep_lambda(recipe, grid=None, score_fn=None) -> SweepResult     # score_fn(model_folder) -> float | dict

CultureMERT-TA-95M is ``merge_models("m-a-p/MERT-v1-95M", [lyra, makam, hindustani, carnatic], weight=0.2)``:
theta = theta_base + 0.2 * sum_i (theta_i - theta_base). The arithmetic of every method is peft's
(``peft.utils.merge_utils``); this package adds input resolution (folders, Hub ids, ``.bin``, sharded files,
legacy weight-norm names, LoRA adapters), strict checks, tensor selection, streaming I/O and the Hub record.
"""

from .recipe import DEFAULT_DENSITY, KEEP_FROM_BASE_PRESETS, METHODS, MergeRecipe

# the rest imports torch: loaded on first use, so that `culturemert merge` parses (and refuses) its arguments
# without it
_LAZY = {"ARCHITECTURE_FIELDS": "compatibility", "HEAD_FIELDS": "compatibility", "MergeInput": "checkpoints",
         "canonical_name": "checkpoints", "resolve_input": "checkpoints", "MergeResult": "core",
         "merge_models": "core", "model_card": "core", "run_merge": "core", "select_tensors": "core",
         "dare_seed": "methods", "merge_task_vectors": "methods", "SweepResult": "sweep",
         "probing_score_fn": "sweep", "sweep_lambda": "sweep", "SafetensorsStreamWriter": "writer"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["merge_models", "run_merge", "sweep_lambda", "MergeRecipe", "MergeResult", "SweepResult", "METHODS",
           "DEFAULT_DENSITY", "KEEP_FROM_BASE_PRESETS", "ARCHITECTURE_FIELDS", "HEAD_FIELDS", "merge_task_vectors",
           "dare_seed", "probing_score_fn", "resolve_input", "MergeInput", "canonical_name", "select_tensors",
           "model_card", "SafetensorsStreamWriter"]
