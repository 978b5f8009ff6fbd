# Copyright 2026 the hf-culturemert developers. Apache-2.0.
"""Multi-label tagging metrics (MARBLE / CultureMERT protocol) as an `evaluate` metric.

Standalone file: it needs only numpy, datasets and evaluate, so the same file works as a Hub metric Space and inside
the ``hf_culturemert`` package (whose ``tagging_metrics`` imports it from here: one implementation).

* ``roc_auc``: macro ROC-AUC over the tags whose reference column has both classes (rank statistic with averaged
  ties: equal to ``sklearn.metrics.roc_auc_score`` per column).
* ``average_precision``: macro mAP over the same tags (step-wise AP over distinct thresholds: equal to
  ``sklearn.metrics.average_precision_score`` per column).
* ``micro_f1`` / ``macro_f1``: on ``scores > threshold`` (torchmetrics / MARBLE convention), over all tags, with
  F1 = 0 where it is undefined (sklearn ``zero_division=0``).
* ``top1_accuracy``: the share of examples whose highest-scoring tag is one of theirs (precision at 1); on
  single-label data (one makam per recording) it is the classification accuracy.
Tags with a single-class reference column are listed in ``skipped_tags`` and, by default (``single_class="skip"``),
left out of the ROC-AUC and mAP means, so one rare tag missing from a small split does not turn the means into NaN.
``single_class="torchmetrics"`` scores them as torchmetrics (and so MARBLE) does instead: ROC-AUC 0, AP 0 for a tag
with no positive and 1 for a tag with only positives, all counted in the macro means. scikit-learn raises there.

Scores outside [0, 1] are taken for logits: F1 thresholds their sigmoid (as torchmetrics does), ROC-AUC and mAP use
their order (unchanged by the sigmoid), and the result says ``applied_sigmoid: True``.
"""

import math

import datasets
import evaluate
import numpy as np

_CITATION = """\
@inproceedings{kanatas2025culturemert,
  title={CultureMERT: Continual Pre-Training for Cross-Cultural Music Representation Learning},
  author={Kanatas, Angelos-Nikolaos and Papaioannou, Charilaos and Potamianos, Alexandros},
  booktitle={ISMIR},
  year={2025}
}
@inproceedings{yuan2023marble,
  title={MARBLE: Music Audio Representation Benchmark for Universal Evaluation},
  author={Yuan, Ruibin and others},
  booktitle={NeurIPS Datasets and Benchmarks},
  year={2023}
}
"""

_DESCRIPTION = """\
Multi-label music auto-tagging metrics as reported by MARBLE and CultureMERT: macro ROC-AUC, macro average precision
(mAP), micro-F1 and macro-F1 (threshold 0.5), with per-tag values. Tags whose reference column holds a single class
are skipped for ROC-AUC / mAP (and listed) instead of making the averages NaN.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]`, shape [N, T]): scores per example and tag, normally sigmoid probabilities
        (ROC-AUC and mAP only use their order; F1 thresholds them).
    references (`list[list[int]]`, shape [N, T]): multi-hot ground truth (0/1).
        Scores outside [0, 1] are logits: their sigmoid is thresholded (`applied_sigmoid` is then True).
    threshold (`float`, default 0.5): a tag is predicted when its score is strictly greater than the threshold.
    tag_names (`list[str]`, optional): names for the per-tag values (default `tag_0`, `tag_1`, ...).
    single_class (`str`, default "skip"): tags whose reference column holds one class are left out of the ROC-AUC /
        mAP means ("skip"), or scored as torchmetrics and MARBLE do ("torchmetrics": ROC-AUC 0; AP 0 without
        positives, 1 with only positives) and counted.
Returns:
    roc_auc (`float`): macro ROC-AUC over evaluable tags (NaN only when no tag is evaluable).
    average_precision (`float`): macro mAP over evaluable tags.
    micro_f1 (`float`), macro_f1 (`float`): F1 over all tags.
    top1_accuracy (`float`): share of examples whose top-scoring tag is a reference tag (accuracy, single-label).
    per_tag (`dict`): tag -> {roc_auc, average_precision, f1, support}; ROC-AUC/AP are None for skipped tags.
    skipped_tags (`list[str]`): tags whose reference column has a single class (scored per `single_class`).
    applied_sigmoid (`bool`): whether the scores were taken for logits.
    num_examples (`int`), num_tags (`int`).
Examples:
    >>> metric = evaluate.load("path/to/multilabel_tagging")
    >>> metric.compute(predictions=[[0.9, 0.2], [0.1, 0.7], [0.8, 0.6]], references=[[1, 0], [0, 1], [1, 1]])["roc_auc"]
    1.0
"""


_LIST = getattr(datasets, "List", None) or datasets.Sequence  # datasets >= 4 names it List


