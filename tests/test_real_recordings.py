"""Real music, not audio made by the tests: Debian's ``asc-music`` (3 MP3s, about 18 minutes, CC-BY-SA).

The test fetches the package into a cache when it is missing (``apt-get download`` + ``dpkg-deb -x``; ``apt-get
update`` first if needed) and fails, naming the command, if it cannot. ``CULTUREMERT_TEST_CACHE`` moves the cache.
"""

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from hf_culturemert.cli import main as cli_main

CACHE = Path(os.environ.get("CULTUREMERT_TEST_CACHE", Path.home() / ".cache" / "hf-culturemert-tests"))
PACKAGE = "asc-music"
EXPECTED = ("frontiers.mp3", "machine_wars.mp3", "time_to_strike.mp3")


def asc_music_files():
    """The three MP3 paths, fetching and unpacking the Debian package into the cache when missing."""
    from hf_culturemert.rehearsal.sources import debian_recordings

    try:
        found = {path.name: path for path in debian_recordings([PACKAGE], cache=CACHE)}
    except RuntimeError as error:
        pytest.fail(f"cannot fetch the Debian package {PACKAGE} for this test: {error}")
    missing = [name for name in EXPECTED if name not in found]
    if missing:
        pytest.fail(f"{PACKAGE} unpacked into {CACHE / PACKAGE} lacks {', '.join(missing)}")
    return [found[name] for name in EXPECTED]


def ffprobe_duration(path):
    done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


@pytest.mark.slow
def test_embed_real_mp3s_window_count_and_timestamps_match_ffprobe(tmp_path, caplog):
    files = asc_music_files()
    window = 10.0
    out = tmp_path / "features"
    with caplog.at_level("WARNING"):
        code = cli_main(["embed", "--audio", *map(str, files), "--model", "tiny-random", "--output_dir", str(out),
                         "--window_seconds", str(window), "--batch_size", "16"])
    assert code == 0
    assert "header declares" not in caplog.text  # complete files: no truncation warning
    from safetensors.torch import load_file

    total = 0.0
    for path in files:
        duration = ffprobe_duration(path)
        total += duration
        summary = json.loads((out / f"{path.stem}.json").read_text())
        assert summary["file"] == str(path)
        # every window starts at k * window, the last ends at the end of the decoded audio (= ffprobe's duration
        # up to the MP3 decoder delay and padding, well under 0.1 s)
        assert summary["windows"] == math.ceil(duration / window - 1e-3), (path, duration)
        assert summary["window_starts"] == pytest.approx([k * window for k in range(summary["windows"])])
        assert summary["window_ends"][:-1] == pytest.approx([(k + 1) * window for k in range(summary["windows"] - 1)])
        assert summary["window_ends"][-1] == pytest.approx(duration, abs=0.1)
        features = load_file(out / f"{path.stem}.safetensors")
        assert features["window_features"].shape[:2] == (3, summary["windows"])
        assert features["window_features"].isfinite().all()
    assert 15 * 60 < total < 20 * 60  # the package's ~18 minutes
