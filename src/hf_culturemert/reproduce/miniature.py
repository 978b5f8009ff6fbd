"""The miniature study's pieces: its continual pre-training recipe, the RVQ teacher fit, the pico base and its card."""

import copy
import json
from pathlib import Path

from ..constants import SAMPLING_RATE, TRADITIONS
from .arguments import (PICO_BASE_CLIPS, REAL_MAKAM_TRAINING, TEACHER_FILE, TEACHER_POOL_CLIPS,
                        TEACHER_POOL_SEED_OFFSET)

def _miniature_training(args, data_root, teacher):
    """Settings shared by the miniature's western base run and its continual pre-training runs: 2 s crops, and the
    multirate CQT (the shipped base was trained with the trimmed one; they differ by ~1e-4)."""
    return dict(data_root=str(data_root), crop_seconds=2.0, min_crop_seconds=1.0, mixup_min_seconds=0.2,
                mixup_max_seconds=0.4, per_device_train_batch_size=8, seed=args.seed, disable_tqdm=False,
                encodec_model=teacher, cqt_implementation="multirate")


def fit_rvq_teacher(dataset_folders, output_file, num_codebooks, codebook_size, seed=0):
    """Fit the miniature's acoustic teacher on the train splits of ``dataset_folders`` (one folder or several)."""
    from datasets import Audio

    from ..audio import load_audio
    from ..probing.features import load_split
    from ..teachers import RVQTeacher

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
    from ..pretraining.recipes import load_recipe

    recipe = copy.deepcopy(load_recipe("tiny"))
    recipe["name"] = "reproduce-miniature"
    recipe["output_dir"] = str(output_dir)
    defaults = recipe["defaults"]
    defaults.update(_miniature_training(args, data_root, teacher), model_name_or_path=str(model_path), config_name=None,
                    train_datasets=list(train_datasets), save_steps=40, logging_steps=20)
    stage1, stage2 = recipe["stages"]
    stage1.update(replay_datasets=["western"], replay_probability=0.2, max_steps=args.stage1_steps,
                  warmup_steps=max(1, args.stage1_steps // 5), learning_rate=args.cpt_learning_rate)
    # each tradition gets stage2_steps, the real makam melodies (OTMM) as makam; a run on other data counts datasets
    traditions = {"makam" if d == REAL_MAKAM_DATASET else d for d in train_datasets} & set(TRADITIONS)
    steps = args.stage2_steps * (len(traditions) or len(train_datasets))
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


def uses_real_makam(args):
    """Whether the miniature trains makam on the real makam melodies (OTMM) and evaluates real makam recognition."""
    return bool(args.preset == "miniature" and getattr(args, "real_makam", False) and "makam" in args.traditions)


def training_datasets(args, traditions):
    """What a continual pre-training run hears: its traditions, makam as ``real_makam_training`` of the recipe file
    (the OTMM excerpts alone, chosen on OTMM validation) when the real makam melodies are on."""
    if not uses_real_makam(args):
        return list(traditions)
    return [name for t in traditions for name in (REAL_MAKAM_TRAINING if t == "makam" else [t])]


def real_makam_licence(name, args):
    """Models that heard the OTMM melodies carry their CC BY-NC-SA 4.0 terms on their cards."""
    if not uses_real_makam(args) or name not in ("single-makam", "CultureMERT", "CultureMERT-TA"):
        return ""
    return ("Trained in part on melodies of the OTMM makam recognition dataset (MTG; CC BY-NC-SA 4.0): "
            "non-commercial use only, shared under the same licence. ")


def full_eval_datasets(args):
    """The 95m study's evaluation datasets: the traditions plus FMA-medium and MTAT (or --extra_eval_datasets)."""
    return list(args.traditions) + (args.extra_eval_datasets or ["fma", "mtat"])


def _base_arguments(args, data_root, output_dir, teacher):
    from transformers import HfArgumentParser

    from ..pretraining.arguments import PretrainingArguments

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

    from ..data import build_synthetic_corpus
    from ..pretraining.modeling import config_from_name
    from ..pretraining.run import run_pretraining

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

    from ..cards import render_card

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