def _validate(scores, references, threshold=0.5):
    """Return float64 arrays [N, T]; raise ValueError on shape mismatch, non-binary references or NaN scores."""
    try:
        scores = np.asarray(scores, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
    except ValueError as error:  # ragged lists
        raise ValueError(f"`predictions` and `references` must be rectangular [num_examples, num_tags] arrays: "
                         f"{error}") from error
    if scores.ndim != 2 or references.ndim != 2:
        raise ValueError(f"`predictions` and `references` must be 2-D [num_examples, num_tags]; got shapes "
                         f"{scores.shape} and {references.shape}")
    if scores.shape != references.shape:
        raise ValueError(f"Shape mismatch: `predictions` has shape {scores.shape} but `references` has shape "
                         f"{references.shape}; both must be [num_examples, num_tags]")
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"`predictions` is empty (shape {scores.shape}); pass at least one example and one tag")
    if not np.all(np.isfinite(scores)):
        bad = np.argwhere(~np.isfinite(scores))[0].tolist()
        raise ValueError(f"`predictions` contains NaN or infinite scores (first at [example, tag] = {bad}); check the "
                         f"model outputs")
    if not np.all((references == 0) | (references == 1)):
        values = np.unique(references[(references != 0) & (references != 1)])[:5].tolist()
        raise ValueError(f"`references` must be multi-hot (0/1 only); found values {values}")
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
        raise ValueError(f"`threshold` must be a finite number, got {threshold!r}")
    return scores, references


def _tie_groups(sorted_values):
    """For values sorted along axis 0: first and last position of each element's tie group (same shape)."""
    n = sorted_values.shape[0]
    position = np.arange(n).reshape((n,) + (1,) * (sorted_values.ndim - 1))
    position = np.broadcast_to(position, sorted_values.shape)
    starts_group = np.ones(sorted_values.shape, dtype=bool)
    starts_group[1:] = sorted_values[1:] != sorted_values[:-1]
    ends_group = np.ones(sorted_values.shape, dtype=bool)
    ends_group[:-1] = starts_group[1:]
    first = np.maximum.accumulate(np.where(starts_group, position, 0), axis=0)
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends_group, position, n - 1), 0), axis=0), 0)
    return first, last, ends_group


def roc_auc_columns(scores, references):
    """ROC-AUC of every column, vectorised along axis 0 (examples) for arrays [N, ...]; NaN for single-class columns.

    Mann-Whitney U with tie-averaged ranks, which equals the trapezoidal area under the ROC curve (sklearn).
    ``references`` broadcasts against ``scores`` (e.g. [N, 1, T] against [N, P, T] for P probes at once).
    """
    scores = np.asarray(scores, dtype=np.float64)
    references = np.broadcast_to(np.asarray(references, dtype=np.float64), scores.shape)
    order = np.argsort(scores, axis=0, kind="mergesort")
    sorted_scores = np.take_along_axis(scores, order, axis=0)
    first, last, _ = _tie_groups(sorted_scores)
    sorted_ranks = (first + last) / 2.0 + 1.0
    sorted_refs = np.take_along_axis(references, order, axis=0)
    positives = sorted_refs.sum(0)
    negatives = scores.shape[0] - positives
    rank_sum = (sorted_ranks * sorted_refs).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def average_precision_columns(scores, references):
    """Average precision of every column along axis 0 (sum over distinct thresholds of recall step x precision, as
    sklearn's ``average_precision_score``); NaN for single-class columns."""
    scores = np.asarray(scores, dtype=np.float64)
    references = np.broadcast_to(np.asarray(references, dtype=np.float64), scores.shape)
    order = np.argsort(-scores, axis=0, kind="mergesort")
    sorted_scores = np.take_along_axis(-scores, order, axis=0)
    sorted_refs = np.take_along_axis(references, order, axis=0)
    first, last, ends_group = _tie_groups(sorted_scores)
    true_positives = np.cumsum(sorted_refs, axis=0)
    # true positives before the group: cumsum at (first - 1), 0 for the first group
    before = np.take_along_axis(true_positives, np.maximum(first - 1, 0), axis=0) * (first > 0)
    positives = true_positives[-1]
    n = scores.shape[0]
    predicted = np.arange(1, n + 1).reshape((n,) + (1,) * (scores.ndim - 1))
    precision = true_positives / predicted
    with np.errstate(invalid="ignore", divide="ignore"):
        contribution = np.where(ends_group, (true_positives - before) * precision, 0.0).sum(0) / positives
    negatives = n - positives
    return np.where((positives > 0) & (negatives > 0), contribution, np.nan)


