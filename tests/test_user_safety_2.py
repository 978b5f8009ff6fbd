"""Issue 31: nothing the user owns is lost, nothing is silently wrong (transfer, probe, reproduce, push, concurrent
runs, symlinks, odd names, a full disk). One test (or more) per numbered item of the issue."""

import errno
import json
import multiprocessing
import os
from pathlib import Path

import pytest
import soundfile as sf

from hf_culturemert import runstate
from hf_culturemert.cli import main as cli_main
from hf_culturemert.outputs import MANIFEST_FILE, OutputManifest, atomic_write_text
from hf_culturemert.testing import sine_wave, write_tone_corpus
from test_user_safety import run_cli_in_process as run

pytestmark = pytest.mark.usefixtures("single_thread")

TRANSFER = ["transfer", "--models", "vggish", "--datasets", "western", "lyra", "--modes", "head", "--epochs", "1",
            "--clips_per_split", "4", "--progress", "false"]


def one_line(err, command):
    """The one line a command ended with (an error or an interruption), no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"culturemert {command}:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    write_tone_corpus(root / "western", counts=(6, 4, 4), seconds=1.0)
    return root


# ------------------------------------------------------------------------------------------------ 1. transfer
def test_1_transfer_overwrite_twice_keeps_the_users_files(tmp_path, capsys):
    out = tmp_path / "u1"
    mine = {"data/thesis.txt": "thesis", "results/paper.md": "paper", "models/my_weights.bin": "weights"}
    for name, text in mine.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    code, _, err = run(capsys, *TRANSFER, "--output_dir", out)
    assert code == 1 and "--overwrite" in one_line(err, "transfer")  # a user's folder: refused first
    for attempt in range(2):
        code, _, err = run(capsys, *TRANSFER, "--output_dir", out, "--overwrite")
        assert code == 0, err
        assert all((out / name).read_text() == text for name, text in mine.items()), attempt
    manifest = json.loads((out / MANIFEST_FILE).read_text())["created"]
    assert "results/results.md" in manifest and not set(mine) & set(manifest)
    assert "models" not in manifest and "data" not in manifest  # the user's folders are not the run's
    assert (out / "results" / "results.md").is_file() and not (out / "runs").exists()


# --------------------------------------------------------------------------------------------------- 2. probe
def test_2_probe_output_refuses_a_file_it_did_not_write(tmp_path, tones, capsys):
    out = tmp_path / "probes"
    out.mkdir()
    target = out / "probe_tiny-random_western.json"
    target.write_text("my notes")
    argv = ["probe", "--model", "tiny-random", "--dataset", tones / "western", "--output", out, "--window_seconds",
            "1", "--seeds", "0", "--learning_rates", "1e-3", "--max_epochs", "2", "--progress", "false",
            "--cache_dir", tmp_path / "cache"]
    code, _, err = run(capsys, *argv)
    line = one_line(err, "probe")
    assert code == 1 and str(target) in line and "--overwrite" in line
    assert target.read_text() == "my notes" and not (tmp_path / "cache").exists()  # refused before any probing
    assert run(capsys, *argv, "--overwrite")[0] == 0
    assert json.loads(target.read_text())["dataset"] == "western"
    assert run(capsys, *argv)[0] == 0  # its own file is replaced without the flag


# ----------------------------------------------------------------------------------------------- 3. reproduce
def test_3_reproduce_into_a_users_folder_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "arguments.json").write_text("my arguments")
    code, _, err = run(capsys, "reproduce", "--output_dir", out, "--traditions", "lyra")
    line = one_line(err, "reproduce")
    assert code == 1 and str(out) in line and "--overwrite" in line
    assert (out / "arguments.json").read_text() == "my arguments"
    assert sorted(p.name for p in out.iterdir()) == ["arguments.json", "data"]


def test_3_reproduce_checks_the_results_files_up_front(tmp_path, capsys):
    from hf_culturemert.reproduce import ReproduceArguments, open_run_folder

    out = tmp_path / "study"
    open_run_folder(ReproduceArguments(output_dir=str(out), traditions=["lyra"])).start()  # a run of ours
    (out / "results").mkdir()
    (out / "results" / "results.md").write_text("my table")
    code, _, err = run(capsys, "reproduce", "--output_dir", out, "--traditions", "lyra")
    line = one_line(err, "reproduce")
    assert code == 1 and str(out / "results" / "results.md") in line and "--overwrite" in line
    assert not (out / "data").exists()  # nothing ran


# ------------------------------------------------------------------------------------------------ 4. symlinks
def test_4_an_owned_name_that_became_a_symlink_is_never_written_through(tmp_path, capsys):
    outside = tmp_path / "outside.md"
    outside.write_text("precious")
    out = tmp_path / "ev"
    OutputManifest(out, "evaluate").claim(["results.md", "results.json", "layers.png"])
    (out / "results.md").symlink_to(outside)
    code, _, err = run(capsys, "evaluate", "--models", "tiny-random", "--datasets", "lyra", "--output", out)
    line = one_line(err, "evaluate")
    assert code == 1 and "is a symlink" in line and "--overwrite" in line
    manifest = OutputManifest(out, "evaluate", overwrite=True)
    manifest.claim(["results.md"])  # --overwrite replaces the link itself
    atomic_write_text(out / "results.md", "new table")
    assert outside.read_text() == "precious" and not (out / "results.md").is_symlink()


def test_4_a_symlink_out_of_a_run_folder_is_refused_even_with_overwrite(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    out.mkdir()
    (out / "results").symlink_to(elsewhere)
    code, _, err = run(capsys, *TRANSFER, "--output_dir", out, "--overwrite")
    line = one_line(err, "transfer")
    assert code == 1 and "symlink" in line and str(out / "results") in line
    assert not any(elsewhere.iterdir())
    folder = tmp_path / "plain"
    atomic_write_text(tmp_path / "target.txt", "theirs")
    folder.mkdir()
    (folder / "a.txt").symlink_to(tmp_path / "target.txt")
    atomic_write_text(folder / "a.txt", "ours")  # the rename replaces the link, not its target
    assert (tmp_path / "target.txt").read_text() == "theirs" and (folder / "a.txt").read_text() == "ours"


# -------------------------------------------------------------------------------------- 5. dataset name order
def test_5_a_folder_in_the_working_directory_never_replaces_a_dataset(tmp_path, monkeypatch, tones, caplog):
    from hf_culturemert.data.resolve import resolve_dataset
    from hf_culturemert.probing.features import load_split

    monkeypatch.chdir(tmp_path)
    write_tone_corpus(tmp_path / "lyra", counts=(2, 2, 2), seconds=1.0)  # western-ish clips named lyra
    assert resolve_dataset("lyra") is None  # the registry's Lyra, with a warning naming ./lyra
    assert "./lyra" in caplog.text
    assert resolve_dataset("./lyra") == Path("./lyra")  # explicit paths are folders
    assert resolve_dataset("western", data_root=tones) == tones / "western"  # then <data_root>/<name>
    with pytest.raises(ValueError, match="Hugging Face Hub"):  # offline: the registry's Lyra cannot load
        load_split("lyra", "train")
    write_tone_corpus(tmp_path / "mydata", counts=(2, 2, 2), seconds=1.0)
    with pytest.raises(FileNotFoundError, match=r"neither a registry name.*pass ./mydata"):
        resolve_dataset("mydata")
    assert len(load_split("./mydata", "train")[0]) == 2


# ----------------------------------------------------------------------------------- 6. transfer settings
def test_6_transfer_rerun_with_other_settings_is_refused_naming_them(tmp_path, capsys):
    from hf_culturemert.transfer.arguments import TransferArguments
    from hf_culturemert.transfer.sweep import open_run_folder

    out = tmp_path / "run"
    first = TransferArguments(output_dir=str(out), models=["vggish"], datasets=["western", "lyra"], epochs=1)
    open_run_folder(first).start()
    (out / "stages.json").write_text("{}")  # a stage finished
    stored = (out / "arguments.json").read_text()
    code, _, err = run(capsys, *TRANSFER, "--output_dir", out, "--epochs", "3", "--seed", "5")
    line = one_line(err, "transfer")
    assert code == 1 and "--epochs 1 -> 3" in line and "--seed 0 -> 5" in line and "--overwrite" in line
    assert (out / "arguments.json").read_text() == stored


# ------------------------------------------------------------------------- 7. reruns adding models or datasets
def test_7_rerun_adding_a_model_and_a_dataset_redoes_the_data_report_and_cards(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(capsys, *TRANSFER, "--output_dir", out)[0] == 0
    code, _, err = run(capsys, "transfer", "--models", "vggish", "musicnn", "--datasets", "western", "lyra", "makam",
                       "--modes", "head", "--epochs", "1", "--clips_per_split", "4", "--progress", "false",
                       "--output_dir", out)
    assert code == 0, err
    assert (out / "data" / "makam" / "README.md").is_file()  # the data stage ran again for the new dataset
    markdown = (out / "results" / "results.md").read_text()
    assert "Musicnn" in markdown and "makam" in markdown
    assert (out / "models" / "musicnn" / "makam" / "README.md").is_file()


# ------------------------------------------------------------------------------- 8. evaluate: twin folder names
def test_8_evaluate_refuses_two_datasets_of_one_name(tmp_path, capsys):
    for parent in ("a", "b"):
        (tmp_path / parent / "western").mkdir(parents=True)
    code, _, err = run(capsys, "evaluate", "--models", "tiny-random", "--datasets", tmp_path / "a" / "western",
                       tmp_path / "b" / "western", "--output", tmp_path / "ev")
    line = one_line(err, "evaluate")
    assert code == 1 and "share the name 'western'" in line and not (tmp_path / "ev").exists()


# ---------------------------------------------------------------------------------------------- 9. push checks
def test_9_push_refuses_secret_like_and_oversized_files_unless_allowed(tmp_path, capsys):
    from hf_culturemert.export import save_model_folder
    from hf_culturemert.testing import random_model

    folder = tmp_path / "model"
    save_model_folder(random_model(seed=0), folder)
    (folder / "token").write_text("x")
    (folder / "secrets.py").write_text("KEY = 'hf_" + "a1B2c3D4" * 5 + "'\n")
    (folder / "notes.txt").write_text("see hf_" + "Q" * 34 + " for access\n")
    with open(folder / "huge.bin.safetensors", "wb") as handle:  # sparse: 60 GB on paper, nothing on disk
        handle.truncate(60 * 2 ** 30)
    code, out, _ = run(capsys, "push", "model", folder, "--repo_id", "me/model", "--dry_run")
    assert code == 1 and "NOT valid" in out
    for name in ("token", "secrets.py", "notes.txt"):
        assert f"error: {name} looks like a secret" in out, out
    assert "error: huge.bin.safetensors is 60.0 GB, over the 50 GB limit" in out
    code, out, _ = run(capsys, "push", "model", folder, "--repo_id", "me/model", "--dry_run", "--allow_files",
                       "token", "secrets.py", "notes.txt", "huge.bin.safetensors")
    assert code == 0 and "folder is valid" in out


# --------------------------------------------------------------------------------------- 10. refused values
@pytest.mark.parametrize("argv, message", [
    (["reproduce", "--traditions", "lyra", "lyra"], "--traditions lists lyra twice"),
    (["transfer", "--max_tracks", "0"], "--max_tracks must be at least 1"),
    (["transfer", "--preset", "west-to-east", "--dry_run", "--gpu_tflops", "0"], "--gpu_tflops must be a positive"),
    (["transfer", "--preset", "west-to-east", "--dry_run", "--gpu_tflops", "-5"], "--gpu_tflops must be a positive"),
    (["transfer", "--preset", "west-to-east", "--dry_run", "--gpu_tflops", "nan"], "--gpu_tflops must be a positive"),
    (["reproduce", "--probe_learning_rates", "-0.01"], "--probe_learning_rates must be positive"),
    (["reproduce", "--window_seconds", "nan"], "--window_seconds must be a positive, finite"),
    (["probe", "--model", "m", "--dataset", "d", "--window_seconds", "inf"], "`window_seconds` must be positive and"),
    (["reproduce", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["transfer", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["transfer", "--dry_run"], "--dry_run plans --preset west-to-east"),
])
def test_10_12_bad_values_are_refused_in_one_line_before_anything_runs(tmp_path, monkeypatch, capsys, argv,
                                                                      message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 1 and message in one_line(err, argv[0])
    assert not any(tmp_path.iterdir())  # nothing recorded (a corrected rerun is not refused)


# ------------------------------------------------------------------------------------------ 11. Ctrl-C
@pytest.fixture
def sigint_handler():
    """The CLI ends the process on a second Ctrl-C once interrupted; give pytest its own handler back."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    yield
    assert signal.getsignal(signal.SIGINT) is not handler  # the CLI armed its exit-on-second-interrupt
    signal.signal(signal.SIGINT, handler)


