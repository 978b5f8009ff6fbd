"""Real-format inputs for the rehearsals, made from real recordings, and built by the real dataset builders.

Audio: Debian's ``asc-music`` and ``wesnoth-1.16-music`` (CC-BY-SA / GPL game soundtracks: real, mixed, mastered
music), fetched once with ``apt-get download`` + ``dpkg-deb -x`` into a cache, or any folder of audio files
(``--rehearsal_audio``), cut into short mp3 tracks with ffmpeg. Around them, each source in the layout its builder
reads from the real distribution:

- MagnaTagATune: ``annotations_final.csv`` (tab-separated, every field quoted, CRLF line ends, ``clip_id``, 188 tag
  columns, ``mp3_path``; the top-50 tags by name, the other 138 columns named ``other-tag-<k>`` since the package
  ships only the top 50) and clips in folders ``0``-``f``, one of them zero bytes long as in the real archive.
- FMA: ``fma_metadata/tracks.csv`` with its three header rows (53 columns) and ``fma_medium/000/000002.mp3``; the
  track ids are the first ones of ccml's packaged split lists, so the packaged genres apply.
- Lyra: ``training.tsv`` / ``test.tsv`` rows of the real repository (packaged copies), re-pointed at stand-in
  "videos" cut from the recordings.
- Dunya (makam, Hindustani, Carnatic): :class:`~hf_culturemert.rehearsal.dunya_server.FakeDunya` with the real
  serializers' JSON for the first MBIDs of ccml's split lists; one recording answers 401 "Not logged in".
"""

import csv
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus")
DEBIAN_PACKAGES = {"asc-music": "usr/share/games/asc/music",
                   "wesnoth-1.16-music": "usr/share/games/wesnoth/1.16/data/core/music"}
CACHE_ENV = "CULTUREMERT_REHEARSAL_CACHE"
TOKEN = "rehearsal-token"
DUNYA = ("makam", "hindustani", "carnatic")
# FMA tracks.csv: the three header rows of the real file (fma_metadata.zip), column groups in their order
FMA_COLUMNS = (
    [("album", c) for c in ("comments", "date_created", "date_released", "engineer", "favorites", "id",
                            "information", "listens", "producer", "tags", "title", "tracks", "type")]
    + [("artist", c) for c in ("active_year_begin", "active_year_end", "associated_labels", "bio", "comments",
                               "date_created", "favorites", "id", "latitude", "location", "longitude", "members",
                               "name", "related_projects", "tags", "website", "wikipedia_page")]
    + [("set", "split"), ("set", "subset")]
    + [("track", c) for c in ("bit_rate", "comments", "composer", "date_created", "date_recorded", "duration",
                              "favorites", "genre_top", "genres", "genres_all", "information", "interest",
                              "language_code", "license", "listens", "lyricist", "number", "publisher", "tags",
                              "title")])
MTAT_TAG_COLUMNS = 188


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hf-culturemert-rehearsal")


def _run(command, cwd=None):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def debian_recordings(packages: Sequence[str] = tuple(DEBIAN_PACKAGES), cache: Optional[Path] = None) -> List[Path]:
    """The audio files of Debian's music packages, unpacked into ``cache`` (downloaded once with apt-get)."""
    cache = Path(cache or cache_dir())
    files = []
    for package in packages:
        root = cache / package
        music = root / DEBIAN_PACKAGES[package]
        if not music.is_dir():
            for tool in ("apt-get", "dpkg-deb"):
                if shutil.which(tool) is None:
                    raise RuntimeError(f"{tool} is not installed, so the rehearsal cannot fetch the Debian package "
                                       f"{package}; pass --rehearsal_audio FOLDER (any audio files) instead")
            download = cache / "deb"
            download.mkdir(parents=True, exist_ok=True)
            done = _run(["apt-get", "download", package], download)
            if done.returncode != 0:
                _run(["apt-get", "update"], download)
                done = _run(["apt-get", "download", package], download)
            debs = sorted(download.glob(f"{package}_*.deb"))
            if done.returncode != 0 or not debs:
                raise RuntimeError(f"`apt-get download {package}` failed in {download}: {done.stderr.strip()[-300:]}; "
                                   "pass --rehearsal_audio FOLDER (any audio files) instead")
            unpacked = _run(["dpkg-deb", "-x", str(debs[-1]), str(root)])
            if unpacked.returncode != 0 or not music.is_dir():
                raise RuntimeError(f"`dpkg-deb -x {debs[-1]} {root}` gave no {music}: {unpacked.stderr[-300:]}")
        files += sorted(p for p in music.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise RuntimeError(f"No audio files in the Debian packages {', '.join(packages)} under {cache}")
    return files


def folder_recordings(folder) -> List[Path]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"--rehearsal_audio {folder}: no audio files ({', '.join(AUDIO_SUFFIXES)}) there")
    return files


