"""The transfer study's models: VGG-ish / Musicnn configs and classes, the mel front end, Auto registration,
remote code in a Python without the package, published parameter counts, AST geometry and its DeiT initialisation."""

import ast as python_ast
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForAudioClassification, DeiTConfig, DeiTModel

import hf_culturemert  # noqa: F401  (registers the Auto classes)
from hf_culturemert.models import (MelSpectrogramFeatureExtractor, MusicnnConfig, MusicnnForAudioTagging,
                                   VGGishConfig, VGGishForAudioTagging)
from hf_culturemert.models.ast import adapt_position_embeddings, init_ast_from_deit, study_ast_config
from hf_culturemert.transfer.models import build_tagger, feature_extractor, save_tagger

pytestmark = pytest.mark.usefixtures("single_thread")
TAGS = ["a", "b", "c", "d", "e"]


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("model_class, config_class, base, per_tag", [
    (VGGishForAudioTagging, VGGishConfig, 3_661_698, 513),
    (MusicnnForAudioTagging, MusicnnConfig, 774_250, 201),
])
def test_published_parameter_counts(model_class, config_class, base, per_tag):
    with torch.device("meta"):
        counts = [_count(model_class(config_class(num_labels=n))) for n in (1, 30, 50)]
    assert counts == [base + per_tag * n for n in (1, 30, 50)]
    assert abs(base - {513: 3.66e6, 201: 0.77e6}[per_tag]) < 0.01e6


def test_ast_published_geometry_and_size():
    from transformers import ASTForAudioClassification

    config = study_ast_config(id2label={i: t for i, t in enumerate(TAGS)})
    assert (config.num_mel_bins, config.max_length, config.frequency_stride, config.time_stride) == (128, 500, 10, 10)
    with torch.device("meta"):
        model = ASTForAudioClassification(config)
    assert model.audio_spectrogram_transformer.embeddings.position_embeddings.shape == (1, 12 * 49 + 2, 768)
    assert 85.5e6 < _count(model) < 86.8e6
    assert config.problem_type == "multi_label_classification" and config.id2label[4] == "e"


def test_mel_front_end_matches_the_study_transform():
    import torchaudio

    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    out = MelSpectrogramFeatureExtractor()(wave, sampling_rate=16000)["input_features"]
    reference = torchaudio.transforms.AmplitudeToDB()(torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=512, hop_length=256, f_min=0.0, f_max=8000.0, n_mels=128)(torch.from_numpy(wave)))
    assert out.shape == (1, 128, 63)
    torch.testing.assert_close(out[0], reference)
    ast_fe = MelSpectrogramFeatureExtractor(time_major=True, mean=-20.0, std=5.0, input_name="input_values")
    torch.testing.assert_close(ast_fe(wave, sampling_rate=16000)["input_values"][0], (reference.T + 20.0) / 10.0)


@pytest.mark.parametrize("bad, message", [
    (np.zeros(100, np.float32), "at least 257"),
    (np.full(1000, np.nan, np.float32), "NaN"),
    (np.zeros((2, 2, 1000), np.float32), "mono"),
])
def test_mel_front_end_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        MelSpectrogramFeatureExtractor()(bad if bad.ndim < 3 else list(bad), sampling_rate=16000)
    with pytest.raises(ValueError, match="expects 16000 Hz"):
        MelSpectrogramFeatureExtractor()(np.zeros(1000, np.float32), sampling_rate=24000)


@pytest.mark.parametrize("kwargs, message", [
    (dict(channels=[]), "channels"), (dict(chunk_frames=8), "chunk_frames"), (dict(dropout=1.0), "dropout"),
])
def test_vggish_config_rejects_impossible_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VGGishConfig(**kwargs)


