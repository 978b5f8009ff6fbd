"""Merge inputs: resolve folders / Hub ids into tensors under canonical names (read by ``readers``), LoRA adapters as
task vectors; ``compatibility`` checks them against the base.

Canonical tensor names are those of a bare ``MERTModel`` with current torch weight-norm parametrizations:
``mert.``-prefixed wrapper checkpoints (``MERTForPreTraining``, ``MERTForAudioTagging``) have the prefix removed
from their backbone tensors, and their other tensors are "heads"; legacy ``weight_g`` / ``weight_v`` become
``parametrizations.weight.original0`` / ``original1``.
"""

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from ..models.mert.configuration_mert import MERTConfig
from .readers import SafetensorsFiles, TorchFiles, sha256_file, weight_files

logger = logging.getLogger(__name__)

WRAPPER_PREFIX = "mert."
# Where hf_culturemert.pretraining keeps the pre-training heads beside a bare backbone folder (same constant as
# ``hf_culturemert.pretraining.modeling.HEADS_FILE``).
HEADS_FILE = "pretraining_heads.safetensors"
PRETRAINING_HEAD_PREFIXES = ("final_proj.", "label_embs_concat", "encoder_cqt_model.")
LEGACY_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0",
                      "weight_v": "parametrizations.weight.original1"}
HUB_PATTERNS = ["config.json", "model.safetensors", "model.safetensors.index.json", "model-*-of-*.safetensors",
                "adapter_config.json", "adapter_model.safetensors", HEADS_FILE]
HUB_PICKLE_PATTERNS = ["pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin",
                       "adapter_model.bin"]


def canonical_name(key):
    """Legacy weight-norm leaf names -> torch parametrization names (other names unchanged)."""
    head, _, leaf = key.rpartition(".")
    if head and leaf in LEGACY_WEIGHT_NORM:
        return f"{head}.{LEGACY_WEIGHT_NORM[leaf]}"
    return key


def short_list(items, limit=12):
    """Sorted names, the first ``limit`` of them, for one-line messages."""
    items = sorted(items)
    text = ", ".join(items[:limit])
    return text + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


# ----------------------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class MergeInput:
    """One resolved merge input: a full checkpoint or a LoRA adapter, with its provenance."""

    source: str
    role: str
    folder: Path
    kind: str  # "checkpoint" or "lora"
    format: str  # "safetensors", "bin" or "lora"
    files: list
    hub_id: Optional[str] = None
    revision: Optional[str] = None
    config: Optional[MERTConfig] = None
    model_type: Optional[str] = None  # as written in config.json
    backbone_keys: list = field(default_factory=list)
    head_keys: list = field(default_factory=list)
    specs: dict = field(default_factory=dict)  # canonical key -> (shape, dtype)
    adapter_info: Optional[dict] = None
    _reader: object = None
    _raw: dict = field(default_factory=dict)  # canonical key -> (reader, key in its file)
    _cache: Optional[dict] = None

    @property
    def label(self):
        return f"{self.role} {self.source!r}"

    def provenance(self, hash_files=True):
        entry = {"role": self.role, "source": self.source, "kind": self.kind, "format": self.format}
        if self.hub_id is not None:
            entry.update(hub_id=self.hub_id, revision=self.revision)
        elif hash_files:
            entry["sha256"] = {f.name: sha256_file(f) for f in self.files}
        if self.adapter_info:
            entry["adapter"] = self.adapter_info
        return entry

    def get(self, key):
        """Tensor ``key`` (canonical name) as stored; for a LoRA adapter its float32 delta, or the full value of a
        ``modules_to_save`` tensor."""
        if self._cache is not None:
            return self._cache[key]
        if self.kind == "lora":
            return self._reader.delta(key)
        reader, raw_key = self._raw[key]
        return reader.get(raw_key)

    def task_vector(self, key, base_value):
        """float32 ``theta - theta_base`` of tensor ``key`` (zeros where a LoRA adapter does not touch it)."""
        if self.kind == "lora":
            if key not in self.specs:
                return torch.zeros_like(base_value)
            value = self.get(key).float()
            return value - base_value if self._reader.is_full(key) else value
        return self.get(key).float() - base_value

    def preload(self):
        """Read every tensor now (the all-in-memory mode): N + 1 models of memory."""
        copy = self.format == "bin"  # memory-mapped: copy into memory; the other readers already own their buffers
        self._cache = {key: (self.get(key).clone() if copy else self.get(key)) for key in self.specs}

    def close(self):
        for reader in {id(r): r for r, _ in self._raw.values()}.values():
            reader.close()
        if self._reader is not None:
            self._reader.close()
        self._cache = None


