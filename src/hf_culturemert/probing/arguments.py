"""Arguments of MARBLE-style probing, shared by the Python API and the ``probe`` / ``evaluate`` commands."""

import math
from dataclasses import dataclass, field, fields, replace
from typing import List, Optional

MARBLE_LEARNING_RATES = [5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2]


@dataclass
class ProbeArguments:
    """MARBLE constrained probing (defaults = the protocol used by CultureMERT; see the module docstring)."""

    # --- data ---
    data_root: Optional[str] = field(default=None, metadata={
        "help": "Folder holding one Hub-layout dataset folder per name (e.g. the output of `culturemert synthesize`); "
                "`<data_root>/<name>` is used when it exists, else the name goes to the dataset registry. A path "
                "(`./lyra`, `/data/lyra`) is always that folder; a bare name is never looked up in the working "
                "directory (docs: guides/outputs.md)."})
    train_split: str = field(default="train", metadata={"help": "Split the probes are trained on."})
    validation_split: str = field(default="validation", metadata={
        "help": "Split for learning-rate selection, LR schedule and early stopping."})
    test_split: str = field(default="test", metadata={"help": "Split the reported metrics come from."})
    max_tracks: Optional[int] = field(default=None, metadata={
        "help": "Use at most this many tracks per split (first ones; for quick runs)."})
    # --- features ---
    window_seconds: float = field(default=30.0, metadata={
        "help": "Window length in seconds; features are mean-pooled per window (MARBLE: 30; 5 for the synthetic "
                "corpus)."})
    hop_seconds: Optional[float] = field(default=None, metadata={"help": "Hop between windows (default: window)."})
    min_window_seconds: Optional[float] = field(default=None, metadata={
        "help": "Drop a track's last window when shorter than this (default: half a window; a track shorter than "
                "that still gets one window)."})
    normalize: bool = field(default=True, metadata={
        "help": "Zero-mean unit-variance per window, as MERT's feature extractor does."})
    extraction_batch_size: int = field(default=8, metadata={"help": "Windows per forward pass of the model."})
    num_workers: int = field(default=0, metadata={"help": "DataLoader workers decoding audio during extraction."})
    audio_cache_mb: int = field(default=2048, metadata={
        "help": "Decoded audio kept in memory for the next model probed in this process (MB, least recently used "
                "out; 0 = off; only without --num_workers)."})
    dtype: str = field(default="auto", metadata={
        "help": "Model dtype for extraction: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16."})
    device: str = field(default="auto", metadata={"help": "Device for extraction and probes: auto, cpu, cuda, ..."})
    backend: str = field(default="auto", metadata={
        "help": "CPU inference engine for extraction: auto (the fastest installed), torch, fused, onnxruntime or "
                "openvino (hf_culturemert.backends; same features to 1e-5, so the feature cache is shared)."})
    cache_dir: Optional[str] = field(default=None, metadata={
        "help": "Feature cache folder (default $CULTUREMERT_CACHE or ~/.cache/huggingface/culturemert/features)."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Re-extract features even when cached."})
    # --- probes ---
    tag_families: Optional[List[str]] = field(default=None, metadata={
        "help": "Probe only the tags of these families: the part before `--` of a tag such as `instrument--Ney`; "
                "tags without a prefix (MTAT, FMA, the synthetic western) are family `tag`. Default: every tag."})
    layers: Optional[List[int]] = field(default=None, metadata={
        "help": "Hidden-state indices to probe one by one (default all, 0..L; 0 = embedding output)."})
    weighted_sum: bool = field(default=True, metadata={
        "help": "Also train a probe on a learnable softmax-weighted sum of layers 1..L (MARBLE)."})
    learning_rates: List[float] = field(default_factory=lambda: list(MARBLE_LEARNING_RATES), metadata={
        "help": "Learning-rate grid; the best by mean validation ROC-AUC over seeds is reported."})
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2, 3, 4], metadata={
        "help": "Probe seeds; test metrics are reported as mean and std over them."})
    max_epochs: int = field(default=100, metadata={"help": "Maximum training epochs per probe."})
    early_stopping_patience: int = field(default=10, metadata={
        "help": "Stop a probe after this many epochs without a better validation ROC-AUC."})
    lr_patience: int = field(default=3, metadata={"help": "ReduceLROnPlateau patience (epochs)."})
    lr_factor: float = field(default=0.5, metadata={"help": "ReduceLROnPlateau factor."})
    batch_size: int = field(default=64, metadata={"help": "Probe mini-batch size (windows)."})
    hidden_size: int = field(default=512, metadata={"help": "Probe MLP hidden width."})
    dropout: float = field(default=0.2, metadata={"help": "Probe MLP dropout."})
    threshold: float = field(default=0.5, metadata={"help": "F1 decision threshold on sigmoid scores."})
    single_class: str = field(default="skip", metadata={
        "help": "Test tags whose references hold one class: 'skip' (left out of the ROC-AUC / mAP means) or "
                "'torchmetrics' (scored as torchmetrics and MARBLE do: ROC-AUC 0, AP 0 or 1, counted)."})
    report_layer: str = field(default="best", metadata={
        "help": "Which probe the summary reports: 'best' (highest validation ROC-AUC among all layers and the "
                "weighted sum), 'weighted', 'last', or a layer index."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self):
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise ValueError(f"`window_seconds` must be positive and finite, got {self.window_seconds}")
        for name in ("hop_seconds", "min_window_seconds"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be positive and finite, got {value}")
        if self.max_tracks is not None and self.max_tracks < 1:
            raise ValueError(f"`max_tracks` must be at least 1 (leave it out to use every track), got "
                             f"{self.max_tracks}")
        if any(seed < 0 for seed in self.seeds or []):
            raise ValueError(f"`seeds` must be non-negative integers, got {self.seeds}")
        if not self.learning_rates or any(not (math.isfinite(lr) and lr > 0) for lr in self.learning_rates):
            raise ValueError(f"`learning_rates` must be a non-empty list of positive numbers, got "
                             f"{self.learning_rates}")
        if not self.seeds:
            raise ValueError("`seeds` must name at least one seed")
        if self.max_epochs < 1 or self.batch_size < 1:
            raise ValueError("`max_epochs` and `batch_size` must be at least 1")
        if self.audio_cache_mb < 0:
            raise ValueError(f"`audio_cache_mb` must be >= 0 (0 turns the cache off), got {self.audio_cache_mb}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")
        from ..backends import BACKENDS

        if self.backend not in BACKENDS:
            raise ValueError(f"`backend` must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.single_class not in ("skip", "torchmetrics"):
            raise ValueError(f"`single_class` must be 'skip' or 'torchmetrics', got {self.single_class!r}")
        if self.report_layer not in ("best", "weighted", "last") and not str(self.report_layer).lstrip("-").isdigit():
            raise ValueError(f"`report_layer` must be 'best', 'weighted', 'last' or a layer index, got "
                             f"{self.report_layer!r}")

    def updated(self, **overrides):
        """A copy with ``overrides`` applied (unknown names raise, so typos do not pass silently)."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"Unknown probing argument(s) {unknown}; valid names: {sorted(names)}")
        return replace(self, **overrides)
