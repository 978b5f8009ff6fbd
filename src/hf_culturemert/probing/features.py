"""Frozen MERT features for probing: every layer, mean-pooled per window, cached on disk as a ``datasets`` object.

Extraction dominates the cost of probing (the probes themselves train in seconds), so features are computed once per
(model weights, dataset split, settings) and reused by every layer, learning rate and seed, and by later runs. The
cache key hashes the model's *weights* (so an overwritten folder or a merged model in memory gets its own entry), the
dataset's identity (files or fingerprint), the split and the extraction settings.

Windows of many tracks are packed into one batch (padding-safe: the model gives each padded window the features it
gives alone), so short clips (MTAT, FMA: one 30 s window each) still fill the accelerator.
"""

import collections
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..inference import model_fingerprint  # noqa: F401 -- the weights' identity, also the export cache's key
from .sharding import extract_sharded, is_main_process, main_process_value

logger = logging.getLogger(__name__)

CACHE_ENV = "CULTUREMERT_CACHE"
FEATURE_FORMAT_VERSION = 1


def default_cache_dir():
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "huggingface" / "culturemert" / "features")


# ----------------------------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------------------------


def _bad_shards(folder):
    """``"<shard> is not a valid parquet file; "`` for each unreadable ``*.parquet`` below ``folder``."""
    import pyarrow.parquet as pq

    bad = []
    for shard in sorted(Path(folder).rglob("*.parquet")):
        try:
            pq.ParquetFile(shard).close()
        except (OSError, ValueError):
            bad.append(str(shard))
    return "".join(f"{path} is not a valid parquet file; " for path in bad[:3]) + (
        f"({len(bad) - 3} more); " if len(bad) > 3 else "")


def load_backbone(model):
    """A ``MERTModel`` from a path / Hub id / short name, or the backbone of a model object (``.mert`` if present)."""
    if isinstance(model, str) and model == "tiny-random":  # the offline demo model, as in `culturemert embed`
        from ..testing import random_model

        return random_model()
    if isinstance(model, (str, os.PathLike)):
        try:
            from ..export import load_model
        except ImportError:  # export not available: plain from_pretrained
            from ..models.mert.modeling_mert import MERTModel

            return MERTModel.from_pretrained(str(model))
        return load_model(str(model))
    if isinstance(model, torch.nn.Module):
        return getattr(model, "mert", model)
    raise ValueError(f"`model` must be a path, a Hub id or a MERT model object, got {type(model).__name__}")


def model_display_name(model):
    if isinstance(model, (str, os.PathLike)):
        text = str(model).rstrip("/")
        return Path(text).name if Path(text).exists() else text.split("/")[-1]
    return getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__


