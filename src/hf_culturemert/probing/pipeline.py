"""``probe_model`` (one model, one dataset) and ``evaluate_models`` (models x datasets -> tables, JSON, plot)."""

import dataclasses
import itertools
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .arguments import ProbeArguments
from .features import (
    cached_split_features,
    load_backbone,
    model_display_name,
    model_fingerprint,
    resolve_device,
    resolve_dtype,
)
from .report import results_markdown, table_rows
from .sharding import is_main_process, process_device
from .train import summarize_grid, train_layer_probes, train_probe_grid

logger = logging.getLogger(__name__)


def _resolve_args(args, overrides):
    args = args if args is not None else ProbeArguments()
    return args.updated(**overrides) if overrides else args


class _PreparedModel:
    """A backbone on the extraction device/dtype, with its weight fingerprint; restores a caller's model after."""

    def __init__(self, model, args, name=None):
        self.name = name or model_display_name(model)
        self.device = process_device(resolve_device(args.device))  # under `accelerate launch`: this process's GPU
        self.dtype = resolve_dtype(args.dtype, self.device)
        self.backbone = load_backbone(model)
        # a backbone may pin its own dtype (the hand-crafted upper bound computes in float32)
        self.dtype = getattr(self.backbone, "extraction_dtype", None) or self.dtype
        self.owned = isinstance(model, (str, os.PathLike))
        tensor = next(itertools.chain(self.backbone.parameters(), self.backbone.buffers()), None)
        self.original = (tensor.device if tensor is not None else torch.device("cpu"),
                         tensor.dtype if tensor is not None else torch.float32, self.backbone.training)
        self.fingerprint = model_fingerprint(self.backbone)
        self.backbone.to(device=self.device, dtype=self.dtype).eval()

    def release(self):
        if not self.owned:  # hand the caller's model back as it was
            device, dtype, training = self.original
            self.backbone.to(device=device, dtype=dtype).train(training)


def _to_tensors(columns):
    ids = columns["track_id"]
    index, mapping = np.empty(len(ids), dtype=np.int64), {}
    for i, track in enumerate(ids):
        index[i] = mapping.setdefault(track, len(mapping))
    return {"features": torch.from_numpy(np.ascontiguousarray(columns["features"], dtype=np.float32)),
            "labels": torch.from_numpy(np.ascontiguousarray(columns["labels"], dtype=np.float32)),
            "track_index": torch.from_numpy(index), "num_tracks": len(mapping)}


def tag_family(tag):
    """``instrument--Ney`` -> ``instrument``; a tag without a prefix is family ``tag``."""
    return tag.split("--", 1)[0] if "--" in tag else "tag"


def _keep_tag_families(splits, tags, families, dataset_name):
    """Drop the label columns of other families from every split; returns the kept tag names."""
    if tags is None:
        raise ValueError(f"--tag_families needs tag names, but dataset {dataset_name!r} has no vocabulary "
                         "(tags.json or a registry entry); drop --tag_families for it")
    keep = [i for i, tag in enumerate(tags) if tag_family(tag) in set(families)]
    if not keep:
        present = sorted({tag_family(tag) for tag in tags})
        raise ValueError(f"--tag_families {' '.join(families)} keeps no tag of dataset {dataset_name!r}; its "
                         f"families are {', '.join(present)}")
    for split in splits.values():
        split["labels"] = split["labels"][:, keep].contiguous()
    return [tags[i] for i in keep]


def _reported_layer(runs, report_layer, num_states):
    if report_layer == "best":
        return max(runs, key=lambda k: np.nan_to_num(runs[k]["validation_roc_auc"], nan=-1.0))
    if report_layer == "weighted":
        if "weighted" not in runs:
            raise ValueError("report_layer='weighted' needs weighted_sum=True")
        return "weighted"
    layer = num_states - 1 if report_layer == "last" else int(report_layer) % num_states
    if str(layer) not in runs:
        raise ValueError(f"report_layer={report_layer!r} (layer {layer}) was not probed; probed: {sorted(runs)}")
    return str(layer)


