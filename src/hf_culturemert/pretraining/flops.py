"""FLOPs of MERT per second of audio, computed from the config, and device peaks for an MFU estimate.

For MERT-v1-95M the forward pass costs about 20.8 GFLOP per audio second (CNN 7.35, positional conv 0.71,
transformer linears 12.7) plus attention, which grows with the clip length (~1 GFLOP/s at 5 s). Training is
counted as 3x the forward (forward + backward), the usual MFU convention.
"""

import torch

from ..models.mert.modeling_mert import conv_output_lengths
from .planning import PEAK_TFLOPS_BF16


def forward_flops_per_second(config, clip_seconds=5.0, include_heads=True):
    """Forward FLOPs per audio second (multiply-add = 2 FLOPs), broken down by part.

    Returns a dict with ``cnn``, ``feature_projection``, ``pos_conv``, ``linears``, ``attention``, ``heads`` and
    ``total`` (FLOP per audio second at ``clip_seconds`` context).
    """
    rate = config.sample_rate
    parts = {"cnn": 0.0}
    length, channels = float(rate), 1
    for dim, kernel, stride in zip(config.conv_dim, config.conv_kernel, config.conv_stride):
        length = (length - kernel) / stride + 1 if length >= kernel else 0.0
        parts["cnn"] += 2.0 * kernel * channels * dim * length
        channels = dim
    samples = int(round(clip_seconds * rate))
    clip_frames = int(conv_output_lengths(samples, config.conv_kernel, config.conv_stride))
    fps = clip_frames / clip_seconds if clip_seconds > 0 else config.frames_per_second
    hidden, ffn, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    parts["feature_projection"] = 2.0 * config.conv_dim[-1] * hidden * fps
    parts["pos_conv"] = 2.0 * hidden * (hidden // config.num_conv_pos_embedding_groups) * \
        config.num_conv_pos_embeddings * fps
    parts["linears"] = layers * 2.0 * (4 * hidden * hidden + 2 * hidden * ffn) * fps
    parts["attention"] = layers * 4.0 * clip_frames * hidden * fps  # QK^T and AV
    parts["heads"] = 0.0
    if include_heads:
        proj = config.num_codebooks * config.codebook_dim
        parts["heads"] = 2.0 * fps * (hidden * proj + config.num_codebooks * config.codebook_size *
                                      config.codebook_dim + hidden * config.cqt_bins)
    parts["total"] = sum(parts.values())
    return parts


def training_flops_per_second(config, clip_seconds=5.0):
    """Training FLOPs per audio second: 3x the forward (backward = 2x forward)."""
    return 3.0 * forward_flops_per_second(config, clip_seconds)["total"]


def device_peak_tflops(device=None, override=None):
    """Peak dense bf16 TFLOP/s of ``device`` (CUDA name lookup), ``override`` if given, else None (unknown/CPU)."""
    if override:
        return float(override)
    if not torch.cuda.is_available():
        return None
    device = torch.device(device) if device is not None else torch.device("cuda")
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_TFLOPS_BF16, key=len, reverse=True):
        if key.lower() in name.lower():
            return PEAK_TFLOPS_BF16[key]
    return None
