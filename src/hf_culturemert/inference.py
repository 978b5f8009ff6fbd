"""Fast frozen-weight inference on CPU: a fused oneDNN path and ``torch.compile`` with weight freezing.

Why: a MERT forward pass on CPU is GEMM/convolution-bound and eager PyTorch already runs those near the machine's
fp32 peak, so the gains are in which kernels run and in memory traffic:

- :func:`fuse_for_inference` (the fast path): oneDNN GEMMs with pre-packed weights (on AMD CPUs MKL's sgemm takes
  a slower code path; oneDNN is 10-20% faster per GEMM here), q/k/v as one GEMM, GELU in the GEMM/conv epilogue,
  and a cache-blocked CNN front end (below). Measured on 2 shared CPU cores, 95M, 10 s clips
  (``benchmarks/forward.py``): 1.4-1.7x the audio throughput of transformers' HubertModel, outputs within 1e-5 of
  it (95M); on the deep pre-LN 330M within 1e-5 + 2e-6 relative, the size of HubertModel's own change between
  1 and 2 threads (1.2e-5).
- :func:`compile_for_inference`: inductor fuses the elementwise glue and freezes the weights; on such a CPU it mostly
  does not pay (0.98-1.27x over HubertModel); it is kept for GPUs, where it also removes kernel-launch overhead.

Both treat the weights as constants: inference only; wrap again after changing them. A compiled model compiles
once per input shape (tens of seconds on CPU), so feed fixed-size windows, as
:func:`hf_culturemert.features.extract_features` does; the fused path has no warm-up.
"""

import copy
import itertools
import logging

import torch
import torch.nn.functional as F
from torch import nn

from .models.mert.modeling_mert import (MERTAttention, MERTFeatureEncoder, MERTFeedForward, MERTPositionalConvEmbedding,
                            conv_output_lengths)

logger = logging.getLogger(__name__)


class _InferenceWrapper(torch.nn.Module):
    """Runs ``self.runner`` (a compiled or fused stand-in of ``self.model``) without autograd. Attribute access falls
    through to the wrapped model (``config``, ``_get_feat_extract_output_lengths`` ...), so the wrapper stands in
    for it in :func:`~hf_culturemert.features.extract_features` and the probing code."""

    def forward(self, *args, **kwargs):
        with torch.no_grad():
            return self.runner(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("model"), name)


class CompiledMERT(_InferenceWrapper):
    """A MERT model (backbone or task model) run through ``torch.compile`` with inductor's weight freezing."""

    def __init__(self, model, mode=None, dynamic=False):
        super().__init__()
        if model.training:
            logger.info("compile_for_inference: switching the model to eval mode")
        self.model = model.eval()
        # `options` scopes inductor's freezing to this compiled model (no process-wide config change)
        self.runner = torch.compile(model, mode=mode, dynamic=dynamic, options={"freezing": True})


def compile_for_inference(model, mode=None, dynamic=False):
    """Wrap ``model`` for fast frozen-weight inference (see the module docstring); returns a :class:`CompiledMERT`."""
    if isinstance(model, CompiledMERT):
        return model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"compile_for_inference expects a MERT model (torch.nn.Module), got {type(model).__name__}")
    return CompiledMERT(model, mode=mode, dynamic=dynamic)


# ----------------------------------------------------------------------------------------------------------------
# Fused CPU path: oneDNN kernels with fused epilogues and a cache-blocked CNN front end
# ----------------------------------------------------------------------------------------------------------------
#
# The CNN front end dominates memory traffic: a 10 s clip makes 512 x 48,000 first-layer activations (98 MB) that
# eager PyTorch writes and reads back four times (conv, GroupNorm, GELU, next conv), and the 512-channel convs run at
# ~140 GFLOP/s on such long inputs vs ~215 on cache-sized ones. The blocked front end never materialises them: the
# first layer's GroupNorm statistics follow exactly from the 10-sample frames' mean and covariance (the conv is
# linear), the normalisation folds into the first conv's weights, and all seven conv+GELU layers then run on short
# time blocks that stay in cache (same kernels, same outputs up to rounding).


def _onednn_available():
    ops = getattr(torch.ops, "mkldnn", None)
    return torch.backends.mkldnn.is_available() and all(
        hasattr(ops, name) for name in ("_linear_pointwise", "_convolution_pointwise", "_reorder_linear_weight"))


class _PackedLinear(nn.Module):
    """``activation(x @ W.T + b)`` with W pre-packed for oneDNN and the activation in the GEMM epilogue.

    ``rows_hint`` tunes the packing (750 rows = one 10 s window at 75 Hz); any number of rows works.
    """

    def __init__(self, weight, bias, activation=None, rows_hint=750):
        super().__init__()
        self.gelu = activation == "gelu"
        self.activation = None if activation in (None, "gelu") else activation
        self.register_buffer("bias", None if bias is None else bias.detach(), persistent=False)
        self.register_buffer("weight", torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows_hint),
                             persistent=False)

    def forward(self, x):
        if self.gelu:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "gelu", [], "none")
        y = torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return y if self.activation is None else self.activation(y)


