"""Hub-native saving: transformers' own ``save_pretrained``, ``Trainer`` checkpoints, ``trainer.save_model()`` and the
folder ``push_to_hub`` stages all load in a Python that cannot import hf_culturemert; taggers are multi-label with
their tag names, in ``pipeline("audio-classification")`` too."""

import json
import logging
import shutil
import subprocess
import sys
import textwrap
import types

import pytest
import torch

from hf_culturemert import MERTForAudioTagging, MERTForPreTraining, MERTModel
from hf_culturemert.models.mert import configuration_mert
from hf_culturemert.models.mert.configuration_mert import AUTO_MAP
from hf_culturemert.export import save_model_folder, tagging_model
from hf_culturemert.testing import random_model, sine_wave, tiny_mert_config

pytestmark = pytest.mark.usefixtures("single_thread")

CODE_FILES = {"configuration_mert.py", "modeling_mert.py"}
PUBLISHED_AUTO_MAP = {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"}
TAGS = ["instrument--Tabla", "instrument--Sitar", "raga--Yaman", "tala--Teental", "form--Khayal", "genres--Folk"]

LOADER = textwrap.dedent(
    """
    import json, sys
    sys.modules["hf_culturemert"] = None  # the package must not be importable here
    import torch
    import transformers
    torch.set_num_threads(1)  # as the test process: bit-identical outputs
    jobs = json.loads(open(sys.argv[1]).read())
    report = []
    for job in jobs:
        auto = getattr(transformers, job["auto_class"])
        model = auto.from_pretrained(job["folder"], trust_remote_code=True).eval()
        extractor = transformers.AutoFeatureExtractor.from_pretrained(job["folder"])
        x = torch.load(job["input"], weights_only=True)
        with torch.no_grad():
            out = model(x)
        torch.save(out.logits if hasattr(out, "logits") else out[0], job["output"])
        report.append({"module": type(model).__module__, "class": type(model).__name__,
                       "extractor": type(extractor).__name__, "id2label": model.config.id2label,
                       "problem_type": model.config.problem_type})
    print(json.dumps(report))
    """
)


def load_without_package(tmp_path, jobs):
    """Load each ``(folder, auto_class)`` with ``trust_remote_code`` in a fresh Python where hf_culturemert cannot be
    imported; returns ``(input, [(report, output)])`` for one shared input batch."""
    x = torch.randn(2, 6000)
    torch.save(x, tmp_path / "x.pt")
    spec = [{"folder": str(folder), "auto_class": auto_class, "input": str(tmp_path / "x.pt"),
             "output": str(tmp_path / f"out{i}.pt")} for i, (folder, auto_class) in enumerate(jobs)]
    (tmp_path / "jobs.json").write_text(json.dumps(spec))
    (tmp_path / "loader.py").write_text(LOADER)
    result = subprocess.run([sys.executable, str(tmp_path / "loader.py"), str(tmp_path / "jobs.json")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = json.loads(result.stdout.strip().splitlines()[-1])
    return x, [(report, torch.load(job["output"], weights_only=True)) for report, job in zip(reports, spec)]


def _reference(model, x):
    with torch.no_grad():
        out = model.eval()(x)
    return out.logits if hasattr(out, "logits") else out[0]


TRAINER_STATE = {"optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin", "trainer_state.json"}


def _assert_hub_folder(folder, trainer_checkpoint=False):
    names = {p.name for p in folder.iterdir()} - (TRAINER_STATE if trainer_checkpoint else set())
    assert CODE_FILES | {"config.json", "model.safetensors", "preprocessor_config.json"} <= names, names
    assert not any(name.endswith((".bin", ".pt", ".pth", ".pkl")) for name in names), names
    assert json.loads((folder / "config.json").read_text())["auto_map"] == AUTO_MAP


def test_plain_save_pretrained_of_every_class_is_self_contained(tmp_path):
    config = tiny_mert_config()
    models = {"AutoModel": random_model(config, seed=1),
              "AutoModelForPreTraining": random_model(config, seed=2, model_class=MERTForPreTraining),
              "AutoModelForAudioClassification": tagging_model(random_model(config, seed=3), TAGS)}
    for auto_class, model in models.items():
        model.save_pretrained(tmp_path / auto_class)  # transformers' own method, nothing of ours around it
        _assert_hub_folder(tmp_path / auto_class)
    x, loaded = load_without_package(tmp_path, [(tmp_path / name, name) for name in models])
    for (report, output), (auto_class, model) in zip(loaded, models.items()):
        assert report["module"].startswith("transformers_modules"), report
        assert report["class"] == type(model).__name__ and report["extractor"] == "Wav2Vec2FeatureExtractor"
        torch.testing.assert_close(output, _reference(model, x), rtol=0, atol=0)
    tagger_report = loaded[2][0]
    assert tagger_report["problem_type"] == "multi_label_classification"
    assert list(tagger_report["id2label"].values()) == TAGS


def _published_layout(folder, model):
    """A folder as the published MERT repositories have it: config auto_map -> configuration_MERT / modeling_MERT."""
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = dict(PUBLISHED_AUTO_MAP)
    (folder / "config.json").write_text(json.dumps(config))
    for name in CODE_FILES:
        (folder / name).unlink()
    return folder


def test_published_checkpoint_is_resaved_with_its_stale_auto_map_replaced(tmp_path, caplog, monkeypatch):
    from transformers import AutoModel

    monkeypatch.setattr(configuration_mert, "_replaced_auto_map_logged", False)
    published = _published_layout(tmp_path / "published", random_model(seed=4))
    with caplog.at_level(logging.INFO, logger="hf_culturemert.models.mert.configuration_mert"):
        backbone = AutoModel.from_pretrained(published, trust_remote_code=True)
        tagger = MERTForAudioTagging.from_pretrained(published, num_labels=len(TAGS),
                                                     id2label=dict(enumerate(TAGS)))
    assert type(backbone) is MERTModel  # the package's classes are used: the published code is broken
    notes = [r for r in caplog.records if "configuration_MERT.MERTConfig" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.INFO, [r.getMessage() for r in caplog.records]
    assert "registers them" in notes[0].getMessage()  # says why
    backbone.save_pretrained(tmp_path / "backbone")
    tagger.save_pretrained(tmp_path / "tagger")
    for name in ("backbone", "tagger"):
        _assert_hub_folder(tmp_path / name)
    x, loaded = load_without_package(tmp_path, [(tmp_path / "backbone", "AutoModel"),
                                                (tmp_path / "tagger", "AutoModelForAudioClassification")])
    torch.testing.assert_close(loaded[0][1], _reference(backbone, x), rtol=0, atol=0)
    torch.testing.assert_close(loaded[1][1], _reference(tagger, x), rtol=0, atol=0)
    assert list(loaded[1][0]["id2label"].values()) == TAGS


class _Clips(torch.utils.data.Dataset):
    def __init__(self, count=4, samples=4000, num_tags=len(TAGS)):
        generator = torch.Generator().manual_seed(0)
        self.waves = torch.randn(count, samples, generator=generator)
        self.labels = (torch.rand(count, num_tags, generator=generator) > 0.5).float()

    def __len__(self):
        return len(self.waves)

    def __getitem__(self, i):
        return {"input_values": self.waves[i], "labels": self.labels[i]}


def test_trainer_checkpoint_and_save_model_load_without_the_package(tmp_path):
    from transformers import Trainer, TrainingArguments

    tagger = tagging_model(random_model(seed=5), TAGS)
    args = TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=2, save_steps=2, per_device_train_batch_size=2,
                             learning_rate=1e-3, report_to=[], use_cpu=True, logging_steps=1, disable_tqdm=True)
    trainer = Trainer(model=tagger, args=args, train_dataset=_Clips())
    trainer.train()
    trainer.save_model(str(tmp_path / "final"))
    checkpoint = tmp_path / "run" / "checkpoint-2"
    for folder in (checkpoint, tmp_path / "final"):  # + Trainer's own state files, which from_pretrained never reads
        _assert_hub_folder(folder, trainer_checkpoint=True)
    x, loaded = load_without_package(tmp_path, [(checkpoint, "AutoModelForAudioClassification"),
                                                (tmp_path / "final", "AutoModelForAudioClassification")])
    reference = _reference(trainer.model, x)
    for report, output in loaded:
        torch.testing.assert_close(output, reference, rtol=0, atol=0)
        assert list(report["id2label"].values()) == TAGS


def test_push_to_hub_stages_a_self_contained_folder(tmp_path, monkeypatch):
    """What ``push_to_hub`` would upload, caught before any network call."""
    import transformers.utils.hub as hub
    from huggingface_hub import ModelCard

    staged = tmp_path / "staged"
    monkeypatch.setattr(hub, "hf_api", lambda: types.SimpleNamespace(
        create_repo=lambda repo_id, **kwargs: types.SimpleNamespace(repo_id=repo_id)))
    monkeypatch.setattr(hub, "create_and_tag_model_card", lambda repo_id, tags=None, **kwargs: ModelCard("# card"))
    tagger = tagging_model(random_model(seed=6), TAGS)

    def capture(working_dir, repo_id, **kwargs):
        shutil.copytree(working_dir, staged)
        return repo_id

    monkeypatch.setattr(tagger, "_upload_modified_files", capture)
    assert tagger.push_to_hub("me/tagger") == "me/tagger"
    _assert_hub_folder(staged)
    x, loaded = load_without_package(tmp_path, [(staged, "AutoModelForAudioClassification")])
    torch.testing.assert_close(loaded[0][1], _reference(tagger, x), rtol=0, atol=0)


PIPELINE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["hf_culturemert"] = None
    import torch, torchaudio
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline
    torch.set_num_threads(1)
    folder = sys.argv[1]
    wave24, wave16 = (torch.load(p, weights_only=True).numpy() for p in sys.argv[2:4])
    tagger = pipeline("audio-classification", model=folder, trust_remote_code=True)
    model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    def direct(wave):
        with torch.no_grad():
            logits = model(**extractor(wave, sampling_rate=24000, return_tensors="pt")).logits[0]
        return dict(zip([model.config.id2label[i] for i in range(len(logits))], torch.sigmoid(logits).tolist()))
    resampled = torchaudio.functional.resample(torch.from_numpy(wave16), 16000, 24000).numpy()
    print(json.dumps({
        "all": tagger(wave24, top_k=None), "top3": tagger(wave24, top_k=3),
        "at16k": tagger({"raw": wave16, "sampling_rate": 16000}, top_k=None),
        "direct24": direct(wave24), "direct16": direct(resampled)}))
    """
)


def test_pipeline_returns_tag_names_with_independent_sigmoid_scores(tmp_path):
    tagger = tagging_model(random_model(seed=7), TAGS)
    with torch.no_grad():  # a head with clearly different scores per tag
        tagger.classifier[-1].bias.copy_(torch.linspace(-3, 3, len(TAGS)))
    folder = save_model_folder(tagger, tmp_path / "tagger")
    torch.save(torch.as_tensor(sine_wave(1.0, 330.0, 24000)), tmp_path / "w24.pt")
    torch.save(torch.as_tensor(sine_wave(1.0, 330.0, 16000)), tmp_path / "w16.pt")
    (tmp_path / "pipe.py").write_text(PIPELINE_SCRIPT)
    result = subprocess.run([sys.executable, str(tmp_path / "pipe.py"), str(folder), str(tmp_path / "w24.pt"),
                             str(tmp_path / "w16.pt")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    everything = {row["label"]: row["score"] for row in out["all"]}
    assert set(everything) == set(TAGS)
    assert sum(everything.values()) > 1.5  # independent sigmoids, not a softmax summing to 1
    for tag, score in out["direct24"].items():
        assert everything[tag] == pytest.approx(score, abs=1e-6)
    assert len(out["top3"]) == 3 and out["top3"] == out["all"][:3]
    assert [row["score"] for row in out["all"]] == sorted(everything.values(), reverse=True)
    resampled = {row["label"]: row["score"] for row in out["at16k"]}
    for tag, score in out["direct16"].items():
        assert resampled[tag] == pytest.approx(score, abs=1e-5)


def test_tagging_model_and_tagger_config_errors():
    backbone = random_model(seed=8)
    with pytest.raises(ValueError, match="`tags` is empty"):
        tagging_model(backbone, [])
    with pytest.raises(ValueError, match="duplicate names"):
        tagging_model(backbone, ["a", "b", "a"])
    with pytest.raises(ValueError, match="problem_type"):
        MERTForAudioTagging(tiny_mert_config(num_labels=3, problem_type="single_label_classification"))
    tagger = tagging_model(backbone, ["a", "b"])
    assert tagger.config.label2id == {"a": 0, "b": 1} and tagger.config.num_labels == 2
    for name, tensor in backbone.state_dict().items():
        torch.testing.assert_close(tagger.mert.state_dict()[name], tensor, rtol=0, atol=0)
    plain = MERTForAudioTagging(tiny_mert_config(num_labels=3))
    assert plain.config.problem_type == "multi_label_classification"  # the default, so pipelines use sigmoids