def _duration(path) -> float:
    done = _run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)])
    try:
        return float(done.stdout.strip())
    except ValueError:
        return 0.0


class TrackCutter:
    """Cuts successive ``seconds``-long mp3 tracks out of real recordings (round robin, moving through each)."""

    def __init__(self, recordings: Sequence[Path], seconds: float):
        if shutil.which("ffmpeg") is None:
            raise RuntimeError("The rehearsal cuts its tracks with the ffmpeg CLI; install ffmpeg")
        self.sources = [(p, _duration(p)) for p in recordings]
        self.sources = [(p, d) for p, d in self.sources if d > seconds + 2]
        if not self.sources:
            raise RuntimeError(f"No recording is longer than {seconds + 2:g} s")
        self.seconds, self.count = float(seconds), 0

    def cut(self, path, seconds: Optional[float] = None) -> Path:
        length = float(seconds or self.seconds)
        source, duration = self.sources[self.count % len(self.sources)]
        rounds = self.count // len(self.sources)
        start = (1.0 + rounds * (length + 3.7)) % max(1.0, duration - length - 1)
        self.count += 1
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        done = _run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{start:.3f}", "-t", f"{length:.3f}",
                     "-i", str(source), "-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", str(path)])
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg could not cut {source} at {start:.1f} s: {done.stderr[-300:]}")
        return path


def _cycle(values, k, n=1):
    return [values[(k + i) % len(values)] for i in range(n)]


# ------------------------------------------------------------------------------------------------- sources


