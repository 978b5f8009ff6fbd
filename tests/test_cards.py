"""Model and dataset cards: YAML parsed by huggingface_hub, model-index from results, a usage snippet that runs."""

import json
import re
import subprocess
import sys

import pytest
import soundfile as sf
import yaml
from huggingface_hub import DatasetCard, ModelCard

from hf_culturemert.cards import load_results, render_dataset_card, render_model_card
from hf_culturemert.testing import sine_wave

RESULTS = {
    "num_seeds": 5,
    "results": {
        "MERT-v1-95M": {"makam": {"roc_auc": 0.832, "average_precision": 0.533, "micro_f1": 0.41, "macro_f1": 0.22},
                        "lyra": {"roc_auc": 0.857, "average_precision": 0.565}},
        "CultureMERT-95M": {"makam": {"roc_auc": {"mean": 0.896, "std": 0.004}, "average_precision": 0.606,
                                      "micro_f1": 0.47, "macro_f1": 0.31},
                            "lyra": {"summary": {"roc_auc": {"mean": 0.869, "std": 0.01, "values": [0.86, 0.878]},
                                                 "average_precision": {"mean": 0.567, "std": 0.0}}}},
    },
}


def _front_matter(text):
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.DOTALL)
    assert match, "card has no YAML header"
    return yaml.safe_load(match.group(1))


def test_continual_card_yaml_and_model_index(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS))
    card = render_model_card("continual", repo_id="ntua-slp/CultureMERT-95M", results=str(path),
                             data_hours={"Lyra": 50, "Turkish makam": 200},
                             stages=[{"name": "1", "steps": 1000, "learning_rate": 1e-4, "western_fraction": "20%"}])
    header = _front_matter(str(card))
    assert header["license"] == "cc-by-nc-4.0" and header["base_model"] == "m-a-p/MERT-v1-95M"
    assert header["library_name"] == "transformers"
    reloaded = ModelCard(str(card))  # what the Hub parses
    data = reloaded.data
    assert data.base_model == "m-a-p/MERT-v1-95M" and data.license == "cc-by-nc-4.0"
    assert {d.split("/")[-1] for d in data.datasets} == {"lyra", "turkish-makam", "hindustani", "carnatic"}
    results = {(r.dataset_name, r.metric_name): r.metric_value for r in data.eval_results}
    assert data.model_name == "CultureMERT-95M"
    assert results[("Turkish makam (CompMusic Dunya)", "ROC-AUC (macro)")] == pytest.approx(89.6)
    assert results[("Turkish makam (CompMusic Dunya)", "macro-F1")] == pytest.approx(31.0)
    assert results[("Lyra (Greek traditional and folk music)", "mAP (macro)")] == pytest.approx(56.7)
    assert len(data.eval_results) == 6
    body = reloaded.text
    assert "| **CultureMERT-95M** | 89.6/60.6 | 86.9/56.7 |" in body  # makam, lyra in the paper's order
    assert "| MERT-v1-95M | 83.2/53.3 | 85.7/56.5 |" in body
    assert "| Turkish makam | 200 |" in body and "| 1 | 1000 | 0.0001 | 20% | all |" in body
    assert "arXiv:2506.17818" in body and "2306.00107" in body  # CultureMERT + MERT BibTeX
    assert "trust_remote_code=True" in body and "AutoFeatureExtractor" in body


def test_merged_card(tmp_path):
    card = render_model_card("merged", repo_id="org/CultureMERT-TA-95M", scaling=0.2,
                             merged_models=[f"org/mert-{c}" for c in ("lyra", "makam", "hindustani", "carnatic")],
                             results=RESULTS, results_model="CultureMERT-95M")
    data = ModelCard(str(card)).data
    assert "merge" in data.tags and data.license == "cc-by-nc-4.0"
    assert "lambda = 0.2" in card.text and "org/mert-carnatic" in card.text
    assert "ilharco2023editing" in card.text and data.eval_results
    card.save(tmp_path / "README.md")
    assert ModelCard.load(tmp_path / "README.md").data.base_model == "m-a-p/MERT-v1-95M"


