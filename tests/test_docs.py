"""The documentation site builds with strict link checking, its results pages come from the benchmarks' JSON, and the
README stays a one-screen entry point whose links all lead somewhere.

CI runs pytest only, so building the site here is how CI checks it.
"""

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_results():
    return _module(ROOT / "docs" / "gen_results.py", "gen_results")


@pytest.fixture(scope="module")
def results_module():
    return _module(ROOT / "benchmarks" / "_results.py", "_results")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stderr[-4000:]}"
    return out


def test_site_builds_strict_with_every_guide_and_reference(site):
    for page in ("guides/models", "guides/data", "guides/pretraining", "guides/merging", "guides/evaluation",
                 "guides/transfer", "guides/inference", "guides/outputs", "guides/space", "guides/publishing",
                 "studies/miniature", "studies/real-presets", "architecture", "reference/models", "results"):
        assert (site / page / "index.html").is_file(), page
    # mkdocstrings rendered the API from the docstrings, not an empty page
    reference = (site / "reference" / "features" / "index.html").read_text(encoding="utf-8")
    assert "extract_features" in reference and "window_seconds" in reference


def test_every_benchmark_json_has_a_generated_page(site):
    jsons = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert jsons, "benchmarks/results/ holds no JSON: the results pages would be empty"
    index = (site / "results" / "index.html").read_text(encoding="utf-8")
    for path in jsons:
        payload = json.loads(path.read_text(encoding="utf-8"))
        page = site / "results" / path.stem / "index.html"
        assert page.is_file(), f"no results page for {path.name}"
        page_html = page.read_text(encoding="utf-8")
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page_html)).split())
        for table in payload["tables"]:
            assert " ".join(table["title"].replace("`", "").split()) in text, (path.name, table["title"])
        # every row became a table row (one header row per table)
        assert page_html.count("<tr>") == sum(len(t["rows"]) + 1 for t in payload["tables"]), path.name
        assert f'href="{path.stem}/"' in index or f'href="./{path.stem}/"' in index, path.name


def test_results_pages_regenerate_from_the_json(tmp_path, gen_results, results_module, monkeypatch):
    """A benchmark's save() writes JSON; the generator renders exactly its cells, and a rerun changes the page."""
    monkeypatch.setattr(results_module, "RESULTS_DIR", tmp_path)
    text = ("## Run\n\nWall time 8.3 min\n\n### Speed (audio-s/s)\n\n| engine | batch 1 |\n|---|---|\n"
            "| eager | 1.96 |\n| fused a\\|b | 2.71 |\n\nfused is 1.38x eager\n\n### Checks\n\n- PASS: under 10 min\n")
    tables, notes = results_module.tables_from_markdown(text)
    assert notes == ["Wall time 8.3 min"]
    assert tables[0]["columns"] == ["engine", "batch 1"]
    assert tables[0]["rows"] == [["eager", "1.96"], ["fused a|b", "2.71"]]
    assert tables[0]["notes"] == ["fused is 1.38x eager"]
    assert tables[1] == {"title": "Checks", "columns": ["Checks"], "rows": [["PASS: under 10 min"]]}
    results_module.save("speed", tables, notes=notes, command="python benchmarks/speed.py", title="Speed")

    pages = gen_results.render_all(tmp_path)
    assert set(pages) == {"results/index.md", "results/speed.md"}
    page = pages["results/speed.md"]
    assert page.startswith("# Speed\n")
    assert "| eager | 1.96 |" in page and "| fused a\\|b | 2.71 |" in page  # the pipe stays inside its cell
    assert "`python benchmarks/speed.py`" in page and "Wall time 8.3 min" in page
    assert "[Speed](speed.md)" in pages["results/index.md"]

    tables[0]["rows"][0][1] = "2.05"
    results_module.save("speed", tables, notes=notes, title="Speed")
    assert "| eager | 2.05 |" in gen_results.render_all(tmp_path)["results/speed.md"]

    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json"):
        gen_results.render_all(tmp_path)


