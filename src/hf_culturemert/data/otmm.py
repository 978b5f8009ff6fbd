"""Real Turkish makam melodies: the OTMM makam recognition dataset (1,000 performances, 20 makams x 50).

Source: GitHub ``MTG/otmm_makam_recognition_dataset`` (Karakurt, Şentürk & Serra, DLfM 2016; CC BY-NC-SA 4.0):
predominant-melody pitch tracks in Hz (``data/<Makam>/<mbid>.pitch``, one value per 128/44100 s, 0 = unvoiced),
``annotations.json`` (makam, tonic). The tonics are corrected with ``MTG/otmm_tonic_dataset`` (the dataset's own
advice since November 2016): the median pitch class of every annotation of a recording, in the octave of the
original annotation. The folds are MORTY's stratified 10 folds (``sertansenturk/makam_recognition_experiments``,
``data/folds.json``); the four recordings replaced in April 2020 take the fold of the one they replaced.

What ships with the package (``resources/data/otmm/``, with its licence and attribution beside it): every pitch
track as int16 cents re its corrected tonic, one value every 16 hops (46 ms), plus makam, tonic and fold. It is
enough to reproduce MORTY's published makam recognition (``morty_accuracy``: pitch-class distributions, 25-cent
bins, 25-cent Gaussian kernel, Bhattacharyya distance, k = 10: 0.718) and to resynthesise real melodies
(``synthesize``) for the miniature study and ``dataset_scripts/otmm.py``. No audio exists: OTMM never published it.
"""

import collections
import dataclasses
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..constants import SAMPLING_RATE
from .metadata import resource_path

logger = logging.getLogger(__name__)

# OTMM's folder names -> the makam names of the Dunya corpus (ccml's ``makam--`` tags use these spellings)
MAKAMS = {
    "Acemasiran": "Acemaşiran", "Acemkurdi": "Acemkürdi", "Bestenigar": "Bestenigar", "Beyati": "Beyati",
    "Hicaz": "Hicaz", "Hicazkar": "Hicazkar", "Huseyni": "Hüseyni", "Huzzam": "Hüzzam", "Karcigar": "Karcığar",
    "Kurdilihicazkar": "Kürdilihicazkar", "Mahur": "Mahur", "Muhayyer": "Muhayyer", "Neva": "Neva",
    "Nihavent": "Nihavent", "Rast": "Rast", "Saba": "Saba", "Segah": "Segah", "Sultaniyegah": "Sultaniyegah",
    "Suzinak": "Suzinak", "Ussak": "Uşşak",
}
VOCABULARY = tuple(f"makam--{name}" for name in MAKAMS.values())
HOP_SECONDS = 128 / 44100  # OTMM's pitch-track step
SUBSET_DECIMATION = 16  # the shipped subset keeps every 16th value: 46.4 ms
SUBSET_FILE = ("otmm", "otmm_pitch.npz")
SILENT = np.int16(-32768)  # unvoiced frame in the int16 cent tracks
NUM_FOLDS = 10
# the Hub layout's splits, from MORTY's folds (each fold holds 5 recordings of every makam): 700 / 100 / 200
SPLIT_FOLDS = {"train": (3, 4, 5, 6, 7, 8, 9), "validation": (2,), "test": (0, 1)}
PUBLISHED_ACCURACY = 0.718  # evaluation_overall.json, mode, "multi--pcd--25_0--25_0--bhat--10--0_15"
NORMALISED_TONIC_HZ = 220.0

OTMM_CITATION = """@inproceedings{karakurt2016morty,
  title={MORTY: A Toolbox for Mode Recognition and Tonic Identification},
  author={Karakurt, Altu{\\u{g}} and {\\c{S}}ent{\\"u}rk, Sertan and Serra, Xavier},
  booktitle={Proceedings of the 3rd International Digital Libraries for Musicology Workshop (DLfM)},
  pages={9--16},
  year={2016}
}
@phdthesis{senturk2016thesis,
  title={Computational Analysis of Audio Recordings and Music Scores for the Description and Discovery of
         Ottoman-Turkish Makam Music},
  author={{\\c{S}}ent{\\"u}rk, Sertan},
  school={Universitat Pompeu Fabra},
  year={2016}
}"""
LICENSE_NOTE = ("CC BY-NC-SA 4.0 (https://creativecommons.org/licenses/by-nc-sa/4.0/): derived from the OTMM makam "
                "recognition dataset and the OTMM tonic dataset (MTG, Universitat Pompeu Fabra). Attribution "
                "required; non-commercial use only; anything built from it (datasets, models trained on it) must be "
                "shared under the same licence.")


