"""Features of recordings of any length: batched windows, per-window and pooled features, with timestamps.

MERT was trained on 5 s context and eager attention over a 10 minute clip needs ~90 GB, so long audio is cut into
windows, run in padded batches (padding-safe: each window's features equal a lone run), mean-pooled per window and
layer, and pooled over the recording weighted by window length.
"""

import logging
import math
from dataclasses import dataclass, field
from typing import List

import torch
from tqdm.auto import tqdm

from .audio import SILENCE_PEAK, normalize_waveform, prepare_waveform

logger = logging.getLogger(__name__)


@dataclass
class FeatureOutput:
    """Per-window and pooled features of one recording, as returned by :func:`extract_features`.

    Attributes:
        window_features: [num_layers, num_windows, hidden], the mean over each window's frames.
        pooled: [num_layers, hidden], the mean over the recording (windows weighted by their number of frames).
        window_starts: each window's start, in seconds.
        window_ends: each window's end, in seconds.
        layers: the hidden-state indices kept (0 = the CNN + positional conv embedding output).
        frames_per_second: the model's frame rate (75 for MERT-v1).
        frame_counts: the number of frames in each window.
    """

    window_features: torch.Tensor
    pooled: torch.Tensor
    window_starts: List[float]
    window_ends: List[float]
    layers: List[int]
    frames_per_second: float
    frame_counts: List[int] = field(default_factory=list)


def window_bounds(num_samples, window, hop, min_samples):
    """(start, end) sample bounds covering the signal; a tail shorter than ``min_samples`` is left out."""
    bounds, start = [], 0
    while True:
        end = min(start + window, num_samples)
        if end - start >= min_samples or not bounds:
            bounds.append((start, end))
        if end >= num_samples:
            return bounds
        start += hop


def resolve_layers(layers, num_states):
    """Validate hidden-state indices: ``0 .. num_states - 1``, or negative from the end (``-1`` = last).

    Raises ValueError naming the bad index and the valid range; never wraps around (``13`` on a 13-state model is
    an error, not the CNN output).
    """
    if layers is None:
        return list(range(num_states))
    resolved = []
    for index in layers:
        if isinstance(index, bool) or int(index) != index:
            raise ValueError(f"`layers`: {index!r} is not an integer hidden-state index")
        index = int(index)
        if not -num_states <= index < num_states:
            raise ValueError(f"`layers`: index {index} is out of range; this model has {num_states} hidden states "
                             f"(0 = CNN output, 1..{num_states - 1} = transformer layers; negative counts from the "
                             f"end down to -{num_states})")
        resolved.append(index % num_states)
    if not resolved:
        raise ValueError("`layers` is empty; pass at least one hidden-state index (or none for all)")
    return resolved


