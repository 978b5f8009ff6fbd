"""What every builder shares: arguments, decoding with clear skip reasons, top-N tags, the build loop, a summary."""

import collections
import dataclasses
import logging
import os
from dataclasses import field
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

from ...constants import SAMPLING_RATE
from ..hub_layout import (FAILURES_FILE, CardInfo, SkipExample, encode_audio, finalize, push_to_hub,
                          standard_features, write_split)

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class BuildArguments:
    """Options common to all builders (``dataset_scripts/*.py`` parse them with ``HfArgumentParser``)."""

    output_dir: str = field(metadata={"help": "Folder that receives the dataset in the Hub layout (resumable)."})
    sampling_rate: int = field(default=SAMPLING_RATE, metadata={
        "help": "Rate of the stored audio (mono FLAC). 24000 is MERT's rate; 0 keeps each source's own rate."})
    rows_per_shard: int = field(default=256, metadata={"help": "Recordings per parquet shard."})
    limit: Optional[int] = field(default=None, metadata={
        "help": "Build at most this many recordings per split (a quick trial run)."})
    push_to_hub: Optional[str] = field(default=None, metadata={
        "help": "After building, upload the folder to this Hub dataset repo (ORG/NAME)."})
    private: bool = field(default=False, metadata={"help": "Create the Hub repo as private (with --push-to-hub)."})
    no_progress: bool = field(default=False, metadata={"help": "Disable progress bars."})
    retry_failed: bool = field(default=False, metadata={
        "help": "Redo finished shards that skipped recordings (e.g. after network errors); default: resume only."})


@dataclasses.dataclass
class BuildSummary:
    """Outcome of a build: split sizes, skipped recordings (with reasons) and where it all is."""

    folder: Path
    counts: Dict[str, int]
    failures: list
    vocabulary: list
    repo_url: Optional[str] = None

    def describe(self) -> str:
        lines = [f"{self.folder}: " + ", ".join(f"{split} {n}" for split, n in self.counts.items())]
        if self.failures:
            reasons = collections.Counter(f["reason"].split(":")[0] for f in self.failures)
            lines.append(f"{len(self.failures)} recordings skipped (details in {self.folder / FAILURES_FILE}): "
                         + "; ".join(f"{n} x {reason}" for reason, n in reasons.most_common()))
        if self.repo_url:
            lines.append(f"uploaded to {self.repo_url}")
        return "\n".join(lines)


def top_n_tags(tag_lists: Sequence[Sequence[str]], n: int) -> list:
    """ccml's vocabulary: the ``n`` most frequent tags of the training split, ties broken alphabetically."""
    counts = collections.Counter(tag for tags in tag_lists for tag in set(tags))
    return [tag for tag, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]]


def native_rate(source) -> int:
    from torchcodec.decoders import AudioDecoder

    return int(AudioDecoder(source).metadata.sample_rate)


def decode(source, sampling_rate: int, start: Optional[float] = None, end: Optional[float] = None, name=None):
    """Decode ``source`` (path or bytes) to mono float32 at ``sampling_rate`` (0 = native): ``(waveform, rate)``.

    Anything that makes a recording unusable (missing, corrupt, undecodable, empty, silent, cut beyond the end)
    becomes a ``SkipExample`` whose reason names the recording, so the build goes on and reports it.
    """
    from ...audio import load_audio

    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<bytes>")
    try:
        rate = int(sampling_rate) or native_rate(source if not isinstance(source, bytearray) else bytes(source))
        waveform = load_audio(source, sampling_rate=rate, start_seconds=start, end_seconds=end)
    except FileNotFoundError as error:
        raise SkipExample(f"missing audio: {error}") from error
    except (ValueError, RuntimeError) as error:
        raise SkipExample(f"undecodable audio: {label}: {error}") from error
    if start is not None and end is not None and len(waveform) < 0.5 * (end - start) * rate:
        raise SkipExample(f"audio shorter than its cut: {label} has {len(waveform) / rate:.1f} s in "
                          f"[{start}, {end}] s")
    return waveform, rate


def audio_value(waveform, rate: int, example_id: str) -> dict:
    return {"bytes": encode_audio(waveform, rate, "flac"), "path": f"{example_id}.flac"}


