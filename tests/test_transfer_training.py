"""Transfer-study training: chunking and per-track aggregation, Trainer runs keeping the best validation loss,
transfer modes (head changes only the output layer; full changes every parameter)."""

import numpy as np
import pytest
import torch

from hf_culturemert.testing import write_tone_corpus
from hf_culturemert.transfer.data import TrackChunks, aggregate_per_track, load_inputs
from hf_culturemert.transfer.models import build_tagger, feature_extractor, output_layer_prefix
from hf_culturemert.transfer.training import (TrainSettings, evaluate_tracks, parameter_changes, train_tagger,
                                              transfer_model)

pytestmark = pytest.mark.usefixtures("single_thread")
SMALL = {"vggish": dict(chunk_frames=32, channels=[4, 8], dense_size=8),
         "musicnn": dict(chunk_frames=32, timbral_filters=4, temporal_filters=2, backend_channels=4, dense_size=8),
         "ast": dict(max_length=48, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32),
         "mert": dict()}


def test_per_track_aggregation_is_correct():
    logits = np.array([[0.0, 2.0], [2.0, -2.0], [1.0, 1.0], [-1.0, 3.0], [5.0, 0.0]])
    track = np.array([0, 0, 1, 2, 2])
    sig = 1 / (1 + np.exp(-logits))
    probs = aggregate_per_track(logits, track, 3, "probabilities")
    np.testing.assert_allclose(probs, [(sig[0] + sig[1]) / 2, sig[2], (sig[3] + sig[4]) / 2], rtol=1e-12)
    mean_logits = aggregate_per_track(logits, track, 3, "logits")
    expected = 1 / (1 + np.exp(-np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 1.5]])))
    np.testing.assert_allclose(mean_logits, expected, rtol=1e-12)
    assert not np.allclose(probs, mean_logits)  # the two rules differ: the family's one is used
    with pytest.raises(ValueError, match="no chunk"):
        aggregate_per_track(logits, track, 4)


def test_track_chunks_drop_the_remainder_and_pad_short_tracks():
    rows = [{"x": np.arange(25 * 2, dtype=np.float16).reshape(25, 2), "labels": [1, 0], "track_id": "a"},
            {"x": np.ones((3, 2), np.float16), "labels": [0, 1], "track_id": "b"}]
    chunks = TrackChunks(rows, 10, lambda x: x, "input_features")
    assert len(chunks) == 3 and chunks.track_index.tolist() == [0, 0, 1]
    torch.testing.assert_close(chunks[1]["input_features"], torch.arange(20, 40, dtype=torch.float32).reshape(10, 2))
    assert chunks[2]["input_features"].shape == (10, 2)  # 3 frames repeated to one chunk (the original crashed)
    np.testing.assert_array_equal(chunks.references, [[1, 0], [0, 1]])


@pytest.fixture(scope="module")
def tone_corpus(tmp_path_factory):
    return write_tone_corpus(tmp_path_factory.mktemp("tones") / "tones", counts=(8, 4, 4), seconds=1.5)


def _model(family, tags=("low", "high", "noise")):
    model = build_tagger(family, list(tags), size="miniature", **SMALL[family])
    if family == "mert":
        model.config.transfer_chunk_samples = 24000
    return model


def _inputs(family, corpus, model):
    extractor = feature_extractor(family, model.config, **({"mean": -40.0, "std": 20.0} if family == "ast" else {}))
    train, tags = load_inputs(corpus, "train", family, extractor)
    valid, _ = load_inputs(corpus, "validation", family, extractor)
    return extractor, train, valid, tags


@pytest.mark.parametrize("family", ["vggish", "musicnn", "ast", "mert"])
@pytest.mark.parametrize("mode", ["head", "full"])
def test_transfer_modes_change_exactly_the_right_parameters(tone_corpus, tmp_path, family, mode):
    source = _model(family)
    extractor, train, valid, tags = _inputs(family, tone_corpus, source)
    target = transfer_model(source, ["x", "y"] + tags, mode, seed=1)
    prefix = output_layer_prefix(target)
    assert target.config.num_labels == 5 and target.config.id2label[0] == "x"
    loaded = {k: v for k, v in target.state_dict().items() if not k.startswith(prefix)}
    for key, value in loaded.items():
        torch.testing.assert_close(value, source.state_dict()[key], rtol=0, atol=0, msg=key)  # all but the head
    # the study's task has target labels for the new tags: pad the tone labels to 5 columns
    pad = lambda ds: ds.map(lambda r: {"labels": [r["labels"][0], r["labels"][1]] + list(r["labels"])})  # noqa: E731
    before = {k: v.detach().clone() for k, v in target.named_parameters()}
    settings = TrainSettings(epochs=2, batch_size=4, learning_rate=1e-2, weight_decay=1e-4, progress=False)
    trained, log = train_tagger(target, extractor, pad(train), pad(valid), settings, tmp_path)
    after = {k: v.detach() for k, v in trained.named_parameters()}
    changed = set(parameter_changes(before, after))
    head = {k for k in before if k.startswith(prefix)}
    assert head and changed >= head
    if mode == "head":
        assert changed == head, sorted(changed - head)[:5]
    else:
        assert changed == set(before), sorted(set(before) - changed)[:5]
    assert log["best_epoch"] in (1, 2) and not (tmp_path / "trainer").exists()


@pytest.mark.parametrize("family", ["vggish", "ast"])
def test_best_validation_weights_are_kept(tone_corpus, tmp_path, family):
    from hf_culturemert.transfer.data import FixedCrops
    from hf_culturemert.transfer.training import _collate, chunk_length, input_adapter

    model = _model(family)
    extractor, train, valid, tags = _inputs(family, tone_corpus, model)
    settings = TrainSettings(epochs=4, batch_size=4, learning_rate=3e-2, progress=False)
    model, log = train_tagger(model, extractor, train, valid, settings, tmp_path)
    losses = [e["eval_loss"] for e in log["history"] if "eval_loss" in e]
    assert len(losses) == 4 and log["best_eval_loss"] == pytest.approx(min(losses))
    assert log["best_epoch"] == int(np.argmin(losses)) + 1
    # the returned weights are the best epoch's: their validation loss is the best one, not the last epoch's
    to_model, name = input_adapter(family, extractor)
    batch = _collate([FixedCrops(valid, chunk_length(model), to_model, name)[i] for i in range(len(valid))])
    model.eval()
    with torch.no_grad():
        loss = model(batch[name], labels=batch["labels"]).loss.item()
    assert loss == pytest.approx(min(losses), rel=1e-4)
    metrics = evaluate_tracks(model, extractor, load_inputs(tone_corpus, "test", family, extractor)[0], tags)
    assert metrics["tracks"] == 4 and 0.0 <= metrics["roc_auc"] <= 1.0


def test_empty_split_and_bad_mode_are_named(tone_corpus, tmp_path):
    import datasets

    dd = datasets.load_from_disk(str(tone_corpus))
    empty = datasets.DatasetDict({"train": dd["train"].select([]), "validation": dd["validation"]})
    with pytest.raises(ValueError, match="'train' is empty"):
        load_inputs(empty, "train", "vggish", feature_extractor("vggish"), name="tones")
    with pytest.raises(ValueError, match="Unknown transfer mode 'partial'"):
        transfer_model(_model("vggish"), ["a"], "partial")