def _index_checkpoint(entry, reader, heads_reader=None):
    """Canonical names, backbone / head split and shapes of a full checkpoint (heads either ``mert.``-wrapper
    siblings in the weights file or in a :data:`HEADS_FILE` beside a bare backbone)."""
    keys = reader.keys()
    wrapper = any(k.startswith(WRAPPER_PREFIX) for k in keys)
    raw, backbone, heads, ignored = {}, [], [], []
    sources = [(reader, key) for key in keys] + [(heads_reader, key) for key in (heads_reader.keys()
                                                                                  if heads_reader else [])]
    for source, key in sources:
        if source is heads_reader:
            name = canonical_name(key)
            heads.append(name)
        elif not wrapper:
            name = canonical_name(key)
            backbone.append(name)
        elif key.startswith(WRAPPER_PREFIX):
            name = canonical_name(key[len(WRAPPER_PREFIX):])
            backbone.append(name)
        else:
            name = canonical_name(key)
            if not name.startswith(PRETRAINING_HEAD_PREFIXES):  # task heads (MERTForAudioTagging ...): not merged
                ignored.append(name)
                continue
            heads.append(name)
        if name in raw:
            raise ValueError(f"{entry.label}: tensors {raw[name][1]!r} and {key!r} both map to {name!r} (legacy and "
                             "current weight-norm names together, or heads both in the weights and in "
                             f"{HEADS_FILE}?); the checkpoint is inconsistent")
        raw[name] = (source, key)
    if ignored:
        logger.info("%s: ignoring %d task-head tensor(s) (%s); only the backbone and the pre-training heads are "
                    "merged", entry.label, len(ignored), short_list(ignored, 4))
    entry._raw = raw
    entry.backbone_keys, entry.head_keys = backbone, heads
    entry.specs = {name: source.spec(key) for name, (source, key) in raw.items()}


class _LoraAdapter:
    """A peft LoRA adapter as a task vector: delta W = B @ A * scaling (rsLoRA: alpha / sqrt(r))."""

    def __init__(self, folder, label):
        config_path = folder / "adapter_config.json"
        config = json.loads(config_path.read_text())
        self.config = config
        peft_type = str(config.get("peft_type", "LORA")).upper()
        if peft_type != "LORA":
            raise ValueError(f"{label}: adapter type {peft_type} is not supported; only LoRA adapters can be merged "
                             "(merge other adapters into their model with peft's merge_and_unload first)")
        if config.get("use_dora"):
            raise ValueError(f"{label}: DoRA adapters are not supported as task vectors; merge the adapter with "
                             "peft's merge_and_unload and pass the resulting model folder")
        if (folder / "adapter_model.safetensors").is_file():
            from safetensors.torch import load_file

            self.file = folder / "adapter_model.safetensors"
            state = load_file(str(self.file))
        elif (folder / "adapter_model.bin").is_file():
            self.file = folder / "adapter_model.bin"
            state = torch.load(str(self.file), map_location="cpu", weights_only=True)
        else:
            raise FileNotFoundError(f"{folder} has adapter_config.json but no adapter_model.safetensors")
        self.lora, self.full = {}, {}  # canonical key -> (A, B, scaling) / full replacement tensor
        pairs = {}
        for key, tensor in state.items():
            name = key[len("base_model.model."):] if key.startswith("base_model.model.") else key
            match = re.match(r"(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$", name)
            if match:
                pairs.setdefault(match.group(1), {})[match.group(2)] = tensor
            elif any(part in name for part in ("lora_embedding", "lora_magnitude", "lora_")):
                raise ValueError(f"{label}: adapter tensor {key!r} is not supported (only lora_A / lora_B of Linear "
                                 "layers and modules_to_save are)")
            else:  # modules_to_save / trained biases: a full replacement value
                self.full[self._canonical(name)] = tensor
        for module, parts in pairs.items():
            if set(parts) != {"A", "B"}:
                raise ValueError(f"{label}: module {module!r} has lora_{''.join(parts)} but not both lora_A and "
                                 "lora_B; the adapter file is incomplete")
            a, b = parts["A"], parts["B"]
            if a.dim() != 2 or b.dim() != 2:
                raise ValueError(f"{label}: LoRA on {module!r} is not a Linear layer (lora_A shape {tuple(a.shape)}); "
                                 "only Linear LoRA can be merged here - merge it with peft's merge_and_unload")
            rank = a.shape[0]
            alpha = float(self._pattern(config.get("alpha_pattern") or {}, module, config.get("lora_alpha", 8)))
            scaling = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
            self.lora[self._canonical(f"{module}.weight")] = (a, b, scaling)
        self.head_keys = []
        if (folder / HEADS_FILE).is_file():  # hf_culturemert.pretraining saves fully trained heads beside the adapter
            from safetensors.torch import load_file

            for key, tensor in load_file(str(folder / HEADS_FILE)).items():
                self.full[canonical_name(key)] = tensor
                self.head_keys.append(canonical_name(key))
        if not self.lora and not self.full:
            raise ValueError(f"{label}: the adapter file {self.file} holds no LoRA tensors")

    @staticmethod
    def _canonical(name):
        name = name[len(WRAPPER_PREFIX):] if name.startswith(WRAPPER_PREFIX) else name
        return canonical_name(name)

    @staticmethod
    def _pattern(patterns, module, default):
        # same matching rule as peft's get_pattern_key
        for pattern, value in patterns.items():
            if re.match(rf"(.*\.)?({pattern})$", module):
                return value
        return default

    def keys(self):
        return list(self.lora) + list(self.full)

    def spec(self, key):
        if key in self.full:
            tensor = self.full[key]
            return tuple(tensor.shape), tensor.dtype
        a, b, _ = self.lora[key]
        shape = (b.shape[0], a.shape[1])
        return (shape[::-1] if self.config.get("fan_in_fan_out") else shape), torch.float32

    def is_full(self, key):
        return key in self.full

    def delta(self, key):
        """float32 delta of ``key``; for full replacement tensors the stored value (the caller subtracts the base)."""
        if key in self.full:
            return self.full[key]
        a, b, scaling = self.lora[key]
        delta = (b.float() @ a.float()) * scaling
        return delta.T.contiguous() if self.config.get("fan_in_fan_out") else delta

    def close(self):
        self.lora.clear()
        self.full.clear()


