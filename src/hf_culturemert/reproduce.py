"""The whole CultureMERT study as one resumable pipeline (``culturemert reproduce``).

data -> base model -> two-stage continual pre-training on each tradition (single-culture models) -> continual
pre-training on all four together (CultureMERT) -> task-arithmetic merge of the single-culture models with a lambda
sweep (CultureMERT-TA) -> probing of every model on every tradition -> results tables (markdown + JSON), plots and
Hub-ready model folders with rendered cards.

Two presets:

* ``miniature`` (default): the synthetic corpus and the shipped pico MERT base (``resources/models/pico-base``),
  pre-trained with MERT's objective on the synthetic western part only, so that continual pre-training has
  something to adapt (``--retrain_base`` trains it again); offline, CPU, minutes.
* ``culturemert-95m``: the real study: ``m-a-p/MERT-v1-95M`` (or a converted fairseq checkpoint), the Hub datasets
  built by ``dataset_scripts/``, the ``culturemert-95m`` recipe; run it under ``accelerate launch``. ``--dry_run``
  prints the plan, data sizes and estimated GPU-hours without downloading anything.

Every stage records its completion in ``<output_dir>/stages.json``; rerunning skips finished stages (and the
pre-training stages resume from their last checkpoint), so an interrupted run continues where it stopped.
"""

import copy
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

from .constants import SAMPLING_RATE, TRADITIONS
from .pretraining.planning import DEFAULT_MFU

logger = logging.getLogger(__name__)

PRESETS = ("miniature", "culturemert-95m")
MINIATURE_TEACHERS = ("rvq", "rvq-western", "random-encodec")
# the rvq teacher's k-means pool: the base's western clips plus this many train clips of every tradition (a general
# audio codebook, as EnCodec was trained on general audio); "rvq-western" fits it on the western clips alone
TEACHER_POOL_CLIPS = 128
TEACHER_POOL_SEED_OFFSET = 1000  # the pool's tradition clips come from a corpus seed no study run evaluates on
# with 30 + 300 steps of continual pre-training, seed-0 validation (mean over the four traditions, 3 probe seeds)
# rose from 87.2 at 0.4 to 87.9 at 0.6 and 88.1 at 0.8, then fell to 87.6 at 1.0; the paper's 0.2 scored below 0.4 in
# the benchmark's seed-0 sweep. Two values: each costs about 20 s
LAMBDA_GRID = (0.4, 0.8)
# hours of audio per tradition in the paper (Lyra 50 h; makam, Hindustani, Carnatic 200 h each; 20 h Music4All)
PAPER_HOURS = {"lyra": 50, "makam": 200, "hindustani": 200, "carnatic": 200, "western": 20}
RECIPE_GPUS = 8  # culturemert-95m.yaml's per-device batch is sized for 8 GPUs
# the top of MARBLE's grid: on the validation splits of seed-0 runs, 1e-2 won 67% of the selections against 1e-3 and
# 5e-3, and 58% (101 of 173) against 5e-3 alone, where 1e-2 alone gives up 0.17 points of validation ROC-AUC on
# average (median 0); one rate halves the probes' time
MINIATURE_PROBE_LRS = [1e-2]
# one probe seed per run: the spread that matters is across full runs (benchmarks/reproduce.py, 3 seeds)
MINIATURE_PROBE_SEEDS = [0]
# miniature corpus: 8 s clips; with 256 training clips the hand-crafted upper bound reaches 85+ ROC-AUC on the
# validation split of every tradition (it does not at 64; see the README), and 48 validation/test clips keep the
# probing metrics from being noise
MINIATURE_CLIPS = {"train": 256, "validation": 48, "test": 48}
# tag families the miniature probes: those that hand-crafted CQT/pitch/onset statistics read at 85+ validation ROC-AUC
# (instruments, forms, the Lyra genres, the western tags); scales (makam--, raga--) and cycles (usul--, tala--) stay
# in the corpus but read 55-79 there, so at this size they would add noise and no signal
MINIATURE_TAG_FAMILIES = ["tag", "genres", "instrument", "form"]
# continual pre-training: 30 + 250 steps at 1e-3 (batch 8 x 2 s crops: 75 min of audio, 2.2 passes over a
# tradition's 256 train clips). On seed-0 validation (best layer, 3 probe seeds) 30 + 300 at 1e-3 gained +1.7 / +1.4
# / +2.7 on lyra / makam / carnatic over the base where 30 + 120 at 5e-4 gained +0.8 / +0.4 / +0.8; 30 + 600 at 5e-4
# did as well (+1.8 / +1.1 / +3.5) at twice the time, 30 + 150 at 2e-3 less (+0.8 / +0.1 / +2.6); 1024 fresh clips
# instead of the 256 train clips moved 30 + 600 by -0.2 to +0.6 (Hindustani gained in none of these: -0.3 to -0.9).
# 250 instead of 300 keeps a run under 10 minutes now that CultureMERT trains 4 x as long (not measured separately)
MINIATURE_CPT_STEPS = (30, 250)
MINIATURE_CPT_LEARNING_RATE = 1e-3
# the shipped pico base: MERT's objective on 512 synthetic western clips (seed 0) for PICO_BASE_STEPS steps
PICO_BASE_DIR = Path(__file__).parent / "resources" / "models" / "pico-base"
PICO_BASE_CLIPS = {"train": 512, "validation": 4, "test": 4}
PICO_BASE_STEPS = 5000
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
        "help": "Miniature with makam: continual pre-training on makam also hears real makam melodies (OTMM, "
                "resynthesised; CC BY-NC-SA 4.0), and real makam recognition (20 makams, held-out recordings) is "
                "evaluated (results-otmm/). --no_real_makam leaves both out."})
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
        from .backends import BACKENDS

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
        from .data.synthetic import tradition_vocabulary
        from .probing.pipeline import tag_family

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
    from .hub_access import describe_load_error

    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(Path(folder) / "model.safetensors"), framework="np") as handle:
            handle.keys()
        json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, SafetensorError) as error:
        raise describe_load_error(folder, error, argument="--base_model") from error


