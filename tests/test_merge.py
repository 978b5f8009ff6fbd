"""Model merging: exact task arithmetic (CultureMERT-TA), the other methods against direct computations, input
formats (sharded, .bin, legacy weight norm, LoRA adapters, pre-training heads), strict checks, streaming writer."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from hf_culturemert.merging import (ARCHITECTURE_FIELDS, MergeRecipe, SafetensorsStreamWriter, dare_seed,
                                    merge_models, run_merge)
from hf_culturemert.merging.checkpoints import HEADS_FILE
from hf_culturemert.models.mert.modeling_mert import MERTForPreTraining, MERTModel
from hf_culturemert.testing import random_model, tiny_mert_config

LAMBDA = 0.2


def pico_config(**overrides):
    values = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=[8] * 7,
                  num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, codebook_size=16, codebook_dim=8,
                  num_codebooks=2, cqt_bins=12)
    values.update(overrides)
    return tiny_mert_config(**values)


def write_checkpoint(folder, config, state, fmt="safetensors"):
    """A model folder (config.json + weights) in one of the formats the merger must read."""
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(folder)
    state = {k: v.contiguous() for k, v in state.items()}
    if fmt == "safetensors":
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    elif fmt == "bin":
        torch.save(state, folder / "pytorch_model.bin")
    elif fmt == "sharded":
        keys = sorted(state)
        shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
        weight_map = {}
        for name, shard_keys in shards.items():
            save_file({k: state[k] for k in shard_keys}, str(folder / name), metadata={"format": "pt"})
            weight_map.update({k: name for k in shard_keys})
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    else:
        raise AssertionError(fmt)
    return folder


def legacy_names(state):
    renamed = {}
    for key, value in state.items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        renamed[key] = value
    return renamed


def perturbed(state, seed, scale=0.05):
    generator = torch.Generator().manual_seed(seed)
    return {k: v + scale * torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in state.items()}


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """A base saved with save_pretrained and four 'single-culture' checkpoints around it."""
    root = tmp_path_factory.mktemp("family")
    config = pico_config()
    base_model = random_model(config, seed=0)
    base_model.save_pretrained(root / "base", safe_serialization=True)
    base = {k: v.detach().clone() for k, v in base_model.state_dict().items()}
    models, states = [], []
    for index in range(4):
        state = perturbed(base, seed=index + 1)
        models.append(str(write_checkpoint(root / f"culture{index}", config, state)))
        states.append(state)
    return dict(root=root, config=config, base=base, base_path=str(root / "base"), models=models, states=states)


def expected_task_arithmetic(base, states, weight):
    return {k: base[k] + weight * sum(s[k] - base[k] for s in states) for k in base}


def assert_state_close(actual, expected, atol=1e-6):
    assert set(actual) == set(expected)
    for key in expected:
        assert actual[key].shape == expected[key].shape, key
        torch.testing.assert_close(actual[key].float(), expected[key].float(), atol=atol, rtol=0, msg=key)


# ----------------------------------------------------------------------------------------------------------------
# task arithmetic = CultureMERT-TA
# ----------------------------------------------------------------------------------------------------------------


def test_task_arithmetic_is_exact_for_every_tensor(family, tmp_path):
    result = merge_models(family["base_path"], family["models"], method="task_arithmetic", weight=LAMBDA,
                          output=tmp_path / "ta", progress=False)
    merged = load_file(str(tmp_path / "ta" / "model.safetensors"))
    assert_state_close(merged, expected_task_arithmetic(family["base"], family["states"], LAMBDA))
    assert all(v.dtype == torch.float32 for v in merged.values())
    assert len(result.merged_keys) == len(family["base"]) and not result.copied_keys
    # the all-in-memory mode and the no-output (state dict) mode give the very same numbers
    in_memory = merge_models(family["base_path"], family["models"], weight=LAMBDA, streaming=False, progress=False)
    for key, value in merged.items():
        assert torch.equal(in_memory.state_dict[key], value), key
    # per-model weights: lambda * w_i
    weighted = merge_models(family["base_path"], family["models"][:2], weight=0.5, weights=[1.0, -2.0],
                            progress=False).state_dict
    base, s = family["base"], family["states"]
    assert_state_close(weighted, {k: base[k] + 0.5 * ((s[0][k] - base[k]) - 2.0 * (s[1][k] - base[k]))
                                  for k in base})


def test_output_keeps_the_base_dtype_and_dtype_override(family, tmp_path):
    config, base = family["config"], family["base"]
    base16 = write_checkpoint(tmp_path / "base_bf16", config, {k: v.to(torch.bfloat16) for k, v in base.items()})
    result = merge_models(base16, family["models"][:2], weight=LAMBDA, output=tmp_path / "out", progress=False)
    merged = load_file(str(result.output / "model.safetensors"))
    base32 = {k: v.to(torch.bfloat16).float() for k, v in base.items()}
    expected = {k: (base32[k] + LAMBDA * sum(s[k] - base32[k] for s in family["states"][:2])).to(torch.bfloat16)
                for k in base}
    exact = total = 0
    for key in expected:  # fp32 arithmetic, one rounding at the end: equal up to the summation order (1 ulp)
        assert merged[key].dtype == torch.bfloat16
        torch.testing.assert_close(merged[key].float(), expected[key].float(), atol=1e-6, rtol=2**-7, msg=key)
        exact += int((merged[key] == expected[key]).sum())
        total += merged[key].numel()
    assert exact / total > 0.99
    assert json.loads((result.output / "config.json").read_text())["dtype"] == "bfloat16"
    half = merge_models(family["base_path"], family["models"][:1], weight=LAMBDA, dtype="float16", progress=False)
    assert all(v.dtype == torch.float16 for v in half.state_dict.values())


# ----------------------------------------------------------------------------------------------------------------
# the other methods, against direct computations written here (not peft's)
# ----------------------------------------------------------------------------------------------------------------


def _trim(tau, density):
    k = int(density * tau.numel())
    keep = torch.zeros(tau.numel(), dtype=torch.bool)
    keep[tau.abs().flatten().argsort(descending=True)[:k]] = True
    return tau * keep.view(tau.shape)


def _disjoint_mean(taus, weights):
    stacked = torch.stack(taus)
    elected = torch.where(stacked.sum(0) >= 0, 1.0, -1.0)
    agree = stacked.sign() == elected
    weighted = torch.stack([w * t for w, t in zip(weights, taus)])
    return (weighted * agree).sum(0) / agree.sum(0).clamp(min=1)


def _dare(taus, density, seed, key):
    torch.manual_seed(dare_seed(seed, key))
    return [t * torch.bernoulli(torch.full_like(t, density)) / density for t in taus]


def direct_merge(method, base, states, weight, density, seed=0):
    out = {}
    for key, b in base.items():
        taus = [s[key] - b for s in states]
        weights = [weight] * len(taus)
        if method == "ties":
            delta = _disjoint_mean([_trim(t, density) for t in taus], weights)
        elif method == "magnitude_prune":
            delta = sum(weight * _trim(t, density) for t in taus)
        elif method == "dare_linear":
            delta = sum(weight * t for t in _dare(taus, density, seed, key))
        elif method == "dare_ties":
            delta = _disjoint_mean(_dare(taus, density, seed, key), weights)
        elif method == "average":
            delta = sum(taus) / len(taus)
        out[key] = b + delta
    return out


@pytest.mark.parametrize("method,density", [("ties", 0.3), ("magnitude_prune", 0.5), ("dare_linear", 0.4),
                                            ("dare_ties", 0.6), ("average", None)])
def test_methods_match_direct_computation(family, method, density):
    result = merge_models(family["base_path"], family["models"], method=method, weight=0.7, density=density,
                          seed=3, progress=False)
    expected = direct_merge(method, family["base"], family["states"], 0.7, density, seed=3)
    assert_state_close(result.state_dict, expected, atol=1e-5)


def test_dare_is_seeded_and_drops_the_requested_fraction(family):
    kwargs = dict(method="dare_linear", weight=1.0, density=0.25, progress=False)
    first = merge_models(family["base_path"], family["models"][:1], seed=7, **kwargs).state_dict
    again = merge_models(family["base_path"], family["models"][:1], seed=7, **kwargs).state_dict
    other = merge_models(family["base_path"], family["models"][:1], seed=8, **kwargs).state_dict
    key = "encoder.pos_conv_embed.conv.parametrizations.weight.original1"
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first[key], other[key])
    # one model: each delta element is either dropped or rescaled by 1 / density
    tau = family["states"][0][key] - family["base"][key]
    delta = first[key] - family["base"][key]
    kept = delta != 0
    torch.testing.assert_close(delta[kept], tau[kept] / 0.25, atol=1e-5, rtol=1e-5)
    assert abs(kept.float().mean().item() - 0.25) < 0.05
    # the mask of a tensor does not depend on which other tensors are merged
    only = merge_models(family["base_path"], family["models"][:1], seed=7, include=[key], **kwargs).state_dict
    assert torch.equal(only[key], first[key])


def test_average_without_base_is_the_model_soup(family):
    result = merge_models(None, family["models"], method="average", progress=False)
    expected = {k: sum(s[k] for s in family["states"]) / 4 for k in family["base"]}
    assert_state_close(result.state_dict, expected, atol=1e-6)
    with pytest.raises(ValueError, match="needs --base"):
        merge_models(None, family["models"], method="task_arithmetic", progress=False)


# ----------------------------------------------------------------------------------------------------------------
# tensor selection
# ----------------------------------------------------------------------------------------------------------------


def test_include_exclude_and_presets(family):
    result = merge_models(family["base_path"], family["models"], weight=LAMBDA, keep_from_base=["cnn", "norms"],
                          exclude=["masked_spec_embed"], progress=False)
    base, merged = family["base"], result.state_dict
    expected = expected_task_arithmetic(base, family["states"], LAMBDA)
    copied = {k for k in base if k.startswith("feature_extractor.") or "layer_norm." in k or k == "masked_spec_embed"}
    assert set(result.copied_keys) == copied
    for key in base:
        if key in copied:
            assert torch.equal(merged[key], base[key]), key
        else:
            torch.testing.assert_close(merged[key], expected[key], atol=1e-6, rtol=0)
    only = merge_models(family["base_path"], family["models"], weight=LAMBDA, include=["encoder.layers.*"],
                        progress=False)
    assert all(k.startswith("encoder.layers.") for k in only.merged_keys) and only.merged_keys
    with pytest.raises(ValueError, match="include pattern 'encoder.layer.*' matches no tensor"):
        merge_models(family["base_path"], family["models"], include=["encoder.layer.*"], progress=False)
    with pytest.raises(ValueError, match="Unknown `keep_from_base` preset"):
        MergeRecipe(base="b", models=["m"], keep_from_base=["cnns"])


# ----------------------------------------------------------------------------------------------------------------
# strict checks
# ----------------------------------------------------------------------------------------------------------------


def test_config_differences_are_listed_and_irrelevant_fields_ignored(family, tmp_path):
    other = pico_config(hidden_act="relu", layer_norm_eps=1e-6)
    odd = write_checkpoint(tmp_path / "odd", other, family["states"][0])
    with pytest.raises(ValueError) as error:
        merge_models(family["base_path"], [family["models"][1], str(odd)], progress=False)
    text = str(error.value)
    assert f"model 2 {str(odd)!r}: config `hidden_act` is 'relu', base has 'gelu'" in text
    assert "config `layer_norm_eps` is 1e-06, base has 1e-05" in text
    assert "model 1" not in text
    # dropouts, masking probabilities, _name_or_path, transformers_version ... may differ
    relaxed = pico_config(hidden_dropout=0.3, attention_dropout=0.2, layerdrop=0.1, mask_time_prob=0.5)
    relaxed._name_or_path = "someone/else"
    folder = write_checkpoint(tmp_path / "relaxed", relaxed, family["states"][0])
    raw = json.loads((folder / "config.json").read_text())
    raw["transformers_version"] = "4.24.0"
    (folder / "config.json").write_text(json.dumps(raw))
    merge_models(family["base_path"], [str(folder)], progress=False)
    assert {"hidden_size", "conv_kernel", "do_stable_layer_norm", "model_type"} <= set(ARCHITECTURE_FIELDS)


def test_shape_and_key_mismatches_are_listed(family, tmp_path):
    config = family["config"]
    bigger = pico_config(intermediate_size=48)
    state = random_model(bigger, seed=5).state_dict()
    big = write_checkpoint(tmp_path / "big", bigger, state)
    with pytest.raises(ValueError) as error:
        merge_models(family["base_path"], [str(big)], progress=False)
    text = str(error.value)
    assert "config `intermediate_size` is 48, base has 32" in text
    assert ("tensor 'encoder.layers.0.feed_forward.intermediate_dense.weight' has shape [48, 16], base has [32, 16]"
            in text)
    # same config, a tensor of another shape, one missing, one extra
    state = dict(family["states"][0])
    state["masked_spec_embed"] = torch.zeros(17)
    del state["encoder.layer_norm.bias"]
    state["encoder.extra.weight"] = torch.zeros(2)
    odd = write_checkpoint(tmp_path / "odd", config, state)
    with pytest.raises(ValueError) as error:
        merge_models(family["base_path"], [family["models"][0], str(odd)], progress=False)
    text = str(error.value)
    assert "tensor 'masked_spec_embed' has shape [17], base has [16]" in text
    assert "lacks 1 tensor(s) of the base: encoder.layer_norm.bias" in text
    assert "has 1 tensor(s) the base lacks: encoder.extra.weight" in text
    assert text.count("model 2") == 3 and "model 1" not in text


def test_non_finite_inputs_are_rejected_naming_model_and_key(family, tmp_path):
    config = family["config"]
    state = dict(family["states"][1])
    key = "encoder.layers.0.attention.q_proj.weight"
    state[key] = state[key].clone()
    state[key][0, 0] = float("nan")
    state[key][1, 1] = float("inf")
    bad = write_checkpoint(tmp_path / "bad", config, state)
    with pytest.raises(ValueError, match=rf"model 2 .*bad.*tensor '{key}' has 2 NaN/inf value"):
        merge_models(family["base_path"], [family["models"][0], str(bad)], output=tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "model.safetensors").exists()
    assert not list((tmp_path / "out").glob("*.partial"))
    with pytest.raises(ValueError, match=rf"model 1 .*bad.*tensor '{key}' has 2 NaN/inf value"):
        merge_models(family["base_path"], [str(bad)], method="ties", density=0.01, progress=False)
    with pytest.raises(ValueError, match=rf"base .*tensor '{key}' has 2 NaN/inf"):
        merge_models(str(bad), family["models"][:1], progress=False)
    # a NaN in a tensor that is copied from the base is never read from the model
    merge_models(family["base_path"], [str(bad)], exclude=[key], progress=False)


# ----------------------------------------------------------------------------------------------------------------
# input formats
# ----------------------------------------------------------------------------------------------------------------


def test_bin_sharded_and_legacy_weight_norm_inputs(family, tmp_path):
    config, states = family["config"], family["states"]
    inputs = [
        write_checkpoint(tmp_path / "bin_legacy", config, legacy_names(states[0]), fmt="bin"),
        write_checkpoint(tmp_path / "sharded", config, states[1], fmt="sharded"),
        write_checkpoint(tmp_path / "st_legacy", config, legacy_names(states[2])),
    ]
    assert any(k.endswith("weight_g") for k in torch.load(inputs[0] / "pytorch_model.bin", weights_only=True))
    result = merge_models(family["base_path"], [str(p) for p in inputs], weight=LAMBDA, progress=False)
    assert_state_close(result.state_dict, expected_task_arithmetic(family["base"], states[:3], LAMBDA))
    legacy_base = write_checkpoint(tmp_path / "legacy_base", config, legacy_names(family["base"]), fmt="bin")
    again = merge_models(str(legacy_base), [str(p) for p in inputs], weight=LAMBDA, progress=False)
    assert all(torch.equal(again.state_dict[k], result.state_dict[k]) for k in result.state_dict)
    assert "encoder.pos_conv_embed.conv.parametrizations.weight.original0" in again.state_dict
    truncated = write_checkpoint(tmp_path / "truncated", config, states[3])
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match=r"truncated.*model.safetensors.*inconsistent offsets"):
        merge_models(family["base_path"], [str(truncated)], progress=False)
    with pytest.raises(FileNotFoundError, match="has no weights"):
        (tmp_path / "empty").mkdir()
        config.save_pretrained(tmp_path / "empty")
        merge_models(family["base_path"], [str(tmp_path / "empty")], progress=False)


def _lora_adapter(base_path, folder, seed, targets=("q_proj", "v_proj", "intermediate_dense"), rslora=False):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = MERTModel.from_pretrained(base_path)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=list(targets),
                                                  init_lora_weights=False, use_rslora=rslora))
    peft_model.save_pretrained(str(folder), safe_serialization=True)
    merged = peft_model.merge_and_unload().state_dict()
    return {k: v.detach().clone() for k, v in merged.items()}


def test_lora_adapters_are_task_vectors(family, tmp_path):
    base = family["base"]
    full_a = _lora_adapter(family["base_path"], tmp_path / "lora_a", seed=1)
    full_b = _lora_adapter(family["base_path"], tmp_path / "lora_b", seed=2, targets=("k_proj",), rslora=True)
    assert (tmp_path / "lora_a" / "adapter_model.safetensors").is_file()
    # lambda 1 with one adapter = peft's merge_and_unload
    single = merge_models(family["base_path"], [str(tmp_path / "lora_a")], weight=1.0, progress=False).state_dict
    assert_state_close(single, full_a, atol=1e-5)
    # adapters mix with full checkpoints; untouched tensors have a zero task vector
    mixed = merge_models(family["base_path"], [str(tmp_path / "lora_a"), str(tmp_path / "lora_b"),
                                               family["models"][0]], weight=LAMBDA, progress=False).state_dict
    assert_state_close(mixed, expected_task_arithmetic(base, [full_a, full_b, family["states"][0]], LAMBDA),
                       atol=1e-5)
    # the same delta as the pre-training helper's peft-based task vector
    from hf_culturemert.pretraining import lora_task_vector

    reference = lora_task_vector(family["base_path"], tmp_path / "lora_a")
    for key, delta in reference.items():
        torch.testing.assert_close(single[key] - base[key], delta, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="is a LoRA adapter; the base must be a full checkpoint"):
        merge_models(str(tmp_path / "lora_a"), family["models"][:1], progress=False)


def test_pretraining_heads_policies(family, tmp_path):
    config, base = family["config"], family["base"]
    torch.manual_seed(0)
    heads_base = {k: v for k, v in MERTForPreTraining(config).state_dict().items() if not k.startswith("mert.")}
    head_states = [perturbed(heads_base, seed=10 + i) for i in range(2)]
    wrapped = lambda backbone, heads: {**{"mert." + k: v for k, v in backbone.items()}, **heads}  # noqa: E731
    base_folder = write_checkpoint(tmp_path / "pt_base", config, wrapped(base, heads_base))
    # one model as MERTForPreTraining.save_pretrained writes it, one in hf_culturemert.pretraining's layout
    model_a = write_checkpoint(tmp_path / "pt_a", config, wrapped(family["states"][0], head_states[0]))
    model_b = write_checkpoint(tmp_path / "pt_b", config, family["states"][1])
    save_file(head_states[1], str(model_b / HEADS_FILE), metadata={"format": "pt"})
    models = [str(model_a), str(model_b)]
    expected_backbone = expected_task_arithmetic(base, family["states"][:2], LAMBDA)

    dropped = merge_models(str(base_folder), models, weight=LAMBDA, output=tmp_path / "drop", progress=False)
    assert_state_close(load_file(str(dropped.output / "model.safetensors")), expected_backbone)
    assert not (dropped.output / HEADS_FILE).exists()

    kept = merge_models(str(base_folder), models, weight=LAMBDA, heads="base", output=tmp_path / "keep",
                        progress=False)
    assert_state_close(load_file(str(kept.output / "model.safetensors")), expected_backbone)
    assert_state_close(load_file(str(kept.output / HEADS_FILE)), heads_base, atol=0)

    merged = merge_models(str(base_folder), models, weight=LAMBDA, heads="merge", output=tmp_path / "merge",
                          progress=False)
    assert_state_close(load_file(str(merged.output / HEADS_FILE)),
                       expected_task_arithmetic(heads_base, head_states, LAMBDA))
    from hf_culturemert.pretraining.modeling import HEADS_FILE as PRETRAINING_HEADS_FILE
    from hf_culturemert.pretraining.modeling import load_pretraining_model

    assert HEADS_FILE == PRETRAINING_HEADS_FILE
    reloaded = load_pretraining_model(str(merged.output)).state_dict()
    torch.testing.assert_close(reloaded["final_proj.weight"],
                               load_file(str(merged.output / HEADS_FILE))["final_proj.weight"])

    with pytest.raises(ValueError, match=r"model 2 .* lacks 5 tensor\(s\) of the base: encoder_cqt_model"):
        merge_models(str(base_folder), [models[0], family["models"][0]], heads="merge", progress=False)
    # a fine-tuned tagger (MERTForAudioTagging layout): its task head is ignored, its backbone merged
    tagger = write_checkpoint(tmp_path / "tagger", config, wrapped(family["states"][2], {
        "classifier.0.weight": torch.zeros(4, 16), "layer_weights": torch.ones(2)}))
    tagged = merge_models(family["base_path"], [str(tagger)], weight=1.0, progress=False).state_dict
    assert_state_close(tagged, family["states"][2])
    with pytest.raises(ValueError, match="has no heads to keep"):
        merge_models(family["base_path"], models, heads="base", progress=False)


# ----------------------------------------------------------------------------------------------------------------
# output folder
# ----------------------------------------------------------------------------------------------------------------


def test_output_folder_card_recipe_and_safety(family, tmp_path):
    out = tmp_path / "CultureMERT-TA-pico"
    merge_models(family["base_path"], family["models"], weight=LAMBDA, output=out, progress=False)
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "configuration_mert.py", "modeling_mert.py",
            "preprocessor_config.json", "README.md", "merge_recipe.yaml"} <= names
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_mert.MERTModel"
    assert config["auto_map"]["AutoConfig"] == "configuration_mert.MERTConfig"
    assert config["architectures"] == ["MERTModel"]
    card = (out / "README.md").read_text()
    front = card.split("---")[1]
    assert "- merge" in front and "- mergekit-style" in front and "license: cc-by-nc-4.0" in front
    assert "arXiv:2212.04089" in card and "lambda = 0.2" in card
    from hf_culturemert.merging.checkpoints import sha256_file

    for path in [family["base_path"], *family["models"]]:
        assert sha256_file(os.path.join(path, "model.safetensors")) in card
    # the recorded recipe reproduces the merge bit for bit
    again = run_merge(MergeRecipe.from_yaml(out / "merge_recipe.yaml", output=str(tmp_path / "again"),
                                            progress=False))
    assert (again.output / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    # no silent overwrite, never inside an input folder
    with pytest.raises(ValueError, match="is not empty; pass --overwrite"):
        merge_models(family["base_path"], family["models"], output=out, progress=False)
    merge_models(family["base_path"], family["models"][:1], weight=1.0, output=out, overwrite=True, progress=False)
    assert_state_close(load_file(str(out / "model.safetensors")), family["states"][0])
    with pytest.raises(ValueError, match="is inside"):
        merge_models(family["base_path"], family["models"], output=os.path.join(family["models"][0], "sub"),
                     progress=False)


@pytest.mark.slow
def test_merged_folder_loads_in_a_fresh_process_without_the_package(family, tmp_path):
    out = tmp_path / "merged"
    merge_models(family["base_path"], family["models"], weight=LAMBDA, output=out, progress=False)
    torch.manual_seed(0)
    audio = torch.randn(2, 1600)
    torch.save(audio, tmp_path / "audio.pt")
    script = (
        "import sys, torch\n"
        "from transformers import AutoModel\n"
        "from safetensors.torch import load_file\n"
        f"model = AutoModel.from_pretrained({str(out)!r}, trust_remote_code=True).eval()\n"
        "assert 'hf_culturemert' not in sys.modules, 'the remote code imported hf_culturemert'\n"
        f"stored = load_file({str(out / 'model.safetensors')!r})\n"
        "state = model.state_dict()\n"
        "assert set(state) == set(stored), set(state) ^ set(stored)\n"
        "assert all(torch.equal(state[k], stored[k]) for k in stored)\n"
        f"audio = torch.load({str(tmp_path / 'audio.pt')!r})\n"
        "with torch.no_grad():\n"
        "    hidden = model(audio, output_hidden_states=True).hidden_states\n"
        f"torch.save([h.clone() for h in hidden], {str(tmp_path / 'hidden.pt')!r})\n"
        "print(type(model).__module__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(PYTHONPATH="", HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", PYTHONNOUSERSITE="1")
    process = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=240)
    assert process.returncode == 0, process.stderr[-3000:]
    assert "transformers_modules" in process.stdout
    expected = MERTModel(family["config"]).eval()
    expected.load_state_dict(expected_task_arithmetic(family["base"], family["states"], LAMBDA))
    with torch.no_grad():
        reference = expected(audio, output_hidden_states=True).hidden_states
    hidden = torch.load(tmp_path / "hidden.pt")
    assert len(hidden) == len(reference)
    for mine, theirs in zip(hidden, reference):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# Hub inputs (resolution only; the Hub is not reachable in tests)
# ----------------------------------------------------------------------------------------------------------------


def test_hub_ids_resolve_with_snapshot_download_and_record_revisions(family, tmp_path, monkeypatch):
    import shutil

    from hf_culturemert.merging import checkpoints

    commit = "0123456789abcdef0123456789abcdef01234567"
    calls = []

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.append((repo_id, revision, tuple(allow_patterns)))
        source = family["base_path"] if repo_id == "m-a-p/MERT-v1-95M" else family["models"][0]
        folder = tmp_path / "hub" / repo_id.replace("/", "--") / "snapshots" / commit
        if not folder.exists():
            shutil.copytree(source, folder)
        return str(folder)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    result = merge_models("mert-v1-95m", ["someone/lyra@v1.0"], weight=LAMBDA, output=tmp_path / "out",
                          progress=False)
    assert calls[0][:2] == ("m-a-p/MERT-v1-95M", None) and calls[1][:2] == ("someone/lyra", "v1.0")
    assert "model.safetensors" in calls[0][2] and "config.json" in calls[0][2]
    assert not any(p.endswith(".bin") for p in calls[0][2])
    assert result.provenance[1]["revision"] == commit and result.provenance[1]["hub_id"] == "someone/lyra"
    card = (result.output / "README.md").read_text()
    assert "- m-a-p/MERT-v1-95M" in card and "base_model_relation: merge" in card and commit in card
    assert checkpoints.HEADS_FILE in checkpoints.HUB_PATTERNS

    def offline(repo_id, revision=None, allow_patterns=None):
        raise OSError("offline")

    monkeypatch.setattr("huggingface_hub.snapshot_download", offline)
    with pytest.raises(FileNotFoundError, match="'nobody/nothing' is not a local folder and could not be fetched"):
        merge_models(family["base_path"], ["nobody/nothing"], progress=False)


# ----------------------------------------------------------------------------------------------------------------
# streaming safetensors writer
# ----------------------------------------------------------------------------------------------------------------


def test_stream_writer_round_trips_every_dtype(tmp_path):
    tensors = {"a": torch.randn(3, 5), "b": torch.randn(7).to(torch.bfloat16), "c": torch.tensor(3.5),
               "d": torch.zeros(0, 4), "e": torch.tensor([True, False, True]), "f": torch.arange(5, dtype=torch.int64),
               "g": torch.randn(2, 2).half()}
    path = tmp_path / "x.safetensors"
    with SafetensorsStreamWriter(path, {k: (v.dtype, v.shape) for k, v in tensors.items()},
                                 metadata={"format": "pt"}) as writer:
        for key, value in tensors.items():
            writer.write(key, value)
    loaded = load_file(str(path))
    assert all(torch.equal(loaded[k], v) and loaded[k].dtype == v.dtype for k, v in tensors.items())
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata() == {"format": "pt"}
    writer = SafetensorsStreamWriter(tmp_path / "y.safetensors", {"a": (torch.float32, (2,)), "b": (torch.float32,
                                                                                                   (1,))})
    with pytest.raises(RuntimeError, match="expected tensor 'a' next, got 'b'"):
        writer.write("b", torch.zeros(1))
    with pytest.raises(RuntimeError, match=r"the header declares torch.float32 \(2,\)"):
        writer.write("a", torch.zeros(3))
    writer.abort()
    assert not list(tmp_path.glob("y.safetensors*"))
