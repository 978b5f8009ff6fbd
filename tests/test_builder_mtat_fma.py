"""MTAT and FMA builders end to end on miniature copies of the official archives (zip and extracted folder)."""

import csv
import json
import zipfile

import pytest

from conftest_data import dominant_frequency, make_media  # noqa: F401
from hf_culturemert.data import DATASETS, load_tradition
from hf_culturemert.data.builders import AudioArchive
from hf_culturemert.data.builders.fma import FMAArguments, build_fma, track_path
from hf_culturemert.data.builders.mtat import MTATArguments, build_mtat

SR = 24000
TOP50 = list(DATASETS["mtat"].tags)


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    return {f: make_media(folder / f"{int(f)}.mp3", 1.0, (f,), sample_rate=16000).read_bytes()
            for f in (300.0, 600.0, 900.0, 1200.0)}


def _mtat_sources(tmp_path, tones):
    extra = ["harpsichord-ish", "baroque"]  # MTAT has 188 tag columns; two beyond the top-50 stand in for the rest
    header = ["clip_id"] + TOP50[:25] + extra + TOP50[25:] + ["mp3_path"]
    clips = [  # clip_id, tags, mp3_path, tone
        ("2", ["guitar", "slow"], "0/artist-album-01-song-0-29.mp3", 300.0),
        ("6", ["classical", "baroque"], "b/artist-album-02-song-30-59.mp3", 600.0),
        ("10", ["techno", "fast", "beat"], "c/artist-album-03-song-0-29.mp3", 900.0),
        ("14", ["piano"], "d/artist-album-04-song-0-29.mp3", 1200.0),
        ("18", ["baroque"], "e/untagged-in-top50-0-29.mp3", 300.0),  # no top-50 tag: left out by default
        ("22", ["vocal"], "f/missing-file-0-29.mp3", None),  # not in the archive
        ("26", ["drums"], "f/corrupt-0-29.mp3", "corrupt"),
    ]
    annotations = tmp_path / "annotations_final.csv"
    with open(annotations, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        for clip, tags, path, _ in clips:
            writer.writerow([clip] + ["1" if t in tags else "0" for t in header[1:-1]] + [path])
        writer.writerow(["30", "1"])  # malformed line
    archive = tmp_path / "mp3.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for _, _, path, tone in clips:
            if tone == "corrupt":
                zf.writestr(path, b"\xff\xfb" + b"\x00" * 64)
            elif tone is not None:
                zf.writestr(path, tones[tone])
    return annotations, archive


def test_mtat_builder_from_zip(tmp_path, tones):
    annotations, archive = _mtat_sources(tmp_path, tones)
    out = tmp_path / "mtat"
    summary = build_mtat(MTATArguments(output_dir=str(out), audio=str(archive), annotations=str(annotations),
                                       no_progress=True))
    assert summary.counts == {"train": 2, "validation": 1, "test": 1}
    reasons = {f["id"]: f["reason"] for f in summary.failures}
    assert reasons["22"].startswith("missing audio: f/missing-file-0-29.mp3")
    assert reasons["26"].startswith("undecodable audio")
    assert reasons["30"].startswith("malformed annotation line 9")
    assert len(reasons) == 3
    assert json.loads((out / "vocabulary.json").read_text())["tags"] == TOP50
    train = load_tradition("mtat", "train", repo_id=out)
    assert train["id"] == ["2", "6"]
    assert train[1]["tags"] == ["classical", "baroque"]
    assert [TOP50[i] for i, v in enumerate(train[1]["labels"]) if v] == ["classical"]
    assert dominant_frequency(train[0]["audio"]["array"], SR) == pytest.approx(300.0, abs=5)
    test = load_tradition("mtat", "test", repo_id=out)
    assert test["id"] == ["14"] and test[0]["mp3_path"].startswith("d/")
    # --keep-untagged keeps clip 18 (test split, folder e)
    kept = build_mtat(MTATArguments(output_dir=str(tmp_path / "all"), audio=str(archive),
                                    annotations=str(annotations), keep_untagged=True, no_progress=True))
    assert kept.counts["test"] == 2


def test_fma_builder_from_folder_and_zip(tmp_path, tones):
    ids = {"train": ["2", "5", "10"], "validation": ["134"], "test": ["136", "139"]}
    genres = {"000002": ["Hip-Hop"], "000005": ["Rock", "Punk"], "000010": ["Pop"], "000134": ["Folk"],
              "000136": ["Electronic", "Techno"]}  # 000139 has no genres
    splits = tmp_path / "splits"
    splits.mkdir()
    for split, name in (("train", "train.txt"), ("validation", "valid.txt"), ("test", "test.txt")):
        (splits / name).write_text("\n".join(ids[split]) + "\n")
    (splits / "genres.json").write_text(json.dumps(genres))
    folder = tmp_path / "fma_medium"
    tone_of = {"2": 300.0, "5": 600.0, "134": 900.0, "136": 1200.0, "139": 300.0}  # 10 is missing
    for tid, tone in tone_of.items():
        path = folder / track_path(tid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tones[tone])
    tracks = tmp_path / "tracks.csv"
    tracks.write_text(",track,artist\n,title,name\ntrack_id,,\n2,Food,AWOL\n5,This World,AWOL\n")
    summary = build_fma(FMAArguments(output_dir=str(tmp_path / "fma"), audio=str(folder), splits_dir=str(splits),
                                     tracks_csv=str(tracks), no_progress=True))
    assert summary.counts == {"train": 2, "validation": 1, "test": 1}
    reasons = {f["id"]: f["reason"] for f in summary.failures}
    assert reasons == {"000010": "missing audio: 000/000010.mp3 not found in " + str(folder),
                       "000139": "metadata: no genres for track"}
    train = load_tradition("fma", "train", repo_id=tmp_path / "fma")
    assert train["id"] == ["000002", "000005"] and train["title"] == ["Food", "This World"]
    assert train[1]["tags"] == ["Rock", "Punk"]
    vocabulary = list(DATASETS["fma"].tags)
    assert [vocabulary[i] for i, v in enumerate(train[1]["labels"]) if v] == ["Rock", "Punk"]
    assert dominant_frequency(train[1]["audio"]["array"], SR) == pytest.approx(600.0, abs=5)

    # the same from a zip that nests the files under fma_medium/ (as the official archive does)
    archive = tmp_path / "fma_medium.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.rglob("*.mp3"):
            zf.write(path, f"fma_medium/{path.relative_to(folder).as_posix()}")
    zipped = build_fma(FMAArguments(output_dir=str(tmp_path / "fma-zip"), audio=str(archive), splits_dir=str(splits),
                                    no_progress=True, sampling_rate=0))
    assert zipped.counts == summary.counts
    row = load_tradition("fma", "validation", repo_id=tmp_path / "fma-zip", sampling_rate=16000)[0]
    assert row["id"] == "000134" and row["title"] == ""
    assert dominant_frequency(row["audio"]["array"], 16000) == pytest.approx(900.0, abs=5)


def test_audio_archive_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AudioArchive(tmp_path / "nothing")
    part = tmp_path / "mp3.zip.001"
    part.write_bytes(b"PK\x03\x04 first part only")
    with pytest.raises(ValueError, match="cat mp3.zip"):
        AudioArchive(part)
