"""Cut decoded tracks into model inputs: random crops for pre-training, fixed windows for probing.

Both come in three shapes that share one core: a batched function for ``Dataset.map(batched=True)`` /
``IterableDataset.map(batched=True)`` (``random_crops``, ``fixed_windows``), a dataset-level wrapper that drops the
source columns (``crop_dataset``, ``window_dataset``) and a plain iterator (``iter_random_crops``, ``iter_windows``).
Each chunk keeps ``track_id`` (and for windows ``window_index``/``window_start``/``window_end``) so that window
predictions can be aggregated per track, as in MARBLE/ccml probing.

Crops are reproducible: the offset depends only on ``(seed, track id, crop index)``, never on iteration order, so
map-style and streaming pipelines see the same crops (change ``seed`` per epoch for fresh ones).
"""

import dataclasses
import logging
import math
import zlib
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from ..constants import SAMPLING_RATE

logger = logging.getLogger(__name__)

DEFAULT_CROP_SECONDS = 5.0
DEFAULT_MIN_SECONDS = 3.0
DEFAULT_WINDOW_SECONDS = 30.0
DEFAULT_KEEP = ("labels", "tags")


@dataclasses.dataclass
class ChunkStats:
    """Counts kept by the chunkers (pass one in to learn how many short clips were dropped)."""

    tracks: int = 0
    chunks: int = 0
    dropped_short: int = 0

    def log(self, what: str = "chunks"):
        logger.info("%d %s from %d tracks; %d tracks shorter than the minimum dropped", self.chunks, what,
                    self.tracks, self.dropped_short)


def _stable_seed(*parts) -> int:
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


def _duration(audio, duration: Optional[float], sampling_rate: int) -> Optional[float]:
    if duration is not None and duration > 0:
        return float(duration)
    if isinstance(audio, dict):
        array = audio.get("array")
        return None if array is None else len(array) / float(audio.get("sampling_rate") or sampling_rate)
    metadata = getattr(audio, "metadata", None)
    return getattr(metadata, "duration_seconds", None)


def _decode(audio, sampling_rate: int, start: Optional[float] = None, stop: Optional[float] = None) -> np.ndarray:
    """Mono float32 samples of ``audio`` (a ``datasets`` AudioDecoder or ``{"array", "sampling_rate"}``) in range."""
    if isinstance(audio, dict):
        if audio.get("array") is None:
            raise ValueError("audio value has no decoded 'array'; cast the column with datasets.Audio(decode=True)")
        rate = int(audio.get("sampling_rate") or sampling_rate)
        if rate != sampling_rate:
            raise ValueError(f"audio is at {rate} Hz but {sampling_rate} Hz was requested; cast the column with "
                             f"datasets.Audio(sampling_rate={sampling_rate})")
        array = np.asarray(audio["array"], dtype=np.float32)
        array = array.mean(axis=0) if array.ndim > 1 else array
        lo = 0 if start is None else int(round(start * rate))
        hi = len(array) if stop is None else int(round(stop * rate))
        return array[lo:hi]
    if hasattr(audio, "get_samples_played_in_range"):  # torchcodec decoder: decode only the range needed
        rate = audio.metadata.sample_rate if audio.metadata.sample_rate else sampling_rate
        samples = audio.get_samples_played_in_range(start or 0.0, stop) if (start or stop) else \
            audio.get_all_samples()
        if samples.sample_rate != sampling_rate:
            raise ValueError(f"audio decodes at {samples.sample_rate} Hz (source {rate} Hz) but {sampling_rate} Hz "
                             f"was requested; cast the column with datasets.Audio(sampling_rate={sampling_rate})")
        data = samples.data.numpy()
        return (data.mean(axis=0) if data.ndim > 1 else data).astype(np.float32, copy=False)
    raise TypeError(f"Unsupported audio value of type {type(audio).__name__}; expected a datasets Audio value")


