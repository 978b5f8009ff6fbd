"""The demo as a user meets it: served on 127.0.0.1, driven in headless Chromium (Playwright) and via gradio_client.

Needs Debian's chromium at /usr/bin/chromium (CI installs it; locally: apt-get install -y --no-install-recommends
chromium) and the `playwright` Python package (no `playwright install`). Set CULTUREMERT_SCREENSHOT_DIR to keep the
screenshots as 256-colour PNGs; the Space README's are made with
CULTUREMERT_SCREENSHOT_DIR=spaces/culturemert-demo/screenshots pytest tests/test_space_ui.py -k browser
"""

import os
import socket
from pathlib import Path

import pytest
import soundfile as sf

from hf_culturemert.demo import DEFAULT_MODELS, DemoArguments, build_demo, load_demo_models
from hf_culturemert.testing import sine_wave

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.timeout(180)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MAX_SECONDS, MAX_FILE_MB = 60.0, 50.0  # the Space's defaults: the screenshots show them
# Every progress text and bar width shown over #summary, and what the summary itself says meanwhile (a
# MutationObserver: the tiny stand-ins finish a long clip in well under a second).
RECORD_PROGRESS = """() => {
  window.seenProgress = [];
  const record = () => {
    const level = document.querySelector('#summary .progress-level-inner');
    const bar = document.querySelector('#summary .progress-bar');
    if (!level) return;
    const prose = document.querySelector('#summary .prose');
    const entry = {text: level.innerText, bar: bar ? bar.style.width : null, summary: prose ? prose.innerText : ''};
    const last = window.seenProgress[window.seenProgress.length - 1];
    if (!last || last.text !== entry.text || last.bar !== entry.bar) window.seenProgress.push(entry);
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                       attributes: true});
}"""


@pytest.fixture(scope="module")
def server(repo_root):
    heads = repo_root / "spaces" / "culturemert-demo" / "heads"
    args = DemoArguments(models=list(DEFAULT_MODELS), heads_dir=str(heads), max_seconds=MAX_SECONDS,
                         max_file_mb=MAX_FILE_MB)
    models = load_demo_models(args.models, args.heads_dir, offline=True)
    demo = build_demo(args, models=models)
    demo.queue(default_concurrency_limit=1)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=args.max_file_bytes)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, sine_wave(7.0, 330.0, 24000, seed=1), 24000)
    return path


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y --no-install-recommends "
                    "chromium); the UI test needs it and is not skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The `playwright` Python package is missing: pip install playwright (no `playwright install`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _keep(path: Path, name: str):
    """Copy a screenshot to $CULTUREMERT_SCREENSHOT_DIR as a 256-colour PNG (the Space README's are made so)."""
    target = os.environ.get("CULTUREMERT_SCREENSHOT_DIR")
    if target:
        from PIL import Image

        Path(target).mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=256).save(Path(target) / name, optimize=True)


def _upload(page, path):
    page.locator("#audio-input input[type=file]").first.set_input_files(str(path))


def _plot_heights(page):
    page.wait_for_function("document.querySelectorAll('#layer-plots img').length === 3", timeout=30_000)
    return [page.locator("#layer-plots img").nth(i).bounding_box()["height"] for i in range(3)]


