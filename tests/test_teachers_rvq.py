"""The residual k-means teacher (the miniature's stand-in for EnCodec): codes carry what a frame sounds like."""

import math

import pytest
import torch

from hf_culturemert.teachers import RVQTeacher, build_encodec_teacher, model_frames
from hf_culturemert.testing import tiny_mert_config

pytestmark = pytest.mark.usefixtures("single_thread")
RATE = 24000


def _tone(freq, seconds=1.0, noise=0.0, seed=0):
    t = torch.arange(int(seconds * RATE)) / RATE
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.sin(2 * math.pi * freq * t) + noise * torch.randn(t.shape, generator=g)


@pytest.fixture(scope="module")
def corpus():
    return [_tone(f, noise=n, seed=i) for i, (f, n) in enumerate(
        [(f, n) for f in (110, 220, 440, 880, 1760) for n in (0.0, 0.05, 0.2)])]


@pytest.fixture(scope="module")
def teacher(corpus):
    return RVQTeacher.fit(corpus, num_codebooks=4, codebook_size=32, n_mels=32, iterations=8, progress=False)


def test_codes_are_frame_aligned_and_deterministic(teacher, corpus):
    wave = torch.stack([_tone(440), _tone(880)])
    codes = teacher(wave)
    assert codes.dtype == torch.long and codes.shape == (2, 4, model_frames(RATE))
    assert int(codes.min()) >= 0 and int(codes.max()) < 32
    assert teacher(wave, num_frames=10).shape == (2, 4, 10)
    again = RVQTeacher.fit(corpus, num_codebooks=4, codebook_size=32, n_mels=32, iterations=8, progress=False)
    assert torch.equal(again.centroids, teacher.centroids)


def test_codes_follow_the_sound(teacher):
    low, high = teacher(_tone(110))[0, 0, 5:-5], teacher(_tone(1760))[0, 0, 5:-5]
    steady = torch.mode(low).values
    assert (low == steady).float().mean() > 0.8  # a steady tone keeps its coarse code
    assert not set(high.tolist()) & set(low.tolist())  # another pitch gets other codes


def test_each_codebook_reduces_the_residual(teacher, corpus):
    frames = teacher.frames(torch.stack(corpus[:5])).reshape(-1, teacher.n_mels)
    residual, errors = frames, [frames.pow(2).mean()]
    for codebook in teacher.centroids:
        residual = residual - codebook[RVQTeacher._assign(residual, codebook)]
        errors.append(residual.pow(2).mean())
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.3 * errors[0]


def test_save_load_roundtrip_and_build_by_name(teacher, tmp_path):
    path = teacher.save(tmp_path / "rvq.safetensors")
    loaded = build_encodec_teacher(f"rvq:{path}", num_codebooks=4)
    wave = _tone(330)[None]
    assert torch.equal(loaded(wave), teacher(wave))
    with pytest.raises(ValueError, match="codebooks"):
        build_encodec_teacher(f"rvq:{path}", num_codebooks=8)
    (tmp_path / "bad.safetensors").write_text("not a tensor file")
    with pytest.raises(ValueError, match="bad.safetensors"):
        RVQTeacher.load(tmp_path / "bad.safetensors")


def test_errors_name_the_problem(teacher):
    with pytest.raises(ValueError, match="at least codebook_size"):
        RVQTeacher.fit([_tone(440, seconds=0.1)], codebook_size=64, n_mels=16, progress=False)
    with pytest.raises(ValueError, match="no waveform"):
        RVQTeacher.fit([torch.zeros(100)], progress=False)
    with pytest.raises(ValueError, match="RVQ teacher gives 4 x 32"):
        teacher.check_compatible(tiny_mert_config(num_codebooks=8, codebook_size=1024))
    teacher.check_compatible(tiny_mert_config(num_codebooks=4, codebook_size=32))
