"""CPU inference backends for a frozen MERT: eager PyTorch, the fused oneDNN path, ONNX Runtime and OpenVINO.

Why: users deploying MERT on CPUs export it and run it on a well-kept runtime. Measured on the package's MERT-95M
(``benchmarks/forward.py``, ``benchmarks/extract.py``), OpenVINO and ONNX Runtime beat both eager PyTorch and the
fused path, with every hidden state within ~1e-5 of eager. :func:`for_inference` wraps a model in the engine asked
for; the wrapper stands in for the backbone wherever the package runs a frozen model (``culturemert embed``, probing
and evaluation feature extraction, the lambda sweep, the Space).

``auto`` (the default) picks by this rule:

1. a model off the CPU or not in float32 runs in PyTorch (``torch``): the exported graphs are float32 CPU graphs;
2. a model under :data:`AUTO_MIN_PARAMETERS` (test and toy models) skips the export, whose few seconds it would
   never win back: ``fused`` where PyTorch has oneDNN, else ``torch``;
3. otherwise the first installed of :data:`AUTO_ORDER`: ``openvino``, ``onnxruntime``, ``fused``, ``torch``.

The exported graph is traced once per set of weights and cached (``$CULTUREMERT_EXPORT_CACHE``, default
``~/.cache/huggingface/culturemert/exports``), keyed by the
weights' fingerprint (:func:`hf_culturemert.inference.model_fingerprint`, the key of the feature cache too) and
the exporter's and runtime's versions. The graph takes ``input_values`` [B, S] and ``attention_mask`` [B, S] with
dynamic B and S and returns every hidden state; it is traced on a padded batch, so the padding-aware path (each
clip's features equal a lone run) is the one in the graph.
"""

import importlib.util
import logging

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "fused", "onnxruntime", "openvino")
AUTO_ORDER = ("openvino", "onnxruntime", "fused", "torch")
AUTO_MIN_PARAMETERS = 10_000_000
_PACKAGES = {"onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino",)}
_EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino"}


class BackendUnavailable(ValueError):
    """The backend asked for cannot run here (runtime not installed, or a model it cannot run); one-line message."""


def _runtime_installed(backend):
    return all(importlib.util.find_spec(name) is not None for name in _PACKAGES[backend])


def installed_backends():
    """The concrete backends this environment can run (``torch`` always; ``fused`` where PyTorch has oneDNN)."""
    from .inference import onednn_available

    found = [name for name in ("openvino", "onnxruntime") if _runtime_installed(name)]
    if onednn_available():
        found.append("fused")
    return found + ["torch"]


def _float32_cpu(backbone):
    import torch

    return all(p.device.type == "cpu" and p.dtype == torch.float32 for p in backbone.parameters())


def resolve_backend(backend, model):
    """``auto`` -> the engine the rule of the module docstring picks; an explicit name is checked (one-line
    :class:`BackendUnavailable` naming the flag and the fix when it cannot run here)."""
    if backend not in BACKENDS:
        raise ValueError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    backbone = getattr(model, "mert", model)
    if getattr(getattr(backbone, "config", None), "model_type", None) != "mert_model":
        if backend in ("auto", "torch"):
            return "torch"  # another family (the hand-crafted upper bound ...): the engines here export MERT only
        raise BackendUnavailable(f"--backend {backend} runs MERT models; this is a {type(backbone).__name__}: use "
                                 "--backend torch")
    float32_cpu = _float32_cpu(backbone)
    if backend == "auto":
        if not float32_cpu:
            return "torch"
        installed = installed_backends()
        if sum(p.numel() for p in backbone.parameters()) < AUTO_MIN_PARAMETERS:
            return "fused" if "fused" in installed else "torch"
        return next(name for name in AUTO_ORDER if name in installed)
    if backend == "torch":
        return backend
    if not float32_cpu:
        params = list(backbone.parameters())
        where = ", ".join(sorted({f"{p.dtype} on {p.device}" for p in params}))
        raise BackendUnavailable(f"--backend {backend} runs float32 models on CPU; this one is {where}: use "
                                 "--device cpu --dtype float32, or --backend torch")
    if backend == "fused":
        from .inference import onednn_available

        if not onednn_available():
            raise BackendUnavailable("--backend fused needs PyTorch's oneDNN (mkldnn) CPU kernels, which this build "
                                     "lacks: use --backend torch")
        return backend
    if not _runtime_installed(backend):
        missing = [name for name in _PACKAGES[backend] if importlib.util.find_spec(name) is None]
        raise BackendUnavailable(f"--backend {backend} needs {' and '.join(missing)}, not installed: pip install "
                                 f"'hf-culturemert[{_EXTRAS[backend]}]' (or --backend auto / torch)")
    return backend


_LAST_EXPORTED = {}  # one entry: the splits of a model (probing's train/validation/test) share one compiled session


def _exported(backbone, backend, fingerprint):
    """The :class:`~hf_culturemert.inference.ExportedMERT` of ``backbone``, reused when the last call asked for the
    same model object, weights, backend and thread count (a runtime's compile costs seconds to tens of seconds)."""
    import torch

    from .inference import ExportedMERT, model_fingerprint

    fingerprint = fingerprint or model_fingerprint(backbone)
    key = (id(backbone), fingerprint, backend, torch.get_num_threads())
    if key not in _LAST_EXPORTED:
        _LAST_EXPORTED.clear()
        _LAST_EXPORTED[key] = ExportedMERT(backbone, backend, fingerprint)
    return _LAST_EXPORTED[key]


def for_inference(model, backend="auto", fingerprint=None):
    """``model`` ready for frozen-weight inference on ``backend`` (see the module docstring for ``auto``).

    ``torch`` returns the model in eval mode; ``fused`` a :class:`~hf_culturemert.inference.FusedMERT`;
    ``onnxruntime`` / ``openvino`` an :class:`~hf_culturemert.inference.ExportedMERT` of the backbone (features only: a task model's head is
    not exported). ``fingerprint`` (the weights' :func:`~hf_culturemert.inference.model_fingerprint`) saves hashing
    them again. Raises :class:`BackendUnavailable` (one line) when an explicit backend cannot run here.
    """
    from .inference import ExportedMERT, FusedMERT, fuse_for_inference

    if isinstance(model, (ExportedMERT, FusedMERT)):
        return model
    chosen = resolve_backend(backend, model)
    if backend == "auto":
        logger.info("Inference backend: %s (auto)", chosen)
    if chosen == "torch":
        return model.eval()
    if chosen == "fused":
        return fuse_for_inference(model)
    try:
        return _exported(getattr(model, "mert", model).eval(), chosen, fingerprint)
    except (RuntimeError, ValueError, OSError) as error:
        if backend != "auto":
            raise
        fallback = "fused" if "fused" in installed_backends() else "torch"
        logger.warning("Could not run the model on %s (%s); using %s", chosen, error, fallback)
        return fuse_for_inference(model) if fallback == "fused" else model.eval()


__all__ = ["AUTO_MIN_PARAMETERS", "AUTO_ORDER", "BACKENDS", "BackendUnavailable", "for_inference", "installed_backends",
           "resolve_backend"]