def _crops_of(audio, track_id, duration, crop_seconds, min_seconds, sampling_rate, seed, crops_per_track, stats):
    total = _duration(audio, duration, sampling_rate)
    if total is None:  # unknown length: decode everything once
        full = _decode(audio, sampling_rate)
        total, audio = len(full) / sampling_rate, {"array": full, "sampling_rate": sampling_rate}
    stats.tracks += 1
    if total < min_seconds:
        stats.dropped_short += 1
        return
    crop = int(round(crop_seconds * sampling_rate))
    for k in range(crops_per_track):
        if total <= crop_seconds:
            start = 0.0
        else:
            rng = np.random.default_rng(_stable_seed(seed, track_id, k))
            start = float(rng.integers(0, int(total * sampling_rate) - crop + 1)) / sampling_rate
        values = _decode(audio, sampling_rate, start, min(total, start + crop_seconds))[:crop]
        if len(values) < int(min_seconds * sampling_rate):  # container reported a longer duration than decodable
            stats.dropped_short += 1
            return
        stats.chunks += 1
        yield {"input_values": values, "track_id": track_id, "start": start}


def _windows_of(audio, track_id, duration, window_seconds, hop_seconds, min_seconds, sampling_rate, stats):
    full = _decode(audio, sampling_rate)
    stats.tracks += 1
    total = len(full) / sampling_rate
    if total < min_seconds:
        stats.dropped_short += 1
        return
    window, hop = int(round(window_seconds * sampling_rate)), int(round((hop_seconds or window_seconds) *
                                                                       sampling_rate))
    minimum = int(round(min_seconds * sampling_rate))
    starts = list(range(0, max(1, len(full) - window + 1), hop))
    last_end = starts[-1] + window
    if last_end < len(full) and len(full) - (starts[-1] + hop) >= minimum:  # tail window shorter than `window`
        starts.append(starts[-1] + hop)
    for index, lo in enumerate(starts):
        values = full[lo:lo + window]
        stats.chunks += 1
        yield {"input_values": values, "track_id": track_id, "window_index": index,
               "window_start": lo / sampling_rate, "window_end": (lo + len(values)) / sampling_rate}


def _rows(batch):
    size = len(next(iter(batch.values())))
    return ({key: batch[key][i] for key in batch} for i in range(size))


def _emit(batch_out, chunk, row, keep):
    for key, value in chunk.items():
        batch_out.setdefault(key, []).append(value)
    for key in keep:
        if key in row:
            batch_out.setdefault(key, []).append(row[key])


def random_crops(batch: dict, crop_seconds: float = DEFAULT_CROP_SECONDS, min_seconds: float = DEFAULT_MIN_SECONDS,
                 sampling_rate: int = SAMPLING_RATE, seed: int = 0, crops_per_track: int = 1,
                 keep_columns: Sequence[str] = (), stats: Optional[ChunkStats] = None) -> dict:
    """Batched map function: ``crops_per_track`` random crops of ``crop_seconds`` per track (pre-training).

    Tracks shorter than ``min_seconds`` are dropped (counted in ``stats``); tracks between ``min_seconds`` and
    ``crop_seconds`` are kept whole (the collator pads). Output columns: ``input_values`` (float32), ``track_id``,
    ``start`` (seconds) and ``keep_columns``.
    """
    _check(crop_seconds, min_seconds, "crop_seconds")
    stats = stats if stats is not None else ChunkStats()
    out = {"input_values": [], "track_id": [], "start": []}
    for key in keep_columns:
        out[key] = []
    for row in _rows(batch):
        for chunk in _crops_of(row["audio"], row.get("track_id", row.get("id")), row.get("duration"), crop_seconds,
                               min_seconds, sampling_rate, seed, crops_per_track, stats):
            _emit(out, chunk, row, keep_columns)
    return out