# ------------------------------------------------------------------------------------------------- recipes


def _miniature_training(args, data_root, teacher):
    """Settings shared by the miniature's western base run and its continual pre-training runs: 2 s crops, and the
    multirate CQT (the shipped base was trained with the trimmed one; they differ by ~1e-4)."""
    return dict(data_root=str(data_root), crop_seconds=2.0, min_crop_seconds=1.0, mixup_min_seconds=0.2,
                mixup_max_seconds=0.4, per_device_train_batch_size=8, seed=args.seed, disable_tqdm=False,
                encodec_model=teacher, cqt_implementation="multirate")


def fit_rvq_teacher(dataset_folders, output_file, num_codebooks, codebook_size, seed=0):
    """Fit the miniature's acoustic teacher on the train splits of ``dataset_folders`` (one folder or several)."""
    from datasets import Audio

    from .audio import load_audio
    from .probing.features import load_split
    from .teachers import RVQTeacher

    folders = [dataset_folders] if isinstance(dataset_folders, (str, Path)) else list(dataset_folders)
    rows = (row for folder in folders
            for row in load_split(str(folder), "train")[0].cast_column("audio", Audio(decode=False)))
    waves = (load_audio(row["audio"], sampling_rate=SAMPLING_RATE, allow_silent=True) for row in rows)
    teacher = RVQTeacher.fit(waves, num_codebooks=num_codebooks, codebook_size=codebook_size, seed=seed)
    Path(output_file).parent.mkdir(parents=True, exist_ok=True)
    return str(teacher.save(output_file))


