"""Loading a tradition (map-style and streaming), registry behaviour, and chunking for pre-training / probing."""

import numpy as np
import pytest

from conftest_data import SMALL_CLIPS, SMALL_SECONDS, small_corpus  # noqa: F401
from hf_culturemert.data import (DATASETS, ChunkStats, crop_dataset, get_dataset_info, get_vocabulary,
                                 iter_random_crops, iter_windows, load_tradition, num_windows, window_dataset)

SR = 24000


def test_registry_vocabularies_org_and_aliases(monkeypatch):
    sizes = {name: DATASETS[name].num_tags for name in ("lyra", "makam", "hindustani", "carnatic", "fma", "mtat")}
    assert sizes == {"lyra": 30, "makam": 30, "hindustani": 20, "carnatic": 20, "fma": 20, "mtat": 50}
    assert DATASETS["lyra"].tags[8] == "place--None"
    assert DATASETS["makam"].splits == {"train": 3709, "validation": 529, "test": 1059}
    assert get_dataset_info("turkish-makam") is DATASETS["makam"]
    monkeypatch.setenv("CULTUREMERT_HUB_ORG", "my-lab")
    assert DATASETS["carnatic"].repo_id == "my-lab/carnatic"
    with pytest.raises(ValueError, match="known datasets: lyra, makam"):
        get_dataset_info("gamelan")


def test_load_dataset_reads_the_folder_with_audio_and_string_lists(small_corpus):
    from datasets import Audio, List, Value, load_dataset

    ds = load_dataset(str(small_corpus["lyra"]))
    assert {k: len(v) for k, v in ds.items()} == SMALL_CLIPS
    assert isinstance(ds["train"].features["audio"], Audio)
    assert ds["train"].features["tags"] == List(Value("string"))
    audio = ds["train"][0]["audio"]
    assert audio["sampling_rate"] == SR and audio["array"].shape == (int(SMALL_SECONDS * SR),)


def test_load_tradition_columns_rate_and_labels(small_corpus):
    ds = load_tradition("hindustani", "valid", repo_id=small_corpus["hindustani"], sampling_rate=16000)
    assert len(ds) == SMALL_CLIPS["validation"]
    assert {"id", "audio", "tags", "labels", "duration", "tonic_hz"} <= set(ds.column_names)
    vocabulary = get_vocabulary("hindustani", small_corpus["hindustani"])
    row = ds[1]
    assert row["audio"]["sampling_rate"] == 16000
    assert row["audio"]["array"].ndim == 1 and len(row["audio"]["array"]) == pytest.approx(SMALL_SECONDS * 16000, abs=2)
    assert len(row["labels"]) == len(vocabulary)
    assert [vocabulary[i] for i, v in enumerate(row["labels"]) if v] == [t for t in vocabulary if t in row["tags"]]


def test_load_tradition_with_another_vocabulary_recomputes_labels(small_corpus):
    ds = load_tradition("makam", "test", repo_id=small_corpus["makam"], vocabulary=list(DATASETS["makam"].tags))
    for row in ds.select_columns(["tags", "labels"]):
        assert len(row["labels"]) == 30
        assert sum(row["labels"]) == len(row["tags"])


def test_streaming_equals_map_style(small_corpus):
    folder = small_corpus["carnatic"]
    mapped = load_tradition("carnatic", "test", repo_id=folder)
    streamed = load_tradition("carnatic", "test", repo_id=folder, streaming=True)
    rows = list(streamed)
    assert [r["id"] for r in rows] == mapped["id"]
    for a, b in zip(rows, mapped):
        assert a["tags"] == b["tags"] and list(a["labels"]) == list(b["labels"])
        np.testing.assert_array_equal(a["audio"]["array"], b["audio"]["array"])


