"""``culturemert reproduce --preset culturemert-95m --rehearsal``: the real study's stages at a toy budget.

What is real: the preset's code path and stages (``run_reproduce`` with ``--preset culturemert-95m``), the datasets
(built by ``dataset_scripts``' builders from real-format sources around real recordings, see :mod:`.sources`), the
architectures (MERT-v1-95M's config; EnCodec 24 kHz from its config), the recipe (``culturemert-95m.yaml``, its two
stages, replay, freezing, bf16), the probing protocol (30 s windows, every layer, six datasets) and the outputs
(merged model, model-card tables, plots, Hub-ready folders with cards). What is shrunk: steps (1 per stage), batch
(2 clips), crops, tracks (2 s, 2 per split), probe seeds, learning rates and epochs. What cannot be shown:
the weights are random (MERT-v1-95M and EnCodec cannot be downloaded here), so EnCodec's codes carry no meaning and
no number in the tables says anything about CultureMERT.

Layout of ``--output_dir``: ``inputs/`` (recordings cut into tracks, real-format sources, built datasets, the random
95M base), ``study/`` (the real preset's output folder), ``rehearsal.json`` (what ran, with the wall time of every
stage) and ``step_costs.json`` (measured pre-training step costs, for ``--dry_run --step_costs``).
"""

import dataclasses
import json
import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)

MARKER = "rehearsal.json"
STEP_COSTS = "step_costs.json"
TRACK_SECONDS = 2.0
PER_SPLIT = {"train": 2, "validation": 2, "test": 2}  # probes select on validation: its tags must vary
DATASETS = ("lyra", "makam", "hindustani", "carnatic", "fma", "mtat", "western")
# the culturemert-95m recipe with its budgets shrunk: everything else (stages, replay, freezing, bf16, the EnCodec
# 24 kHz architecture, masking, mixup, losses) is the recipe's own
RECIPE_BUDGET = {"stage1.max_steps": 1, "stage2.max_steps": 1, "stage1.warmup_steps": 0, "stage2.warmup_steps": 0,
                 "per_device_train_batch_size": 2, "crop_seconds": 1.5, "min_crop_seconds": 1.0,
                 "dataloader_num_workers": 0, "logging_steps": 1}
RANDOM_WEIGHTS_NOTE = ("REHEARSAL: random weights. MERT-v1-95M's architecture (its config) and EnCodec 24 kHz built "
                       "from its config with random weights, since no weights can be downloaded here: the EnCodec "
                       "codes are random targets, and no number of this run says anything about CultureMERT.")


class Timer:
    """Wall time of each rehearsal stage, printed as it ends."""

    def __init__(self):
        self.seconds = {}

    def run(self, name, function):
        start = time.perf_counter()
        result = function()
        self.seconds[name] = round(time.perf_counter() - start, 1)
        logger.info("rehearsal stage %s: %.1f s", name, self.seconds[name])
        return result


def start(out: Path, command: str) -> Path:
    """The rehearsal's marker (``rehearsal.json``); it writes only into a new folder or one of its own."""
    marker = out / MARKER
    if out.exists() and any(out.iterdir()) and not marker.is_file():
        raise ValueError(f"{out} is not empty and holds no {MARKER}: the {command} rehearsal writes into a new "
                         "folder or one of its own rehearsals; pass another --output_dir")
    out.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        marker.write_text(json.dumps({"command": command, "status": "running"}))
    return marker


def recordings(audio_folder=None):
    from .sources import debian_recordings, folder_recordings

    return folder_recordings(audio_folder) if audio_folder else debian_recordings()


def prepare_inputs(out: Path, timer: Timer, audio_folder=None, names=DATASETS, progress=False):
    """Cut tracks from real recordings and build every dataset with its real builder (skipped when done)."""
    from .sources import TrackCutter, build_datasets

    built = out / "data.json"
    if built.is_file():
        return json.loads(built.read_text())
    cutter = timer.run("recordings", lambda: TrackCutter(recordings(audio_folder), TRACK_SECONDS))
    summaries = timer.run("datasets: real builders on real-format sources",
                          lambda: build_datasets(out, cutter, PER_SPLIT, names, progress=progress))
    built.write_text(json.dumps(summaries, indent=2))
    return summaries


def random_mert_95m(folder: Path, seed=0) -> str:
    """MERT-v1-95M's architecture (the packaged reference config) with random weights, saved as a model folder."""
    import torch

    from ..export import reference_config, save_model_folder
    from ..models.mert.modeling_mert import MERTModel

    if (folder / "model.safetensors").is_file():
        return str(folder)
    torch.manual_seed(seed)
    save_model_folder(MERTModel(reference_config("95M")), folder, card_text=f"# MERT-v1-95M (random)\n\n"
                      f"{RANDOM_WEIGHTS_NOTE}\n")
    return str(folder)