def test_save_refuses_a_row_that_does_not_fit_its_columns(tmp_path, results_module, monkeypatch):
    monkeypatch.setattr(results_module, "RESULTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        results_module.save("bad", [{"title": "t", "columns": ["a", "b", "c"], "rows": [["1", "2"]]}])
    assert not list(tmp_path.iterdir())


def test_readme_is_one_screen_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 210, "the README is the entry point: details belong in docs/"
    for needed in ("pip install", "bash scripts/bootstrap.sh && .venv/bin/culturemert reproduce",
                   "bash scripts/bootstrap.sh --test && .venv/bin/python -m pytest -q", "## Citation", "## Licences",
                   "2306.00107", "2506.17818", "2307.09795", "Apache-2.0", "CC BY-NC"):
        assert needed in readme, needed
    links = re.findall(r"\]\(((?!https?://|#)[^)\s]+)\)", readme)
    assert links
    for link in links:
        assert (ROOT / link.split("#")[0]).exists(), f"README links to {link}, which does not exist"
    # every guide is one click away
    for guide in sorted((ROOT / "docs" / "guides").glob("*.md")):
        assert f"docs/guides/{guide.name}" in readme, f"the README does not link {guide.name}"


def test_readme_measured_tables_are_the_rendering_of_the_json(gen_results):
    """The README's result blocks are docs/gen_results.py's rendering of benchmarks/results, never typed by hand."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    payloads = gen_results.load_results()
    for name in gen_results.README_BLOCKS:
        assert readme.count(f"<!-- results:{name} -->") == 1, name
    assert gen_results.update_readme(readme, payloads) == readme, (
        "the README's measured tables differ from benchmarks/results/*.json: run python docs/gen_results.py --readme")

    # the blocks follow the JSON: a changed cell, a table that appears, a table that is missing
    extract = next(p for p in payloads if p["name"] == "extract")
    changed = json.loads(json.dumps(extract))
    table = next(t for t in changed["tables"] if t["title"].startswith(gen_results.README_BLOCKS["extract-engines"][1]))
    table["rows"][0][1] = "999.9"
    otmm = {"name": "reproduce", "date": "2026-12-07", "machine": {"cpu": "AMD EPYC", "cores": 2},
            "tables": [{"title": "Real makam recognition (OTMM; mean +- std over 3 seeds)",
                        "columns": ["model", "accuracy", "ROC-AUC"], "rows": [["base", "41.0 +- 2.0", "80.1 +- 1.0"]]}]}
    updated = gen_results.update_readme(readme, [changed, otmm])
    assert "| 999.9 |" in updated and "| base | 41.0 +- 2.0 | 80.1 +- 1.0 |" in updated
    assert "**Real makam recognition (OTMM; mean +- std over 3 seeds)**" in updated
    missing = gen_results.update_readme(readme, [changed])
    block = missing[missing.index("<!-- results:real-makam -->"):]
    assert "not measured yet" in block.split("<!-- /results -->")[0]
    assert "(benchmarks/results/reproduce.json)" in block
    with pytest.raises(ValueError, match="results:nonsense"):
        gen_results.update_readme("<!-- results:nonsense -->\n<!-- /results -->", payloads)


def test_readme_quick_start_runs_as_written(tmp_path, monkeypatch):
    """The README's quick start, executed with a tiny random model standing in for the Hub checkpoint."""
    import soundfile as sf

    import hf_culturemert.export
    from hf_culturemert.testing import random_model, sine_wave, tiny_mert_config

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quick start"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'load_model("culturemert-95m")' in snippet and "extract_features(" in snippet
    audio = tmp_path / "concert.wav"
    sf.write(audio, sine_wave(3.0, seed=0), 24000)
    config = tiny_mert_config()
    loaded = []
    monkeypatch.setattr(hf_culturemert.export, "load_model",
                        lambda name, **kwargs: loaded.append(name) or random_model(config))
    namespace = {}
    exec(compile(snippet.replace("concert.mp3", str(audio)), "README.md", "exec"), namespace)
    assert loaded == ["culturemert-95m"]
    assert tuple(namespace["feats"].pooled.shape) == (config.num_hidden_layers + 1, config.hidden_size)
