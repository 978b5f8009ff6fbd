"""The transfer sweep: single-domain training on every dataset, then every ordered (source, target) pair x model x
mode, resumable through ``stages.json`` (:mod:`hf_culturemert.runstate`, as ``reproduce``).

Outputs under ``output_dir``: ``models/<model>/<dataset>/`` (Hub-ready single-domain models with cards),
``results/results.{md,json}`` (single-domain table, best source per target chosen on *validation* ROC-AUC, the
full matrix), ``results/heatmap_<model>_<mode>.png``, ``stages.json``, ``arguments.json`` and the ownership manifest
``.culturemert-outputs.json`` (what lets a rerun resume here and ``--overwrite`` delete only what this command wrote).
"""

import copy
import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from .arguments import TransferArguments
from .models import STUDY_FAMILIES, build_tagger, feature_extractor, load_tagger, save_tagger, set_mert_chunk

logger = logging.getLogger(__name__)

OWNED = ("models", "results", "data", "cache", "runs")
# settings a rerun may change: which models / datasets / modes / pairs run (finished runs are reused, new ones
# run, the report covers the current plan), and what changes no result
RERUN_FREE = ("models", "datasets", "modes", "pairs", "output_dir", "overwrite", "dry_run", "gpu_tflops", "mfu",
              "progress", "num_workers", "device")


def _state():
    """accelerate's process state (one process without ``accelerate launch``)."""
    from accelerate import PartialState

    return PartialState()


def _main_process():
    return _state().is_main_process


def _barrier():
    _state().wait_for_everyone()


def load_study_recipe():
    """``recipes/west-to-east.yaml`` as a dict."""
    import yaml

    path = Path(__file__).resolve().parents[1] / "recipes" / "west-to-east.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class Plan:
    """What one invocation runs: datasets, models (name -> family), modes, pairs and per-run settings."""

    def __init__(self, args: TransferArguments):
        recipe = load_study_recipe()
        self.args, self.miniature = args, args.preset == "miniature"
        section = copy.deepcopy(recipe["models"])
        if self.miniature:
            for family, values in recipe["miniature"]["models"].items():
                section[family].update(values)
        self.recipe = section
        backbones = dict(section["mert"]["backbones"])
        known = {family: family for family in STUDY_FAMILIES}
        known.update({name: "mert" for name in backbones})
        self.backbones = backbones
        names = args.models or list(known)
        unknown = [m for m in names if m not in known]
        if unknown or not names:
            raise ValueError(f"Unknown model(s) {unknown} for --preset {args.preset}; choose from {', '.join(known)}")
        self.models = {name: known[name] for name in names}
        default = recipe["miniature"]["datasets"] if self.miniature else recipe["datasets"]
        self.datasets = list(args.datasets or default)
        if self.miniature:
            from ..data.synthetic import TRADITIONS

            valid = list(TRADITIONS)
        else:
            from ..data.registry import REAL_DATASETS

            valid = list(REAL_DATASETS)
        root = Path(args.data_root) if args.data_root else None
        unknown = [d for d in self.datasets if d not in valid and not (root is not None and (root / d).is_dir())]
        if unknown:
            where = f" or a folder under --data_root {root}" if root else ""
            raise ValueError(f"Unknown dataset(s) {unknown} for --preset {args.preset}; choose from "
                             f"{', '.join(valid)}{where}")
        self.modes = list(args.modes)
        self.pairs = [(s, t) for s in self.datasets for t in self.datasets if s != t]
        if args.pairs:
            chosen = []
            for spec in args.pairs:
                source, sep, target = str(spec).partition(":")
                if not sep:
                    raise ValueError(f"--pairs entries are SOURCE:TARGET, got {spec!r}")
                for name in (source, target):
                    if name not in self.datasets:
                        raise ValueError(f"--pairs {spec!r}: {name!r} is not among the datasets {self.datasets}")
                for mode in self.modes:
                    check_pair(source, target, mode)
                chosen.append((source, target))
            self.pairs = chosen

    def settings(self, model, dataset):
        from .training import TrainSettings

        values = self.recipe[self.models[model]]
        epochs = values["epochs"].get(dataset, values["epochs"]["default"])
        return TrainSettings(epochs=int(self.args.epochs or epochs), batch_size=int(values["batch_size"]),
                             learning_rate=float(values["learning_rate"]),
                             weight_decay=float(values.get("weight_decay", 0.0)),
                             betas=tuple(values.get("betas", (0.9, 0.999))), seed=self.args.seed,
                             num_workers=self.args.num_workers, bf16=self.args.bf16, progress=False)

    def run_names(self):
        singles = [f"single: {m} on {d}" for m in self.models for d in self.datasets]
        transfers = [f"transfer: {m} {mode} {s} -> {t}" for m in self.models for mode in self.modes
                     for s, t in self.pairs]
        return singles, transfers


