"""CPU inference backends (``hf_culturemert.backends``): ONNX Runtime and OpenVINO exports against eager PyTorch
(every hidden state, padded and unpadded, dynamic batch and length), the export cache, the rule of ``auto``, and the
one-line refusal when a runtime asked for is missing. The runtimes come with the ``test`` extra: these tests run."""

import importlib.util
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from hf_culturemert import backends
from hf_culturemert.backends import BackendUnavailable, for_inference, resolve_backend
from hf_culturemert.cli import main as cli_main
from hf_culturemert.inference import EXPORT_CACHE_ENV, SCRATCH_MARKER, ExportedMERT, FusedMERT
from hf_culturemert.testing import random_model, tiny_mert_config

pytestmark = pytest.mark.usefixtures("single_thread")
RUNTIMES = ("onnxruntime", "openvino")


@pytest.fixture(autouse=True)
def export_cache(tmp_path_factory, monkeypatch):
    """Exports go to one temporary folder per module (never ~/.cache)."""
    folder = tmp_path_factory.getbasetemp() / "exports"
    monkeypatch.setenv(EXPORT_CACHE_ENV, str(folder))
    return folder


@pytest.fixture(scope="module")
def model():
    return random_model(tiny_mert_config(), seed=7)


def _hide(monkeypatch, *packages):
    """Make ``packages`` look uninstalled to the backend checks."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in packages else real(name, *a))


def _eager_states(model, x, mask=None):
    with torch.no_grad():
        return model(x, attention_mask=mask, output_hidden_states=True).hidden_states


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_export_matches_eager_padded_unpadded_and_any_length(model, runtime):
    exported = for_inference(model, runtime)
    assert isinstance(exported, ExportedMERT) and exported.backend == runtime and exported.config is model.config
    num_states = model.config.num_hidden_layers + 1
    torch.manual_seed(0)
    # unpadded, no mask (probing's batches of full windows)
    x = torch.randn(3, 30_000)
    states = exported(x, output_hidden_states=True, return_dict=True).hidden_states
    assert len(states) == num_states
    for got, want in zip(states, _eager_states(model, x)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    # padded: every state of every clip as when it runs alone; another batch size and length (dynamic axes)
    lengths = [41_000, 26_500, 9_000, 41_000]
    x = torch.randn(len(lengths), max(lengths))
    mask = (torch.arange(x.shape[1])[None] < torch.tensor(lengths)[:, None]).long()
    states = exported(x, attention_mask=mask, output_hidden_states=True, return_dict=True).hidden_states
    for got, want in zip(states, _eager_states(model, x, mask)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    frames = model._get_feat_extract_output_lengths(torch.tensor(lengths))
    for row, length in enumerate(lengths):
        alone = _eager_states(model, x[row:row + 1, :length])
        for got, want in zip(states, alone):
            torch.testing.assert_close(got[row:row + 1, : int(frames[row])], want, rtol=0, atol=1e-5)
    # the tuple form and the last state
    last, hidden = exported(x, attention_mask=mask, return_dict=False)
    assert torch.equal(last, hidden[-1])
    with pytest.raises(ValueError, match="at least one frame"):
        exported(torch.randn(1, 100))


def test_export_is_cached_by_the_weights_fingerprint(model, export_cache, monkeypatch):
    first = for_inference(model, "onnxruntime")
    folders = {p.name for p in export_cache.iterdir() if p.name.startswith("onnxruntime--")}

    def no_export(*args):
        raise AssertionError("exported again although the same weights are cached")

    monkeypatch.setattr("hf_culturemert.inference._export", no_export)
    assert for_inference(model, "onnxruntime") is first  # the same model again: the same compiled session
    backends._LAST_EXPORTED.clear()
    again = for_inference(model, "onnxruntime")
    assert again.graph == first.graph and again is not first
    assert for_inference(again, "onnxruntime") is again  # already wrapped: unchanged
    other = random_model(tiny_mert_config(), seed=8)
    with pytest.raises(AssertionError, match="exported again"):  # other weights: another key, another export
        for_inference(other, "onnxruntime")
    assert {p.name for p in export_cache.iterdir() if p.name.startswith("onnxruntime--")} == folders
    assert not model.training  # the export leaves the model in the mode it found it


def test_export_cache_keeps_the_most_recently_used(tmp_path, monkeypatch):
    monkeypatch.setenv(EXPORT_CACHE_ENV, str(tmp_path))
    monkeypatch.setattr("hf_culturemert.inference.EXPORT_CACHE_KEEP", 1)
    (tmp_path / "notes--mine").mkdir()  # not an export (no export.json): never removed
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name in (f"openvino--0123.tmp-{dead.pid}",  # left by an export killed mid-way: removed
                 f"openvino--4567.tmp-{os.getpid()}",  # a live process's export in progress: kept
                 "notes--mine.tmp-x"):  # not a pid: kept
        (tmp_path / name).mkdir()
        (tmp_path / name / SCRATCH_MARKER).touch()
    (tmp_path / f"notes--mine.tmp-{dead.pid}").mkdir()  # the process is gone, but the export did not make it: kept
    first = for_inference(random_model(tiny_mert_config(), seed=10), "onnxruntime")
    second = for_inference(random_model(tiny_mert_config(), seed=11), "onnxruntime")
    assert second.graph.is_file() and not first.graph.exists() and (tmp_path / "notes--mine").is_dir()
    assert sorted(p.name for p in tmp_path.glob("*.tmp-*")) == sorted([f"openvino--4567.tmp-{os.getpid()}",
                                                                       "notes--mine.tmp-x",
                                                                       f"notes--mine.tmp-{dead.pid}"])


def test_auto_rule(model, monkeypatch):
    # toy models skip the export (its seconds would never pay back): fused where oneDNN exists
    assert resolve_backend("auto", model) == ("fused" if "fused" in backends.installed_backends() else "torch")
    assert isinstance(for_inference(model), FusedMERT)
    # half precision (or a GPU) runs PyTorch whatever is installed
    assert resolve_backend("auto", random_model(tiny_mert_config(), seed=7).to(torch.bfloat16)) == "torch"
    monkeypatch.setattr("hf_culturemert.inference.onednn_available", lambda: False)
    _hide(monkeypatch, "openvino", "onnxruntime")
    monkeypatch.setattr(backends, "AUTO_MIN_PARAMETERS", 0)
    assert resolve_backend("auto", model) == "torch"  # only one engine: nothing to measure


def test_auto_measures_every_installed_engine_once_and_caches_the_fastest(model, monkeypatch, export_cache):
    monkeypatch.setattr(backends, "AUTO_MIN_PARAMETERS", 0)  # the tiny model now counts as a real one
    monkeypatch.setitem(backends.AUTO_PROBE, "batch", 2)
    (export_cache / backends.AUTO_CACHE_FILE).unlink(missing_ok=True)
    entry = backends.measured_choice(model)  # real engines, real timings
    installed = backends.installed_backends()
    assert set(entry["seconds"]) == set(installed) and all(0 < t < 60 for t in entry["seconds"].values())
    assert entry["choice"] == min(entry["seconds"], key=entry["seconds"].get)
    assert resolve_backend("auto", model) == entry["choice"]

    def not_again(*args):
        raise AssertionError("measured again although the choice is cached")

    monkeypatch.setattr(backends, "_time_engines", not_again)
    another_weights = random_model(tiny_mert_config(), seed=8)  # same architecture: the cached choice holds
    assert resolve_backend("auto", another_weights) == entry["choice"]
    # the lowest time wins, whatever the engine; another thread count is another measurement
    fake = {"torch": 3.0, "fused": 2.0, "onnxruntime": 1.5, "openvino": 1.0}
    for winner in ("onnxruntime", "fused"):
        monkeypatch.setattr(backends, "_time_engines", lambda backbone, names: {n: fake[n] for n in names})
        if winner == "fused":
            _hide(monkeypatch, "openvino", "onnxruntime")
        else:
            _hide(monkeypatch, "openvino")
        assert resolve_backend("auto", model) == winner
    monkeypatch.setattr(backends, "_time_engines", not_again)
    assert resolve_backend("auto", model) == "fused"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        with pytest.raises(AssertionError, match="measured again"):
            resolve_backend("auto", model)
    finally:
        torch.set_num_threads(threads)
    # a corrupt cache file is measured over, not a crash
    (export_cache / backends.AUTO_CACHE_FILE).write_text("{not json")
    monkeypatch.setattr(backends, "_time_engines", lambda backbone, names: {n: fake[n] for n in names})
    assert resolve_backend("auto", model) == "fused"


def test_auto_falls_back_when_the_export_fails(model, monkeypatch, caplog):
    monkeypatch.setattr(backends, "AUTO_MIN_PARAMETERS", 0)
    monkeypatch.setattr(backends, "measured_choice", lambda backbone: {"choice": "openvino"})

    def broken(*args):
        raise RuntimeError("tracing failed")

    monkeypatch.setattr("hf_culturemert.inference._export", broken)
    fresh = random_model(tiny_mert_config(), seed=9)
    assert isinstance(for_inference(fresh), FusedMERT)
    assert "tracing failed" in caplog.text
    with pytest.raises(RuntimeError, match="tracing failed"):  # asked for explicitly: the error, not a fallback
        for_inference(fresh, "openvino")


def test_auto_measurement_leaves_out_an_engine_that_cannot_export(monkeypatch, export_cache, caplog):
    monkeypatch.setattr(backends, "AUTO_MIN_PARAMETERS", 0)
    monkeypatch.setitem(backends.AUTO_PROBE, "batch", 2)
    (export_cache / backends.AUTO_CACHE_FILE).unlink(missing_ok=True)

    def broken(*args):
        raise RuntimeError("tracing failed")

    monkeypatch.setattr("hf_culturemert.inference._export", broken)
    entry = backends.measured_choice(random_model(tiny_mert_config(), seed=12))
    assert set(entry["seconds"]) == set(backends.installed_backends()) - {"onnxruntime", "openvino"}
    assert entry["choice"] in ("fused", "torch") and "leaving it out" in caplog.text


def test_missing_runtime_asked_for_explicitly_is_one_line(model, monkeypatch, capsys, tmp_path):
    _hide(monkeypatch, "openvino", "onnx")
    with pytest.raises(BackendUnavailable, match=r"pip install 'hf-culturemert\[openvino\]'") as missing:
        for_inference(model, "openvino")
    assert "\n" not in str(missing.value)
    with pytest.raises(BackendUnavailable, match=r"needs onnx, not installed: .*\[onnx\]"):
        for_inference(model, "onnxruntime")
    with pytest.raises(BackendUnavailable, match="float32 models on CPU; this one is torch.bfloat16 on cpu"):
        for_inference(random_model(tiny_mert_config(), seed=7).to(torch.bfloat16), "fused")
    with pytest.raises(ValueError, match="--backend 'tensorrt': choose one of auto, torch"):
        resolve_backend("tensorrt", model)
    import soundfile as sf

    sf.write(tmp_path / "a.wav", torch.randn(24_000).numpy() * 0.1, 24_000)
    code = cli_main(["embed", "--audio", str(tmp_path / "a.wav"), "--model", "tiny-random", "--backend", "openvino"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("culturemert embed: error: --backend openvino needs openvino, not installed")


def test_embed_and_probing_features_equal_across_backends(tmp_path):
    """``culturemert embed --backend X`` and probing's extraction give the eager features to 1e-5."""
    import soundfile as sf

    from hf_culturemert.probing import ProbeArguments
    from hf_culturemert.probing.features import cached_split_features, model_fingerprint
    from hf_culturemert.testing import write_tone_corpus

    wave = 0.3 * torch.sin(torch.arange(3 * 24_000) * 0.05) + 0.05 * torch.randn(3 * 24_000)
    sf.write(tmp_path / "song.wav", wave.numpy(), 24_000)
    saved = {}
    for backend in ("torch", *RUNTIMES):
        assert cli_main(["embed", "--audio", str(tmp_path / "song.wav"), "--model", "tiny-random", "--window_seconds",
                         "1.25", "--output_dir", str(tmp_path / backend), "--backend", backend]) == 0
        saved[backend] = load_file(tmp_path / backend / "song.safetensors")
    for backend in RUNTIMES:
        for key in ("window_features", "pooled"):
            torch.testing.assert_close(saved[backend][key], saved["torch"][key], rtol=0, atol=1e-5)

    corpus = write_tone_corpus(tmp_path / "tones", counts=(2, 2, 3), seconds=1.5)
    model = random_model(tiny_mert_config(), seed=3)
    fingerprint = model_fingerprint(model)
    columns = {}
    for backend in ("torch", "openvino"):
        args = ProbeArguments(window_seconds=1.0, backend=backend, cache_dir=str(tmp_path / f"cache-{backend}"),
                              progress=False, extraction_batch_size=4)
        columns[backend], _ = cached_split_features(model, fingerprint, str(corpus), "test", args,
                                                    torch.device("cpu"), torch.float32)
    assert columns["torch"]["features"].shape[1] == model.config.num_hidden_layers + 1
    torch.testing.assert_close(torch.from_numpy(columns["openvino"]["features"]),
                               torch.from_numpy(columns["torch"]["features"]), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="`backend` must be one of"):
        ProbeArguments(backend="cuda")


def test_the_lambda_sweep_passes_its_backend_to_probing(monkeypatch):
    from hf_culturemert.merging import sweep
    from hf_culturemert.merging.recipe import MergeRecipe

    seen = {}
    monkeypatch.setattr(sweep, "probing_score_fn", lambda datasets, **kwargs: seen.update(kwargs))
    sweep.recipe_score_fn(MergeRecipe(eval_datasets=["makam"], eval_backend="onnxruntime"))
    assert seen["backend"] == "onnxruntime"
    seen.clear()
    sweep.recipe_score_fn(MergeRecipe(eval_datasets=["makam"]))  # unset: probing's default (auto)
    assert "backend" not in seen and "progress" in seen


def test_extraction_keeps_no_autograd_graph(model):
    """Eager extraction builds no autograd graph (kept across batches, it grew ~4 GB per batch of 95M windows)."""
    from hf_culturemert.features import extract_features

    assert any(p.requires_grad for p in model.parameters())
    out = extract_features(for_inference(model, "torch"), torch.randn(30_000), 24_000, window_seconds=0.5)
    assert out.window_features.grad_fn is None and not out.pooled.requires_grad
