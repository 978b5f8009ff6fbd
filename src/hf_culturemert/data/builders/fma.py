"""FMA-medium from the user's copy of ``fma_medium.zip`` (or its extracted folder): ccml's split and genres.

Split: ccml's random 0.7/0.1/0.2 split of the 25,000 tracks (packaged; not FMA's official split). Tags: a track's
genres (packaged ``genres.json``, from FMA's metadata); ``labels`` are multi-hot over ccml's top-20 genres.
``--tracks-csv`` (``fma_metadata/tracks.csv``) adds each track's title and artist.
"""

import csv
import dataclasses
import json
import logging
from dataclasses import field
from pathlib import Path
from typing import Optional

from ..hub_layout import CardInfo, multi_hot
from ..registry import DATASETS, resource_path
from .common import AudioArchive, BuildArguments, audio_value, build, decode, limited, maybe_push

logger = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}


@dataclasses.dataclass
class FMAArguments(BuildArguments):
    audio: str = field(default=None, metadata={"help": "fma_medium.zip or its extracted folder (000/000002.mp3...)."})
    tracks_csv: Optional[str] = field(default=None, metadata={
        "help": "Optional fma_metadata/tracks.csv, for title and artist columns."})
    splits_dir: Optional[str] = field(default=None, metadata={
        "help": "Folder with train.txt/valid.txt/test.txt and genres.json (default: ccml's, packaged)."})


def track_path(track_id: str) -> str:
    tid = f"{int(track_id):06d}"
    return f"{tid[:3]}/{tid}.mp3"


def read_tracks_csv(path) -> dict:
    """``{track id: (title, artist)}`` from FMA's three-row-header ``tracks.csv``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--tracks-csv {path} not found (fma_metadata/tracks.csv)")
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        top, sub = next(reader, []), next(reader, [])
        next(reader, None)  # the "track_id" row
        columns = {(a, b): i for i, (a, b) in enumerate(zip(top, sub))}
        title, artist = columns.get(("track", "title")), columns.get(("artist", "name"))
        if title is None or artist is None:
            raise ValueError(f"{path}: no (track, title) / (artist, name) columns; is it FMA's tracks.csv?")
        out = {}
        for fields in reader:
            if fields and fields[0].isdigit() and len(fields) > max(title, artist):
                out[f"{int(fields[0]):06d}"] = (fields[title], fields[artist])
    return out


def _metadata_features():
    from datasets import Value

    return {"track_id": Value("string"), "title": Value("string"), "artist": Value("string")}


def build_fma(args: FMAArguments):
    if not args.audio:
        raise ValueError("--audio is required: fma_medium.zip or the folder it extracts to")
    info = DATASETS["fma"]
    vocabulary = list(info.tags)
    base = Path(args.splits_dir) if args.splits_dir else None
    splits = {}
    for split, name in SPLIT_FILES.items():
        path = base / name if base else resource_path("splits", "fma", name)
        if not Path(str(path)).is_file():
            raise FileNotFoundError(f"FMA split file {path} not found")
        ids = [f"{int(line.strip()):06d}" for line in Path(str(path)).read_text().splitlines() if line.strip()]
        splits[split] = limited(ids, args.limit)
    genres_path = base / "genres.json" if base else resource_path("splits", "fma", "genres.json")
    genres = json.loads(Path(str(genres_path)).read_text(encoding="utf-8"))
    names = read_tracks_csv(args.tracks_csv) if args.tracks_csv else {}
    archive = AudioArchive(args.audio)
    pre_failures = {split: [] for split in splits}
    for split, ids in splits.items():
        kept = []
        for tid in ids:
            if tid not in genres:
                pre_failures[split].append({"split": split, "id": tid, "reason": "metadata: no genres for track"})
            else:
                kept.append(tid)
        splits[split] = kept

    def make_example(tid):
        relative = track_path(tid)
        waveform, rate = decode(archive.source(relative), args.sampling_rate, name=relative)
        title, artist = names.get(tid, ("", ""))
        tags = list(genres[tid])
        return {"id": tid, "audio": audio_value(waveform, rate, tid), "tags": tags,
                "labels": multi_hot(tags, vocabulary), "duration": len(waveform) / rate, "track_id": tid,
                "title": title, "artist": artist}

    card = CardInfo(pretty_name=info.pretty_name, license=info.license, citation=info.citation,
                    size_category="10K<n<100K", description=(
                        "FMA-medium built with hf_culturemert's `dataset_scripts/fma.py`: ccml's random 0.7/0.1/0.2 "
                        "split (not FMA's official split); `tags` are the track's genres, `labels` multi-hot over "
                        "ccml's top-20 (`vocabulary.json`). Audio licences are the artists' (see FMA)."))
    summary = build(args.output_dir, splits, make_example, vocabulary, card, _metadata_features(),
                    rows_per_shard=args.rows_per_shard, progress=not args.no_progress,
                    retry_failed=args.retry_failed, pre_failures=pre_failures)
    return maybe_push(summary, args)
