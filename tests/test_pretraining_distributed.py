"""Subprocess runs: `accelerate launch` with 2 CPU processes (gloo) and kill -9 + resume. Tiny and slow-marked."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r'''
import json, logging, os, sys, time
import torch
logging.basicConfig(level=logging.INFO)
torch.set_num_threads(1)
from transformers import HfArgumentParser, TrainerCallback
from hf_culturemert.pretraining import PretrainingArguments, run_pretraining, weights_digest
from hf_culturemert.pretraining.testing import tiny_pretraining_config, tiny_teachers

values = json.loads(sys.argv[1])
report = values.pop("_report")
tiny_pretraining_config(hidden_dropout=0.1, attention_dropout=0.1, layerdrop=0.2).to_json_file(values["config_name"])
(args,) = HfArgumentParser(PretrainingArguments).parse_dict(values)


class Report(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if os.environ.get("SLOW_STEPS"):
            time.sleep(float(os.environ["SLOW_STEPS"]))

    def on_train_end(self, args, state, control, model=None, **kwargs):
        rank = int(os.environ.get("RANK", "0"))
        Path = __import__("pathlib").Path
        Path(report).mkdir(parents=True, exist_ok=True)
        (Path(report) / f"rank{rank}.json").write_text(json.dumps(
            {"digest": weights_digest(model), "step": state.global_step,
             "world": int(os.environ.get("WORLD_SIZE", "1"))}))


encodec, cqt = tiny_teachers()
run_pretraining(args, callbacks=[Report()], encodec_teacher=encodec, cqt_teacher=cqt)
'''


def _values(tmp_path, name, **overrides):
    values = dict(output_dir=str(tmp_path / name), model_name_or_path=None, config_name=str(tmp_path / "cfg.json"),
                  train_datasets=["sine:14:0"], crop_seconds=0.5, min_crop_seconds=0.25, mixup_min_seconds=0.05,
                  mixup_max_seconds=0.1, per_device_train_batch_size=2, max_steps=10, logging_steps=1,
                  save_steps=2, save_total_limit=2, report_to="none", disable_tqdm=True, learning_rate=1e-3,
                  warmup_steps=2, seed=0, use_cpu=True, _report=str(tmp_path / f"{name}-report"))
    values.update(overrides)
    return values


def _env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env


def _script(tmp_path):
    path = tmp_path / "pretrain_job.py"
    path.write_text(SCRIPT)
    return path


def _report(tmp_path, name, rank=0):
    return json.loads((tmp_path / f"{name}-report" / f"rank{rank}.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_and_resume_matches_uninterrupted_run(tmp_path):
    script = _script(tmp_path)
    full = subprocess.run([sys.executable, str(script), json.dumps(_values(tmp_path, "full"))], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]

    values = json.dumps(_values(tmp_path, "killed"))
    process = subprocess.Popen([sys.executable, str(script), values], env=_env(SLOW_STEPS="1.0"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marker = tmp_path / "killed" / "checkpoint-4" / "checkpoint_complete.json"
    deadline = time.time() + 240
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), process.stderr.read()[-3000:] if process.poll() is not None else "no checkpoint in time"
    time.sleep(0.3)  # mid-step 5, possibly while nothing is being written
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "pretraining_complete.json").exists()

    resumed = subprocess.run([sys.executable, str(script), values], env=_env(), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stderr and "checkpoint-4" in resumed.stderr
    a, b = _report(tmp_path, "full"), _report(tmp_path, "killed")
    assert a["step"] == b["step"] == 10
    assert a["digest"] == b["digest"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_accelerate_launch_two_cpu_processes_keep_identical_weights(tmp_path):
    script = _script(tmp_path)
    values = _values(tmp_path, "ddp", max_steps=3, save_steps=100, train_datasets=["sine:12:0"])
    # `--multi_gpu` is accelerate's torchrun launcher; with use_cpu=True the processes form a gloo MULTI_CPU group
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--num_cpu_threads_per_process", "1", str(script), json.dumps(values)]
    result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=500, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [_report(tmp_path, "ddp", r) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["step"] for r in ranks] == [3, 3]
    assert ranks[0]["digest"] == ranks[1]["digest"]
    assert (tmp_path / "ddp" / "pretraining_complete.json").is_file()
