"""OTMM makam recognition: 1,000 real makam performances, resynthesised from their pitch tracks (no audio exists).

Source: a clone or download of ``MTG/otmm_makam_recognition_dataset`` (``--otmm_dir``), with the corrected tonics of
``MTG/otmm_tonic_dataset`` (``--tonic_annotations``); without ``--otmm_dir`` the subset shipped with the package
(every track at 46 ms) is used, so the dataset can be built offline. Each recording becomes a deterministic
6-harmonic tone following its melody at 24 kHz, tonic at 220 Hz (``--absolute_pitch`` keeps the sung/played pitch).
Labels: ``makam--<name>`` over the 20 makams. Splits from MORTY's stratified folds: test = folds 0-1, validation =
fold 2, train = folds 3-9 (700 / 100 / 200; each fold has 5 recordings of every makam); the ``fold`` column keeps
the 10-fold scheme. ``--pitch_subset FILE`` writes the compact subset instead (how the shipped one was made).
"""

import dataclasses
import logging
from dataclasses import field
from typing import Optional

import numpy as np

from .. import otmm
from ..hub_layout import CardInfo, SkipExample, multi_hot
from ..registry import DATASETS
from .common import BuildArguments, BuildSummary, audio_value, build, limited, maybe_push

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class OTMMArguments(BuildArguments):
    otmm_dir: Optional[str] = field(default=None, metadata={
        "help": "Clone/download of https://github.com/MTG/otmm_makam_recognition_dataset (default: the subset "
                "shipped with the package, tracks at 46 ms)."})
    tonic_annotations: Optional[str] = field(default=None, metadata={
        "help": "annotations.json of https://github.com/MTG/otmm_tonic_dataset (the corrected tonics; required "
                "with --otmm_dir unless --original_tonics)."})
    original_tonics: bool = field(default=False, metadata={
        "help": "With --otmm_dir: keep the tonics of the dataset's annotations.json (its authors advise against)."})
    folds_file: Optional[str] = field(default=None, metadata={
        "help": "MORTY's folds.json (sertansenturk/makam_recognition_experiments, data/folds.json); default: the "
                "folds shipped with the package, which came from it."})
    absolute_pitch: bool = field(default=False, metadata={
        "help": "Resynthesise at the recorded pitch instead of moving every tonic to 220 Hz (a harder task)."})
    max_duration: float = field(default=0.0, metadata={
        "help": "Keep the first N seconds of every melody, from its first voiced frame (0 = whole recordings, "
                "62 h in all)."})
    harmonics: int = field(default=6, metadata={"help": "Partials of the resynthesised tone."})
    pitch_subset: Optional[str] = field(default=None, metadata={
        "help": "Write the compact pitch subset (.npz) from --otmm_dir to this file instead of a dataset."})


def _metadata_features():
    from datasets import List, Value

    return {"mbid": Value("string"), "makam": Value("string"), "tonic_hz": Value("float32"),
            "fold": Value("int8"), "title": Value("string"), "artists": List(Value("string")),
            "source_duration": Value("float32")}


def _source(args):
    """``(recordings, track(recording) -> cents re tonic, hop seconds)`` from the clone or the shipped subset."""
    if args.otmm_dir:
        if args.tonic_annotations is None and not args.original_tonics:
            raise ValueError("--otmm_dir needs --tonic_annotations (annotations.json of "
                             "https://github.com/MTG/otmm_tonic_dataset), or --original_tonics to keep the old ones")
        recordings = otmm.read_recordings(args.otmm_dir, None if args.original_tonics else args.tonic_annotations,
                                          args.folds_file)

        def track(recording):
            try:
                return otmm.cents_re_tonic(otmm.read_pitch(args.otmm_dir, recording), recording.tonic)
            except (FileNotFoundError, ValueError) as error:
                raise SkipExample(f"pitch track: {error}") from error

        return recordings, track, otmm.HOP_SECONDS
    if args.tonic_annotations or args.folds_file or args.original_tonics:
        raise ValueError("--tonic_annotations, --folds_file and --original_tonics need --otmm_dir (the shipped "
                         "subset already has the corrected tonics and MORTY's folds)")
    subset = otmm.load_subset()
    index = {str(mbid): i for i, mbid in enumerate(subset.mbids)}
    return ([subset.recording(i) for i in range(len(subset))], lambda r: subset.track(index[r.mbid]),
            subset.hop_seconds)


def write_pitch_subset(args) -> BuildSummary:
    """``--pitch_subset``: the compact file the package ships, from a clone."""
    from pathlib import Path

    from tqdm.auto import tqdm

    if not args.otmm_dir or not args.tonic_annotations or not args.folds_file:
        raise ValueError("--pitch_subset needs --otmm_dir, --tonic_annotations and --folds_file (the originals)")
    target = Path(args.pitch_subset)
    if target.exists():
        raise ValueError(f"--pitch_subset {target} exists; remove it first or pick another file")
    recordings = otmm.read_recordings(args.otmm_dir, args.tonic_annotations, args.folds_file)
    tracks = [otmm.read_pitch(args.otmm_dir, r) for r in tqdm(recordings, disable=args.no_progress, desc="pitch")]
    otmm.write_subset(target, recordings, tracks)
    return BuildSummary(folder=target, counts={"recordings": len(recordings)}, failures=[], vocabulary=[])


