"""The demo's logic (hf_culturemert.demo) without a browser: heads, model fallback, input validation, analysis."""

import json
import re
import runpy
import zlib

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_culturemert.demo import (DEFAULT_MODELS, DemoAnalyzer, DemoArguments, DemoInputError, ProbeHeads,
                                 layer_figure, load_demo_models, model_slug, tradition_name, train_demo_heads,
                                 train_probe_heads)
from hf_culturemert.features import extract_features
from hf_culturemert.testing import sine_wave

TRADITIONS = ["western", "lyra", "makam", "hindustani", "carnatic"]


@pytest.fixture(scope="module")
def space_dir(repo_root):
    return repo_root / "spaces" / "culturemert-demo"


@pytest.fixture(scope="module")
def offline_models(space_dir):
    return load_demo_models(DEFAULT_MODELS, space_dir / "heads", offline=True)


def _wav(path, seconds, frequency=330.0, rate=24000, seed=0):
    sf.write(path, sine_wave(seconds, frequency, rate, seed=seed), rate)
    return path


def test_shipped_heads_fit_the_shipped_stand_ins(offline_models, space_dir):
    assert [m.model_id for m in offline_models] == list(DEFAULT_MODELS)
    for entry in offline_models:
        assert entry.fallback and "could not be loaded" in entry.note
        assert entry.heads is not None, entry.note
        assert entry.heads.traditions == TRADITIONS
        assert entry.heads.compatible_with(entry.model.config)
        assert entry.display_name.endswith("(tiny stand-in)")
        meta = json.loads((space_dir / "heads" / f"tiny--{model_slug(entry.model_id)}" / "heads.json").read_text())
        assert meta["model_id"] == entry.model_id and set(meta["validation_roc_auc"]) == set(TRADITIONS)
    sizes = [p.stat().st_size for p in (space_dir / "heads").rglob("*") if p.is_file()]
    assert max(sizes) < 1_000_000  # small files, fine for a Space repo without LFS


