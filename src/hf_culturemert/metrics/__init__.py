"""Evaluation metrics shipped with the package, as `evaluate` modules that load offline.

* ``MULTILABEL_TAGGING_PATH``: folder of the ``multilabel_tagging`` metric; ``evaluate.load(MULTILABEL_TAGGING_PATH)``
  or :func:`load_metric` gives the `evaluate` module (the folder is also a ready Hub metric Space).
* :func:`tagging_metrics`: the plain function behind it (macro ROC-AUC, macro mAP, micro/macro F1, per-tag values,
  skipped single-class tags); probing calls it directly. The math lives in the metric file only.
"""

import os

from .multilabel_tagging.multilabel_tagging import (  # noqa: F401  (re-exported)
    average_precision_columns,
    roc_auc_columns,
    tagging_metrics,
)

MULTILABEL_TAGGING_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multilabel_tagging")


def load_metric(name="multilabel_tagging", **kwargs):
    """``evaluate.load`` of a metric shipped in this package (offline).

    Args:
        name: the metric; the package ships ``multilabel_tagging``.
        **kwargs: passed to ``evaluate.load``.

    Returns:
        The ``evaluate`` metric; ``compute(predictions=..., references=...)`` returns what :func:`tagging_metrics`
        does.

    Example:
        ```python
        metric = load_metric()
        metric.compute(predictions=scores, references=multi_hot, threshold=0.5)["roc_auc"]
        ```
    """
    import evaluate

    paths = {"multilabel_tagging": MULTILABEL_TAGGING_PATH}
    if name not in paths:
        raise ValueError(f"Unknown metric {name!r}; the package ships {sorted(paths)}")
    return evaluate.load(paths[name], **kwargs)


__all__ = ["MULTILABEL_TAGGING_PATH", "load_metric", "tagging_metrics", "roc_auc_columns",
           "average_precision_columns"]