def random_encodec_24khz(folder: Path, seed=0) -> str:
    """EnCodec 24 kHz built from its config with random weights (codebooks seeded as ``random-24khz`` seeds them),
    saved once as a model folder: the recipe loads it like the Hub's ``facebook/encodec_24khz``."""
    from ..teachers import EncodecTeacher

    if not (folder / "config.json").is_file():
        teacher = EncodecTeacher.from_config(None, seed=seed)
        teacher.model.save_pretrained(folder)
        (folder / "README.md").write_text(f"# EnCodec 24 kHz (random)\n\n{RANDOM_WEIGHTS_NOTE}\n", encoding="utf-8")
    return str(folder)


def step_costs(study: Path) -> dict:
    """Measured pre-training steps of the study: seconds per step and per clip-second, by stage."""
    import torch

    rows = []
    for complete in sorted((study / "models").glob("*/*/pretraining_complete.json")):
        summary = json.loads(complete.read_text())
        summary = summary.get("summary", summary)
        steps, runtime = summary.get("global_step"), summary.get("train_runtime_s")
        if not steps or not runtime:
            continue
        clips = summary["per_device_train_batch_size"] * summary.get("num_processes", 1)
        clip_seconds = clips * summary["crop_seconds"]
        rows.append({"run": complete.parent.parent.name, "stage": complete.parent.name, "steps": steps,
                     "seconds": runtime, "seconds_per_step": runtime / steps,
                     "clip_seconds_per_step": clip_seconds, "seconds_per_clip_second": runtime / steps / clip_seconds})
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    mean = sum(r["seconds_per_clip_second"] for r in rows) / len(rows) if rows else None
    return {"device": device, "runs": rows, "seconds_per_clip_second": mean,
            "note": "includes Trainer start-up and the first step's warm-up: an upper bound of a step's cost"}


def rehearse_reproduce(args):
    """Run the culturemert-95m preset's stages at a toy budget (see the module docstring); returns a summary."""
    import torch

    from ..reproduce import run_reproduce

    out = Path(args.output_dir)
    marker, timer = start(out, "reproduce"), Timer()
    inputs = out / "inputs"
    data = prepare_inputs(inputs, timer, args.rehearsal_audio, progress=False)
    base = timer.run("base: MERT-v1-95M config, random weights",
                     lambda: random_mert_95m(inputs / "models" / "mert-v1-95m-random", args.seed))
    encodec = timer.run("teacher: EnCodec 24 kHz config, random weights",
                        lambda: random_encodec_24khz(inputs / "models" / "encodec-24khz-random", args.seed))
    budget = dict(RECIPE_BUDGET, encodec_model=encodec)
    if not torch.cuda.is_available():  # bf16 mixed precision is the recipe's GPU setting; CPUs train in float32
        budget.update(use_cpu=True, bf16=False)
    study_args = dataclasses.replace(
        args, rehearsal=False, rehearsal_audio=None, output_dir=str(out / "study"), data_root=str(inputs / "data"),
        base_model=base, fairseq_checkpoint=None, probe_seeds=[0], probe_learning_rates=[1e-3], probe_max_epochs=2,
        lambda_grid=[0.2, 0.4], recipe_overrides=[f"{k}={v}" for k, v in budget.items()],
        # the GPU's engine (PyTorch): an OpenVINO/ONNX export per model would cost more than the toy extraction
        probe_backend="torch")
    summary = timer.run("study (the culturemert-95m preset's stages)", lambda: run_reproduce(study_args))
    stages = json.loads((out / "study" / "stages.json").read_text())
    costs = step_costs(out / "study")
    (out / STEP_COSTS).write_text(json.dumps(costs, indent=2))
    timings = {**{f"rehearsal: {k}": v for k, v in timer.seconds.items()},
               **{name: entry.get("seconds") for name, entry in stages.items()}}
    report = {"command": "reproduce", "status": "complete", "preset": "culturemert-95m", "random_weights":
              RANDOM_WEIGHTS_NOTE, "datasets": data, "recipe_budget": budget, "per_split": PER_SPLIT,
              "track_seconds": TRACK_SECONDS, "stage_seconds": timings, "step_costs": str(out / STEP_COSTS),
              "summary": summary}
    marker.write_text(json.dumps(report, indent=2, default=str))
    return report


def timing_table(report) -> str:
    """The wall time of every stage, as printed at the end of a rehearsal."""
    rows = [f"  {seconds:>8.1f} s  {name}" for name, seconds in report["stage_seconds"].items() if seconds is not None]
    return "\n".join(["Wall time per stage:"] + rows)


if __name__ == "__main__":  # prepare the inputs once where apt reaches Debian (scripts/device_checks.sh carries them)
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prepare_inputs(Path(sys.argv[1] if len(sys.argv) > 1 else ".rehearsal-inputs"), Timer())