@pytest.mark.parametrize("problem_type", ["single_label_classification", "regression"])
def test_every_tagger_refuses_a_problem_type_other_than_multi_label(problem_type):
    """The three families alike: a config takes any of transformers' problem types (its common kwargs), the tagger
    refuses all but multi-label (BCE) when it is built, naming config.problem_type."""
    from hf_culturemert.models.mert import MERTConfig, MERTForAudioTagging

    for config_class, model_class in ((VGGishConfig, VGGishForAudioTagging), (MusicnnConfig, MusicnnForAudioTagging),
                                      (MERTConfig, MERTForAudioTagging)):
        config = config_class(problem_type=problem_type)
        with pytest.raises(ValueError, match="config.problem_type must be 'multi_label_classification'"):
            model_class(config)
        assert model_class.config_class().problem_type in (None, "multi_label_classification")


def test_musicnn_config_rejects_impossible_values():
    with pytest.raises(ValueError, match="timbral_heights"):
        MusicnnConfig(num_mel_bins=32)


def test_auto_classes_are_registered(tmp_path):
    model = build_tagger("musicnn", TAGS, size="miniature")
    save_tagger(model, feature_extractor("musicnn", model.config), tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is MusicnnConfig
    assert type(AutoModelForAudioClassification.from_pretrained(tmp_path)) is MusicnnForAudioTagging


REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys, json
    sys.modules["hf_culturemert"] = None  # the package must not be importable here
    import numpy as np, torch
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification
    folder, wave_path, out_path = sys.argv[1:4]
    model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
    extractor = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
    wave = np.load(wave_path)
    inputs = extractor(list(wave), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        logits = model(inputs[extractor.input_name]).logits
    torch.save(logits, out_path)
    print(json.dumps({"model": type(model).__module__, "extractor": type(extractor).__module__,
                      "problem_type": model.config.problem_type, "labels": model.config.id2label}))
    """
)


@pytest.mark.parametrize("family", ["vggish", "musicnn", "ast"])
def test_remote_code_round_trip_without_the_package(tmp_path, family):
    torch.manual_seed(0)
    model = build_tagger(family, TAGS, size="miniature", **({"num_hidden_layers": 1} if family == "ast" else {}))
    model.eval()
    extractor = feature_extractor(family, model.config, **({"mean": -30.0, "std": 12.0} if family == "ast" else {}))
    save_tagger(model, extractor, tmp_path / "model")
    files = {p.name for p in (tmp_path / "model").iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "feature_extraction_mel.py"} <= files
    if family != "ast":
        assert {f"configuration_{family}.py", f"modeling_{family}.py"} <= files
        assert json.loads((tmp_path / "model" / "config.json").read_text())["auto_map"][
            "AutoModelForAudioClassification"] == f"modeling_{family}.{type(model).__name__}"
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    seconds = 2.1
    wave = np.random.default_rng(1).standard_normal((2, int(16000 * seconds))).astype(np.float32) * 0.1
    np.save(tmp_path / "wave.npy", wave)
    (tmp_path / "remote.py").write_text(REMOTE_SCRIPT)
    result = subprocess.run([sys.executable, str(tmp_path / "remote.py"), str(tmp_path / "model"),
                             str(tmp_path / "wave.npy"), str(tmp_path / "out.pt")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["extractor"].startswith("transformers_modules")
    if family != "ast":
        assert info["model"].startswith("transformers_modules")
    assert info["problem_type"] == "multi_label_classification" and info["labels"]["2"] == "c"
    inputs = extractor(list(wave), sampling_rate=16000)
    frames = inputs[extractor.input_name]
    with torch.no_grad():
        expected = model(frames).logits
    torch.testing.assert_close(torch.load(tmp_path / "out.pt", weights_only=True), expected, rtol=0, atol=1e-6)


def test_remote_code_files_import_only_torch_numpy_torchaudio_and_public_transformers():
    from hf_culturemert.models import mel, musicnn, vggish

    allowed = {"torch", "transformers", "numpy", "torchaudio", "typing", "math", "warnings"}
    for package in (mel, musicnn, vggish):
        for path in __import__("pathlib").Path(package.__file__).parent.glob("*_*.py"):
            for node in python_ast.walk(python_ast.parse(path.read_text())):
                if isinstance(node, python_ast.ImportFrom) and node.level == 0:
                    assert node.module.split(".")[0] in allowed, (path.name, node.module)
                    if node.module.startswith("transformers"):
                        assert node.module in {"transformers", "transformers.modeling_outputs"}, (path, node.module)
                elif isinstance(node, python_ast.Import):
                    assert all(a.name.split(".")[0] in allowed for a in node.names), path.name


# ------------------------------------------------------------------------------------------------ DeiT -> AST


def _tiny_deit(seed=0):
    torch.manual_seed(seed)
    config = DeiTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        image_size=64, patch_size=16)  # a 4 x 4 patch grid (DeiT-base-384: 24 x 24)
    model = DeiTModel(config, add_pooling_layer=False)
    with torch.no_grad():  # random, distinct values everywhere (the stock init leaves tokens at zero)
        for p in model.parameters():
            p.normal_()
    return model


def test_deit_to_ast_initialisation_on_a_tiny_random_deit():
    from transformers import ASTForAudioClassification

    deit = _tiny_deit()
    # 32 mel bins x 100 frames, stride 10: 2 x 9 patches -> frequency cropped (4 -> 2), time interpolated (4 -> 9)
    config = study_ast_config(num_labels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, num_mel_bins=32, max_length=100)
    torch.manual_seed(1)
    model = ASTForAudioClassification(config)
    head_before = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    copied = init_ast_from_deit(model, deit)
    backbone, source = model.audio_spectrogram_transformer.state_dict(), deit.state_dict()
    assert set(copied) == set(backbone)
    for key, value in backbone.items():
        if "patch_embeddings.projection.weight" in key or "position_embeddings" in key:
            continue
        torch.testing.assert_close(value, source[key], rtol=0, atol=0, msg=key)
    rgb = source["embeddings.patch_embeddings.projection.weight"]
    torch.testing.assert_close(backbone["embeddings.patch_embeddings.projection.weight"],
                               rgb[:, 0:1] + rgb[:, 1:2] + rgb[:, 2:3])
    deit_pos, ast_pos = source["embeddings.position_embeddings"], backbone["embeddings.position_embeddings"]
    assert ast_pos.shape == (1, 2 + 2 * 9, 32)
    torch.testing.assert_close(ast_pos[:, :2], deit_pos[:, :2], rtol=0, atol=0)  # cls + distillation
    grid = deit_pos[0, 2:].reshape(4, 4, 32)  # rows = frequency (image height), columns = time
    rows = grid[1:3]  # centre crop 4 -> 2 rows
    expected = torch.nn.functional.interpolate(rows.permute(2, 0, 1)[None], size=(2, 9), mode="bilinear",
                                               align_corners=False)[0].permute(1, 2, 0).reshape(18, 32)
    torch.testing.assert_close(ast_pos[0, 2:], expected)
    for key, value in model.classifier.state_dict().items():
        torch.testing.assert_close(value, head_before[key], rtol=0, atol=0)  # head keeps its fresh init
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 100, 32)).logits).all()


def test_position_grid_of_the_same_size_is_unchanged_and_mismatches_are_named():
    from transformers import ASTForAudioClassification

    positions = torch.randn(1, 2 + 16, 8)
    torch.testing.assert_close(adapt_position_embeddings(positions, 4, 4), positions, rtol=0, atol=0)
    wrong = ASTForAudioClassification(study_ast_config(num_labels=2, hidden_size=16, num_hidden_layers=2,
                                                       num_attention_heads=2, intermediate_size=32, num_mel_bins=32,
                                                       max_length=64))
    with pytest.raises(ValueError, match="DeiT"):
        init_ast_from_deit(wrong, _tiny_deit())