def test_11_ctrl_c_is_one_line_naming_the_stage_and_resume(tmp_path, monkeypatch, capsys, sigint_handler):
    from hf_culturemert.transfer import sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_single", interrupted)
    code, _, err = run(capsys, *TRANSFER, "--output_dir", tmp_path / "t")
    line = one_line(err, "transfer")
    assert code == 130 and "interrupted during stage '[2/" in line and "single: vggish on western" in line
    assert "rerun the same command to resume" in line
    import hf_culturemert.data as data

    monkeypatch.setattr(data, "build_synthetic_corpus", interrupted)
    code, _, err = run(capsys, "reproduce", "--output_dir", tmp_path / "r", "--traditions", "lyra")
    line = one_line(err, "reproduce")
    assert code == 130 and "'[1/" in line and "data" in line and "rerun the same command to resume" in line


def test_11_ctrl_c_while_the_command_loads_is_one_line(monkeypatch, capsys, sigint_handler):
    """A Ctrl-C before the first stage (torch still importing) ends like any other: 130 and one line."""
    import importlib

    from hf_culturemert import cli

    real_import = importlib.import_module

    def slow_import(name, *args, **kwargs):
        if name == "hf_culturemert.commands.transfer":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(cli.importlib, "import_module", slow_import)
    code = cli.main(["transfer", "--help"])
    line = one_line(capsys.readouterr().err, "transfer")
    assert code == 130 and "interrupted" in line and "rerun the same command to resume" in line


