"""Lyra (Greek traditional and folk music): cut the user's own downloads of the 74 videos at each piece's timestamps.

The audio of Lyra is not distributed: each of the 1570 pieces is ``[start-ts, end-ts]`` (seconds) of a public video
(``youtube-id``). Put your downloads in one folder, named by video id with any extension ffmpeg reads
(``Zy8tjrTf4sg.m4a``, ``cKXi8_5_Rd4.webm``, ``.mp4``, ``.wav``...). Splits: the official training/test split;
validation = a random 10% of training drawn exactly as ccml (``np.random.seed(10)``, shuffle, first 10%).
Tags: ``instruments--*``, ``genres--*``, ``place--*`` (``place--None`` is a tag); labels over ccml's top-30.
"""

import csv
import dataclasses
import logging
import math
from dataclasses import field
from pathlib import Path
from typing import Optional

import numpy as np

from ..hub_layout import CardInfo, SkipExample, multi_hot
from ..registry import DATASETS, resource_path
from .common import BuildArguments, audio_value, build, decode, limited, maybe_push, top_n_tags

logger = logging.getLogger(__name__)

COLUMNS = ("id", "instruments", "genres", "place", "coordinates", "is-danced", "youtube-id", "start-ts", "end-ts")
TAG_COLUMNS = ("instruments", "genres", "place")
IGNORED_SUFFIXES = {".part", ".ytdl", ".json", ".txt", ".jpg", ".jpeg", ".png", ".webp", ".description", ".vtt",
                    ".srt", ".tmp"}


@dataclasses.dataclass
class LyraArguments(BuildArguments):
    videos_dir: str = field(default=None, metadata={
        "help": "Folder with your downloads of the Lyra videos, named <youtube-id>.<ext> (any ffmpeg format)."})
    metadata_dir: Optional[str] = field(default=None, metadata={
        "help": "Folder with training.tsv and test.tsv (default: the copies packaged with hf_culturemert)."})
    validation_fraction: float = field(default=0.1, metadata={"help": "Share of training used for validation."})
    validation_seed: int = field(default=10, metadata={"help": "Seed of ccml's validation draw (np.random.seed)."})
    vocabulary: str = field(default="ccml", metadata={
        "help": "'ccml': the published top-30 list; 'train': top-30 recomputed on the built training split."})
    top_n: int = field(default=30, metadata={"help": "Vocabulary size with --vocabulary train."})


def read_tsv(path) -> tuple:
    """Rows of a Lyra TSV as dicts, plus ``(row number, reason)`` for malformed rows."""
    rows, problems = [], []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing Lyra columns {missing}; expected a TSV with header {list(COLUMNS)}")
        for number, row in enumerate(reader, start=2):
            problem = _row_problem(row)
            if problem:
                problems.append({"id": (row.get("id") or f"row {number}"), "reason": f"malformed metadata row "
                                 f"{number} of {Path(path).name}: {problem}"})
            else:
                rows.append(row)
    return rows, problems


def _row_problem(row) -> Optional[str]:
    if None in row or any(row.get(c) in (None, "") for c in ("id", "youtube-id", "start-ts", "end-ts") + TAG_COLUMNS):
        return "missing fields"
    try:
        start, end = float(row["start-ts"]), float(row["end-ts"])
    except ValueError:
        return f"non-numeric timestamps {row['start-ts']!r}, {row['end-ts']!r}"
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
        return f"invalid cut [{row['start-ts']}, {row['end-ts']}]"
    return None


def piece_tags(row) -> list:
    """ccml's tags: one per ``|``-separated value of instruments, genres and place, with the column as prefix."""
    return [f"{column}--{value.strip()}" for column in TAG_COLUMNS for value in row[column].split("|") if value.strip()]


def ccml_validation_split(rows: list, fraction: float = 0.1, seed: int = 10) -> tuple:
    """ccml's ``torch_train_val_split``: indices shuffled after ``np.random.seed(seed)``; first ``fraction`` = valid."""
    indices = list(range(len(rows)))
    np.random.RandomState(seed).shuffle(indices)
    cut = int(np.floor(fraction * len(rows)))
    validation = set(indices[:cut])
    return [r for i, r in enumerate(rows) if i not in validation], [rows[i] for i in sorted(indices[:cut])]


