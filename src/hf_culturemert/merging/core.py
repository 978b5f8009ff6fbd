"""Streamed, checked model merging (task arithmetic = CultureMERT-TA, TIES, DARE, magnitude pruning, soups)."""

import copy
import fnmatch
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from tqdm.auto import tqdm

from .checkpoints import HEADS_FILE, resolve_input
from .compatibility import check_compatible
from .methods import merge_task_vectors
from .recipe import METHODS, MergeRecipe
from .writer import SafetensorsStreamWriter

logger = logging.getLogger(__name__)

# output = base + sum of (masked, rescaled) weighted task vectors: a NaN/inf input always reaches the output
LINEAR_METHODS = ("task_arithmetic", "average", "dare_linear")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_WEIGHT_FILE_PATTERNS = ("model.safetensors", "model.safetensors.index.json", "model-*-of-*.safetensors",
                         "pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin",
                         HEADS_FILE, "*.partial")


@dataclass
class MergeResult:
    """What a merge produced: the output folder (or the state dict when no output was given) and its record."""

    recipe: MergeRecipe
    output: Optional[Path]
    provenance: list
    merged_keys: list
    copied_keys: list
    state_dict: Optional[dict] = None
    card: Optional[str] = None
    files: dict = field(default_factory=dict)


def _matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def select_tensors(keys, include=("*",), exclude=()):
    """Split ``keys`` into (merged, copied from the base) by glob patterns; unmatched ``include`` patterns raise
    (a typo would silently merge nothing), unmatched ``exclude`` patterns are logged."""
    if not keys:
        raise ValueError("There is no floating-point tensor to merge")
    for pattern in include:
        if not any(fnmatch.fnmatchcase(k, pattern) for k in keys):
            raise ValueError(f"include pattern {pattern!r} matches no tensor; tensor names look like "
                             f"{keys[len(keys) // 2]!r}")
    for pattern in exclude:
        if not any(fnmatch.fnmatchcase(k, pattern) for k in keys):
            logger.warning("exclude pattern %r matches no tensor", pattern)
    merged = [k for k in keys if _matches(k, include) and not _matches(k, exclude)]
    copied = [k for k in keys if k not in set(merged)]
    return merged, copied


def prepare_output(output, overwrite, inputs):
    output = Path(output).expanduser().resolve()
    for entry in inputs:
        if output == entry.folder or entry.folder in output.parents:
            raise ValueError(f"Output folder {output} is inside {entry.label}'s folder {entry.folder}; choose a "
                             "folder outside the inputs")
    if output.exists() and not output.is_dir():
        raise ValueError(f"Output {output} exists and is a file; pass a folder")
    if output.is_dir() and any(output.iterdir()):
        if not overwrite:
            raise ValueError(f"Output folder {output} is not empty; pass --overwrite to replace the files a merge "
                             "writes there (weights, config.json, preprocessor_config.json, README.md, "
                             "merge_recipe.yaml, the remote code; other files stay), or choose a new folder")
        for pattern in _WEIGHT_FILE_PATTERNS:
            for stale in output.glob(pattern):
                stale.unlink()
    output.mkdir(parents=True, exist_ok=True)
    return output


def _non_finite(tensor):
    """Number of NaN/inf values. Fast path: NaN and inf propagate into the sum (a reduction ~50x cheaper than
    ``isfinite`` on CPU); the exact count is only taken when the sum is not finite."""
    if not tensor.is_floating_point() or bool(torch.isfinite(tensor.sum())):
        return 0
    return int((~torch.isfinite(tensor)).sum())


def _check_inputs(models, key, task_vectors):
    for entry, tau in zip(models, task_vectors):
        bad = _non_finite(tau)
        if bad:
            raise ValueError(f"{entry.label}: tensor {key!r} has {bad} NaN/inf value(s); the checkpoint is corrupt or "
                             "diverged - fix it or leave it out of the merge")


def _task_weights(recipe):
    per_model = [float(w) for w in (recipe.weights or [1.0] * len(recipe.models))]
    if recipe.method == "average":
        total = sum(per_model)
        return [w / total for w in per_model]
    return [recipe.weight * w for w in per_model]