def check_pair(source, target, mode):
    """A transfer needs a source and a *different* target, and a known mode."""
    from .training import MODES

    if mode not in MODES:
        raise ValueError(f"Unknown transfer mode {mode!r}; choose from {', '.join(MODES)}")
    if source == target:
        raise ValueError(f"Transfer source and target are the same dataset ({source!r}); in transfer mode the "
                         "target must differ (single-domain training covers a dataset on itself)")


def open_run_folder(args: TransferArguments):
    """The checked output folder (foreign files, symlinks, changed settings), before any compute."""
    from ..runstate import RunFolder

    return RunFolder(args.output_dir, "transfer", asdict(args), OWNED, overwrite=args.overwrite, free=RERUN_FREE,
                     writer=_main_process())


class _Inputs:
    """Per-process cache of loaded inputs: one mel-dB copy shared by VGG-ish / Musicnn / AST, waveforms for MERT."""

    def __init__(self, plan, data_root):
        self.plan, self.data_root, self.cache = plan, data_root, {}

    def get(self, dataset, split, family):
        from .data import load_inputs, max_seconds_of

        kind = "wave" if family == "mert" else "mel"
        key = (kind, dataset, split)
        if key not in self.cache:
            extractor = feature_extractor("mert" if kind == "wave" else "vggish")
            device = self.plan.args.device
            if device == "auto":
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.cache[key] = load_inputs(dataset, split, family, extractor, data_root=self.data_root,
                                          max_seconds=None if self.plan.miniature else max_seconds_of(dataset),
                                          device=device if kind == "mel" else None,
                                          max_tracks=self.plan.args.max_tracks, name=dataset)
        return self.cache[key]


def _new_model(plan, model, tags, train_inputs):
    """A freshly initialised (or pre-trained, for MERT backbones) model and its front end."""
    family = plan.models[model]
    size = "miniature" if plan.miniature else "published"
    values = plan.recipe[family]
    if family == "mert":
        backbone = plan.backbones[model]
        if backbone == "tiny":
            net = build_tagger("mert", tags, size="miniature", seed=plan.args.seed)
        else:
            from ..export import load_model
            from ..models.mert.modeling_mert import MERTForAudioTagging
            from .models import tagger_config

            # the package's loader: published checkpoints (legacy weight-norm names, .bin) load on any transformers
            net = load_model(backbone, model_class=MERTForAudioTagging,
                             config=tagger_config("mert", tags, size="published"))
        set_mert_chunk(net.config, values["chunk_seconds"])
        return net, feature_extractor("mert")
    overrides = {}
    if not plan.miniature and family in ("vggish", "musicnn"):
        overrides["chunk_frames"] = int(values["chunk_frames"])
    if not plan.miniature and family == "ast":
        overrides["max_length"] = int(values["chunk_frames"])
    net = build_tagger(family, tags, size=size, init=values.get("init", "random"), seed=plan.args.seed, **overrides)
    stats = {}
    if family == "ast":
        from .training import spectrogram_stats

        stats = dict(zip(("mean", "std"), spectrogram_stats(train_inputs)))
    return net, feature_extractor(family, net.config, **stats)


def _metrics_of(model, extractor, inputs, tags):
    from .training import evaluate_tracks

    return evaluate_tracks(model, extractor, inputs, tags)


