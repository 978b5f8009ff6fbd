"""Training corpora for continual pre-training: load, normalise columns, mix in replay, precompute EnCodec codes.

Every corpus is reduced to the columns ``id`` (str), ``audio`` (undecoded: bytes/path, so that the collator
decodes only the crop and can skip a broken file) and ``duration`` (seconds, -1 when unknown). Corpora are
concatenated; replay corpora are interleaved with ``datasets.interleave_datasets`` at ``replay_probability``.
"""

import hashlib
import io
import logging
from pathlib import Path

import numpy as np

from ..constants import SAMPLING_RATE

logger = logging.getLogger(__name__)

KEEP_COLUMNS = ("id", "audio", "duration")


def sine_corpus(num_clips=16, seed=0, min_seconds=1.0, max_seconds=2.0, sampling_rate=SAMPLING_RATE, name="sine"):
    """A small synthetic corpus of harmonic tones + noise (WAV bytes), for the tiny recipe and tests."""
    import soundfile as sf
    from datasets import Audio, Dataset, Features, Value

    rng = np.random.default_rng(seed)
    ids, audio, durations = [], [], []
    for i in range(num_clips):
        seconds = float(rng.uniform(min_seconds, max_seconds))
        t = np.arange(int(seconds * sampling_rate)) / sampling_rate
        f0 = float(rng.uniform(80, 800))
        wave = sum(0.3 / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) for k in range(1, 5))
        wave = (wave * np.exp(-t * rng.uniform(0.1, 2.0)) + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)
        buffer = io.BytesIO()
        sf.write(buffer, wave, sampling_rate, format="WAV", subtype="FLOAT")
        ids.append(f"{name}-{seed}-{i:05d}")
        audio.append({"bytes": buffer.getvalue(), "path": None})
        durations.append(len(wave) / sampling_rate)
    features = Features({"id": Value("string"), "audio": Audio(decode=False), "duration": Value("float64")})
    return Dataset.from_dict({"id": ids, "audio": audio, "duration": durations}, features=features)


def _load_one(spec, split="train", data_root=None, streaming=False, audio_column="audio", sampling_rate=SAMPLING_RATE):
    """One corpus from a spec: ``sine:N[:seed]``, a local dataset folder, or a registry name."""
    import datasets

    spec = str(spec)
    if spec.startswith("sine:"):
        parts = spec.split(":")
        try:
            count, seed = int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (IndexError, ValueError) as error:
            raise ValueError(f"Bad dataset spec {spec!r}: use 'sine:N' or 'sine:N:SEED'") from error
        dataset = sine_corpus(count, seed)
        return dataset.to_iterable_dataset() if streaming else dataset
    from ..data.resolve import is_path_like, resolve_dataset

    path = Path(spec).expanduser()
    if is_path_like(spec):  # names resolve in the order of hf_culturemert.data.resolve (not from the working dir)
        resolve_dataset(spec, argument="--train_datasets")
        if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
            dataset = datasets.load_from_disk(str(path))
            if isinstance(dataset, datasets.DatasetDict):
                dataset = dataset[split]
            return dataset.to_iterable_dataset() if streaming else dataset
        return datasets.load_dataset(str(path), split=split, streaming=streaming)
    from ..data import load_tradition

    folder = resolve_dataset(spec, data_root, require_root=True, argument="--train_datasets")
    repo = None if folder is None else str(folder)
    return load_tradition(spec, split=split, repo_id=repo, sampling_rate=sampling_rate, streaming=streaming)


def normalise_columns(dataset, audio_column="audio", source="corpus"):
    """Keep ``id``/``audio``/``duration`` (adding what is missing) with the audio left undecoded."""
    import datasets

    features = dataset.features
    if features is None:  # streaming dataset with unresolved features
        dataset = dataset._resolve_features()
        features = dataset.features
    if audio_column not in features:
        raise ValueError(f"Dataset {source!r} has no audio column {audio_column!r} (columns: {list(features)})")
    if audio_column != "audio":
        dataset = dataset.rename_column(audio_column, "audio")
        features = dataset.features
    if isinstance(features["audio"], datasets.Audio):
        dataset = dataset.cast_column("audio", datasets.Audio(decode=False))
    has_id, has_duration = "id" in features, "duration" in features
    if not has_id or not has_duration or features["id"].dtype != "string":
        def fill(example, index):
            out = {"id": str(example["id"]) if has_id else f"{source}-{index}"}
            if not has_duration:
                out["duration"] = -1.0
            return out

        dataset = dataset.map(fill, with_indices=True)
    drop = [c for c in dataset.column_names if c not in KEEP_COLUMNS]
    if drop:
        dataset = dataset.remove_columns(drop)
    target = datasets.Features({"id": datasets.Value("string"), "audio": datasets.Audio(decode=False),
                                "duration": datasets.Value("float64")})
    if dataset.features != target:
        dataset = dataset.cast(target)
    return dataset


def build_train_dataset(args):
    """The training stream of a stage: concatenated corpora, replay interleaved at ``replay_probability``."""
    import datasets

    def load_all(specs):
        loaded = [normalise_columns(_load_one(s, args.train_split, args.data_root, args.streaming,
                                              args.audio_column), "audio", str(s)) for s in specs]
        if not loaded:
            return None
        return loaded[0] if len(loaded) == 1 else datasets.concatenate_datasets(loaded)

    if not args.train_datasets:
        raise ValueError("No training data: set train_datasets (registry names, folders or 'sine:N')")
    main = load_all(args.train_datasets)
    replay = load_all(args.replay_datasets)
    if args.streaming:
        main = main.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer_size)
        if replay is not None:
            replay = replay.shuffle(seed=args.seed + 1, buffer_size=args.shuffle_buffer_size)
    if replay is not None and args.replay_probability > 0:
        p = float(args.replay_probability)
        main = datasets.interleave_datasets([main, replay], probabilities=[1.0 - p, p], seed=args.seed,
                                            stopping_strategy="all_exhausted")
        logger.info("Interleaved replay corpora %s at probability %.2f", args.replay_datasets, p)
    return main


def precompute_codes(dataset, teacher, sampling_rate=SAMPLING_RATE, batch_size=4, codes_column="codec_codes",
                     cache_name=None):
    """Add whole-track EnCodec codes (int16 ``[K, ceil(S/320)]``) with ``datasets.map`` (cached by fingerprint).

    Undecodable tracks get empty codes (the collator then falls back to the on-line teacher and skips the file).
    """
    import torch

    from ..audio import load_audio

    def encode(batch):
        out = []
        for audio in batch["audio"]:
            try:
                wave = load_audio(audio, sampling_rate, allow_silent=True)
            except (ValueError, FileNotFoundError) as error:
                logger.warning("precompute_codes: skipping undecodable track: %s", error)
                out.append([])
                continue
            with torch.no_grad():
                codes = teacher(torch.from_numpy(wave)[None], num_frames=-(-len(wave) // 320))[0]
            out.append(codes.cpu().numpy().astype(np.int16).tolist())
        return {codes_column: out}

    fingerprint = hashlib.sha256(
        f"{dataset._fingerprint}|{cache_name or type(teacher).__name__}|{teacher.bandwidth}|"
        f"{teacher.num_codebooks}".encode()).hexdigest()[:16]
    return dataset.map(encode, batched=True, batch_size=batch_size, new_fingerprint=fingerprint,
                       desc="EnCodec codes")
