"""Issue 17: nothing the user owns is deleted or silently wrong; every bad input gets a one-line error."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_culturemert.cli import main as cli_main
from hf_culturemert.features import extract_features
from hf_culturemert.outputs import MANIFEST_FILE, OutputManifest, save_safetensors
from hf_culturemert.testing import random_model, sine_wave

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_cli(*args, env=None, **kwargs):
    """Run ``python -m hf_culturemert.cli`` in a fresh process: (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "hf_culturemert.cli", *map(str, args)], capture_output=True,
                          text=True, env=env or ENV, **kwargs)
    return done.returncode, done.stdout, done.stderr


def run_cli_in_process(capsys, *args):
    """``culturemert`` in this process (saves a fresh interpreter's ~10 s import per test); (code, stdout, stderr).
    The fresh-process tests (``run_cli``) cover the entry point itself."""
    code = cli_main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(stderr, command):
    """The error lines of stderr: exactly one, starting with ``culturemert <command>: error:``, no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith(f"culturemert {command}: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# ----------------------------------------------------------------------------------------------- the command line
def test_help_does_not_import_torch_or_transformers():
    code = ("import sys; sys.argv = ['culturemert', '--help']; import hf_culturemert.cli as c; c.main(['--help']); "
            "print('HEAVY', sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True).stdout
    assert "usage: culturemert <command>" in out and "HEAVY []" in out
    code, out, _ = run_cli("--help")
    assert code == 0 and "embed" in out
    code, _, err = run_cli("bogus")
    assert code == 2 and "unknown command 'bogus'" in err


@pytest.mark.parametrize("argv, code, message", [
    (["embed", "--batch_size", "0", "--audio", "x.wav"], 1, "--batch_size 0: must be at least 1"),
    (["probe", "--model", "m", "--dataset", "d", "--batch_size", "0"], 1, "`batch_size` must be at least 1"),
    (["evaluate", "--models", "m", "--window_seconds", "-1"], 1, "`window_seconds` must be positive"),
    (["push", "model", "folder"], 2, "required: --repo_id"),
    (["merge", "--base", "b", "--models", "m", "--lambda", "0.2", "--method", "nope"], 1,
     "Unknown merge method 'nope'"),
    (["merge", "--base", "b", "--models", "m", "--lambda", "abc"], 2, "--lambda: invalid float value: 'abc'"),
    (["pretrain", "--recipe", "tiny", "--learning_rate", "-0.1"], 1,
     "stage 'stage1': learning_rate must be a finite number >= 0, got -0.1"),
    (["pretrain", "--recipe", "tiny", "--stage2.mask_prob", "2"], 1, "stage 'stage2': mask_prob must be in [0, 1]"),
    (["pretrain", "--recipe", "nosuch"], 1, "Unknown recipe 'nosuch'"),
    (["pretrain", "--output_dir", "o", "--train_datasets", "a", "b", "--per_device_train_batch_size", "0"], 1,
     "per_device_train_batch_size must be >= 1, got 0"),
])
def test_argument_errors_do_not_import_torch(argv, code, message):
    script = ("import sys; sys.argv = ['culturemert']; import hf_culturemert.cli as c\n"
              "try:\n    rc = c.main(%r)\nexcept SystemExit as exit:\n    rc = exit.code\n"
              "print('RC', rc, 'torch' in sys.modules)" % (argv,))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, check=True)
    assert f"RC {code} False" in done.stdout and message in done.stderr, (done.stdout, done.stderr)


def test_import_still_registers_auto_classes():
    code = ("import hf_culturemert; from transformers import AutoConfig; "
            "print(type(AutoConfig.for_model('mert_model')).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True).stdout
    assert out.strip() == "MERTConfig"


def test_subcommand_usage_names_the_subcommand_and_no_flags_have_their_own_help(capsys):
    with pytest.raises(SystemExit):
        cli_main(["probe", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: culturemert probe")
    options = out[out.index("options:"):]
    no_normalize = options[options.index("--no_normalize"):].split("--extraction_batch_size")[0]
    assert "Turn --normalize off" in no_normalize and "feature extractor" not in no_normalize


# ----------------------------------------------------------------------------------------------------- umask (16)
def test_written_safetensors_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        save_safetensors({"x": torch.zeros(2)}, tmp_path / "a.safetensors")
        assert stat.S_IMODE(os.stat(tmp_path / "a.safetensors").st_mode) == 0o644
        os.umask(0o002)
        save_safetensors({"x": torch.zeros(2)}, tmp_path / "b.safetensors")
        assert stat.S_IMODE(os.stat(tmp_path / "b.safetensors").st_mode) == 0o664
    finally:
        os.umask(old)


def test_fitted_rvq_teacher_follows_the_umask(tmp_path):
    from hf_culturemert.teachers import RVQTeacher

    waves = [sine_wave(1.0, f, 24000, seed=i) for i, f in enumerate((220.0, 330.0, 440.0))]
    teacher = RVQTeacher.fit(iter(waves), num_codebooks=2, codebook_size=4, seed=0, progress=False)
    old = os.umask(0o022)
    try:
        teacher.save(tmp_path / "rvq.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "rvq.safetensors").st_mode) == 0o644


def test_embed_output_follows_the_umask(tmp_path):
    sf.write(tmp_path / "song.wav", sine_wave(2.0, 220, 24000, seed=1), 24000)
    old = os.umask(0o022)
    try:
        assert cli_main(["embed", "--audio", str(tmp_path / "song.wav"), "--model", "tiny-random", "--output_dir",
                         str(tmp_path / "out")]) == 0
    finally:
        os.umask(old)
    for name in ("song.safetensors", "song.json"):
        assert stat.S_IMODE(os.stat(tmp_path / "out" / name).st_mode) == 0o644, name


# ------------------------------------------------------------------------------------------- embed: item 4 and co.
def _tone(path, seconds=2.0, seed=0):
    sf.write(path, sine_wave(seconds, 220 + 50 * seed, 24000, seed=seed), 24000)
    return path


def test_embed_inputs_sharing_a_stem_keep_their_own_outputs(tmp_path, capsys):
    from safetensors.torch import load_file

    inputs = [_tone(tmp_path / "a.flac", 2.0, 0), _tone(tmp_path / "a.wav", 3.0, 1), _tone(tmp_path / "b.wav", 1.0, 2)]
    out = tmp_path / "out"
    assert cli_main(["embed", "--audio", *map(str, inputs), "--model", "tiny-random", "--output_dir", str(out),
                     "--window_seconds", "1"]) == 0
    assert json.loads((out / "a.flac.json").read_text())["file"] == str(inputs[0])
    assert json.loads((out / "a.wav.json").read_text())["file"] == str(inputs[1])
    assert json.loads((out / "b.json").read_text())["file"] == str(inputs[2])
    assert load_file(out / "a.flac.safetensors")["window_features"].shape[1] == 2
    assert load_file(out / "a.wav.safetensors")["window_features"].shape[1] == 3
    assert not (out / "a.safetensors").exists()
    # same file name in two folders: refused before any work
    (tmp_path / "x").mkdir()
    twin = _tone(tmp_path / "x" / "b.wav")
    capsys.readouterr()
    assert cli_main(["embed", "--audio", str(inputs[2]), str(twin), "--model", "tiny-random", "--output_dir",
                     str(tmp_path / "out2")]) == 1
    assert "would write the same b.wav.safetensors" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_embed_refuses_to_overwrite_files_it_did_not_write(tmp_path, capsys):
    song = _tone(tmp_path / "song.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / "song.safetensors").write_bytes(b"the user's own file")
    code, _, err = run_cli_in_process(capsys, "embed", "--audio", song, "--model", "tiny-random",
                                      "--output_dir", out)
    line = one_line_error(err, "embed")
    assert code == 1 and str(out / "song.safetensors") in line and "--overwrite" in line
    assert (out / "song.safetensors").read_bytes() == b"the user's own file"
    # its own earlier output is replaced without a flag; the user's file only with --overwrite
    assert cli_main(["embed", "--audio", str(song), "--model", "tiny-random", "--output_dir", str(out),
                     "--overwrite"]) == 0
    assert (out / "song.safetensors").read_bytes() != b"the user's own file"
    assert cli_main(["embed", "--audio", str(song), "--model", "tiny-random", "--output_dir", str(out)]) == 0
    assert "song.safetensors" in json.loads((out / MANIFEST_FILE).read_text())["created"]


def test_embed_output_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    song = _tone(tmp_path / "song.wav")
    (tmp_path / "taken").write_text("x")
    code, _, err = run_cli_in_process(capsys, "embed", "--audio", song, "--model", "tiny-random",
                                      "--output_dir", tmp_path / "taken")
    assert code == 1 and "is a file, not a folder" in one_line_error(err, "embed")


def test_embed_skips_bad_files_reports_them_and_keeps_good_outputs(tmp_path, capsys):
    good = _tone(tmp_path / "good.wav")
    short = tmp_path / "x_0.01s.wav"
    sf.write(short, sine_wave(0.01, 440, 24000), 24000)
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"not audio at all" * 10)
    out = tmp_path / "out"
    code, _, err = run_cli_in_process(capsys, "embed", "--audio", short, good, garbage, "--model", "tiny-random",
                                      "--output_dir", out)
    assert code == 1 and "Traceback" not in err
    assert "2 of 3 file(s) failed (1 embedded)" in err
    report = err[err.index("2 of 3 file(s) failed"):]
    assert str(short) in report and "shorter than one MERT frame" in report and str(garbage) in report
    assert (out / "good.safetensors").is_file() and not (out / "x_0.01s.safetensors").exists()


@pytest.mark.parametrize("flags, message", [
    (["--batch_size", "0"], "--batch_size 0: must be at least 1"),
    (["--window_seconds", "nan"], "--window_seconds nan: must be a positive, finite"),
    (["--window_seconds", "-1"], "--window_seconds -1.0: must be a positive, finite"),
    (["--hop_seconds", "inf"], "--hop_seconds inf: must be a positive, finite"),
    (["--layers", "3"], "index 3 is out of range; this model has 3 hidden states"),
    (["--layers", "-9"], "index -9 is out of range"),
])
def test_embed_refuses_impossible_values_in_one_line(tmp_path, flags, message, capsys):
    song = _tone(tmp_path / "song.wav")
    code, _, err = run_cli_in_process(capsys, "embed", "--audio", song, "--model", "tiny-random", *flags)
    assert code == 1 and message in one_line_error(err, "embed")


# ------------------------------------------------------------------------------------------ features: items 6, 9
def test_out_of_range_layers_raise_instead_of_wrapping():
    model = random_model(seed=0)  # 2 transformer layers: hidden states 0..2
    wave = sine_wave(1.0, 440, 24000)
    for bad in ([3], [-4], [99], [13]):
        with pytest.raises(ValueError, match=f"index {bad[0]} is out of range"):
            extract_features(model, wave, 24000, layers=bad)
    assert extract_features(model, wave, 24000, layers=[-1, 0, 2]).layers == [2, 0, 2]


def test_soundfile_stereo_layout_is_down_mixed_like_a_file(tmp_path):
    model = random_model(seed=0)
    left, right = sine_wave(2.0, 220, 24000, seed=1), sine_wave(2.0, 330, 24000, seed=2)
    stereo = np.stack([left, right], axis=1)  # (N, 2): soundfile's layout
    out = extract_features(model, stereo, 24000, window_seconds=1.0)
    assert out.window_ends == [1.0, 2.0]
    mono = extract_features(model, (left + right) / 2, 24000, window_seconds=1.0)
    torch.testing.assert_close(out.pooled, mono.pooled)
    # the file path and the array path agree
    from hf_culturemert.audio import load_audio

    sf.write(tmp_path / "stereo.wav", stereo, 24000, subtype="FLOAT")
    from_file = extract_features(model, load_audio(tmp_path / "stereo.wav"), 24000, window_seconds=1.0)
    torch.testing.assert_close(from_file.pooled, out.pooled, atol=1e-4, rtol=0)


def test_silence_contract_is_the_same_for_arrays_and_files(tmp_path):
    from hf_culturemert.audio import load_audio

    model = random_model(seed=0)
    zeros = np.zeros(24000, dtype=np.float32)
    sf.write(tmp_path / "silence.wav", zeros, 24000)
    with pytest.raises(ValueError, match="silent"):
        load_audio(tmp_path / "silence.wav")
    with pytest.raises(ValueError, match="silent"):
        extract_features(model, zeros, 24000)
    assert extract_features(model, zeros, 24000, allow_silent=True).window_ends == [1.0]
    assert load_audio(tmp_path / "silence.wav", allow_silent=True).shape == (24000,)


# ---------------------------------------------------------------------------------------------- truncated audio: 8
def test_truncated_mp3_warns_with_both_durations(tmp_path, caplog):
    from hf_culturemert.audio import load_audio

    wav = _tone(tmp_path / "full.wav", 4.0)
    mp3 = tmp_path / "full.mp3"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), str(mp3)], check=True)
    data = mp3.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    with caplog.at_level("WARNING"):
        load_audio(mp3)
    assert "header declares" not in caplog.text
    with caplog.at_level("WARNING"):
        audio = load_audio(cut)
    assert audio.size < 3 * 24000
    assert str(cut) in caplog.text and "header declares" in caplog.text and "truncated" in caplog.text


# -------------------------------------------------------------------------------------------- manifest semantics
def test_manifest_removes_only_what_it_lists(tmp_path):
    folder = tmp_path / "f"
    manifest = OutputManifest(folder, "test")
    manifest.claim(["ours"])
    (folder / "ours").mkdir()
    (folder / "theirs.txt").write_text("keep")
    with pytest.raises(ValueError, match="theirs.txt.*--overwrite"):
        manifest.remove("theirs.txt")
    with pytest.raises(ValueError, match="--overwrite"):
        OutputManifest(folder, "test").check(["theirs.txt"])
    manifest.remove("ours")
    manifest.dissolve()
    assert sorted(p.name for p in folder.iterdir()) == ["theirs.txt"]


def test_model_folders_follow_the_umask(tmp_path):
    from hf_culturemert.export import save_model_folder

    old = os.umask(0o027)
    try:
        save_model_folder(random_model(seed=0), tmp_path / "model")
    finally:
        os.umask(old)
    weights = list((tmp_path / "model").glob("*.safetensors"))
    assert weights and all(stat.S_IMODE(os.stat(p).st_mode) == 0o640 for p in weights)


# ------------------------------------------------------------------------------------------------- evaluate: 5
def test_evaluate_refuses_to_overwrite_results_it_did_not_write(tmp_path, capsys):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "results.md").write_text("my own table")
    code, _, err = run_cli_in_process(capsys, "evaluate", "--models", "some/model", "--datasets", "lyra",
                                      "--output", existing)
    line = one_line_error(err, "evaluate")
    assert code == 1 and str(existing / "results.md") in line and "--overwrite" in line
    assert (existing / "results.md").read_text() == "my own table"
    from hf_culturemert.probing import evaluate_models

    with pytest.raises(ValueError, match="--overwrite"):
        evaluate_models(["some/model"], ["lyra"], existing)


# ------------------------------------------------------------------------------------- model loading errors
def _hub_unreachable_env():
    # a reserved, unresolvable endpoint: the probe fails at once on any machine, online or not
    return {**ENV, "HF_ENDPOINT": "https://hub.invalid", "HF_HUB_CACHE": "/nonexistent-culturemert-cache",
            "HF_HUB_OFFLINE": "0"}


@pytest.mark.parametrize("command", [
    ["embed", "--audio", "{song}", "--model", "m-a-p/MERT-v1-95M"],
    ["embed", "--audio", "{song}"],  # the default model
    ["probe", "--model", "someone/some-model", "--dataset", "lyra"],
    ["evaluate", "--models", "someone/some-model", "--datasets", "lyra", "--output", "{tmp}/ev"],
    ["pretrain", "--model_name_or_path", "someone/some-model", "--train_datasets", "sine:4:0", "--output_dir",
     "{tmp}/run", "--max_steps", "1", "--use_cpu", "true", "--report_to", "none"],
])
def test_hub_unreachable_is_one_line_at_once(tmp_path, command):
    song = _tone(tmp_path / "song.wav")
    args = [part.format(song=song, tmp=tmp_path) for part in command]
    code, _, err = run_cli(*args, env=_hub_unreachable_env(), timeout=120)
    line = one_line_error(err, args[0])
    assert code == 1 and "Hugging Face Hub is unreachable" in line and "tiny-random" in line
    assert "cannot connect to hub.invalid" in line


def test_truncated_safetensors_names_the_file(tmp_path, capsys):
    from hf_culturemert.export import save_model_folder

    folder = save_model_folder(random_model(seed=0), tmp_path / "model")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    code, _, err = run_cli_in_process(capsys, "embed", "--audio", _tone(tmp_path / "song.wav"), "--model", folder)
    line = one_line_error(err, "embed")
    assert code == 1 and str(weights) in line and "truncated or corrupt" in line


# -------------------------------------------------------------------------------------------------- push errors
@pytest.fixture
def model_dir(tmp_path):
    from hf_culturemert.export import save_model_folder

    return save_model_folder(random_model(seed=0), tmp_path / "model", card_text="---\nlicense: mit\n---\n# tiny\n")


def test_push_offline_is_one_line_about_the_network(model_dir, tmp_path):
    env = {**ENV, "HF_ENDPOINT": "https://hub.invalid", "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_x"}
    code, _, err = run_cli("push", "model", model_dir, "--repo-id", "me/x", env=env, timeout=120)
    line = one_line_error(err, "push")
    assert code == 1 and "Hugging Face Hub at https://hub.invalid is unreachable" in line and "--dry-run" in line


def test_push_without_a_token_is_one_line_about_the_token(model_dir, tmp_path):
    import socket

    with socket.socket() as listener:  # something answers at the endpoint, so only the token is missing
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        env = {**ENV, "HF_ENDPOINT": f"http://127.0.0.1:{listener.getsockname()[1]}", "HF_HUB_OFFLINE": "0",
               "HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": ""}
        env.pop("HF_TOKEN_PATH", None)
        code, _, err = run_cli("push", "model", model_dir, "--repo-id", "me/x", env=env, timeout=120)
    line = one_line_error(err, "push")
    assert code == 1 and "no Hugging Face token" in line and "HF_TOKEN" in line


def test_convert_fairseq_on_a_text_file_names_the_file(tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("1234 this is not a checkpoint\n")
    code, _, err = run_cli_in_process(capsys, "convert-fairseq", "--input", text, "--output", tmp_path / "out",
                                      "--trust-pickle")
    line = one_line_error(err, "convert-fairseq")
    assert code == 1 and str(text) in line and "is not a PyTorch/fairseq checkpoint" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["probe", "evaluate"])
def test_malformed_parquet_is_one_line_naming_the_shard(tmp_path, command):
    data = tmp_path / "broken" / "data"
    data.mkdir(parents=True)
    for split in ("train", "validation", "test"):
        (data / f"{split}-00000-of-00001.parquet").write_text("garbage, not parquet")
    (tmp_path / "broken" / "README.md").write_text("---\nlicense: mit\n---\n# broken\n")
    args = (["probe", "--model", "tiny-random", "--dataset", tmp_path / "broken"] if command == "probe" else
            ["evaluate", "--models", "tiny-random", "--datasets", tmp_path / "broken", "--output", tmp_path / "ev"])
    code, _, err = run_cli(*args, "--cache_dir", tmp_path / "cache", env={**ENV, "HF_DATASETS_CACHE": str(tmp_path)})
    line = one_line_error(err, command)
    assert code == 1 and str(data / "train-00000-of-00001.parquet") + " is not a valid parquet file" in line


@pytest.mark.parametrize("command", ["embed", "synthesize", "pretrain", "probe", "evaluate"])
def test_usage_line_names_the_subcommand(command, capsys):
    try:
        cli_main([command, "--help"])
    except SystemExit as done:
        assert done.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: culturemert {command}"), out[:200]


def test_trainer_overrides_are_the_options_that_training_arguments_has():
    import dataclasses

    from transformers import TrainingArguments

    from hf_culturemert.pretraining.options import TRAINER_OVERRIDES, PretrainingOptions

    trainer = {f.name for f in dataclasses.fields(TrainingArguments)}
    assert set(TRAINER_OVERRIDES) == {f.name for f in dataclasses.fields(PretrainingOptions)} & trainer


def test_pretrain_help_shows_the_package_options_first(capsys):
    assert cli_main(["pretrain", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--recipe" in out.split("culturemert pretrain options:")[0]
    own = out.index("--train_datasets")
    assert own < 4000 and "--help-all" in out and "--adam_beta1" not in out
    assert cli_main(["pretrain", "--help-all"]) == 0
    full = capsys.readouterr().out
    assert full.index("--train_datasets") < full.index("--adam_beta1")


def test_wav_header_followed_by_garbage_warns(tmp_path, caplog):
    from hf_culturemert.audio import load_audio

    full = _tone(tmp_path / "full.wav", 4.0)
    data = full.read_bytes()
    broken = tmp_path / "broken.wav"
    header = data[: data.index(b"data") + 8]  # the header declares 4 s of samples ...
    broken.write_bytes(header + np.random.default_rng(0).bytes(24000 * 2))  # ... 1 s of noise follows
    with caplog.at_level("WARNING"):
        load_audio(full)
    assert "header declares" not in caplog.text
    with caplog.at_level("WARNING"):
        load_audio(broken)
    assert str(broken) in caplog.text and "decoded 1.00 s but its header declares 4.00 s" in caplog.text


def test_synthesize_into_a_read_only_folder_is_one_line(tmp_path, capsys, monkeypatch):
    """Root ignores chmod, so the permission error is simulated where the folder is created."""
    original = Path.mkdir

    def refuse(self, *args, **kwargs):
        if "readonly" in str(self):
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert cli_main(["synthesize", "--output_dir", str(tmp_path / "readonly"), "--traditions", "lyra", "--size",
                     "2", "--clip_seconds", "1.5", "--num_proc", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "permission denied creating" in err and "--output-dir" in err


@pytest.mark.parametrize("extension, codec", [("wav", []), ("flac", []), ("mp3", []), ("ogg", ["-c:a", "libvorbis"]),
                                              ("opus", []), ("m4a", [])])
def test_streaming_decode_equals_decoding_in_one_go(tmp_path, extension, codec):
    """load_audio decodes packet by packet into one buffer (memory); the samples equal get_all_samples' exactly,
    for PCM and for lossy codecs (stereo 44.1 kHz in: down-mixed and resampled to 24 kHz)."""
    import shutil

    from torchcodec.decoders import AudioDecoder

    import hf_culturemert.audio as audio

    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg (Debian's `ffmpeg` package) is needed to encode the test files")
    rate, seconds = 44100, 25.3
    t = np.arange(int(rate * seconds)) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 331 * t)], axis=1)
    sf.write(tmp_path / "source.wav", stereo.astype(np.float32), rate)
    path = tmp_path / f"long.{extension}"
    if extension == "wav":
        path = tmp_path / "source.wav"
    else:
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(tmp_path / "source.wav"), *codec, str(path)],
                       check=True)
    whole = AudioDecoder(str(path), sample_rate=24000, num_channels=1).get_all_samples().data[0].numpy()
    streamed = audio.load_audio(path)
    assert abs(streamed.size - 24000 * seconds) < 0.1 * 24000
    np.testing.assert_array_equal(streamed, whole)
