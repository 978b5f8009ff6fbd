"""``culturemert pretrain``: continual pre-training with MERT's objective.

    culturemert pretrain --recipe tiny [--key value ...]           # a shipped or YAML recipe (multi-stage)
    culturemert pretrain --recipe culturemert-95m --stage1.max_steps 100 --output_dir runs/x
    culturemert pretrain --train_datasets makam --output_dir out ...  # one stage, plain PretrainingArguments
    accelerate launch --num_processes 8 -m hf_culturemert.cli pretrain --recipe culturemert-95m

Override values are parsed as YAML (``--freeze '[feature_extractor]'``, ``--bf16 false``, ``--max_steps 10``).
"""

import logging
import sys

import yaml

logger = logging.getLogger(__name__)


def parse_overrides(tokens):
    """``["--a", "1", "--b.c", "x", "--flag"]`` -> ``{"a": 1, "b.c": "x", "flag": True}`` (values as YAML)."""
    overrides, i = {}, 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise ValueError(f"Unexpected argument {token!r}: overrides are `--key value` pairs")
        key = token[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            raw = tokens[i + 1]
            i += 2
        else:
            raw = "true"
            i += 1
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        overrides[key.replace("-", "_")] = value
    return overrides


def help_text(full=False):
    """Usage, the recipes, the package's own options, then (``--help-all``) the transformers Trainer options.

    Without ``full`` nothing heavy is imported: the options come from ``PretrainingOptions`` (no torch)."""
    import dataclasses

    from ..pretraining.options import TRAINER_OVERRIDES, PretrainingOptions
    from ..pretraining.recipes import available_recipes

    lines = ["usage: culturemert pretrain --recipe NAME_OR_YAML [--key value ...]",
             "       culturemert pretrain --output_dir DIR --train_datasets NAME [--key value ...]",
             "", __doc__.strip(), "", f"Recipes (--recipe): {', '.join(available_recipes())}", "",
             "culturemert pretrain options:"]
    for f in dataclasses.fields(PretrainingOptions):
        if f.name in TRAINER_OVERRIDES:
            continue
        text = " ".join(str(f.metadata.get("help", "")).split())
        default = f.default if f.default is not dataclasses.MISSING else (
            "(list)" if f.default_factory is not dataclasses.MISSING else "required")
        lines.append(f"  --{f.name:<28} {text} (default: {default})")
    if not full:
        lines += ["", "Plus every option of transformers.TrainingArguments (--output_dir, --max_steps, "
                      "--learning_rate, --per_device_train_batch_size, --seed, logging, saving, precision, "
                      "distributed ...): `culturemert pretrain --help-all` lists them.", ""]
        return "\n".join(lines)
    from ..commands import make_parser
    from ..pretraining import PretrainingArguments

    lines += ["", "transformers.TrainingArguments options:", ""]
    return "\n".join(lines) + make_parser("pretrain", PretrainingArguments).format_help()


def given_settings(argv):
    """The checked settings (``pretraining.checks``) among plain ``--key value`` arguments, values as YAML."""
    from ..pretraining.checks import CHECKED_SETTINGS

    values = {}
    for i, token in enumerate(argv):
        if not token.startswith("--"):
            continue
        key, eq, raw = token[2:].partition("=")
        key = key.replace("-", "_")
        if key not in CHECKED_SETTINGS:
            continue
        if not eq:
            following = argv[i + 1] if i + 1 < len(argv) else None
            raw = "true" if following is None or (following.startswith("--")) else following
        try:
            values[key] = yaml.safe_load(raw)
        except yaml.YAMLError:
            values[key] = raw
    return values


def main(argv):
    argv = list(argv)
    if argv and argv[0] in ("-h", "--help", "--help-all"):
        sys.stdout.write(help_text(full=argv[0] == "--help-all"))
        return 0
    from .. import register_auto_classes
    from ..pretraining.checks import setting_problems
    from ..pretraining.recipes import check_stage_values, load_recipe

    if "--recipe" in argv or any(a.startswith("--recipe=") for a in argv):
        overrides = parse_overrides(argv)
        recipe = load_recipe(overrides.pop("recipe"))
        check_stage_values(recipe, overrides)  # bad values answer before torch is imported
        register_auto_classes()
        from ..pretraining import run_recipe

        output = run_recipe(recipe, overrides)
    else:
        if not (len(argv) == 1 and argv[0].endswith((".yaml", ".yml"))):
            problems = setting_problems(given_settings(argv))
            if problems:
                raise ValueError("Invalid pre-training arguments: " + "; ".join(problems))
        from ..commands import make_parser
        from ..pretraining import PretrainingArguments, run_pretraining

        parser = make_parser("pretrain", PretrainingArguments)
        if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
            (args,) = parser.parse_yaml_file(argv[0])
            register_auto_classes()
        else:
            (args,) = parser.parse_args_into_dataclasses(argv)
        output = run_pretraining(args)
    logger.info("Pre-trained model: %s", output)
    sys.stdout.write(f"{output}\n")
    return 0
