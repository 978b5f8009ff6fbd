"""``culturemert reproduce``'s arguments, and the miniature's settings from ``recipes/reproduce-miniature.yaml``."""

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ..constants import TRADITIONS
from ..pretraining.planning import DEFAULT_MFU

logger = logging.getLogger(__name__)


def load_miniature_recipe():
    """``recipes/reproduce-miniature.yaml``: the miniature study's settings, as a dict."""
    import yaml

    path = Path(__file__).resolve().parents[1] / "recipes" / "reproduce-miniature.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


PRESETS = ("miniature", "culturemert-95m")
MINIATURE_TEACHERS = ("rvq", "rvq-western", "random-encodec")
# the miniature's settings, with the measurements that chose them: recipes/reproduce-miniature.yaml
MINIATURE_RECIPE = load_miniature_recipe()
TEACHER_POOL_CLIPS = MINIATURE_RECIPE["teacher_pool_clips"]
TEACHER_POOL_SEED_OFFSET = MINIATURE_RECIPE["teacher_pool_seed_offset"]
LAMBDA_GRID = tuple(MINIATURE_RECIPE["lambda_grid"])
# hours of audio per tradition in the paper (Lyra 50 h; makam, Hindustani, Carnatic 200 h each; 20 h Music4All)
PAPER_HOURS = {"lyra": 50, "makam": 200, "hindustani": 200, "carnatic": 200, "western": 20}
RECIPE_GPUS = 8  # culturemert-95m.yaml's per-device batch is sized for 8 GPUs
MINIATURE_PROBE_LRS = list(MINIATURE_RECIPE["probe_learning_rates"])
MINIATURE_PROBE_SEEDS = list(MINIATURE_RECIPE["probe_seeds"])
MINIATURE_CLIPS = dict(MINIATURE_RECIPE["clips_per_split"])
MINIATURE_TAG_FAMILIES = list(MINIATURE_RECIPE["tag_families"])
MINIATURE_CPT_STEPS = tuple(MINIATURE_RECIPE["cpt_steps"])
MINIATURE_CPT_LEARNING_RATE = float(MINIATURE_RECIPE["cpt_learning_rate"])
REAL_MAKAM_TRAINING = list(MINIATURE_RECIPE["real_makam_training"])  # makam's CPT data with --real_makam
PICO_BASE_DIR = Path(__file__).resolve().parents[1] / "resources" / "models" / "pico-base"
PICO_BASE_CLIPS = dict(MINIATURE_RECIPE["base_clips"])
PICO_BASE_STEPS = int(MINIATURE_RECIPE["base_steps"])
TEACHER_FILE = "rvq_teacher.safetensors"  # the base's acoustic teacher, kept beside its weights