# -------------------------------------------------------------------------------- 12. tracebacks, unclear errors
def test_12_probe_a_registry_dataset_offline_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "probe", "--model", "tiny-random", "--dataset", "western")
    line = one_line(err, "probe")
    assert code == 1 and "Hugging Face Hub" in line and "--data_root" in line


def test_12_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "a.json", "{}")
    assert list(tmp_path.iterdir()) == []
    song = tmp_path / "song.wav"
    sf.write(song, sine_wave(2.0, 220, 24000), 24000)
    code, _, err = run(capsys, "embed", "--audio", song, "--model", "tiny-random", "--output_dir", tmp_path / "o")
    line = one_line(err, "embed")
    assert code == 1 and "no space left on the device writing" in line and "rerun the same command" in line
    assert f"writing {tmp_path / 'o'}" in line  # the file it was writing (here the manifest, written first)
    assert not [p for p in (tmp_path / "o").rglob("*") if ".tmp" in p.name]


def test_12_full_disk_during_a_stage_names_the_stage(tmp_path, monkeypatch, capsys):
    from hf_culturemert.transfer import sweep

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "t" / "models"))

    monkeypatch.setattr(sweep, "run_single", full)
    code, _, err = run(capsys, *TRANSFER, "--output_dir", tmp_path / "t")
    line = one_line(err, "transfer")
    assert code == 1 and "no space left on the device writing" in line and "single: vggish on western" in line


