"""Inputs of the transfer study: cached spectrograms (or waveforms for MERT), random crops, per-track chunks.

* :func:`load_inputs`: one split of a dataset, decoded at the model's rate, cut at the study's maximum duration,
  turned into the model's input representation with ``datasets.map`` (batched; the mel front end runs on the
  accelerator when ``device`` is one; ``datasets`` caches the result by fingerprint) and stored time-major as
  ``x`` [T, C] float16 (mel-dB [frames, 128] or waveform [samples, 1]) with ``labels`` and ``track_id``.
* :class:`RandomCrops`: training, one random crop of the model's input length per track per read.
* :class:`FixedCrops`: validation during training, one crop per track at a position fixed by the seed (the original
  code drew fresh random crops, which made the best-checkpoint choice noisy).
* :class:`TrackChunks`: test, every track cut into non-overlapping chunks, the remainder dropped; a track shorter
  than one chunk gives one chunk padded by repetition (the original code crashed on those).
"""

import logging
import zlib

import numpy as np
import torch

from ..constants import SAMPLING_RATE

logger = logging.getLogger(__name__)

MEL_RATE = 16000


def max_seconds_of(name):
    """The study's cut at load (makam 150 s, hindustani 780 s, carnatic 330 s), None for the others."""
    from ..data.registry import DATASETS, get_dataset_info

    try:
        info = get_dataset_info(name) if str(name) in DATASETS or "/" not in str(name) else None
    except ValueError:
        return None
    return info.max_duration if info is not None else None


def _representation(family, extractor, device):
    """batch of waveforms (list of 1-D float32 arrays) -> list of [T, C] float16 arrays."""
    if family == "mert":
        return lambda waves: [w.astype(np.float16)[:, None] for w in waves]

    def mel(waves):
        longest = max(len(w) for w in waves)
        batch = np.zeros((len(waves), longest), dtype=np.float32)
        for i, w in enumerate(waves):
            batch[i, :len(w)] = w
        out = extractor.mel_db(torch.from_numpy(batch), device=device).float().cpu()
        return [out[i, :, :extractor.num_frames(len(w))].T.numpy().astype(np.float16) for i, w in enumerate(waves)]

    return mel


def load_inputs(dataset, split, family, extractor, data_root=None, max_seconds=None, device=None, batch_size=8,
                max_tracks=None, name=None):
    """(``datasets.Dataset`` with ``x``, ``labels``, ``track_id``; tag names) for one split (see module docstring).

    Raises ``ValueError`` naming the dataset and split when the split is empty or has no labels column.
    """
    import datasets

    from ..probing.features import load_split

    label = name or str(dataset)
    try:
        ds, tags, _ = load_split(dataset, split, data_root=data_root)
    except IndexError as error:  # datasets cannot load a DatasetDict folder in which a split was saved with no rows
        empty = _empty_saved_splits(dataset, data_root) or ["?"]
        raise ValueError(f"Dataset {label!r}: split {empty[0]!r} is empty (no rows saved); every split (train, "
                         "validation, test) needs tracks") from error
    if len(ds) == 0:
        raise ValueError(f"Dataset {label!r}: split {split!r} is empty; every split (train, validation, test) needs "
                         "tracks")
    if "labels" not in ds.column_names or "audio" not in ds.column_names:
        raise ValueError(f"Dataset {label!r}: split {split!r} needs 'audio' and 'labels' columns (multi-hot), it has "
                         f"{ds.column_names}")
    if max_tracks:
        ds = ds.select(range(min(int(max_tracks), len(ds))))
    if tags is None:
        tags = [f"tag_{i}" for i in range(len(ds[0]["labels"]))]
    rate = SAMPLING_RATE if family == "mert" else MEL_RATE
    ds = ds.cast_column("audio", datasets.Audio(sampling_rate=rate))
    represent = _representation(family, extractor, device)
    limit = int(max_seconds * rate) if max_seconds else None
    ids = "id" if "id" in ds.column_names else None

    def convert(batch, indices):
        waves = []
        for audio in batch["audio"]:
            wave = np.asarray(audio["array"] if isinstance(audio, dict) else audio.get_all_samples().data.numpy(),
                              dtype=np.float32)
            if wave.ndim > 1:
                wave = wave.mean(0)
            waves.append(wave[:limit] if limit else wave)
        return {"x": represent(waves), "labels": [np.asarray(v, dtype=np.float32) for v in batch["labels"]],
                "track_id": [str(v) for v in (batch[ids] if ids else indices)]}

    channels = 1 if family == "mert" else extractor.n_mels
    features = datasets.Features({"x": datasets.Array2D(shape=(None, channels), dtype="float16"),
                                  "labels": datasets.List(datasets.Value("float32")),
                                  "track_id": datasets.Value("string")})
    out = ds.map(convert, batched=True, batch_size=batch_size, with_indices=True, remove_columns=ds.column_names,
                 features=features, desc=f"{label}/{split}: {'waveforms' if family == 'mert' else 'spectrograms'}")
    return out.with_format("numpy"), list(tags)


