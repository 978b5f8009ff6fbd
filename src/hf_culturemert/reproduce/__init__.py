"""The whole CultureMERT study as one resumable pipeline (``culturemert reproduce``).

data -> base model -> two-stage continual pre-training on each tradition (single-culture models) -> continual
pre-training on all four together (CultureMERT) -> task-arithmetic merge of the single-culture models with a lambda
sweep (CultureMERT-TA) -> probing of every model on every tradition -> results tables (markdown + JSON), plots and
Hub-ready model folders with rendered cards.

Two presets:

* ``miniature`` (default): the synthetic corpus and the shipped pico MERT base (``resources/models/pico-base``),
  pre-trained with MERT's objective on the synthetic western part only, so that continual pre-training has
  something to adapt (``--retrain_base`` trains it again); offline, CPU, minutes.
* ``culturemert-95m``: the real study: ``m-a-p/MERT-v1-95M`` (or a converted fairseq checkpoint), the Hub datasets
  built by ``dataset_scripts/``, the ``culturemert-95m`` recipe; run it under ``accelerate launch``. ``--dry_run``
  prints the plan, data sizes and estimated GPU-hours without downloading anything.

Every stage records its completion in ``<output_dir>/stages.json``; rerunning skips finished stages (and the
pre-training stages resume from their last checkpoint), so an interrupted run continues where it stopped.

Modules: ``arguments`` (the options, the miniature's settings from ``recipes/reproduce-miniature.yaml``),
``miniature`` (its recipe, teacher and pico base), ``pipeline`` (the stages) and ``planner`` (the 95m dry run).
"""

from ..constants import TRADITIONS
from .arguments import (LAMBDA_GRID, MINIATURE_CLIPS, MINIATURE_CPT_LEARNING_RATE, MINIATURE_CPT_STEPS,
                        MINIATURE_PROBE_LRS, MINIATURE_PROBE_SEEDS, MINIATURE_RECIPE, MINIATURE_TAG_FAMILIES,
                        MINIATURE_TEACHERS, PAPER_HOURS, PICO_BASE_CLIPS, PICO_BASE_DIR, PICO_BASE_STEPS, PRESETS,
                        RECIPE_GPUS, TEACHER_FILE, TEACHER_POOL_CLIPS, TEACHER_POOL_SEED_OFFSET, load_miniature_recipe,
                        ReproduceArguments)
from .miniature import (REAL_MAKAM_DATASET, base_teacher, fit_rvq_teacher, miniature_probe_dtype, miniature_recipe,
                        train_pico_base, write_pico_base_card)
from .planner import plan
from .pipeline import OWNED, RERUN_FREE_OPTIONS, open_run_folder, parse_overrides, run_reproduce, write_cards

__all__ = ["TRADITIONS", "LAMBDA_GRID", "MINIATURE_CLIPS", "MINIATURE_CPT_LEARNING_RATE", "MINIATURE_CPT_STEPS",
           "MINIATURE_PROBE_LRS", "MINIATURE_PROBE_SEEDS", "MINIATURE_RECIPE", "MINIATURE_TAG_FAMILIES",
           "MINIATURE_TEACHERS", "OWNED", "PAPER_HOURS", "PICO_BASE_CLIPS", "PICO_BASE_DIR",
           "PICO_BASE_STEPS", "PRESETS", "REAL_MAKAM_DATASET", "RECIPE_GPUS", "RERUN_FREE_OPTIONS",
           "ReproduceArguments", "TEACHER_FILE", "TEACHER_POOL_CLIPS", "TEACHER_POOL_SEED_OFFSET",
           "base_teacher", "fit_rvq_teacher", "load_miniature_recipe", "miniature_probe_dtype",
           "miniature_recipe", "open_run_folder", "parse_overrides", "plan", "run_reproduce",
           "train_pico_base", "write_cards", "write_pico_base_card"]