def run_merge(recipe, *, sweep=None):
    """Merge as ``recipe`` says; returns a :class:`MergeResult`.

    Inputs are checked before any arithmetic (architecture config fields, tensor names, shapes); tensors are then
    read one at a time (float32 arithmetic, output in the base's dtype or ``recipe.dtype``), checked for NaN/inf,
    and written straight to ``model.safetensors`` in a Hub-ready folder (or returned as a state dict when
    ``recipe.output`` is None).

    Args:
        recipe: a :class:`MergeRecipe` (or what ``MergeRecipe.from_yaml`` reads from a mergekit-style file).
        sweep: the rows of a lambda sweep, recorded in the model card.

    Returns:
        A :class:`MergeResult`.

    Example:
        ```python
        recipe = MergeRecipe(base="mert-v1-95m", models=["runs/lyra", "runs/makam"], method="task_arithmetic",
                             weight=0.2, output="merged/ta")
        result = run_merge(recipe)
        result.files["model.safetensors"], len(result.merged_keys)
        ```
    """
    recipe.check_complete()
    base_source = recipe.base if recipe.base is not None else recipe.models[0]
    inputs = []
    writers = {}
    hasher = None
    try:
        base = resolve_input(base_source, role="base")
        inputs.append(base)
        models = []
        for index, source in enumerate(recipe.models):
            entry = resolve_input(source, role=f"model {index + 1}")
            inputs.append(entry)
            models.append(entry)
        keys = check_compatible(base, models, heads=recipe.heads)
        output = prepare_output(recipe.output, recipe.overwrite, inputs) if recipe.output else None
        # sha256 of the local inputs (for the record) in a thread, overlapping the merge (hashlib drops the GIL)
        hasher = ThreadPoolExecutor(max_workers=1)
        provenance_future = hasher.submit(lambda: [entry.provenance() for entry in inputs])

        head_set = set(base.head_keys) if recipe.heads != "drop" else set()
        # heads='base' copies the heads; non-float tensors (none in MERT) are always copied
        selectable = [k for k in keys if base.specs[k][1].is_floating_point
                      and not (recipe.heads == "base" and k in head_set)]
        merged, copied = select_tensors(selectable, recipe.include, recipe.exclude_patterns)
        copied += [k for k in keys if k not in set(selectable)]
        merged_set = set(merged)
        weights = _task_weights(recipe)
        density = recipe.effective_density
        linear = recipe.method in LINEAR_METHODS
        out_dtype = _DTYPES.get(recipe.dtype)

        def dtype_of(key):
            dtype = base.specs[key][1]
            return out_dtype if out_dtype is not None and dtype.is_floating_point else dtype

        if not recipe.streaming:
            for entry in inputs:
                entry.preload()
        state_dict = None
        if output is not None:
            # the backbone goes to model.safetensors (a bare MERTModel); kept heads beside it, in the layout
            # hf_culturemert.pretraining reads (pretraining_heads.safetensors)
            writers = {False: SafetensorsStreamWriter(output / "model.safetensors", {
                k: (dtype_of(k), base.specs[k][0]) for k in keys if k not in head_set}, metadata={"format": "pt"})}
            if head_set:
                writers[True] = SafetensorsStreamWriter(output / HEADS_FILE, {
                    k: (dtype_of(k), base.specs[k][0]) for k in keys if k in head_set}, metadata={"format": "pt"})
        else:
            state_dict = {}
        logger.info("Merging %d of %d tensors with %s (lambda %s, %d model(s)); %d copied from the base",
                    len(merged), len(keys), recipe.method, recipe.weight, len(models), len(copied))
        for key in tqdm(keys, desc=f"merge ({recipe.method})", disable=not recipe.progress, unit="tensor"):
            base_value = base.get(key)
            bad = _non_finite(base_value)
            if bad:
                raise ValueError(f"{base.label}: tensor {key!r} has {bad} NaN/inf value(s); the checkpoint is "
                                 "corrupt or diverged")
            if key in merged_set:
                base32 = base_value.float()
                task_vectors = [entry.task_vector(key, base32) for entry in models]
                if not linear:  # pruning could hide a NaN: check every input
                    _check_inputs(models, key, task_vectors)
                value = base32 + merge_task_vectors(task_vectors, weights, recipe.method, density,
                                                    recipe.majority_sign_method, recipe.seed, key)
                if linear and _non_finite(value):  # NaN/inf always reach the output of a linear method
                    _check_inputs(models, key, task_vectors)
                del task_vectors
                value = value.to(dtype_of(key))
                if _non_finite(value):
                    raise ValueError(f"Merged tensor {key!r} overflows {value.dtype}; write float32 "
                                     "(--dtype float32) or check lambda and the inputs")
            else:
                value = base_value.to(dtype_of(key))
            if writers:
                writers[key in head_set].write(key, value)
            else:
                state_dict[key] = value.clone()
        for writer in writers.values():
            writer.close()
        writers = {}
        provenance = provenance_future.result()
        result = MergeResult(recipe=recipe, output=output, provenance=provenance, merged_keys=merged,
                             copied_keys=copied, state_dict=state_dict)
        if output is not None:
            _write_folder(result, base, sweep)
        return result
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    finally:
        if hasher is not None:
            hasher.shutdown(wait=True, cancel_futures=True)
        for entry in inputs:
            entry.close()