def miniature_recipe(args, model_path, train_datasets, data_root, output_dir, teacher="random-tiny"):
    """The CultureMERT two-stage recipe at miniature scale (same structure as ``recipes/culturemert-95m.yaml``).

    Stage 2 runs ``args.stage2_steps`` per tradition in ``train_datasets``: the multi-culture model (CultureMERT)
    sees each tradition as often as its single-culture model does, as the paper's trains on the union of the four
    corpora."""
    from .pretraining.recipes import load_recipe

    recipe = copy.deepcopy(load_recipe("tiny"))
    recipe["name"] = "reproduce-miniature"
    recipe["output_dir"] = str(output_dir)
    defaults = recipe["defaults"]
    defaults.update(_miniature_training(args, data_root, teacher), model_name_or_path=str(model_path), config_name=None,
                    train_datasets=list(train_datasets), save_steps=40, logging_steps=20)
    stage1, stage2 = recipe["stages"]
    stage1.update(replay_datasets=["western"], replay_probability=0.2, max_steps=args.stage1_steps,
                  warmup_steps=max(1, args.stage1_steps // 5), learning_rate=args.cpt_learning_rate)
    steps = args.stage2_steps * len([d for d in train_datasets if d in TRADITIONS])  # OTMM joins makam's share
    stage2.update(max_steps=steps, warmup_steps=max(1, steps // 10), learning_rate=args.cpt_learning_rate)
    return recipe


def miniature_probe_dtype():
    """``bfloat16`` on a CPU with native bf16 arithmetic (Linux ``/proc/cpuinfo`` flags), else ``float32``.

    The miniature's probing features: in bfloat16 the pico model's forward pass took 4.2 instead of 7.7 ms per 4 s
    window, and the seed-0 validation ROC-AUC of the base and the single-culture models moved by -0.4 to +0.4 points
    (pooled features within 0.4% of float32's). Emulated bf16 would be slower than float32, hence the check."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


REAL_MAKAM_DATASET = "otmm"


def _uses_real_makam(args):
    """Whether the miniature adds the real makam melodies (OTMM) to makam's training data and evaluation."""
    return bool(args.preset == "miniature" and getattr(args, "real_makam", False) and "makam" in args.traditions)


def _train_datasets(args, traditions):
    """What a continual pre-training run hears: its traditions, and the real makam melodies with makam."""
    extra = [REAL_MAKAM_DATASET] if _uses_real_makam(args) and "makam" in traditions else []
    return list(traditions) + extra


def _real_makam_licence(name, args):
    """Models that heard the OTMM melodies carry their CC BY-NC-SA 4.0 terms on their cards."""
    if not _uses_real_makam(args) or name not in ("single-makam", "CultureMERT", "CultureMERT-TA"):
        return ""
    return ("Trained in part on melodies of the OTMM makam recognition dataset (MTG; CC BY-NC-SA 4.0): "
            "non-commercial use only, shared under the same licence. ")


def _full_eval_datasets(args):
    """The 95m study's evaluation datasets: the traditions plus FMA-medium and MTAT (or --extra_eval_datasets)."""
    return list(args.traditions) + (args.extra_eval_datasets or ["fma", "mtat"])


def _base_arguments(args, data_root, output_dir, teacher):
    from transformers import HfArgumentParser

    from .pretraining.arguments import PretrainingArguments

    values = dict(_miniature_training(args, data_root, teacher), output_dir=str(output_dir), model_name_or_path=None,
                  config_name="pico", train_datasets=["western"], max_steps=args.base_steps, learning_rate=1e-3,
                  lr_scheduler_type="linear", warmup_steps=max(1, args.base_steps // 20),
                  save_steps=max(1, min(500, args.base_steps // 4)),
                  logging_steps=max(1, min(100, args.base_steps // 10)),
                  report_to="none")
    (parsed,) = HfArgumentParser(PretrainingArguments).parse_dict(values)
    return parsed


def _teacher_pool_clips(args):
    return TEACHER_POOL_CLIPS if args.clips_per_split is None else args.clips_per_split


def train_pico_base(args, output_dir):
    """The miniature's pre-trained base: fit the acoustic teacher, then MERT's objective on a western corpus.

    ``output_dir``: ``data/western`` (512 train clips of seed ``args.seed``), ``teacher/`` and ``model/`` (the
    base, with its teacher copied in as ``rvq_teacher.safetensors`` and its Trainer log ``trainer_state.json``).
    Resumable: every part is skipped when complete, and pre-training resumes from its last checkpoint.
    """
    import shutil

    from .data import build_synthetic_corpus
    from .pretraining.modeling import config_from_name
    from .pretraining.run import run_pretraining

    out = Path(output_dir)
    clips = PICO_BASE_CLIPS if args.clips_per_split is None else {split: args.clips_per_split
                                                                   for split in PICO_BASE_CLIPS}
    western = build_synthetic_corpus(out / "data", seed=args.seed, clips_per_split=clips,
                                     traditions=["western"])["western"]
    teacher = "random-tiny"
    if args.teacher.startswith("rvq"):
        pico = config_from_name("pico")
        teacher_file = out / "teacher" / TEACHER_FILE
        if not teacher_file.is_file():
            pool = [western]
            if args.teacher == "rvq":  # general audio: every tradition's sound has codes of its own
                pool += build_synthetic_corpus(out / "teacher" / "data", seed=TEACHER_POOL_SEED_OFFSET + args.seed,
                                               clips_per_split={"train": _teacher_pool_clips(args), "validation": 4,
                                                                "test": 4}, traditions=TRADITIONS).values()
            fit_rvq_teacher(pool, teacher_file, pico.num_codebooks, pico.codebook_size, seed=args.seed)
        teacher = f"rvq:{teacher_file}"
    model = Path(run_pretraining(_base_arguments(args, out / "data", out / "model", teacher)))
    if args.teacher.startswith("rvq") and not (model / TEACHER_FILE).is_file():
        shutil.copy2(teacher_file, model / TEACHER_FILE)
    write_pico_base_card(model, args, clips)
    return str(model)


def write_pico_base_card(model_dir, args, clips):
    """The pico base's README.md: what it is, how it was trained (from its own Trainer log), how to use it."""
    from huggingface_hub import ModelCard, ModelCardData

    from .cards import render_card

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    state = json.loads((model_dir / "trainer_state.json").read_text()) if (model_dir / "trainer_state.json").is_file() \
        else {"log_history": []}
    losses = [(e["step"], e["loss"]) for e in state["log_history"] if "loss" in e]
    runtime = next((e["train_runtime"] for e in state["log_history"] if "train_runtime" in e), None)
    codebooks = (f"residual k-means codebooks (`rvq_teacher.safetensors`: {config['num_codebooks']} x "
                 f"{config['codebook_size']} over log-mel frames)")
    teacher = {
        "rvq": f"{codebooks}, fitted on general audio: these western clips plus {_teacher_pool_clips(args)} train "
               f"clips of each tradition (corpus seed {TEACHER_POOL_SEED_OFFSET + args.seed}, which no study run "
               "evaluates on), as EnCodec was trained on general audio; the miniature's stand-in for EnCodec. The base "
               "itself hears only western music",
        "rvq-western": f"{codebooks}, fitted on the same western clips",
    }.get(args.teacher, "a randomly initialised tiny EnCodec (its codes carry no meaning)")
    data = ModelCardData(license="cc-by-nc-4.0", library_name="transformers", pipeline_tag="feature-extraction",
                         tags=["music", "audio", "mert", "culturemert", "miniature"], model_name="pico-base")
    text = render_card("pico_base.md", data, num_layers=config["num_hidden_layers"], hidden_size=config["hidden_size"],
                       conv_channels=config["conv_dim"][0], train_clips=clips["train"], seed=args.seed,
                       teacher=teacher, steps=args.base_steps,
                       runtime=f"{runtime / 60:.0f} min" if runtime else "wall time not logged",
                       losses=losses[:: max(1, len(losses) // 10)])
    ModelCard(text).save(str(model_dir / "README.md"))


def base_teacher(base):
    """The teacher a base was pre-trained with (its ``rvq_teacher.safetensors``; else a random tiny EnCodec)."""
    file = Path(base) / TEACHER_FILE
    return f"rvq:{file}" if file.is_file() else "random-tiny"


# ------------------------------------------------------------------------------------------------- pipeline


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
    from .outputs import OutputManifest
    from .runstate import RunFolder

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
    miniature_stages = (7 if args.retrain_base else 6) + _uses_real_makam(args)
    total = 1 if args.base_only else len(args.traditions) + (miniature_stages if args.preset == "miniature" else 4)
    log = folder.start(total=total)
    models_dir = out / "models"

    if args.preset == "miniature":
        from .data import build_synthetic_corpus

        def build_data():
            folders = build_synthetic_corpus(out / "data", seed=args.seed,
                                             clips_per_split=args.clips_per_split or MINIATURE_CLIPS,
                                             traditions=["western"] + list(args.traditions), overwrite=args.overwrite)
            if _uses_real_makam(args):
                from .data.builders.otmm import build_otmm_clips

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

            from .export import load_model, save_model_folder
            from .models.mert.modeling_mert import MERTModel

            torch.manual_seed(args.seed)
            folder = models_dir / "random-init"
            save_model_folder(MERTModel(load_model(base).config), folder)
            return str(folder)

        floor = log.run("random-init floor (the base's architecture, untrained)", save_random_init, lambda r: [r])
        eval_datasets = [data[t] for t in args.traditions]
        window = args.window_seconds or 4.0

        def adapt(name, train_datasets):
            from .pretraining.recipes import run_recipe

            recipe = miniature_recipe(args, base, train_datasets, data_root, models_dir / name, teacher)
            return str(run_recipe(recipe))
    else:
        data_root = args.data_root
        base = args.base_model or "m-a-p/MERT-v1-95M"
        eval_datasets = _full_eval_datasets(args)
        window = args.window_seconds or 30.0

        def adapt(name, train_datasets):
            from .pretraining.recipes import run_recipe

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
                                     lambda t=tradition: adapt(f"single-{t}", _train_datasets(args, [t])),
                                     lambda r: [r])
    culturemert = log.run("continual pre-training: all (CultureMERT)",
                          lambda: adapt("culturemert", _train_datasets(args, args.traditions)), lambda r: [r])

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
        from .merging import probing_score_fn, sweep_lambda
        from .merging.recipe import MergeRecipe

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
        from .probing import evaluate_models

        probed, datasets, own = dict(models), list(eval_datasets), {}
        if args.preset == "miniature":
            from .probing.handcrafted import HandcraftedFeatures

            # references: the floor (untrained), the ceiling (hand-crafted statistics), and western (forgetting)
            probed.update({"random-init": floor, "upper-bound": HandcraftedFeatures()})
            datasets = [data["western"]] + datasets
            # a single-culture model answers one question, its gain on its own tradition; forgetting (western) is
            # measured on the models the study ships (CultureMERT, CultureMERT-TA): 24 probings instead of 40
            own = {f"single-{t}": [data[t]] for t in args.traditions}
        return evaluate_models(probed, datasets, out / "results", datasets_per_model=own, overwrite=args.overwrite,
                               **probe_settings)["files"]

    results_files = log.run("evaluate: probing", evaluate, lambda r: list(r.values()))
    if _uses_real_makam(args):
        def evaluate_real_makam():
            from .probing import evaluate_models
            from .probing.handcrafted import HandcraftedFeatures

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
    from .cards import render_model_card
    from .data.registry import hub_org

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
            if _real_makam_licence(name, args):
                info["license"] = "cc-by-nc-sa-4.0"
                info["results_note"] = _real_makam_licence(name, args) + info["results_note"]
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


# ------------------------------------------------------------------------------------------------- dry run


def plan(args: ReproduceArguments):
    """The 95m study's plan: stages, data sizes and GPU-hours from FLOPs per audio-second (nothing downloaded)."""
    from .export import reference_config
    from .pretraining.flops import training_flops_per_second
    from .pretraining.planning import DEFAULT_GPU, gpu_hours, measured_cost_lines, peak_tflops
    from .pretraining.recipes import load_recipe

    recipe = load_recipe("culturemert-95m")
    config = reference_config("95M")
    flops_per_audio_second = training_flops_per_second(config, clip_seconds=5.0)
    # the recipe's global batch (per-device batch x 8 GPUs) is kept on any number of GPUs (gradient accumulation)
    batch = recipe["defaults"].get("per_device_train_batch_size", 32) * RECIPE_GPUS
    crop = recipe["defaults"].get("crop_seconds", 5.0)
    steps = sum(stage.get("max_steps", 0) for stage in recipe["stages"])
    audio_seconds_per_run = steps * batch * crop
    runs = len(args.traditions) + 1
    hours = gpu_hours(runs * audio_seconds_per_run * flops_per_audio_second, peak_tflops(DEFAULT_GPU), args.mfu)
    wall_hours = hours / args.gpus
    lines = ["CultureMERT-95M study plan (dry run; nothing downloaded)", ""]
    lines.append(f"base model: {args.base_model or 'm-a-p/MERT-v1-95M'}"
                 + (f" (+ fairseq heads from {args.fairseq_checkpoint})" if args.fairseq_checkpoint else ""))
    lines.append(f"recipe: culturemert-95m, {len(recipe['stages'])} stages, {steps} steps, "
                 f"{batch} clips x {crop:.0f} s per step ({batch / args.gpus:g} per GPU on {args.gpus} GPUs)")
    lines.append("data (paper hours): " + ", ".join(f"{t} {PAPER_HOURS[t]} h" for t in args.traditions)
                 + f", western replay {PAPER_HOURS['western']} h")
    from .data import get_dataset_info

    lines.append("datasets (Hub id: recordings per split, tags):")
    datasets = _full_eval_datasets(args)
    for name in datasets:
        info = get_dataset_info(name)
        sizes = ", ".join(f"{split} {count if count is not None else 'official'}"
                          for split, count in info.splits.items())
        lines.append(f"  {name:<11} {info.repo_id}: {sizes}; {info.num_tags} tags")
    lines.append("stages:")
    for tradition in args.traditions:
        lines.append(f"  stage: continual pre-training on {tradition} -> models/single-{tradition}")
    lines.append("  stage: continual pre-training on all -> models/culturemert")
    lines.append(f"  stage: task arithmetic merge, lambda grid {args.lambda_grid} -> models/culturemert-ta")
    lines.append(f"  stage: probing of {runs + 2} models on {datasets}, seeds {args.probe_seeds or [0, 1, 2]}")
    lines.append(f"training FLOPs per audio-second (95M, fwd+bwd): {flops_per_audio_second / 1e9:.1f} GFLOP")
    lines.append(f"pre-training audio per run: {audio_seconds_per_run / 3600:.0f} h of audio")
    lines.append(f"estimated pre-training cost: {hours:.1f} {DEFAULT_GPU} GPU-hours at {args.mfu:.0%} MFU "
                 f"({runs} runs), {wall_hours:.2f} h wall on {args.gpus} GPUs")
    if args.step_costs:
        lines += measured_cost_lines(args.step_costs, audio_seconds_per_run, runs)
    text = "\n".join(lines)
    return {"plan": text, "gpu_hours": hours, "wall_hours": wall_hours, "steps": steps, "runs": runs}
