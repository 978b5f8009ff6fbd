"""Real music, not audio made by the tests: Debian's ``asc-music`` (3 MP3s, about 18 minutes, CC-BY-SA).

The test fetches the package into a cache when it is missing (``apt-get download`` + ``dpkg-deb -x``; ``apt-get
update`` first if needed) and fails, naming the command, if it cannot. ``CULTUREMERT_TEST_CACHE`` moves the cache.
"""

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hf_culturemert.cli import main as cli_main

CACHE = Path(os.environ.get("CULTUREMERT_TEST_CACHE", Path.home() / ".cache" / "hf-culturemert-tests"))
PACKAGE = "asc-music"
MUSIC = Path("usr/share/games/asc/music")
EXPECTED = ("frontiers.mp3", "machine_wars.mp3", "time_to_strike.mp3")


def _run(command, cwd):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def asc_music_files():
    """The three MP3 paths, fetching and unpacking the Debian package into the cache when missing."""
    root = CACHE / PACKAGE
    files = [root / MUSIC / name for name in EXPECTED]
    if all(f.is_file() for f in files):
        return files
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: cannot fetch the Debian package {PACKAGE} for this test; install "
                        f"it, or unpack {PACKAGE}'s .deb into {root} by hand")
    download = CACHE / "deb"
    download.mkdir(parents=True, exist_ok=True)
    done = _run(["apt-get", "download", PACKAGE], download)
    if done.returncode != 0:
        _run(["apt-get", "update"], download)
        done = _run(["apt-get", "download", PACKAGE], download)
    debs = sorted(download.glob(f"{PACKAGE}_*.deb"))
    if done.returncode != 0 or not debs:
        pytest.fail(f"`apt-get download {PACKAGE}` failed in {download} (exit {done.returncode}): "
                    f"{done.stderr.strip()[-500:]}")
    unpacked = _run(["dpkg-deb", "-x", str(debs[-1]), str(root)], download)
    if unpacked.returncode != 0 or not all(f.is_file() for f in files):
        pytest.fail(f"`dpkg-deb -x {debs[-1]} {root}` did not give {', '.join(EXPECTED)}: {unpacked.stderr[-500:]}")
    return files


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
