"""Fast frozen-weight inference: a fused oneDNN CPU path, ``torch.compile`` with weight freezing, and exported graphs
run by ONNX Runtime or OpenVINO (:class:`ExportedMERT`). Which one runs is chosen in :mod:`hf_culturemert.backends`
(``--backend``); with a runtime installed, its ``auto`` prefers the runtimes, which measure faster than the fused path.

Why: a MERT forward pass on CPU is GEMM/convolution-bound and eager PyTorch already runs those near the machine's
fp32 peak, so the gains are in which kernels run and in memory traffic:

- :func:`fuse_for_inference` (the fast path without a runtime): oneDNN GEMMs with pre-packed weights (on AMD CPUs MKL's sgemm takes
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
import hashlib
import itertools
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

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


def onednn_available():
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
        if not onednn_available():
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
    """Deprecated: ``hf_culturemert.backends.for_inference(model)`` (``auto``) picks the fastest engine installed.

    :func:`fuse_for_inference` where the fused path applies (a float32 model on a CPU with oneDNN), else ``model``
    unchanged (logged)."""
    warnings.warn("fuse_when_possible is deprecated: use hf_culturemert.backends.for_inference(model), which picks "
                  "the fastest installed CPU engine", FutureWarning, stacklevel=2)
    try:
        return fuse_for_inference(model)
    except (ValueError, RuntimeError) as error:
        logger.info("Running the model without the fused CPU path: %s", error)
        return model


# ----------------------------------------------------------------------------------------------------------------
# Exported graphs run by ONNX Runtime or OpenVINO (chosen through hf_culturemert.backends.for_inference)
# ----------------------------------------------------------------------------------------------------------------

EXPORT_FORMAT_VERSION = 1  # bump when the exported graph's inputs or outputs change: old cache entries then miss
EXPORT_CACHE_ENV = "CULTUREMERT_EXPORT_CACHE"
EXPORT_CACHE_KEEP = 8  # exports kept (least recently used out)
SCRATCH_MARKER = ".culturemert-export-in-progress"  # in an export's scratch folder until it becomes the export


def model_fingerprint(backbone):
    """sha256 of the backbone's config and every weight (names, shapes, dtypes, bytes): the model's identity (the key
    of the feature cache and of the export cache)."""
    digest = hashlib.sha256()
    config = backbone.config.to_dict()
    for volatile in ("_name_or_path", "transformers_version", "_commit_hash", "torch_dtype", "dtype",
                     "_attn_implementation_autoset", "architectures", "auto_map"):
        config.pop(volatile, None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name, tensor in sorted(backbone.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
def export_cache_dir():
    """Where exported graphs live: ``$CULTUREMERT_EXPORT_CACHE`` or ``~/.cache/huggingface/culturemert/exports``."""
    return Path(os.environ.get(EXPORT_CACHE_ENV) or Path.home() / ".cache" / "huggingface" / "culturemert" / "exports")




class _AllHiddenStates(torch.nn.Module):
    """What gets exported: (waveform, sample mask) -> every hidden state, as a tuple."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, input_values, attention_mask):
        outputs = self.backbone(input_values, attention_mask=attention_mask, output_hidden_states=True,
                                return_dict=True)
        return tuple(outputs.hidden_states)