def test_fallback_when_hub_unreachable(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    (entry,) = load_demo_models(["some-org/unreachable-model"], tmp_path, hub_timeout=1.0)
    assert entry.fallback and entry.heads is None
    assert "could not be loaded" in entry.note and "train_heads.py" in entry.note
    assert "Connect" in entry.note  # the reason (connection refused) is shown to the user
    # no heads -> predictions are skipped with a warning, not a crash
    clip = _wav(tmp_path / "clip.wav", 1.0)
    analysis = DemoAnalyzer([entry]).analyze(clip)
    assert analysis.predictions == {} and any("no probe heads" in w for w in analysis.warnings)
    # the stand-in is reproducible from the id
    entry2 = load_demo_models(["some-org/unreachable-model"], tmp_path, offline=True)[0]
    assert torch.equal(next(entry.model.parameters()), next(entry2.model.parameters()))
    assert zlib.crc32(b"some-org/unreachable-model") % 2 ** 31 > 0


def test_train_probe_heads_learns_and_round_trips(tmp_path):
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(80, 3, 8, generator=gen)
    labels = np.stack([(features[:, 2, 0] > 0).numpy(), (features[:, 2, 3] < 0).numpy()], 1).astype(np.float32)
    train = {"a": (features[:60], labels[:60], ["x", "y"]), "b": (features[:60] + 1.0, labels[:60, :1], ["z"])}
    valid = {"a": (features[60:], labels[60:], ["x", "y"])}
    heads = train_probe_heads(train, valid, epochs=100, l2=1e-3, meta={"model_id": "toy"})
    assert heads.meta["validation_roc_auc"]["a"] > 0.9
    heads.save(tmp_path / "heads")
    loaded = ProbeHeads.load(tmp_path / "heads")
    pooled = features[70]
    assert loaded.predict(pooled) == heads.predict(pooled)
    assert set(loaded.predict(pooled)) == {"a", "b"} and set(loaded.predict(pooled)["a"]) == {"x", "y"}
    similarity = loaded.layer_similarity(features[:60].mean(0) + 1.0)  # = the centroid of tradition "b"
    assert similarity.shape == (2, 3) and np.allclose(similarity[1], 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="retrain"):
        loaded.predict(torch.zeros(3, 16))
    with pytest.raises(ValueError, match="labels"):
        train_probe_heads({"a": (features, labels[:10], ["x", "y"])})
    (tmp_path / "heads" / "heads.json").unlink()
    with pytest.raises(FileNotFoundError, match="train_heads.py"):
        ProbeHeads.load(tmp_path / "heads")


def test_heads_from_synthetic_corpus_for_a_local_model(tmp_path):
    from hf_culturemert.data import build_synthetic_corpus
    from hf_culturemert.export import save_model_folder
    from hf_culturemert.testing import random_model, tiny_mert_config

    corpus = build_synthetic_corpus(tmp_path / "corpus", clips_per_split={"train": 4, "validation": 2, "test": 1},
                                    clip_seconds=1.0, traditions=["western", "makam"], num_proc=1, progress=False)
    folder = save_model_folder(random_model(tiny_mert_config(), seed=3), tmp_path / "model")
    heads_dir = tmp_path / "heads"
    model = load_demo_models([str(folder)], heads_dir, offline=True)[0].model  # a local folder loads offline
    heads = train_demo_heads(model, corpus, heads_dir / model_slug(str(folder)), model_id=str(folder), epochs=20)
    assert heads.traditions == ["western", "makam"] and heads.meta["train_clips"] == {"western": 4, "makam": 4}
    (entry,) = load_demo_models([str(folder)], heads_dir, offline=True)
    assert not entry.fallback and entry.heads is not None and entry.heads.traditions == ["western", "makam"]
    # on CPU the demo runs the fused path, with the features of the plain model
    from hf_culturemert.inference import FusedMERT

    assert isinstance(entry.model, FusedMERT)
    wave = torch.randn(30_000)
    torch.testing.assert_close(extract_features(entry.model, wave, 24000, window_seconds=1.0).pooled,
                               extract_features(entry.model.model, wave, 24000, window_seconds=1.0).pooled,
                               rtol=0, atol=1e-5)


def test_analysis_of_a_long_clip(offline_models, tmp_path):
    clip = _wav(tmp_path / "long.flac", 12.0)
    analyzer = DemoAnalyzer(offline_models, DemoArguments(max_seconds=8.0, window_seconds=5.0))
    calls = []
    analysis = analyzer.analyze(clip, progress=lambda value, desc=None: calls.append((value, desc)))
    assert analysis.duration == pytest.approx(12.0, abs=0.05)
    assert analysis.analysed_seconds == pytest.approx(8.0, abs=0.05)
    assert analysis.num_windows == 2  # 5 s + 3 s
    assert any("first 8 s" in w for w in analysis.warnings)
    # progress names the model and counts windows (not batches), monotonically up to 1.0
    values = [value for value, _ in calls]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    descs = [desc for _, desc in calls]
    for index, entry in enumerate(offline_models):
        assert f"Model {index + 1}/3, {entry.display_name}: window 0/2" in descs
        assert f"Model {index + 1}/3, {entry.display_name}: window 2/2" in descs
    # keys are the model ids, stable whether or not a stand-in runs; the flag is a field
    ids = [m.model_id for m in offline_models]
    assert list(analysis.predictions) == ids and list(analysis.timings) == ids
    assert all(analysis.models[m]["stand_in"] is True for m in ids)
    for per in analysis.predictions.values():
        assert list(per) == TRADITIONS
        assert all(0.0 <= p <= 1.0 for tags in per.values() for p in tags.values())
        assert "instrument--Tabla" in per["hindustani"]  # raw tags in the JSON
    first = analysis.layer_similarity[ids[0]]
    assert np.asarray(first["values"]).shape == (5, 3) and first["layers"] == [0, 1, 2]
    json.dumps(analysis.to_json())  # the API returns it as JSON
    figure = layer_figure(analysis, ids[0])
    assert len(figure.axes) == 2  # the heat map + its colour bar
    assert figure.get_figwidth() / figure.get_figheight() < 1.2  # near square: readable at phone width
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()][1] == "Greek folk (Lyra)"


def test_readable_tag_names_and_summary(offline_models, tmp_path):
    from hf_culturemert.demo import _summary_markdown, readable_scores, tag_name

    assert tag_name("instrument--Tabla") == "Tabla (instrument)"
    assert tag_name("usul--Yürüksemai") == "Yürüksemai (usul)"
    assert tag_name("genres--Traditional") == "Traditional (genre)"
    assert tag_name("tala--adi") == "Adi (tala)" and tag_name("no vocals") == "No vocals"
    assert readable_scores({"a--X": 0.1, "b--X": 0.2}) == {"X (a)": 0.1, "X (b)": 0.2}
    assert readable_scores({"x": 0.1, "X": 0.2}) == {"x": 0.1, "X": 0.2}  # a clash keeps the raw tags
    analysis = DemoAnalyzer(offline_models).analyze(_wav(tmp_path / "clip.wav", 3.0))
    summary = _summary_markdown(analysis)
    assert "A head knows only its own tradition's tags" in summary
    for model_id, per in analysis.predictions.items():
        line = next(line for line in summary.splitlines() if line.startswith(f"- **{model_id}**"))
        assert "(tiny stand-in)" in line
        for tradition, tags in per.items():  # one top tag per tradition, not one across traditions
            tag, p = max(tags.items(), key=lambda item: item[1])
            assert f"{tradition_name(tradition)}: {tag_name(tag)} {p:.0%}" in line
        assert "--" not in line.split(":", 1)[1]