def test_clear_errors(small_corpus, tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset 'klezmer'.*lyra"):
        load_tradition("klezmer", "train", repo_id=small_corpus["makam"])
    with pytest.raises(ValueError, match="Split 'holdout' not found.*train, validation, test"):
        load_tradition("makam", "holdout", repo_id=small_corpus["makam"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a dataset folder in the Hub layout"):
        load_tradition("makam", "train", repo_id=tmp_path / "empty")


def test_random_crops_lengths_ids_determinism_and_dropping(small_corpus):
    ds = load_tradition("western", "train", repo_id=small_corpus["western"])
    crops = crop_dataset(ds, crop_seconds=2.0, min_seconds=1.0, seed=7, crops_per_track=2)
    assert len(crops) == 2 * len(ds)
    assert sorted(set(crops["track_id"])) == sorted(ds["id"])
    assert all(len(x) == 2 * SR for x in crops["input_values"])
    assert all(0.0 <= s <= SMALL_SECONDS - 2.0 for s in crops["start"])
    again = crop_dataset(ds, crop_seconds=2.0, min_seconds=1.0, seed=7, crops_per_track=2)
    other = crop_dataset(ds, crop_seconds=2.0, min_seconds=1.0, seed=8, crops_per_track=2)
    assert again["start"] == crops["start"] and other["start"] != crops["start"]
    # the crop is the audio at its start offset
    full = ds[0]["audio"]["array"]
    first = crops[0]
    lo = int(round(first["start"] * SR))
    np.testing.assert_allclose(first["input_values"], full[lo:lo + 2 * SR], atol=1e-6)
    # clips between the minimum and the crop length are kept whole; shorter ones are dropped and counted
    whole = crop_dataset(ds, crop_seconds=5.0, min_seconds=3.0)
    assert all(len(x) == SMALL_SECONDS * SR for x in whole["input_values"])
    stats = ChunkStats()
    assert list(iter_random_crops(ds, crop_seconds=5.0, min_seconds=4.5, stats=stats)) == []
    assert (stats.tracks, stats.dropped_short, stats.chunks) == (len(ds), len(ds), 0)


def test_crops_streaming_equal_map_style(small_corpus):
    folder = small_corpus["makam"]
    mapped = crop_dataset(load_tradition("makam", "validation", repo_id=folder), crop_seconds=1.5, seed=3,
                          min_seconds=1.0)
    streamed = list(crop_dataset(load_tradition("makam", "validation", repo_id=folder, streaming=True),
                                 crop_seconds=1.5, seed=3, min_seconds=1.0))
    assert [r["track_id"] for r in streamed] == mapped["track_id"]
    assert [r["start"] for r in streamed] == mapped["start"]
    np.testing.assert_allclose(np.stack([r["input_values"] for r in streamed]), np.stack(mapped["input_values"]),
                               atol=1e-6)


@pytest.mark.parametrize("window, hop", [(1.5, None), (1.0, 0.5), (30.0, None)])
def test_fixed_windows_cover_tracks_and_keep_labels(small_corpus, window, hop):
    ds = load_tradition("lyra", "test", repo_id=small_corpus["lyra"])
    windows = window_dataset(ds, window_seconds=window, hop_seconds=hop)
    per_track = num_windows(SMALL_SECONDS, window, hop)
    assert len(windows) == per_track * len(ds)
    assert windows["track_id"] == [i for i in ds["id"] for _ in range(per_track)]
    assert windows["window_index"] == list(range(per_track)) * len(ds)
    step = hop or window
    assert windows["window_start"][:per_track] == pytest.approx([k * step for k in range(per_track)])
    for row in windows:
        assert len(row["input_values"]) == round((row["window_end"] - row["window_start"]) * SR)
        assert len(row["input_values"]) <= window * SR
    labels = dict(zip(ds["id"], ds["labels"]))
    assert all(row["labels"] == labels[row["track_id"]] for row in windows.select_columns(["track_id", "labels"]))
    streamed = list(iter_windows(load_tradition("lyra", "test", repo_id=small_corpus["lyra"], streaming=True),
                                 window_seconds=window, hop_seconds=hop))
    assert [(r["track_id"], r["window_index"]) for r in streamed] == list(zip(windows["track_id"],
                                                                              windows["window_index"]))


def test_num_windows_counts():
    assert num_windows(4.0, 1.5) == 3  # 0-1.5, 1.5-3, tail 3-4 (>= 0.75 s)
    assert num_windows(3.2, 1.5) == 2  # tail 0.2 s < 0.75 s dropped
    assert num_windows(2.0, 30.0) == 1  # a short track is one short window
    assert num_windows(4.0, 1.0, 0.5) == 7


def test_synthesize_command(tmp_path):
    from hf_culturemert.commands.synthesize import main

    assert main(["--output-dir", str(tmp_path), "--size", "2", "--clip-seconds", "1.5", "--traditions", "makam",
                 "--num_proc", "1"]) == 0
    ds = load_tradition("makam", "test", repo_id=tmp_path / "makam")
    assert len(ds) == 2 and ds[0]["duration"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="Unknown synthetic tradition"):
        main(["--output-dir", str(tmp_path), "--traditions", "gamelan"])


def test_chunkers_accept_decoded_arrays_and_refuse_a_wrong_rate():
    from hf_culturemert.data import fixed_windows, random_crops

    wave = np.sin(np.arange(int(3.5 * SR)) * 0.01).astype(np.float32)
    batch = {"id": ["a", "b"], "audio": [{"array": wave, "sampling_rate": SR},
                                         {"array": wave[: SR], "sampling_rate": SR}], "labels": [[1, 0], [0, 1]]}
    stats = ChunkStats()
    crops = random_crops(batch, crop_seconds=2.0, min_seconds=1.5, seed=0, keep_columns=("labels",), stats=stats)
    assert crops["track_id"] == ["a"] and crops["labels"] == [[1, 0]] and len(crops["input_values"][0]) == 2 * SR
    assert (stats.tracks, stats.chunks, stats.dropped_short) == (2, 1, 1)
    windows = fixed_windows(batch, window_seconds=2.0)
    assert windows["track_id"] == ["a", "a", "b"]  # 0-2 s, tail 2-3.5 s (>= 1 s), and b's single short window
    assert windows["window_end"] == pytest.approx([2.0, 3.5, 1.0])
    with pytest.raises(ValueError, match="16000 Hz but 24000 Hz was requested"):
        random_crops({"id": ["c"], "audio": [{"array": wave, "sampling_rate": 16000}]})
    with pytest.raises(ValueError, match="min_seconds=6.0 must be between 0 and crop_seconds=5.0"):
        random_crops(batch, crop_seconds=5.0, min_seconds=6.0)


def test_missing_local_folder_is_not_mistaken_for_a_hub_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither an existing local folder nor a Hub id"):
        load_tradition("lyra", "train", repo_id="no-such-folder")
