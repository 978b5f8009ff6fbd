"""Write (and recognise) datasets in the Hugging Face Hub layout: parquet shards with embedded audio + a dataset card.

One writer serves the synthetic corpus and every builder, so that all of them produce folders that
``datasets.load_dataset(folder)`` reads the same way (and that ``upload_folder`` can publish unchanged)::

    folder/
      README.md                                 # YAML: configs/data_files, dataset_info (features, splits), license...
      vocabulary.json                           # the ordered tag vocabulary that ``labels`` is multi-hot over
      data/<split>-00000-of-00002.parquet       # audio embedded as bytes (FLAC/WAV/MP3), never file paths
      failures.jsonl                            # builders: what was skipped and why (absent when nothing was)
      .build/                                   # resume bookkeeping (hidden; not uploaded)

Robustness: each shard is written under a temporary name and renamed atomically, so an interrupted run never leaves a
partial shard that looks finished; rerunning skips the shards that exist and redoes the rest. ``README.md`` is
written last: a folder with a card is a complete folder.
"""

import dataclasses
import io
import json
import logging
import math
import os
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from ..card_templates import render_card
from ..constants import SAMPLING_RATE

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
BUILD_DIR = ".build"
FAILURES_FILE = "failures.jsonl"
VOCABULARY_FILE = "vocabulary.json"
CARD_FILE = "README.md"


class SkipExample(Exception):
    """Raised by an example factory for a recording that cannot be used; the writer records ``reason`` and goes on."""

    def __init__(self, reason: str, example_id: Optional[str] = None):
        super().__init__(reason)
        self.reason = reason
        self.example_id = example_id


def standard_features(metadata: Optional[dict] = None):
    """The columns every dataset of the project shares, followed by the source-specific ``metadata`` features."""
    from datasets import Audio, Features, List, Value

    columns = {
        "id": Value("string"),
        "audio": Audio(),
        "tags": List(Value("string")),
        "labels": List(Value("int8")),
        "duration": Value("float32"),
    }
    columns.update(metadata or {})
    return Features(columns)


def encode_audio(waveform: np.ndarray, sampling_rate: int, format: str = "flac") -> bytes:
    """Encode a float waveform ([samples] or [samples, channels]) as self-contained FLAC (16-bit) or WAV bytes."""
    import soundfile as sf

    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.size == 0:
        raise ValueError("encode_audio: empty waveform; nothing to encode")
    if not np.all(np.isfinite(waveform)):
        raise ValueError("encode_audio: waveform contains NaN or inf values")
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(waveform, -1.0, 1.0), int(sampling_rate), format=format.upper(), subtype="PCM_16")
    return buffer.getvalue()


def multi_hot(tags: Iterable[str], vocabulary: Sequence[str]) -> list:
    """Multi-hot list over ``vocabulary`` (tags outside it are ignored, as in ccml's top-N evaluation)."""
    index = {tag: i for i, tag in enumerate(vocabulary)}
    labels = [0] * len(vocabulary)
    for tag in tags:
        if tag in index:
            labels[index[tag]] = 1
    return labels


def shard_name(split: str, index: int, num_shards: int) -> str:
    return f"{split}-{index:05d}-of-{num_shards:05d}.parquet"


def shard_paths(folder, split: str) -> list:
    """The finished parquet shards of ``split`` in ``folder/data`` (temporary files excluded), sorted."""
    data = Path(folder) / "data"
    if not data.is_dir():
        return []
    return sorted(p for p in data.glob(f"{split}-*-of-*.parquet") if not p.name.startswith("."))


def _row_group_size(rows: int) -> int:
    # Small row groups keep streaming memory low: audio rows are large (hundreds of kB each).
    return max(1, min(rows, 16))


@dataclasses.dataclass
class SplitReport:
    """What ``write_split`` did: examples written, failures (id + reason), shards written now vs. found finished."""

    split: str
    num_examples: int = 0
    failures: list = dataclasses.field(default_factory=list)
    shards_written: int = 0
    shards_skipped: int = 0