@torch.no_grad()  # no autograd graph: kept across batches, it grew ~4 GB per batch of 8 windows of MERT-95M
def extract_features(model, waveform, sampling_rate, window_seconds=5.0, hop_seconds=None, layers=None,
                     batch_size=8, normalize=True, progress=False, on_batch=None, allow_silent=False):
    """Features of a single recording (any length) from a ``MERTModel``.

    Args:
        model: a ``MERTModel`` (or a model with a ``.mert`` backbone). Its device and dtype are used.
        waveform: mono samples [S] (numpy or torch); resampled to the model's rate if ``sampling_rate`` differs.
        sampling_rate: the rate of ``waveform`` in Hz.
        window_seconds: window length.
        hop_seconds: hop between windows (default: the window, no overlap).
        layers: hidden-state indices to keep (default all: 13 for MERT-v1-95M).
        batch_size: windows per forward pass.
        normalize: zero-mean unit-variance per window, as the MERT feature extractor does.
        progress: show a tqdm bar over the batches.
        on_batch: called as ``on_batch(windows_done, num_windows)`` before the first batch and after each one (the
            demo's per-window progress).
        allow_silent: accept an all-zero recording (refused by default, like ``load_audio``).

    Returns:
        A ``FeatureOutput``: ``window_features`` [layers, windows, hidden], ``pooled`` [layers, hidden]
        (frame-weighted), the windows' start and end in seconds and ``frames_per_second``.

    ``(samples, channels)`` arrays (soundfile's layout, at most 8 channels) are down-mixed to mono, as
    ``load_audio`` does for files; ``(channels, samples)`` is refused (it reads as a batch).

    Example:
        ```python
        wave = load_audio("concert.mp3")
        feats = extract_features(model, wave, 24000, window_seconds=5.0)
        feats.pooled.shape  # (13, 768) for MERT-v1-95M
        ```
    """
    backbone = getattr(model, "mert", model)
    config = backbone.config
    wave = prepare_waveform(waveform, sampling_rate, target_rate=config.sample_rate)
    if wave.dim() != 1:
        raise ValueError(f"`extract_features` takes one recording of shape (samples,), got {tuple(wave.shape)}; "
                         "loop over a batch or call the model directly")
    if not allow_silent and max(-float(wave.min()), float(wave.max())) < SILENCE_PEAK:  # no |wave| temporary
        raise ValueError(f"The recording is silent (peak amplitude below {SILENCE_PEAK}), which `load_audio` refuses "
                         "for files too; pass allow_silent=True to extract features of silence")
    for name, value in (("window_seconds", window_seconds), ("hop_seconds", hop_seconds)):
        if value is not None and not (math.isfinite(float(value)) and float(value) > 0):
            raise ValueError(f"`{name}`={value} must be a positive, finite number of seconds")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"`batch_size`={batch_size} must be a whole number of windows, at least 1")
    window = int(round(window_seconds * config.sample_rate))
    hop = int(round((hop_seconds or window_seconds) * config.sample_rate))
    if window < config.receptive_field:
        raise ValueError(f"`window_seconds`={window_seconds} is shorter than one frame "
                         f"({config.receptive_field / config.sample_rate:.4f} s)")
    bounds = window_bounds(wave.shape[0], window, hop, config.receptive_field)
    num_states = config.num_hidden_layers + 1
    layers = resolve_layers(layers, num_states)
    param = next(backbone.parameters())
    device, dtype = param.device, param.dtype

    per_window, frame_counts = [], []
    batches = range(0, len(bounds), batch_size)
    if on_batch is not None:
        on_batch(0, len(bounds))
    for first in tqdm(batches, desc="windows", disable=not progress, unit="batch"):
        chunk = bounds[first:first + batch_size]
        lengths = torch.tensor([end - start for start, end in chunk])
        batch = torch.zeros(len(chunk), int(lengths.max()))
        for row, (start, end) in enumerate(chunk):
            batch[row, : end - start] = wave[start:end]
        if normalize:
            batch = normalize_waveform(batch, lengths)
        attention_mask = (torch.arange(batch.shape[1])[None] < lengths[:, None]).long()
        outputs = backbone(batch.to(device=device, dtype=dtype), attention_mask=attention_mask.to(device),
                           output_hidden_states=True, return_dict=True)
        frames = backbone._get_feat_extract_output_lengths(lengths).to(device)
        valid = (torch.arange(outputs.hidden_states[0].shape[1], device=device)[None] < frames[:, None])
        valid = valid[..., None].float()
        states = torch.stack([outputs.hidden_states[i].float() for i in layers])  # [L, B, T, H]
        per_window.append((states * valid[None]).sum(2) / valid.sum(1)[None])
        frame_counts.extend(frames.tolist())
        if on_batch is not None:
            on_batch(len(frame_counts), len(bounds))
    window_features = torch.cat(per_window, dim=1).cpu()
    weights = torch.tensor(frame_counts, dtype=torch.float32)
    pooled = (window_features * weights[None, :, None]).sum(1) / weights.sum()
    rate = float(config.sample_rate)
    return FeatureOutput(window_features=window_features, pooled=pooled,
                         window_starts=[start / rate for start, _ in bounds],
                         window_ends=[end / rate for _, end in bounds], layers=layers,
                         frames_per_second=config.frames_per_second, frame_counts=frame_counts)
