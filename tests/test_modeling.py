"""MERT model classes: config compatibility, checkpoint layout, parity with transformers' HubertModel, padding,
attention implementations, gradient checkpointing, half precision, Auto registration and Hub remote code."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel

import hf_culturemert  # noqa: F401  (registers the Auto classes)
from hf_culturemert import MERTConfig, MERTForAudioTagging, MERTForPreTraining, MERTModel
from hf_culturemert.export import CONFIG_DIR, reference_config, save_model_folder
from hf_culturemert.testing import hubert_twin, random_model, tiny_mert_config

REFERENCE = CONFIG_DIR.parent.parent.parent.parent.parent / "shared" / "reference" / "mert"


def _reference_file(name):
    """The shared reference folder when present (CI has it), else the copy shipped in the package."""
    shared = REFERENCE / name
    return shared if shared.exists() else CONFIG_DIR / name


def _read_state_dict_table(name):
    path = REFERENCE / name
    if not path.exists():
        pytest.fail(f"reference table {path} missing: the tests need ../shared beside the repository")
    rows = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    reader = csv.DictReader(rows, delimiter="\t")
    return {row["key"]: (json.loads(row["shape"]), row["hf_checkpoint_key"]) for row in reader}


# ------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("name", ["95M", "330M"])
def test_config_accepts_published_fields_unchanged(name):
    raw = json.loads(_reference_file(f"MERT-v1-{name}.config.json").read_text())
    config = MERTConfig(**raw)
    saved = config.to_dict()
    for key, value in raw.items():
        if key in ("_name_or_path", "transformers_version", "torch_dtype", "auto_map", "architectures"):
            continue
        assert key in saved, key
        assert saved[key] == value, (key, saved[key], value)
    assert config.frames_per_second == 75.0 and config.receptive_field == 400


@pytest.mark.parametrize(
    "override, message",
    [
        ({"hidden_size": 30}, "divisible by `num_attention_heads`"),
        ({"conv_kernel": [10, 3]}, "equal length"),
        ({"hidden_dropout": 1.5}, "`hidden_dropout` must be a probability"),
        ({"feat_extract_norm": "batch"}, "`feat_extract_norm`"),
        ({"deepnorm": True}, "deepnorm"),
        ({"num_hidden_layers": 0}, "`num_hidden_layers` must be a positive integer"),
    ],
)
def test_config_rejects_impossible_values(override, message):
    with pytest.raises(ValueError, match=message):
        tiny_mert_config(**override)


# ------------------------------------------------------------------------------------------------ layout


@pytest.mark.parametrize("name", ["95M", "330M"])
def test_parameter_names_and_shapes_match_reference(name):
    expected = _read_state_dict_table(f"state_dict_{name}.tsv")
    with torch.device("meta"):
        model = MERTModel(reference_config(name))
    actual = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert set(actual) == set(expected)
    assert all(actual[k] == expected[k][0] for k in actual)
    if name == "95M":
        assert sum(v.numel() for v in model.state_dict().values()) == 94_371_712


def _legacy_names(state_dict):
    return {k.replace("parametrizations.weight.original0", "weight_g")
             .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state_dict.items()}


@pytest.mark.parametrize("weights_format", ["safetensors-current", "safetensors-legacy", "bin-legacy"])
def test_hub_layout_folder_loads_without_missing_or_unexpected_keys(tmp_path, weights_format):
    model = random_model(tiny_mert_config(), seed=1)
    model.config.save_pretrained(tmp_path)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if "legacy" in weights_format:
        state = _legacy_names(state)
        assert "encoder.pos_conv_embed.conv.weight_g" in state
    if weights_format.startswith("safetensors"):
        save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    else:
        torch.save(state, tmp_path / "pytorch_model.bin")
    loaded, info = MERTModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    x = torch.randn(1, 4000)
    torch.testing.assert_close(loaded.eval()(x).last_hidden_state, model(x).last_hidden_state, rtol=0, atol=0)


def test_plain_load_state_dict_accepts_legacy_weight_norm_names():
    model = random_model(seed=2)
    other = random_model(seed=3)
    result = other.load_state_dict(_legacy_names(model.state_dict()), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(other.state_dict()["encoder.pos_conv_embed.conv.parametrizations.weight.original1"],
                               model.state_dict()["encoder.pos_conv_embed.conv.parametrizations.weight.original1"])


# ------------------------------------------------------------------------------------------------ parity


def _assert_parity(model, samples, batch=2, seed=0):
    hubert = hubert_twin(model)
    torch.manual_seed(seed)
    x = torch.randn(batch, samples)
    with torch.no_grad():
        ours = model(x, output_hidden_states=True)
        ref = hubert(x, output_hidden_states=True)
    assert len(ours.hidden_states) == model.config.num_hidden_layers + 1 == len(ref.hidden_states)
    torch.testing.assert_close(ours.last_hidden_state, ref.last_hidden_state, rtol=0, atol=1e-5)
    # transformers >= 5.16 records a pre-LN encoder's last hidden state *before* the final LayerNorm; the published
    # MERT code (and we) return it after, equal to last_hidden_state. All other states must agree.
    for i, (a, b) in enumerate(zip(ours.hidden_states[:-1], ref.hidden_states[:-1])):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=f"hidden state {i}")
    torch.testing.assert_close(ours.hidden_states[-1], ours.last_hidden_state)
    if not model.config.do_stable_layer_norm:
        torch.testing.assert_close(ours.hidden_states[-1], ref.hidden_states[-1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("stable", [False, True])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_tiny_parity_with_hubert(stable, attn):
    model = random_model(tiny_mert_config(do_stable_layer_norm=stable), seed=4)
    model.config._attn_implementation = attn
    _assert_parity(model, samples=6000)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["95M", "330M"])
def test_reference_config_parity_with_hubert(name):
    torch.manual_seed(0)
    model = MERTModel(reference_config(name)).eval()
    _assert_parity(model, samples=24000, batch=1)


# ------------------------------------------------------------------------------------------------ batching


def test_batched_equals_single_without_padding():
    model = random_model(seed=5)
    x = torch.randn(3, 5000)
    with torch.no_grad():
        batched = model(x).last_hidden_state
        singles = torch.cat([model(x[i : i + 1]).last_hidden_state for i in range(3)])
    torch.testing.assert_close(batched, singles, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("config", [tiny_mert_config(), tiny_mert_config(do_stable_layer_norm=True),
                                    tiny_mert_config(feat_extract_norm="layer")])
def test_padded_batch_equals_each_clip_alone(config):
    model = random_model(config, seed=6)
    lengths = [9000, 4321, 1000]
    clips = [torch.randn(n) for n in lengths]
    batch = torch.zeros(len(clips), max(lengths))
    mask = torch.zeros_like(batch, dtype=torch.long)
    for i, clip in enumerate(clips):
        batch[i, : len(clip)] = clip
        mask[i, : len(clip)] = 1
    with torch.no_grad():
        out = model(batch, attention_mask=mask, output_hidden_states=True)
        for i, clip in enumerate(clips):
            alone = model(clip[None], output_hidden_states=True)
            frames = alone.last_hidden_state.shape[1]
            assert int(out.frame_mask[i].sum()) == frames
            for layer, (a, b) in enumerate(zip(out.hidden_states, alone.hidden_states)):
                torch.testing.assert_close(a[i, :frames], b[0], rtol=1e-4, atol=1e-4, msg=f"clip {i} layer {layer}")


def test_published_behaviour_differs_on_padding_and_ours_does_not():
    """HubertModel (= published MERT) lets the first-layer GroupNorm see the padding; this is the bug we fix."""
    model = random_model(seed=7)
    hubert = hubert_twin(model)
    clip = torch.randn(3000)
    batch = torch.zeros(2, 9000)
    batch[0, :3000] = clip
    batch[1] = torch.randn(9000)
    mask = torch.zeros(2, 9000, dtype=torch.long)
    mask[0, :3000] = 1
    mask[1] = 1
    with torch.no_grad():
        alone = model(clip[None]).last_hidden_state[0]
        frames = alone.shape[0]
        ours = model(batch, attention_mask=mask).last_hidden_state[0, :frames]
        published = hubert(batch, attention_mask=mask).last_hidden_state[0, :frames]
    assert (published - alone).abs().max() > 1e-2
    torch.testing.assert_close(ours, alone, rtol=1e-4, atol=1e-4)


def test_all_ones_attention_mask_equals_no_mask():
    model = random_model(seed=8)
    x = torch.randn(2, 4000)
    with torch.no_grad():
        torch.testing.assert_close(model(x, attention_mask=torch.ones_like(x, dtype=torch.long)).last_hidden_state,
                                   model(x).last_hidden_state)


# ------------------------------------------------------------------------------------------------ attention etc.


def test_attn_implementation_is_honoured_and_eager_returns_weights(tmp_path):
    save_model_folder(random_model(seed=9), tmp_path)
    eager = MERTModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    sdpa = MERTModel.from_pretrained(tmp_path, attn_implementation="sdpa").eval()
    assert eager.config._attn_implementation == "eager" and sdpa.config._attn_implementation == "sdpa"
    x = torch.randn(2, 5000)
    with torch.no_grad():
        a = eager(x, output_attentions=True)
        b = sdpa(x)
    torch.testing.assert_close(a.last_hidden_state, b.last_hidden_state, rtol=1e-5, atol=1e-5)
    assert len(a.attentions) == 2 and a.attentions[0].shape == (2, 4, 15, 15)
    torch.testing.assert_close(a.attentions[0].sum(-1), torch.ones(2, 4, 15))


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    x = torch.randn(2, 4000)
    grads = []
    for checkpointing in (False, True):
        model = random_model(seed=10).train()
        if checkpointing:
            # transformers >= 5.2x renames it (the old name warns and goes away in v6); both reach our hook
            getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
            assert model.encoder.gradient_checkpointing
        model(x).last_hidden_state.pow(2).mean().backward()
        grads.append(model.feature_projection.projection.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inference_is_close_to_fp32(dtype):
    model = random_model(seed=11)
    x = torch.randn(1, 8000)
    with torch.no_grad():
        ref = model(x).last_hidden_state
        half = model.to(dtype)(x.to(dtype)).last_hidden_state
    assert half.dtype == dtype
    cos = torch.nn.functional.cosine_similarity(half.float().flatten(), ref.flatten(), dim=0)
    assert cos > 0.99


def test_short_or_malformed_input_to_model_raises():
    model = random_model()
    with pytest.raises(ValueError, match="fewer than one frame"):
        model(torch.randn(1, 399))
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(1, 1, 4000))


# ------------------------------------------------------------------------------------------------ heads


def test_heads_share_backbone_and_save_load(tmp_path):
    config = tiny_mert_config(num_labels=5, use_weighted_layer_sum=True)
    tagger = random_model(config, seed=12, model_class=MERTForAudioTagging)
    save_model_folder(tagger, tmp_path / "tagger")
    again = AutoModel.from_pretrained(tmp_path / "tagger")  # the backbone alone, from a head checkpoint
    torch.testing.assert_close(again.feature_projection.projection.weight,
                               tagger.mert.feature_projection.projection.weight)
    reloaded = MERTForAudioTagging.from_pretrained(tmp_path / "tagger").eval()
    x = torch.randn(2, 5000)
    labels = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 1]])
    out = reloaded(x, labels=labels)
    assert out.logits.shape == (2, 5) and torch.isfinite(out.loss)
    torch.testing.assert_close(out.logits, tagger(x).logits)
    pretrain = MERTForPreTraining.from_pretrained(tmp_path / "tagger")
    assert pretrain.final_proj.out_features == config.num_codebooks * config.codebook_dim


# ------------------------------------------------------------------------------------------------ Auto + Hub


def test_auto_classes_are_registered_without_remote_code(tmp_path):
    save_model_folder(random_model(seed=13), tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    model = AutoModel.from_pretrained(tmp_path)
    assert type(config) is MERTConfig and type(model) is MERTModel


def test_saved_folder_layout_and_feature_extractor(tmp_path):
    save_model_folder(random_model(seed=14), tmp_path, card_text="# card")
    names = set(os.listdir(tmp_path))
    assert {"config.json", "model.safetensors", "configuration_mert.py", "modeling_mert.py",
            "preprocessor_config.json", "README.md"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    reference = json.loads(_reference_file("MERT-v1-95M.preprocessor_config.json").read_text())
    for key, value in reference.items():
        assert saved[key] == value, key
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"]["AutoModel"] == "modeling_mert.MERTModel"
    assert set(load_file(tmp_path / "model.safetensors")) == set(random_model().state_dict())


REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys, json
    sys.modules["hf_culturemert"] = None  # the package must not be importable here
    import torch
    from transformers import AutoFeatureExtractor, AutoModel
    folder = sys.argv[1]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    x = torch.load(sys.argv[2], weights_only=True)
    with torch.no_grad():
        out = model(x, output_hidden_states=True)
    torch.save({"last": out.last_hidden_state, "hidden": torch.stack(out.hidden_states)}, sys.argv[3])
    print(json.dumps({"module": type(model).__module__, "extractor": type(extractor).__name__,
                      "sr": extractor.sampling_rate}))
    """
)


