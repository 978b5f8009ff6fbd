"""fairseq MERT checkpoint -> Hub folder with trained heads (synthetic checkpoint with the fairseq key layout)."""

import argparse

import pytest
import torch

from hf_culturemert.commands.convert_fairseq import main as convert_main
from hf_culturemert.models.mert.modeling_mert import MERTForPreTraining, MERTModel
from hf_culturemert.pretraining import HEADS_FILE, convert_fairseq_checkpoint, load_pretraining_model
from hf_culturemert.pretraining.testing import tiny_pretraining_config


pytestmark = pytest.mark.usefixtures("single_thread")


class FakeMeter:  # stands for fairseq objects pickled in extra_state
    def __init__(self):
        self.avg = 1.5


def fairseq_state(model):
    """Our MERTForPreTraining weights under the fairseq names (written independently of the converter)."""
    state, config = {}, model.config
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    state["mask_emb"] = sd["mert.masked_spec_embed"]
    for i in range(len(config.conv_dim)):
        state[f"feature_extractor.conv_layers.{i}.0.weight"] = sd[f"mert.feature_extractor.conv_layers.{i}.conv.weight"]
    state["feature_extractor.conv_layers.0.2.weight"] = sd["mert.feature_extractor.conv_layers.0.layer_norm.weight"]
    state["feature_extractor.conv_layers.0.2.bias"] = sd["mert.feature_extractor.conv_layers.0.layer_norm.bias"]
    state["layer_norm.weight"] = sd["mert.feature_projection.layer_norm.weight"]
    state["layer_norm.bias"] = sd["mert.feature_projection.layer_norm.bias"]
    state["post_extract_proj.weight"] = sd["mert.feature_projection.projection.weight"]
    state["post_extract_proj.bias"] = sd["mert.feature_projection.projection.bias"]
    state["encoder.pos_conv.0.bias"] = sd["mert.encoder.pos_conv_embed.conv.bias"]
    state["encoder.pos_conv.0.weight_g"] = sd["mert.encoder.pos_conv_embed.conv.parametrizations.weight.original0"]
    state["encoder.pos_conv.0.weight_v"] = sd["mert.encoder.pos_conv_embed.conv.parametrizations.weight.original1"]
    state["encoder.layer_norm.weight"] = sd["mert.encoder.layer_norm.weight"]
    state["encoder.layer_norm.bias"] = sd["mert.encoder.layer_norm.bias"]
    for i in range(config.num_hidden_layers):
        ours, theirs = f"mert.encoder.layers.{i}.", f"encoder.layers.{i}."
        for p in ("q", "k", "v", "out"):
            for leaf in ("weight", "bias"):
                state[f"{theirs}self_attn.{p}_proj.{leaf}"] = sd[f"{ours}attention.{p}_proj.{leaf}"]
        for leaf in ("weight", "bias"):
            state[f"{theirs}self_attn_layer_norm.{leaf}"] = sd[f"{ours}layer_norm.{leaf}"]
            state[f"{theirs}fc1.{leaf}"] = sd[f"{ours}feed_forward.intermediate_dense.{leaf}"]
            state[f"{theirs}fc2.{leaf}"] = sd[f"{ours}feed_forward.output_dense.{leaf}"]
            state[f"{theirs}final_layer_norm.{leaf}"] = sd[f"{ours}final_layer_norm.{leaf}"]
    for key in ("final_proj.weight", "final_proj.bias", "label_embs_concat", "encoder_cqt_model.fc.weight",
                "encoder_cqt_model.fc.bias"):
        state[key] = sd[key]
    state["cqt.cqt_kernels_real"] = torch.zeros(3, 1, 8)  # a teacher buffer with no equivalent: dropped
    return state


FAIRSEQ_CFG = {"model": {"_name": "mert", "encoder_attention_heads": 4, "layer_norm_first": False,
                         "conv_feature_layers": "[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2", "logit_temp": 0.1,
                         "feature_grad_mult": 0.1}}


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return MERTForPreTraining(tiny_pretraining_config(num_conv_pos_embeddings=16)).eval()


def test_round_trip_keeps_backbone_and_heads(tmp_path, reference):
    path = tmp_path / "MERT-tiny_fairseq.pt"
    torch.save({"model": fairseq_state(reference), "cfg": FAIRSEQ_CFG, "args": None}, path)
    assert convert_main(["--input", str(path), "--output", str(tmp_path / "hf")]) == 0

    backbone, info = MERTModel.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    config = backbone.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (32, 2, 4)
    assert config.conv_stride == [5, 2, 2, 2, 2, 2, 2] and config.conv_kernel == [10, 3, 3, 3, 3, 2, 2]
    assert (config.num_codebooks, config.codebook_size, config.codebook_dim, config.cqt_bins) == (8, 1024, 16, 96)
    wave = torch.randn(2, 8000)
    with torch.no_grad():
        expected = reference.mert(wave, output_hidden_states=True).hidden_states
        got = backbone.eval()(wave, output_hidden_states=True).hidden_states
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b)

    assert (tmp_path / "hf" / HEADS_FILE).is_file()
    continued = load_pretraining_model(str(tmp_path / "hf"))
    for key in ("final_proj.weight", "label_embs_concat", "encoder_cqt_model.fc.weight"):
        assert torch.equal(continued.state_dict()[key], reference.state_dict()[key]), key


def test_pickled_objects_need_the_trust_pickle_opt_in(tmp_path, reference):
    path = tmp_path / "with_objects.pt"
    torch.save({"model": fairseq_state(reference), "cfg": FAIRSEQ_CFG,
                "args": argparse.Namespace(encoder_attention_heads=4), "extra_state": {"metrics": FakeMeter()}}, path)
    with pytest.raises(ValueError, match="--trust-pickle"):
        convert_fairseq_checkpoint(path, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    convert_fairseq_checkpoint(path, tmp_path / "trusted", trust_pickle=True)
    assert MERTModel.from_pretrained(tmp_path / "trusted").config.hidden_size == 32


def test_not_a_fairseq_file(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="under 'model'"):
        convert_fairseq_checkpoint(path, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        convert_fairseq_checkpoint(tmp_path / "missing.pt", tmp_path / "out")
