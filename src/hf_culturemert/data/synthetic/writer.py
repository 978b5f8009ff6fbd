"""The corpus writer: one Hub-layout dataset folder per tradition, resumable and refusing changed settings."""

import json
import logging
import math
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

from ...constants import SAMPLING_RATE
from ...outputs import OutputExistsError, ensure_writable_dir
from .design import SPLIT_INDEX, split_designs
from .synthesis import DEFAULT_CLIP_SECONDS, generate_clip
from .vocabulary import CYCLES, TRADITIONS, tradition_vocabulary

logger = logging.getLogger(__name__)

DEFAULT_CLIPS_PER_SPLIT = {"train": 48, "validation": 12, "test": 12}
GENERATOR_VERSION = 2  # 2: Lyra's instrumentation follows its genre
SETTINGS_FILE = "synthetic.json"

# ---------------------------------------------------------------------------------------------------------------
# Corpus writer
# ---------------------------------------------------------------------------------------------------------------


def _metadata_features():
    from datasets import List, Value

    return {"tradition": Value("string"), "scales": List(Value("string")), "tonic_hz": Value("float32"),
            "cycle": Value("string"), "cycle_pulses": Value("int32"), "pulse_rate": Value("float32"),
            "lead_instrument": Value("string"), "drone": Value("bool")}


def _make_example(item, tradition, seed, clip_seconds, sampling_rate, vocabulary):
    from ..hub_layout import encode_audio, multi_hot

    split, index, design = item
    audio = generate_clip(tradition, split, index, design, seed, clip_seconds, sampling_rate)
    clip_id = f"{tradition}-{split}-{index:04d}"
    return {
        "id": clip_id,
        "audio": {"bytes": encode_audio(audio, sampling_rate, "flac"), "path": f"{clip_id}.flac"},
        "tags": list(design.tags),
        "labels": multi_hot(design.tags, vocabulary),
        "duration": float(len(audio) / sampling_rate),
        "tradition": tradition,
        "scales": list(design.scales),
        "tonic_hz": design.tonic_hz,
        "cycle": design.cycle or "",
        "cycle_pulses": len(CYCLES[design.cycle]) if design.cycle else 0,
        "pulse_rate": design.pulse_rate,
        "lead_instrument": design.lead,
        "drone": bool(design.drone),
    }


def _worker(item, **kwargs):
    return _make_example(item, **kwargs)


def _settings(tradition, seed, clips_per_split, clip_seconds, sampling_rate):
    return {"generator_version": GENERATOR_VERSION, "tradition": tradition, "seed": int(seed),
            "clips_per_split": dict(clips_per_split), "clip_seconds": float(clip_seconds),
            "sampling_rate": int(sampling_rate)}


def _card(tradition, vocabulary, settings):
    from ..hub_layout import CardInfo
    from ..metadata import SYNTHETIC_CITATION

    families = sorted({tag.split("--")[0] for tag in vocabulary if "--" in tag}) or ["genre", "instrument", "tempo"]
    description = (
        f"Synthetic **{tradition}** music generated offline by `hf_culturemert` (`culturemert synthesize`, seed "
        f"{settings['seed']}, {settings['clip_seconds']:g} s clips at {settings['sampling_rate']} Hz). Tag families "
        f"({', '.join(families)}) are audible by construction: scales and tunings (53-TET makams, just-intonation "
        "ragas), rhythmic cycles with their accent patterns, synthesised instrument timbres and drones. It is the "
        "offline stand-in for the real dataset in tests and in the miniature CultureMERT study; it says nothing "
        "about real recordings.")
    return CardInfo(pretty_name=f"CultureMERT synthetic corpus: {tradition}", description=description,
                    license="apache-2.0", citation=SYNTHETIC_CITATION, tags=("music", "synthetic", "music-tagging"),
                    extra_sections="## Generation settings\n\n```json\n" + json.dumps(settings, indent=1,
                                                                                     ensure_ascii=False) + "\n```\n")


def _remove_generated_files(folder):
    """Delete what a generator run writes into ``folder`` (by name); anything else in the folder stays."""
    from ..hub_layout import BUILD_DIR, CARD_FILE, FAILURES_FILE, SPLITS, VOCABULARY_FILE

    for split in SPLITS:
        for shard in (folder / "data").glob(f"{split}-*-of-*.parquet"):
            shard.unlink()
    if (folder / BUILD_DIR).is_dir():
        shutil.rmtree(folder / BUILD_DIR)
    for name in (CARD_FILE, FAILURES_FILE, VOCABULARY_FILE, SETTINGS_FILE):
        (folder / name).unlink(missing_ok=True)


