"""MagnaTagATune from the user's copy of the official files: the usual split by folder and the top-50 tags.

Inputs: the mp3 clips (the extracted folder with sub-folders ``0``...``f``, or ``mp3.zip`` = ``cat mp3.zip.*``) and
``annotations_final.csv`` (tab-separated: ``clip_id``, 188 binary tag columns, ``mp3_path``). Split: folders
``0``-``b`` train, ``c`` validation, ``d``-``f`` test. ``tags`` keeps all of a clip's annotated tags, ``labels`` is
multi-hot over the standard top-50 (``hf_culturemert/resources/data/tags/magnatagatune.json``). Clips with none of
the top-50 tags are left out by default, as in the commonly used top-50 split (``--keep-untagged`` keeps them).
"""

import csv
import dataclasses
import logging
from dataclasses import field
from pathlib import Path

from ..hub_layout import CardInfo, multi_hot
from ..registry import DATASETS
from .common import AudioArchive, BuildArguments, audio_value, build, decode, limited, maybe_push

logger = logging.getLogger(__name__)

FOLDER_SPLITS = {**{c: "train" for c in "0123456789ab"}, "c": "validation", "d": "test", "e": "test", "f": "test"}


@dataclasses.dataclass
class MTATArguments(BuildArguments):
    audio: str = field(default=None, metadata={"help": "MTAT mp3 folder (sub-folders 0..f) or mp3.zip."})
    annotations: str = field(default=None, metadata={"help": "Path of annotations_final.csv."})
    keep_untagged: bool = field(default=False, metadata={"help": "Keep clips that have none of the top-50 tags."})


def read_annotations(path, vocabulary):
    """``(rows, problems)``: rows are ``{"id", "mp3_path", "tags"}``; problems name the malformed lines."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--annotations {path} not found (annotations_final.csv from the MTAT download)")
    rows, problems = [], []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if not header or header[0] != "clip_id" or header[-1] != "mp3_path":
            raise ValueError(f"{path}: expected a tab-separated header 'clip_id, <tags>, mp3_path'")
        tag_names = header[1:-1]
        missing = [t for t in vocabulary if t not in tag_names]
        if missing:
            raise ValueError(f"{path}: top-50 tags missing from the header: {missing}")
        for number, fields in enumerate(reader, start=2):
            if not fields:
                continue
            clip = fields[0] or f"line {number}"
            if len(fields) != len(header):
                problems.append({"id": clip, "reason": f"malformed annotation line {number}: {len(fields)} fields, "
                                 f"expected {len(header)}"})
                continue
            values = fields[1:-1]
            if any(v not in ("0", "1") for v in values):
                problems.append({"id": clip, "reason": f"malformed annotation line {number}: non-binary tag value"})
                continue
            mp3_path = fields[-1]
            if not mp3_path or mp3_path[0] not in FOLDER_SPLITS:
                problems.append({"id": clip, "reason": f"malformed annotation line {number}: mp3_path "
                                 f"{mp3_path!r} is not in a folder 0-f"})
                continue
            rows.append({"id": clip, "mp3_path": mp3_path,
                         "tags": [t for t, v in zip(tag_names, values) if v == "1"]})
    return rows, problems


def _metadata_features():
    from datasets import Value

    return {"mp3_path": Value("string")}


def build_mtat(args: MTATArguments):
    if not args.audio or not args.annotations:
        raise ValueError("--audio (mp3 folder or mp3.zip) and --annotations (annotations_final.csv) are required")
    info = DATASETS["mtat"]
    vocabulary = list(info.tags)
    rows, problems = read_annotations(args.annotations, vocabulary)
    archive = AudioArchive(args.audio)
    splits = {"train": [], "validation": [], "test": []}
    dropped = 0
    for row in rows:
        if not args.keep_untagged and not any(t in vocabulary for t in row["tags"]):
            dropped += 1
            continue
        splits[FOLDER_SPLITS[row["mp3_path"][0]]].append(row)
    if dropped:
        logger.info("Left out %d clips without any top-50 tag (--keep-untagged keeps them)", dropped)
    splits = {split: limited(items, args.limit) for split, items in splits.items()}
    pre_failures = {"train": [dict(p, split="train") for p in problems]}

    def make_example(row):
        waveform, rate = decode(archive.source(row["mp3_path"]), args.sampling_rate, name=row["mp3_path"])
        return {"id": row["id"], "audio": audio_value(waveform, rate, row["id"]), "tags": row["tags"],
                "labels": multi_hot(row["tags"], vocabulary), "duration": len(waveform) / rate,
                "mp3_path": row["mp3_path"]}

    card = CardInfo(pretty_name=info.pretty_name, license=info.license, citation=info.citation,
                    size_category="10K<n<100K", description=(
                        "MagnaTagATune built with hf_culturemert's `dataset_scripts/mtat.py` from the official "
                        "files: folders 0-b train, c validation, d-f test; `tags` are all annotated tags of a clip, "
                        "`labels` are multi-hot over the standard top-50 (`vocabulary.json`)."
                        + ("" if args.keep_untagged else " Clips without any top-50 tag are left out.")))
    summary = build(args.output_dir, splits, make_example, vocabulary, card, _metadata_features(),
                    rows_per_shard=args.rows_per_shard, item_id=lambda r: r["id"], progress=not args.no_progress,
                    retry_failed=args.retry_failed,
                    pre_failures=pre_failures)
    return maybe_push(summary, args)