@pytest.mark.parametrize("case, expected", [
    ("text", "notes.txt could not be played: it is damaged or not an audio file"),
    ("corrupt", "broken.wav could not be played"), ("empty", "empty"),
    ("silent", "input.wav is silent: nothing can be heard"), ("short", "at least"), ("large", "limit"),
    ("missing", "upload it again"), ("none", "No audio"),
])
def test_unusable_inputs_are_refused_with_reasons(offline_models, tmp_path, case, expected):
    args = DemoArguments(max_file_mb=0.05 if case == "large" else 50.0)
    analyzer = DemoAnalyzer(offline_models[:1], args)
    path = tmp_path / "input.wav"
    if case == "text":
        path = tmp_path / "notes.txt"
        path.write_text("this is not music")
    elif case == "corrupt":
        path = tmp_path / "broken.wav"
        path.write_bytes(b"RIFF" + bytes(range(256)) * 8)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "silent":
        sf.write(path, np.zeros(24000, dtype=np.float32), 24000)
    elif case == "short":
        _wav(path, 0.1)
    elif case == "large":
        _wav(path, 3.0)
    elif case == "none":
        path = None
    with pytest.raises(DemoInputError, match=expected) as info:
        analyzer.analyze(path)
    message = str(info.value)
    assert "\n" not in message and "/tmp/" not in message  # one line, no server paths
    for jargon in ("SingleStreamDecoder", "Invalid argument", "Could not open", "amplitude", "1e-05", "decode"):
        assert jargon not in message


def test_other_sampling_rates_and_formats(offline_models, tmp_path):
    analyzer = DemoAnalyzer(offline_models[:1])
    clip = _wav(tmp_path / "clip44.ogg", 2.0, rate=44100)
    analysis = analyzer.analyze(clip)
    assert analysis.duration == pytest.approx(2.0, abs=0.05) and analysis.num_windows == 1


def test_space_folder_is_a_valid_space(space_dir):
    from hf_culturemert.publish import plan_upload, read_front_matter

    plan = plan_upload("space", space_dir, "culturemert/culturemert-demo")
    assert plan.ok, plan.errors
    names = {p for p, _ in plan.files}
    assert {"app.py", "README.md", "requirements.txt", "train_heads.py"} <= names
    assert not any("__pycache__" in n for n in names)
    header = read_front_matter(space_dir / "README.md")
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert set(DEFAULT_MODELS) <= set(header["models"])
    # the README's screenshots (made by tests/test_space_ui.py with CULTUREMERT_SCREENSHOT_DIR) are shipped and small
    shots = sorted(set(re.findall(r"(screenshots/[\w-]+\.png)", (space_dir / "README.md").read_text())))
    assert shots == ["screenshots/desktop.png", "screenshots/error.png", "screenshots/mobile.png"]
    assert set(shots) <= names
    assert all((space_dir / shot).stat().st_size < 300_000 for shot in shots)


def test_space_app_builds_the_demo(space_dir, monkeypatch):
    monkeypatch.setenv("CULTUREMERT_DEMO_OFFLINE", "1")
    namespace = runpy.run_path(str(space_dir / "app.py"), run_name="space_app")  # not __main__: no launch
    demo = namespace["demo"]
    assert len(demo.analyzer.models) == 3 and all(m.fallback for m in demo.analyzer.models)
    assert "/predict" in [f"/{d.api_name}" for d in demo.fns.values() if d.api_name]


def test_demo_command_help(capsys):
    from hf_culturemert.commands import demo as demo_command

    with pytest.raises(SystemExit) as info:
        demo_command.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--models" in out and "--offline" in out


def test_shipped_stand_ins_are_weights_and_config_only(repo_root, offline_models, tmp_path):
    """One copy of the remote code (the package's): the Space's stand-ins load with the package's classes."""
    from hf_culturemert.demo import save_stand_in
    from hf_culturemert.models.mert.modeling_mert import MERTModel
    from hf_culturemert.testing import random_model, tiny_mert_config

    folders = sorted((repo_root / "spaces" / "culturemert-demo" / "heads").glob("tiny--*/model"))
    assert len(folders) == 3
    assert not list((repo_root / "spaces").rglob("*mert*.py")), "the Space must not ship copies of the remote code"
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors",
                                                            "preprocessor_config.json"]
        assert "auto_map" not in json.loads((folder / "config.json").read_text())
    assert all(type(getattr(m.model, "model", m.model)) is MERTModel for m in offline_models)
    # what train_heads.py --tiny writes: the same layout, and the same weights back
    model = random_model(tiny_mert_config(), seed=5)
    folder = save_stand_in(model, tmp_path / "model")
    assert not list(folder.glob("*.py")) and "auto_map" not in json.loads((folder / "config.json").read_text())
    loaded = load_demo_models([str(folder)], tmp_path, offline=True)[0].model
    torch.testing.assert_close(dict(getattr(loaded, "model", loaded).state_dict()), dict(model.state_dict()),
                               rtol=0, atol=0)