def index_videos(videos_dir) -> dict:
    """``{youtube id: file}`` for the downloads in ``videos_dir`` (partial downloads and sidecar files ignored)."""
    folder = Path(videos_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"--videos-dir {folder} does not exist; download the Lyra videos (the `youtube-id` "
                                "column of raw.tsv) into one folder, named <youtube-id>.<ext>")
    index = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() not in IGNORED_SUFFIXES and not path.name.startswith("."):
            index.setdefault(path.stem, path)
    return index


def _metadata_features():
    from datasets import Value

    return {"youtube_id": Value("string"), "start_ts": Value("float32"), "end_ts": Value("float32"),
            "coordinates": Value("string"), "is_danced": Value("bool")}


def build_lyra(args: LyraArguments):
    """Build the Lyra dataset folder; returns a ``BuildSummary``."""
    if not args.videos_dir:
        raise ValueError("--videos-dir is required: the folder with your downloads of the Lyra videos")
    metadata_dir = Path(args.metadata_dir) if args.metadata_dir else None
    training_path = metadata_dir / "training.tsv" if metadata_dir else resource_path("lyra", "training.tsv")
    test_path = metadata_dir / "test.tsv" if metadata_dir else resource_path("lyra", "test.tsv")
    for path in (training_path, test_path):
        if not Path(str(path)).is_file():
            raise FileNotFoundError(f"Lyra metadata file {path} not found (--metadata-dir needs training.tsv and "
                                    "test.tsv)")
    training, training_problems = read_tsv(training_path)
    test, test_problems = read_tsv(test_path)
    train, validation = ccml_validation_split(training, args.validation_fraction, args.validation_seed)
    splits = {"train": limited(train, args.limit), "validation": limited(validation, args.limit),
              "test": limited(test, args.limit)}
    if args.vocabulary == "ccml":
        vocabulary = list(DATASETS["lyra"].tags)
    elif args.vocabulary == "train":
        vocabulary = top_n_tags([piece_tags(r) for r in train], args.top_n)
    else:
        raise ValueError(f"--vocabulary {args.vocabulary!r}: choose 'ccml' or 'train'")
    videos = index_videos(args.videos_dir)
    missing_videos = sorted({r["youtube-id"] for rows in splits.values() for r in rows} - set(videos))
    if missing_videos:
        logger.warning("%d videos are missing from %s (their pieces will be skipped): %s", len(missing_videos),
                       args.videos_dir, ", ".join(missing_videos[:10]) + (" ..." if len(missing_videos) > 10 else ""))

    def make_example(row):
        video = videos.get(row["youtube-id"])
        if video is None:
            raise SkipExample(f"missing video: no file named {row['youtube-id']}.* in {args.videos_dir}")
        start, end = float(row["start-ts"]), float(row["end-ts"])
        waveform, rate = decode(video, args.sampling_rate, start, end, name=f"{video.name} [{start:g}-{end:g} s]")
        tags = piece_tags(row)
        return {"id": row["id"], "audio": audio_value(waveform, rate, row["id"]), "tags": tags,
                "labels": multi_hot(tags, vocabulary), "duration": len(waveform) / rate,
                "youtube_id": row["youtube-id"], "start_ts": start, "end_ts": end,
                "coordinates": row["coordinates"], "is_danced": row["is-danced"].strip() in ("1", "true", "True")}

    info = DATASETS["lyra"]
    card = CardInfo(pretty_name=info.pretty_name, license=info.license, citation=info.citation,
                    size_category="1K<n<10K", description=(
                        "Lyra: Greek traditional and folk music, 1570 pieces cut from public videos at the "
                        "dataset's timestamps (built locally from the user's own downloads with hf_culturemert's "
                        "`dataset_scripts/lyra.py`). Official training/test split; validation is ccml's random 10% "
                        "of training (seed 10). Tags: instruments--, genres--, place-- (place--None is a tag); "
                        f"`labels` are multi-hot over the {len(vocabulary)}-tag vocabulary in `vocabulary.json`."))
    pre_failures = {"train": [dict(p, split="train") for p in training_problems],
                    "test": [dict(p, split="test") for p in test_problems]}
    summary = build(args.output_dir, splits, make_example, vocabulary, card, _metadata_features(),
                    rows_per_shard=args.rows_per_shard, item_id=lambda r: r["id"], progress=not args.no_progress,
                    retry_failed=args.retry_failed,
                    pre_failures=pre_failures)
    return maybe_push(summary, args)
