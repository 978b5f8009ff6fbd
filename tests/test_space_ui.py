"""The demo as a user meets it: served on 127.0.0.1, driven in headless Chromium (Playwright) and via gradio_client.

Needs Debian's chromium at /usr/bin/chromium (CI installs it; locally: apt-get install -y --no-install-recommends
chromium) and the `playwright` Python package (no `playwright install`). Set CULTUREMERT_SCREENSHOT_DIR to keep the
screenshots.
"""

import os
import shutil
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


@pytest.fixture(scope="module")
def server(repo_root):
    heads = repo_root / "spaces" / "culturemert-demo" / "heads"
    args = DemoArguments(models=list(DEFAULT_MODELS), heads_dir=str(heads), max_seconds=20.0, max_file_mb=5.0)
    models = load_demo_models(args.models, args.heads_dir, offline=True)
    demo = build_demo(args, models=models)
    demo.queue(default_concurrency_limit=1)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=f"{args.max_file_mb:g}mb")
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


def _keep(path: Path):
    target = os.environ.get("CULTUREMERT_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_upload_shows_predictions_in_the_browser(server, browser, clip, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(server)
    page.wait_for_selector("#audio-input", timeout=30_000)
    assert "Offline mode" in page.locator("#model-status").inner_text()
    page.locator("#audio-input input[type=file]").first.set_input_files(str(clip))
    page.wait_for_function("document.querySelector('#summary').innerText.includes('Analysed')", timeout=60_000)
    summary = page.locator("#summary").inner_text()
    assert "Analysed 7.0 s of 7.0 s in 2 window(s)" in summary
    labels = page.locator(".tag-label")
    assert labels.count() == 3  # the open tab (Western): one label per model; other tabs render when opened
    western = labels.first.inner_text()
    assert "tiny stand-in" in western and "%" in western
    page.wait_for_selector("#layer-plot img", timeout=30_000)  # matplotlib figures arrive as PNG
    page.get_by_role("tab", name="Makam").click()
    page.wait_for_timeout(300)
    assert "--" in page.locator(".tag-label:visible").first.inner_text()  # makam tags: makam--/usul--/instrument--
    page.get_by_role("tab", name="Western").click()
    page.wait_for_timeout(500)
    shot = tmp_path / "culturemert-demo.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    _keep(shot)

    # a non-audio file is refused by the upload widget, a corrupt "audio" file by the app, each with the reason
    bad = tmp_path / "notes.txt"
    bad.write_text("not music")
    page.locator("#audio-input button[aria-label='Clear']").click()
    page.locator("#audio-input input[type=file]").first.set_input_files(str(bad))
    page.get_by_text("Invalid file type", exact=False).first.wait_for(timeout=30_000)
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF" + os.urandom(2000))
    page.locator("#audio-input input[type=file]").first.set_input_files(str(corrupt))
    page.get_by_text("broken.wav is not an audio file that can be decoded", exact=False).first.wait_for(
        timeout=30_000)
    error_shot = tmp_path / "culturemert-demo-error.png"
    page.screenshot(path=str(error_shot))
    _keep(error_shot)
    page.close()


def test_gradio_client_api(server, clip, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    assert "/predict" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    summary, *rest = client.predict(handle_file(str(clip)), api_name="/predict")
    *labels, plot, scores = rest
    assert "Analysed" in summary and len(labels) == 15
    assert labels[0]["confidences"] and all(0 <= c["confidence"] <= 1 for c in labels[0]["confidences"])
    assert scores["num_windows"] == 2 and len(scores["predictions"]) == 3
    for per in scores["predictions"].values():
        assert set(per) == {"western", "lyra", "makam", "hindustani", "carnatic"}
    silent = tmp_path / "silent.wav"
    sf.write(silent, sine_wave(2.0, 220.0, 24000) * 0.0, 24000)
    with pytest.raises(AppError, match="silent"):
        client.predict(handle_file(str(silent)), api_name="/predict")
    long_clip = tmp_path / "long.wav"
    sf.write(long_clip, sine_wave(25.0, 220.0, 16000, seed=2), 16000)
    summary, *_rest, scores = client.predict(handle_file(str(long_clip)), api_name="/predict")
    assert scores["analysed_seconds"] == pytest.approx(20.0, abs=0.05) and scores["duration"] > 24.9
    assert any("first 20 s" in w for w in scores["warnings"])


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
        assert list(scores["predictions"]) == ["ntua-slp/CultureMERT-95M (tiny stand-in)"]
        assert "Analysed" in summary
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