def write_split(
    folder,
    split: str,
    items: Sequence[Any],
    make_example: Callable[[Any], dict],
    features,
    rows_per_shard: int = 256,
    item_id: Callable[[Any], str] = str,
    progress: bool = True,
    retry_failed: bool = False,
    executor=None,
) -> SplitReport:
    """Write ``items`` of one split as parquet shards; ``make_example(item)`` returns a row or raises ``SkipExample``.

    Shard ``k`` always holds items ``[k * rows_per_shard, (k + 1) * rows_per_shard)`` so a rerun finds the same
    shards: existing ones are skipped (resume), a leftover temporary file from an interrupted run is discarded and its
    shard rebuilt; with ``retry_failed`` finished shards that skipped items are redone (e.g. after network errors).
    Failures of each shard are kept in ``.build/`` so the final ``failures.jsonl`` covers every run. With an
    ``executor`` (e.g. a ``ProcessPoolExecutor``; ``make_example`` must then be picklable) rows are made in parallel.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    folder = Path(folder)
    data_dir = folder / "data"
    build_dir = folder / BUILD_DIR / "failures"
    data_dir.mkdir(parents=True, exist_ok=True)
    build_dir.mkdir(parents=True, exist_ok=True)
    num_shards = max(1, math.ceil(len(items) / rows_per_shard))
    expected = {shard_name(split, k, num_shards) for k in range(num_shards)}
    for stale in list(data_dir.glob(f"{split}-*-of-*.parquet")) + list(build_dir.glob(f"{split}-*-of-*.empty")):
        if stale.name.removesuffix(".empty") not in expected:  # a previous run with another sharding
            logger.warning("Removing shard %s: it does not belong to the current sharding (%d shards)", stale,
                           num_shards)
            stale.unlink()
    for leftover in data_dir.glob(f".{split}-*.tmp"):
        logger.warning("Discarding %s left over by an interrupted run", leftover)
        leftover.unlink()

    schema = features.arrow_schema
    report = SplitReport(split=split)
    bar = tqdm(total=len(items), desc=f"{folder.name}/{split}", unit="clip", disable=not progress, leave=False)
    for k in range(num_shards):
        chunk = items[k * rows_per_shard:(k + 1) * rows_per_shard]
        name = shard_name(split, k, num_shards)
        target = data_dir / name
        failures_path = build_dir / f"{name}.jsonl"
        empty_marker = build_dir / f"{name}.empty"  # every item failed: no parquet (readers reject empty files)
        finished = target.exists() or empty_marker.exists()
        if finished and retry_failed and _read_jsonl(failures_path):
            logger.info("Redoing %s to retry its %d skipped items", name, len(_read_jsonl(failures_path)))
            target.unlink(missing_ok=True)
            empty_marker.unlink(missing_ok=True)
            finished = False
        if finished:
            report.shards_skipped += 1
            report.num_examples += pq.ParquetFile(target).metadata.num_rows if target.exists() else 0
            report.failures.extend(_read_jsonl(failures_path))
            bar.update(len(chunk))
            continue
        rows, failures = [], []
        if executor is not None:
            results = executor.map(partial(_call, make_example), chunk)
        else:
            results = (_call(make_example, item) for item in chunk)
        for item, row in zip(chunk, results):
            if isinstance(row, SkipExample):
                failures.append({"split": split, "id": row.example_id or item_id(item), "reason": row.reason})
                logger.warning("Skipping %s (%s): %s", item_id(item), split, row.reason)
            else:
                rows.append(features.encode_example(row))
            bar.update(1)
        _write_jsonl(failures_path, failures)
        if rows:
            table = pa.Table.from_pylist(rows, schema=schema)
            temporary = data_dir / f".{name}.tmp"
            pq.write_table(table, temporary, row_group_size=_row_group_size(len(rows)), compression="zstd")
            os.replace(temporary, target)  # atomic: the shard appears only once complete
        else:
            empty_marker.write_text("all items of this shard were skipped; see failures\n", encoding="utf-8")
        report.shards_written += 1
        report.num_examples += len(rows)
        report.failures.extend(failures)
    bar.close()
    return report


def _call(make_example, item):
    try:
        return make_example(item)
    except SkipExample as skip:  # returned, not raised, so that one skip does not end an executor.map
        return skip


def _read_jsonl(path: Path) -> list:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _write_jsonl(path: Path, records: list):
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


@dataclasses.dataclass
class CardInfo:
    """What the dataset card says besides the features: who, what, under which license, how to cite."""

    pretty_name: str
    description: str
    license: str = "other"
    citation: str = ""
    task_categories: tuple = ("audio-classification",)
    tags: tuple = ("music", "music-tagging", "mir")
    size_category: str = "n<1K"
    extra_sections: str = ""


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` label of a dataset of ``n`` examples."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def finalize(folder, card: CardInfo, features, vocabulary: Sequence[str], reports: Sequence[SplitReport],
             extra_files: Optional[dict] = None) -> dict:
    """Write vocabulary, failures and (last) the card of a folder whose splits are written; returns split counts.

    The card is ``model_cards/dataset_folder.md``, filled from ``card`` and the written splits.
    """
    from datasets import DatasetInfo, SplitDict, SplitInfo

    folder = Path(folder)
    (folder / VOCABULARY_FILE).write_text(json.dumps({"tags": list(vocabulary)}, ensure_ascii=False, indent=1) + "\n",
                                          encoding="utf-8")
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    failures = [record for report in reports for record in report.failures]
    failures_path = folder / FAILURES_FILE
    if failures:
        _write_jsonl(failures_path, failures)
    elif failures_path.exists():
        failures_path.unlink()

    splits = SplitDict()
    counts = {}
    empty = [r.split for r in reports if r.num_examples == 0]
    if empty:
        logger.warning("Split(s) %s have no examples (all skipped); they are left out of the dataset card",
                       ", ".join(empty))
    reports_written = [r for r in reports if r.num_examples > 0]
    if not reports_written:
        raise RuntimeError(f"No example could be written to {folder}; see {failures_path} for the reasons")
    for report in reports_written:
        num_bytes = sum(p.stat().st_size for p in shard_paths(folder, report.split))
        splits.add(SplitInfo(name=report.split, num_bytes=num_bytes, num_examples=report.num_examples))
        counts[report.split] = report.num_examples
    info = DatasetInfo(features=features, splits=splits)
    dataset_info = info._to_yaml_dict()
    total = sum(s.num_bytes for s in splits.values())
    dataset_info["download_size"] = total
    dataset_info["dataset_size"] = total
    header = {
        "pretty_name": card.pretty_name,
        "license": card.license,
        "task_categories": list(card.task_categories),
        "tags": list(card.tags),
        "size_categories": [size_category(sum(counts.values()))],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": r.split, "path": f"data/{r.split}-*"} for r in reports_written]}],
        "dataset_info": dataset_info,
    }
    text = render_card("dataset_folder.md", header, pretty_name=card.pretty_name,
                       description=card.description.strip(), split_rows=list(counts.items()),
                       num_tags=len(vocabulary), extra_columns=", ".join(f"`{k}`" for k in list(features)[5:]),
                       sampling_rate=SAMPLING_RATE, num_skipped=len(failures), failures_file=FAILURES_FILE,
                       extra_sections=card.extra_sections.strip(), citation=card.citation.strip())
    temporary = folder / (CARD_FILE + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, folder / CARD_FILE)  # last: a folder with a card is complete
    logger.info("Wrote %s: %s%s", folder, ", ".join(f"{k} {v}" for k, v in counts.items()),
                f"; {len(failures)} skipped (see {failures_path})" if failures else "")
    return {r.split: r.num_examples for r in reports}  # empty splits included (as 0)


def is_hub_folder(folder) -> bool:
    """Whether ``folder`` holds a finished dataset in this layout (a card and at least one shard)."""
    folder = Path(folder)
    return (folder / CARD_FILE).is_file() and any(shard_paths(folder, s) for s in SPLITS)


def read_vocabulary(folder) -> Optional[list]:
    path = Path(folder) / VOCABULARY_FILE
    if not path.is_file():
        return None
    return list(json.loads(path.read_text(encoding="utf-8"))["tags"])


def push_to_hub(folder, repo_id: str, private: bool = False, token: Optional[str] = None,
                commit_message: Optional[str] = None) -> str:
    """Upload a finished folder as a dataset repo (``hf_culturemert.publish.push_folder``); returns the repo URL.

    The token comes from ``token``, ``HF_TOKEN`` or the cached login and is never logged. ``.build/`` (resume
    bookkeeping) and temporary files are not uploaded.
    """
    from ..publish import push_folder

    if not is_hub_folder(folder):
        raise FileNotFoundError(f"{folder} is not a finished dataset folder (no README.md or no data/*.parquet); "
                                "build it first")
    result = push_folder("dataset", folder, repo_id, private=private, token=token, commit_message=commit_message)
    return result.repo_url
