"""Turkish makam, Hindustani and Carnatic from CompMusic Dunya: metadata + mp3 over HTTPS, tags as ccml built them.

Access: create an account on https://dunya.compmusic.upf.edu, request audio access, and copy the API token from
your profile page; pass it with ``--token`` or ``$DUNYA_TOKEN`` (header ``Authorization: Token <token>``, as the
``compmusic`` client sends it). Endpoints (``compmusic.dunya``): ``api/<tradition>/recording/<mbid>`` for the
metadata, ``document/by-id/<mbid>/mp3`` (docserver) for the audio.

The recordings are ccml's split MBIDs (packaged); tags follow ccml's ``get_metadata.py``:
makam ``makam--<makamlist.name>``, ``usul--<usullist.name>``, ``instrument--<performers.instrument.name>``;
carnatic ``raga--<raaga.common_name>``, ``tala--<taala.common_name>``, ``form--<form.name>``,
``instrument--<artists.instrument.name>``; hindustani ``raga--<raags.common_name>``, ``tala--<taals.common_name>``,
``form--<forms.common_name>``, ``instrument--<artists.instrument.name>``. Audio is optionally cut to ccml's maximum
durations (150 s makam, 780 s hindustani, 330 s carnatic). Downloads go to a cache (``--cache-dir``) and are reused,
so an interrupted run resumes where it stopped. A recording the account may not download (the docserver answers 401
"Not logged in" even to a valid token) is skipped and listed in ``failures.jsonl``; HTTP 429 and 5xx are retried.
"""

import dataclasses
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import field
from pathlib import Path
from typing import Optional

from ...constants import DUNYA_TRADITIONS as TRADITIONS
from ..hub_layout import CardInfo, SkipExample, multi_hot
from ..registry import DATASETS, resource_path
from .common import BuildArguments, audio_value, build, decode, limited, maybe_push, top_n_tags

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://dunya.compmusic.upf.edu"
TOKEN_ENV = "DUNYA_TOKEN"
TOKEN_HELP = ("Dunya needs an API token: create an account at https://dunya.compmusic.upf.edu, request access to the "
              "audio collections, copy the token from your profile page, then pass --token or set "
              f"${TOKEN_ENV}.")
SPLIT_FILES = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}


@dataclasses.dataclass
class DunyaArguments(BuildArguments):
    tradition: str = field(default="makam", metadata={"help": "makam, hindustani or carnatic."})
    token: Optional[str] = field(default=None, metadata={
        "help": f"Dunya API token (default: ${TOKEN_ENV}). Never logged."})
    base_url: str = field(default=DEFAULT_BASE_URL, metadata={"help": "Dunya server."})
    cache_dir: Optional[str] = field(default=None, metadata={
        "help": "Download cache (metadata JSON + mp3), reused across runs; default ~/.cache/culturemert/dunya."})
    max_duration: Optional[float] = field(default=None, metadata={
        "help": "Cut recordings to their first N seconds (default: ccml's 150/780/330 s); 0 = no cut."})
    splits_dir: Optional[str] = field(default=None, metadata={
        "help": "Folder with train.txt/valid.txt/test.txt MBID lists (default: ccml's, packaged)."})
    vocabulary: str = field(default="ccml", metadata={
        "help": "'ccml': the published top-N list; 'train': top-N recomputed on the training split's metadata."})
    top_n: Optional[int] = field(default=None, metadata={"help": "Vocabulary size with --vocabulary train "
                                                                   "(default: 30 makam, 20 hindustani/carnatic)."})
    timeout: float = field(default=60.0, metadata={"help": "HTTP timeout in seconds."})
    retries: int = field(default=3, metadata={"help": "Attempts per request on network errors, HTTP 429 and 5xx."})


class DunyaClient:
    """The two Dunya calls the builder needs, over plain HTTPS with urllib (the token is sent, never logged)."""

    def __init__(self, token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 60.0, retries: int = 3):
        if not token:
            raise RuntimeError(TOKEN_HELP)
        self._token = token
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.retries = max(1, retries)

    def _get(self, path: str) -> bytes:
        """GET ``path``; a refused token raises, an unavailable recording is a ``SkipExample``, 429/5xx are retried.

        The API (``api/...``) answers 401/403 only for the token itself. The docserver (``document/...``) answers 401
        "Not logged in" for a recording the account may not download, whatever the token: that one recording is
        skipped (and listed in ``failures.jsonl``), the others are still fetched."""
        url = urllib.parse.urljoin(self.base_url, path)
        request = urllib.request.Request(url, headers={"Authorization": f"Token {self._token}",
                                                       "User-Agent": "hf-culturemert"})
        for attempt in range(self.retries):
            wait = min(2 ** attempt, 10) * 0.5
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
                    expected = response.headers.get("Content-Length")
                    if expected and int(expected) != len(body):
                        raise urllib.error.URLError(f"truncated response ({len(body)} of {expected} bytes)")
                    return body
            except urllib.error.HTTPError as error:
                if error.code in (401, 403) and not path.startswith("document/"):
                    raise RuntimeError(f"Dunya refused the token (HTTP {error.code} for {path}). "
                                       + TOKEN_HELP) from error
                if error.code in (401, 403):
                    detail = _error_text(error)
                    raise SkipExample(f"no audio access: HTTP {error.code} {detail!r} for {path} (ask for access to "
                                      "this recording's collection on your Dunya profile page)") from error
                retried = error.code == 429 or error.code >= 500
                if not retried or attempt == self.retries - 1:
                    raise SkipExample(f"HTTP {error.code} for {path}") from error
                if error.code == 429:
                    wait = _retry_after(error, wait)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == self.retries - 1:
                    raise SkipExample(f"network error for {path}: {getattr(error, 'reason', error)}") from error
            time.sleep(wait)
        raise SkipExample(f"no response for {path}")  # pragma: no cover - the loop always returns or raises

    def recording(self, tradition: str, mbid: str) -> dict:
        body = self._get(f"api/{tradition}/recording/{mbid}")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise SkipExample(f"malformed metadata JSON for {mbid}: {error}") from error

    def mp3(self, mbid: str) -> bytes:
        return self._get(f"document/by-id/{mbid}/mp3")


