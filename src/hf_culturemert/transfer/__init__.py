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
from .data import aggregate_per_track, load_inputs
from .models import build_tagger, feature_extractor, load_tagger, save_tagger
from .sweep import run_transfer
from .training import TrainSettings, evaluate_tracks, train_tagger, transfer_model

__all__ = ["TransferArguments", "run_transfer", "build_tagger", "feature_extractor", "load_tagger", "save_tagger",
           "train_tagger", "TrainSettings", "transfer_model", "evaluate_tracks", "aggregate_per_track",
           "load_inputs"]