def split_of_fold(fold: int) -> str:
    return next(split for split, folds in SPLIT_FOLDS.items() if fold in folds)


@dataclasses.dataclass
class Recording:
    """One OTMM performance: ``makam`` is OTMM's folder name, ``tonic`` the corrected tonic in Hz."""

    mbid: str
    makam: str
    tonic: float
    fold: int
    annotated_tonic: float

    @property
    def tag(self) -> str:
        return f"makam--{MAKAMS[self.makam]}"


# ------------------------------------------------------------------------------------------------ reading a clone


def _mbid(value: str) -> str:
    return value.rstrip("/").split("/")[-1]


def corrected_tonic(annotated: float, annotations: Sequence[dict]) -> float:
    """The median pitch class (cents) of a recording's tonic-dataset annotations, in the octave of ``annotated``."""
    values = [float(a["value"]) for a in annotations if float(a.get("value") or 0) > 0]
    if not values:
        return float(annotated)
    offsets = [(1200 * np.log2(v / annotated) + 600) % 1200 - 600 for v in values]
    return float(annotated * 2 ** (np.median(offsets) / 1200))


def read_folds(path, recordings: Dict[str, tuple]) -> Dict[str, int]:
    """MBID -> fold from MORTY's ``folds.json``; a recording replaced since takes its predecessor's fold.

    ``recordings``: MBID -> (makam, ...) of the clone. A replacement is unambiguous: one per makam.
    """
    path = Path(path)
    try:
        folds = json.loads(path.read_text(encoding="utf-8"))
        entries = [(int(k), r["source"], r["mode"]) for k, part in folds for r in part["testing"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not MORTY's folds.json (a list of [fold, {{'testing': [{{'source', 'mode'}}]}}]):"
                         f" {error}") from error
    fold = {source: k for k, source, _ in entries}
    unplaced = collections.defaultdict(list)
    for mbid, (makam, *_) in recordings.items():
        if mbid not in fold:
            unplaced[makam].append(mbid)
    for k, source, makam in entries:
        if source not in recordings:
            if len(unplaced.get(makam, [])) != 1:
                raise ValueError(f"{path}: recording {source} ({makam}) is not in the clone and no single "
                                 f"replacement of makam {makam} is either; is this the dlfm2016 dataset?")
            fold[unplaced.pop(makam)[0]] = k
    return {mbid: fold[mbid] for mbid in recordings if mbid in fold}


def read_recordings(otmm_dir, tonic_annotations=None, folds_file=None) -> list:
    """The recordings of a clone of ``MTG/otmm_makam_recognition_dataset``, with corrected tonics and folds.

    ``tonic_annotations``: ``annotations.json`` of ``MTG/otmm_tonic_dataset`` (None keeps the original tonics, which
    the dataset's authors advise against). ``folds_file``: MORTY's ``folds.json`` (None: the folds of the shipped
    subset, which came from it).
    """
    otmm_dir = Path(otmm_dir).expanduser()
    annotations_path = otmm_dir / "annotations.json"
    if not annotations_path.is_file():
        raise FileNotFoundError(f"{annotations_path} not found: --otmm_dir must be a clone or download of "
                                "https://github.com/MTG/otmm_makam_recognition_dataset")
    rows = json.loads(annotations_path.read_text(encoding="utf-8"))
    try:
        annotated = {_mbid(r["mbid"]): (r["makam"], float(r["tonic"])) for r in rows}
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{annotations_path}: every entry needs 'mbid', 'makam' and 'tonic': {error}") from error
    unknown = sorted({makam for makam, _ in annotated.values()} - set(MAKAMS))
    if unknown:
        raise ValueError(f"{annotations_path}: makams {unknown} are not OTMM's 20 ({', '.join(MAKAMS)})")
    corrections = {}
    if tonic_annotations is not None:
        tonic_path = Path(tonic_annotations).expanduser()
        if not tonic_path.is_file():
            raise FileNotFoundError(f"--tonic_annotations {tonic_path} not found: annotations.json of "
                                    "https://github.com/MTG/otmm_tonic_dataset")
        corrections = json.loads(tonic_path.read_text(encoding="utf-8"))
    if folds_file is not None:
        folds = read_folds(folds_file, annotated)
    else:
        shipped = load_subset()
        folds = {mbid: int(f) for mbid, f in zip(shipped.mbids, shipped.folds)}
    missing = sorted(set(annotated) - set(folds))
    if missing:
        raise ValueError(f"{len(missing)} recordings of {annotations_path} have no fold (first: {missing[0]}); "
                         "pass MORTY's folds.json with --folds_file")
    out = []
    for mbid, (makam, tonic) in sorted(annotated.items(), key=lambda item: (item[1][0], item[0])):
        entry = corrections.get(mbid, {}).get("annotations", [])
        out.append(Recording(mbid=mbid, makam=makam, tonic=corrected_tonic(tonic, entry), fold=folds[mbid],
                             annotated_tonic=tonic))
    return out


def read_pitch(otmm_dir, recording: Recording) -> np.ndarray:
    """A clone's pitch track in Hz (float32; 0 where unvoiced), one value per ``HOP_SECONDS``."""
    path = Path(otmm_dir).expanduser() / "data" / recording.makam / f"{recording.mbid}.pitch"
    try:
        text = path.read_text(encoding="ascii")
        return np.array(text.split(), dtype=np.float32)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{path} not found (an incomplete clone?)") from error
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path}: not a one-column pitch track in Hz: {error}") from error


