"""The transfer sweep: an interrupted sweep resumes without redoing finished runs; outputs in the paper's layout;
clear one-line errors for bad input; the real preset's dry-run plan."""

import json

import pytest

from hf_culturemert import cli
from hf_culturemert.transfer import sweep
from hf_culturemert.transfer.arguments import TransferArguments

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from hf_culturemert.data import build_synthetic_corpus

    root = tmp_path_factory.mktemp("w2e") / "data"
    build_synthetic_corpus(root, clips_per_split=4, traditions=["western", "lyra"], progress=False, num_proc=1)
    return root


def _args(out, corpus, **kw):
    values = dict(output_dir=str(out), data_root=str(corpus), models=["vggish"], datasets=["western", "lyra"],
                  modes=["head"], epochs=1, progress=False)
    values.update(kw)
    return TransferArguments(**values)


def test_interrupted_sweep_resumes_and_writes_the_papers_layout(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    real_pair, calls = sweep.run_pair, []

    def interrupted(*a, **k):
        calls.append(a[3:6])
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption during the second transfer")
        return real_pair(*a, **k)

    monkeypatch.setattr(sweep, "run_pair", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_transfer(_args(out, corpus))
    stages = json.loads((out / "stages.json").read_text())
    assert [k for k in stages if k.startswith("single")] == ["single: vggish on western", "single: vggish on lyra"]
    assert "transfer: vggish head western -> lyra" in stages and "transfer: vggish head lyra -> western" not in stages
    weights = out / "models" / "vggish" / "western" / "model.safetensors"
    stamp, first = weights.stat().st_mtime_ns, stages["transfer: vggish head western -> lyra"]

    monkeypatch.setattr(sweep, "run_pair", real_pair)
    singles = []
    monkeypatch.setattr(sweep, "run_single", lambda *a, **k: singles.append(a) or pytest.fail("single rerun"))
    summary = sweep.run_transfer(_args(out, corpus))
    stages = json.loads((out / "stages.json").read_text())
    assert not singles and weights.stat().st_mtime_ns == stamp
    assert stages["transfer: vggish head western -> lyra"] == first  # finished runs are not redone
    assert "transfer: vggish head lyra -> western" in stages and "cards" in stages
    markdown = (out / "results" / "results.md").read_text()
    for heading in ("## Single-domain training", "## Best source per target", "## Full matrix", "### VGG-ish, head"):
        assert heading in markdown
    results = json.loads((out / "results" / "results.json").read_text())
    assert results["best_source"]["vggish"]["head"]["lyra"]["source"] == "western"
    assert set(results["single_domain"]["vggish"]) == {"western", "lyra"}
    assert (out / "results" / "heatmap_vggish_head.png").stat().st_size > 1000
    card = (out / "models" / "vggish" / "lyra" / "README.md").read_text()
    assert "pipeline_tag: audio-classification" in card and "ROC-AUC" in card
    assert summary["models"]["vggish"]["lyra"].endswith("models/vggish/lyra")


@pytest.mark.parametrize("argv, message", [
    (["--datasets", "western", "atlantis"], "Unknown dataset(s) ['atlantis']"),
    (["--models", "vggish", "resnet"], "Unknown model(s) ['resnet']"),
    (["--pairs", "lyra:lyra"], "source and target are the same dataset ('lyra')"),
    (["--modes", "partial"], "--modes must be"),
    (["--datasets", "lyra"], "at least two datasets"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, corpus, argv, message):
    code = cli.main(["transfer", "--output_dir", str(tmp_path / "o"), "--data_root", str(corpus),
                     "--datasets", "western", "lyra"] + argv)
    err = capsys.readouterr().err.strip()
    assert code == 1 and message in err and len(err.splitlines()) == 1, err


def test_empty_split_is_named(tmp_path, capsys):
    import datasets

    from hf_culturemert.testing import write_tone_corpus

    write_tone_corpus(tmp_path / "tones", counts=(4, 2, 2))
    full = datasets.load_from_disk(str(tmp_path / "tones"))
    nothing = datasets.Dataset.from_dict({k: [] for k in full["validation"].features},
                                         features=full["validation"].features)
    empty = datasets.DatasetDict({"train": full["train"], "validation": nothing, "test": full["test"]})
    empty.save_to_disk(str(tmp_path / "data" / "holes"))
    write_tone_corpus(tmp_path / "data" / "tones", counts=(4, 2, 2))
    code = cli.main(["transfer", "--output_dir", str(tmp_path / "o"), "--data_root", str(tmp_path / "data"),
                     "--datasets", "tones", "holes", "--models", "vggish", "--epochs", "1", "--progress", "false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "Dataset 'holes': split 'validation' is empty" in err[-1]


def test_foreign_output_folder_is_refused_and_overwrite_deletes_only_ours(tmp_path, corpus, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code = cli.main(["transfer", "--output_dir", str(foreign), "--data_root", str(corpus), "--datasets", "western",
                     "lyra"])
    err = capsys.readouterr().err
    assert code == 1 and str(foreign) in err and "--overwrite" in err
    sweep.open_run_folder(_args(foreign, corpus, overwrite=True)).start()
    (foreign / "stages.json").write_text("{}")
    folder = sweep.open_run_folder(_args(foreign, corpus, overwrite=True))
    assert folder.restart
    folder.start()
    assert (foreign / "notes.txt").read_text() == "keep me" and not (foreign / "stages.json").exists()


def test_real_preset_dry_run_plans_the_whole_study(capsys):
    assert cli.main(["transfer", "--preset", "west-to-east", "--dry_run", "true"]) == 0
    out = capsys.readouterr().out
    assert "36 single-domain + 360 transfers (6 models x 2 modes x 30 ordered pairs)" in out
    assert "hindustani" in out and "844" in out and "GPU-hours" in out
    plan = sweep.run_transfer(TransferArguments(preset="west-to-east", dry_run=True))
    assert plan["runs"] == 396 and plan["gpu_hours"] > 1


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes_runs_the_sweep(tmp_path, corpus):
    """`accelerate launch` (2 gloo CPU processes): every process trains, the main one writes; the run completes."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_cpu_threads_per_process", "1", "-m", "hf_culturemert.cli", "transfer", "--output_dir", str(out),
               "--data_root", str(corpus), "--models", "vggish", "--datasets", "western", "lyra", "--modes", "head",
               "--epochs", "2", "--progress", "false"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    stages = json.loads((out / "stages.json").read_text())
    assert len(stages) == 6 and "transfer: vggish head lyra -> western" in stages
    assert result.stdout.count("Transfer study finished") == 1  # the main process reports, once
    assert (out / "models" / "vggish" / "lyra" / "model.safetensors").is_file()