def _probe_prepared(prepared, dataset, args, dataset_name=None):
    dataset_name = dataset_name or Path(str(dataset)).name
    splits, cache = {}, {}
    for role, split in (("train", args.train_split), ("validation", args.validation_split), ("test", args.test_split)):
        columns, info = cached_split_features(prepared.backbone, prepared.fingerprint, dataset, split, args,
                                              prepared.device, prepared.dtype, model_name=prepared.name)
        splits[role], cache[role] = _to_tensors(columns), info
    tags = cache["train"]["tags"]
    if args.tag_families:
        tags = _keep_tag_families(splits, tags, args.tag_families, dataset_name)
    num_states = splits["train"]["features"].shape[1]
    bad = [i for i in (args.layers or []) if not -num_states <= int(i) < num_states]
    if bad:
        raise ValueError(f"--layers {bad}: this model has {num_states} hidden states (0-{num_states - 1}, or "
                         f"-1 for the last); pick layers in that range")
    layers = list(range(num_states)) if args.layers is None else sorted({int(i) % num_states for i in args.layers})
    settings = dict(hidden_size=args.hidden_size, dropout=args.dropout, batch_size=args.batch_size,
                    max_epochs=args.max_epochs, early_stopping_patience=args.early_stopping_patience,
                    lr_patience=args.lr_patience, lr_factor=args.lr_factor, threshold=args.threshold, tag_names=tags,
                    device=prepared.device, single_class=args.single_class)
    groups = [("layers", layers)]  # every single layer in one ensemble, then the weighted sum
    if args.weighted_sum and num_states > 1:
        groups.append(("weighted", list(range(1, num_states))))
    runs = {}
    for key, selection in tqdm(groups, desc=f"probes {prepared.name}/{dataset_name}", disable=not args.progress):
        if key == "layers":
            per_layer = train_layer_probes(splits["train"], splits["validation"], splits["test"],
                                           args.learning_rates, args.seeds, selection, **settings)
            runs.update({str(layer): summarize_grid(results, args.learning_rates)
                         for layer, results in per_layer.items()})
        else:
            results = train_probe_grid(splits["train"], splits["validation"], splits["test"], args.learning_rates,
                                       args.seeds, weighted_layers=selection, **settings)
            runs[key] = summarize_grid(results, args.learning_rates)
            runs[key]["weighted_layers"] = selection
    reported = _reported_layer(runs, args.report_layer, num_states)
    summary = {metric: dict(runs[reported]["test"][metric]) for metric in runs[reported]["test"]}
    cache_hit = all(info["cache_hit"] for info in cache.values())
    logger.info("%s on %s: layer %s, %s ROC-AUC %.4f, mAP %.4f (feature cache %s)", prepared.name, dataset_name,
                reported, args.test_split, summary["roc_auc"]["mean"], summary["average_precision"]["mean"],
                "hit" if cache_hit else "miss")
    return {
        "model": prepared.name, "dataset": dataset_name, "model_fingerprint": prepared.fingerprint,
        "cache_hit": cache_hit,
        "cache": {role: {k: info[k] for k in ("cache_hit", "path")} for role, info in cache.items()},
        "num_hidden_states": num_states, "tags": tags,
        "num_tracks": {role: splits[role]["num_tracks"] for role in splits},
        "num_windows": {role: int(splits[role]["features"].shape[0]) for role in splits},
        "reported_layer": reported, "summary": summary, "layers": runs,
        "settings": dataclasses.asdict(args),
    }


def probe_model(model, dataset, args=None, *, model_name=None, dataset_name=None, output_dir=None, overwrite=False,
                **overrides):
    """Probe one model on one dataset with MARBLE's protocol (see the package docstring).

    Args:
        model: a local folder, Hub id, short name (``mert-v1-95m``) or a MERT model object (its backbone is used
            and restored afterwards).
        dataset: a registry name, a dataset folder (or a name under ``data_root``), or a ``datasets.DatasetDict``.
        args: a :class:`ProbeArguments` (default: MARBLE's settings).
        model_name: the model's name in the result (default: from ``model``).
        dataset_name: the dataset's name in the result (default: from ``dataset``).
        output_dir: also write the result to ``<output_dir>/probe_<model>_<dataset>.json``.
        overwrite: replace a file there that an earlier ``probe`` did not write (refused before probing
            otherwise).
        **overrides: fields of :class:`ProbeArguments`.

    Returns:
        The result dict: the test metrics of the layer and learning rate chosen on validation (``summary``: mean
        and std over seeds), and the per-layer and per-rate validation and test values.

    Example:
        ```python
        result = probe_model("tiny-random", "data/synthetic/makam", window_seconds=4.0)
        result["summary"]["roc_auc"]["mean"]
        ```
    """
    from ..outputs import OutputManifest, atomic_write_text

    args = _resolve_args(args, overrides)
    prepared = _PreparedModel(model, args, model_name)
    manifest, name = None, None
    try:
        if output_dir is not None:  # checked before any probing
            dataset_name = dataset_name or Path(str(dataset)).name
            name = f"probe_{prepared.name}_{dataset_name}.json"
            manifest = OutputManifest(output_dir, "probe", overwrite=overwrite)
            manifest.check([name])
        result = _probe_prepared(prepared, dataset, args, dataset_name)
    finally:
        prepared.release()
    if manifest is not None:
        path = Path(output_dir) / name
        if is_main_process():  # launched processes all hold the result; one writes it
            manifest.claim([name])
            atomic_write_text(path, json.dumps(result, indent=2, default=str))
        result["output_file"] = str(path)
    return result


def _parse_model_spec(spec):
    """``name=path`` gives a table name to a model; otherwise the folder name / last part of the Hub id."""
    if isinstance(spec, str) and "=" in spec:
        name, source = spec.split("=", 1)
        return name, source
    return None, spec