def _names(items, key):
    names = []
    for item in items or []:
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, str) and value.strip():
            names.append(value.strip())
    return names


def _instruments(performers):
    out = []
    for performer in performers or []:
        instrument = performer.get("instrument") if isinstance(performer, dict) else None
        if isinstance(instrument, dict) and instrument.get("name"):
            out.append(instrument["name"])
    return out


def recording_tags(tradition: str, recording: dict) -> list:
    """ccml's tags for one Dunya recording (sorted, unique)."""
    if tradition == "makam":
        tags = ([f"makam--{n}" for n in _names(recording.get("makamlist"), "name")]
                + [f"usul--{n}" for n in _names(recording.get("usullist"), "name")]
                + [f"instrument--{n}" for n in _instruments(recording.get("performers"))])
    elif tradition == "carnatic":
        tags = ([f"raga--{n}" for n in _names(recording.get("raaga"), "common_name")]
                + [f"tala--{n}" for n in _names(recording.get("taala"), "common_name")]
                + [f"instrument--{n}" for n in _instruments(recording.get("artists"))]
                + [f"form--{n}" for n in _names(recording.get("form"), "name")])
    elif tradition == "hindustani":
        tags = ([f"raga--{n}" for n in _names(recording.get("raags"), "common_name")]
                + [f"tala--{n}" for n in _names(recording.get("taals"), "common_name")]
                + [f"instrument--{n}" for n in _instruments(recording.get("artists"))]
                + [f"form--{n}" for n in _names(recording.get("forms"), "common_name")])
    else:
        raise ValueError(f"Unknown Dunya tradition {tradition!r}; choose from {', '.join(TRADITIONS)}")
    return sorted(set(tags))


def _artists(recording: dict) -> list:
    """Performer names, in order: makam's serializer gives them flat (``{mbid, name[, instrument]}``), Carnatic's and
    Hindustani's nest them (``{artist: {mbid, name}, instrument, lead, attributes}``)."""
    names = []
    for key in ("performers", "artists"):
        for item in recording.get(key) or []:
            if not isinstance(item, dict):
                continue
            artist = item["artist"] if isinstance(item.get("artist"), dict) else item
            name = artist.get("name")
            if isinstance(name, str) and name.strip() and name.strip() not in names:
                names.append(name.strip())
    return names


def _error_text(error) -> str:
    try:
        return error.read(200).decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        return ""


def _retry_after(error, default: float) -> float:
    """The server's ``Retry-After`` in seconds (capped at a minute), else ``default``."""
    try:
        return min(60.0, max(0.0, float(error.headers.get("Retry-After", default))))
    except (TypeError, ValueError):
        return default