def build_otmm(args: OTMMArguments) -> BuildSummary:
    if args.pitch_subset:
        return write_pitch_subset(args)
    if args.max_duration < 0 or args.harmonics < 1:
        raise ValueError("--max_duration must be >= 0 and --harmonics >= 1")
    if args.sampling_rate <= 0:
        raise ValueError("--sampling_rate must be positive: resynthesised audio has no native rate (24000 is "
                         "MERT's)")
    info = DATASETS["otmm"]
    recordings, track, hop = _source(args)
    splits = {split: limited([r for r in recordings if otmm.split_of_fold(r.fold) == split], args.limit)
              for split in otmm.SPLIT_FOLDS}

    def make_example(recording):
        cents = track(recording)
        source_duration = len(cents) * hop
        if args.max_duration:  # the first N seconds of the melody: leading silence does not count
            voiced = np.flatnonzero(np.isfinite(cents))
            start = int(voiced[0]) if voiced.size else 0
            cents = cents[start:start + int(round(args.max_duration / hop))]
        reference = recording.tonic if args.absolute_pitch else otmm.NORMALISED_TONIC_HZ
        waveform = otmm.synthesize(cents, hop, reference_hz=reference, sampling_rate=args.sampling_rate,
                                   harmonics=args.harmonics)
        if not (waveform != 0).any():
            raise SkipExample(f"no voiced frame in {recording.mbid}'s pitch track")
        meta = otmm.read_metadata(args.otmm_dir, recording) if args.otmm_dir else {"title": "", "artists": []}
        tags = [recording.tag]
        return {"id": recording.mbid, "audio": audio_value(waveform, args.sampling_rate, recording.mbid),
                "tags": tags, "labels": multi_hot(tags, otmm.VOCABULARY),
                "duration": len(waveform) / args.sampling_rate,
                "mbid": recording.mbid, "makam": otmm.MAKAMS[recording.makam], "tonic_hz": recording.tonic,
                "fold": recording.fold, "title": meta["title"], "artists": meta["artists"],
                "source_duration": source_duration}

    pitch = f"at its recorded pitch (tonic {'annotated' if args.original_tonics else 'corrected'})" \
        if args.absolute_pitch else f"transposed so that its tonic sounds at {otmm.NORMALISED_TONIC_HZ:g} Hz"
    card = CardInfo(
        pretty_name=info.pretty_name, license=info.license, citation=info.citation, size_category="n<1K",
        tags=("music", "music-tagging", "mir", "makam", "resynthesised"),
        description=(
            "Real Turkish makam melodies: the predominant-melody pitch tracks of the 1,000 performances (20 makams x "
            "50) of the OTMM makam recognition dataset, resynthesised with hf_culturemert's "
            "`dataset_scripts/otmm.py`. Each recording is a deterministic "
            f"{args.harmonics}-harmonic tone at {args.sampling_rate} Hz following its melody, {pitch}"
            + (f", cut to its first {args.max_duration:g} s" if args.max_duration else "")
            + ". The melodies are real; the timbre is not (OTMM publishes no audio). Source: "
            + ("a clone of the dataset (pitch every 2.9 ms)" if args.otmm_dir else
               "the subset shipped with hf-culturemert (pitch every 46 ms)")
            + ". Tonics corrected with the OTMM tonic dataset. Splits from MORTY's stratified 10 folds: test = folds "
            "0-1, validation = fold 2, train = folds 3-9; the `fold` column keeps the 10-fold scheme."),
        extra_sections="## License\n\n" + otmm.LICENSE_NOTE + "\n")
    summary = build(args.output_dir, splits, make_example, list(otmm.VOCABULARY), card, _metadata_features(),
                    rows_per_shard=args.rows_per_shard, item_id=lambda r: r.mbid, progress=not args.no_progress,
                    retry_failed=args.retry_failed)
    return maybe_push(summary, args)


# the miniature study's real-makam data: one excerpt per recording, from the shipped subset (see build_otmm_clips)
# recordings per makam and split; validation and test are whole folds (2; 0-1). Sized on validation (seed 0, probe at
# 4 s windows, 1e-2): 8 s excerpts with 20 train recordings per makam gave the hand-crafted bound 78.6 ROC-AUC / 24%
# accuracy (base 58.2 / 2%), 12 gave 76.2 / 22% (base 57.8 / 4%) at 77% of the clips, 4 s excerpts with 20 gave
# 72.8 / 18% (base 58.0 / 9%); 12 keeps the miniature's run near its 10-minute budget
MINIATURE_PER_MAKAM = {"train": 12, "validation": 5, "test": 10}
MINIATURE_CLIP_SECONDS = 8.0
CLIPS_SETTINGS_FILE = "otmm_clips.json"