def _example_inputs(config):
    """A padded batch of two (one full, one 3/4 long): tracing keeps the padding-aware path in the graph."""
    samples = max(2 * int(config.receptive_field), int(config.sample_rate))
    mask = torch.ones(2, samples, dtype=torch.long)
    mask[1, samples * 3 // 4:] = 0
    return torch.randn(2, samples, generator=torch.Generator().manual_seed(0)), mask


def runtime_version(backend):
    """``onnxruntime`` / ``openvino`` -> the versions an export and its speed depend on (part of the cache keys)."""
    if backend == "onnxruntime":
        import onnx
        import onnxruntime

        return f"ort{onnxruntime.__version__}-onnx{onnx.__version__}"
    import openvino

    return f"ov{openvino.__version__.split('-')[0]}"


def _export(backbone, backend, folder):
    """Trace ``backbone`` into ``folder`` (``model.onnx`` for ONNX Runtime, ``model.xml``/``.bin`` for OpenVINO)."""
    wrapper = _AllHiddenStates(backbone).eval()  # eval on the wrapper too: export restores *its* mode recursively
    inputs = _example_inputs(backbone.config)
    names = [f"hidden_state_{i}" for i in range(backbone.config.num_hidden_layers + 1)]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # the masked branch is the one we want
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        if backend == "onnxruntime":
            # the TorchScript exporter traces the padded branch; torch.export needs MERT's `_frame_mask` data-free
            dims = {0: "batch", 1: "samples"}
            torch.onnx.export(wrapper, inputs, str(folder / "model.onnx"), dynamo=False,
                              input_names=["input_values", "attention_mask"], output_names=names,
                              dynamic_axes={"input_values": dims, "attention_mask": dims,
                                            **{name: {0: "batch", 1: "frames"} for name in names}})
        else:
            import openvino

            converted = openvino.convert_model(wrapper, example_input=dict(zip(("input_values", "attention_mask"),
                                                                              inputs)))
            openvino.save_model(converted, str(folder / "model.xml"), compress_to_fp16=False)


def exported_graph(backbone, backend, fingerprint=None):
    """The cached export of ``backbone`` for ``backend`` (exported on the first call for these weights): its path."""
    if fingerprint is None:
        fingerprint = model_fingerprint(backbone)
    key = {"format": EXPORT_FORMAT_VERSION, "model": fingerprint, "backend": backend, "torch": torch.__version__,
           "runtime": runtime_version(backend)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    folder = export_cache_dir() / f"{backend}--{digest}"
    graph = folder / ("model.onnx" if backend == "onnxruntime" else "model.xml")
    if (folder / "export.json").is_file():
        os.utime(folder / "export.json")  # recently used: kept by the pruning below
        return graph
    logger.info("Exporting the model for %s (once per set of weights) -> %s", backend, folder)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / SCRATCH_MARKER).touch()  # proof that the folder is ours, should this process be killed mid-export
    training = backbone.training
    try:
        _export(backbone, backend, tmp)
        (tmp / "export.json").write_text(json.dumps(key, indent=2))
        (tmp / SCRATCH_MARKER).unlink()  # a finished export is marked by export.json alone
        try:
            os.replace(tmp, folder)
        except OSError:  # another process exported the same weights first: use its files
            if not (folder / "export.json").is_file():
                raise
    finally:
        backbone.train(training)
        shutil.rmtree(tmp, ignore_errors=True)
    _prune_exports(folder.parent, keep=EXPORT_CACHE_KEEP)
    return graph


def _prune_exports(root, keep):
    """Remove all but the ``keep`` most recently used exports under ``root`` (a lambda sweep exports every candidate;
    a 95M export is ~380 MB). Only finished export folders (``<backend>--<digest>/export.json``) are touched."""
    exports = sorted((p for p in root.glob("*--*") if (p / "export.json").is_file()),
                     key=lambda p: (p / "export.json").stat().st_mtime, reverse=True)
    for old in exports[keep:]:
        logger.info("Removing the least recently used export %s (more than %d cached)", old, keep)
        shutil.rmtree(old, ignore_errors=True)
    for partial in root.glob("*--*.tmp-*"):  # an export's scratch folder whose process was killed mid-export
        pid = partial.name.rsplit(".tmp-", 1)[1]
        if (partial / SCRATCH_MARKER).is_file() and pid.isdigit() and not _process_alive(int(pid)):
            logger.info("Removing %s, left by an interrupted export (process %s is gone)", partial, pid)
            shutil.rmtree(partial, ignore_errors=True)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class _Session:
    """One runtime's compiled graph: ``run(input_values, attention_mask)`` -> list of numpy hidden states."""

    def __init__(self, backend, graph, threads):
        self.backend = backend
        if backend == "onnxruntime":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        else:
            import openvino

            # f32 explicitly: on CPUs with bf16 units OpenVINO would otherwise run in bf16
            self.session = openvino.Core().compile_model(str(graph), "CPU", {
                "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})

    def run(self, input_values, attention_mask):
        feeds = {"input_values": input_values, "attention_mask": attention_mask}
        if self.backend == "onnxruntime":
            return self.session.run(None, feeds)
        results = self.session(feeds)
        return [results[output] for output in self.session.outputs]


class ExportedMERT(torch.nn.Module):
    """A MERT backbone run by ONNX Runtime or OpenVINO; stands in for the ``MERTModel`` (``config``, lengths ...).

    Calls asking for what the graph lacks (``output_attentions``, ``mask_time_indices``) run the PyTorch model.
    """

    def __init__(self, backbone, backend, fingerprint=None):
        super().__init__()
        self.model = backbone.eval()
        self.backend = backend
        self.graph = exported_graph(backbone, backend, fingerprint)
        self.session = _Session(backend, self.graph, torch.get_num_threads())

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("model"), name)

    def forward(self, input_values, attention_mask=None, output_hidden_states=None, return_dict=None, **kwargs):
        from .models.mert.modeling_mert import MERTModelOutput

        if kwargs.get("output_attentions") or kwargs.get("mask_time_indices") is not None:
            with torch.no_grad():
                return self.model(input_values, attention_mask=attention_mask, output_hidden_states=output_hidden_states,
                                  return_dict=return_dict, **kwargs)
        if input_values.dim() == 1:
            input_values = input_values[None]
        config = self.model.config
        if input_values.dim() != 2 or input_values.shape[-1] < config.receptive_field:
            raise ValueError(f"`input_values` must be a mono waveform (batch, samples) of at least one frame "
                             f"({config.receptive_field} samples), got shape {tuple(input_values.shape)}")
        if attention_mask is None:
            attention_mask = torch.ones(input_values.shape, dtype=torch.long)
        states = self.session.run(input_values.detach().to("cpu", torch.float32).contiguous().numpy(),
                                  attention_mask.detach().to("cpu", torch.long).contiguous().numpy())
        states = tuple(torch.from_numpy(state) for state in states)
        if return_dict is None:
            return_dict = config.return_dict
        if not return_dict:
            return (states[-1], states)
        return MERTModelOutput(last_hidden_state=states[-1], hidden_states=states)



__all__ = ["CompiledMERT", "ExportedMERT", "FusedMERT", "compile_for_inference", "export_cache_dir", "exported_graph",
           "fuse_for_inference", "fuse_when_possible", "model_fingerprint", "runtime_version"]