def read_metadata(otmm_dir, recording: Recording) -> dict:
    """Title and artists from the clone's MusicBrainz JSON (empty when absent)."""
    path = Path(otmm_dir).expanduser() / "data" / recording.makam / f"{recording.mbid}.json"
    if not path.is_file():
        return {"title": "", "artists": []}
    meta = json.loads(path.read_text(encoding="utf-8"))
    return {"title": str(meta.get("title") or ""),
            "artists": [str(a.get("name", "")) for a in meta.get("artist_credits") or []]}


def cents_re_tonic(hz: np.ndarray, tonic: float) -> np.ndarray:
    """Cents above ``tonic`` (float32), NaN where unvoiced (``hz <= 0``)."""
    hz = np.asarray(hz, dtype=np.float64)
    voiced = hz > 0
    out = np.full(hz.shape, np.nan, dtype=np.float32)
    out[voiced] = 1200 * np.log2(hz[voiced] / tonic)
    return out


# ------------------------------------------------------------------------------------------------ shipped subset


@dataclasses.dataclass
class PitchSubset:
    """Every OTMM track as int16 cents re its tonic (``SILENT`` = unvoiced), ``hop_seconds`` apart."""

    mbids: np.ndarray
    makams: np.ndarray
    tonics: np.ndarray
    folds: np.ndarray
    offsets: np.ndarray  # track i is cents[offsets[i]:offsets[i + 1]]
    cents: np.ndarray
    hop_seconds: float

    def __len__(self):
        return len(self.mbids)

    def track(self, index: int) -> np.ndarray:
        """Cents re tonic of recording ``index`` as float32, NaN where unvoiced."""
        raw = self.cents[self.offsets[index]:self.offsets[index + 1]]
        out = raw.astype(np.float32)
        out[raw == SILENT] = np.nan
        return out

    def recording(self, index: int) -> Recording:
        """Recording ``index``; the subset keeps the corrected tonic only, so it stands for both tonics."""
        return Recording(mbid=str(self.mbids[index]), makam=str(self.makams[index]), tonic=float(self.tonics[index]),
                         fold=int(self.folds[index]), annotated_tonic=float(self.tonics[index]))


