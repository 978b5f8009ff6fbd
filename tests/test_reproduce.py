"""`culturemert reproduce`: the miniature study end to end at toy scale, resume after an interruption, the dry run."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hf_culturemert.commands.reproduce import main as reproduce_main
from hf_culturemert.reproduce import (
    PICO_BASE_DIR,
    TEACHER_FILE,
    TEACHER_POOL_SEED_OFFSET,
    TRADITIONS,
    ReproduceArguments,
    plan,
    run_reproduce,
)

TOY = dict(traditions=["lyra", "makam"], clips_per_split=8, stage1_steps=2, stage2_steps=2,
           probe_seeds=[0], probe_learning_rates=[1e-3], probe_max_epochs=3, lambda_grid=[0.2, 0.6])


def _weights(folder):
    return load_file(str(next(p for p in sorted(folder.glob("*.safetensors")) if "heads" not in p.name)))


def test_interrupted_study_resumes_and_finishes(tmp_path, monkeypatch, capsys):
    import hf_culturemert.merging as merging

    out = tmp_path / "study"
    shipped = {p.name: p.stat().st_mtime_ns for p in PICO_BASE_DIR.iterdir()}

    def interrupted(*args, **kwargs):
        raise RuntimeError("simulated interruption during the merge")

    monkeypatch.setattr(merging, "sweep_lambda", interrupted)
    with pytest.raises(RuntimeError, match="simulated interruption"):
        run_reproduce(ReproduceArguments(output_dir=str(out), **TOY))
    stages = json.loads((out / "stages.json").read_text())
    assert list(stages) == ["data", "random-init floor (the base's architecture, untrained)",
                            "continual pre-training: lyra",
                            "continual pre-training: makam", "continual pre-training: all (CultureMERT)"]
    finished = {name: entry["result"] for name, entry in stages.items() if name.startswith("continual")}
    stamps = {name: [(p, p.stat().st_mtime_ns) for p in sorted(Path(folder).rglob("*.safetensors"))]
              for name, folder in finished.items()}
    monkeypatch.undo()

    argv = [f"--output_dir={out}"]
    for key, value in TOY.items():
        argv += [f"--{key}"] + ([str(v) for v in value] if isinstance(value, list) else [str(value)])
    assert reproduce_main(argv) == 0
    printed = capsys.readouterr().out

    # finished stages were skipped: their weights were not rewritten
    for name, files in stamps.items():
        assert files and all(path.stat().st_mtime_ns == stamp for path, stamp in files), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_lambda"] in TOY["lambda_grid"]
    assert str((out / "results" / "results.md").resolve()) in printed and "CultureMERT-TA" in printed

    results = json.loads((out / "results" / "results.json").read_text())
    assert set(results["results"]) == {"base", "CultureMERT", "CultureMERT-TA", "single-lyra", "single-makam",
                                       "random-init", "upper-bound"}
    for model, per_dataset in results["results"].items():
        # western measures forgetting; a single-culture model is probed on its own tradition only
        expected = {model[len("single-"):]} if model.startswith("single-") else {"western", "lyra", "makam"}
        assert set(per_dataset) == expected, model
        for result in per_dataset.values():
            assert 0.0 <= result["summary"]["roc_auc"]["mean"] <= 1.0
    assert (out / "results" / "layers.png").stat().st_size > 1000

    # CultureMERT-TA is base + lambda * sum of the single-culture task vectors, with the selected lambda
    models = summary["models"]
    base, merged = _weights(Path(models["base"])), _weights(Path(models["CultureMERT-TA"]))
    singles = [_weights(Path(models[f"single-{t}"])) for t in TOY["traditions"]]
    key = "encoder.layers.0.attention.q_proj.weight"
    expected = base[key] + summary["best_lambda"] * sum(s[key] - base[key] for s in singles)
    torch.testing.assert_close(merged[key], expected, atol=1e-6, rtol=1e-5)

    assert results["results"]["upper-bound"]["lyra"]["num_hidden_states"] == 1
    floor = _weights(out / "models" / "random-init")
    assert set(floor) == set(base) and not torch.equal(floor[key], base[key])

    # the default starts from the shipped pico base and keeps its teacher; the shipped files are left untouched
    assert models["base"] == str(PICO_BASE_DIR)
    for name in ("single-lyra", "CultureMERT"):
        settings = json.loads((Path(models[name]) / "pretraining_complete.json").read_text())
        assert settings["encodec_model"] == f"rvq:{PICO_BASE_DIR / TEACHER_FILE}"
    assert {p.name: p.stat().st_mtime_ns for p in PICO_BASE_DIR.iterdir()} == shipped

    # the probes read only the miniature's tag families (Lyra: its genres; makam: its instruments)
    assert all(t.startswith("genres--") for t in results["results"]["base"]["lyra"]["tags"])
    assert all(t.startswith("instrument--") for t in results["results"]["base"]["makam"]["tags"])

    # real makam recognition (OTMM melodies; makam's continual pre-training heard them too): every reference and
    # every model that saw makam, on held-out recordings, with accuracy beside ROC-AUC
    real = json.loads((out / "results-otmm" / "results.json").read_text())["results"]
    assert set(real) == {"upper-bound", "random-init", "base", "single-makam", "CultureMERT", "CultureMERT-TA"}
    for per_dataset in real.values():
        assert set(per_dataset) == {"otmm"} and len(per_dataset["otmm"]["tags"]) == 20
        assert 0.0 <= per_dataset["otmm"]["summary"]["top1_accuracy"]["mean"] <= 1.0
    # makam's continual pre-training hears the OTMM excerpts in place of the synthetic makam clips (the recipe file)
    heard = {name: json.loads((Path(models[name]) / "pretraining_complete.json").read_text())["train_datasets"]
             for name in ("single-makam", "CultureMERT")}
    assert heard == {"single-makam": ["otmm"], "CultureMERT": ["lyra", "otmm"]}
    assert "cc-by-nc-sa-4.0" in (Path(models["CultureMERT"]) / "README.md").read_text()
    assert "cc-by-nc-sa-4.0" not in (Path(models["single-lyra"]) / "README.md").read_text()

    # every produced model folder is Hub-ready with a rendered card carrying its results
    for name in ("CultureMERT", "CultureMERT-TA", "single-lyra"):
        card = (Path(models[name]) / "README.md").read_text()
        assert "model-index" in card and f"name: {name}" in card
        assert (Path(models[name]) / "config.json").is_file()

    # a third run does nothing but report
    assert reproduce_main(argv) == 0
    assert json.loads((out / "summary.json").read_text()) == summary


def test_retrain_base_only_fits_the_teacher_and_pre_trains_the_pico_base(tmp_path):
    out = tmp_path / "base-run"
    summary = run_reproduce(ReproduceArguments(output_dir=str(out), retrain_base=True, base_only=True, base_steps=3,
                                               clips_per_split=6))
    model = Path(summary["models"]["base"])
    assert model == out / "models" / "base" / "model"
    assert json.loads((out / "stages.json").read_text()).keys() == {
        "base: pico MERT pre-trained on the western corpus"}
    config = json.loads((model / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"]) == (64, 4)
    settings = json.loads((model / "pretraining_complete.json").read_text())
    assert settings["encodec_model"] == f"rvq:{out / 'models' / 'base' / 'teacher' / TEACHER_FILE}"
    assert settings["max_steps"] == 3 and (model / TEACHER_FILE).is_file()
    card = (model / "README.md").read_text()
    assert "pico-base" in card and "3 steps" in card and "| step | loss |" in card
    assert not (out / "data").exists()  # only the base's own western corpus was built
    # the rvq teacher's codebooks are fitted on general audio: the western clips and every tradition's (of a corpus
    # seed no study run evaluates on); the base itself hears western music only
    pool = out / "models" / "base" / "teacher" / "data"
    assert sorted(p.name for p in pool.iterdir() if p.is_dir()) == sorted(TRADITIONS)
    assert json.loads((pool / "makam" / "synthetic.json").read_text())["seed"] == TEACHER_POOL_SEED_OFFSET
    assert settings["train_datasets"] == ["western"]


def test_rvq_western_teacher_is_fitted_on_the_western_clips_only(tmp_path):
    out = tmp_path / "base-run"
    run_reproduce(ReproduceArguments(output_dir=str(out), retrain_base=True, base_only=True, base_steps=1,
                                     clips_per_split=6, teacher="rvq-western"))
    assert (out / "models" / "base" / "model" / TEACHER_FILE).is_file()
    assert not (out / "models" / "base" / "teacher" / "data").exists()


def test_shipped_pico_base_is_complete_and_matches_its_card(tmp_path):
    from hf_culturemert.export import load_model

    model = load_model(PICO_BASE_DIR)
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (64, 4)
    for name in ("model.safetensors", "pretraining_heads.safetensors", TEACHER_FILE, "trainer_state.json",
                 "pretraining_complete.json"):
        assert (PICO_BASE_DIR / name).is_file(), name
    settings = json.loads((PICO_BASE_DIR / "pretraining_complete.json").read_text())
    state = json.loads((PICO_BASE_DIR / "trainer_state.json").read_text())
    assert state["global_step"] == settings["max_steps"] >= 1000
    assert f"{settings['max_steps']} steps" in (PICO_BASE_DIR / "README.md").read_text()
    # no second copy of the remote code ships with it: the package's classes load it, and save_pretrained writes the
    # package's own files wherever a Hub-ready folder is made from it
    assert not list(PICO_BASE_DIR.glob("*.py"))
    model.save_pretrained(tmp_path)
    package = Path(__file__).resolve().parents[1] / "src" / "hf_culturemert" / "models" / "mert"
    for name in ("configuration_mert.py", "modeling_mert.py"):
        assert (tmp_path / name).read_text() == (package / name).read_text(), name


def test_dry_run_plans_the_95m_study_without_downloading():
    args = ReproduceArguments(preset="culturemert-95m", dry_run=True)
    result = plan(args)
    assert result["runs"] == 5 and result["steps"] > 0 and result["gpu_hours"] > 0
    for name in ("lyra", "makam", "hindustani", "carnatic", "fma", "mtat", "m-a-p/MERT-v1-95M"):
        assert name in result["plan"]
    # GPU-hours scale with the assumed utilisation, not with the number of GPUs
    assert plan(ReproduceArguments(preset="culturemert-95m", dry_run=True, mfu=0.125))["gpu_hours"] == \
        pytest.approx(2 * result["gpu_hours"])
    sixteen = plan(ReproduceArguments(preset="culturemert-95m", dry_run=True, gpus=16))
    assert sixteen["gpu_hours"] == pytest.approx(result["gpu_hours"])  # the recipe's global batch is kept
    assert sixteen["wall_hours"] == pytest.approx(result["wall_hours"] / 2)


@pytest.mark.parametrize("bad, message", [
    (dict(preset="huge"), "--preset"), (dict(traditions=["jazz"]), "--traditions"),
    (dict(lambda_grid=[0.0]), "--lambda_grid"), (dict(probe_seeds=[]), "seed"), (dict(base_steps=0), "--base_steps"),
    (dict(clips_per_split=1), "--clips_per_split"), (dict(mfu=25), "--mfu"),
    (dict(window_seconds=-1.0), "--window_seconds"), (dict(cpt_learning_rate=0.0), "--cpt_learning_rate"),
    (dict(teacher="random-encodec"), "needs --retrain_base"),
    (dict(base_only=True), "--base_only needs --retrain_base"),
    (dict(base_model="x", retrain_base=True), "--base_model and --retrain_base exclude each other"),
    (dict(teacher="rvq-western"), "needs --retrain_base"),
    (dict(tag_families=["tag", "instrumnet"]), "--tag_families instrumnet: no such family"),
    (dict(tag_families=["instrument"]), "keeps no tag of western, lyra")])
def test_bad_arguments_name_the_option(bad, message):
    with pytest.raises(ValueError, match=message):
        ReproduceArguments(**bad)


def test_multi_culture_run_sees_each_tradition_as_often_as_its_single_culture_run(tmp_path):
    from hf_culturemert.reproduce import miniature_probe_dtype, miniature_recipe

    args = ReproduceArguments(stage1_steps=30, stage2_steps=300, cpt_learning_rate=2e-3)
    single = miniature_recipe(args, "base", ["lyra"], tmp_path, tmp_path / "single")
    multi = miniature_recipe(args, "base", ["lyra", "makam", "hindustani", "carnatic"], tmp_path, tmp_path / "multi")
    assert [stage["max_steps"] for stage in single["stages"]] == [30, 300]
    assert [stage["max_steps"] for stage in multi["stages"]] == [30, 1200]
    # the real makam melodies (OTMM) stand for makam: alone or beside the other traditions, makam's share of steps
    real = miniature_recipe(args, "base", ["lyra", "otmm", "hindustani", "carnatic"], tmp_path, tmp_path / "real")
    alone = miniature_recipe(args, "base", ["otmm"], tmp_path, tmp_path / "alone")
    assert real["stages"][1]["max_steps"] == 1200 and alone["stages"][1]["max_steps"] == 300
    assert {stage["learning_rate"] for stage in single["stages"] + multi["stages"]} == {2e-3}
    assert miniature_probe_dtype() in ("bfloat16", "float32")


def test_rerun_with_other_settings_refuses_before_touching_the_run(tmp_path):
    from hf_culturemert.reproduce import open_run_folder

    out = tmp_path / "study"
    first = ReproduceArguments(output_dir=str(out), **TOY)
    open_run_folder(first).start()
    open_run_folder(ReproduceArguments(output_dir=str(out), **{**TOY, "seed": 3}))  # no stage finished: anything goes
    (out / "stages.json").write_text("{}")
    open_run_folder(first)  # the same settings resume
    open_run_folder(ReproduceArguments(output_dir=str(out), mfu=0.5, **TOY))
    with pytest.raises(ValueError, match=r"--cpt_learning_rate 0.001 -> 0.002.*another --output_dir"):
        run_reproduce(ReproduceArguments(output_dir=str(out), **{**TOY, "cpt_learning_rate": 2e-3}))
    assert json.loads((out / "arguments.json").read_text())["cpt_learning_rate"] == 1e-3


def test_miniature_base_model_must_be_a_pico_base_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=f"--base_model {tmp_path / 'empty'}: no model.safetensors"):
        ReproduceArguments(output_dir=str(tmp_path / "out"), base_model=str(tmp_path / "empty"), **TOY)



def _numbers(tree, prefix=""):
    """Every number of a results JSON, by its path (strings such as folders differ between two output dirs)."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _numbers(value, f"{prefix}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, value in enumerate(tree) for k, v in _numbers(value, f"{prefix}[{i}]").items()}
    return {prefix: tree} if isinstance(tree, (int, float)) else {}


@pytest.mark.slow
def test_the_same_seed_gives_the_same_numbers(tmp_path):
    """Two miniatures with one seed agree number for number: the corpus, pre-training, merge and probes are seeded.

    (A restructure's "behaviour unchanged" is checked by comparing such runs across commits.)"""
    small = dict(TOY, traditions=["lyra"], clips_per_split=4, stage1_steps=1, stage2_steps=1, probe_max_epochs=2,
                 lambda_grid=[0.2], real_makam=False, seed=5)
    for name in ("a", "b"):
        run_reproduce(ReproduceArguments(output_dir=str(tmp_path / name), **small))
    first, second = (_numbers(json.loads((tmp_path / name / "results" / "results.json").read_text()))
                     for name in ("a", "b"))
    assert len(first) > 100 and any(key.endswith("/roc_auc/mean") for key in first)
    assert first == second
    for model in ("random-init", "culturemert-ta"):  # the untrained floor and the merge too, tensor for tensor
        a, b = (_weights(tmp_path / name / "models" / model) for name in ("a", "b"))
        assert set(a) == set(b) and all(torch.equal(a[key], b[key]) for key in a), model
