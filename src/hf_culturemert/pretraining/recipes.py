"""YAML recipes: named multi-stage pre-training plans (``tiny``, ``culturemert-95m``) run stage after stage.

A recipe has ``defaults`` (PretrainingArguments fields shared by all stages) and a list of ``stages`` (each a
name plus its own fields). Stage ``k > 0`` starts from stage ``k - 1``'s output (weights *and* trained heads)
unless it names a ``model_name_or_path``; every stage builds a fresh optimiser and schedule, which is the
learning-rate re-warming (and re-decaying) of CultureMERT. Stage outputs go to ``<output_dir>/<stage name>``.

Overrides: ``{"max_steps": 10}`` applies to every stage, ``{"stage1.max_steps": 10}`` to one stage, and
``{"output_dir": ...}`` moves the whole run.
"""

import copy
import logging
from importlib import resources
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)


def _recipe_folder():
    return resources.files("hf_culturemert").joinpath("recipes")


def available_recipes():
    """Names of the recipes shipped with the package."""
    names = []
    for path in _recipe_folder().iterdir():
        if path.name.endswith(".yaml"):
            recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if isinstance(recipe, dict) and isinstance(recipe.get("stages"), list):  # other tools keep recipes here too
                names.append(path.name[:-5])
    return sorted(names)


def load_recipe(name_or_path):
    """A recipe dict from a shipped name or a YAML file.

    Args:
        name_or_path: ``tiny``, ``culturemert-95m`` (see ``available_recipes()``) or a YAML file path.

    Returns:
        The recipe: its ``defaults`` and a list of ``stages``, each a dict of ``PretrainingArguments`` fields.

    Example:
        ```python
        recipe = load_recipe("culturemert-95m")
        [stage["name"] for stage in recipe["stages"]]  # ['stage1', 'stage2']
        ```
    """
    path = Path(str(name_or_path))
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"Recipe file {path} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        names = available_recipes()
        if str(name_or_path) not in names:
            raise ValueError(f"Unknown recipe {name_or_path!r}; shipped recipes: {', '.join(names)} (or a YAML path)")
        text = _recipe_folder().joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
    recipe = yaml.safe_load(text) or {}
    if not isinstance(recipe.get("stages"), list) or not recipe["stages"]:
        raise ValueError(f"Recipe {name_or_path!r} has no `stages` list")
    for i, stage in enumerate(recipe["stages"]):
        if not isinstance(stage, dict) or not stage.get("name"):
            raise ValueError(f"Stage {i} of recipe {name_or_path!r} needs a `name`")
    return recipe


def stage_values(recipe, overrides=None):
    """``[(stage name, values)]``: each stage's settings with defaults, overrides and chaining applied (no torch)."""
    overrides = dict(overrides or {})
    stage_names = [s["name"] for s in recipe["stages"]]
    per_stage = {name: {} for name in stage_names}
    shared = {}
    for key, value in overrides.items():
        head, _, rest = str(key).partition(".")
        if rest and head in per_stage:
            per_stage[head][rest] = value
        elif rest and head not in per_stage and head.startswith("stage"):
            raise ValueError(f"Override {key!r} names stage {head!r}; this recipe's stages are {stage_names}")
        else:
            shared[key] = value
    base_dir = Path(shared.pop("output_dir", recipe.get("output_dir") or f"runs/{recipe.get('name', 'recipe')}"))
    result, previous = [], None
    for stage in recipe["stages"]:
        values = copy.deepcopy(recipe.get("defaults") or {})
        values.update({k: v for k, v in stage.items() if k != "name"})
        values.update(shared)
        values.update(per_stage[stage["name"]])
        values.setdefault("output_dir", str(base_dir / stage["name"]))
        if previous is not None and "model_name_or_path" not in stage and \
                "model_name_or_path" not in per_stage[stage["name"]]:
            values["model_name_or_path"] = previous
            values["config_name"] = None
            values.pop("fairseq_checkpoint", None)  # only the first stage converts
        result.append((stage["name"], values))
        previous = values["output_dir"]
    return result


def check_stage_values(recipe, overrides=None):
    """Raise ValueError naming the stage and setting of every bad value (the light checks; no torch)."""
    from .checks import setting_problems

    problems = [f"stage {name!r}: {p}" for name, values in stage_values(recipe, overrides)
                for p in setting_problems(values)]
    if problems:
        raise ValueError("Invalid pre-training arguments: " + "; ".join(problems))


def stage_arguments(recipe, overrides=None):
    """``[(stage name, PretrainingArguments)]`` with overrides applied and stages chained."""
    from transformers import HfArgumentParser

    from .arguments import PretrainingArguments

    parser = HfArgumentParser(PretrainingArguments)
    known = {f.name for f in PretrainingArguments.__dataclass_fields__.values()}
    result = []
    for name, values in stage_values(recipe, overrides):
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown argument(s) {unknown} in stage {name!r}; see "
                             "`culturemert pretrain --help` for the fields")
        (args,) = parser.parse_dict(values)
        result.append((name, args))
    return result


def run_recipe(recipe_name_or_path, overrides=None, callbacks=None):
    """Run every stage of a recipe in order, each continuing from the previous one; completed stages are skipped.

    Args:
        recipe_name_or_path: a shipped recipe name, a YAML path, or a recipe dict.
        overrides: ``{field: value}`` for every stage, or ``{"<stage name>.field": value}`` for one;
            ``output_dir`` is the folder the stages' folders go in.
        callbacks: more ``TrainerCallback`` objects, for every stage.

    Returns:
        The final stage's output folder.

    Example:
        ```python
        run_recipe("tiny", overrides={"output_dir": "runs/tiny"})
        ```
    """
    from .run import run_pretraining

    recipe = recipe_name_or_path if isinstance(recipe_name_or_path, dict) else load_recipe(recipe_name_or_path)
    output = None
    for name, args in stage_arguments(recipe, overrides):
        logger.info("Recipe %s: stage %s -> %s", recipe.get("name", recipe_name_or_path), name, args.output_dir)
        output = run_pretraining(args, callbacks=callbacks)
    return output
