"""Lyra builder end to end: real metadata rows, stand-in videos made with ffmpeg, cuts, failures, resume."""

import csv
import json

import numpy as np
import pytest

from conftest_data import dominant_frequency, make_media  # noqa: F401
from hf_culturemert.data import DATASETS, load_tradition
from hf_culturemert.data.builders.lyra import (COLUMNS, LyraArguments, build_lyra, ccml_validation_split,
                                               piece_tags, read_tsv)
from hf_culturemert.data.registry import resource_path

SR = 24000


def _real_rows(name, count):
    rows, problems = read_tsv(resource_path("lyra", name))
    assert not problems
    return rows[:count]


def _write_tsv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def lyra_sources(tmp_path):
    """10 real training rows + 4 real test rows, re-pointed at 4 s stand-in videos (440 Hz then 880 Hz)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    make_media(videos / "vidA.m4a", 4.0, (440.0, 880.0))
    make_media(videos / "vidB.mp4", 4.0, (440.0, 880.0), video=True)
    make_media(videos / "vidC.wav", 4.0, (440.0, 880.0))
    (videos / "vidC.wav.part").write_bytes(b"partial download")  # must be ignored
    (videos / "vidBad.webm").write_bytes(b"\x1aE\xdf\xa3 this is not a real webm file" * 10)
    training = _real_rows("training.tsv", 10)
    test = _real_rows("test.tsv", 4)
    for k, row in enumerate(training):
        row.update({"youtube-id": ["vidA", "vidB", "vidC"][k % 3], "start-ts": "2.5" if k % 2 else "0.5",
                    "end-ts": "3.5" if k % 2 else "1.5"})
    test[0].update({"youtube-id": "vidA", "start-ts": "2", "end-ts": "4"})
    test[1].update({"youtube-id": "vidMissing", "start-ts": "0", "end-ts": "1"})
    test[2].update({"youtube-id": "vidBad", "start-ts": "0", "end-ts": "1"})
    test[3].update({"youtube-id": "vidA", "start-ts": "3", "end-ts": "2"})  # malformed: end before start
    metadata = tmp_path / "metadata"
    metadata.mkdir()
    _write_tsv(metadata / "training.tsv", training)
    _write_tsv(metadata / "test.tsv", test)
    return {"videos": videos, "metadata": metadata, "training": training, "test": test}


def test_lyra_builder_end_to_end(lyra_sources, tmp_path):
    out = tmp_path / "lyra"
    args = LyraArguments(output_dir=str(out), videos_dir=str(lyra_sources["videos"]),
                         metadata_dir=str(lyra_sources["metadata"]), no_progress=True)
    summary = build_lyra(args)
    assert summary.counts == {"train": 9, "validation": 1, "test": 1}
    reasons = {f["id"]: f["reason"] for f in summary.failures}
    test = lyra_sources["test"]
    assert reasons[test[1]["id"]].startswith("missing video")
    assert reasons[test[2]["id"]].startswith("undecodable audio")
    assert reasons[test[3]["id"]].startswith("malformed metadata row 5 of test.tsv")
    assert len(reasons) == 3
    on_disk = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert {f["id"] for f in on_disk} == set(reasons) and all(f["split"] == "test" for f in on_disk)
    assert json.loads((out / "vocabulary.json").read_text())["tags"] == list(DATASETS["lyra"].tags)

    ds = load_tradition("lyra", "train", repo_id=out)
    by_id = {r["id"]: r for r in lyra_sources["training"]}
    for row in ds:
        source = by_id[row["id"]]
        assert row["tags"] == piece_tags(source)
        assert row["duration"] == pytest.approx(1.0, abs=0.05)
        # the cut is at the right place: 0.5-1.5 s is the 440 Hz half, 2.5-3.5 s the 880 Hz half
        expected = 880.0 if float(source["start-ts"]) > 2 else 440.0
        assert dominant_frequency(row["audio"]["array"], SR) == pytest.approx(expected, abs=5)
        assert row["youtube_id"] == source["youtube-id"]
        assert [t for t, v in zip(DATASETS["lyra"].tags, row["labels"]) if v] == \
            [t for t in DATASETS["lyra"].tags if t in row["tags"]]
    test_row = load_tradition("lyra", "test", repo_id=out)[0]
    assert test_row["duration"] == pytest.approx(2.0, abs=0.05)

    # rerun: everything is finished, nothing is decoded again, same result
    before = {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")}
    again = build_lyra(args)
    assert again.counts == summary.counts and len(again.failures) == 3
    assert {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")} == before


def test_lyra_vocabulary_recomputed_on_training(lyra_sources, tmp_path):
    args = LyraArguments(output_dir=str(tmp_path / "out"), videos_dir=str(lyra_sources["videos"]),
                         metadata_dir=str(lyra_sources["metadata"]), vocabulary="train", top_n=5, no_progress=True,
                         sampling_rate=16000)
    summary = build_lyra(args)
    train, _ = ccml_validation_split(lyra_sources["training"])
    counts = {}
    for row in train:
        for tag in set(piece_tags(row)):
            counts[tag] = counts.get(tag, 0) + 1
    expected = sorted(counts, key=lambda t: (-counts[t], t))[:5]
    assert summary.vocabulary == expected
    row = load_tradition("lyra", "validation", repo_id=tmp_path / "out", sampling_rate=16000)[0]
    assert len(row["labels"]) == 5 and len(row["audio"]["array"]) == pytest.approx(16000, abs=400)


def test_ccml_validation_split_of_the_real_training_set():
    rows, _ = read_tsv(resource_path("lyra", "training.tsv"))
    train, validation = ccml_validation_split(rows)
    assert (len(train), len(validation)) == (1116, 124)
    assert not {r["id"] for r in train} & {r["id"] for r in validation}
    # ccml: np.random.seed(10); np.random.shuffle(indices); validation = indices[:124]
    np.random.seed(10)
    indices = list(range(len(rows)))
    np.random.shuffle(indices)
    assert {r["id"] for r in validation} == {rows[i]["id"] for i in indices[:124]}
    assert sum(DATASETS["lyra"].splits.values()) == 1570


def test_lyra_needs_a_videos_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="--videos-dir .* does not exist"):
        build_lyra(LyraArguments(output_dir=str(tmp_path / "o"), videos_dir=str(tmp_path / "nope")))