def test_upload_shows_predictions_in_the_browser(server, browser, clip, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(server)
    page.wait_for_selector("#audio-input", timeout=30_000)
    assert "Offline mode" in page.locator("#model-status").inner_text()
    assert f"up to {MAX_FILE_MB:g} MB" in page.locator("#input-limits").inner_text()  # said before any upload
    _upload(page, clip)
    page.wait_for_function("document.querySelector('#summary').innerText.includes('Analysed')", timeout=60_000)
    summary = page.locator("#summary").inner_text()
    assert "Analysed 7.0 s of 7.0 s in 2 window(s)" in summary
    assert "ntua-slp/CultureMERT-95M (tiny stand-in): Western:" in summary and "Hindustani:" in summary
    labels = page.locator(".tag-label")
    assert labels.count() == 3  # the open tab (Western): one label per model; other tabs render when opened
    western = labels.first.inner_text()
    assert "Western tags: m-a-p/MERT-v1-95M" in western and "%" in western
    heights = _plot_heights(page)  # one heat map per model, side by side
    assert max(heights) - min(heights) < 1 and min(heights) > 250, heights
    page.get_by_role("tab", name="Turkish makam").click()
    makam = page.locator(".tag-label:visible").first
    makam.wait_for(timeout=10_000)
    text = makam.inner_text()
    assert "--" not in text and any(f"({family})" in text for family in ("instrument", "makam", "usul"))
    page.get_by_role("tab", name="Western").click()
    page.locator(".tag-label:visible").first.wait_for(timeout=10_000)
    shot = tmp_path / "desktop.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    _keep(shot, "desktop.png")

    # a phone: the three heat maps stack, each the full width and over 300 px tall
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("document.querySelector('#layer-plots img').getBoundingClientRect().width < 390")
    heights = _plot_heights(page)
    assert min(heights) >= 300, heights
    boxes = [page.locator("#layer-plots img").nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["y"] + boxes[0]["height"] <= boxes[1]["y"]  # stacked, not side by side
    mobile = tmp_path / "mobile.png"
    page.screenshot(path=str(mobile), full_page=True)
    _keep(mobile, "mobile.png")
    page.set_viewport_size({"width": 1400, "height": 1200})

    # good clip -> bad clip: the old results go, and a plain message stays where the summary was
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF" + os.urandom(2000))
    page.locator("#audio-input button[aria-label='Clear']").click()
    _upload(page, corrupt)
    page.wait_for_function("document.querySelector('#summary').innerText.includes('Cannot analyse this audio')",
                           timeout=30_000)
    summary = page.locator("#summary").inner_text()
    assert "broken.wav could not be played: it is damaged or not an audio file" in summary
    assert "Analysed" not in summary and "Invalid argument" not in summary
    assert page.locator("#layer-plots img").count() == 0  # no stale plots
    assert all("%" not in page.locator(".tag-label").nth(i).inner_text() for i in range(3))  # no stale tags
    assert page.locator(".toast-body").count() == 0  # the message is on the page, not in a toast that fades
    assert page.get_by_text("Error", exact=True).count() == 0  # no "Error" badges over the panels
    error_shot = tmp_path / "error.png"
    page.screenshot(path=str(error_shot))
    _keep(error_shot, "error.png")

    # a non-audio file is refused by the upload widget itself; the message about the last analysis stays
    bad = tmp_path / "notes.txt"
    bad.write_text("not music")
    page.locator("#audio-input button[aria-label='Clear']").click()
    _upload(page, bad)
    page.get_by_text("Invalid file type", exact=False).first.wait_for(timeout=30_000)
    assert "broken.wav could not be played" in page.locator("#summary").inner_text()
    page.close()


@pytest.fixture
def visible_steps(monkeypatch):
    """Hold each progress step for 0.15 s: Gradio sends only the latest progress every 10 ms and the browser renders
    once per frame, so the tiny stand-ins' ~10 ms steps could otherwise merge. Nothing is timed."""
    import time

    import hf_culturemert.features

    extract = hf_culturemert.features.extract_features

    def held(*args, on_batch=None, **kwargs):
        def step(done, total):
            on_batch(done, total)
            time.sleep(0.15)

        return extract(*args, on_batch=step if on_batch else None, **kwargs)

    monkeypatch.setattr(hf_culturemert.features, "extract_features", held)


def test_progress_of_a_long_clip(server, browser, tmp_path, visible_steps):
    import re

    long_clip = tmp_path / "long.wav"
    sf.write(long_clip, sine_wave(90.0, 220.0, 16000, seed=2), 16000, subtype="PCM_16")  # 2.9 MB, 12 windows used
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(server)
    page.wait_for_selector("#audio-input", timeout=30_000)
    page.evaluate(RECORD_PROGRESS)
    placeholder = page.evaluate("document.querySelector('#summary .prose').innerText")
    assert "Upload or record a clip" in placeholder  # what the recorder reads under the progress text
    _upload(page, long_clip)
    page.wait_for_function("document.querySelector('#summary').innerText.includes('Analysed')", timeout=120_000)
    summary = page.locator("#summary").inner_text()
    assert "Analysed 60.0 s of 90.0 s in 12 window(s)" in summary and "only its first 60 s" in summary
    seen = page.evaluate("window.seenProgress")
    texts = [entry["text"] for entry in seen]
    steps = [re.match(r"Model (\d)/3, (\S+) \(tiny stand-in\): window (\d+)/(\d+)", t) for t in texts]
    steps = [(int(m[1]), m[2], int(m[3]), int(m[4])) for m in steps if m]
    # which model runs, and windows of the 60 s analysed (not batches), in order: 4 windows per forward pass
    assert steps == [(index + 1, model_id, done, 12) for index, model_id in enumerate(DEFAULT_MODELS)
                     for done in (0, 4, 8, 12)], texts
    assert texts[0].startswith("Reading the audio") and not any("batch" in t or "done" in t for t in texts)
    bars = [float(entry["bar"].rstrip("%")) for entry in seen if entry["bar"]]
    assert bars == sorted(bars) and bars[-1] == pytest.approx(100.0)  # the bar follows the text, to the end
    assert all(entry["summary"].strip() == "" for entry in seen)  # no placeholder text under the progress text

    # an over-size file: the limit the page states is the one the upload box enforces
    assert f"up to {MAX_FILE_MB:g} MB" in page.locator("#input-limits").inner_text()
    big = tmp_path / "big.wav"
    with open(big, "wb") as handle:
        handle.write(b"RIFF")
        handle.truncate(int(MAX_FILE_MB * 2 ** 20) + 1)
    page.locator("#audio-input button[aria-label='Clear']").click()
    _upload(page, big)
    page.get_by_text(f"exceed the maximum allowed size of {MAX_FILE_MB:.1f} Mb", exact=False).first.wait_for(
        timeout=30_000)
    page.close()


def test_gradio_client_api(server, clip, tmp_path, caplog, capfd, repo_root):
    import logging
    import re

    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    api = client.view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/predict"]  # the page's own events are private
    endpoint = api["named_endpoints"]["/predict"]
    assert [(p["parameter_name"], p["label"]) for p in endpoint["parameters"]] == [("audio", "Music clip")]
    names = [r["label"] for r in endpoint["returns"]]
    assert len(names) == len(set(names)) == 1 + 15 + 3 + 1 and not any(re.fullmatch(r"value_\d+", n) for n in names)
    assert names[0] == "Summary" and names[-1] == "Scores (JSON)"
    assert "Turkish makam tags: ntua-slp/CultureMERT-95M" in names and "Layer similarity: m-a-p/MERT-v1-95M" in names

    summary, *rest = client.predict(handle_file(str(clip)), api_name="/predict")
    *labels, plot_a, plot_b, plot_c, scores = rest
    assert "Analysed" in summary and len(labels) == 15
    assert labels[0]["confidences"] and all(0 <= c["confidence"] <= 1 for c in labels[0]["confidences"])
    assert scores["num_windows"] == 2 and list(scores["predictions"]) == list(DEFAULT_MODELS)
    makam = scores["predictions"]["ntua-slp/CultureMERT-95M"]["makam"]  # the README's snippet, offline too
    assert "instrument--Kanun" in makam  # raw tags in the JSON
    assert scores["models"]["ntua-slp/CultureMERT-95M"]["stand_in"] is True
    for per in scores["predictions"].values():
        assert set(per) == {"western", "lyra", "makam", "hindustani", "carnatic"}
    # the Space README's snippet runs as written, against the offline stand-ins too
    readme = (repo_root / "spaces" / "culturemert-demo" / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("## API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    snippet = snippet.replace('"<org>/culturemert-demo"', repr(server)).replace('"clip.wav"', repr(str(clip)))
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["scores"]["models"]["ntua-slp/CultureMERT-95M"]["stand_in"] is True

    silent = tmp_path / "silent.wav"
    sf.write(silent, sine_wave(2.0, 220.0, 24000) * 0.0, 24000)
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="hf_culturemert.demo"):
        with pytest.raises(AppError, match="silent.wav is silent: nothing can be heard"):
            client.predict(handle_file(str(silent)), api_name="/predict")
    refused = [r for r in caplog.records if r.name == "hf_culturemert.demo" and "Refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].exc_info is None and "\n" not in refused[0].getMessage()
    assert "Traceback" not in capfd.readouterr().err  # an expected user error logs one line, no traceback


@pytest.mark.slow
def test_culturemert_demo_command_serves_the_app(clip, tmp_path):
    """`culturemert demo --offline --port N` in a separate process, queried like any client would."""
    import subprocess
    import sys
    import time
    import urllib.request

    from gradio_client import Client, handle_file

    port = _free_port()
    log = open(tmp_path / "demo.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "hf_culturemert.cli", "demo", "--offline", "--host", "127.0.0.1",
                                "--port", str(port), "--models", "ntua-slp/CultureMERT-95M"],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
                assert time.time() < deadline, "the demo did not start within 120 s"
                time.sleep(0.5)
        summary, *_rest, scores = Client(url, verbose=False).predict(handle_file(str(clip)), api_name="/predict")
        assert list(scores["predictions"]) == ["ntua-slp/CultureMERT-95M"]
        assert scores["models"]["ntua-slp/CultureMERT-95M"]["stand_in"] is True
        assert "Analysed" in summary
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
