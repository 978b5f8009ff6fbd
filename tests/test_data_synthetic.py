"""The synthetic corpus: deterministic, balanced, consistent labels, and tags you can hear."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest_data import SMALL_CLIPS, SMALL_SECONDS, small_corpus  # noqa: F401
from hf_culturemert.data import DATASETS, TRADITIONS, build_synthetic_corpus, multi_hot, tradition_vocabulary
from hf_culturemert.data.hub_layout import SkipExample, shard_paths, standard_features, write_split
from hf_culturemert.data.synthetic import CYCLES, SCALES, ClipDesign, render_clip, split_designs

SR = 24000


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((Path(folder) / "data").glob("*"))}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    kwargs = dict(clips_per_split={"train": 3, "validation": 2, "test": 2}, clip_seconds=2.0, traditions=["makam"],
                  progress=False)
    a = build_synthetic_corpus(tmp_path / "a", seed=5, num_proc=1, **kwargs)["makam"]
    b = build_synthetic_corpus(tmp_path / "b", seed=5, num_proc=2, **kwargs)["makam"]
    c = build_synthetic_corpus(tmp_path / "c", seed=6, num_proc=1, **kwargs)["makam"]
    assert _digest(a) == _digest(b)
    assert len(_digest(a)) == 3
    assert _digest(a)["train-00000-of-00001.parquet"] != _digest(c)["train-00000-of-00001.parquet"]
    assert (a / "README.md").read_text() == (b / "README.md").read_text()


def test_split_sizes_vocabulary_and_labels(small_corpus):
    import pyarrow.parquet as pq

    assert set(small_corpus) == set(TRADITIONS)
    for tradition, folder in small_corpus.items():
        vocabulary = json.loads((folder / "vocabulary.json").read_text())["tags"]
        assert vocabulary == tradition_vocabulary(tradition) == list(DATASETS[f"synthetic-{tradition}"].tags)
        for split, count in SMALL_CLIPS.items():
            table = pq.read_table(shard_paths(folder, split))
            assert table.num_rows == count
            rows = table.select(["id", "tags", "labels", "duration"]).to_pylist()
            assert len({r["id"] for r in rows}) == count
            for row in rows:
                assert set(row["tags"]) <= set(vocabulary), row
                assert row["labels"] == multi_hot(row["tags"], vocabulary)
                assert sum(row["labels"]) == len(set(row["tags"])) >= 2
                assert row["duration"] == pytest.approx(SMALL_SECONDS)


@pytest.mark.parametrize("tradition", [t for t in TRADITIONS if t != "western"])
def test_vocabulary_is_the_real_top_n_in_order_and_every_tag_occurs(tradition):
    real = list(DATASETS[tradition].tags)
    vocabulary = tradition_vocabulary(tradition)
    assert [t for t in real if t in vocabulary] == vocabulary  # same order as ccml's top-N
    assert len(vocabulary) >= 0.8 * len(real)
    seen = {tag for design in split_designs(tradition, "train", 48, seed=0) for tag in design.tags}
    assert seen == set(vocabulary), set(vocabulary) - seen
    prefixes = {tag.split("--")[0] for tag in vocabulary}
    assert prefixes == {p.rstrip("-") for p in DATASETS[tradition].tag_prefixes}


def test_makams_use_53_tet_commas():
    comma = 1200 / 53
    for name in ("Rast", "Hicaz", "Uşşak", "Segah", "Hüzzam"):
        steps = np.array(SCALES[name]) / comma
        assert np.allclose(steps, np.round(steps), atol=1e-9)
    intervals = np.diff(SCALES["Hicaz"] + (1200.0,)) / comma
    assert 12 in np.round(intervals) and 5 in np.round(intervals)  # the augmented second and small steps


def _design(scale="Rast", cycle="Düyek", lead="ney", percussion=()):
    return ClipDesign([], [scale], 260.0, cycle, 5.0, 1, lead, [], list(percussion), False, "none")


def _pitch_class_energy(x, tonic, cents, tolerance=15.0):
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    band = (freqs > 150) & (freqs < 2000)
    pitch_class = (1200 * np.log2(freqs[band] / tonic)) % 1200
    energy = spectrum[band] / spectrum[band].sum()
    return np.array([energy[np.abs((pitch_class - c + 600) % 1200 - 600) < tolerance].sum() for c in cents])


def test_makam_tags_are_audible_in_the_pitch_class_histogram():
    hicaz_only, rast_only = [SCALES["Hicaz"][1]], [SCALES["Rast"][1], SCALES["Rast"][6]]
    for scale, own, other in (("Hicaz", hicaz_only, rast_only), ("Rast", rast_only, hicaz_only)):
        x = render_clip(_design(scale), 12.0, SR, np.random.default_rng(3))
        assert _pitch_class_energy(x, 260.0, own).sum() > 10 * _pitch_class_energy(x, 260.0, other).sum(), scale


def _onset_autocorrelation(x, lags):
    hop = 240
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(hop), axis=1))
    flux = np.maximum(0, np.diff(np.log1p(spectrum), axis=0)).sum(1)
    flux -= flux.mean()
    ac = np.correlate(flux, flux, "full")[len(flux) - 1:]
    return [ac[int(round(lag * SR / hop))] / ac[0] for lag in lags]


def test_usul_cycle_length_is_audible_in_onset_periodicity():
    pulse = 1 / 5.0
    aksak, duyek = len(CYCLES["Aksak"]) * pulse, len(CYCLES["Düyek"]) * pulse
    assert (len(CYCLES["Aksak"]), len(CYCLES["Düyek"])) == (9, 8)
    for usul, own, other in (("Aksak", aksak, duyek), ("Düyek", duyek, aksak)):
        x = render_clip(_design(cycle=usul, percussion=["darbuka"]), 12.0, SR, np.random.default_rng(4))
        at_own, at_other = _onset_autocorrelation(x, [own, other])
        assert at_own > at_other + 0.2, (usul, at_own, at_other)


def test_instrument_timbres_differ_in_spectral_centroid():
    def centroid(x):
        spectrum, freqs = np.abs(np.fft.rfft(x)), np.fft.rfftfreq(len(x), 1 / SR)
        return float((spectrum * freqs).sum() / spectrum.sum())

    rng = lambda: np.random.default_rng(4)  # noqa: E731
    kanun = centroid(render_clip(_design(lead="kanun"), 6.0, SR, rng()))
    oud = centroid(render_clip(_design(lead="oud"), 6.0, SR, rng()))
    voice = centroid(render_clip(_design(lead="voice"), 6.0, SR, rng()))
    assert kanun > 1.2 * oud and oud > 1.2 * voice


def test_ragamalika_changes_scale_and_alapana_has_no_tala():
    designs = split_designs("carnatic", "train", 48, seed=1)
    for design in designs:
        if "raga--ragamalika" in design.tags:
            assert len(design.scales) == 2 and design.scales[0] != design.scales[1]
        if "form--Alapana" in design.tags:
            assert design.cycle is None and not any(t.startswith("tala--") for t in design.tags)
            assert not design.percussion


def test_rebuild_skips_complete_folder_and_settings_change_regenerates(tmp_path):
    kwargs = dict(clips_per_split=2, clip_seconds=1.5, traditions=["lyra"], num_proc=1, progress=False)
    folder = build_synthetic_corpus(tmp_path, **kwargs)["lyra"]
    before = {p: p.stat().st_mtime_ns for p in (folder / "data").glob("*.parquet")}
    build_synthetic_corpus(tmp_path, **kwargs)
    assert {p: p.stat().st_mtime_ns for p in (folder / "data").glob("*.parquet")} == before
    (folder / "my_notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"other settings \(clips_per_split: .*--overwrite"):
        build_synthetic_corpus(tmp_path, **{**kwargs, "clips_per_split": 3})
    assert {p: p.stat().st_mtime_ns for p in (folder / "data").glob("*.parquet")} == before
    build_synthetic_corpus(tmp_path, **{**kwargs, "clips_per_split": 3}, overwrite=True)
    import pyarrow.parquet as pq

    assert pq.read_table(shard_paths(folder, "train")).num_rows == 3
    assert (folder / "my_notes.txt").read_text() == "mine"  # regenerating replaces only the generator's files


def test_synthesize_never_deletes_what_it_did_not_write(tmp_path):
    """Issue 17.2/17.3: a changed seed over an existing corpus, and a folder the generator did not create."""
    from hf_culturemert.cli import main as cli_main

    kwargs = dict(clips_per_split=2, clip_seconds=1.5, traditions=["lyra"], num_proc=1, progress=False)
    folder = build_synthetic_corpus(tmp_path / "D", **kwargs)["lyra"]
    (folder / "user.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"seed: 0 -> 1.*--overwrite"):
        build_synthetic_corpus(tmp_path / "D", seed=1, **kwargs)
    assert (folder / "user.txt").exists() and shard_paths(folder, "train")
    # a folder it did not create, holding a parquet shard of the user's with a generator-like name
    user_shard = tmp_path / "userdata" / "lyra" / "data" / "train-00000-of-00002.parquet"
    user_shard.parent.mkdir(parents=True)
    user_shard.write_bytes(b"PAR1 the user's data")
    code = cli_main(["synthesize", "--output_dir", str(tmp_path / "userdata"), "--traditions", "lyra", "--size", "2",
                     "--clip_seconds", "1.5", "--num_proc", "1"])
    assert code == 1 and user_shard.read_bytes() == b"PAR1 the user's data"
    with pytest.raises(ValueError, match="was not written by `culturemert synthesize`.*--overwrite"):
        build_synthetic_corpus(tmp_path / "userdata", **kwargs)


@pytest.mark.parametrize("flag, value, message", [("--clip_seconds", "0", "clip_seconds=0 is too short"),
                                                  ("--clip_seconds", "nan", "clip_seconds=nan is too short"),
                                                  ("--sampling_rate", "0", "sampling_rate=0")])
def test_synthesize_refuses_impossible_values_and_leaves_no_folder(tmp_path, capsys, flag, value, message):
    from hf_culturemert.cli import main as cli_main

    out = tmp_path / "out"
    assert cli_main(["synthesize", "--output_dir", str(out), "--traditions", "lyra", flag, value]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not out.exists()


def test_synthesize_into_an_unwritable_place_is_one_line(tmp_path, capsys):
    from hf_culturemert.cli import main as cli_main

    (tmp_path / "a_file").write_text("x")
    assert cli_main(["synthesize", "--output_dir", str(tmp_path / "a_file" / "corpus"), "--traditions", "lyra",
                     "--size", "2", "--clip_seconds", "1.5"]) == 1
    err = capsys.readouterr().err
    assert "--output-dir" in err and "a_file" in err and "Traceback" not in err


def test_interrupted_build_resumes_and_ignores_leftover_temporary_shard(tmp_path):
    kwargs = dict(clips_per_split={"train": 3, "validation": 2, "test": 2}, clip_seconds=1.5, traditions=["carnatic"],
                  num_proc=1, progress=False)
    reference = _digest(build_synthetic_corpus(tmp_path / "ref", **kwargs)["carnatic"])
    folder = build_synthetic_corpus(tmp_path / "run", **kwargs)["carnatic"]
    # simulate a crash while writing the test shard: card missing, shard gone, a half-written temporary left behind
    (folder / "README.md").unlink()
    (folder / "data" / "test-00000-of-00001.parquet").unlink()
    leftover = folder / "data" / ".test-00000-of-00001.parquet.tmp"
    leftover.write_bytes(b"PAR1 truncated")
    build_synthetic_corpus(tmp_path / "run", **kwargs)
    assert not leftover.exists()
    assert (folder / "README.md").exists()
    assert _digest(folder) == reference


def test_write_split_resumes_at_the_first_unfinished_shard(tmp_path):
    features = standard_features()
    calls = []

    def make(item, fail_at=None):
        calls.append(item)
        if item == fail_at:
            raise KeyboardInterrupt  # a crash, not a skip
        if item == 4:
            raise SkipExample("corrupt recording")
        wave = np.sin(np.arange(2400) * 0.05 * (item + 1)).astype(np.float32) * 0.5
        from hf_culturemert.data import encode_audio

        return {"id": f"x{item}", "audio": {"bytes": encode_audio(wave, SR), "path": None}, "tags": ["a"],
                "labels": [1], "duration": 0.1}

    items = list(range(7))
    with pytest.raises(KeyboardInterrupt):
        write_split(tmp_path, "train", items, lambda i: make(i, fail_at=5), features, rows_per_shard=3,
                    progress=False)
    assert [p.name for p in shard_paths(tmp_path, "train")] == ["train-00000-of-00003.parquet"]
    assert not list((tmp_path / "data").glob(".*.tmp"))
    calls.clear()
    report = write_split(tmp_path, "train", items, make, features, rows_per_shard=3, progress=False)
    assert calls == [3, 4, 5, 6]  # the finished shard was not redone
    assert (report.shards_skipped, report.shards_written, report.num_examples) == (1, 2, 6)
    assert report.failures == [{"split": "train", "id": "4", "reason": "corrupt recording"}]


@pytest.mark.parametrize("seed", [0, 1])
def test_every_tag_has_positives_and_negatives_in_every_default_split(seed):
    """Probing metrics (ROC-AUC, PR-AUC per tag) need both classes in validation and test."""
    from hf_culturemert.data.synthetic import DEFAULT_CLIPS_PER_SPLIT

    for tradition in TRADITIONS:
        vocabulary = tradition_vocabulary(tradition)
        for split, count in DEFAULT_CLIPS_PER_SPLIT.items():
            designs = split_designs(tradition, split, count, seed)
            for tag in vocabulary:
                positives = sum(tag in design.tags for design in designs)
                assert 0 < positives < count, (tradition, split, tag, positives)
