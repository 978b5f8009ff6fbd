"""The multilabel tagging metric against scikit-learn, its edge cases, errors, and the offline evaluate module."""

import json
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from hf_culturemert.metrics import MULTILABEL_TAGGING_PATH, load_metric, roc_auc_columns, tagging_metrics


def sklearn_reference(scores, references, threshold=0.5):
    """What the metric must equal: sklearn per evaluable column, F1 with zero_division=0 over all columns."""
    keep = [j for j in range(references.shape[1]) if 0 < references[:, j].sum() < references.shape[0]]
    predicted = (scores > threshold).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "roc_auc": np.mean([roc_auc_score(references[:, j], scores[:, j]) for j in keep]) if keep else np.nan,
            "average_precision": (np.mean([average_precision_score(references[:, j], scores[:, j]) for j in keep])
                                  if keep else np.nan),
            "micro_f1": f1_score(references, predicted, average="micro", zero_division=0),
            "macro_f1": f1_score(references, predicted, average="macro", zero_division=0),
            "per_tag_f1": f1_score(references, predicted, average=None, zero_division=0),
            "keep": keep,
        }


def assert_matches_sklearn(scores, references, threshold=0.5):
    result = tagging_metrics(scores, references, threshold=threshold)
    expected = sklearn_reference(scores, references, threshold)
    for key in ("roc_auc", "average_precision", "micro_f1", "macro_f1"):
        assert result[key] == pytest.approx(expected[key], abs=1e-6, nan_ok=True), key
    per_tag = list(result["per_tag"].values())
    np.testing.assert_allclose([t["f1"] for t in per_tag], expected["per_tag_f1"], atol=1e-6)
    for j, tag in enumerate(per_tag):
        if j in expected["keep"]:
            assert tag["roc_auc"] == pytest.approx(roc_auc_score(references[:, j], scores[:, j]), abs=1e-6)
            assert tag["average_precision"] == pytest.approx(
                average_precision_score(references[:, j], scores[:, j]), abs=1e-6)
        else:
            assert tag["roc_auc"] is None and tag["average_precision"] is None
    return result


@pytest.mark.parametrize("seed", range(12))
def test_random_data_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    num_examples, num_tags = int(rng.integers(8, 80)), int(rng.integers(2, 12))
    references = (rng.random((num_examples, num_tags)) < rng.uniform(0.1, 0.6, num_tags)).astype(int)
    scores = rng.random((num_examples, num_tags))
    if seed % 3 == 1:  # heavy ties: scores on a coarse grid
        scores = np.round(scores, 1)
    if seed % 3 == 2:  # correlated with the labels, so values are far from 0.5
        scores = np.clip(0.6 * references + 0.5 * rng.random((num_examples, num_tags)), 0, 1)
    assert_matches_sklearn(scores, references, threshold=[0.5, 0.3, 0.7][seed % 3])


def test_single_class_columns_are_skipped_not_nan():
    rng = np.random.default_rng(0)
    references = (rng.random((30, 5)) < 0.4).astype(int)
    references[:, 1] = 0  # no positive
    references[:, 3] = 1  # no negative
    scores = rng.random((30, 5))
    result = assert_matches_sklearn(scores, references)
    assert result["skipped_tags"] == ["tag_1", "tag_3"]
    assert np.isfinite(result["roc_auc"]) and np.isfinite(result["average_precision"])
    expected = np.mean([roc_auc_score(references[:, j], scores[:, j]) for j in (0, 2, 4)])
    assert result["roc_auc"] == pytest.approx(expected, abs=1e-9)
    assert result["per_tag"]["tag_3"]["support"] == 30


def test_all_columns_single_class_gives_nan_means_but_f1():
    references = np.zeros((6, 3), dtype=int)
    references[:, 0] = 1
    result = tagging_metrics(np.full((6, 3), 0.8), references)
    assert np.isnan(result["roc_auc"]) and np.isnan(result["average_precision"])
    assert result["skipped_tags"] == ["tag_0", "tag_1", "tag_2"]
    assert result["per_tag"]["tag_0"]["f1"] == pytest.approx(1.0)
    assert result["macro_f1"] == pytest.approx(1 / 3)


def test_ties_all_equal_scores_give_chance_auc():
    references = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    result = assert_matches_sklearn(np.full((4, 2), 0.3), references)
    assert result["roc_auc"] == pytest.approx(0.5)
    assert result["average_precision"] == pytest.approx(0.5)


def test_all_zero_predictions_give_zero_f1():
    rng = np.random.default_rng(1)
    references = (rng.random((20, 4)) < 0.5).astype(int)
    result = assert_matches_sklearn(np.zeros((20, 4)), references)
    assert result["micro_f1"] == 0.0 and result["macro_f1"] == 0.0


def test_perfect_and_inverted_rankings():
    references = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    scores = references * 0.9 + 0.05
    assert tagging_metrics(scores, references)["roc_auc"] == pytest.approx(1.0)
    assert tagging_metrics(1 - scores, references)["roc_auc"] == pytest.approx(0.0)


def test_threshold_is_strict_and_tag_names_and_torch_inputs():
    references = torch.tensor([[1, 0], [0, 1], [1, 0]])
    scores = torch.tensor([[0.5, 0.2], [0.1, 0.9], [0.6, 0.4]])
    result = tagging_metrics(scores, references, tag_names=["a", "b"])
    assert set(result["per_tag"]) == {"a", "b"}
    assert result["per_tag"]["a"]["f1"] == pytest.approx(2 / 3)  # 0.5 is not > 0.5
    json.dumps(result)  # JSON-serialisable (skipped values are None, not NaN)


