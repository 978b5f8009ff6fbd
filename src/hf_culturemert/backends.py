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
3. otherwise the fastest installed engine, *measured on this machine*: each one runs the same batch
   (:data:`AUTO_PROBE`: 8 windows of 5 s, ``embed``'s default work) after a warm-up, in alternating rounds, and
   the lowest time wins. The order differs by CPU (on an idle AVX-512 EPYC the fused path led OpenVINO by 7% end to
   end; on an AVX2 CPU OpenVINO led it by 28%), so no fixed order is right everywhere. The choice is cached in
   ``auto-backend.json`` beside the exports, keyed by the CPU, the thread count, the library versions and the
   model's architecture (not its weights), so each machine measures once per model size (about a minute for
   MERT-95M, plus the exports). Delete that file to measure again; ``--backend NAME`` skips the measurement.

The exported graph is traced once per set of weights and cached (``$CULTUREMERT_EXPORT_CACHE``, default
``~/.cache/huggingface/culturemert/exports``), keyed by the
weights' fingerprint (:func:`hf_culturemert.inference.model_fingerprint`, the key of the feature cache too) and
the exporter's and runtime's versions. The graph takes ``input_values`` [B, S] and ``attention_mask`` [B, S] with
dynamic B and S and returns every hidden state; it is traced on a padded batch, so the padding-aware path (each
clip's features equal a lone run) is the one in the graph.
"""

import hashlib
import importlib.util
import json
import logging
import os
import platform
import time
from pathlib import Path

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "fused", "onnxruntime", "openvino")
AUTO_MIN_PARAMETERS = 10_000_000
AUTO_PROBE = {"batch": 8, "seconds": 5.0, "rounds": 2}  # what auto times per engine, after one warm-up call
AUTO_CACHE_FILE = "auto-backend.json"
_AUTO_FORMAT = 1  # bump when the measurement changes: old cached choices then miss
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
        return measured_choice(backbone)["choice"]
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


def cpu_name():
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _auto_key(backbone, candidates):
    """What the speed order depends on: the machine, the libraries, the model's shape (not its weights)."""
    import torch

    from .inference import runtime_version

    config = backbone.config
    shape = {name: getattr(config, name, None) for name in (
        "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "conv_dim", "conv_kernel",
        "conv_stride", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "feat_extract_norm",
        "sample_rate")}
    return {"format": _AUTO_FORMAT, "cpu": cpu_name(), "logical_cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "probe": AUTO_PROBE, "model": shape,
            "engines": {name: (runtime_version(name) if name in _PACKAGES else torch.__version__)
                        for name in candidates}}


def _time_engines(backbone, candidates):
    """Seconds per :data:`AUTO_PROBE` batch for each engine that runs (min over alternating rounds); engines whose
    export fails are logged and left out."""
    import torch

    config = backbone.config
    samples = int(AUTO_PROBE["seconds"] * config.sample_rate)
    batch = torch.randn(AUTO_PROBE["batch"], samples, generator=torch.Generator().manual_seed(0))
    engines = {}
    for name in candidates:
        try:
            engines[name] = for_inference(backbone, name)
        except (RuntimeError, ValueError, OSError) as error:
            logger.warning("auto: %s cannot run this model (%s); leaving it out", name, error)
    seconds = {name: float("inf") for name in engines}
    with torch.no_grad():
        for name, engine in engines.items():  # warm-up: allocator, runtime plans, first-call compiles
            engine(batch, output_hidden_states=True)
        for round_ in range(AUTO_PROBE["rounds"]):
            names = list(engines)
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                begin = time.perf_counter()
                engines[name](batch, output_hidden_states=True)
                seconds[name] = min(seconds[name], time.perf_counter() - begin)
    return seconds


def measured_choice(backbone):
    """``{"choice", "seconds", "key"}``: the fastest installed engine for ``backbone`` on this machine, from the
    cache (``auto-backend.json`` beside the exports) or measured now (see the module docstring)."""
    from .inference import export_cache_dir

    candidates = installed_backends()
    if len(candidates) == 1:
        return {"choice": candidates[0], "seconds": {}, "key": None}
    key = _auto_key(backbone, candidates)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    path = export_cache_dir() / AUTO_CACHE_FILE
    try:
        cached = json.loads(path.read_text())
    except FileNotFoundError:
        cached = {}
    except (OSError, ValueError) as error:
        logger.warning("auto: ignoring the unreadable %s (%s); measuring again", path, error)
        cached = {}
    if digest in cached and cached[digest].get("choice") in candidates:
        return cached[digest]
    logger.info("auto: timing the installed engines (%s) on this CPU, once per model size (%d x %g s windows, "
                "%d rounds); the choice is cached in %s", ", ".join(candidates), AUTO_PROBE["batch"],
                AUTO_PROBE["seconds"], AUTO_PROBE["rounds"], path)
    seconds = _time_engines(backbone, candidates)
    if not seconds:
        raise BackendUnavailable("auto: no inference engine could run this model; use --backend torch")
    choice = min(seconds, key=seconds.get)
    entry = {"choice": choice, "seconds": {name: round(value, 4) for name, value in seconds.items()}, "key": key,
             "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    logger.info("auto: %s (seconds per batch: %s)", choice,
                ", ".join(f"{name} {value:.2f}" for name, value in sorted(seconds.items(), key=lambda kv: kv[1])))
    cached[digest] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(cached, indent=2))
    os.replace(tmp, path)  # atomic: an interrupted write leaves the old file
    return entry


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


__all__ = ["AUTO_MIN_PARAMETERS", "AUTO_PROBE", "BACKENDS", "BackendUnavailable", "cpu_name", "for_inference",
           "installed_backends", "measured_choice", "resolve_backend"]