def fixed_windows(batch: dict, window_seconds: float = DEFAULT_WINDOW_SECONDS, hop_seconds: Optional[float] = None,
                  min_seconds: Optional[float] = None, sampling_rate: int = SAMPLING_RATE,
                  keep_columns: Sequence[str] = DEFAULT_KEEP, stats: Optional[ChunkStats] = None) -> dict:
    """Batched map function: consecutive windows (probing); a track shorter than a window is one shorter window.

    The tail is kept as a shorter window when it is at least ``min_seconds`` long (default: half a window, at most
    the track length). Output: ``input_values``, ``track_id``, ``window_index``, ``window_start``, ``window_end``
    (seconds) and ``keep_columns`` (default ``labels``, ``tags``) copied to every window of the track.
    """
    min_seconds = window_seconds / 2 if min_seconds is None else min_seconds
    _check(window_seconds, min(min_seconds, window_seconds), "window_seconds")
    if hop_seconds is not None and hop_seconds <= 0:
        raise ValueError(f"hop_seconds={hop_seconds} must be positive")
    stats = stats if stats is not None else ChunkStats()
    out = {"input_values": [], "track_id": [], "window_index": [], "window_start": [], "window_end": []}
    for key in keep_columns:
        if key in batch:
            out[key] = []
    for row in _rows(batch):
        # a track shorter than a window still gives one window if it reaches 400 samples (MERT's receptive field)
        minimum = min(min_seconds, 400 / sampling_rate) if _short(row, window_seconds, sampling_rate) else min_seconds
        for chunk in _windows_of(row["audio"], row.get("track_id", row.get("id")), row.get("duration"),
                                 window_seconds, hop_seconds, minimum, sampling_rate, stats):
            _emit(out, chunk, row, keep_columns)
    return out


def _short(row, window_seconds, sampling_rate):
    total = _duration(row["audio"], row.get("duration"), sampling_rate)
    return total is not None and total < window_seconds


def _check(length, minimum, name):
    if length <= 0:
        raise ValueError(f"{name}={length} must be positive")
    if minimum < 0 or minimum > length:
        raise ValueError(f"min_seconds={minimum} must be between 0 and {name}={length}")


def _map(dataset, function, batch_size, map_kwargs, **kwargs):
    columns = dataset.column_names
    return dataset.map(function, batched=True, batch_size=batch_size, remove_columns=columns, fn_kwargs=kwargs,
                       **(map_kwargs or {}))


def crop_dataset(dataset, crop_seconds: float = DEFAULT_CROP_SECONDS, min_seconds: float = DEFAULT_MIN_SECONDS,
                 sampling_rate: int = SAMPLING_RATE, seed: int = 0, crops_per_track: int = 1,
                 keep_columns: Sequence[str] = (), batch_size: int = 16, **map_kwargs):
    """Random crops of every track, for pre-training: ``random_crops`` mapped over a dataset.

    Args:
        dataset: a ``Dataset`` or ``IterableDataset`` with an ``audio`` column (as :func:`load_tradition` returns).
        crop_seconds: crop length.
        min_seconds: tracks shorter than this are dropped; tracks between it and ``crop_seconds`` are kept whole.
        sampling_rate: the rate of the decoded audio.
        seed: seed of the crops' positions.
        crops_per_track: crops drawn from each track.
        keep_columns: source columns copied to every crop (``labels``, ``tags`` ...).
        batch_size: tracks per ``.map`` batch.
        **map_kwargs: passed to ``.map`` (map-style only: ``num_proc``, ``load_from_cache_file``...).

    Returns:
        A dataset of the same kind with ``input_values`` (float32), ``track_id``, ``start`` (seconds) and
        ``keep_columns``; the source columns are dropped.

    Example:
        ```python
        crops = crop_dataset(train, crop_seconds=5.0, min_seconds=3.0, seed=0)
        ```
    """
    return _map(dataset, random_crops, batch_size, map_kwargs, crop_seconds=crop_seconds, min_seconds=min_seconds,
                sampling_rate=sampling_rate, seed=seed, crops_per_track=crops_per_track,
                keep_columns=tuple(keep_columns))