def test_vectorised_columns_broadcast_over_probes():
    rng = np.random.default_rng(3)
    references = (rng.random((25, 4)) < 0.5).astype(int)
    scores = rng.random((25, 3, 4))  # 3 "probes" at once
    batched = roc_auc_columns(scores, references[:, None, :])
    for p in range(3):
        expected = [roc_auc_score(references[:, j], scores[:, p, j]) for j in range(4)]
        np.testing.assert_allclose(batched[p], expected, atol=1e-9)


@pytest.mark.parametrize("predictions, references, match", [
    ([[0.1, 0.2]], [[1, 0, 1]], "Shape mismatch"),
    ([[float("nan"), 0.2], [0.3, 0.1]], [[1, 0], [0, 1]], "NaN"),
    ([[0.1, 0.2]], [[2, 0]], "multi-hot"),
    ([0.1, 0.2], [1, 0], "2-D"),
    ([[0.1, 0.2], [0.3]], [[1, 0], [1, 0]], "rectangular"),
])
def test_errors(predictions, references, match):
    with pytest.raises(ValueError, match=match):
        tagging_metrics(predictions, references)


def test_tag_names_length_error():
    with pytest.raises(ValueError, match="tag_names"):
        tagging_metrics([[0.1, 0.2]], [[1, 0]], tag_names=["only-one"])


def test_evaluate_module_loads_offline_and_matches_function():
    metric = load_metric()
    rng = np.random.default_rng(5)
    references = (rng.random((16, 3)) < 0.5).astype(int)
    references[0], references[1] = 1, 0
    scores = rng.random((16, 3))
    for start in range(0, 16, 8):  # batched accumulation, as in an evaluation loop
        metric.add_batch(predictions=scores[start:start + 8].tolist(), references=references[start:start + 8].tolist())
    result = metric.compute(threshold=0.4, tag_names=["x", "y", "z"])
    direct = tagging_metrics(scores, references, threshold=0.4, tag_names=["x", "y", "z"])
    for key in ("roc_auc", "average_precision", "micro_f1", "macro_f1"):
        assert result[key] == pytest.approx(direct[key], abs=1e-9)
    assert result["per_tag"].keys() == direct["per_tag"].keys()
    with pytest.raises(ValueError, match="multi-hot"):
        metric.compute(predictions=[[0.2, 0.3]], references=[[0.5, 1]])
    assert MULTILABEL_TAGGING_PATH.endswith("multilabel_tagging")


def test_single_class_policy_torchmetrics_scores_them_and_counts_them():
    """torchmetrics (MARBLE's metric code) gives a one-class tag ROC-AUC 0, AP 0 without positives and 1 with only
    positives, and averages over all tags; ``skip`` (default) leaves them out."""
    rng = np.random.default_rng(3)
    scores = rng.random((12, 4))
    references = (rng.random((12, 4)) > 0.5).astype(int)
    references[:, 0] = [1, 0] * 6
    references[:, 1] = [0, 1] * 6
    references[:, 2] = 0  # no positive
    references[:, 3] = 1  # only positives
    skip = tagging_metrics(scores, references)
    compat = tagging_metrics(scores, references, single_class="torchmetrics")
    evaluable = [roc_auc_score(references[:, j], scores[:, j]) for j in (0, 1)]
    evaluable_ap = [average_precision_score(references[:, j], scores[:, j]) for j in (0, 1)]
    assert skip["roc_auc"] == pytest.approx(np.mean(evaluable), abs=1e-12)
    assert compat["roc_auc"] == pytest.approx(np.sum(evaluable) / 4, abs=1e-12)
    assert compat["average_precision"] == pytest.approx((np.sum(evaluable_ap) + 0.0 + 1.0) / 4, abs=1e-12)
    assert [compat["per_tag"][f"tag_{j}"]["roc_auc"] for j in (2, 3)] == [0.0, 0.0]
    assert [compat["per_tag"][f"tag_{j}"]["average_precision"] for j in (2, 3)] == [0.0, 1.0]
    assert skip["skipped_tags"] == compat["skipped_tags"] == ["tag_2", "tag_3"]
    assert skip["micro_f1"] == compat["micro_f1"]
    with pytest.raises(ValueError, match="single_class"):
        tagging_metrics(scores, references, single_class="zero")


def test_logits_are_thresholded_after_a_sigmoid():
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (40, 5))
    references = (rng.random((40, 5)) > 0.5).astype(int)
    probabilities = 1 / (1 + np.exp(-logits))
    on_logits = tagging_metrics(logits, references)
    on_probabilities = tagging_metrics(probabilities, references)
    assert on_logits["applied_sigmoid"] and not on_probabilities["applied_sigmoid"]
    for key in ("micro_f1", "macro_f1"):
        assert on_logits[key] == pytest.approx(on_probabilities[key], abs=1e-12)
        raw = f1_score(references, (logits > 0.5).astype(int), average=key.split("_")[0], zero_division=0)
        assert abs(on_logits[key] - raw) > 1e-3  # thresholding the raw logits at 0.5 would differ
    for key in ("roc_auc", "average_precision"):  # order statistics: computed on the raw scores, unchanged
        assert on_logits[key] == pytest.approx(on_probabilities[key], abs=1e-12)
    extreme = tagging_metrics(np.array([[-1000.0], [1000.0]]), np.array([[0], [1]]))
    assert extreme["micro_f1"] == 1.0 and extreme["roc_auc"] == 1.0
