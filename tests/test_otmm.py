"""Real makam (OTMM): the MORTY anchor on the shipped pitch subset, tonics, folds, resynthesis, the builder."""

import json

import numpy as np
import pytest

from conftest_data import dominant_frequency
from hf_culturemert.data import get_dataset_info, load_tradition, otmm
from hf_culturemert.data.builders.common import cli_main
from hf_culturemert.data.builders.otmm import OTMMArguments, build_otmm

SR = 24000


def test_morty_anchor_on_the_shipped_subset():
    """The published makam recognition (0.718) from the package's own pitch data: tonics, labels and folds agree."""
    subset = otmm.load_subset()
    assert len(subset) == 1000 and subset.hop_seconds == pytest.approx(16 * 128 / 44100)
    makams, counts = np.unique(subset.makams, return_counts=True)
    assert list(makams) == sorted(otmm.MAKAMS) and set(counts) == {50}
    for fold in range(otmm.NUM_FOLDS):  # MORTY's folds are stratified: 5 recordings of every makam
        assert set(np.unique(subset.makams[subset.folds == fold], return_counts=True)[1]) == {5}
    result = otmm.morty_anchor(subset)
    assert abs(result["accuracy"] - otmm.PUBLISHED_ACCURACY) <= 0.01, result["accuracy"]


def test_tonic_normalisation_is_what_the_anchor_rests_on():
    """Pitch classes re a wrong tonic (a random shift per recording) lose most of the accuracy."""
    subset = otmm.load_subset()
    rng = np.random.default_rng(0)
    shifted = np.stack([otmm.pitch_class_distribution(subset.track(i) + rng.uniform(0, 1200))
                        for i in range(len(subset))])
    assert otmm.morty_accuracy(shifted, subset.makams, subset.folds)["accuracy"] < 0.3


def test_pitch_class_distribution_and_knn():
    pcd = otmm.pitch_class_distribution(np.array([0.0, 1200.0, 700.0, np.nan, 2400.0]))
    assert pcd.shape == (48,) and pcd.sum() == pytest.approx(1.0)
    assert pcd[0] == pytest.approx(3 * pcd[28], rel=1e-6)  # the tonic three times, the fifth (700 c = bin 28) once
    assert otmm.bhattacharyya_distances(pcd[None], pcd[None])[0, 0] == pytest.approx(0.0, abs=1e-9)
    # 2 votes against 2: the tie goes to the label whose member is nearest
    assert otmm.knn_vote(np.array([[0.3, 0.1, 0.2, 0.4]]), ["a", "b", "a", "b"], k=4) == ["b"]
    with pytest.raises(ValueError, match="no voiced frame"):
        otmm.pitch_class_distribution(np.array([np.nan]))


def test_corrected_tonic_takes_the_median_pitch_class_in_the_annotated_octave():
    annotations = [{"value": 110.0 * 2 ** (10 / 1200)}, {"value": 220.0 * 2 ** (20 / 1200)}, {"value": 440.0}]
    assert otmm.corrected_tonic(220.0, annotations) == pytest.approx(220.0 * 2 ** (10 / 1200))
    assert otmm.corrected_tonic(220.0, []) == 220.0


def test_synthesize_follows_the_melody_deterministically():
    hop = 0.01
    cents = np.r_[np.full(100, 700.0), np.full(50, np.nan), np.full(100, -500.0)]
    wave = otmm.synthesize(cents, hop, reference_hz=220.0, sampling_rate=SR)
    assert wave.dtype == np.float32 and len(wave) == int(round(len(cents) * hop * SR))
    assert np.array_equal(wave, otmm.synthesize(cents, hop, reference_hz=220.0, sampling_rate=SR))
    assert dominant_frequency(wave[2400:21600], SR) == pytest.approx(220 * 2 ** (700 / 1200), abs=3)
    assert dominant_frequency(wave[40000:57600], SR) == pytest.approx(220 * 2 ** (-500 / 1200), abs=3)
    assert np.max(np.abs(wave[26000:34000])) == 0.0  # unvoiced frames are silent
    absolute = otmm.synthesize(np.full(100, 0.0), hop, reference_hz=300.0, sampling_rate=SR)
    assert dominant_frequency(absolute, SR) == pytest.approx(300.0, abs=3)
    longer = otmm.synthesize(cents, hop, reference_hz=220.0, sampling_rate=SR, num_samples=len(wave) + 17)
    assert len(longer) == len(wave) + 17 and dominant_frequency(longer[-9600:], SR) == pytest.approx(
        220 * 2 ** (-500 / 1200), abs=3)  # the last frame held to the end


def test_miniature_excerpts_are_exactly_clip_seconds_long(tmp_path):
    """Whole excerpts are clip_seconds * rate samples (2.9 ms hops would leave them 17 samples short at 8 s, and every
    batch of their windows padded: the slow masked path)."""
    from datasets import Audio

    from hf_culturemert.data.builders.otmm import build_otmm_clips
    from hf_culturemert.probing.features import load_split

    folder = build_otmm_clips(tmp_path, seed=0, per_makam={"train": 1, "validation": 1, "test": 1}, clip_seconds=2.0,
                              progress=False)
    lengths = [len(row["audio"]["array"]) for split in ("train", "test")
               for row in load_split(str(folder), split)[0].cast_column("audio", Audio(sampling_rate=SR))]
    assert len(lengths) == 40 and set(lengths) == {2 * SR}