def window_dataset(dataset, window_seconds: float = DEFAULT_WINDOW_SECONDS, hop_seconds: Optional[float] = None,
                   min_seconds: Optional[float] = None, sampling_rate: int = SAMPLING_RATE,
                   keep_columns: Sequence[str] = DEFAULT_KEEP, batch_size: int = 16, **map_kwargs):
    """Consecutive fixed windows of every track, for probing: ``fixed_windows`` mapped over a dataset.

    Args:
        dataset: a ``Dataset`` or ``IterableDataset`` with an ``audio`` column.
        window_seconds: window length (MARBLE: 30 s); a track shorter than a window is one shorter window.
        hop_seconds: hop between windows (default: the window, no overlap).
        min_seconds: the tail is kept as a shorter window when at least this long (default: half a window).
        sampling_rate: the rate of the decoded audio.
        keep_columns: source columns copied to every window (default ``labels``, ``tags``).
        batch_size: tracks per ``.map`` batch.
        **map_kwargs: passed to ``.map`` (map-style only).

    Returns:
        A dataset of windows with ``input_values``, ``track_id``, ``window_index``, ``window_start``,
        ``window_end`` (seconds) and ``keep_columns``, so window predictions can be averaged per track.

    Example:
        ```python
        windows = window_dataset(test, window_seconds=30.0)
        ```
    """
    return _map(dataset, fixed_windows, batch_size, map_kwargs, window_seconds=window_seconds,
                hop_seconds=hop_seconds, min_seconds=min_seconds, sampling_rate=sampling_rate,
                keep_columns=tuple(keep_columns))


def iter_random_crops(examples: Iterable[dict], crop_seconds: float = DEFAULT_CROP_SECONDS,
                      min_seconds: float = DEFAULT_MIN_SECONDS, sampling_rate: int = SAMPLING_RATE, seed: int = 0,
                      crops_per_track: int = 1, keep_columns: Sequence[str] = (),
                      stats: Optional[ChunkStats] = None) -> Iterator[dict]:
    """Iterator version of ``random_crops`` over any iterable of examples (map-style or streaming dataset)."""
    _check(crop_seconds, min_seconds, "crop_seconds")
    stats = stats if stats is not None else ChunkStats()
    for row in examples:
        for chunk in _crops_of(row["audio"], row.get("track_id", row.get("id")), row.get("duration"), crop_seconds,
                               min_seconds, sampling_rate, seed, crops_per_track, stats):
            chunk.update({key: row[key] for key in keep_columns if key in row})
            yield chunk


def iter_windows(examples: Iterable[dict], window_seconds: float = DEFAULT_WINDOW_SECONDS,
                 hop_seconds: Optional[float] = None, min_seconds: Optional[float] = None, sampling_rate: int = SAMPLING_RATE,
                 keep_columns: Sequence[str] = DEFAULT_KEEP, stats: Optional[ChunkStats] = None) -> Iterator[dict]:
    """Iterator version of ``fixed_windows``."""
    for row in examples:
        batch = {key: [value] for key, value in row.items()}
        out = fixed_windows(batch, window_seconds, hop_seconds, min_seconds, sampling_rate, keep_columns, stats)
        for i in range(len(out["track_id"])):
            yield {key: out[key][i] for key in out}


def num_windows(duration: float, window_seconds: float = DEFAULT_WINDOW_SECONDS,
                hop_seconds: Optional[float] = None, min_seconds: Optional[float] = None) -> int:
    """How many windows ``fixed_windows`` cuts from a track of ``duration`` seconds (for sizing and tests)."""
    hop = hop_seconds or window_seconds
    min_seconds = window_seconds / 2 if min_seconds is None else min_seconds
    if duration < window_seconds:
        return 1 if duration >= min(min_seconds, duration) else 0
    full = int(math.floor((duration - window_seconds) / hop + 1e-9)) + 1
    tail = duration - (full - 1) * hop - hop
    return full + (1 if (full - 1) * hop + window_seconds < duration - 1e-9 and tail >= min_seconds - 1e-9 else 0)