def _empty_saved_splits(dataset, data_root):
    """Splits of a ``save_to_disk`` folder whose ``state.json`` lists no data file."""
    import json

    from ..data.resolve import resolve_dataset

    folder = resolve_dataset(dataset, data_root)
    if folder is None:
        return []
    found = []
    for state in sorted(folder.glob("*/state.json")):
        if not json.loads(state.read_text()).get("_data_files"):
            found.append(state.parent.name)
    return found


def _fit(x, length):
    """Repeat a [T, C] array along T until it holds ``length`` steps."""
    if len(x) >= length:
        return x
    reps = -(-length // max(len(x), 1))
    return np.concatenate([x] * reps, axis=0)[:length]


class _Base(torch.utils.data.Dataset):
    def __init__(self, inputs, length, to_model, input_name):
        self.inputs, self.length, self.to_model, self.input_name = inputs, int(length), to_model, input_name

    def _item(self, x, labels):
        return {self.input_name: self.to_model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))),
                "labels": torch.as_tensor(np.asarray(labels, dtype=np.float32))}


class RandomCrops(_Base):
    """One random crop of ``length`` steps per track per read (training). With ``multiple_of`` the epoch is padded
    to a multiple of it by reading the first tracks again, so that no batch is short (and none is dropped)."""

    def __init__(self, inputs, length, to_model, input_name, seed=0, multiple_of=1):
        super().__init__(inputs, length, to_model, input_name)
        self.rng = np.random.default_rng(seed)
        self.multiple_of = max(1, int(multiple_of))

    def __len__(self):
        return -(-len(self.inputs) // self.multiple_of) * self.multiple_of

    def __getitem__(self, index):
        row = self.inputs[int(index) % len(self.inputs)]
        x = _fit(row["x"], self.length)
        start = int(self.rng.integers(0, len(x) - self.length + 1))
        return self._item(x[start:start + self.length], row["labels"])


class FixedCrops(_Base):
    """One crop per track at a position fixed by ``seed`` and the track id (validation during training)."""

    def __init__(self, inputs, length, to_model, input_name, seed=0):
        super().__init__(inputs, length, to_model, input_name)
        self.seed = int(seed)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        row = self.inputs[int(index)]
        x = _fit(row["x"], self.length)
        rng = np.random.default_rng([self.seed, zlib.crc32(str(row["track_id"]).encode())])
        start = int(rng.integers(0, len(x) - self.length + 1))
        return self._item(x[start:start + self.length], row["labels"])


class TrackChunks(_Base):
    """Every track cut into non-overlapping chunks of ``length`` (remainder dropped, short tracks padded by
    repetition); ``track_index[i]`` is chunk i's track, ``references`` the per-track labels."""

    def __init__(self, inputs, length, to_model, input_name):
        super().__init__(inputs, length, to_model, input_name)
        self.chunks, track_index, references = [], [], []
        for track in range(len(inputs)):
            row = inputs[track]
            steps = len(row["x"])
            count = max(1, steps // self.length)
            self.chunks += [(track, c * self.length) for c in range(count)]
            track_index += [track] * count
            references.append(np.asarray(row["labels"], dtype=np.float32))
        self.track_index = np.asarray(track_index, dtype=np.int64)
        self.references = np.stack(references)
        self._cache = (None, None)

    def __len__(self):
        return len(self.chunks)

    def __getitem__(self, index):
        track, start = self.chunks[int(index)]
        if self._cache[0] != track:
            self._cache = (track, self.inputs[track])
        row = self._cache[1]
        x = _fit(row["x"], self.length)
        return self._item(x[start:start + self.length], row["labels"])


def aggregate_per_track(logits, track_index, num_tracks, mode="probabilities"):
    """Per-track scores from chunk ``logits`` [N, T]: ``probabilities`` averages the chunks' sigmoids (the study's
    CNNs), ``logits`` averages logits then applies the sigmoid (the study's AST). Returns [num_tracks, T]."""
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    index = torch.as_tensor(np.asarray(track_index), dtype=torch.int64)
    if logits.ndim != 2 or index.shape != (logits.shape[0],):
        raise ValueError(f"aggregate_per_track: logits must be [chunks, tags] and track_index [chunks], got "
                         f"{tuple(logits.shape)} and {tuple(index.shape)}")
    if mode not in ("probabilities", "logits"):
        raise ValueError(f"aggregate_per_track: mode must be 'probabilities' or 'logits', got {mode!r}")
    counts = torch.bincount(index, minlength=num_tracks).to(logits.dtype)
    if (counts == 0).any():
        raise ValueError(f"aggregate_per_track: tracks {torch.nonzero(counts == 0).flatten().tolist()[:5]} have no "
                         "chunk")
    values = torch.sigmoid(logits) if mode == "probabilities" else logits
    sums = torch.zeros(num_tracks, logits.shape[1], dtype=logits.dtype).index_add_(0, index, values)
    means = sums / counts[:, None]
    return (means if mode == "probabilities" else torch.sigmoid(means)).numpy()
