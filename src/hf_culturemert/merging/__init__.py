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

from .checkpoints import ARCHITECTURE_FIELDS, HEAD_FIELDS, MergeInput, canonical_name, resolve_input
from .core import MergeResult, merge_models, model_card, run_merge, select_tensors
from .methods import dare_seed, merge_task_vectors
from .recipe import DEFAULT_DENSITY, KEEP_FROM_BASE_PRESETS, METHODS, MergeRecipe
from .sweep import SweepResult, probing_score_fn, sweep_lambda
from .writer import SafetensorsStreamWriter

__all__ = ["merge_models", "run_merge", "sweep_lambda", "MergeRecipe", "MergeResult", "SweepResult", "METHODS",
           "DEFAULT_DENSITY", "KEEP_FROM_BASE_PRESETS", "ARCHITECTURE_FIELDS", "HEAD_FIELDS", "merge_task_vectors",
           "dare_seed", "probing_score_fn", "resolve_input", "MergeInput", "canonical_name", "select_tensors",
           "model_card", "SafetensorsStreamWriter"]