def test_12_base_model_errors_name_base_model_and_the_teacher(tmp_path, capsys):
    from hf_culturemert.reproduce import PICO_BASE_DIR, TEACHER_FILE

    no_teacher = tmp_path / "no-teacher"
    no_teacher.mkdir()
    for name in ("config.json", "model.safetensors"):
        (no_teacher / name).write_bytes((PICO_BASE_DIR / name).read_bytes())
    code, _, err = run(capsys, "reproduce", "--base_model", no_teacher, "--output_dir", tmp_path / "o")
    line = one_line(err, "reproduce")
    assert code == 1 and f"--base_model {no_teacher}: no {TEACHER_FILE}" in line and "EnCodec" not in line
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_bytes((PICO_BASE_DIR / "config.json").read_bytes())
    (corrupt / TEACHER_FILE).write_bytes((PICO_BASE_DIR / TEACHER_FILE).read_bytes())
    (corrupt / "model.safetensors").write_bytes((PICO_BASE_DIR / "model.safetensors").read_bytes()[:300])
    code, _, err = run(capsys, "reproduce", "--base_model", corrupt, "--output_dir", tmp_path / "o")
    line = one_line(err, "reproduce")
    assert code == 1 and f"--base_model {corrupt}: cannot read the model" in line and "--model " not in line
    assert not (tmp_path / "o").exists()


