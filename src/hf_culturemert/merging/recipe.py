"""The merge recipe: one dataclass shared by the Python API, the ``culturemert merge`` CLI and YAML recipe files."""

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import yaml

# name -> (paper, arXiv id, uses density, uses the base model's weights in the formula, random)
METHODS = {
    "task_arithmetic": dict(
        title="Task Arithmetic", paper="Ilharco et al., Editing Models with Task Arithmetic, ICLR 2023",
        arxiv="2212.04089", density=False, random=False,
        formula="theta = theta_base + lambda * sum_i w_i * (theta_i - theta_base)"),
    "ties": dict(
        title="TIES-Merging", paper="Yadav et al., TIES-Merging: Resolving Interference When Merging Models, "
                                    "NeurIPS 2023", arxiv="2306.01708", density=True, random=False,
        formula="tau_i = top-density fraction of |theta_i - theta_base| (trim); elect the sign of sum_i w_i tau_i; "
                "theta = theta_base + lambda * disjoint mean of the w_i tau_i that agree with the elected sign"),
    "dare_linear": dict(
        title="DARE (linear)", paper="Yu et al., Language Models are Super Mario: Absorbing Abilities from "
                                     "Homologous Models as a Free Lunch, ICML 2024", arxiv="2311.03099",
        density=True, random=True,
        formula="tau_i = Bernoulli(density) mask * (theta_i - theta_base) / density (drop and rescale); "
                "theta = theta_base + lambda * sum_i w_i tau_i"),
    "dare_ties": dict(
        title="DARE + TIES", paper="Yu et al., Language Models are Super Mario: Absorbing Abilities from "
                                   "Homologous Models as a Free Lunch, ICML 2024", arxiv="2311.03099",
        density=True, random=True,
        formula="DARE drop-and-rescale of each task vector, then TIES sign election and disjoint mean"),
    "magnitude_prune": dict(
        title="Magnitude pruning", paper="Yadav et al., TIES-Merging (trim step), NeurIPS 2023",
        arxiv="2306.01708", density=True, random=False,
        formula="tau_i = top-density fraction of |theta_i - theta_base|; "
                "theta = theta_base + lambda * sum_i w_i tau_i"),
    "average": dict(
        title="Uniform average (model soup)", paper="Wortsman et al., Model soups: averaging weights of multiple "
                                                    "fine-tuned models improves accuracy, ICML 2022",
        arxiv="2203.05482", density=False, random=False,
        formula="theta = sum_i w_i theta_i / sum_i w_i (lambda is not used; the base is only the reference)"),
}

# Default density per method (fraction of each task vector kept), from the papers: TIES keeps the top 20 %
# (k = 20); DARE drops 90 % (p = 0.9) and rescales by 1 / (1 - p).
DEFAULT_DENSITY = {"ties": 0.2, "magnitude_prune": 0.2, "dare_linear": 0.1, "dare_ties": 0.1}

# ``keep_from_base`` presets: glob patterns (on backbone tensor names) whose tensors are copied from the base.
KEEP_FROM_BASE_PRESETS = {
    "cnn": ["feature_extractor.*"],
    "feature_projection": ["feature_projection.*"],
    "norms": ["*layer_norm.*"],
    "pos_conv": ["encoder.pos_conv_embed.*"],
    "mask_embedding": ["masked_spec_embed"],
}

