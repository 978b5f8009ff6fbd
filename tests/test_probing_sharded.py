"""``accelerate launch`` with 2 CPU processes (gloo): `culturemert evaluate` / `probe` split the tracks, gather the
features and give what one process gives."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hf_culturemert.probing.sharding import merge_shards

REPO = Path(__file__).resolve().parents[1]
PROBE = ["--window_seconds", "1.5", "--seeds", "0", "--learning_rates", "1e-2", "--max_epochs", "5",
         "--device", "cpu", "--no_progress"]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")


def _cli(processes):
    if processes == 1:
        return [sys.executable, "-m", "hf_culturemert.cli"]
    # `--multi_gpu` is accelerate's torchrun launcher; on CPUs the processes form a gloo group
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--num_cpu_threads_per_process", "1", "-m", "hf_culturemert.cli"]


def _features(cache):
    from datasets import load_from_disk

    out = {}
    for folder in sorted(Path(cache).iterdir()):
        split = folder.name.split("--")[1]
        out[split] = load_from_disk(str(folder)).with_format("numpy")[:]
    return out


def test_merge_shards_restores_the_one_process_order():
    def part(rows, windows):
        ids = [r for r in rows for _ in range(windows[r])]
        starts = [float(k) for r in rows for k in range(windows[r])]
        return {"track_id": [str(i) for i in ids], "window_start": np.asarray(starts, np.float32),
                "window_end": np.asarray(starts, np.float32) + 1, "labels": np.asarray(ids, np.float32)[:, None],
                "features": np.asarray(ids, np.float32)[:, None, None] * 10 + np.asarray(starts)[:, None, None]}

    windows = {0: 2, 1: 1, 2: 3, 3: 1, 4: 2}
    merged = merge_shards([part([0, 2, 4], windows), part([1, 3], windows), None], ["a", "b", "c", "d", "e"])
    assert merged["track_id"] == ["a", "a", "b", "c", "c", "c", "d", "e", "e"]
    assert merged["window_start"].tolist() == [0, 1, 0, 0, 1, 2, 0, 0, 1]
    assert merged["features"][:, 0, 0].tolist() == [0, 1, 10, 20, 21, 22, 30, 40, 41]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sharded_evaluate_and_probe_equal_one_process(tmp_path):
    from hf_culturemert.data import build_synthetic_corpus

    data = build_synthetic_corpus(tmp_path / "data", seed=3, clips_per_split={"train": 9, "validation": 5, "test": 5},
                                  clip_seconds=4.0, traditions=["makam"], progress=False)["makam"]
    runs = {}
    for processes in (1, 2):
        out, cache = tmp_path / f"eval-{processes}", tmp_path / f"cache-{processes}"
        command = _cli(processes) + ["evaluate", "--models", "tiny=tiny-random", "--datasets", str(data),
                                     "--output", str(out), "--cache_dir", str(cache), *PROBE]
        done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-4000:]
        runs[processes] = {"results": json.loads((out / "results.json").read_text()), "features": _features(cache),
                           "log": done.stderr, "stdout": done.stdout}
    one, two = runs[1], runs[2]
    # each process extracted its share of every split: 9 train tracks = 5 + 4
    assert "Process 1/2 extracted 5 of 9 tracks" in two["log"] and "Process 2/2 extracted 4 of 9 tracks" in two["log"]
    assert "Process" not in one["log"].replace("ProcessGroup", "")
    assert two["stdout"].count("wrote ") == 3  # one report, from the main process
    for split in ("train", "validation", "test"):
        a, b = one["features"][split], two["features"][split]
        assert list(a["track_id"]) == list(b["track_id"])
        np.testing.assert_array_equal(a["window_start"], b["window_start"])
        np.testing.assert_array_equal(a["labels"], b["labels"])
        np.testing.assert_allclose(a["features"], b["features"], rtol=1e-4, atol=1e-5)
    cell_one = one["results"]["results"]["tiny"]["makam"]
    cell_two = two["results"]["results"]["tiny"]["makam"]
    assert cell_one["num_windows"] == cell_two["num_windows"]
    assert cell_one["reported_layer"] == cell_two["reported_layer"]
    for metric, value in cell_one["summary"].items():
        assert cell_two["summary"][metric]["mean"] == pytest.approx(value["mean"], abs=1e-3), metric

    # `probe` under the launcher: one JSON, equal to the one-process probe of the same (now cached) features
    probe_out = tmp_path / "probe-2"
    command = _cli(2) + ["probe", "--model", "tiny-random", "--dataset", str(data), "--output", str(probe_out),
                         "--cache_dir", str(tmp_path / "cache-1"), *PROBE]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("wrote ") == 1
    (result,) = [json.loads(p.read_text()) for p in probe_out.glob("probe_*.json")]
    assert result["cache_hit"] is True
    for metric, value in cell_one["summary"].items():
        assert result["summary"][metric]["mean"] == pytest.approx(value["mean"], abs=1e-6), metric


def test_a_track_shorter_than_half_a_window_gets_one_window(tmp_path):
    """MARBLE's 30 s windows on 2 s tracks (the rehearsals' data, short Lyra pieces): one window each, no error."""
    import torch

    from hf_culturemert.data import build_synthetic_corpus
    from hf_culturemert.probing.arguments import ProbeArguments
    from hf_culturemert.probing.features import extract_split_features, load_backbone, load_split

    folder = build_synthetic_corpus(tmp_path / "data", seed=1, clips_per_split=4, clip_seconds=2.0,
                                    traditions=["makam"], progress=False)["makam"]
    ds, _, _ = load_split(str(folder), "test")
    backbone = load_backbone("tiny-random").eval()
    columns = extract_split_features(backbone, ds, ProbeArguments(window_seconds=30.0, progress=False),
                                     torch.device("cpu"), torch.float32)
    assert len(columns["track_id"]) == len(ds) == 4
    np.testing.assert_allclose(columns["window_end"] - columns["window_start"], 2.0, atol=0.05)