def _scratch(plan, name):
    """A run's checkpoint folder under ``runs/`` (created by the run, removed after it)."""
    return Path(plan.args.output_dir) / "runs" / name


def _drop_scratch(scratch):
    """Remove one run's scratch folder, then ``runs/`` if that left it empty (a user's files there stay)."""
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        scratch.parent.rmdir()
    except OSError:
        pass


def run_single(plan, inputs, model, dataset, folder):
    from .training import train_tagger

    family = plan.models[model]
    train, tags = inputs.get(dataset, "train", family)
    valid, _ = inputs.get(dataset, "validation", family)
    test, _ = inputs.get(dataset, "test", family)
    net, extractor = _new_model(plan, model, tags, train)
    start = time.perf_counter()
    scratch = _scratch(plan, f"{model}-single-{dataset}")
    net, log = train_tagger(net, extractor, train, valid, plan.settings(model, dataset), scratch)
    result = {"validation": _metrics_of(net, extractor, valid, tags), "test": _metrics_of(net, extractor, test, tags),
              "train_seconds": round(time.perf_counter() - start, 2), "log": log, "folder": str(folder),
              "parameters": sum(p.numel() for p in net.parameters())}
    if _main_process():
        save_tagger(net, extractor, folder)
        _drop_scratch(scratch)
    _barrier()  # the other processes read this folder as a transfer source
    return result


def _probe_settings(plan):
    values = dict(plan.recipe["mert"].get("head_probe", {}))
    values.setdefault("progress", False)
    if plan.args.data_root or plan.miniature:
        values["data_root"] = str(plan.data_root)
    return values


