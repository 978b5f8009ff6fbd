"""The transformers contracts the model classes keep (issue 26): gradient_checkpointing_kwargs reach the
checkpointed layers, set_attn_implementation switches at run time, missing weights get the intended initialisation,
and (slow) torch.export with static and dynamic shapes, with and without a mask, and torch.compile."""

import math

import pytest
import torch
from torch.export import Dim

import hf_culturemert  # noqa: F401  (registers the Auto classes)
from hf_culturemert.models.mert import MERTConfig, MERTForAudioTagging, MERTForPreTraining, MERTModel
from hf_culturemert.models.mert import modeling_mert
from hf_culturemert.models.musicnn import MusicnnConfig, MusicnnForAudioTagging
from hf_culturemert.models.vggish import VGGishConfig, VGGishForAudioTagging
from hf_culturemert.testing import tiny_mert_config

pytestmark = pytest.mark.usefixtures("single_thread")
MERT_CLASSES = (MERTModel, MERTForPreTraining, MERTForAudioTagging)


def _padded_batch(lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    batch = torch.zeros(len(lengths), max(lengths))
    mask = torch.zeros_like(batch, dtype=torch.long)
    for i, n in enumerate(lengths):
        batch[i, :n] = torch.randn(n, generator=generator)
        mask[i, :n] = 1
    return batch, mask


def _last_state(model, x, mask):
    return model(x, attention_mask=mask, output_hidden_states=True).hidden_states[-1]


# ------------------------------------------------------------------------------------------------ checkpointing


def _backward_nodes(tensor):
    seen, stack, names = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return names


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_gradient_checkpointing_kwargs_are_honoured(use_reentrant):
    """``gradient_checkpointing_enable(gradient_checkpointing_kwargs=...)`` reaches every CNN and encoder layer: with
    ``use_reentrant=True`` the backward graph runs through torch's reentrant CheckpointFunction (absent otherwise), and
    every parameter, the CNN's included, gets the gradients of a run without checkpointing."""
    x, mask = _padded_batch([6000, 4500], seed=1)
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = MERTForAudioTagging(tiny_mert_config(num_labels=3, mask_time_prob=0.0)).train()
        if checkpointing:
            kwargs = {"use_reentrant": use_reentrant}
            enable = getattr(model, "activation_checkpointing_enable", None)
            if enable is not None:  # transformers >= 5.2x; the old name warns and goes away in v6
                enable(activation_checkpointing_kwargs=kwargs)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            layers = [m for m in model.modules() if isinstance(m, modeling_mert.GradientCheckpointingLayer)]
            assert len(layers) == 7 + 2  # 7 CNN layers, 2 encoder layers
            assert all(m.gradient_checkpointing and m._gradient_checkpointing_func.keywords == kwargs for m in layers)
        labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        loss = model(x, attention_mask=mask, labels=labels).loss
        assert ("CheckpointFunctionBackward" in _backward_nodes(loss)) == (checkpointing and use_reentrant)
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert any(name.startswith("mert.feature_extractor.conv_layers.0") for name in grads[1])
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


# ------------------------------------------------------------------------------------------------ attention


@pytest.mark.parametrize("model_class", MERT_CLASSES)
def test_set_attn_implementation_switches_at_run_time(model_class, monkeypatch):
    calls = []
    for name in ("eager_attention_forward", "sdpa_attention_forward"):
        original = getattr(modeling_mert, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(modeling_mert, name, spy)
        if name == "sdpa_attention_forward":
            monkeypatch.setitem(modeling_mert.ALL_ATTENTION_FUNCTIONS._local_mapping, "sdpa", spy)
    torch.manual_seed(0)
    model = model_class(tiny_mert_config(num_labels=3)).eval()
    x, mask = _padded_batch([7000, 5200, 3000], seed=2)
    outputs = {}
    for implementation in ("sdpa", "eager", "sdpa"):
        model.set_attn_implementation(implementation)
        assert model.config._attn_implementation == implementation
        calls.clear()
        with torch.no_grad():
            outputs.setdefault(implementation, []).append(_last_state(model, x, mask))
        assert calls == [f"{implementation}_attention_forward"] * model.config.num_hidden_layers
    torch.testing.assert_close(outputs["eager"][0], outputs["sdpa"][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(outputs["sdpa"][1], outputs["sdpa"][0], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ initialisation


def _assert_std(tensor, expected, name, tolerance=0.1):
    std = tensor.float().std().item()
    assert abs(std - expected) < tolerance * expected, (name, std, expected)


def test_missing_weights_get_the_intended_initialisation():
    """A model built with every weight missing (``from_pretrained(None, config=..., state_dict={})``: transformers
    allocates empty memory and calls ``_init_weights``) is finite and initialised as MERT's fairseq code does: the
    positional conv's weight-norm direction ~ N(0, 2 / sqrt(kernel x channels per group)) with g its norm and a zero
    bias, Linear ~ N(0, initializer_range), norms at 1 / 0, the code embeddings and mask embedding ~ U(0, 1), the
    layer weights uniform; and weights that are given are kept."""
    config = tiny_mert_config(hidden_size=64, num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=4,
                              num_labels=3, conv_bias=True)
    for model_class in MERT_CLASSES:
        model = model_class.from_pretrained(None, config=MERTConfig(**config.to_dict()), state_dict={})
        state = model.state_dict()
        assert all(torch.isfinite(t).all() for t in state.values()), model_class.__name__
        prefix = "" if model_class is MERTModel else "mert."
        conv = model.get_submodule(f"{prefix}encoder.pos_conv_embed.conv")
        weight_v = conv.parametrizations.weight.original1
        _assert_std(weight_v, 2 * math.sqrt(1 / (32 * 64 // 4)), "pos_conv v")
        torch.testing.assert_close(conv.parametrizations.weight.original0,
                                   torch.linalg.vector_norm(weight_v, dim=(0, 1), keepdim=True))
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and module.weight.numel() >= 1000:
                _assert_std(module.weight, config.initializer_range, name)
                assert torch.equal(module.bias, torch.zeros_like(module.bias)), name
            elif isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
                assert torch.equal(module.weight, torch.ones_like(module.weight)), name
                assert torch.equal(module.bias, torch.zeros_like(module.bias)), name
        first_conv = model.get_submodule(f"{prefix}feature_extractor.conv_layers.0.conv")
        _assert_std(first_conv.weight, math.sqrt(2 / first_conv.weight[0].numel()), "cnn kaiming", tolerance=0.2)
        assert torch.equal(first_conv.bias, torch.zeros_like(first_conv.bias))
        masked = model.get_parameter(f"{prefix}masked_spec_embed")
        assert 0 <= masked.min() and masked.max() < 1 and masked.std() > 0.1
        if model_class is MERTForPreTraining:
            codes = model.label_embs_concat
            assert 0 <= codes.min() and codes.max() < 1 and abs(codes.mean().item() - 0.5) < 0.05
        if model_class is MERTForAudioTagging:
            assert torch.equal(model.layer_weights, torch.full_like(model.layer_weights, 1 / 3))

    # a partial state dict: what is given is kept, the positional conv (missing) is initialised as above
    torch.manual_seed(3)
    given = MERTModel(MERTConfig(**config.to_dict())).state_dict()
    partial = {k: v for k, v in given.items() if "pos_conv_embed" not in k}
    model = MERTModel.from_pretrained(None, config=MERTConfig(**config.to_dict()), state_dict=partial)
    for key, value in partial.items():
        assert torch.equal(model.state_dict()[key], value), key
    _assert_std(model.encoder.pos_conv_embed.conv.parametrizations.weight.original1, 2 * math.sqrt(1 / (32 * 16)),
                "pos_conv v (partial)")
    assert torch.equal(model.encoder.pos_conv_embed.conv.bias, torch.zeros(64))


# ------------------------------------------------------------------------------------------------ export, compile


def _tiny_cnn_models():
    return [VGGishForAudioTagging(VGGishConfig(num_mel_bins=16, chunk_frames=24, channels=(4, 8, 8), dense_size=8,
                                               num_labels=3)),
            MusicnnForAudioTagging(MusicnnConfig(num_mel_bins=16, chunk_frames=24, timbral_filters=4,
                                                 timbral_heights=(11, 6), timbral_width=3, temporal_filters=3,
                                                 temporal_lengths=(9, 5), backend_channels=8, backend_kernel=3,
                                                 dense_size=8, num_labels=3))]


def _assert_same_outputs(got, expected, name):
    got_leaves = torch.utils._pytree.tree_leaves(got)
    expected_leaves = torch.utils._pytree.tree_leaves(expected)
    assert len(got_leaves) == len(expected_leaves), name
    for a, b in zip(got_leaves, expected_leaves):
        if a.is_floating_point():
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
        else:
            assert torch.equal(a, b), name


@pytest.mark.slow
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("with_mask", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("model_class", MERT_CLASSES)
def test_torch_export_mert(model_class, with_mask, dynamic):
    """One graph for any padding (no branch on the mask's values); dynamic shapes take any length that is a whole
    number of frames (a multiple of the 320-sample hop) and batch size, and match eager there."""
    torch.manual_seed(0)
    model = model_class(tiny_mert_config(num_labels=3)).eval()
    hop = model.config.inputs_to_logits_ratio
    x, mask = _padded_batch([hop * 20, hop * 14], seed=4)
    kwargs = {"attention_mask": mask} if with_mask else {}
    shapes = None
    if dynamic:
        batch, frames = Dim("batch", min=1, max=64), Dim("frames", min=8, max=4096)
        shapes = {"input_values": {0: batch, 1: hop * frames}}
        if with_mask:
            shapes["attention_mask"] = {0: batch, 1: hop * frames}
    exported = torch.export.export(model, (x,), kwargs, dynamic_shapes=shapes)
    runs = [(x, mask)]
    if dynamic:
        runs.append(_padded_batch([hop * 31, hop * 9, hop * 25], seed=5))
    if with_mask:
        runs.append((x, torch.ones_like(mask)))  # the same graph, nothing padded (eager takes its shortcut)
    for inputs, run_mask in runs:
        extra = {"attention_mask": run_mask} if with_mask else {}
        with torch.no_grad():
            _assert_same_outputs(exported.module()(inputs, **extra), model(inputs, **extra), model_class.__name__)


@pytest.mark.slow
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("index", [0, 1], ids=["vggish", "musicnn"])
def test_torch_export_cnn_taggers(index, dynamic):
    torch.manual_seed(0)
    model = _tiny_cnn_models()[index].eval()
    features = torch.randn(2, 16, 24)
    shapes = {"input_features": {0: Dim("batch", min=1, max=64), 2: Dim("frames", min=16, max=4096)}} \
        if dynamic else None
    exported = torch.export.export(model, (features,), dynamic_shapes=shapes)
    runs = [features] + ([torch.randn(3, 16, 40)] if dynamic else [])
    for inputs in runs:
        with torch.no_grad():
            _assert_same_outputs(exported.module()(inputs), model(inputs), type(model).__name__)


@pytest.mark.slow
def test_torch_compile_all_five_classes_in_one_graph():
    """``fullgraph=True``: no graph break anywhere (the mask shortcut is eager-only), equal to eager."""
    torch.manual_seed(0)
    models = [cls(tiny_mert_config(num_labels=3)).eval() for cls in MERT_CLASSES] + \
             [m.eval() for m in _tiny_cnn_models()]
    x, mask = _padded_batch([320 * 20, 320 * 14], seed=6)
    features = torch.randn(2, 16, 24)
    for model in models:
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        runs = [((features,), {})] if "input_features" in model.forward.__code__.co_varnames else \
            [((x,), {}), ((x,), {"attention_mask": mask})]
        for args, kwargs in runs:
            with torch.no_grad():
                _assert_same_outputs(compiled(*args, **kwargs), model(*args, **kwargs), type(model).__name__)
