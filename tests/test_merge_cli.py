"""``culturemert merge``: flags, YAML recipes (with overrides), the shipped recipe, and the lambda sweep (a
deterministic scorer and a tiny real probing run)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_culturemert import cli
from hf_culturemert.commands.merge import expand_comma_lists, parse_args
from hf_culturemert.merging import MergeRecipe, sweep_lambda
from hf_culturemert.testing import random_model, tiny_mert_config, write_tone_corpus

RECIPES = Path(__file__).resolve().parents[1] / "src" / "hf_culturemert" / "recipes"


def pico_config(**overrides):
    values = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=[8] * 7,
                  num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    values.update(overrides)
    return tiny_mert_config(**values)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("family")
    config = pico_config()
    base = random_model(config, seed=0)
    base.save_pretrained(root / "base", safe_serialization=True)
    state = {k: v.detach().clone() for k, v in base.state_dict().items()}
    models, states = [], []
    for index in range(3):
        generator = torch.Generator().manual_seed(index + 1)
        theta = {k: v + 0.05 * torch.randn(v.shape, generator=generator) for k, v in state.items()}
        folder = root / f"m{index}"
        folder.mkdir()
        config.save_pretrained(folder)
        save_file(theta, str(folder / "model.safetensors"), metadata={"format": "pt"})
        models.append(str(folder))
        states.append(theta)
    return dict(config=config, base=state, base_path=str(root / "base"), models=models, states=states)


def expected(family, weight, count=None):
    states = family["states"][:count]
    return {k: v + weight * sum(s[k] - v for s in states) for k, v in family["base"].items()}


def assert_folder_equals(folder, reference, atol=1e-6):
    merged = load_file(str(Path(folder) / "model.safetensors"))
    assert set(merged) == set(reference)
    for key, value in reference.items():
        torch.testing.assert_close(merged[key], value, atol=atol, rtol=0, msg=key)


def test_command_line_merge_through_the_dispatcher(family, tmp_path, capsys):
    out = tmp_path / "ta"
    code = cli.main(["merge", "--base", family["base_path"], "--models", *family["models"], "--method",
                     "task_arithmetic", "--lambda", "0.2", "--output", str(out), "--progress", "false"])
    assert code == 0
    assert "Merged" in capsys.readouterr().out
    assert_folder_equals(out, expected(family, 0.2))
    # user errors are one line on stderr, exit status 1
    code = cli.main(["merge", "--base", family["base_path"], "--models", *family["models"], "--output", str(out),
                     "--progress", "false"])
    assert code == 1
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    code = cli.main(["merge", "--base", family["base_path"], "--models", family["models"][0], "--method", "ties",
                     "--density", "1.5"])
    assert code == 1 and "`density` must be in (0, 1]" in capsys.readouterr().err
    code = cli.main(["merge", "--base", family["base_path"], "--models", family["models"][0]])
    assert code == 1 and "Pass --output" in capsys.readouterr().err


def test_recipe_file_values_are_defaults_and_flags_override(family, tmp_path):
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(f"base: {family['base_path']}\nmodels: {json.dumps(family['models'])}\n"
                           "method: task_arithmetic\nlambda: 0.2\nkeep_from_base: [cnn]\n")
    recipe, _ = parse_args(["--recipe", str(recipe_file), "--lambda", "0.5", "--output", str(tmp_path / "out")])
    assert recipe.weight == 0.5 and recipe.keep_from_base == ["cnn"] and recipe.models == family["models"]
    assert cli.main(["merge", "--recipe", str(recipe_file), "--lambda", "0.5", "--output", str(tmp_path / "out"),
                     "--progress", "false"]) == 0
    reference = expected(family, 0.5)
    for key in reference:
        if key.startswith("feature_extractor."):
            reference[key] = family["base"][key]
    assert_folder_equals(tmp_path / "out", reference)
    recorded = MergeRecipe.from_yaml(tmp_path / "out" / "merge_recipe.yaml")
    assert recorded.weight == 0.5 and recorded.keep_from_base == ["cnn"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: x\nlambdas: 0.2\n")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['lambdas'\]"):
        MergeRecipe.from_yaml(bad)


def test_comma_lists_and_the_shipped_recipe():
    assert expand_comma_lists(["--lambda-grid", "0.1,0.2", "--weights=1,-1", "--models", "a,b"]) == \
        ["--lambda-grid", "0.1", "0.2", "--weights", "1", "-1", "--models", "a,b"]
    recipe, _ = parse_args(["--recipe", str(RECIPES / "merge-culturemert-ta.yaml"), "--lambda-grid", "0.1,0.2,0.3",
                            "--eval-datasets", "lyra", "makam"])
    assert recipe.method == "task_arithmetic" and recipe.weight == 0.2 and recipe.base == "m-a-p/MERT-v1-95M"
    assert len(recipe.models) == 4 and recipe.heads == "drop"
    assert recipe.lambda_grid == [0.1, 0.2, 0.3] and recipe.eval_datasets == ["lyra", "makam"]


def test_sweep_with_a_deterministic_scorer_picks_the_best_lambda(family, tmp_path):
    """Score = -||theta(candidate) - theta(lambda = 0.3)||^2, so the sweep must pick 0.3 from real merged folders."""
    target = expected(family, 0.3)
    seen = []

    def score_fn(folder):
        merged = load_file(str(Path(folder) / "model.safetensors"))
        seen.append(folder)
        distance = sum(float(((merged[k] - target[k]) ** 2).sum()) for k in target)
        return {"a": -distance, "b": -2 * distance}

    out = tmp_path / "swept"
    recipe = MergeRecipe(base=family["base_path"], models=family["models"], output=str(out), progress=False)
    result = sweep_lambda(recipe, grid=[0.1, 0.2, 0.3, 0.5], score_fn=score_fn)
    assert result.best_lambda == 0.3 and result.best_weight == 0.3 and len(seen) == 4
    assert result.output == out.resolve() and max(result.scores, key=result.scores.get) == 0.3
    assert [row["lambda"] for row in result.rows] == [0.1, 0.2, 0.3, 0.5]
    assert result.rows[2]["criterion"] == pytest.approx(0.0, abs=1e-8)
    assert_folder_equals(out, target)
    for name in ("lambda_sweep.md", "lambda_sweep.json", "lambda_sweep.png", "README.md", "merge_recipe.yaml"):
        assert (out / name).is_file(), name
    assert (out / "lambda_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = json.loads((out / "lambda_sweep.json").read_text())
    assert table["best_lambda"] == 0.3 and len(table["rows"]) == 4
    assert "| 0.3 **(selected)** |" in (out / "lambda_sweep.md").read_text()
    card = (out / "README.md").read_text()
    assert "## Lambda selection" in card and "lambda = 0.3" in card
    assert MergeRecipe.from_yaml(out / "merge_recipe.yaml").weight == 0.3
    assert not (tmp_path / "swept-lambda-sweep").exists()  # candidates are cleaned up
    with pytest.raises(ValueError, match="--eval_datasets"):
        sweep_lambda(recipe.replace(output=str(tmp_path / "x")), grid=[0.1])


def test_merged_folder_follows_the_umask(family, tmp_path):
    import os
    import stat

    from hf_culturemert.merging import merge_models

    umask = os.umask(0o027)
    try:
        merge_models(family["base_path"], family["models"], weight=0.2, output=tmp_path / "merged", progress=False)
    finally:
        os.umask(umask)
    files = [p for p in (tmp_path / "merged").iterdir() if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o640 for p in files), [(p.name, oct(p.stat().st_mode)) for p in files]


def test_sweep_never_deletes_a_user_folder_named_like_its_candidates(family, tmp_path):
    """Issue 17.1: an existing ``<output>-lambda-sweep/`` the sweep did not create is refused, and even with
    --overwrite only the candidate folders the sweep made are removed afterwards."""
    user = tmp_path / "sweep_out-lambda-sweep"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    recipe = MergeRecipe(base=family["base_path"], models=family["models"], output=str(tmp_path / "sweep_out"),
                         progress=False)
    calls = []
    (user / "lambda-0.1").mkdir()  # the user's folder has the name of a candidate: refused before any merge
    with pytest.raises(ValueError, match="--overwrite") as refused:
        sweep_lambda(recipe, grid=[0.1, 0.2], score_fn=lambda folder: calls.append(folder) or 1.0)
    assert "--overwrite" in str(refused.value) and str(user / "lambda-0.1") in str(refused.value)
    assert calls == [] and (user / "notes.txt").read_text() == "mine"
    (user / "lambda-0.1").rmdir()
    result = sweep_lambda(recipe, grid=[0.1, 0.2], score_fn=lambda folder: calls.append(folder) or 1.0)
    assert result.best_lambda == 0.1 and len(calls) == 2
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]  # the candidates went, the user's file stayed
    # a fresh output: the candidates folder is created, used and removed entirely
    recipe2 = recipe.replace(output=str(tmp_path / "fresh"))
    sweep_lambda(recipe2, grid=[0.1], score_fn=lambda folder: 1.0)
    assert not (tmp_path / "fresh-lambda-sweep").exists()


@pytest.mark.slow
def test_command_line_sweep_with_the_real_probing_scorer(family, tmp_path, monkeypatch, capsys):
    """--lambda-grid with the default scorer: MARBLE probes (hf_culturemert.probing) on a validation split."""
    monkeypatch.setenv("CULTUREMERT_CACHE", str(tmp_path / "cache"))
    write_tone_corpus(tmp_path / "data" / "tones", counts=(12, 8, 8), seconds=1.0, mix_all=False)
    out = tmp_path / "out"
    code = cli.main(["merge", "--base", family["base_path"], "--models", *family["models"][:2], "--lambda-grid",
                     "0.0,1.0", "--eval-datasets", "tones", "--eval-data-root", str(tmp_path / "data"),
                     "--eval-window-seconds", "1", "--eval-seeds", "0", "--eval-max-epochs", "3", "--output",
                     str(out), "--progress", "false"])
    assert code == 0, capsys.readouterr().err
    assert "Selected lambda" in capsys.readouterr().out
    sweep = json.loads((out / "lambda_sweep.json").read_text())
    scores = [row["scores"]["tones"] for row in sweep["rows"]]
    assert [row["lambda"] for row in sweep["rows"]] == [0.0, 1.0]
    assert all(0.0 <= s <= 1.0 for s in scores) and "validation ROC-AUC" in sweep["criterion"]
    assert sweep["best_lambda"] == [0.0, 1.0][int(np.argmax(scores))]
    assert_folder_equals(out, expected(family, sweep["best_lambda"], count=2))
    assert "tones" in (out / "lambda_sweep.md").read_text()
