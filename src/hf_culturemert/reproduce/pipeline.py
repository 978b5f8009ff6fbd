"""The study as one resumable pipeline: the run folder, the stages in order, the cards of every model it made."""

import json
from dataclasses import asdict
from pathlib import Path

from .arguments import (MINIATURE_CLIPS, MINIATURE_PROBE_LRS, MINIATURE_PROBE_SEEDS, MINIATURE_TAG_FAMILIES,
                        PICO_BASE_DIR, ReproduceArguments)
from .miniature import (REAL_MAKAM_DATASET, base_teacher, full_eval_datasets, miniature_probe_dtype, miniature_recipe,
                        real_makam_licence, train_pico_base, training_datasets, uses_real_makam)
from .planner import plan

# options that change no finished stage: the dry run's estimate, --base_only (a full run may continue its run),
# --overwrite (it restarts the run) and the folder's own name
RERUN_FREE_OPTIONS = ("dry_run", "gpus", "mfu", "step_costs", "probe_backend", "base_only", "overwrite", "output_dir")
OWNED = ("data", "models", "results", "cache")


def parse_overrides(items):
    """``["stage1.max_steps=10", "bf16=false"]`` -> ``{"stage1.max_steps": 10, "bf16": False}`` (YAML values)."""
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise ValueError(f"--recipe_overrides entries are KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def open_run_folder(args):
    """The checked output folder (a user's folder, symlinks out of it, changed settings) before any compute; the
    evaluation's result files are checked here too, not after the pre-training."""
    from ..outputs import OutputManifest
    from ..runstate import RunFolder

    folder = RunFolder(args.output_dir, "reproduce", asdict(args), OWNED, overwrite=args.overwrite,
                       free=RERUN_FREE_OPTIONS)
    if not folder.restart:
        OutputManifest(Path(args.output_dir) / "results", "evaluate", overwrite=args.overwrite).check(
            ["results.json", "results.md", "layers.png"])
    return folder


def run_reproduce(args: ReproduceArguments):
    """Run (or resume) the study; returns a summary dict with every output path."""
    if args.dry_run:
        return plan(args)
    if args.rehearsal:  # a rehearsal runs this study, so it sits above it (docs/architecture.md)
        raise ValueError("run_reproduce runs the study itself; rehearse with hf_culturemert.rehearsal.study."
                         "rehearse_reproduce(args), which `culturemert reproduce --rehearsal` calls")
    out = Path(args.output_dir)
    folder = open_run_folder(args)
    miniature_stages = (7 if args.retrain_base else 6) + uses_real_makam(args)
    total = 1 if args.base_only else len(args.traditions) + (miniature_stages if args.preset == "miniature" else 4)
    log = folder.start(total=total)
    models_dir = out / "models"

    if args.preset == "miniature":
        from ..data import build_synthetic_corpus

        def build_data():
            folders = build_synthetic_corpus(out / "data", seed=args.seed,
                                             clips_per_split=args.clips_per_split or MINIATURE_CLIPS,
                                             traditions=["western"] + list(args.traditions), overwrite=args.overwrite)
            if uses_real_makam(args):
                from ..data.builders.otmm import build_otmm_clips

                small = None if args.clips_per_split is None else {"train": 1, "validation": 1, "test": 1}
                folders[REAL_MAKAM_DATASET] = build_otmm_clips(out / "data", seed=args.seed, per_makam=small)
            return {name: str(path) for name, path in folders.items()}

        data = {} if args.base_only else log.run("data", build_data, lambda r: list(r.values()))
        data_root = out / "data"
        if args.retrain_base:
            base = log.run("base: pico MERT pre-trained on the western corpus",
                           lambda: train_pico_base(args, models_dir / "base"), lambda r: [r])
        elif args.base_model:
            base = str(args.base_model)
        else:
            base = str(PICO_BASE_DIR)
            if not (PICO_BASE_DIR / "model.safetensors").is_file():
                raise FileNotFoundError(f"The shipped pico base {PICO_BASE_DIR} is missing (a broken install?); "
                                        "reinstall the package or pass --retrain_base")
        teacher = base_teacher(base)
        if args.base_only:
            return {"output_dir": str(out), "models": {"base": base}, "stages": str(out / "stages.json")}

        def save_random_init():
            import torch

            from ..export import load_model, save_model_folder
            from ..models.mert.modeling_mert import MERTModel

            torch.manual_seed(args.seed)
            folder = models_dir / "random-init"
            save_model_folder(MERTModel(load_model(base).config), folder)
            return str(folder)

        floor = log.run("random-init floor (the base's architecture, untrained)", save_random_init, lambda r: [r])
        eval_datasets = [data[t] for t in args.traditions]
        window = args.window_seconds or 4.0

        def adapt(name, train_datasets):
            from ..pretraining.recipes import run_recipe

            recipe = miniature_recipe(args, base, train_datasets, data_root, models_dir / name, teacher)
            return str(run_recipe(recipe))
    else:
        data_root = args.data_root
        base = args.base_model or "m-a-p/MERT-v1-95M"
        eval_datasets = full_eval_datasets(args)
        window = args.window_seconds or 30.0

        def adapt(name, train_datasets):
            from ..pretraining.recipes import run_recipe

            overrides = {"output_dir": str(models_dir / name), "train_datasets": list(train_datasets),
                         "model_name_or_path": base, "seed": args.seed}
            if data_root:
                overrides["data_root"] = str(data_root)
            if args.fairseq_checkpoint:
                overrides["fairseq_checkpoint"] = args.fairseq_checkpoint
            overrides.update(parse_overrides(args.recipe_overrides))
            return str(run_recipe("culturemert-95m", overrides))

    singles = {}
    for tradition in args.traditions:
        singles[tradition] = log.run(f"continual pre-training: {tradition}",
                                     lambda t=tradition: adapt(f"single-{t}", training_datasets(args, [t])),
                                     lambda r: [r])
    culturemert = log.run("continual pre-training: all (CultureMERT)",
                          lambda: adapt("culturemert", training_datasets(args, args.traditions)), lambda r: [r])

    seeds = args.probe_seeds or (MINIATURE_PROBE_SEEDS if args.preset == "miniature" else [0, 1, 2])
    probe_settings = dict(window_seconds=window, seeds=list(seeds), cache_dir=str(out / "cache"),
                          backend=args.probe_backend)
    if args.probe_learning_rates or args.preset == "miniature":
        probe_settings["learning_rates"] = [float(v) for v in args.probe_learning_rates or MINIATURE_PROBE_LRS]
    if args.preset == "miniature":
        probe_settings["dtype"] = miniature_probe_dtype()
    if args.probe_max_epochs:
        probe_settings["max_epochs"] = int(args.probe_max_epochs)
    if data_root:
        probe_settings["data_root"] = str(data_root)
    families = args.tag_families or (MINIATURE_TAG_FAMILIES if args.preset == "miniature" else None)
    if families:
        probe_settings["tag_families"] = list(families)

    def merge():
        from ..merging import probing_score_fn, sweep_lambda
        from ..merging.recipe import MergeRecipe

        recipe = MergeRecipe(base=str(base), models=[singles[t] for t in args.traditions],
                             method="task_arithmetic", weight=0.2, seed=args.seed,
                             output=str(models_dir / "culturemert-ta"), overwrite=True)
        score = probing_score_fn(eval_datasets, split="validation", **probe_settings)
        sweep = sweep_lambda(recipe, grid=[float(v) for v in args.lambda_grid], score_fn=score)
        return {"folder": str(sweep.output), "best_lambda": sweep.best_lambda, "scores": sweep.scores,
                "files": {k: str(v) for k, v in sweep.files.items()}}

    merged = log.run("merge: task arithmetic (CultureMERT-TA)", merge, lambda r: [r["folder"]])

    models = {"base": base, "CultureMERT": culturemert, "CultureMERT-TA": merged["folder"]}
    models.update({f"single-{t}": singles[t] for t in args.traditions})

    def evaluate():
        from ..probing import evaluate_models

        probed, datasets, own = dict(models), list(eval_datasets), {}
        if args.preset == "miniature":
            from ..probing.handcrafted import HandcraftedFeatures

            # references: the floor (untrained), the ceiling (hand-crafted statistics), and western (forgetting)
            probed.update({"random-init": floor, "upper-bound": HandcraftedFeatures()})
            datasets = [data["western"]] + datasets
            # a single-culture model answers one question, its gain on its own tradition; forgetting (western) is
            # measured on the models the study ships (CultureMERT, CultureMERT-TA): 24 probings instead of 40
            own = {f"single-{t}": [data[t]] for t in args.traditions}
        return evaluate_models(probed, datasets, out / "results", datasets_per_model=own, overwrite=args.overwrite,
                               **probe_settings)["files"]

    results_files = log.run("evaluate: probing", evaluate, lambda r: list(r.values()))
    if uses_real_makam(args):
        def evaluate_real_makam():
            from ..probing import evaluate_models
            from ..probing.handcrafted import HandcraftedFeatures

            probed = {name: models[name] for name in ("base", "single-makam", "CultureMERT", "CultureMERT-TA")}
            probed.update({"random-init": floor, "upper-bound": HandcraftedFeatures()})
            settings = dict(probe_settings, tag_families=["makam"])
            return evaluate_models(probed, [data[REAL_MAKAM_DATASET]], out / "results-otmm",
                                   overwrite=args.overwrite, **settings)["files"]

        results_files = dict(results_files, **{f"real_makam_{k}": v for k, v in log.run(
            "evaluate: real makam recognition (OTMM)", evaluate_real_makam, lambda r: list(r.values())).items()})

    def cards():
        return write_cards(models, out / "results" / "results.json", merged, args)

    log.run("cards", cards, lambda r: r)
    summary = {"output_dir": str(out), "models": models, "results": results_files,
               "best_lambda": merged["best_lambda"], "lambda_sweep": merged["files"]["markdown"],
               "stages": str(out / "stages.json")}
    folder.write_summary(summary)
    return summary


def write_cards(models, results_json, merged, args):
    """Render a model card (README.md) into every model folder the run produced, with its probing results."""
    from ..cards import render_model_card
    from ..data.registry import hub_org

    written = []
    singles = [name for name in models if name.startswith("single-")]
    for name, folder in models.items():
        path = Path(folder)
        if not path.is_dir() or name == "base":
            continue  # the pico base has its own card (train_pico_base), and the 95m base is a Hub id
        info = dict(repo_id=f"{hub_org()}/{name}", model_name=name, results=str(results_json), results_model=name,
                    base_model=str(models["base"]) if name != "base" else "none (pre-trained from scratch)",
                    hidden_size=_config_value(path, "hidden_size", 768),
                    num_layers=_config_value(path, "num_hidden_layers", 12))
        if args.preset == "miniature":
            info["datasets"] = []
            info["results_note"] = ("Miniature run of `culturemert reproduce` on the synthetic corpus: the numbers "
                                    "show the pipeline works, not how CultureMERT performs on real music.")
            if real_makam_licence(name, args):
                info["license"] = "cc-by-nc-sa-4.0"
                info["results_note"] = real_makam_licence(name, args) + info["results_note"]
        if name == "CultureMERT-TA":
            sweep = ", ".join(f"{k}: {v:.4f}" for k, v in merged["scores"].items())
            card = render_model_card("merged", merged_models=[str(models[s]) for s in singles],
                                     scaling=merged["best_lambda"],
                                     extra_merge_text=f"lambda chosen on the validation splits ({sweep}).", **info)
        else:
            traditions = [name[len("single-"):]] if name.startswith("single-") else list(args.traditions)
            if name == "base":
                traditions = ["western (synthetic)"]
            card = render_model_card("continual", traditions=traditions, **info)
        card.save(str(path / "README.md"))
        written.append(str(path / "README.md"))
    return written


def _config_value(folder, key, default):
    config = Path(folder) / "config.json"
    return json.loads(config.read_text()).get(key, default) if config.is_file() else default
