"""Rehearsals of the real presets: real-format sources through the real builders (fast), and
`culturemert reproduce --preset culturemert-95m --rehearsal` end to end from the command line (slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest_data import make_media  # noqa: F401
from hf_culturemert.data import load_tradition
from hf_culturemert.rehearsal.sources import FMA_COLUMNS, MTAT_TAG_COLUMNS, TrackCutter, build_datasets

SIX = ["lyra", "makam", "hindustani", "carnatic", "fma", "mtat"]


def test_real_format_sources_go_through_the_real_builders(tmp_path):
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    make_media(recordings / "a.mp3", 20.0, (220.0, 330.0, 440.0, 550.0))
    make_media(recordings / "b.ogg", 20.0, (660.0, 770.0))
    cutter = TrackCutter(sorted(recordings.iterdir()), 1.0)
    summaries = build_datasets(tmp_path, cutter, {"train": 1, "validation": 1, "test": 1}, SIX + ["western"])
    for name in SIX + ["western"]:
        expected = {"train": 9, "validation": 1, "test": 1} if name == "lyra" else \
            {"train": 1, "validation": 1, "test": 1}  # Lyra: ccml's 10 % validation draw needs 10 training rows
        assert summaries[name]["counts"] == expected, name
    # the sources are in the real layouts
    header = (tmp_path / "sources" / "mtat" / "annotations_final.csv").read_bytes().split(b"\r\n")[0].split(b"\t")
    assert len(header) == MTAT_TAG_COLUMNS + 2 and header[0] == b'"clip_id"' and header[-1] == b'"mp3_path"'
    assert (tmp_path / "sources" / "mtat" / "mp3" / "6").is_dir()
    tracks = (tmp_path / "sources" / "fma" / "fma_metadata" / "tracks.csv").read_text().splitlines()
    assert tracks[0].startswith(",album,album") and tracks[2].startswith("track_id,")
    assert len(tracks[1].split(",")) == len(FMA_COLUMNS) + 1
    assert sorted(p.name for p in (tmp_path / "sources" / "fma" / "fma_medium").iterdir())[0].isdigit()
    # skips the builders report: MTAT's zero-byte clip, the Dunya recording whose mp3 answers 401
    mtat_failures = (tmp_path / "data" / "mtat" / "failures.jsonl").read_text()
    assert "norine_braun-now_and_zen-08-gently-117-146.mp3" in mtat_failures
    for tradition in ("makam", "hindustani", "carnatic"):
        lines = (tmp_path / "data" / tradition / "failures.jsonl").read_text().splitlines()
        failures = [json.loads(line) for line in lines]
        assert [f["reason"].split(":")[0] for f in failures] == ["no audio access"], tradition
    row = load_tradition("makam", "train", repo_id=tmp_path / "data" / "makam")[0]
    assert row["artists"] and sum(row["labels"]) >= 3  # makam's flat performers, tags from ccml's vocabulary


def _env():
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_reproduce_rehearsal_runs_every_stage_of_the_95m_preset(tmp_path):
    out = tmp_path / "rehearsal"
    command = [sys.executable, "-m", "hf_culturemert.cli", "reproduce", "--preset", "culturemert-95m",
               "--rehearsal", "--output_dir", str(out)]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=3500, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Wall time per stage:" in done.stdout and "random weights" in done.stdout
    report = json.loads((out / "rehearsal.json").read_text())
    assert report["status"] == "complete" and "EnCodec" in report["random_weights"]
    study = out / "study"
    stages = json.loads((study / "stages.json").read_text())
    expected = [f"continual pre-training: {t}" for t in ("lyra", "makam", "hindustani", "carnatic")] + [
        "continual pre-training: all (CultureMERT)", "merge: task arithmetic (CultureMERT-TA)", "evaluate: probing",
        "cards"]
    assert list(stages) == expected
    for name in expected:
        assert stages[name]["seconds"] > 0 and f"{name}" in done.stdout
        assert all(Path(p).exists() for p in stages[name]["paths"]), name
    # the recipe's two stages ran for every model, with the 95M architecture and EnCodec 24 kHz (random)
    for model in ("single-lyra", "single-makam", "single-hindustani", "single-carnatic", "culturemert"):
        for stage in ("stage1", "stage2"):
            complete = json.loads((study / "models" / model / stage / "pretraining_complete.json").read_text())
            assert "encodec-24khz-random" in json.dumps(complete)
        config = json.loads((study / "models" / model / "stage2" / "config.json").read_text())
        assert (config["hidden_size"], config["num_hidden_layers"]) == (768, 12)
    # outputs: merged model, Hub-ready folders with cards, the model-card tables over the six datasets, plots
    merged = Path(stages["merge: task arithmetic (CultureMERT-TA)"]["result"]["folder"])
    assert (merged / "model.safetensors").is_file() and (merged / "README.md").is_file()
    for card in stages["cards"]["result"]:
        assert Path(card).read_text().startswith("---")
    markdown = (study / "results" / "results.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| Model") or line.startswith("| model"))
    assert all(name in header.lower() for name in SIX)
    results = json.loads((study / "results" / "results.json").read_text())
    assert sorted(results["datasets"]) == sorted(SIX) and len(results["models"]) == 7
    assert (study / "results" / "layers.png").stat().st_size > 0
    # measured step costs feed the dry run's plan
    costs = json.loads((out / "step_costs.json").read_text())
    assert len(costs["runs"]) == 10 and costs["seconds_per_clip_second"] > 0
    plan = subprocess.run([sys.executable, "-m", "hf_culturemert.cli", "reproduce", "--preset", "culturemert-95m",
                           "--dry_run", "--step_costs", str(out / "step_costs.json")], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "measured step cost" in plan.stdout


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_transfer_rehearsal_runs_the_west_to_east_stages(tmp_path):
    """The CNNs at their published sizes on the six datasets, two pairs in both modes (the full 30-pair matrix and
    AST at 128 x 500 run on a GPU: scripts/device_checks.sh; on 2 CPU cores they take hours)."""
    out = tmp_path / "rehearsal"
    command = [sys.executable, "-m", "hf_culturemert.cli", "transfer", "--preset", "west-to-east", "--rehearsal",
               "--models", "vggish", "musicnn", "--pairs", "mtat:makam", "makam:lyra", "--output_dir", str(out),
               "--no_progress"]
    done = subprocess.run(command, env=dict(_env(), OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=3500, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Wall time per stage:" in done.stdout
    report = json.loads((out / "rehearsal.json").read_text())
    assert report["status"] == "complete" and report["models"] == ["vggish", "musicnn"]
    stages = json.loads((out / "study" / "stages.json").read_text())
    singles = [f"single: {m} on {d}" for m in ("vggish", "musicnn")
               for d in ("mtat", "fma", "lyra", "makam", "hindustani", "carnatic")]
    transfers = [f"transfer: {m} {mode} {pair}" for m in ("vggish", "musicnn") for mode in ("full", "head")
                 for pair in ("mtat -> makam", "makam -> lyra")]
    assert set(singles + transfers + ["report: tables and heatmaps", "cards"]) <= set(stages)
    for name in singles + transfers:
        assert stages[name]["seconds"] > 0, name
    for model in ("vggish", "musicnn"):
        for dataset in ("mtat", "fma", "lyra", "makam", "hindustani", "carnatic"):
            folder = out / "study" / "models" / model / dataset
            assert (folder / "model.safetensors").is_file() and (folder / "README.md").is_file()
    config = json.loads((out / "study" / "models" / "vggish" / "mtat" / "config.json").read_text())
    assert config.get("chunk_frames") == 230  # the published input length
    results = out / "study" / "results"
    assert (results / "results.json").is_file() and (results / "results.md").is_file()
    assert list(results.glob("*.png"))