HEAD_POLICIES = ("drop", "base", "merge")
OUTPUT_DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class MergeRecipe:
    """Everything that defines a merge; written beside the merged weights as ``merge_recipe.yaml``.

    Tensor selection: a backbone tensor is merged when its name matches one of ``include`` and none of
    ``exclude`` or of the ``keep_from_base`` presets; every other tensor is copied from the base unchanged.
    Each field's ``help`` (shown by ``culturemert merge --help``) documents it.

    Example:
        ```python
        recipe = MergeRecipe(base="m-a-p/MERT-v1-95M", models=["lyra", "makam", "hindustani", "carnatic"],
                             method="task_arithmetic", weight=0.2, output="CultureMERT-TA-95M")
        result = run_merge(recipe)             # or MergeRecipe.from_yaml("merge-culturemert-ta.yaml")
        ```
    """

    base: Optional[str] = field(default=None, metadata={
        "help": "Base checkpoint the task vectors are taken from (theta_i - theta_base): local folder, Hub id "
                "(`id@revision` pins a revision) or short name (mert-v1-95m). Optional only for method=average "
                "(then the first model is the reference)."})
    models: List[str] = field(default_factory=list, metadata={
        "help": "Checkpoints to merge: folders, Hub ids (`id@revision`) or peft LoRA adapter folders "
                "(delta = B @ A * scaling)."})
    method: str = field(default="task_arithmetic", metadata={
        "help": "Merge method: " + ", ".join(f"{k} (arXiv {v['arxiv']})" for k, v in METHODS.items()) + "."})
    weight: float = field(default=0.2, metadata={
        "aliases": ["--lambda"],
        "help": "lambda, the scale of the merged task vector (CultureMERT-TA: 0.2). Not used by `average`."})
    weights: Optional[List[float]] = field(default=None, metadata={
        "help": "Optional per-model weights w_i (one per model, default 1); task vector i is scaled by "
                "lambda * w_i (for `average`: weights of the weighted mean)."})
    density: Optional[float] = field(default=None, metadata={
        "help": "Fraction of each task vector kept by ties / magnitude_prune (default 0.2) and dare_* "
                "(default 0.1), in (0, 1]."})
    majority_sign_method: str = field(default="total", metadata={
        "help": "TIES sign election: 'total' (sign of the summed values) or 'frequency' (most frequent sign)."})
    seed: int = field(default=0, metadata={
        "help": "Seed of DARE's random drop masks (each tensor's mask is seeded from the seed and its name, so "
                "outputs are reproducible and independent of the order or selection of tensors)."})
    include: List[str] = field(default_factory=lambda: ["*"], metadata={
        "help": "Glob patterns of tensor names to merge (default: everything in the backbone)."})
    exclude: List[str] = field(default_factory=list, metadata={
        "help": "Glob patterns of tensor names to copy from the base instead of merging."})
    keep_from_base: List[str] = field(default_factory=list, metadata={
        "help": "Presets copied from the base: " + ", ".join(f"{k} ({' '.join(v)})"
                                                             for k, v in KEEP_FROM_BASE_PRESETS.items()) + "."})
    heads: str = field(default="drop", metadata={
        "help": "Pre-training heads (final_proj, label_embs_concat, encoder_cqt_model.*; `mert.`-prefixed "
                "checkpoints or pretraining_heads.safetensors): 'drop' (default: the output is the bare MERTModel "
                "backbone, like CultureMERT-TA-95M), 'base' (copy the base's heads into "
                "pretraining_heads.safetensors, to continue pre-training) or 'merge' (merge them like the backbone; "
                "every input must have them). Task heads (classifier.*, layer_weights) are never merged."})
    dtype: Optional[str] = field(default=None, metadata={
        "help": "Output dtype: float32, bfloat16 or float16 (default: the base's dtype, tensor by tensor). The "
                "arithmetic is always float32."})
    output: Optional[str] = field(default=None, metadata={"help": "Output folder (Hub-ready)."})
    overwrite: bool = field(default=False, metadata={
        "help": "Write into an existing, non-empty output folder, replacing the files a merge writes there "
                "(weights, config.json, preprocessor_config.json, README.md, merge_recipe.yaml, the remote code); "
                "other files in it stay."})
    streaming: bool = field(default=True, metadata={
        "help": "Read one tensor per input at a time and write the output tensor by tensor (peak memory ~ a few "
                "tensors). --no_streaming loads every input first (N + 1 models of memory; for comparison)."})
    model_name: Optional[str] = field(default=None, metadata={
        "help": "Title of the model card (default: the output folder name)."})
    license: str = field(default="cc-by-nc-4.0", metadata={
        "help": "License of the model card (MERT-v1 and CultureMERT: cc-by-nc-4.0)."})
    # --- lambda selection ---
    lambda_grid: Optional[List[float]] = field(default=None, metadata={
        "help": "Candidate lambdas (`0.1,0.2,0.3` or `0.1 0.2 0.3`): each is merged and scored by probing on the "
                "validation splits of --eval_datasets; the best mean validation ROC-AUC is kept."})
    eval_datasets: List[str] = field(default_factory=list, metadata={
        "help": "Datasets for the lambda sweep (registry names, folders, or names under --eval_data_root)."})
    eval_data_root: Optional[str] = field(default=None, metadata={
        "help": "Folder of Hub-layout dataset folders for the sweep (e.g. the output of `culturemert synthesize`)."})
    eval_split: str = field(default="validation", metadata={"help": "Split the sweep is scored on."})
    eval_window_seconds: Optional[float] = field(default=None, metadata={
        "help": "Probing window length for the sweep (default: the probing default, 30 s)."})
    eval_seeds: Optional[List[int]] = field(default=None, metadata={
        "help": "Probe seeds for the sweep (default: the probing default, 5 seeds)."})
    eval_max_epochs: Optional[int] = field(default=None, metadata={"help": "Probe epochs cap for the sweep."})
    eval_max_tracks: Optional[int] = field(default=None, metadata={"help": "Tracks per split cap for the sweep."})
    eval_device: Optional[str] = field(default=None, metadata={"help": "Device for the sweep's probing."})
    eval_backend: Optional[str] = field(default=None, metadata={
        "help": "CPU inference engine for the sweep's feature extraction (default auto: the fastest installed; "
                "see hf_culturemert.backends)."})
    keep_candidates: bool = field(default=False, metadata={
        "help": "Keep every candidate model of the sweep in `<output>-lambda-sweep/` (default: delete them)."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self):
        if isinstance(self.models, str):
            self.models = [self.models]
        self.models = [str(m) for m in self.models]
        if self.method not in METHODS:
            raise ValueError(f"Unknown merge method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not isinstance(self.weight, (int, float)) or not math.isfinite(self.weight):
            raise ValueError(f"`weight` (lambda) must be a finite number, got {self.weight!r}")
        if self.weights is not None:
            if any(not math.isfinite(float(w)) for w in self.weights):
                raise ValueError(f"`weights` must be finite numbers, got {self.weights}")
            if self.models and len(self.weights) != len(self.models):
                raise ValueError(f"`weights` has {len(self.weights)} values but {len(self.models)} models were "
                                 "given; pass one weight per model")
            if self.method == "average" and sum(self.weights) == 0:
                raise ValueError("`weights` of method=average sum to 0; the weighted mean is undefined")
        if self.density is not None:
            if not METHODS[self.method]["density"]:
                raise ValueError(f"`density` is not used by method={self.method}; drop it or pick one of "
                                 f"{', '.join(k for k, v in METHODS.items() if v['density'])}")
            if not 0.0 < float(self.density) <= 1.0:
                raise ValueError(f"`density` must be in (0, 1], got {self.density}")
        if self.majority_sign_method not in ("total", "frequency"):
            raise ValueError(f"`majority_sign_method` must be 'total' or 'frequency', got "
                             f"{self.majority_sign_method!r}")
        unknown = [p for p in self.keep_from_base if p not in KEEP_FROM_BASE_PRESETS]
        if unknown:
            raise ValueError(f"Unknown `keep_from_base` preset(s) {unknown}; choose from "
                             f"{', '.join(KEEP_FROM_BASE_PRESETS)}")
        if self.heads not in HEAD_POLICIES:
            raise ValueError(f"`heads` must be one of {', '.join(HEAD_POLICIES)}, got {self.heads!r}")
        if self.dtype is not None and self.dtype not in OUTPUT_DTYPES:
            raise ValueError(f"`dtype` must be one of {', '.join(OUTPUT_DTYPES)} (or unset for the base's dtype), "
                             f"got {self.dtype!r}")
        if not self.include:
            raise ValueError("`include` is empty, so nothing would be merged; use ['*'] to merge everything")
        if self.lambda_grid is not None:
            if not self.lambda_grid or any(not math.isfinite(float(v)) for v in self.lambda_grid):
                raise ValueError(f"`lambda_grid` must be a non-empty list of finite numbers, got {self.lambda_grid}")
            if self.method == "average":
                raise ValueError("`lambda_grid` makes no sense with method=average, which does not use lambda")
            if len(set(self.lambda_grid)) != len(self.lambda_grid):
                raise ValueError(f"`lambda_grid` has repeated values: {self.lambda_grid}")

    # --- derived values ---
    @property
    def effective_density(self):
        """The density actually used (the method's default when unset), or None for methods without one."""
        if not METHODS[self.method]["density"]:
            return None
        return float(self.density) if self.density is not None else DEFAULT_DENSITY[self.method]

    @property
    def exclude_patterns(self):
        """``exclude`` plus the patterns of the ``keep_from_base`` presets."""
        return list(self.exclude) + [p for name in self.keep_from_base for p in KEEP_FROM_BASE_PRESETS[name]]

    def check_complete(self):
        """Errors that only make sense once the recipe is final (not while a YAML file and CLI flags combine)."""
        if not self.models:
            raise ValueError("No models to merge: pass --models M1 M2 ... (or `models:` in the recipe)")
        if self.base is None and self.method != "average":
            raise ValueError(f"method={self.method} needs --base (task vectors are theta_i - theta_base)")
        if self.weights is not None and len(self.weights) != len(self.models):
            raise ValueError(f"`weights` has {len(self.weights)} values but {len(self.models)} models were given")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    # --- YAML ---
    def to_dict(self):
        return dataclasses.asdict(self)

    def to_yaml(self, path=None, extra=None):
        """YAML text of the recipe (plus ``extra`` top-level sections such as provenance); written to ``path``."""
        data = self.to_dict()
        for runtime_only in ("output", "overwrite", "progress", "keep_candidates"):
            data.pop(runtime_only)
        if extra:
            data.update(extra)
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def yaml_values(cls, path):
        """The recipe fields of a YAML file as a dict (``lambda`` is accepted for ``weight``; the ``provenance`` /
        ``lambda_sweep`` sections written by a previous merge are ignored)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Merge recipe {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"Merge recipe {path} is not valid YAML: {error}") from error
        if not isinstance(data, dict):
            raise ValueError(f"Merge recipe {path} must be a mapping of recipe fields, got {type(data).__name__}")
        for ignored in ("provenance", "lambda_sweep"):
            data.pop(ignored, None)
        if "lambda" in data:
            if "weight" in data:
                raise ValueError(f"Merge recipe {path} sets both `lambda` and `weight`; keep one")
            data["weight"] = data.pop("lambda")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Merge recipe {path} has unknown field(s) {unknown}; valid fields: {sorted(names)}")
        if isinstance(data.get("lambda_grid"), str):
            data["lambda_grid"] = [float(v) for v in data["lambda_grid"].replace(",", " ").split()]
        return data

    @classmethod
    def from_yaml(cls, path, **overrides):
        """Load a recipe file; keyword ``overrides`` replace its fields."""
        values = cls.yaml_values(path)
        values.update(overrides)
        return cls(**values)