def _write_folder(result, base, sweep=None):
    """config.json (a MERTConfig carries its auto_map), remote code, preprocessor config, then the record
    (README.md, merge_recipe.yaml)."""
    from ..export import mert_feature_extractor, write_remote_code

    recipe, output = result.recipe, result.output
    config = copy.deepcopy(base.config)
    config.architectures = ["MERTModel"]
    reference_key = result.merged_keys[0] if result.merged_keys else base.backbone_keys[0]
    config.dtype = _DTYPES.get(recipe.dtype) or base.specs[reference_key][1]
    config.save_pretrained(output)
    write_remote_code(output)
    mert_feature_extractor(config.sample_rate).save_pretrained(output)
    write_record(result, sweep)
    logger.info("Wrote merged model folder %s", output)


def write_record(result, sweep=None):
    """(Re)write ``merge_recipe.yaml`` and the model card ``README.md`` of a merged folder."""
    output = result.output
    recipe_text = result.recipe.to_yaml(extra=_recipe_extra(result, sweep))
    (output / "merge_recipe.yaml").write_text(recipe_text, encoding="utf-8")
    result.card = model_card(result, recipe_text, sweep)
    (output / "README.md").write_text(result.card, encoding="utf-8")
    result.files = {name: str(output / name) for name in ("model.safetensors", "config.json", "README.md",
                                                          "merge_recipe.yaml", "preprocessor_config.json",
                                                          "configuration_mert.py", "modeling_mert.py")}


def _recipe_extra(result, sweep):
    extra = {"provenance": {"inputs": result.provenance, "merged_tensors": len(result.merged_keys),
                            "copied_from_base": sorted(result.copied_keys)}}
    if sweep:
        extra["lambda_sweep"] = sweep
    return extra


def _revision_text(entry):
    if entry.get("revision"):
        return f"revision `{entry['revision']}`"
    hashes = entry.get("sha256") or {}
    return "<br>".join(f"sha256 `{digest}` ({name})" for name, digest in hashes.items()) or "-"


def model_card(result, recipe_text, sweep=None):
    """README.md of a merged model (``model_cards/merge_output.md``): Hub metadata, method with its paper, inputs
    with revisions, recipe."""
    from ..cards import render_card

    recipe = result.recipe
    info = METHODS[recipe.method]
    name = recipe.model_name or (result.output.name if result.output else "merged-mert")
    hub_ids = [e["hub_id"] for e in result.provenance if e.get("hub_id")]
    metadata = {}
    if hub_ids:
        metadata["base_model"] = hub_ids
        metadata["base_model_relation"] = "merge"
    metadata.update({"library_name": "transformers", "license": recipe.license, "pipeline_tag": "feature-extraction",
                     "tags": ["merge", "mergekit-style", recipe.method.replace("_", "-"), "music", "audio", "mert",
                              "culturemert"]})
    parameters = [f"lambda = {recipe.weight}"] if recipe.method != "average" else []
    if recipe.weights is not None:
        parameters.append(f"per-model weights = {recipe.weights}")
    if recipe.effective_density is not None:
        parameters.append(f"density = {recipe.effective_density}")
    if info["random"]:
        parameters.append(f"seed = {recipe.seed}")
    if recipe.method in ("ties", "dare_ties"):
        parameters.append(f"sign election = {recipe.majority_sign_method}")
    rows = "\n".join(f"| {e['role']} | `{e['source']}` | {e['kind']} ({e['format']}) | {_revision_text(e)} |"
                     for e in result.provenance)
    copied = sorted(result.copied_keys)
    copied_text = (f"{len(copied)} tensor(s) were copied unchanged from the base: "
                   + ", ".join(f"`{k}`" for k in copied[:20]) + (" ..." if len(copied) > 20 else "") + "."
                   if copied else "No tensor was copied from the base.")
    heads_text = {"drop": "Pre-training heads were dropped: this is a bare MERT backbone (`MERTModel`).",
                  "base": f"The pre-training heads were copied from the base into `{HEADS_FILE}`.",
                  "merge": f"The pre-training heads were merged like the backbone, into `{HEADS_FILE}`."}
    return render_card("merge_output.md", metadata, name=name, num_models=len(recipe.models), method=info,
                       parameters=parameters, input_rows=rows, num_merged=len(result.merged_keys),
                       include=recipe.include, exclude=recipe.exclude_patterns, copied_text=copied_text,
                       heads_text=heads_text[recipe.heads], sweep_table=sweep_markdown(sweep) if sweep else "",
                       repo=f"<your-namespace>/{name}", recipe_text=recipe_text.rstrip())