def evaluate_models(models, datasets, output_dir, args=None, *, overwrite=False, datasets_per_model=None,
                    **overrides):
    """Probe every model on every dataset and write the model-card tables.

    ``models``: paths / Hub ids / short names, ``"name=path"`` strings, model objects, or a dict name -> any of
    those. ``datasets_per_model`` ({model name: datasets}) probes the named models on those datasets only (a subset
    of ``datasets``; their other cells stay empty): a study need not probe every model everywhere. Writes
    ``results.json`` (everything), ``results.md`` (ROC-AUC / mAP and micro-F1 / macro-F1 tables) and ``layers.png``
    (test ROC-AUC per layer per model) into ``output_dir``; returns the results dict with ``results`` ({model:
    {dataset: probe result}}), ``tables``, ``files`` and ``cache_hit``.

    Result files that an earlier ``evaluate`` did not write (no entry in ``output_dir``'s manifest) are not
    replaced: the call refuses before probing anything, unless ``overwrite``.

    Args:
        models: paths, Hub ids, short names, ``"name=path"`` strings, model objects, or a dict name -> any of those.
        datasets: registry names or dataset folders.
        output_dir: where ``results.json``, ``results.md`` and ``layers.png`` go.
        args: a :class:`ProbeArguments` (default: MARBLE's settings).
        overwrite: replace result files an earlier ``evaluate`` did not write.
        datasets_per_model: ``{model name: datasets}``, a subset of ``datasets`` for the named models.
        **overrides: fields of :class:`ProbeArguments`.

    Returns:
        ``{"results": {model: {dataset: probe result}}, "tables": ..., "files": ..., "cache_hit": ...}``.

    Example:
        ```python
        evaluate_models(["m-a-p/MERT-v1-95M", "ntua-slp/CultureMERT-95M"], ["lyra", "makam"], "results/")
        ```
    """
    from ..outputs import OutputManifest, atomic_write_text
    from ..plots import plot_layer_scores

    args = _resolve_args(args, overrides)
    if isinstance(models, dict):
        specs = list(models.items())
    else:
        specs = [_parse_model_spec(m) for m in models]
    if not specs or not datasets:
        raise ValueError("Pass at least one model and one dataset")
    subsets = {name: [str(d) for d in chosen] for name, chosen in (datasets_per_model or {}).items()}
    for name, chosen in subsets.items():
        if name not in {n for n, _ in specs}:
            raise ValueError(f"datasets_per_model[{name!r}]: no model of that name; name the models with a dict")
        stray = [d for d in chosen if d not in {str(d) for d in datasets}]
        if stray:
            raise ValueError(f"datasets_per_model[{name!r}]: datasets {', '.join(stray)} are not among the evaluated "
                             "datasets; add them to `datasets`")
    seen = {}
    for dataset in datasets:  # results are keyed by the folder name: two folders of one name would collide
        key = Path(str(dataset)).name
        if key in seen and str(seen[key]) != str(dataset):
            raise ValueError(f"--datasets {seen[key]} and {dataset} share the name {key!r}, which keys the results "
                             "(one would replace the other); rename one of the folders")
        seen[key] = dataset
    output_dir = Path(output_dir)
    manifest = OutputManifest(output_dir, "evaluate", overwrite=overwrite)
    result_names = ["results.json", "results.md", "layers.png"]
    manifest.check(result_names)  # before hours of probing
    results, names = {}, []
    for name, model in specs:
        prepared = _PreparedModel(model, args, name)
        if prepared.name in results:
            raise ValueError(f"Two models are named {prepared.name!r}; name them with 'name=path'")
        names.append(prepared.name)
        results[prepared.name] = {}
        try:
            for dataset in datasets:
                if prepared.name in subsets and str(dataset) not in subsets[prepared.name]:
                    continue
                dataset_name = Path(str(dataset)).name
                results[prepared.name][dataset_name] = _probe_prepared(prepared, dataset, args, dataset_name)
        finally:
            prepared.release()
    dataset_names = [Path(str(d)).name for d in datasets]
    markdown = results_markdown(results, names, dataset_names, num_seeds=len(args.seeds))
    tables = {pair: table_rows(results, names, dataset_names, pair) for pair in ("roc_auc_map", "f1")}
    files = {"json": str(output_dir / "results.json"), "markdown": str(output_dir / "results.md"),
             "plot": str(output_dir / "layers.png")}
    output = {"models": names, "datasets": dataset_names, "tables": tables, "results": results, "files": files,
              "cache_hit": all(r["cache_hit"] for per in results.values() for r in per.values()),
              "settings": dataclasses.asdict(args)}
    if is_main_process():  # launched processes all hold the results; one writes them
        manifest.claim(result_names)  # a symlink there is replaced by a file, never written through
        atomic_write_text(files["markdown"], markdown)
        atomic_write_text(files["json"], json.dumps(output, indent=2, default=str))
        plot_layer_scores(results, files["plot"])
    output["markdown"] = markdown
    return output
