"""MARBLE probing end to end on a tiny random MERT, the vectorised probe trainer, the feature cache, the evaluate
command, and MERTForAudioTagging under transformers.Trainer (full fine-tuning and LoRA)."""

import json

import numpy as np
import pytest
import torch

from hf_culturemert.probing import ProbeArguments, evaluate_models, model_fingerprint, probe_model, train_probe_grid
from hf_culturemert.probing.train import ProbeEnsemble, _VectorAdam
from hf_culturemert.testing import random_model, tiny_mert_config, write_tone_corpus

# Thresholds (chance = 0.5). The synthetic corpus' "western" tradition (instrument, genre, tempo tags, 48/24/24 clips
# of 2 s) reaches ~0.89 macro ROC-AUC with probes on a random tiny MERT; the inline tone corpus (sine 220 Hz,
# sine 1760 Hz, noise), used only when hf_culturemert.data is missing, ~0.99. Separable random features: ~0.95.
MIN_ROC_AUC_SYNTHETIC = 0.75
# Tone tags read off a random tiny MERT (HubertModel's init, positional conv included): 0.81-0.93 ROC-AUC over
# model seeds 0-2 on the tone corpus, so 0.75 is clearly above chance (0.5) for any of them.
MIN_ROC_AUC_TONES = 0.75
MIN_ROC_AUC_SEPARABLE = 0.85
FAST = dict(window_seconds=1.0, learning_rates=[1e-3, 1e-2], seeds=[0, 1], max_epochs=25, progress=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; on a shared 2-core machine two threads are several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _synthetic_corpus(folder):
    try:
        from hf_culturemert.data import build_synthetic_corpus
    except ImportError:
        return None
    folders = build_synthetic_corpus(folder, seed=0, clips_per_split={"train": 48, "validation": 24, "test": 24},
                                     clip_seconds=2.0, traditions=["western"], num_proc=1, progress=False)
    return folders["western"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The issue-3 synthetic corpus (one tradition); the inline tone corpus only if that builder is unavailable."""
    folder = tmp_path_factory.mktemp("corpus")
    return _synthetic_corpus(folder) or write_tone_corpus(folder / "tones")


def _min_roc_auc(corpus):
    return MIN_ROC_AUC_TONES if corpus.name == "tones" else MIN_ROC_AUC_SYNTHETIC


@pytest.fixture(scope="module")
def model():
    return random_model(tiny_mert_config(), seed=0)


@pytest.fixture(scope="module")
def first_run(corpus, model, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return probe_model(model, str(corpus), cache_dir=str(cache), **FAST), cache


def test_probe_end_to_end_is_well_above_chance(first_run, corpus):
    result, _ = first_run
    assert result["cache_hit"] is False
    assert set(result["layers"]) == {"0", "1", "2", "weighted"}
    assert result["summary"]["roc_auc"]["mean"] > _min_roc_auc(corpus)
    for layer in result["layers"].values():  # every probe learns something
        assert layer["test"]["roc_auc"]["mean"] > 0.6
    assert len(result["summary"]["roc_auc"]["values"]) == 2  # one per seed
    weighted = result["layers"]["weighted"]
    assert len(weighted["layer_weights"]) == 2 and sum(weighted["layer_weights"]) == pytest.approx(1.0, abs=1e-5)
    # 1 s windows: 2 s clips give 2 windows, 1.5 s tones 2 (the 0.5 s tail is kept: >= half a window)
    assert result["num_windows"]["train"] == 2 * result["num_tracks"]["train"]
    assert result["tags"] is not None and len(result["tags"]) == len(
        result["layers"]["0"]["seeds"][0]["per_tag"])
    json.dumps(result)


def test_second_run_hits_the_cache_and_reproduces(first_run, corpus, model):
    result, cache = first_run
    again = probe_model(model, str(corpus), cache_dir=str(cache), **FAST)
    assert again["cache_hit"] is True
    for key in result["layers"]:
        assert again["layers"][key]["test"]["roc_auc"]["values"] == result["layers"][key]["test"]["roc_auc"]["values"]
        assert again["layers"][key]["best_learning_rate"] == result["layers"][key]["best_learning_rate"]


def test_cache_keys_on_weights_not_on_object(first_run, corpus, model, tmp_path):
    from hf_culturemert.export import save_model_folder
    from hf_culturemert.probing.features import cached_split_features

    _, cache = first_run
    folder = save_model_folder(model, tmp_path / "saved")
    same_weights = probe_model(str(folder), str(corpus), cache_dir=str(cache), layers=[2], weighted_sum=False,
                               **FAST)
    assert same_weights["cache_hit"] is True  # same weights from a folder: same features
    args = ProbeArguments(cache_dir=str(cache), **FAST)
    cpu = torch.device("cpu")
    other = model_fingerprint(random_model(tiny_mert_config(), seed=1))
    assert other != same_weights["model_fingerprint"]
    _, info = cached_split_features(model, other, str(corpus), "test", args, cpu, torch.float32)
    assert info["cache_hit"] is False  # other weights: extracted again
    _, info = cached_split_features(model, same_weights["model_fingerprint"], str(corpus), "test",
                                    args.updated(window_seconds=0.5), cpu, torch.float32)
    assert info["cache_hit"] is False  # other settings: extracted again
    columns, info = cached_split_features(model, same_weights["model_fingerprint"], str(corpus), "test", args, cpu,
                                          torch.float32)
    assert info["cache_hit"] is True and columns["features"].shape == (same_weights["num_windows"]["test"], 3, 32)


def test_tag_families_keep_only_their_label_columns(first_run, corpus, model):
    from hf_culturemert.probing.pipeline import tag_family

    assert (tag_family("instrument--Ney"), tag_family("makam--Hicaz"), tag_family("rock")) == \
        ("instrument", "makam", "tag")
    result, cache = first_run
    kept = probe_model(model, str(corpus), cache_dir=str(cache), layers=[1], weighted_sum=False,
                       tag_families=["tag"], **FAST)
    assert kept["cache_hit"] is True and kept["tags"] == result["tags"]  # the western tags have no prefix
    with pytest.raises(ValueError, match=r"keeps no tag of dataset .*families are tag"):
        probe_model(model, str(corpus), cache_dir=str(cache), layers=[1], weighted_sum=False,
                    tag_families=["instrument"], **FAST)


def test_lambda_scorer_never_reads_the_test_split(first_run, corpus, model, tmp_path, monkeypatch):
    """The merge sweep's scorer extracts train and validation features only and scores on validation, so choosing
    lambda costs no test extraction and cannot see test results."""
    import hf_culturemert.probing.pipeline as pipeline
    from hf_culturemert.export import save_model_folder
    from hf_culturemert.merging import probing_score_fn

    requested, real = [], pipeline.cached_split_features

    def spy(backbone, fingerprint, dataset, split, *args, **kwargs):
        requested.append(split)
        return real(backbone, fingerprint, dataset, split, *args, **kwargs)

    monkeypatch.setattr(pipeline, "cached_split_features", spy)
    folder = save_model_folder(model, tmp_path / "model")
    scores = probing_score_fn([str(corpus)], cache_dir=str(first_run[1]), **FAST)(folder)
    assert set(requested) == {"train", "validation"}
    validation = first_run[0]["layers"][first_run[0]["reported_layer"]]["validation_roc_auc"]
    assert scores == {corpus.name: pytest.approx(validation)}  # the same probes, read on validation


def test_decoded_audio_is_reused_across_models_and_bounded(corpus, tmp_path):
    """A second model on the same split decodes nothing (every clip from memory) and gets the same features as with
    the cache off; the cache never holds more than its budget and evicts the oldest clip first."""
    from hf_culturemert.probing.features import AUDIO_CACHE, DecodedAudioCache

    other = random_model(tiny_mert_config(), seed=1)
    options = dict(FAST, cache_dir=str(tmp_path / "features"), max_epochs=2, seeds=[0])
    AUDIO_CACHE.resize(0)  # start empty
    probe_model(random_model(tiny_mert_config(), seed=2), str(corpus), **options)
    hits = AUDIO_CACHE.hits
    cached = probe_model(other, str(corpus), **options)
    assert AUDIO_CACHE.hits - hits == sum(cached["num_tracks"].values())
    fresh = probe_model(other, str(corpus), **dict(options, cache_dir=str(tmp_path / "off"), audio_cache_mb=0))
    assert cached["summary"] == fresh["summary"]

    cache = DecodedAudioCache(max_bytes=3 * 400)
    for key in "abcd":
        assert cache.get(key, lambda: np.zeros(100, np.float32)).shape == (100,)
    assert cache.bytes == 1200 and list(cache._items) == ["b", "c", "d"] and cache.misses == 4
    assert not cache.get("d", lambda: None).flags.writeable and cache.hits == 1
    with pytest.raises(ValueError, match="audio_cache_mb"):
        ProbeArguments(audio_cache_mb=-1)


def test_tag_families_select_columns_by_prefix():
    from hf_culturemert.probing.pipeline import _keep_tag_families

    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    splits = {"train": {"labels": labels.clone()}, "test": {"labels": labels.clone()}}
    tags = ["makam--Hicaz", "instrument--Ney", "instrument--Oud"]
    assert _keep_tag_families(splits, tags, ["instrument"], "makam") == ["instrument--Ney", "instrument--Oud"]
    assert torch.equal(splits["test"]["labels"], labels[:, 1:])
    with pytest.raises(ValueError, match="has no vocabulary"):
        _keep_tag_families(splits, None, ["instrument"], "makam")


def test_tone_corpus_from_a_saved_dataset_dict(model, tmp_path):
    tones = write_tone_corpus(tmp_path / "tones")
    result = probe_model(model, str(tones), cache_dir=str(tmp_path / "cache"), layers=[2], weighted_sum=False,
                         **{**FAST, "seeds": [0]})
    assert result["summary"]["roc_auc"]["mean"] > MIN_ROC_AUC_TONES
    assert result["num_tracks"] == {"train": 24, "validation": 12, "test": 12}


def _separable(num, num_tags=3, hidden=16, layers=3, tracks_per_window=1, seed=0):
    """Window features = tag directions (shared by all splits) + noise; windows of a track share its labels."""
    g = torch.Generator().manual_seed(seed)
    num_tracks = num // tracks_per_window
    labels = (torch.rand(num_tracks, num_tags, generator=g) < 0.5).float()
    labels[torch.arange(num_tracks), torch.arange(num_tracks) % num_tags] = 1.0
    labels = labels.repeat_interleave(tracks_per_window, dim=0)
    directions = torch.randn(num_tags, hidden, generator=torch.Generator().manual_seed(123))
    features = torch.randn(num, layers, hidden, generator=g) * 0.5 + (labels @ directions)[:, None, :]
    return {"features": features, "labels": labels, "track_index": torch.arange(num) // tracks_per_window}


def _grid(learning_rates, seeds, **kwargs):
    train, valid, test = _separable(64, seed=0), _separable(24, seed=1, tracks_per_window=2), _separable(24, seed=2)
    options = dict(layer=1, max_epochs=15, hidden_size=32, batch_size=16)
    options.update(kwargs)
    return train_probe_grid(train, valid, test, learning_rates, seeds, **options)


def test_same_seed_same_numbers_and_seeds_differ():
    first, second = _grid([1e-3, 1e-2], [0, 1]), _grid([1e-3, 1e-2], [0, 1])
    assert [r["test"]["roc_auc"] for r in first] == [r["test"]["roc_auc"] for r in second]
    assert [r["validation_roc_auc"] for r in first] == [r["validation_roc_auc"] for r in second]
    scores = {(r["seed"], r["learning_rate"]): r["test"]["average_precision"] for r in first}
    assert scores[(0, 1e-3)] != scores[(1, 1e-3)]
    assert all(r["test"]["roc_auc"] > MIN_ROC_AUC_SEPARABLE for r in first)


def test_ensemble_probe_equals_the_probe_trained_alone():
    # without dropout nothing random depends on the other probes: a grid member equals its solo run
    together = _grid([1e-3, 3e-3], [5], dropout=0.0, weighted_layers=[1, 2], layer=None)
    alone = _grid([3e-3], [5], dropout=0.0, weighted_layers=[1, 2], layer=None)
    assert together[1]["best_epoch"] == alone[0]["best_epoch"]
    assert together[1]["test"]["roc_auc"] == pytest.approx(alone[0]["test"]["roc_auc"], abs=1e-6)
    np.testing.assert_allclose(together[1]["layer_weights"], alone[0]["layer_weights"], atol=1e-5)


def test_layer_probes_trained_together_equal_each_layer_trained_alone():
    """All single layers in one ensemble (the pipeline's path): without dropout each layer's probes give what they
    give when that layer is trained alone; layers differ, and the result is keyed by layer."""
    from hf_culturemert.probing import train_layer_probes

    train, valid, test = _separable(64, seed=0), _separable(24, seed=1, tracks_per_window=2), _separable(24, seed=2)
    options = dict(max_epochs=15, hidden_size=32, batch_size=16, dropout=0.0)
    together = train_layer_probes(train, valid, test, [1e-3, 3e-3], [5, 6], [0, 2], **options)
    assert sorted(together) == [0, 2] and all(len(v) == 4 for v in together.values())
    for layer in (0, 2):
        alone = train_probe_grid(train, valid, test, [1e-3, 3e-3], [5, 6], layer=layer, **options)
        for joint, solo in zip(together[layer], alone):
            assert (joint["seed"], joint["learning_rate"]) == (solo["seed"], solo["learning_rate"])
            assert joint["best_epoch"] == solo["best_epoch"]
            assert joint["validation_roc_auc"] == pytest.approx(solo["validation_roc_auc"], abs=1e-6)
            assert joint["test"]["roc_auc"] == pytest.approx(solo["test"]["roc_auc"], abs=1e-6)
    assert [r["test"]["average_precision"] for r in together[0]] != [r["test"]["average_precision"]
                                                                     for r in together[2]]
    with pytest.raises(ValueError, match="distinct"):
        train_layer_probes(train, valid, test, [1e-3], [0], [1, 1], **options)


def test_vector_adam_matches_torch_adam():
    ensemble = ProbeEnsemble([3, 4], in_dim=5, hidden=7, out_dim=2)
    reference = {k: v.detach().clone().requires_grad_(True) for k, v in ensemble.params.items()}
    optimizer = _VectorAdam(ensemble.params)
    torch_optimizers = [torch.optim.Adam([reference[k] for k in sorted(reference)], lr=lr) for lr in (1e-2, 1e-3)]
    x, y = torch.randn(2, 6, 5), torch.rand(2, 6, 2).round()
    for _ in range(3):
        torch.nn.functional.binary_cross_entropy_with_logits(ensemble.forward(x), y, reduction="none").mean(
            (1, 2)).sum().backward()
        optimizer.step(torch.tensor([1e-2, 1e-3]))
    for p, torch_optimizer in enumerate(torch_optimizers):
        params = {k: v[p].detach().clone().requires_grad_(True) for k, v in reference.items()}
        torch_optimizer.param_groups[0]["params"] = [params[k] for k in sorted(params)]
        for _ in range(3):
            torch_optimizer.zero_grad()
            h = torch.relu(x[p] @ params["w1"] + params["b1"])
            logits = h @ params["w2"] + params["b2"]
            torch.nn.functional.binary_cross_entropy_with_logits(logits, y[p]).backward()
            torch_optimizer.step()
        for k in params:
            torch.testing.assert_close(ensemble.params[k][p].detach(), params[k].detach(), atol=1e-6, rtol=1e-5)


def test_single_class_policy_reaches_the_test_metrics():
    train, valid, test = _separable(64, seed=0), _separable(24, seed=1), _separable(24, seed=2)
    test["labels"][:, 2] = 0.0  # a tag absent from the test split
    options = dict(layer=1, max_epochs=3, hidden_size=16, batch_size=16)
    skip = train_probe_grid(train, valid, test, [1e-3], [0], **options)[0]["test"]
    compat = train_probe_grid(train, valid, test, [1e-3], [0], single_class="torchmetrics", **options)[0]["test"]
    assert skip["skipped_tags"] == compat["skipped_tags"] == ["tag_2"]
    assert skip["per_tag"]["tag_2"]["roc_auc"] is None and compat["per_tag"]["tag_2"]["roc_auc"] == 0.0
    assert compat["roc_auc"] == pytest.approx(skip["roc_auc"] * 2 / 3, abs=1e-12)
    with pytest.raises(ValueError, match="single_class"):
        ProbeArguments(single_class="zero")


def test_validation_without_evaluable_tag_raises():
    train, test = _separable(32), _separable(8)
    valid = _separable(8)
    valid["labels"][:] = 1.0
    with pytest.raises(ValueError, match="validation"):
        train_probe_grid(train, valid, test, [1e-3], [0], layer=0, max_epochs=1)


def test_argument_errors():
    with pytest.raises(ValueError, match="Unknown probing argument"):
        ProbeArguments().updated(learning_rate=1e-3)
    with pytest.raises(ValueError, match="report_layer"):
        ProbeArguments(report_layer="middle")
    with pytest.raises(ValueError, match="learning_rates"):
        ProbeArguments(learning_rates=[])


def test_evaluate_writes_model_card_tables(first_run, corpus, model, tmp_path):
    _, cache = first_run
    output = evaluate_models({"tiny-A": model, "tiny-B": random_model(tiny_mert_config(), seed=0)}, [str(corpus)],
                             tmp_path / "eval", cache_dir=str(cache), layers=[1, 2], **FAST)
    assert output["cache_hit"] is True  # both models have the weights of the first run
    markdown = (tmp_path / "eval" / "results.md").read_text()
    name = corpus.name
    assert f"| model (ROC-AUC / mAP, %) | {name} | avg |" in markdown
    assert f"| model (micro-F1 / macro-F1, %) | {name} | avg |" in markdown
    row = output["tables"]["roc_auc_map"][0]
    cell = row["datasets"][name]
    assert row["average"] == pytest.approx((cell["roc_auc"] + cell["average_precision"]) / 2)
    assert f"| tiny-A | {100 * cell['roc_auc']:.1f}/{100 * cell['average_precision']:.1f} |" in markdown
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["models"] == ["tiny-A", "tiny-B"]
    assert (tmp_path / "eval" / "layers.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_probes_a_model_only_on_its_own_datasets(first_run, corpus, model, tmp_path):
    _, cache = first_run
    other = tmp_path / "copy"  # a second dataset: the same clips under another folder name
    import shutil

    shutil.copytree(corpus, other)
    models = {"tiny-A": model, "tiny-B": random_model(tiny_mert_config(), seed=0)}
    output = evaluate_models(models, [str(corpus), str(other)], tmp_path / "eval", cache_dir=str(cache), layers=[1],
                             datasets_per_model={"tiny-B": [str(other)]}, **FAST)
    assert set(output["results"]["tiny-A"]) == {corpus.name, "copy"}
    assert set(output["results"]["tiny-B"]) == {"copy"}
    row = next(r for r in output["tables"]["roc_auc_map"] if r["model"] == "tiny-B")
    assert row["datasets"][corpus.name] is None and row["datasets"]["copy"] is not None
    assert "| tiny-B | – |" in (tmp_path / "eval" / "results.md").read_text()
    with pytest.raises(ValueError, match=r"datasets_per_model\['tiny-B'\]: datasets nowhere are not among"):
        evaluate_models(models, [str(corpus)], tmp_path / "bad", datasets_per_model={"tiny-B": ["nowhere"]}, **FAST)
    with pytest.raises(ValueError, match=r"datasets_per_model\['tiny-C'\]: no model of that name"):
        evaluate_models(models, [str(corpus)], tmp_path / "bad", datasets_per_model={"tiny-C": [str(corpus)]},
                        **FAST)


def test_evaluate_command_line(first_run, corpus, model, tmp_path, capsys):
    from hf_culturemert.commands.evaluate import main
    from hf_culturemert.export import save_model_folder

    _, cache = first_run
    folder = save_model_folder(model, tmp_path / "tiny")
    # a dataset given by name under --data_root (as `culturemert evaluate --datasets western --data_root corpus/`)
    code = main(["--models", f"base={folder}", "--datasets", corpus.name, "--data_root", str(corpus.parent),
                 "--output", str(tmp_path / "out"),
                 "--window_seconds", "1", "--learning_rates", "1e-2", "--seeds", "0", "--max_epochs", "5",
                 "--layers", "2", "--no_weighted_sum", "--cache_dir", str(cache), "--no_progress"])
    assert code == 0
    assert "| base |" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "results.json").read_text())["results"]["base"][corpus.name]["cache_hit"]
    with pytest.raises(ValueError, match="--models"):
        main(["--datasets", str(corpus)])


# ------------------------------------------------------------------------------------------------------------
# MERTForAudioTagging with transformers.Trainer
# ------------------------------------------------------------------------------------------------------------


class _Clips(torch.utils.data.Dataset):
    def __init__(self, count=8, seconds=0.4, rate=24000):
        g = torch.Generator().manual_seed(0)
        self.labels = (torch.rand(count, 3, generator=g) < 0.5).float()
        t = torch.arange(int(seconds * rate)) / rate
        self.waves = [0.3 * torch.sin(2 * torch.pi * (220 + 880 * lab[0]) * t) + 0.3 * lab[1] * torch.randn(
            t.shape, generator=g) for lab in self.labels]

    def __len__(self):
        return len(self.waves)

    def __getitem__(self, index):
        return {"input_values": self.waves[index], "labels": self.labels[index]}


def _trainer(model, tmp_path):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path / "trainer"), per_device_train_batch_size=4, max_steps=4,
                             learning_rate=1e-2, report_to=[], save_strategy="no", use_cpu=True, logging_steps=1,
                             disable_tqdm=True)
    return Trainer(model=model, args=args, train_dataset=_Clips())


def test_audio_tagging_trains_with_trainer_and_reloads(tmp_path):
    from hf_culturemert import MERTForAudioTagging

    config = tiny_mert_config(num_labels=3, use_weighted_layer_sum=True)
    model = random_model(config, seed=0, model_class=MERTForAudioTagging).train()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    history = _trainer(model, tmp_path).train()
    assert np.isfinite(history.training_loss)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("mert.encoder") for k in changed) and any(k.startswith("classifier") for k in changed)
    assert "layer_weights" in changed
    model.save_pretrained(tmp_path / "tagger")
    loaded = MERTForAudioTagging.from_pretrained(tmp_path / "tagger").eval()
    clip = _Clips()[0]["input_values"][None]
    torch.testing.assert_close(loaded(clip).logits, model.eval()(clip).logits)


def test_audio_tagging_lora_trains_only_adapters_and_head(tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    from hf_culturemert import MERTForAudioTagging

    config = tiny_mert_config(num_labels=3, use_weighted_layer_sum=True)
    base = random_model(config, seed=0, model_class=MERTForAudioTagging)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                           modules_to_save=["classifier"]))
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in lora.named_parameters()}
    _trainer(lora, tmp_path).train()
    after = dict(lora.named_parameters())
    assert any(not torch.equal(after[n], before[n]) for n in trainable if "lora_B" in n)
    frozen = [n for n in before if n not in trainable]
    assert all(torch.equal(after[n], before[n]) for n in frozen)
    lora.save_pretrained(tmp_path / "adapter")
    clip = _Clips()[1]["input_values"][None]
    expected = lora.eval()(input_values=clip).logits
    fresh = random_model(config, seed=0, model_class=MERTForAudioTagging)
    reloaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter").eval()
    torch.testing.assert_close(reloaded(input_values=clip).logits, expected)


def test_window_features_are_the_same_with_and_without_padding(model):
    """Full windows take the unmasked path; a batch with a short window takes the masked one: same features."""
    from hf_culturemert.probing.features import _forward_windows

    generator = torch.Generator().manual_seed(0)
    full = [torch.randn(8000, generator=generator) for _ in range(2)]
    short = torch.randn(5000, generator=generator)
    unpadded = _forward_windows(model, full, True, torch.device("cpu"), torch.float32)
    padded = _forward_windows(model, full + [short], True, torch.device("cpu"), torch.float32)
    assert unpadded.shape == (2, model.config.num_hidden_layers + 1, model.config.hidden_size)
    torch.testing.assert_close(padded[:2], unpadded, atol=1e-5, rtol=1e-4)
    alone = _forward_windows(model, [short], True, torch.device("cpu"), torch.float32)
    torch.testing.assert_close(padded[2:], alone, atol=1e-5, rtol=1e-4)


def test_a_layer_the_model_does_not_have_is_refused(model, tmp_path):
    tones = write_tone_corpus(tmp_path / "tones")
    with pytest.raises(ValueError, match=r"--layers \[7\]: this model has 3 hidden states"):
        probe_model(model, str(tones), cache_dir=str(tmp_path / "cache"), layers=[7], weighted_sum=False,
                    **{**FAST, "seeds": [0]})