def make_mtat(root, cutter: TrackCutter, per_split: Dict[str, int]) -> dict:
    """``annotations_final.csv`` + ``mp3/0..f/*.mp3`` as the official MTAT files lay them out."""
    from ..data.registry import DATASETS

    root = Path(root)
    top50 = list(DATASETS["mtat"].tags)
    others = [f"other-tag-{k}" for k in range(MTAT_TAG_COLUMNS - len(top50))]
    tags = others[:60] + top50 + others[60:]  # the top 50 sit among the others, as in the real header
    folders = {"train": "0123456789ab", "validation": "c", "test": "def"}
    rows, clip = [], 2
    for split, count in per_split.items():
        for k in range(count):
            folder = folders[split][k % len(folders[split])]
            relative = f"{folder}/rehearsal-artist-album-{clip:02d}-track-{k}-30-59.mp3"
            cutter.cut(root / "mp3" / relative)
            chosen = set(_cycle(top50, 7 * clip, 3)) | {others[clip % len(others)]}
            rows.append([str(clip)] + ["1" if t in chosen else "0" for t in tags] + [relative])
            clip += 3
    # the real archive holds one zero-byte clip (listed in the csv): the builder skips it and says why
    empty = "6/norine_braun-now_and_zen-08-gently-117-146.mp3"
    (root / "mp3" / empty).parent.mkdir(parents=True, exist_ok=True)
    (root / "mp3" / empty).write_bytes(b"")
    rows.append([str(clip)] + ["1" if t == "guitar" else "0" for t in tags] + [empty])
    annotations = root / "annotations_final.csv"
    with open(annotations, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(["clip_id"] + tags + ["mp3_path"])
        writer.writerows(rows)
    return {"audio": str(root / "mp3"), "annotations": str(annotations)}


def make_fma(root, cutter: TrackCutter, per_split: Dict[str, int]) -> dict:
    """``fma_metadata/tracks.csv`` (three header rows) + ``fma_medium/000/000002.mp3``, for ccml's first track ids."""
    from ..data.builders.fma import track_path
    from ..data.registry import resource_path

    root = Path(root)
    genres = json.loads(resource_path("splits", "fma", "genres.json").read_text(encoding="utf-8"))
    rows, splits = [], root / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    for split, name in (("train", "train.txt"), ("validation", "valid.txt"), ("test", "test.txt")):
        ids = [f"{int(t):06d}" for t in resource_path("splits", "fma", name).read_text().split()]
        chosen, seen = [], set()
        for tid in ids:  # tracks of different genres: a split whose tags never vary cannot select a probe
            if tid in genres and tuple(genres[tid]) not in seen and len(chosen) < per_split[split]:
                chosen.append(tid)
                seen.add(tuple(genres[tid]))
        (splits / name).write_text("".join(f"{int(t)}\n" for t in chosen))  # ccml's split, cut to the budget
        for tid in chosen:
            cutter.cut(root / "fma_medium" / track_path(tid))
            values = {("track", "title"): f"Track {tid}", ("artist", "name"): f"Artist {int(tid) % 97}",
                      ("track", "genre_top"): genres[tid][0], ("set", "subset"): "medium",
                      ("set", "split"): {"validation": "validation"}.get(split, split),
                      ("track", "duration"): str(int(cutter.seconds)), ("track", "license"): "CC BY 4.0"}
            rows.append([str(int(tid))] + [values.get(column, "") for column in FMA_COLUMNS])
    tracks = root / "fma_metadata" / "tracks.csv"
    tracks.parent.mkdir(parents=True, exist_ok=True)
    with open(tracks, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([""] + [group for group, _ in FMA_COLUMNS])
        writer.writerow([""] + [name for _, name in FMA_COLUMNS])
        writer.writerow(["track_id"] + [""] * len(FMA_COLUMNS))
        writer.writerows(rows)
    kept = {row[0].zfill(6) for row in rows}
    (splits / "genres.json").write_text(json.dumps({t: genres[t] for t in genres if t in kept}))
    return {"audio": str(root / "fma_medium"), "tracks_csv": str(tracks), "splits_dir": str(splits)}


def make_lyra(root, cutter: TrackCutter, training: int, test: int) -> dict:
    """The real ``training.tsv`` / ``test.tsv`` rows (first ones), re-pointed at stand-in videos."""
    from ..data.builders.lyra import COLUMNS, read_tsv
    from ..data.registry import resource_path

    root = Path(root)
    videos = root / "videos"
    out = {"videos_dir": str(videos), "metadata_dir": str(root / "metadata")}
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    for name, count in (("training.tsv", training), ("test.tsv", test)):
        rows, problems = read_tsv(resource_path("lyra", name))
        if problems:
            raise ValueError(f"packaged Lyra {name}: {problems[:3]}")
        rows = rows[:count]
        for k, row in enumerate(rows):
            video = f"rehearsal{name[:4]}{k:02d}"
            cutter.cut(videos / f"{video}.mp3", cutter.seconds + 1.0)
            row.update({"youtube-id": video, "start-ts": "0.5", "end-ts": f"{cutter.seconds + 0.5:g}"})
        with open(root / "metadata" / name, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(COLUMNS), delimiter="\t", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return out


def dunya_records(tradition: str, per_split: Dict[str, int]) -> Dict[str, dict]:
    """Real-shaped metadata for the first MBIDs of each of ccml's split lists, tags from ccml's vocabulary."""
    from ..data.registry import DATASETS, resource_path
    from .dunya_server import carnatic_recording, hindustani_recording, makam_recording

    vocabulary = list(DATASETS[tradition].tags)

    def family(prefix):
        return [t.split("--", 1)[1] for t in vocabulary if t.startswith(prefix + "--")]

    records = {}
    for split, name in (("train", "train.txt"), ("validation", "valid.txt"), ("test", "test.txt")):
        for k, mbid in enumerate(resource_path("splits", tradition, name).read_text().split()[: per_split[split]]):
            n = len(records)
            players = [(f"Performer {n}", i) for i in _cycle(family("instrument"), n, 2)]
            if tradition == "makam":
                records[mbid] = makam_recording(mbid, f"Eser {n}", _cycle(family("makam"), n),
                                                _cycle(family("usul"), n), players)
            elif tradition == "carnatic":
                records[mbid] = carnatic_recording(mbid, f"Kriti {n}", _cycle(family("raga"), n),
                                                   _cycle(family("tala"), n), _cycle(family("form"), n), players)
            else:
                records[mbid] = hindustani_recording(mbid, f"Bandish {n}", _cycle(family("raga"), n),
                                                     _cycle(family("tala"), n), _cycle(family("form"), n), players)
    return records


# ------------------------------------------------------------------------------------------------- builds


def build_datasets(output, cutter: TrackCutter, per_split: Dict[str, int], names: Sequence[str],
                   progress: bool = False) -> Dict[str, dict]:
    """Every dataset in ``names`` built by its real builder into ``output/data/<name>``; returns build summaries.

    ``western`` (the replay corpus of continual pre-training: Music4All in the paper, not public) is a second
    FMA build. Sources are written under ``output/sources``."""
    from ..data.builders.dunya import DunyaArguments, build_dunya
    from ..data.builders.fma import FMAArguments, build_fma
    from ..data.builders.lyra import LyraArguments, build_lyra
    from ..data.builders.mtat import MTATArguments, build_mtat
    from ..data.registry import resource_path
    from .dunya_server import FakeDunya

    output = Path(output)
    sources, data = output / "sources", output / "data"
    common = dict(no_progress=not progress, sampling_rate=24000)
    summaries = {}
    if any(n in DUNYA for n in names):
        records = {t: dunya_records(t, per_split) for t in DUNYA if t in names}
        audio = {}
        for tradition, recs in records.items():
            for mbid in recs:
                audio[mbid] = cutter.cut(sources / "dunya" / tradition / f"{mbid}.mp3").read_bytes()
        # one recording the account may not download (extra, beyond the budget): skipped and listed in failures
        refused = {}
        for tradition in records:
            mbid = _extra_mbid(tradition, per_split["train"])
            refused[mbid] = records[tradition][mbid] = dunya_records(tradition, {"train": per_split["train"] + 1,
                                                                                 "validation": 0, "test": 0})[mbid]
            audio[mbid] = audio[next(iter(audio))]
        with FakeDunya(records, audio, TOKEN, no_access=refused) as server:
            for tradition in records:
                limit = {**per_split, "train": per_split["train"] + 1}
                splits = sources / "dunya" / f"{tradition}-splits"
                splits.mkdir(parents=True, exist_ok=True)
                for split, file in (("train", "train.txt"), ("validation", "valid.txt"), ("test", "test.txt")):
                    ids = resource_path("splits", tradition, file).read_text().split()[: limit[split]]
                    (splits / file).write_text("".join(f"{i}\n" for i in ids))
                summaries[tradition] = build_dunya(DunyaArguments(
                    output_dir=str(data / tradition), tradition=tradition, token=TOKEN, base_url=server.url,
                    cache_dir=str(sources / "dunya" / "cache" / tradition), splits_dir=str(splits), retries=2,
                    **common))
    if "mtat" in names:
        made = make_mtat(sources / "mtat", cutter, per_split)
        summaries["mtat"] = build_mtat(MTATArguments(output_dir=str(data / "mtat"), **made, **common))
    for name in [n for n in ("fma", "western") if n in names]:
        made = make_fma(sources / name, cutter, per_split)
        summaries[name] = build_fma(FMAArguments(output_dir=str(data / name), **made, **common))
    if "lyra" in names:
        # ccml's validation is a seeded 10 % draw of training: ten training rows per validation track
        made = make_lyra(sources / "lyra", cutter, max(10 * per_split["validation"], sum(per_split.values())),
                         per_split["test"])
        summaries["lyra"] = build_lyra(LyraArguments(output_dir=str(data / "lyra"), **made, **common))
    return {name: {"folder": str(s.folder), "counts": s.counts, "failures": len(s.failures)}
            for name, s in summaries.items()}


def _extra_mbid(tradition, train_count):
    from ..data.registry import resource_path

    return resource_path("splits", tradition, "train.txt").read_text().split()[train_count]