def sweep_markdown(sweep):
    """Markdown table of a lambda sweep: one row per lambda, one column per dataset, the mean, the pick."""
    rows = sweep["rows"]
    datasets = list(dict.fromkeys(d for row in rows for d in row["scores"]))
    header = "| lambda | " + " | ".join(datasets) + f" | {sweep['criterion_name']} |"
    lines = [header, "|" + "---|" * (len(datasets) + 2)]
    for row in rows:
        mark = " **(selected)**" if row["lambda"] == sweep["best_lambda"] else ""
        cells = [f"{row['scores'][d]:.4f}" if d in row["scores"] else "-" for d in datasets]
        lines.append(f"| {row['lambda']:g}{mark} | " + " | ".join(cells) + f" | {row['criterion']:.4f} |")
    lines += ["", f"Criterion: {sweep['criterion']}. Selected lambda = {sweep['best_lambda']:g}."]
    return "\n".join(lines)


def merge_models(base, models, method="task_arithmetic", weight=0.2, *, weights=None, density=None, seed=0,
                 include=("*",), exclude=(), keep_from_base=(), heads="drop", dtype=None, output=None,
                 overwrite=False, streaming=True, **recipe_fields):
    """Merge ``models`` into ``base`` (folders, Hub ids ``id@revision``, short names or LoRA adapter folders).

    Args:
        base: the base model the task vectors are taken against (``m-a-p/MERT-v1-95M`` for CultureMERT-TA).
        models: the fine-tuned or continually pre-trained models (or LoRA adapters, used as task vectors).
        method: ``task_arithmetic``, ``ties``, ``dare_linear``, ``dare_ties``, ``magnitude_prune`` or ``average``.
        weight: lambda, the scale of the merged task vector (CultureMERT-TA: 0.2).
        weights: one weight per model instead of ``weight``.
        density: the fraction of each task vector kept by TIES / DARE / magnitude pruning.
        seed: DARE's random drop seed.
        include: glob patterns of the backbone tensors to merge.
        exclude: glob patterns of tensors copied from the base instead.
        keep_from_base: presets of tensors copied from the base (see ``KEEP_FROM_BASE_PRESETS``).
        heads: ``drop`` (default), ``base`` or ``merge``: what happens to pre-training heads.
        dtype: the output dtype (default: the base's).
        output: a folder for the Hub-ready merged model; without it the merged tensors are returned.
        overwrite: replace an ``output`` folder an earlier merge wrote.
        streaming: read and write one tensor at a time (peak memory about one model above the interpreter).
        **recipe_fields: other :class:`MergeRecipe` fields (``model_name``, ``license``, ``majority_sign_method``,
            ``progress`` ...).

    Returns:
        A :class:`MergeResult`: the output folder (or ``state_dict``), the merged and copied tensor names, the
        inputs' provenance (revisions, sha256) and the rendered card.

    Example:
        ```python
        result = merge_models("m-a-p/MERT-v1-95M", ["lyra", "makam", "hindustani", "carnatic"],
                              method="task_arithmetic", weight=0.2, output="CultureMERT-TA-95M")
        ```
    """
    recipe = MergeRecipe(base=None if base is None else str(base), models=[str(m) for m in models], method=method,
                         weight=weight, weights=None if weights is None else list(weights), density=density,
                         seed=seed, include=list(include), exclude=list(exclude),
                         keep_from_base=list(keep_from_base), heads=heads, dtype=dtype,
                         output=None if output is None else str(output), overwrite=overwrite, streaming=streaming,
                         **recipe_fields)
    return run_merge(recipe)


def move_folder_contents(source, destination):
    """Move every file of ``source`` into ``destination`` (used to promote the best sweep candidate)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for item in Path(source).iterdir():
        target = destination / item.name
        if target.is_dir():
            shutil.rmtree(target)
        shutil.move(str(item), str(target))