def test_card_argument_errors():
    with pytest.raises(ValueError, match="Unknown model card kind"):
        render_model_card("distilled", repo_id="a/b")
    with pytest.raises(ValueError, match="repo_id"):
        render_model_card("continual")
    with pytest.raises(ValueError, match="merged_models"):
        render_model_card("merged", repo_id="a/b")
    with pytest.raises(ValueError, match="no entry for this model"):
        render_model_card("continual", repo_id="a/b", results=RESULTS)
    with pytest.raises(ValueError, match="unknown keys"):
        render_model_card("continual", repo_id="a/b", licence="mit")
    with pytest.raises(ValueError, match="'results'"):
        load_results({"MERT": {}})
    with pytest.raises(ValueError, match="mean"):
        load_results({"results": {"m": {"d": {"roc_auc": {"std": 1}}}}})
    assert load_results({"results": {"m": {"d": {"roc_auc": 0.5, "other": 3}}}})["results"] == \
        {"m": {"d": {"roc_auc": (0.5, None)}}}


def test_card_without_results_says_so():
    card = render_model_card("continual", repo_id="org/m", datasets=["org/d"], license="apache-2.0")
    data = ModelCard(str(card)).data
    assert data.eval_results is None and data.datasets == ["org/d"] and data.license == "apache-2.0"
    assert "No evaluation results" in card.text and "non-commercial" not in card.text


@pytest.mark.slow
def test_usage_snippet_runs_on_a_saved_folder(tmp_path):
    """The card's usage code, as published, runs in a fresh Python on current transformers (remote code path)."""
    from hf_culturemert.export import save_model_folder
    from hf_culturemert.testing import random_model, tiny_mert_config

    folder = save_model_folder(random_model(tiny_mert_config()), tmp_path / "repo")
    card = render_model_card("continual", repo_id="org/tiny", hidden_size=32, num_layers=2)
    code = re.search(r"```python\n(.*?)```", card.text, flags=re.DOTALL).group(1)
    assert '"org/tiny"' in code
    code = code.replace('"org/tiny"', repr(str(folder)))
    sf.write(tmp_path / "clip.wav", sine_wave(2.0, 440.0, 44100, seed=0), 44100)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    frames = (48000 - 400) // 320 + 1
    assert f"torch.Size([3, {frames}, 32]) torch.Size([3, 32])" in result.stdout


def test_dataset_card_keeps_folder_configs(tmp_path):
    from datasets import load_dataset

    from hf_culturemert.data import build_synthetic_corpus

    folder = build_synthetic_corpus(tmp_path, clips_per_split={"train": 2, "validation": 1, "test": 1},
                                    clip_seconds=1.0, traditions=["makam"], num_proc=1, progress=False)["makam"]
    card = render_dataset_card("synthetic-makam", repo_id="org/synthetic-makam", folder=folder)
    data = DatasetCard(str(card)).data
    assert data.license == "apache-2.0" and data.task_categories == ["audio-classification"]
    assert data.configs[0]["data_files"][0] == {"split": "train", "path": "data/train-*"}
    assert data.dataset_info["splits"]
    assert 'load_dataset("org/synthetic-makam"' in card.text and "`makam--Hicaz`" in card.text
    assert "| train | 2 |" in card.text and "`tonic_hz`" in card.text
    card.save(folder / "README.md")
    ds = load_dataset(str(folder))
    assert {name: len(split) for name, split in ds.items()} == {"train": 2, "validation": 1, "test": 1}


def test_dataset_cards_for_the_real_datasets():
    for name, license_ in (("lyra", "cc-by-nc-sa-4.0"), ("makam", "other"), ("carnatic", "other")):
        card = render_dataset_card(name)
        header = _front_matter(str(card))
        assert header["license"] == license_
        assert [f["split"] for f in header["configs"][0]["data_files"]] == ["train", "validation", "test"]
        assert "kanatas2025culturemert" in card.text
    assert "Dunya" in render_dataset_card("makam").text
    with pytest.raises(ValueError, match="Unknown dataset"):
        render_dataset_card("not-a-dataset")


def test_every_card_writer_renders_through_the_templates():
    """The pre-training card comes from model_cards/pretrained.md: a valid header, the base model, the summary."""
    from hf_culturemert.cards import templates_dir
    from hf_culturemert.pretraining.modeling import default_card

    text = default_card("my-run", "m-a-p/MERT-v1-95M", {"max_steps": 7}, repo="org/my-run")
    header = _front_matter(text)
    assert header["base_model"] == "m-a-p/MERT-v1-95M" and "self-supervised" in header["tags"]
    assert text.startswith("---\n") and "# my-run" in text and '"max_steps": 7' in text
    assert 'from_pretrained("org/my-run"' in text and "{{" not in text
    assert "base_model" not in _front_matter(default_card("local", str(templates_dir())))  # a local folder
    for name in ("pretrained.md", "merge_output.md", "pico_base.md", "transfer_tagger.md"):
        assert (templates_dir() / name).is_file()
