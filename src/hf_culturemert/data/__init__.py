"""Datasets for CultureMERT: registry, Hub-layout writer, loaders, chunking, synthetic corpus, builders.

API summary (everything is importable from ``hf_culturemert.data``)::

    DATASETS: dict[str, DatasetInfo]        # lyra, makam, hindustani, carnatic, fma, mtat, otmm, synthetic-<tradition>
        DatasetInfo(name, pretty_name, repo_name, tags, splits, license, citation, audio_source, tag_prefixes,
                    max_duration, synthetic, description); .repo_id = "$CULTUREMERT_HUB_ORG/<repo_name>"
                    (org default "culturemert"); .num_tags
    get_dataset_info(name) -> DatasetInfo   # aliases: turkish-makam, magnatagatune, fma-medium, western
    TRADITIONS = ("western", "lyra", "makam", "hindustani", "carnatic")   # synthetic traditions

    build_synthetic_corpus(output_dir, seed=0, clips_per_split=None | int | {"train": 48, ...},
                           clip_seconds=None (8.0), traditions=None (all), sampling_rate=24000,
                           num_proc=None, progress=True) -> {tradition: Path}
        # one Hub-layout folder per tradition, skipped when already complete with the same settings
    load_tradition(name, split="train", repo_id=None | hub id | local folder, sampling_rate=24000,
                   streaming=False, vocabulary=None, **load_dataset_kwargs) -> Dataset | IterableDataset
        # columns: id, audio (mono, decoded at sampling_rate), tags (list[str]), labels (multi-hot int8 over the
        # vocabulary), duration (s), + source metadata (synthetic: tradition, scales, tonic_hz, cycle,
        # cycle_pulses, pulse_rate, lead_instrument, drone)
    get_vocabulary(name, repo_id=None) -> list[str]   # folder's vocabulary.json, else the registry's

    # chunking (batched map functions, dataset wrappers, iterators); all keep track_id
    random_crops(batch, crop_seconds=5.0, min_seconds=3.0, sampling_rate=24000, seed=0, crops_per_track=1,
                 keep_columns=(), stats=None) -> {"input_values", "track_id", "start", *keep_columns}
    fixed_windows(batch, window_seconds=30.0, hop_seconds=None, min_seconds=None (window/2),
                  sampling_rate=24000, keep_columns=("labels", "tags"), stats=None)
                 -> {"input_values", "track_id", "window_index", "window_start", "window_end", *keep_columns}
    crop_dataset(dataset, ...), window_dataset(dataset, ...)      # .map(batched=True) dropping source columns
    iter_random_crops(examples, ...), iter_windows(examples, ...)  # plain iterators (map-style or streaming)
    ChunkStats(tracks, chunks, dropped_short); num_windows(duration, window_seconds, hop_seconds, min_seconds)

    # Hub layout (shared by the synthetic corpus and the builders)
    standard_features(metadata=None) -> datasets.Features; encode_audio(waveform, sr, "flac"|"wav") -> bytes
    write_split(folder, split, items, make_example, features, rows_per_shard=256, ...) -> SplitReport
        # atomic shards data/<split>-XXXXX-of-YYYYY.parquet, resumable; make_example raises SkipExample(reason)
    finalize(folder, CardInfo(...), features, vocabulary, reports) -> {split: count}   # card written last
    is_hub_folder(folder); read_vocabulary(folder); push_to_hub(folder, repo_id, private=False, token=None)

Builders for the real datasets live in ``hf_culturemert.data.builders`` (CLIs in ``dataset_scripts/``).
Real makam melodies (OTMM pitch tracks, the MORTY anchor, resynthesis): ``hf_culturemert.data.otmm``.
"""

from .chunking import (ChunkStats, crop_dataset, fixed_windows, iter_random_crops, iter_windows, num_windows,
                       random_crops, window_dataset)
from .hub_layout import (CardInfo, SkipExample, encode_audio, finalize, is_hub_folder, multi_hot, push_to_hub,
                         read_vocabulary, standard_features, write_split)
from .loading import get_vocabulary, load_tradition
from .registry import DATASETS, REAL_DATASETS, DatasetInfo, get_dataset_info, hub_org
from .synthetic import SAMPLING_RATE, TRADITIONS, build_synthetic_corpus, tradition_vocabulary

__all__ = [
    "DATASETS", "REAL_DATASETS", "DatasetInfo", "get_dataset_info", "hub_org", "TRADITIONS", "SAMPLING_RATE",
    "build_synthetic_corpus", "tradition_vocabulary", "load_tradition", "get_vocabulary", "ChunkStats",
    "random_crops", "fixed_windows", "crop_dataset", "window_dataset", "iter_random_crops", "iter_windows",
    "num_windows", "CardInfo", "SkipExample", "encode_audio", "finalize", "is_hub_folder", "multi_hot",
    "push_to_hub", "read_vocabulary", "standard_features", "write_split",
]