def read_split_ids(tradition: str, splits_dir: Optional[str] = None) -> dict:
    out = {}
    for split, name in SPLIT_FILES.items():
        path = Path(splits_dir) / name if splits_dir else resource_path("splits", tradition, name)
        if not Path(str(path)).is_file():
            raise FileNotFoundError(f"Split file {path} not found (--splits-dir needs "
                                    f"{', '.join(SPLIT_FILES.values())})")
        out[split] = [line.strip() for line in Path(str(path)).read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


class DownloadCache:
    """Metadata JSON and mp3s on disk, written atomically, so a rerun downloads only what is missing."""

    def __init__(self, root, client: DunyaClient, tradition: str):
        self.root = Path(root)
        self.client = client
        self.tradition = tradition
        (self.root / "metadata").mkdir(parents=True, exist_ok=True)
        (self.root / "audio").mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _write(path: Path, data: bytes):
        temporary = path.with_name(f".{path.name}.part")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    def recording(self, mbid: str) -> dict:
        path = self.root / "metadata" / f"{mbid}.json"
        if path.exists():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                logger.warning("Cached metadata %s is corrupt; downloading it again", path)
        recording = self.client.recording(self.tradition, mbid)
        self._write(path, json.dumps(recording, ensure_ascii=False).encode("utf-8"))
        return recording

    def mp3(self, mbid: str) -> Path:
        path = self.root / "audio" / f"{mbid}.mp3"
        if not path.exists() or path.stat().st_size == 0:
            self._write(path, self.client.mp3(mbid))
        return path


def _metadata_features():
    from datasets import List, Value

    return {"mbid": Value("string"), "title": Value("string"), "artists": List(Value("string")),
            "source_duration": Value("float32")}


def build_dunya(args: DunyaArguments):
    """Build one Dunya tradition's folder; returns a ``BuildSummary``."""
    from tqdm.auto import tqdm

    if args.tradition not in TRADITIONS:
        raise ValueError(f"--tradition {args.tradition!r}: choose from {', '.join(TRADITIONS)}")
    client = DunyaClient(args.token or os.environ.get(TOKEN_ENV, ""), args.base_url, args.timeout, args.retries)
    info = DATASETS[args.tradition]
    max_duration = info.max_duration if args.max_duration is None else (args.max_duration or None)
    cache = DownloadCache(Path(args.cache_dir).expanduser() if args.cache_dir else
                          Path.home() / ".cache" / "culturemert" / "dunya" / args.tradition, client, args.tradition)
    split_ids = {split: limited(ids, args.limit) for split, ids in read_split_ids(args.tradition,
                                                                                   args.splits_dir).items()}

    # 1. metadata (cached): tags per recording; records that cannot be fetched or have no tag are skipped
    records, pre_failures = {}, {split: [] for split in split_ids}
    for split, ids in split_ids.items():
        for mbid in tqdm(ids, desc=f"{args.tradition} metadata ({split})", disable=args.no_progress, leave=False):
            try:
                recording = cache.recording(mbid)
            except SkipExample as skip:
                pre_failures[split].append({"split": split, "id": mbid, "reason": f"metadata: {skip.reason}"})
                continue
            tags = recording_tags(args.tradition, recording)
            if not tags:
                pre_failures[split].append({"split": split, "id": mbid, "reason": "metadata: recording has no "
                                            "makam/usul/raga/tala/form/instrument annotation"})
                continue
            records[mbid] = (recording, tags)
    if args.vocabulary == "ccml":
        vocabulary = list(info.tags)
    elif args.vocabulary == "train":
        vocabulary = top_n_tags([records[m][1] for m in split_ids["train"] if m in records],
                                args.top_n or len(info.tags))
    else:
        raise ValueError(f"--vocabulary {args.vocabulary!r}: choose 'ccml' or 'train'")

    # 2. audio (cached download, decode, optional cut) -> shards
    def make_example(mbid):
        recording, tags = records[mbid]
        path = cache.mp3(mbid)
        try:
            begin, source_duration = _stream_span(path)
            cut = bool(max_duration) and source_duration > max_duration
            # "first N seconds" count from the first decoded sample (mp3 streams start after the encoder delay)
            waveform, rate = decode(path, args.sampling_rate, begin if cut else None,
                                    begin + max_duration if cut else None, name=path.name)
        except (ValueError, RuntimeError, SkipExample) as error:
            path.unlink(missing_ok=True)  # a corrupt download is fetched again by a --retry-failed run
            if isinstance(error, SkipExample):
                raise
            raise SkipExample(f"undecodable audio: {path.name}: {error}") from error
        return {"id": mbid, "audio": audio_value(waveform, rate, mbid), "tags": tags,
                "labels": multi_hot(tags, vocabulary), "duration": len(waveform) / rate, "mbid": mbid,
                "title": str(recording.get("title") or ""), "artists": _artists(recording),
                "source_duration": source_duration}

    items = {split: [m for m in ids if m in records] for split, ids in split_ids.items()}
    card = CardInfo(pretty_name=info.pretty_name, license=info.license, citation=info.citation,
                    size_category="1K<n<10K", description=(
                        f"{info.pretty_name}: recordings of ccml's split (arXiv 2307.09795) fetched from CompMusic "
                        f"Dunya with hf_culturemert's `dataset_scripts/dunya.py`"
                        + (f", cut to their first {max_duration:g} s" if max_duration else "")
                        + f". Tags as ccml built them ({', '.join(info.tag_prefixes)}); `labels` are multi-hot over "
                        f"the {len(vocabulary)}-tag vocabulary in `vocabulary.json`. The audio is under Dunya's "
                        "research-access terms: keep Hub copies private unless you are allowed to share them."))
    summary = build(args.output_dir, items, make_example, vocabulary, card, _metadata_features(),
                    rows_per_shard=args.rows_per_shard, progress=not args.no_progress,
                    retry_failed=args.retry_failed, pre_failures=pre_failures)
    return maybe_push(summary, args)


def _stream_span(path) -> tuple:
    """``(first timestamp, duration)`` in seconds of the audio stream, from the container header."""
    from torchcodec.decoders import AudioDecoder

    metadata = AudioDecoder(str(path)).metadata
    begin = float(metadata.begin_stream_seconds_from_header or 0.0)
    duration = metadata.duration_seconds_from_header or metadata.duration_seconds
    if not duration:
        raise ValueError("no duration in the header")
    return begin, max(0.0, float(duration) - begin)