@dataclass
class ReproduceArguments:
    preset: str = field(default="miniature", metadata={"help": f"One of {PRESETS}."})
    output_dir: str = field(default="outputs/reproduce", metadata={"help": "Where everything is written."})
    seed: int = field(default=0, metadata={"help": "Seed of the corpus, the pre-training runs and the merges."})
    probe_seeds: Optional[List[int]] = field(default=None, metadata={
        "help": "Probe seeds (results are mean and std over them; default 0 for the miniature, 0 1 2 for 95m)."})
    lambda_grid: List[float] = field(default_factory=lambda: list(LAMBDA_GRID), metadata={
        "help": "Task-arithmetic lambdas swept on the validation splits (the paper's CultureMERT-TA uses 0.2)."})
    traditions: List[str] = field(default_factory=lambda: list(TRADITIONS),
                                  metadata={"help": "Traditions to adapt to and evaluate on."})
    extra_eval_datasets: List[str] = field(
        default_factory=list, metadata={"help": "More evaluation datasets (the 95m preset adds fma and mtat)."})
    base_model: Optional[str] = field(default=None, metadata={
        "help": "Base checkpoint: for the culturemert-95m preset a Hub id or folder (default m-a-p/MERT-v1-95M); for "
                "the miniature a pico base folder with its rvq_teacher.safetensors (default: the shipped one)."})
    fairseq_checkpoint: Optional[str] = field(
        default=None, metadata={"help": "MERT-v1-95M_fairseq.pt to start from its trained heads (95m preset)."})
    data_root: Optional[str] = field(
        default=None, metadata={"help": "Folder of dataset folders (default: the Hub datasets / synthetic corpus)."})
    retrain_base: bool = field(default=False, metadata={
        "help": "Miniature: pre-train the pico base (and fit its teacher) in this run instead of using the shipped "
                "one (models/pico-base in the package); about an hour on 2 CPU cores."})
    base_only: bool = field(default=False, metadata={
        "help": "With --retrain_base: stop once the base is trained (how the shipped base was made)."})
    base_steps: int = field(default=PICO_BASE_STEPS, metadata={
        "help": "Miniature, with --retrain_base: steps of the western pre-training."})
    stage1_steps: int = field(default=MINIATURE_CPT_STEPS[0],
                              metadata={"help": "Miniature: continual pre-training stage 1 steps."})
    stage2_steps: int = field(default=MINIATURE_CPT_STEPS[1],
                              metadata={"help": "Miniature: continual pre-training stage 2 steps."})
    cpt_learning_rate: float = field(default=MINIATURE_CPT_LEARNING_RATE, metadata={
        "help": "Miniature: peak learning rate of both continual pre-training stages (re-warmed, then decayed)."})
    clips_per_split: Optional[int] = field(
        default=None,
        metadata={"help": "Miniature corpus: clips per split (default 256 train, 48 validation, 48 test)."})
    probe_learning_rates: Optional[List[float]] = field(
        default=None,
        metadata={"help": "Probe learning-rate grid (default: MARBLE's six rates; miniature: 1e-2)."})
    probe_max_epochs: Optional[int] = field(default=None, metadata={"help": "Probe epochs cap (default 100)."})
    window_seconds: Optional[float] = field(
        default=None, metadata={"help": "Probing window (miniature 4 s; 95m preset 30 s as MARBLE)."})
    tag_families: Optional[List[str]] = field(default=None, metadata={
        "help": f"Tag families probed (miniature default {' '.join(MINIATURE_TAG_FAMILIES)}; 95m preset: all)."})
    real_makam: bool = field(default=True, metadata={
        "help": "Miniature with makam: continual pre-training on makam hears real makam melodies (OTMM, "
                "resynthesised; CC BY-NC-SA 4.0) instead of the synthetic makam clips, and real makam recognition "
                "(20 makams, held-out recordings) is evaluated (results-otmm/). --no_real_makam leaves both out."})
    teacher: str = field(default="rvq", metadata={
        "help": "Miniature acoustic teacher: 'rvq' (residual k-means codebooks fitted on the log-mel frames of "
                "general audio: the base's western clips plus train clips of every tradition, as EnCodec was "
                "trained on general audio; the miniature's stand-in for EnCodec), 'rvq-western' (the same, fitted "
                "on the western clips only) or 'random-encodec' (a randomly initialised tiny EnCodec, whose codes "
                "carry no meaning). The culturemert-95m preset always uses EnCodec."})
    overwrite: bool = field(default=False, metadata={
        "help": "Allow an --output_dir this command did not create, and restart a previous study there from scratch: "
                "the files earlier reproduce runs wrote there are deleted first (their manifest lists them); files "
                "that are not the run's are never touched."})
    dry_run: bool = field(default=False, metadata={"help": "Print the plan, data sizes and GPU-hours; run nothing."})
    gpus: int = field(default=8, metadata={"help": "GPUs assumed by the dry-run estimate."})
    mfu: float = field(default=DEFAULT_MFU, metadata={
        "help": "Model FLOP utilisation assumed by the dry-run estimate."})
    probe_backend: str = field(default="auto", metadata={
        "help": "Engine of the probing feature extraction (hf_culturemert.backends: auto, torch, fused, onnxruntime, "
                "openvino); the features agree to 1e-5, so the feature cache is shared and a rerun may change it."})
    step_costs: Optional[str] = field(default=None, metadata={
        "help": "Dry run: a rehearsal's step_costs.json (measured seconds per pre-training step) for a second "
                "estimate from measured step costs on that rehearsal's device."})
    recipe_overrides: List[str] = field(default_factory=list, metadata={
        "help": "culturemert-95m preset: KEY=VALUE settings of the recipe (YAML values; stageN.KEY for one stage), "
                "e.g. stage2.max_steps=20000 per_device_train_batch_size=16."})
    rehearsal: bool = field(default=False, metadata={
        "help": "With --preset culturemert-95m: rehearse the study end to end at a toy budget (real builders on "
                "real-format data around Debian's game music, MERT-v1-95M's and EnCodec's architectures with random "
                "weights, 1 step per stage) and print each stage's wall time; see hf_culturemert.rehearsal.study."})
    rehearsal_audio: Optional[str] = field(default=None, metadata={
        "help": "With --rehearsal: a folder of audio files to cut tracks from (default: Debian's asc-music and "
                "wesnoth-1.16-music, fetched once with apt-get into ~/.cache/hf-culturemert-rehearsal)."})

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"--preset must be one of {PRESETS}, got {self.preset!r}")
        unknown = [t for t in self.traditions if t not in TRADITIONS]
        if unknown or not self.traditions:
            raise ValueError(f"--traditions must be a non-empty subset of {TRADITIONS}, got {self.traditions}")
        twice = sorted({t for t in self.traditions if self.traditions.count(t) > 1})
        if twice:
            raise ValueError(f"--traditions lists {', '.join(twice)} twice; name each tradition once")
        if self.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer, got {self.seed}")
        if self.probe_seeds and any(s < 0 for s in self.probe_seeds):
            raise ValueError(f"--probe_seeds must be non-negative integers, got {self.probe_seeds}")
        if self.probe_learning_rates is not None and (not self.probe_learning_rates or any(
                not (math.isfinite(v) and v > 0) for v in self.probe_learning_rates)):
            raise ValueError(f"--probe_learning_rates must be positive, finite numbers, got "
                             f"{self.probe_learning_rates}")
        if not self.lambda_grid or any(not 0 < float(v) <= 1.5 for v in self.lambda_grid):
            raise ValueError(f"--lambda_grid values must be in (0, 1.5], got {self.lambda_grid}")
        if self.probe_seeds is not None and not self.probe_seeds:
            raise ValueError("--probe_seeds needs at least one seed")
        for name in ("base_steps", "stage1_steps", "stage2_steps", "probe_max_epochs", "gpus"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be at least 1, got {value}")
        if self.clips_per_split is not None and self.clips_per_split < 4:
            raise ValueError(f"--clips_per_split must be at least 4 (each split needs clips with and without every "
                             f"tag), got {self.clips_per_split}")
        if not 0 < self.cpt_learning_rate < 1:
            raise ValueError(f"--cpt_learning_rate must be in (0, 1), got {self.cpt_learning_rate}")
        if not 0 < self.mfu <= 1:
            raise ValueError(f"--mfu is a fraction in (0, 1], got {self.mfu}")
        from ..backends import BACKENDS

        if self.probe_backend not in BACKENDS:
            raise ValueError(f"--probe_backend must be one of {', '.join(BACKENDS)}, got {self.probe_backend!r}")
        if self.teacher not in MINIATURE_TEACHERS:
            raise ValueError(f"--teacher must be one of {MINIATURE_TEACHERS}, got {self.teacher!r}")
        if self.window_seconds is not None and not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise ValueError(f"--window_seconds must be a positive, finite number of seconds, got "
                             f"{self.window_seconds}")
        if self.teacher != "rvq" and not self.retrain_base:
            raise ValueError(f"--teacher {self.teacher} needs --retrain_base: the shipped pico base was pre-trained "
                             "with the rvq teacher, and continual pre-training keeps its base's teacher")
        if self.base_model and self.retrain_base:
            raise ValueError("--base_model and --retrain_base exclude each other: the first starts from a trained "
                             "base, the second trains one")
        pico_base_missing = not (Path(self.base_model or ".") / "model.safetensors").is_file()
        if self.preset == "miniature" and self.base_model and pico_base_missing:
            raise FileNotFoundError(f"--base_model {self.base_model}: no model.safetensors there; pass a pico base "
                                    "folder (such as DIR/models/base/model of `--retrain_base --base_only`)")
        if self.preset == "miniature" and self.base_model and not (Path(self.base_model) / TEACHER_FILE).is_file():
            raise FileNotFoundError(f"--base_model {self.base_model}: no {TEACHER_FILE} there (the acoustic teacher "
                                    "the base was pre-trained with; continual pre-training keeps it); pass a pico "
                                    "base folder written by `--retrain_base --base_only`, which saves it beside the "
                                    "weights")
        if self.preset == "miniature" and self.base_model:
            _check_base_model(self.base_model)
        if self.base_only and not self.retrain_base:
            raise ValueError("--base_only needs --retrain_base (the shipped base is already trained)")
        if self.tag_families and self.preset == "miniature":
            self._check_tag_families()

    def _check_tag_families(self):
        """Here, not after minutes of pre-training: every family exists, and every probed dataset keeps a tag."""
        from ..data.synthetic import tradition_vocabulary
        from ..probing.pipeline import tag_family

        present = {t: {tag_family(tag) for tag in tradition_vocabulary(t)} for t in ["western", *self.traditions]}
        known = sorted(set().union(*present.values()))
        unknown = [f for f in self.tag_families if f not in known]
        if unknown:
            raise ValueError(f"--tag_families {' '.join(unknown)}: no such family in the miniature corpus; choose "
                             f"from {' '.join(known)}")
        empty = [t for t, families in present.items() if not families & set(self.tag_families)]
        if empty:
            raise ValueError(f"--tag_families {' '.join(self.tag_families)} keeps no tag of {', '.join(empty)}; "
                             f"add one of {empty[0]}'s families ({', '.join(sorted(present[empty[0]]))})")


def _check_base_model(folder):
    """A miniature --base_model must load (config and weights) before anything runs; named as --base_model."""
    from ..hub_access import describe_load_error

    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(Path(folder) / "model.safetensors"), framework="np") as handle:
            handle.keys()
        json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, SafetensorError) as error:
        raise describe_load_error(folder, error, argument="--base_model") from error