def f1_columns(predicted, references):
    """Per-column F1 of binary arrays [N, T] (0 where undefined) and the micro F1 over all cells."""
    predicted = predicted.astype(np.float64)
    true_positive = (predicted * references).sum(0)
    false_positive = (predicted * (1 - references)).sum(0)
    false_negative = ((1 - predicted) * references).sum(0)
    denominator = 2 * true_positive + false_positive + false_negative
    with np.errstate(invalid="ignore", divide="ignore"):
        per_tag = np.where(denominator > 0, 2 * true_positive / denominator, 0.0)
    micro_denominator = denominator.sum()
    micro = 2 * true_positive.sum() / micro_denominator if micro_denominator > 0 else 0.0
    return per_tag, float(micro)


SINGLE_CLASS_POLICIES = ("skip", "torchmetrics")


def tagging_metrics(scores, references, threshold=0.5, tag_names=None, single_class="skip"):
    """ROC-AUC / mAP (macro over evaluable tags), micro / macro F1, per-tag values and skipped tags.

    See the module docstring for the conventions; values equal scikit-learn's.

    Args:
        scores: [N, T] probabilities or logits (scores outside [0, 1] are taken for logits; F1 thresholds their
            sigmoid); numpy, torch on CPU or lists.
        references: [N, T] multi-hot labels.
        threshold: the F1 decision threshold on probabilities.
        tag_names: names for the per-tag values (default: the column index).
        single_class: ``skip`` leaves tags whose references hold one class out of the means (listed in
            ``skipped_tags``); ``torchmetrics`` scores them as torchmetrics and MARBLE do.

    Returns:
        A dict with ``roc_auc``, ``average_precision``, ``micro_f1``, ``macro_f1``, per-tag values,
        ``skipped_tags`` and ``applied_sigmoid``.

    Example:
        ```python
        tagging_metrics([[0.9, 0.2], [0.1, 0.7]], [[1, 0], [0, 1]])["roc_auc"]    # 1.0
        ```
    """
    if single_class not in SINGLE_CLASS_POLICIES:
        raise ValueError(f"`single_class` must be one of {SINGLE_CLASS_POLICIES}, got {single_class!r}")
    if hasattr(scores, "detach"):
        scores = scores.detach().cpu().numpy()
    if hasattr(references, "detach"):
        references = references.detach().cpu().numpy()
    scores, references = _validate(scores, references, threshold)
    num_examples, num_tags = scores.shape
    if tag_names is None:
        tag_names = [f"tag_{i}" for i in range(num_tags)]
    tag_names = [str(name) for name in tag_names]
    if len(tag_names) != num_tags:
        raise ValueError(f"`tag_names` has {len(tag_names)} names but the scores have {num_tags} tag columns")
    auc = roc_auc_columns(scores, references)
    average_precision = average_precision_columns(scores, references)
    applied_sigmoid = bool(scores.min() < 0.0 or scores.max() > 1.0)
    with np.errstate(over="ignore"):  # exp overflows to inf for logits below -709: sigmoid 0, as it should be
        probabilities = 1.0 / (1.0 + np.exp(-scores)) if applied_sigmoid else scores
    f1, micro_f1 = f1_columns(probabilities > threshold, references)
    single = np.isnan(auc)
    skipped = [name for name, one in zip(tag_names, single) if one]
    if single_class == "torchmetrics":
        auc = np.where(single, 0.0, auc)
        all_positive = references.min(0) == 1
        average_precision = np.where(single, np.where(all_positive, 1.0, 0.0), average_precision)
    evaluable = ~np.isnan(auc)
    support = references.sum(0)
    per_tag = {
        name: {"roc_auc": float(auc[i]) if evaluable[i] else None,
               "average_precision": float(average_precision[i]) if evaluable[i] else None,
               "f1": float(f1[i]), "support": int(support[i])}
        for i, name in enumerate(tag_names)
    }
    return {
        "roc_auc": float(auc[evaluable].mean()) if evaluable.any() else float("nan"),
        "average_precision": float(average_precision[evaluable].mean()) if evaluable.any() else float("nan"),
        "micro_f1": micro_f1,
        "macro_f1": float(f1.mean()),
        "top1_accuracy": float(references[np.arange(num_examples), np.argmax(scores, axis=1)].mean()),
        "per_tag": per_tag,
        "skipped_tags": skipped,
        "applied_sigmoid": applied_sigmoid,
        "num_examples": int(num_examples),
        "num_tags": int(num_tags),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelTagging(evaluate.Metric):
    """`evaluate` wrapper around :func:`tagging_metrics`."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": _LIST(datasets.Value("float64")),
                "references": _LIST(datasets.Value("float64")),
            }),
            reference_urls=["https://arxiv.org/abs/2506.17818", "https://arxiv.org/abs/2306.10548"],
        )

    def _compute(self, predictions, references, threshold=0.5, tag_names=None, single_class="skip"):
        return tagging_metrics(predictions, references, threshold=threshold, tag_names=tag_names,
                               single_class=single_class)
