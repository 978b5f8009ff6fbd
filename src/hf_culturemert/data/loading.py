"""Load a tradition (real Hub dataset, local Hub-layout folder, or synthetic corpus) as a ``datasets`` object.

Every loader returns the same columns -- ``id``, ``audio`` (mono, at the requested rate), ``tags``, ``labels``
(multi-hot over the dataset's vocabulary), ``duration`` -- plus the source's metadata, so pre-training and probing
code never branches on the dataset.
"""

import logging
from pathlib import Path
from typing import Optional, Sequence, Union

from ..constants import SAMPLING_RATE
from .hub_layout import SPLITS, is_hub_folder, multi_hot, read_vocabulary, shard_paths
from .registry import get_dataset_info

logger = logging.getLogger(__name__)

SPLIT_ALIASES = {"valid": "validation", "val": "validation", "dev": "validation", "training": "train"}
STANDARD_COLUMNS = ("id", "audio", "tags", "labels", "duration")


def _normalise_split(split: str) -> str:
    return SPLIT_ALIASES.get(split, split)


def _local_folder(source) -> Optional[Path]:
    path = Path(str(source)).expanduser()
    return path if path.exists() else None


def get_vocabulary(name: str, repo_id: Union[str, Path, None] = None) -> list:
    """The tag vocabulary that ``labels`` is multi-hot over.

    Args:
        name: a registry name (see :func:`load_tradition`).
        repo_id: a local folder in the Hub layout, whose ``vocabulary.json`` wins over the registry's list.

    Returns:
        The tags, in the order of the ``labels`` columns.

    Example:
        ```python
        get_vocabulary("makam")[:2]     # the first of ccml's top-30 makam tags
        ```
    """
    folder = _local_folder(repo_id) if repo_id is not None else None
    if folder is not None:
        vocabulary = read_vocabulary(folder)
        if vocabulary is not None:
            return vocabulary
    return list(get_dataset_info(name).tags)


def load_tradition(
    name: str,
    split: str = "train",
    repo_id: Union[str, Path, None] = None,
    sampling_rate: int = SAMPLING_RATE,
    streaming: bool = False,
    vocabulary: Optional[Sequence[str]] = None,
    **load_kwargs,
):
    """Load one split of a dataset with mono audio decoded at ``sampling_rate``.

    Args:
        name: a registry name (``lyra``, ``makam``, ``hindustani``, ``carnatic``, ``fma``, ``mtat``,
            ``synthetic-<tradition>`` or ``western``); it picks the default Hub repo and vocabulary.
        split: ``train``, ``validation`` (alias ``valid``) or ``test``.
        repo_id: a Hub dataset id or a local folder in the Hub layout (e.g. one written by ``build_synthetic_corpus``
            or a builder); default: the registry's ``<org>/<name>`` (org from ``$CULTUREMERT_HUB_ORG``).
        sampling_rate: decoding rate (resampled by the ``Audio`` feature).
        streaming: return an ``IterableDataset`` that decodes lazily instead of a map-style ``Dataset``.
        vocabulary: recompute ``labels`` over this tag list instead of the dataset's own.
        **load_kwargs: passed to ``datasets.load_dataset`` (``cache_dir``, ``revision``, ``token``...).

    Returns:
        A ``datasets.Dataset`` (or ``IterableDataset`` with ``streaming=True``) with the columns ``id``, ``audio``,
        ``tags``, ``labels`` (multi-hot over the vocabulary), ``duration`` and the source's metadata.

    Example:
        ```python
        train = load_tradition("makam", "train", repo_id="data/makam")
        train[0]["labels"]      # multi-hot over get_vocabulary("makam", "data/makam")
        ```
    """
    from datasets import Audio, load_dataset

    info = get_dataset_info(name)  # unknown names raise here, listing the known ones
    split = _normalise_split(split)
    source = repo_id if repo_id is not None else info.repo_id
    folder = _local_folder(source)
    if folder is not None:
        if not folder.is_dir() or not is_hub_folder(folder):
            raise FileNotFoundError(
                f"{folder} is not a dataset folder in the Hub layout (expected README.md and data/<split>-*.parquet). "
                f"Build it first, e.g. `culturemert synthesize --output-dir DIR` or `python dataset_scripts/"
                f"{'dunya' if name in ('makam', 'hindustani', 'carnatic') else name}.py --help`.")
        available = [s for s in SPLITS if shard_paths(folder, s)]
        if split not in available:
            raise ValueError(f"Split {split!r} not found in {folder}; available splits: {', '.join(available)}")
        dataset = load_dataset(str(folder), split=split, streaming=streaming, **load_kwargs)
        folder_vocabulary = read_vocabulary(folder)
    else:
        if "/" not in str(source):
            raise FileNotFoundError(f"repo_id={source!r} is neither an existing local folder nor a Hub id "
                                    "(ORG/NAME)")
        try:
            dataset = load_dataset(str(source), split=split, streaming=streaming, **load_kwargs)
        except ValueError as error:
            if "split" in str(error).lower():
                raise ValueError(f"Split {split!r} not found in {source}: {error}") from error
            raise
        folder_vocabulary = None

    dataset = dataset.cast_column("audio", Audio(sampling_rate=int(sampling_rate), num_channels=1))
    if vocabulary is not None or "labels" not in (dataset.column_names or []):
        tags = list(vocabulary if vocabulary is not None else (folder_vocabulary or info.tags))
        dataset = dataset.map(lambda batch: {"labels": [multi_hot(t, tags) for t in batch["tags"]]}, batched=True)
    return dataset


def dataset_length(dataset) -> Optional[int]:
    """Number of rows of a map-style dataset, or the split size recorded in the card for a streaming one."""
    try:
        return len(dataset)
    except TypeError:
        splits = getattr(getattr(dataset, "info", None), "splits", None) or {}
        split = getattr(dataset, "split", None)
        return splits[str(split)].num_examples if split is not None and str(split) in splits else None