def run_remote_code_check(folder, tmp_path, python=sys.executable, env=None):
    """Load ``folder`` with trust_remote_code in a fresh interpreter where hf_culturemert cannot be imported."""
    script = tmp_path / "remote_check.py"
    script.write_text(REMOTE_SCRIPT)
    x = torch.randn(2, 6000)
    torch.save(x, tmp_path / "x.pt")
    result = subprocess.run([python, str(script), str(folder), str(tmp_path / "x.pt"), str(tmp_path / "out.pt")],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    return x, info, torch.load(tmp_path / "out.pt", weights_only=True)


def test_remote_code_loads_without_the_package(tmp_path):
    model = random_model(seed=15)
    save_model_folder(model, tmp_path / "model")
    x, info, out = run_remote_code_check(tmp_path / "model", tmp_path)
    assert info["module"].startswith("transformers_modules") and info["extractor"] == "Wav2Vec2FeatureExtractor"
    assert info["sr"] == 24000
    with torch.no_grad():
        ref = model(x, output_hidden_states=True)
    torch.testing.assert_close(out["last"], ref.last_hidden_state, rtol=0, atol=0)
    assert out["hidden"].shape[0] == 3  # output_hidden_states works (None with the published code on >= 5.16)
    torch.testing.assert_close(out["hidden"], torch.stack(ref.hidden_states), rtol=0, atol=0)


def test_remote_code_files_import_only_torch_and_public_transformers():
    import ast
    from hf_culturemert.export import MERT_DIR, REMOTE_CODE_FILES

    for name in REMOTE_CODE_FILES:
        tree = ast.parse((MERT_DIR / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                root = node.module.split(".")[0]
                assert root in {"torch", "transformers", "math", "dataclasses", "typing"}, (name, node.module)
                if root == "transformers":
                    assert node.module in {"transformers", "transformers.modeling_outputs"}, (name, node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in {"torch", "math", "os", "logging"}, (name, alias.name)


OLD_TRANSFORMERS = "4.47.1"


@pytest.mark.slow
def test_remote_code_on_transformers_4x_in_throwaway_environment(tmp_path):
    """Install transformers 4.47.1 (+ a matching huggingface_hub and tokenizers) into a throwaway target directory
    put in front of the current torch, and load the folder there with trust_remote_code."""
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", "--target",
         str(target), f"transformers=={OLD_TRANSFORMERS}", "huggingface_hub==0.26.5", "tokenizers==0.21.0"],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    model = random_model(seed=16)
    save_model_folder(model, tmp_path / "model")
    env = dict(os.environ, PYTHONPATH=str(target), HF_MODULES_CACHE=str(tmp_path / "modules"))
    version = subprocess.run([sys.executable, "-c", "import transformers; print(transformers.__version__)"],
                             capture_output=True, text=True, env=env)
    assert version.stdout.strip() == OLD_TRANSFORMERS, version.stderr[-2000:]
    x, info, out = run_remote_code_check(tmp_path / "model", tmp_path, env=env)
    with torch.no_grad():
        ref = model(x, output_hidden_states=True)
    torch.testing.assert_close(out["last"], ref.last_hidden_state, rtol=0, atol=1e-6)
    assert out["hidden"].shape[0] == 3