def test_12_embed_one_over_long_name_fails_alone(tmp_path, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, sine_wave(2.0, 220, 24000), 24000)
    long = tmp_path / ("x" * 245 + ".wav")  # the file exists; x...x.safetensors would not fit in 255 bytes
    sf.write(long, sine_wave(2.0, 330, 24000), 24000)
    code, _, err = run(capsys, "embed", "--audio", long, good, "--model", "tiny-random", "--output_dir",
                       tmp_path / "o")
    assert code == 1 and "1 of 2 file(s) failed (1 embedded)" in err and "too long" in err
    assert (tmp_path / "o" / "good.safetensors").is_file()


def test_12_merge_overwrite_help_names_every_file_it_replaces(capsys):
    with pytest.raises(SystemExit):
        cli_main(["merge", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    overwrite = text[text.index("--overwrite [OVERWRITE] Write"):][:400]
    assert "config.json" in overwrite and "README.md" in overwrite and "other files in it stay" in overwrite


def _claim_many(folder, prefix, count):
    manifest = OutputManifest(folder, "embed")
    for i in range(count):
        manifest.claim([f"{prefix}{i}.json"])


def test_12_concurrent_writers_lose_no_manifest_entry(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_claim_many, args=(tmp_path, prefix, 40)) for prefix in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    created = json.loads((tmp_path / MANIFEST_FILE).read_text())["created"]
    assert len(created) == 80 and sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_FILE]


def test_where_stopped_is_empty_outside_a_run():
    runstate.reset_where_stopped()
    assert runstate.where_stopped() == ""


def test_a_manifest_save_in_flight_is_not_a_users_file(tmp_path):
    """Under `accelerate launch` another process of the same run may be mid-way through an atomic manifest save;
    its temporary file must not make the folder look like a user's (a 2-process transfer failed on it once)."""
    from hf_culturemert.outputs import MANIFEST_FILE, OutputExistsError
    from hf_culturemert.runstate import RunFolder

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / f".{MANIFEST_FILE}.im_e1twc.tmp-6191").write_text("{}")
    RunFolder(folder, "transfer", {"seed": 0}, ["results"])  # no refusal
    (folder / "thesis.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="thesis.txt"):
        RunFolder(folder, "transfer", {"seed": 0}, ["results"])