def run_pair(plan, inputs, model, mode, source, target, source_folder):
    """One transfer run: the source's single-domain checkpoint trained on the target in ``mode``."""
    from .training import train_tagger, transfer_model

    check_pair(source, target, mode)
    family = plan.models[model]
    net, source_extractor = load_tagger(source_folder)
    start = time.perf_counter()
    if family == "mert" and mode == "head":  # frozen features + the package's MARBLE probe
        from ..probing import probe_model

        result = probe_model(net.mert, target, model_name=f"{model}-from-{source}", dataset_name=target,
                             cache_dir=str(Path(plan.args.output_dir) / "cache"), device=plan.args.device,
                             **_probe_settings(plan))
        reported = result["reported_layer"]
        return {"validation": {"roc_auc": result["layers"][reported]["validation_roc_auc"]},
                "test": {k: v["mean"] for k, v in result["summary"].items()}, "probe_layer": reported,
                "train_seconds": round(time.perf_counter() - start, 2)}
    train, tags = inputs.get(target, "train", family)
    valid, _ = inputs.get(target, "validation", family)
    test, _ = inputs.get(target, "test", family)
    net = transfer_model(net, tags, mode, seed=plan.args.seed)
    if family == "mert":
        extractor = source_extractor
        set_mert_chunk(net.config, plan.recipe["mert"]["chunk_seconds"])
    elif family == "ast":  # fixed statistics of the target's training spectrograms
        from .training import spectrogram_stats

        mean, std = spectrogram_stats(train)
        extractor = feature_extractor("ast", net.config, mean=mean, std=std)
    else:
        extractor = source_extractor
    scratch = _scratch(plan, f"{model}-{mode}-{source}-{target}")
    net, log = train_tagger(net, extractor, train, valid, plan.settings(model, target), scratch)
    if _main_process():
        _drop_scratch(scratch)
    return {"validation": _metrics_of(net, extractor, valid, tags), "test": _metrics_of(net, extractor, test, tags),
            "train_seconds": round(time.perf_counter() - start, 2), "log": log,
            "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad)}


def run_transfer(args: TransferArguments):
    """Run (or resume) the transfer study: data, single-domain models, every transfer pair and mode, report, cards.

    Finished stages are skipped on a rerun with the same settings; changed settings are refused.

    Args:
        args: the study's settings (``culturemert transfer --help``).

    Returns:
        The summary (also ``summary.json``): ``output_dir``, ``results`` (JSON, Markdown, heatmaps), ``cards``,
        ``stages`` and each single-domain model folder; the plan's text on a dry run.

    Example:
        ```python
        from hf_culturemert.transfer import TransferArguments, run_transfer

        summary = run_transfer(TransferArguments(output_dir="outputs/transfer"))  # the miniature, on CPU
        print(open(summary["results"]["markdown"]).read())
        ```
    """
    if args.rehearsal and not args.dry_run:  # a rehearsal runs this sweep, so it sits above it (docs/architecture.md)
        raise ValueError("run_transfer runs the sweep itself; rehearse with hf_culturemert.rehearsal.transfer."
                         "rehearse_transfer(args), which `culturemert transfer --rehearsal` calls")
    plan = Plan(args)
    if args.dry_run:
        from .dryrun import dry_run_plan

        return dry_run_plan(plan)
    out = Path(args.output_dir)
    run_folder = open_run_folder(args)
    singles, transfers = plan.run_names()
    total = len(singles) + len(transfers) + 3
    log = run_folder.start(total=total, after_record=_barrier) if _main_process() else None
    _barrier()  # the other processes read the stage log once the main process has (re)started it
    log = log or run_folder.start(total=total, after_record=_barrier)
    plan_key = json.dumps([list(plan.models), plan.datasets, plan.modes, plan.pairs])
    if plan.miniature and not args.data_root:
        from ..data import build_synthetic_corpus

        recipe = load_study_recipe()["miniature"]
        clips = args.clips_per_split or dict(recipe["clips"])

        def build():
            if _main_process():
                build_synthetic_corpus(out / "data", seed=args.seed, clips_per_split=clips,
                                       traditions=plan.datasets, progress=args.progress, overwrite=args.overwrite)
            _barrier()
            return {name: str(out / "data" / name) for name in plan.datasets}

        log.run("data (synthetic corpus)", build, lambda r: list(r.values()), key=sorted(plan.datasets))
        plan.data_root = out / "data"
    else:
        plan.data_root = Path(args.data_root) if args.data_root else None
    inputs = _Inputs(plan, plan.data_root)
    results = {"single": {}, "transfer": {}}
    bar = tqdm(total=len(singles) + len(transfers), desc="transfer study", unit="run",
               disable=not args.progress or not _main_process())
    for model in plan.models:
        for dataset in plan.datasets:
            folder = out / "models" / model / dataset
            results["single"].setdefault(model, {})[dataset] = log.run(
                f"single: {model} on {dataset}", lambda m=model, d=dataset, f=folder: run_single(plan, inputs, m, d, f),
                lambda r: [r["folder"]])
            bar.update(1)
    for model in plan.models:
        for mode in plan.modes:
            for source, target in plan.pairs:
                folder = results["single"][model][source]["folder"]
                entry = log.run(f"transfer: {model} {mode} {source} -> {target}",
                                lambda m=model, md=mode, s=source, t=target, f=folder:
                                run_pair(plan, inputs, m, md, s, t, f))
                results["transfer"].setdefault(model, {}).setdefault(mode, {}).setdefault(source, {})[target] = entry
                bar.update(1)
    bar.close()
    if not _main_process():  # reports, cards and the summary are the main process's
        return {"output_dir": str(out), "main_process": False}
    log.after_record = None  # the closing stages are the main process's alone

    def report():
        from .report import write_report

        return write_report(results, plan, out / "results")

    files = log.run("report: tables and heatmaps", report, lambda r: [r["json"], r["markdown"]] + r["heatmaps"],
                    key=plan_key)

    def cards():
        from .report import write_cards

        return write_cards(results, plan)

    card_files = log.run("cards", cards, lambda r: r, key=plan_key)
    summary = {"output_dir": str(out), "results": files, "cards": card_files, "stages": str(out / "stages.json"),
               "models": {m: {d: results["single"][m][d]["folder"] for d in plan.datasets} for m in plan.models}}
    run_folder.write_summary(summary)
    return summary