def _conv_gelu(x, weight, bias, stride, padding=0, groups=1):
    """Conv1d + exact GELU in one oneDNN call (bit-identical to ``F.gelu(F.conv1d(...))``)."""
    return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, [padding], [stride], [1], groups, "gelu", [],
                                                   "none")


class _FusedAttention(nn.Module):
    """q/k/v as one packed GEMM, then SDPA; the original module answers ``output_attentions`` and eager requests."""

    def __init__(self, attention):
        super().__init__()
        self.original = attention
        weight = torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight])
        bias = torch.cat([attention.q_proj.bias, attention.k_proj.bias, attention.v_proj.bias])
        self.qkv = _PackedLinear(weight, bias)
        self.out_proj = _PackedLinear(attention.out_proj.weight, attention.out_proj.bias)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        original = self.original
        if output_attentions or getattr(original.config, "_attn_implementation", None) == "eager":
            return original(hidden_states, attention_mask, output_attentions)
        batch, length, _ = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, length, 3, original.num_heads, original.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                 scale=original.scaling)
        context = context.transpose(1, 2).reshape(batch, length, original.embed_dim)
        return self.out_proj(context), None


class _FusedFeedForward(nn.Module):
    def __init__(self, feed_forward, hidden_act):
        super().__init__()
        exact_gelu = hidden_act == "gelu"
        self.intermediate = _PackedLinear(feed_forward.intermediate_dense.weight, feed_forward.intermediate_dense.bias,
                                          "gelu" if exact_gelu else feed_forward.intermediate_act_fn)
        self.output = _PackedLinear(feed_forward.output_dense.weight, feed_forward.output_dense.bias)

    def forward(self, hidden_states):
        return self.output(self.intermediate(hidden_states))


class _FusedPositionalConv(nn.Module):
    """The weight-normalised positional conv with its weight computed once and GELU fused (exact-GELU configs)."""

    def __init__(self, positional, activation_name):
        super().__init__()
        conv = positional.conv
        self.register_buffer("weight", conv.weight.detach().clone(), persistent=False)
        self.register_buffer("bias", conv.bias.detach(), persistent=False)
        self.padding, self.groups = conv.padding[0], conv.groups
        self.num_pad_remove = positional.num_pad_remove
        self.activation = None if activation_name == "gelu" else positional.activation

    def forward(self, hidden_states):
        x = hidden_states.transpose(1, 2)
        if self.activation is None:
            x = _conv_gelu(x, self.weight, self.bias, 1, self.padding, self.groups)
        else:
            x = self.activation(F.conv1d(x, self.weight, self.bias, padding=self.padding, groups=self.groups))
        if self.num_pad_remove:
            x = x[:, :, : -self.num_pad_remove]
        return x.transpose(1, 2)


class _BlockedFeatureEncoder(nn.Module):
    """The CNN front end run on time blocks that stay in cache (MERT's GroupNorm-first layout, exact GELU).

    Per clip: the first layer's GroupNorm statistics over the clip's valid frames (as the padding-aware GroupNorm
    does; see :meth:`_norm_affine`), folded into the first conv; then ``block_frames`` output frames at a time, the
    few input samples they need run through all layers (conv+GELU, one oneDNN call each) and land in the output.
    """

    def __init__(self, feature_encoder, block_frames=96):
        super().__init__()
        layers = feature_encoder.conv_layers
        self.kernels = [layer.conv.kernel_size[0] for layer in layers]
        self.strides = [layer.conv.stride[0] for layer in layers]
        self.weights = [layer.conv.weight.detach() for layer in layers]
        self.biases = [None if layer.conv.bias is None else layer.conv.bias.detach() for layer in layers]
        norm = layers[0].layer_norm
        self.gamma, self.beta, self.eps = norm.weight.detach(), norm.bias.detach(), norm.eps
        self.block_frames = block_frames

    def _input_range(self, start, stop):
        """Output frames [start, stop) of the last layer -> the waveform samples they need."""
        for kernel, stride in zip(reversed(self.kernels), reversed(self.strides)):
            start, stop = start * stride, (stop - 1) * stride + kernel
        return start, stop

    def _norm_affine(self, waveform, valid_frames):
        """Per-channel (scale, shift) of the first layer's GroupNorm over its first ``valid_frames`` output frames.

        The first conv is linear in the waveform's kernel-sized frames u_t (10 samples), so its per-channel mean and
        variance follow exactly from the frames' mean and covariance (float64, 10 x 10): W m + b and w_c^T C w_c,
        without computing the 512 x T activations.
        """
        channels = self.weights[0].shape[0]
        if valid_frames == 0:  # a clip under one frame: the padding-aware GroupNorm sees mean 0, variance 0
            mean = variance = torch.zeros(channels, dtype=torch.float64)
        else:
            kernel, stride = self.kernels[0], self.strides[0]
            frames = waveform[: (valid_frames - 1) * stride + kernel].unfold(0, kernel, stride).double()
            frame_mean = frames.mean(0)
            centred = frames - frame_mean
            covariance = centred.T @ centred / valid_frames
            weight = self.weights[0].reshape(channels, -1).double()
            mean = weight @ frame_mean
            if self.biases[0] is not None:
                mean = mean + self.biases[0].double()
            variance = ((weight @ covariance) * weight).sum(-1)
        scale = self.gamma * torch.rsqrt(variance.float() + self.eps)
        return scale[:, None], (self.beta - mean.float() * scale)[:, None]

    def forward(self, input_values, sample_lengths=None):
        total_frames = conv_output_lengths(input_values.shape[-1], self.kernels, self.strides)
        first_frames = conv_output_lengths(input_values.shape[-1], self.kernels[:1], self.strides[:1])
        out = input_values.new_empty(input_values.shape[0], self.weights[-1].shape[0], total_frames)
        for index, waveform in enumerate(input_values):
            valid = first_frames
            if sample_lengths is not None:
                valid = conv_output_lengths(int(sample_lengths[index]), self.kernels[:1], self.strides[:1])
            # GroupNorm folded into the first conv: (W u + b) * scale + shift = (W * scale) u + (b * scale + shift)
            scale, shift = self._norm_affine(waveform, valid)
            weight = self.weights[0] * scale[:, :, None]
            bias = shift[:, 0] if self.biases[0] is None else self.biases[0] * scale[:, 0] + shift[:, 0]
            for start in range(0, total_frames, self.block_frames):
                stop = min(total_frames, start + self.block_frames)
                low, high = self._input_range(start, stop)
                hidden = _conv_gelu(waveform[None, None, low:high], weight, bias, self.strides[0])
                for weight_i, bias_i, stride in zip(self.weights[1:], self.biases[1:], self.strides[1:]):
                    hidden = _conv_gelu(hidden, weight_i, bias_i, stride)
                out[index, :, start:stop] = hidden[0]
        return out