def build_tradition(output_dir, tradition: str, seed: int = 0, clips_per_split: Optional[dict] = None,
                    clip_seconds: Optional[float] = None, sampling_rate: int = SAMPLING_RATE,
                    num_proc: Optional[int] = None, progress: bool = True, executor=None, overwrite: bool = False) -> Path:
    """Write one tradition's folder (Hub layout). Complete folders with the same settings are left untouched.

    A folder written with other settings, or one the generator did not create (no ``synthetic.json``), is
    refused unless ``overwrite``; even then only the generator's own files (shards, card, vocabulary, build
    records) are replaced, never other files in the folder.
    """
    from ..hub_layout import finalize, is_hub_folder, standard_features, write_split

    if tradition not in TRADITIONS:
        raise ValueError(f"Unknown synthetic tradition {tradition!r}; choose from {', '.join(TRADITIONS)}")
    clips_per_split = dict(clips_per_split or DEFAULT_CLIPS_PER_SPLIT)
    for split, count in clips_per_split.items():
        if split not in SPLIT_INDEX or int(count) < 1:
            raise ValueError(f"clips_per_split: invalid entry {split!r}: {count!r} (splits: train, validation, test; "
                             "counts >= 1)")
    clip_seconds = DEFAULT_CLIP_SECONDS if clip_seconds is None else float(clip_seconds)
    if not math.isfinite(clip_seconds) or clip_seconds < 1.0:
        raise ValueError(f"clip_seconds={clip_seconds:g} is too short; use at least 1 second (default "
                         f"{DEFAULT_CLIP_SECONDS:g})")
    if isinstance(sampling_rate, bool) or int(sampling_rate) != sampling_rate or not 8000 <= sampling_rate <= 192000:
        raise ValueError(f"sampling_rate={sampling_rate}: use a rate in Hz between 8000 and 192000 (MERT uses 24000)")
    folder = Path(output_dir) / tradition
    settings = _settings(tradition, seed, clips_per_split, clip_seconds, sampling_rate)
    settings_path = folder / SETTINGS_FILE
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"{folder} is a file; choose another --output-dir")
    if settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise OutputExistsError(f"{settings_path} is unreadable ({error}); pass --overwrite to regenerate "
                                    f"{folder} or choose another --output-dir") from error
        if previous != settings:
            from ...runstate import describe_changes

            changed = ", ".join(describe_changes(previous, settings, flags=False))
            if not overwrite:
                raise OutputExistsError(f"{folder} holds a corpus generated with other settings ({changed}); pass "
                                        "--overwrite to regenerate it (only the generator's own files are replaced) "
                                        "or choose another --output-dir")
            logger.warning("Regenerating %s (%s): replacing the files the generator wrote there; other files stay",
                           folder, changed)
            _remove_generated_files(folder)
        elif is_hub_folder(folder):
            logger.info("%s is complete; skipping", folder)
            return folder
    elif folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{folder} exists and was not written by `culturemert synthesize` (it has no "
                                    f"{SETTINGS_FILE}); choose another --output-dir, or pass --overwrite to "
                                    "generate into it (its parquet shards and card would be replaced)")
        logger.warning("Generating into %s, which `culturemert synthesize` did not create (--overwrite)", folder)
    ensure_writable_dir(folder, "--output-dir")
    settings_path.write_text(json.dumps(settings, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    vocabulary = tradition_vocabulary(tradition)
    features = standard_features(_metadata_features())
    kwargs = dict(tradition=tradition, seed=seed, clip_seconds=clip_seconds, sampling_rate=sampling_rate,
                  vocabulary=vocabulary)
    num_proc = num_proc if num_proc is not None else min(2, os.cpu_count() or 1)
    reports = []
    owned = executor is None and num_proc > 1
    executor = ProcessPoolExecutor(num_proc) if owned else executor
    try:
        for split, count in clips_per_split.items():
            designs = split_designs(tradition, split, int(count), seed)
            items = [(split, i, design) for i, design in enumerate(designs)]
            reports.append(write_split(folder, split, items, partial(_worker, **kwargs), features, rows_per_shard=512,
                                       item_id=lambda item: f"{tradition}-{item[0]}-{item[1]:04d}",
                                       progress=progress, executor=executor))
    finally:
        if owned:
            executor.shutdown()
    finalize(folder, _card(tradition, vocabulary, settings), features, vocabulary, reports)
    return folder


def build_synthetic_corpus(output_dir, seed: int = 0, clips_per_split: Optional[dict] = None,
                           clip_seconds: Optional[float] = None, traditions: Optional[Sequence[str]] = None,
                           sampling_rate: int = SAMPLING_RATE, num_proc: Optional[int] = None,
                           progress: bool = True, overwrite: bool = False) -> dict:
    """Build (or reuse) the synthetic corpus: one Hub-layout folder per tradition.

    Cheap to call repeatedly (complete folders are skipped), so tests and the end-to-end job can use it as a fixture.
    Deterministic: the same seed and settings give byte-identical shards.

    Args:
        output_dir: the corpus folder; each tradition gets a sub-folder.
        seed: the corpus seed.
        clips_per_split: an int (the same count for every split) or ``{"train": 48, "validation": 12, "test": 12}``.
        clip_seconds: clip length (default 8 s).
        traditions: a subset of ``western``, ``lyra``, ``makam``, ``hindustani``, ``carnatic`` (default all).
        sampling_rate: the rate of the stored audio.
        num_proc: processes that synthesise clips (default: at most 2).
        progress: show progress bars.
        overwrite: regenerate folders made with other settings (only the generator's own files are replaced);
            without it such a folder is refused, naming the settings that differ.

    Returns:
        ``{tradition: folder}``, each folder loadable with ``load_tradition(f"synthetic-{tradition}",
        repo_id=folder)`` or ``datasets.load_dataset(folder)``.

    Example:
        ```python
        folders = build_synthetic_corpus("data/synthetic", clips_per_split=16)
        ```
    """
    if isinstance(clips_per_split, int):
        clips_per_split = {split: clips_per_split for split in SPLIT_INDEX}
    traditions = list(traditions or TRADITIONS)
    unknown = [t for t in traditions if t not in TRADITIONS]
    if unknown:
        raise ValueError(f"Unknown synthetic tradition(s) {unknown}; choose from {', '.join(TRADITIONS)}")
    num_proc = num_proc if num_proc is not None else min(2, os.cpu_count() or 1)
    executor = ProcessPoolExecutor(num_proc) if num_proc > 1 else None  # one pool for all traditions
    try:
        return {t: build_tradition(output_dir, t, seed, clips_per_split, clip_seconds, sampling_rate, num_proc,
                                   progress, executor, overwrite=overwrite) for t in traditions}
    finally:
        if executor is not None:
            executor.shutdown()
