"""MARBLE constrained probing of frozen MERT features (the CultureMERT evaluation protocol).

Python API::

    probe_model(model, dataset, args: ProbeArguments | None = None, *, model_name=None, dataset_name=None,
                output_dir=None, **overrides) -> dict
        One model on one dataset. ``model``: folder, Hub id, short name (``mert-v1-95m``) or a MERT model object;
        ``dataset``: registry name (``lyra``, ``makam``, ``hindustani``, ``carnatic``, ``fma``, ``mtat``, ...),
        a dataset folder, a name under ``data_root``, or a ``datasets.DatasetDict``. Keys of the result:
        ``summary`` (test roc_auc / average_precision / micro_f1 / macro_f1 as {mean, std, values} over seeds for
        the reported probe), ``reported_layer``, ``layers`` (per layer "0".."L" and "weighted": best learning rate,
        validation ROC-AUC, test metrics, per-LR and per-seed details, per-tag values, learnt layer weights),
        ``cache_hit`` (True when all three splits' features came from the cache), ``cache``, ``tags``.

    evaluate_models(models, datasets, output_dir, args: ProbeArguments | None = None, **overrides) -> dict
        Every model on every dataset; writes results.json, results.md (the model card's ROC-AUC / mAP and
        micro-F1 / macro-F1 tables) and layers.png. ``models`` may be ``"name=path"`` strings or a dict
        name -> model. Returns {"results": {model: {dataset: probe result}}, "tables", "files", "cache_hit", ...}.

    ProbeArguments: every setting (windows, cache, LR grid, seeds, epochs, patience, ...), also the CLI options of
    ``culturemert probe`` and ``culturemert evaluate``.

Protocol (MARBLE, as used by CultureMERT): all hidden states (0..L) mean-pooled per window (30 s by default) and
cached on disk (``datasets.save_to_disk``, keyed by a hash of the model weights, the dataset, split and settings);
per layer, and for a learnable softmax-weighted sum of layers 1..L, an MLP probe Linear(H -> 512) ReLU Dropout(0.2)
Linear(512 -> T) trained with BCE, Adam, batch 64, each learning rate of the grid and each seed;
ReduceLROnPlateau(0.5, patience 3) and early stopping (patience 10) on validation ROC-AUC of track-averaged logits;
the learning rate with the best mean validation ROC-AUC is reported, test metrics as mean and std over seeds.
"""

from .arguments import MARBLE_LEARNING_RATES, ProbeArguments

# the rest imports torch: loaded on first use, so that `culturemert probe/evaluate` parse (and refuse) their
# arguments without it
_LAZY = {"cached_split_features": "features", "load_split": "features", "model_fingerprint": "features",
         "evaluate_models": "pipeline", "probe_model": "pipeline", "results_markdown": "report",
         "table_rows": "report", "ProbeEnsemble": "train", "summarize_grid": "train", "train_probe_grid": "train",
         "train_layer_probes": "train", "ProbeHeads": "heads", "train_probe_heads": "heads"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ProbeArguments", "MARBLE_LEARNING_RATES", "probe_model", "evaluate_models", "train_probe_grid",
           "train_layer_probes", "summarize_grid", "ProbeEnsemble", "cached_split_features", "load_split",
           "model_fingerprint", "results_markdown", "table_rows", "ProbeHeads", "train_probe_heads"]
