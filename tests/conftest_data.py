"""Shared data fixtures (imported by the data test modules; pytest's conftest.py is the lead's)."""

import pytest

from hf_culturemert.data import build_synthetic_corpus

SMALL_CLIPS = {"train": 8, "validation": 4, "test": 4}
SMALL_SECONDS = 4.0


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """A miniature synthetic corpus (all five traditions, 8/4/4 clips of 4 s), built once per session.

    The builder skips complete folders, so modules importing this fixture share one build.
    """
    root = tmp_path_factory.getbasetemp() / "small-synthetic-corpus"
    return build_synthetic_corpus(root, seed=0, clips_per_split=SMALL_CLIPS, clip_seconds=SMALL_SECONDS,
                                  progress=False)


def make_media(path, seconds=4.0, frequencies=(440.0,), sample_rate=22050, video=False):
    """Write a real media file with the ffmpeg CLI: a tone that steps through ``frequencies`` (equal parts).

    The container/codec follows the suffix (.mp3, .m4a, .mp4 with a video stream when ``video``, .wav, .webm...).
    """
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:  # pragma: no cover - ffmpeg is a documented test requirement
        raise RuntimeError("the data builder tests need the ffmpeg CLI on PATH")
    part = seconds / len(frequencies)
    expression = str(frequencies[-1])
    for k in range(len(frequencies) - 2, -1, -1):
        expression = f"if(lt(t\\,{part * (k + 1):g})\\,{frequencies[k]}\\,{expression})"
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
               f"aevalsrc=0.5*sin(2*PI*{expression}*t):s={sample_rate}:d={seconds}"]
    if video:
        command += ["-f", "lavfi", "-i", f"color=c=blue:s=32x32:d={seconds}", "-c:v", "mpeg4", "-shortest"]
    command += [str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path


def dominant_frequency(waveform, sampling_rate):
    import numpy as np

    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.fft.rfftfreq(len(waveform), 1 / sampling_rate)[np.argmax(spectrum)])