def write_subset(path, recordings: Sequence[Recording], tracks_hz: Sequence[np.ndarray],
                 decimation: int = SUBSET_DECIMATION) -> Path:
    """Save the compact subset (one ``.npz`` of plain arrays; read without pickle)."""
    parts = []
    for recording, hz in zip(recordings, tracks_hz):
        cents = cents_re_tonic(np.asarray(hz)[::decimation], recording.tonic)
        parts.append(np.where(np.isnan(cents), SILENT, np.clip(np.round(cents), -32767, 32767)).astype(np.int16))
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, mbids=np.array([r.mbid for r in recordings]),
                        makams=np.array([r.makam for r in recordings]),
                        tonics=np.array([r.tonic for r in recordings], dtype=np.float32),
                        folds=np.array([r.fold for r in recordings], dtype=np.int8), offsets=offsets,
                        cents=np.concatenate(parts), hop_seconds=np.float64(HOP_SECONDS * decimation))
    return path


@lru_cache(maxsize=2)
def load_subset(path=None) -> PitchSubset:
    """The shipped subset (``resources/data/otmm/otmm_pitch.npz``) or another file written by ``write_subset``."""
    source = Path(path) if path is not None else Path(str(resource_path(*SUBSET_FILE)))
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found (a broken install?); reinstall hf-culturemert, or build from "
                                "a clone with dataset_scripts/otmm.py --otmm_dir")
    with np.load(source, allow_pickle=False) as data:
        return PitchSubset(mbids=data["mbids"], makams=data["makams"], tonics=data["tonics"], folds=data["folds"],
                           offsets=data["offsets"], cents=data["cents"], hop_seconds=float(data["hop_seconds"]))


# ------------------------------------------------------------------------------------------------ MORTY


def pitch_class_distribution(cents: np.ndarray, bin_cents: float = 25.0, kernel_cents: float = 25.0) -> np.ndarray:
    """MORTY's pitch-class distribution: a Gaussian kernel density of the octave-folded pitch (cents re tonic),
    sampled every ``bin_cents`` from the tonic, summing to 1. Computed on a 1-cent circular grid (FFT)."""
    cents = np.asarray(cents, dtype=np.float64)
    cents = cents[np.isfinite(cents)]
    if cents.size == 0:
        raise ValueError("pitch_class_distribution: the track has no voiced frame")
    histogram = np.bincount(np.round(cents).astype(np.int64) % 1200, minlength=1200).astype(np.float64)
    distance = np.minimum(np.arange(1200), 1200 - np.arange(1200))
    kernel = np.exp(-0.5 * (distance / kernel_cents) ** 2) if kernel_cents > 0 else (distance == 0).astype(float)
    smooth = np.clip(np.real(np.fft.ifft(np.fft.fft(histogram) * np.fft.fft(kernel))), 0, None)
    step = int(round(bin_cents))
    if step < 1 or 1200 % step:
        raise ValueError(f"bin_cents must divide 1200 into whole cents, got {bin_cents}")
    sampled = smooth[::step]
    return sampled / sampled.sum()


