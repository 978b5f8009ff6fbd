"""``culturemert embed``: MERT features of audio files, per window and pooled, with timestamps."""

import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

logger = logging.getLogger(__name__)


def _default_device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class EmbedArguments:
    audio: List[str] = field(metadata={"help": "Audio files (any format ffmpeg decodes)."})
    model: str = field(default="m-a-p/MERT-v1-95M",
                       metadata={"help": "Model folder, Hub id or short name (mert-v1-95m, culturemert-95m, "
                                         "culturemert-ta-95m). `tiny-random` uses a tiny random model (offline demo)."})
    output_dir: Optional[str] = field(default=None, metadata={
        "help": "Write <name>.safetensors + <name>.json here (inputs sharing a name stem keep their extension: "
                "a.flac.safetensors, a.mp3.safetensors)."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace files in --output_dir that an earlier `culturemert embed` did not write."})
    window_seconds: float = field(default=5.0, metadata={"help": "Window length (MERT was trained on 5 s)."})
    hop_seconds: Optional[float] = field(default=None, metadata={"help": "Hop between windows (default: window)."})
    layers: Optional[List[int]] = field(default=None, metadata={"help": "Hidden-state indices to keep (default all)."})
    batch_size: int = field(default=8, metadata={"help": "Windows per forward pass."})
    device: Optional[str] = field(default=None, metadata={"help": "Torch device (default: cuda when available)."})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16."})
    backend: str = field(default="auto", metadata={
        "help": "CPU inference engine: auto (the fastest installed, timed once on this machine per model size and "
                "cached; see hf_culturemert.backends), torch, fused, onnxruntime or openvino (extras [onnx] / "
                "[openvino]; same features to 1e-5). GPUs and half precision run torch."})
    fused: Optional[str] = field(default=None, metadata={
        "choices": ["true", "false"],
        "help": "Deprecated: `--fused false` is `--backend torch`, `--fused true` is `--backend fused`."})
    compile: bool = field(default=False, metadata={
        "help": "torch.compile with weight freezing (hf_culturemert.inference.compile_for_inference) instead of "
                "--backend: one compile per window shape; for GPUs."})

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Refuse impossible values before any model is loaded (one-line errors naming the flag)."""
        if not self.audio:
            raise ValueError("embed: pass at least one audio file with --audio")
        if self.batch_size < 1:
            raise ValueError(f"--batch_size {self.batch_size}: must be at least 1 window per forward pass")
        for flag, value in (("--window_seconds", self.window_seconds), ("--hop_seconds", self.hop_seconds)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{flag} {value}: must be a positive, finite number of seconds")
        if self.dtype not in _DTYPES:
            raise ValueError(f"--dtype must be float32, bfloat16 or float16, got {self.dtype!r}")
        from ..backends import BACKENDS

        if self.backend not in BACKENDS:
            raise ValueError(f"--backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")


_DTYPES = ("float32", "bfloat16", "float16")


def output_names(paths):
    """File name stem per input: the stem, or the full name where two inputs share a stem (``a.flac``, ``a.mp3``).

    Raises ValueError when two inputs have the same file name (``x/a.wav``, ``y/a.wav``): their outputs would
    overwrite each other.
    """
    stems = [Path(p).stem for p in paths]
    names = [stem if stems.count(stem) == 1 else Path(p).name for p, stem in zip(paths, stems)]
    seen = {}
    for path, name in zip(paths, names):
        if name in seen and seen[name] != path:
            raise ValueError(f"--audio {seen[name]} and {path} would write the same {name}.safetensors; rename one "
                             "or embed them into different --output_dir folders")
        seen[name] = path
    return names


def _name_max(folder):
    """The longest file name (bytes) the file system of ``folder`` (or its nearest existing parent) holds."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def load_embed_model(args: EmbedArguments):
    import torch

    if args.model == "tiny-random":
        from ..testing import random_model

        model = random_model()
    else:
        from ..export import load_model

        model = load_model(args.model)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    model = model.to(device=args.device or _default_device(), dtype=dtype).eval()
    if args.compile:
        from ..inference import compile_for_inference

        model = compile_for_inference(model)
    else:
        from ..backends import for_inference

        backend = args.backend
        if args.fused is not None:
            backend = "fused" if str(args.fused).lower() == "true" else "torch"
            logger.warning("--fused is deprecated: use --backend %s", backend)
        model = for_inference(model, backend)
    return model


def embed_files(args: EmbedArguments, model=None, errors=None):
    """Yield ``(path, FeatureOutput)`` for each file of ``args.audio``.

    With an ``errors`` list, a file that cannot be decoded or is too short is logged, appended as
    ``(path, message)`` and skipped; without, the first such error is raised.
    """
    from ..audio import load_audio
    from ..features import extract_features, resolve_layers

    args.validate()
    model = load_embed_model(args) if model is None else model
    backbone = getattr(model, "mert", model)
    resolve_layers(args.layers, backbone.config.num_hidden_layers + 1)  # a bad --layers fails before any file
    for path in args.audio:
        try:
            waveform = load_audio(path, sampling_rate=model.config.sample_rate)
            features = extract_features(model, waveform, model.config.sample_rate,
                                        window_seconds=args.window_seconds, hop_seconds=args.hop_seconds,
                                        layers=args.layers, batch_size=args.batch_size, progress=True)
        except (ValueError, FileNotFoundError) as error:
            if errors is None:
                raise
            message = str(error) if str(path) in str(error) else f"{path}: {error}"
            logger.error("Skipping %s", message)
            errors.append((path, message))
            continue
        yield path, features


def main(argv):
    from ..commands import make_parser

    (args,) = make_parser("embed", EmbedArguments, light=True).parse_args_into_dataclasses(args=argv)
    args.validate()
    out_dir = Path(args.output_dir) if args.output_dir else None
    manifest = None
    errors = []
    if out_dir:
        names = dict(zip(args.audio, output_names(args.audio)))
        from ..outputs import OutputManifest

        for path, name in list(names.items()):  # a name the file system cannot hold fails alone, up front
            if len(os.fsencode(f"{name}.safetensors")) > _name_max(out_dir):
                message = (f"{path}: the output name {name}.safetensors is too long for the file system; rename "
                           "the input (the other files are written)")
                logger.error("Skipping %s", message)
                errors.append((path, message))
                del names[path]
        args.audio = [path for path in args.audio if path in names]
        manifest = OutputManifest(out_dir, "embed", overwrite=args.overwrite)
        manifest.check([f"{n}{ext}" for n in names.values() for ext in (".safetensors", ".json")])
    total = len(args.audio) + len(errors)
    for path, features in embed_files(args, errors=errors) if args.audio else ():
        summary = {"file": path, "windows": len(features.window_starts), "layers": features.layers,
                   "window_features_shape": list(features.window_features.shape),
                   "pooled_shape": list(features.pooled.shape), "frames_per_second": features.frames_per_second,
                   "window_starts": features.window_starts, "window_ends": features.window_ends}
        logger.info("%s: %d windows, window features %s, pooled %s", path, summary["windows"],
                    summary["window_features_shape"], summary["pooled_shape"])
        if manifest is not None:
            from ..outputs import atomic_write_text, save_safetensors

            stem = names[path]
            manifest.claim([f"{stem}.safetensors", f"{stem}.json"])
            save_safetensors({"window_features": features.window_features.contiguous(),
                              "pooled": features.pooled.contiguous()}, out_dir / f"{stem}.safetensors")
            atomic_write_text(out_dir / f"{stem}.json", json.dumps(summary, indent=2))
        else:
            sys.stdout.write(json.dumps(summary) + "\n")
    if errors:
        done = total - len(errors)
        sys.stderr.write(f"culturemert embed: {len(errors)} of {total} file(s) failed ({done} embedded):\n"
                         + "".join(f"  {message}\n" for _, message in errors))
        return 1
    return 0