def test_builder_from_the_shipped_subset(tmp_path):
    out = tmp_path / "otmm"
    summary = build_otmm(OTMMArguments(output_dir=str(out), limit=2, max_duration=4.0, no_progress=True))
    assert summary.counts == {"train": 2, "validation": 2, "test": 2}
    assert get_dataset_info("otmm").splits == {"train": 700, "validation": 100, "test": 200}
    for split, folds in otmm.SPLIT_FOLDS.items():
        rows = load_tradition("otmm", split, repo_id=str(out), sampling_rate=SR)
        for row in rows:
            assert row["fold"] in folds
            assert row["tags"] == [f"makam--{row['makam']}"]
            assert row["labels"] == [int(tag == row["tags"][0]) for tag in otmm.VOCABULARY]
            assert row["duration"] == pytest.approx(4.0, abs=0.05) and row["source_duration"] > 60
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "cc-by-nc-sa-4.0" in card and "NonCommercial" not in card and "non-commercial" in card
    assert "tonic sounds at 220 Hz" in card


def _fake_clone(tmp_path):
    """Two makams x two recordings: a clone, its tonic dataset (one correction) and MORTY's folds.json (with one
    recording that the clone has since replaced)."""
    clone = tmp_path / "otmm_makam_recognition_dataset"
    rows, tonics, folds = [], {}, [[0, {"testing": []}], [2, {"testing": []}]]
    for makam, base in (("Hicaz", 200.0), ("Rast", 150.0)):
        (clone / "data" / makam).mkdir(parents=True)
        for k in range(2):
            mbid = f"{makam.lower()}-{k}"
            rows.append({"mbid": f"http://musicbrainz.org/recording/{mbid}", "makam": makam, "tonic": base})
            (clone / "data" / makam / f"{mbid}.pitch").write_text("\n".join(["0.0"] * 5 + [str(base)] * 400))
            (clone / "data" / makam / f"{mbid}.json").write_text(json.dumps(
                {"title": f"{makam} {k}", "artist_credits": [{"name": "Someone"}]}))
            source = "replaced-rast" if mbid == "rast-1" else mbid
            folds[k][1]["testing"].append({"source": source, "mode": makam, "tonic": base})
    (clone / "annotations.json").write_text(json.dumps(rows))
    tonics["hicaz-0"] = {"annotations": [{"value": 100.0 * 2 ** (30 / 1200)}]}  # 30 cents higher, another octave
    (tmp_path / "tonics.json").write_text(json.dumps(tonics))
    (tmp_path / "folds.json").write_text(json.dumps(folds))
    return clone


def test_builder_from_a_clone_uses_corrected_tonics_and_morty_folds(tmp_path):
    clone = _fake_clone(tmp_path)
    recordings = {r.mbid: r for r in otmm.read_recordings(clone, tmp_path / "tonics.json", tmp_path / "folds.json")}
    assert recordings["hicaz-0"].tonic == pytest.approx(200.0 * 2 ** (30 / 1200))
    assert recordings["hicaz-1"].tonic == 200.0
    assert recordings["rast-1"].fold == 2  # the replacement takes the fold of the recording it replaced
    out = tmp_path / "built"
    build_otmm(OTMMArguments(output_dir=str(out), otmm_dir=str(clone), tonic_annotations=str(tmp_path / "tonics.json"),
                             folds_file=str(tmp_path / "folds.json"), no_progress=True))
    test = load_tradition("otmm", "test", repo_id=str(out), sampling_rate=SR)  # fold 0
    assert sorted(test["id"]) == ["hicaz-0", "rast-0"]
    assert sorted(load_tradition("otmm", "validation", repo_id=str(out))["id"]) == ["hicaz-1", "rast-1"]  # fold 2
    by_id = {row["id"]: row for row in test}
    assert by_id["hicaz-0"]["title"] == "Hicaz 0" and by_id["hicaz-0"]["artists"] == ["Someone"]
    # tonic-normalised: a melody that sits 30 cents under its corrected tonic sounds 30 cents under 220 Hz
    wave = by_id["hicaz-0"]["audio"]["array"]
    assert dominant_frequency(wave[SR // 10:], SR) == pytest.approx(220 * 2 ** (-30 / 1200), abs=2)
    assert dominant_frequency(by_id["rast-0"]["audio"]["array"][SR // 10:], SR) == pytest.approx(220.0, abs=2)


def test_builder_errors_are_one_line(tmp_path, capsys):
    clone = _fake_clone(tmp_path)
    assert cli_main(OTMMArguments, build_otmm, ["--output_dir", str(tmp_path / "a"), "--otmm_dir", str(clone)],
                    "otmm") == 1
    assert "--tonic_annotations" in capsys.readouterr().err
    # the fake clone's recordings are not in the shipped folds: the error asks for folds.json
    assert cli_main(OTMMArguments, build_otmm, ["--output_dir", str(tmp_path / "b"), "--otmm_dir", str(clone),
                                                "--original_tonics"], "otmm") == 1
    assert "--folds_file" in capsys.readouterr().err
    assert cli_main(OTMMArguments, build_otmm, ["--output_dir", str(tmp_path / "c"), "--otmm_dir",
                                                str(tmp_path / "nowhere"), "--original_tonics"], "otmm") == 1
    assert "otmm_makam_recognition_dataset" in capsys.readouterr().err


def test_top1_accuracy_is_the_share_of_examples_whose_best_tag_is_theirs():
    from hf_culturemert.metrics import tagging_metrics

    scores = [[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [0.4, 0.6, 0.3]]
    references = [[1, 0, 0], [0, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert tagging_metrics(scores, references)["top1_accuracy"] == pytest.approx(0.5)