def bhattacharyya_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``-log(sum(sqrt(p * q)))`` between every row of ``a`` and every row of ``b`` (distributions)."""
    coefficient = np.sqrt(np.clip(a, 0, None)) @ np.sqrt(np.clip(b, 0, None)).T
    return -np.log(np.clip(coefficient, 1e-300, None))


def knn_vote(distances: np.ndarray, train_labels: Sequence[str], k: int = 10) -> list:
    """k-nearest-neighbour majority vote per row; a tie goes to the tied label with the nearest member."""
    train_labels = np.asarray(train_labels)
    predictions = []
    for row in distances:
        nearest = np.argsort(row, kind="stable")[:k]
        votes = collections.Counter(train_labels[nearest])
        best = max(votes.values())
        predictions.append(next(str(train_labels[j]) for j in nearest if votes[train_labels[j]] == best))
    return predictions


def morty_accuracy(distributions: np.ndarray, labels: Sequence[str], folds: Sequence[int], k: int = 10) -> dict:
    """MORTY's makam recognition with known tonic: k-NN over per-recording distributions, cross-validated on
    ``folds``. Returns overall accuracy, per-fold accuracies and the predictions."""
    labels, folds = np.asarray(labels), np.asarray(folds)
    distances = bhattacharyya_distances(distributions, distributions)
    predictions = np.empty(len(labels), dtype=object)
    per_fold = {}
    for fold in np.unique(folds):
        test, train = np.where(folds == fold)[0], np.where(folds != fold)[0]
        predictions[test] = knn_vote(distances[np.ix_(test, train)], labels[train], k)
        per_fold[int(fold)] = float(np.mean(predictions[test] == labels[test]))
    return {"accuracy": float(np.mean(predictions == labels)), "per_fold": per_fold,
            "predictions": predictions.tolist()}


def morty_anchor(subset: Optional[PitchSubset] = None, bin_cents=25.0, kernel_cents=25.0, k=10) -> dict:
    """MORTY's published setting on the shipped subset (or ``subset``): accuracy to compare with 0.718."""
    subset = subset or load_subset()
    distributions = np.stack([pitch_class_distribution(subset.track(i), bin_cents, kernel_cents)
                              for i in range(len(subset))])
    result = morty_accuracy(distributions, subset.makams, subset.folds, k=k)
    result.update(published=PUBLISHED_ACCURACY, recordings=len(subset), hop_seconds=subset.hop_seconds)
    return result


# ------------------------------------------------------------------------------------------------ resynthesis


def synthesize(cents: np.ndarray, hop_seconds: float, reference_hz: float = NORMALISED_TONIC_HZ,
               sampling_rate: int = SAMPLING_RATE, harmonics: int = 6, peak: float = 0.5,
               num_samples: Optional[int] = None) -> np.ndarray:
    """A deterministic harmonic tone that follows a pitch track (cents re ``reference_hz``; NaN = silence).

    ``harmonics`` partials at 1/h amplitude (those above Nyquist dropped), frequency interpolated linearly in
    cents between frames, amplitude ramped over one frame at voicing changes. ``reference_hz`` is the pitch of 0
    cents: 220 Hz puts every tonic at A3 (tonic-normalised); the recording's tonic keeps its absolute pitch.
    ``num_samples`` (default: the track's length) sets the output length, the last frame held to its end: an 8 s
    excerpt is then 192,000 samples, not 2,756 hops' 191,983, so its 4 s windows batch unpadded.
    """
    cents = np.asarray(cents, dtype=np.float64)
    if cents.ndim != 1 or cents.size == 0:
        raise ValueError("synthesize: cents must be a non-empty 1-d pitch track")
    voiced = np.isfinite(cents)
    if num_samples is None:
        num_samples = int(round(cents.size * hop_seconds * sampling_rate))
    if not voiced.any():
        return np.zeros(num_samples, dtype=np.float32)
    # hold the last voiced pitch through silences (the first voiced one before them): no glides from nothing
    index = np.where(voiced, np.arange(cents.size), 0)
    np.maximum.accumulate(index, out=index)
    held = cents[index]
    held[: np.argmax(voiced)] = cents[np.argmax(voiced)]
    frame_times = np.arange(cents.size) * hop_seconds
    times = np.arange(num_samples) / sampling_rate
    frequency = reference_hz * 2.0 ** (np.interp(times, frame_times, held) / 1200.0)
    amplitude = np.interp(times, frame_times, voiced.astype(np.float64))
    phase = 2 * np.pi * np.cumsum(frequency) / sampling_rate
    wave = np.zeros(num_samples)
    for h in range(1, harmonics + 1):
        wave += np.where(h * frequency < sampling_rate / 2, np.sin(h * phase) / h, 0.0)
    wave *= amplitude
    top = np.max(np.abs(wave))
    return (wave * (peak / top if top > 0 else 1.0)).astype(np.float32)