def _download(hub_id, revision, patterns):
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(hub_id, revision=revision, allow_patterns=patterns))


def resolve_input(source, role="model"):
    """Resolve ``source`` (folder, short name, Hub id or ``id@revision``) into an indexed :class:`MergeInput`.

    Args:
        source: a local folder, a short name (``culturemert-95m``), a Hub id or ``id@revision``.
        role: what the input is in the merge (``"base"``, ``"model"``), named in errors.

    Returns:
        The :class:`MergeInput`: a full checkpoint or a LoRA adapter, its folder, format and tensor index.

    Example:
        ```python
        base = resolve_input("mert-v1-95m", role="base")
        base.kind, base.format  # ('checkpoint', 'safetensors')
        ```
    """
    from ..export import resolve_model_id

    source = str(source)
    resolved = resolve_model_id(source)
    path = Path(resolved).expanduser()
    hub_id = revision = None
    if path.exists():
        if path.is_file():
            raise ValueError(f"{role} {source!r} is a file; pass the folder that holds it and its config.json")
        folder = path.resolve()
    else:
        hub_id, _, revision = resolved.partition("@")
        if resolved.startswith((".", "/", "~")) or hub_id.count("/") > 1:
            raise FileNotFoundError(f"{role} {source!r}: no such folder (and not a Hub id)")
        try:
            folder = _download(hub_id, revision or None, HUB_PATTERNS)
            if not any((folder / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json",
                                                       "adapter_model.safetensors")):
                folder = _download(hub_id, revision or None, HUB_PATTERNS + HUB_PICKLE_PATTERNS)
        except (OSError, ValueError) as error:  # huggingface_hub errors subclass these
            raise FileNotFoundError(f"{role} {source!r} is not a local folder and could not be fetched from the "
                                    f"Hugging Face Hub ({type(error).__name__}: {error}); check the id / revision, "
                                    "your network, or pass a local folder") from error
        revision = folder.name  # snapshot folders are named by the resolved commit hash
    entry_kwargs = dict(source=source, role=role, folder=folder, hub_id=hub_id, revision=revision)
    if (folder / "adapter_config.json").is_file():
        if role == "base":
            raise ValueError(f"base {source!r} is a LoRA adapter; the base must be a full checkpoint")
        adapter = _LoraAdapter(folder, f"{role} {source!r}")
        entry = MergeInput(kind="lora", format="lora", files=[adapter.file], **entry_kwargs)
        entry.adapter_info = {k: adapter.config.get(k) for k in ("base_model_name_or_path", "r", "lora_alpha",
                                                                 "use_rslora", "target_modules")}
        entry.adapter_info["target_modules"] = (sorted(entry.adapter_info["target_modules"])
                                                if isinstance(entry.adapter_info["target_modules"], (list, set))
                                                else entry.adapter_info["target_modules"])
        entry._reader = adapter
        entry.specs = {key: adapter.spec(key) for key in adapter.keys()}
        entry.head_keys = list(adapter.head_keys)
        entry.backbone_keys = [k for k in entry.specs if k not in set(adapter.head_keys)]
        return entry
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{role} {source!r}: {folder} has no config.json (a model folder needs config.json "
                                "and model.safetensors; a LoRA adapter needs adapter_config.json)")
    fmt, files = weight_files(folder)
    try:
        config = MERTConfig.from_json_file(str(config_path))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{role} {source!r}: {config_path} is not a valid MERT config: {error}") from error
    heads_file = folder / HEADS_FILE
    if heads_file.is_file():
        files = files + [heads_file]
    entry = MergeInput(kind="checkpoint", format=fmt, files=files, config=config,
                       model_type=json.loads(config_path.read_text()).get("model_type"), **entry_kwargs)
    weights = [f for f in files if f.name != HEADS_FILE]
    _index_checkpoint(entry, SafetensorsFiles(weights) if fmt == "safetensors" else TorchFiles(weights),
                      SafetensorsFiles([heads_file]) if heads_file.is_file() else None)
    return entry