def resolve_device(device):
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype, device):
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in table:
        raise ValueError(f"Unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return table[dtype]


# ----------------------------------------------------------------------------------------------------------------
# datasets
# ----------------------------------------------------------------------------------------------------------------


def _folder_identity(folder, split):
    """Files of ``split`` in a dataset folder (name, size, mtime): changes when the data is rebuilt."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and split in p.name and not p.name.startswith("."))
    if not files:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".parquet", ".arrow"))
    stats = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha256(json.dumps([str(folder.resolve()), stats]).encode()).hexdigest()


def _vocabulary_from_folder(folder):
    try:
        from ..data.hub_layout import read_vocabulary
    except ImportError:
        read_vocabulary = None
    if read_vocabulary is not None:
        return read_vocabulary(folder)
    path = Path(folder) / "vocabulary.json"
    return list(json.loads(path.read_text())["tags"]) if path.is_file() else None


def _registry_tags(name):
    try:
        from ..data.registry import get_dataset_info
    except ImportError:
        return None
    try:
        return list(get_dataset_info(name).tags)
    except ValueError:
        return None


def load_split(dataset, split, data_root=None):
    """Load one split of a probing dataset -> (``datasets.Dataset``, tag names or None, identity string).

    ``dataset`` is a local folder (Hub layout, or ``save_to_disk`` output), a name found under ``data_root``, a
    registry name (resolved by ``hf_culturemert.data.load_tradition``), or a ``datasets.DatasetDict``; names
    resolve in the order of :mod:`hf_culturemert.data.resolve` (never from the working directory).
    """
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        if split not in dataset:
            raise ValueError(f"The DatasetDict has no split {split!r}; it has {list(dataset)}")
        ds = dataset[split]
        return ds, None, f"fingerprint:{ds._fingerprint}"
    from ..data.resolve import resolve_dataset

    name = str(dataset)
    folder = resolve_dataset(name, data_root)
    if folder is not None:
        if (folder / "dataset_dict.json").is_file():
            dd = datasets.load_from_disk(str(folder))
            if split not in dd:
                raise ValueError(f"Dataset folder {folder} has no split {split!r}; it has {list(dd)}")
            ds = dd[split]
        else:
            try:
                ds = datasets.load_dataset(str(folder), split=split)
            except (ValueError, OSError, datasets.exceptions.DatasetGenerationError) as error:
                raise ValueError(f"Could not load split {split!r} of dataset folder {folder}: {_bad_shards(folder)}"
                                 f"{' '.join(str(error).split())}. Rebuild the folder (e.g. `culturemert "
                                 "synthesize` or its dataset builder) or remove the bad files") from error
        tags = _vocabulary_from_folder(folder) or _registry_tags(folder.name)
        return ds, tags, f"folder:{_folder_identity(folder, split)}"
    try:
        from ..data import load_tradition
    except ImportError as error:
        raise FileNotFoundError(f"Dataset {name!r} is neither a folder nor found under data_root={data_root!r}, and "
                                f"the dataset registry (hf_culturemert.data.load_tradition) is unavailable") from error
    from ..hub_access import hub_unreachable_reason

    def unreachable(reason):  # one line, at once, with the offline way
        return ValueError(f"Dataset {name!r} comes from the Hugging Face Hub, which cannot be reached ({reason}); "
                          "build it offline (`culturemert synthesize --output-dir DIR` for the synthetic "
                          "traditions) and pass --data_root DIR, or pass a dataset folder")

    reason = hub_unreachable_reason()
    if reason is not None and "HF_HUB_OFFLINE" not in reason:  # offline mode may still find a cached copy
        raise unreachable(reason)
    try:
        ds = load_tradition(name, split)
    except ConnectionError as error:
        raise unreachable(" ".join(str(error).split())[:200]) from error
    return ds, _registry_tags(name), f"registry:{name}:{getattr(ds, '_fingerprint', '')}"


class DecodedAudioCache:
    """Decoded clips kept in memory, least recently used first out, within ``max_bytes``: probing many models on the
    same datasets in one process (a study's evaluation, a lambda sweep) decodes each clip once, not once per model.
    Keys name the dataset (its cache identity), the split, the row and the sampling rate."""

    def __init__(self, max_bytes=0):
        self.max_bytes, self.bytes, self.hits, self.misses = int(max_bytes), 0, 0, 0
        self._items = collections.OrderedDict()

    def resize(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self._evict()

    def _evict(self):
        while self._items and self.bytes > self.max_bytes:
            _key, wave = self._items.popitem(last=False)
            self.bytes -= wave.nbytes

    def get(self, key, load):
        """``load()``'s array for ``key``, from memory when it is there (read-only: callers copy what they cut)."""
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        wave = load()
        if self.max_bytes > 0 and wave.nbytes <= self.max_bytes:
            wave.flags.writeable = False
            self._items[key] = wave
            self.bytes += wave.nbytes
            self._evict()
        return wave


AUDIO_CACHE = DecodedAudioCache()  # one per process, sized by ProbeArguments.audio_cache_mb


class _TrackWindows(torch.utils.data.Dataset):
    """Decodes track ``i`` and cuts it into windows (runs in DataLoader workers)."""

    def __init__(self, ds, sampling_rate, window, hop, min_samples, label_column, audio_key=None):
        self.ds, self.sampling_rate = ds, sampling_rate
        self.window, self.hop, self.min_samples, self.label_column = window, hop, min_samples, label_column
        self.audio_key = audio_key  # (dataset identity, split): decoded clips go through AUDIO_CACHE
        self.frame_samples = 0  # the model's receptive field: a track needs one frame

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, index):
        from ..audio import load_audio
        from ..features import window_bounds

        row = self.ds[index]
        track_id = str(row.get("id", index))
        def load():
            return load_audio(row["audio"], sampling_rate=self.sampling_rate, allow_silent=True)

        try:
            wave = load() if self.audio_key is None else \
                AUDIO_CACHE.get((*self.audio_key, index, self.sampling_rate), load)
        except ValueError as error:
            raise ValueError(f"Track {track_id!r} (row {index}): {error}") from error
        if wave.shape[0] < self.frame_samples:  # shorter than half a window is fine: one window (window_bounds)
            raise ValueError(f"Track {track_id!r} (row {index}) has {wave.shape[0]} samples, fewer than one frame")
        bounds = window_bounds(wave.shape[0], self.window, self.hop, self.min_samples)
        labels = np.asarray(row[self.label_column], dtype=np.float32)
        return track_id, labels, [torch.from_numpy(wave[s:e].copy()) for s, e in bounds], bounds


@torch.no_grad()
def _forward_windows(backbone, windows, normalize, device, dtype):
    """[num_windows] waveforms -> [num_windows, L+1, H] float32 means over each window's valid frames."""
    from ..audio import normalize_waveform

    lengths = torch.tensor([w.shape[0] for w in windows])
    batch = torch.zeros(len(windows), int(lengths.max()))
    for row, wave in enumerate(windows):
        batch[row, : wave.shape[0]] = wave
    padded = bool((lengths < batch.shape[1]).any())
    if normalize:  # equal lengths (the usual batch of full windows): the cheaper unmasked statistics
        batch = normalize_waveform(batch, lengths if padded else None)
    attention_mask = None
    if padded:
        attention_mask = (torch.arange(batch.shape[1])[None] < lengths[:, None]).long().to(device)
    outputs = backbone(batch.to(device=device, dtype=dtype), attention_mask=attention_mask,
                       output_hidden_states=True, return_dict=True)
    if not padded:
        return torch.stack([h.mean(1, dtype=torch.float32) for h in outputs.hidden_states], dim=1).cpu()
    states = torch.stack(outputs.hidden_states, dim=1)  # [B, L+1, T, H]
    frames = backbone._get_feat_extract_output_lengths(lengths).to(device)
    valid = (torch.arange(states.shape[2], device=device)[None] < frames[:, None]).to(states.dtype)
    pooled = (states * valid[:, None, :, None]).sum(2, dtype=torch.float32) / frames[:, None, None].float()
    return pooled.cpu()


def _collate_tracks(items):
    return items


def extract_split_features(backbone, ds, args, device, dtype, description="features", audio_key=None):
    """Run ``backbone`` over every window of every track of ``ds``; returns numpy columns for the cache.

    ``audio_key`` (dataset identity, split) keeps the decoded clips in :data:`AUDIO_CACHE` for the next model
    (``args.audio_cache_mb``; decoding in the main process only)."""
    config = backbone.config
    rate = int(config.sample_rate)
    window = int(round(args.window_seconds * rate))
    hop = int(round((args.hop_seconds or args.window_seconds) * rate))
    min_seconds = args.min_window_seconds if args.min_window_seconds is not None else args.window_seconds / 2
    min_samples = max(int(round(min_seconds * rate)), int(config.receptive_field))
    from datasets import Audio

    if "audio" not in ds.column_names:
        raise ValueError(f"The dataset has no 'audio' column (columns: {ds.column_names})")
    label_column = "labels" if "labels" in ds.column_names else None
    if label_column is None:
        raise ValueError(f"The dataset has no 'labels' column (multi-hot tags); columns: {ds.column_names}")
    ds = ds.cast_column("audio", Audio(decode=False))
    AUDIO_CACHE.resize(args.audio_cache_mb * 2 ** 20)
    if args.num_workers or not args.audio_cache_mb:
        audio_key = None  # workers are other processes: their cache would die with them
    tracks = _TrackWindows(ds, rate, window, hop, min_samples, label_column, audio_key)
    tracks.frame_samples = int(config.receptive_field)
    loader = torch.utils.data.DataLoader(tracks, batch_size=1, collate_fn=_collate_tracks, num_workers=args.num_workers)
    track_ids, labels, starts, ends, features = [], [], [], [], []
    pending = []

    def flush():
        if pending:
            features.append(_forward_windows(backbone, pending, args.normalize, device, dtype).numpy())
            pending.clear()

    for items in tqdm(loader, desc=description, disable=not args.progress, unit="track"):
        for track_id, track_labels, windows, bounds in items:
            for wave, (start, end) in zip(windows, bounds):
                pending.append(wave)
                track_ids.append(track_id)
                labels.append(track_labels)
                starts.append(start / rate)
                ends.append(end / rate)
                if len(pending) >= args.extraction_batch_size:
                    flush()
    flush()
    if not track_ids:
        raise ValueError("The dataset split is empty: no track to extract features from")
    return {"track_id": track_ids, "window_start": np.asarray(starts, np.float32),
            "window_end": np.asarray(ends, np.float32), "labels": np.stack(labels).astype(np.float32),
            "features": np.concatenate(features).astype(np.float32)}


def cached_split_features(backbone, fingerprint, dataset, split, args, device, dtype, model_name="model"):
    """Features of one split from the cache, extracting and saving them on a miss.

    Returns ``(columns, info)``: columns are numpy arrays (``features`` [N, L+1, H], ``labels`` [N, T],
    ``track_id``, ``window_start`` / ``window_end``); info has ``cache_hit``, ``path``, ``key`` and ``tags``.
    """
    import datasets

    ds, tags, identity = load_split(dataset, split, args.data_root)
    if args.max_tracks is not None:
        ds = ds.select(range(min(args.max_tracks, len(ds))))
    key = {
        "format": FEATURE_FORMAT_VERSION, "model": fingerprint, "dataset": identity, "split": split,
        "num_tracks": len(ds), "window_seconds": args.window_seconds, "hop_seconds": args.hop_seconds,
        "min_window_seconds": args.min_window_seconds, "normalize": args.normalize, "dtype": str(dtype),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    # the folder name is readable but keyed only by the digest: the same weights under another name share it
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(str(dataset)).name)
    path = root / f"{safe}--{split}--{digest}"
    hit = main_process_value((path / "dataset_info.json").is_file() and not args.overwrite_cache)
    if hit:
        logger.info("Feature cache hit: %s", path)
        cached = datasets.load_from_disk(str(path)).with_format("numpy")
        columns = cached[:]
        columns["track_id"] = [str(t) for t in columns["track_id"]]
    else:
        logger.info("Feature cache miss: extracting %s/%s with %s -> %s", dataset, split, model_name, path)
        begin = time.perf_counter()
        from ..backends import for_inference

        backbone = for_inference(backbone, args.backend, fingerprint=fingerprint)
        columns = extract_sharded(extract_split_features, backbone, ds, args, device, dtype,
                                  description=f"{split} features", audio_key=(identity, split))
        elapsed = time.perf_counter() - begin
        audio_seconds = float(np.sum(columns["window_end"] - columns["window_start"]))
        logger.info("Extracted %d windows (%.0f s of audio) in %.1f s (%.0fx real time)", len(columns["track_id"]),
                    audio_seconds, elapsed, audio_seconds / max(elapsed, 1e-9))
    if not hit and is_main_process():  # under `accelerate launch` the main process alone writes the cache
        num_states, hidden = columns["features"].shape[1:]
        features = datasets.Features({
            "track_id": datasets.Value("string"), "window_start": datasets.Value("float32"),
            "window_end": datasets.Value("float32"),
            "labels": datasets.List(datasets.Value("float32")),
            "features": datasets.Array2D(shape=(num_states, hidden), dtype="float32"),
        })
        table = datasets.Dataset.from_dict(columns, features=features)
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        quiet = not args.progress and not datasets.is_progress_bar_enabled()
        if not args.progress:
            datasets.disable_progress_bars()
        try:
            table.save_to_disk(str(tmp))
        finally:
            if not args.progress and not quiet:
                datasets.enable_progress_bars()
        (tmp / "cache_key.json").write_text(json.dumps({**key, "model_name": model_name, "dataset_name": str(dataset)},
                                                       indent=2))
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
    if tags is not None and len(tags) != columns["labels"].shape[1]:
        logger.warning("Vocabulary has %d tags but labels have %d columns; using generic tag names", len(tags),
                       columns["labels"].shape[1])
        tags = None
    return columns, {"cache_hit": hit, "path": str(path), "key": key, "tags": tags}
