"""The "From West to East" cross-cultural transfer study (Papaioannou et al., arXiv 2307.09795, ISMIR 2023).

Python API::

    run_transfer(TransferArguments(...)) -> summary dict         # the resumable sweep (``culturemert transfer``)
    build_tagger(family, tags, size="published"|"miniature")      # VGG-ish / Musicnn / AST / MERT taggers
    train_tagger(model, extractor, train, valid, TrainSettings)   # Trainer, random crops, best validation loss
    transfer_model(source, target_tags, mode="full"|"head")       # new output layer; head: everything else frozen
    evaluate_tracks(model, extractor, inputs, tags)               # chunks -> per-track scores -> evaluate metric

Modules: ``models`` (families and sizes), ``data`` (cached inputs, crops, chunks, aggregation), ``training``,
``sweep`` (stages, outputs), ``report`` (tables, heatmaps, cards), ``dryrun`` (the real study's plan).
"""

from .arguments import TransferArguments

# the rest imports torch: loaded on first use, so that `culturemert transfer --help` and its argument errors answer
# without it
_LAZY = {"aggregate_per_track": "data", "load_inputs": "data", "build_tagger": "models",
         "feature_extractor": "models", "load_tagger": "models", "save_tagger": "models", "run_transfer": "sweep",
         "TrainSettings": "training", "evaluate_tracks": "training", "train_tagger": "training",
         "transfer_model": "training"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TransferArguments", "run_transfer", "build_tagger", "feature_extractor", "load_tagger", "save_tagger",
           "train_tagger", "TrainSettings", "transfer_model", "evaluate_tracks", "aggregate_per_track",
           "load_inputs"]