class FusedMERT(_InferenceWrapper):
    """A MERT model (backbone or task model) running the fused CPU path (see the comment block above).

    ``runner`` is a copy of the module tree that shares the original parameters (the packed GEMM weights are extra
    memory, about the size of the model).
    """

    def __init__(self, model, block_frames=96):
        super().__init__()
        parameters = list(model.parameters())
        if any(p.device.type != "cpu" for p in parameters) or any(p.dtype != torch.float32 for p in parameters):
            raise ValueError("fuse_for_inference is the float32 CPU path; this model has parameters on "
                             f"{sorted({str(p.device) for p in parameters})} in "
                             f"{sorted({str(p.dtype) for p in parameters})}. Call model.float().cpu() first, "
                             "or on a GPU run the model itself in bfloat16 (SDPA picks the flash kernels).")
        if not _onednn_available():
            raise RuntimeError("fuse_for_inference needs PyTorch's oneDNN (mkldnn) CPU kernels, which this build "
                               "lacks; use the model as is or hf_culturemert.inference.compile_for_inference")
        if model.training:
            logger.info("fuse_for_inference: switching the model to eval mode")
        self.model = model.eval()
        shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
        self.runner = _fuse_children(copy.deepcopy(model, shared), model.config, block_frames)


def _fuse_children(module, config, block_frames):
    """Swap, in place, each MERT block under ``module`` for its fused counterpart; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, MERTAttention):
            replacement = _FusedAttention(child)
        elif isinstance(child, MERTFeedForward):
            replacement = _FusedFeedForward(child, config.hidden_act)
        elif isinstance(child, MERTPositionalConvEmbedding):
            replacement = _FusedPositionalConv(child, config.feat_extract_activation)
        elif isinstance(child, MERTFeatureEncoder):
            blockable = config.feat_extract_norm == "group" and config.feat_extract_activation == "gelu"
            replacement = _BlockedFeatureEncoder(child, block_frames) if blockable else child
        elif type(child) is nn.Linear:
            replacement = _PackedLinear(child.weight, child.bias)
        else:
            replacement = _fuse_children(child, config, block_frames)
        setattr(module, name, replacement)
    return module


def fuse_for_inference(model, block_frames=96):
    """Wrap ``model`` for the fused float32 CPU path (oneDNN kernels, blocked front end); returns a
    :class:`FusedMERT`. Inference only: fuse again after changing the weights."""
    if isinstance(model, FusedMERT):
        return model
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise TypeError(f"fuse_for_inference expects a MERT model, got {type(model).__name__}")
    if isinstance(block_frames, bool) or not isinstance(block_frames, int) or block_frames < 1:
        raise ValueError(f"`block_frames` must be a positive number of output frames (default 96), got "
                         f"{block_frames!r}")
    return FusedMERT(model, block_frames=block_frames)


def fuse_when_possible(model):
    """:func:`fuse_for_inference` where the fused path applies (a float32 model on a CPU with oneDNN), else ``model``
    unchanged (logged): what the embed command and the demo use."""
    try:
        return fuse_for_inference(model)
    except (ValueError, RuntimeError) as error:
        logger.info("Running the model without the fused CPU path: %s", error)
        return model


__all__ = ["CompiledMERT", "FusedMERT", "compile_for_inference", "fuse_for_inference", "fuse_when_possible"]