def build_otmm_clips(output_dir, seed: int = 0, per_makam: Optional[dict] = None,
                     clip_seconds: float = MINIATURE_CLIP_SECONDS, sampling_rate: int = 24000,
                     progress: bool = True):
    """``output_dir/otmm``: short tonic-normalised excerpts of the shipped OTMM melodies, for the miniature study.

    ``per_makam[split]`` recordings of every makam (drawn by ``seed``) from the split's folds (train 3-9, validation
    2, test 0-1); by default 12 / 5 / 10 (all of validation and test). One excerpt of ``clip_seconds`` per
    recording, starting at a voiced frame drawn by ``seed`` among those that leave a whole excerpt. A folder made
    with other settings is refused.
    """
    import json
    from pathlib import Path

    folder = Path(output_dir) / "otmm"
    per_makam = dict(per_makam or MINIATURE_PER_MAKAM)
    clip_samples = int(round(clip_seconds * sampling_rate))  # whole excerpts: exactly this long (windows unpadded)
    settings = {"seed": int(seed), "per_makam": per_makam, "clip_seconds": float(clip_seconds),
                "sampling_rate": int(sampling_rate), "source": "shipped subset", "clip_samples": clip_samples}
    marker = folder / CLIPS_SETTINGS_FILE
    if marker.is_file():
        previous = json.loads(marker.read_text(encoding="utf-8"))
        if previous != settings:
            raise ValueError(f"{folder} holds OTMM excerpts made with other settings ({previous}); choose another "
                             "output folder")
    elif folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} exists and was not written by build_otmm_clips (no {CLIPS_SETTINGS_FILE}); "
                         "choose another output folder")
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")

    subset = otmm.load_subset()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 29]))
    splits = {split: [] for split in otmm.SPLIT_FOLDS}
    for makam in otmm.MAKAMS:
        for split, folds in otmm.SPLIT_FOLDS.items():
            members = [i for i in range(len(subset)) if subset.makams[i] == makam and int(subset.folds[i]) in folds]
            if per_makam[split] < len(members):
                members = sorted(rng.choice(members, size=per_makam[split], replace=False))
            splits[split].extend(int(i) for i in members)
    frames = int(round(clip_seconds / subset.hop_seconds))
    starts = {}
    for split in splits:
        for i in splits[split]:
            voiced = np.flatnonzero(np.isfinite(subset.track(i))[: max(1, len(subset.track(i)) - frames)])
            starts[i] = int(voiced[rng.integers(len(voiced))]) if voiced.size else 0

    def make_example(i):
        recording = subset.recording(i)
        cents = subset.track(i)[starts[i]:starts[i] + frames]
        waveform = otmm.synthesize(cents, subset.hop_seconds, sampling_rate=sampling_rate,
                                   num_samples=clip_samples if len(cents) == frames else None)
        tags = [recording.tag]
        clip_id = f"{recording.mbid}@{starts[i] * subset.hop_seconds:.1f}"
        return {"id": clip_id, "audio": audio_value(waveform, sampling_rate, recording.mbid), "tags": tags,
                "labels": multi_hot(tags, otmm.VOCABULARY), "duration": len(waveform) / sampling_rate,
                "mbid": recording.mbid, "makam": otmm.MAKAMS[recording.makam], "tonic_hz": recording.tonic,
                "fold": recording.fold, "title": "", "artists": [],
                "source_duration": (subset.offsets[i + 1] - subset.offsets[i]) * subset.hop_seconds}

    info = DATASETS["otmm"]
    card = CardInfo(
        pretty_name=f"{info.pretty_name}: {clip_seconds:g} s excerpts", license=info.license, citation=info.citation,
        tags=("music", "makam", "resynthesised"),
        description=(f"One {clip_seconds:g} s excerpt per recording of the OTMM makam recognition dataset's melodies "
                     f"(the subset shipped with hf-culturemert), resynthesised as a 6-harmonic tone with the tonic at "
                     f"{otmm.NORMALISED_TONIC_HZ:g} Hz: the miniature study's real makam data (seed {seed}). "
                     f"Recordings per makam: {per_makam} from MORTY's folds 3-9 (train), 2 (validation), 0-1 "
                     "(test). The melodies are real; the timbre is not."),
        extra_sections="## License\n\n" + otmm.LICENSE_NOTE + "\n")
    build(folder, {split: items for split, items in splits.items()}, make_example, list(otmm.VOCABULARY), card,
          _metadata_features(), rows_per_shard=512, item_id=lambda i: str(subset.mbids[i]), progress=progress)
    return folder