def build(folder, split_items: Dict[str, Sequence], make_example: Callable, vocabulary: Sequence[str], card: CardInfo,
          metadata_features: Optional[dict] = None, rows_per_shard: int = 256,
          item_id: Callable = str, progress: bool = True, pre_failures: Optional[Dict[str, list]] = None,
          extra_files: Optional[dict] = None, retry_failed: bool = False) -> BuildSummary:
    """Write every split of a builder's items, then the card; skips are collected in ``failures.jsonl``.

    ``pre_failures`` are problems found before the audio stage (malformed metadata rows, missing API records), added
    to the failures of their split.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    features = standard_features(metadata_features)
    reports = []
    for split, items in split_items.items():
        report = write_split(folder, split, list(items), make_example, features, rows_per_shard=rows_per_shard,
                             item_id=item_id, progress=progress, retry_failed=retry_failed)
        report.failures = list((pre_failures or {}).get(split, [])) + report.failures
        reports.append(report)
    counts = finalize(folder, card, features, vocabulary, reports, extra_files=extra_files)
    summary = BuildSummary(folder=folder, counts=counts, failures=[f for r in reports for f in r.failures],
                           vocabulary=list(vocabulary))
    logger.info("%s", summary.describe())
    return summary


def maybe_push(summary: BuildSummary, args: BuildArguments) -> BuildSummary:
    if args.push_to_hub:
        summary.repo_url = push_to_hub(summary.folder, args.push_to_hub, private=args.private)
        logger.info("Uploaded to %s", summary.repo_url)
    return summary


def limited(items: list, limit: Optional[int]) -> list:
    return items if limit is None else items[: max(0, int(limit))]


class AudioArchive:
    """Audio files of a local folder or ``.zip`` archive, found by their last path components (``f/clip.mp3``).

    The official MTAT and FMA archives nest their files differently (``0/…mp3``, ``fma_medium/000/000002.mp3``);
    keying by the tail makes the extracted folder and the zip interchangeable.
    """

    def __init__(self, location, suffixes=(".mp3",), tail: int = 2):
        import zipfile

        self.location = Path(location).expanduser()
        self.tail = tail
        self._zip = None
        self._index = {}
        if self.location.is_dir():
            for path in sorted(self.location.rglob("*")):
                if path.is_file() and path.suffix.lower() in suffixes and not path.name.startswith("."):
                    self._index.setdefault(self._key(path.relative_to(self.location).as_posix()), path)
        elif self.location.is_file() and zipfile.is_zipfile(self.location):
            self._zip = zipfile.ZipFile(self.location)
            for name in self._zip.namelist():
                if Path(name).suffix.lower() in suffixes and not name.endswith("/"):
                    self._index.setdefault(self._key(name), name)
        elif self.location.is_file():
            raise ValueError(f"{self.location} is neither a folder nor a zip archive. Split archives (mp3.zip.001, "
                             "...) must be joined first: cat mp3.zip.* > mp3.zip")
        else:
            raise FileNotFoundError(f"Audio location {self.location} does not exist")

    def _key(self, name: str) -> str:
        return "/".join(name.replace("\\", "/").split("/")[-self.tail:])

    def __len__(self):
        return len(self._index)

    def __contains__(self, relative: str) -> bool:
        return self._key(relative) in self._index

    def source(self, relative: str):
        """A path (folder) or the bytes (zip) of ``relative``; ``SkipExample`` when absent or unreadable."""
        import zipfile

        entry = self._index.get(self._key(relative))
        if entry is None:
            raise SkipExample(f"missing audio: {relative} not found in {self.location}")
        if self._zip is None:
            return entry
        try:
            return self._zip.read(entry)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise SkipExample(f"unreadable archive member: {entry}: {error}") from error


def cli_main(arguments_class, builder, argv=None, name="build") -> int:
    """Shared entry point of ``dataset_scripts/*.py``: parse, build, report; user errors become one line."""
    import sys

    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(arguments_class).parse_args_into_dataclasses(args=argv)
    try:
        summary = builder(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        sys.stderr.write(f"{name}: error: {error}\n")
        return 1
    sys.stdout.write(summary.describe() + "\n")
    return 0
