"""Teachers: frame alignment with the MERT CNN for any length, eval/no-grad, MERT's CQT/EnCodec parameters."""

import pytest
import torch

from hf_culturemert.models.mert.modeling_mert import MERTModel
from hf_culturemert.pretraining.testing import light_cqt_teacher, tiny_pretraining_config
from hf_culturemert.teachers import (CQT_PARAMETERS, CQTTeacher, EncodecTeacher, align_frames, build_encodec_teacher,
                                     model_frames, tiny_encodec_config)


pytestmark = pytest.mark.usefixtures("single_thread")



@pytest.fixture(scope="module")
def encodec():
    return build_encodec_teacher("random-tiny", 6.0)


@pytest.fixture(scope="module")
def cqt():
    return light_cqt_teacher()


def test_model_frames_matches_mert_cnn():
    model = MERTModel(tiny_pretraining_config()).eval()
    for samples in (400, 719, 720, 12001, 24000):
        with torch.no_grad():
            frames = model(torch.randn(1, samples)).last_hidden_state.shape[1]
        assert model_frames(samples) == frames


@pytest.mark.parametrize("samples", [400, 721, 12345, 24001])
def test_targets_are_frame_aligned_for_odd_lengths(encodec, cqt, samples):
    wave = torch.randn(2, samples)
    frames = model_frames(samples)
    codes = encodec(wave)
    spec = cqt(wave)
    assert codes.shape == (2, 8, frames) and codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < 1024
    assert spec.shape == (2, frames, 96) and spec.dtype == torch.float32
    assert torch.isfinite(spec).all() and float(spec.min()) >= 0.0  # magnitudes


def test_trimming_keeps_the_leading_frames(encodec):
    """Frame i of the target belongs to frame i of the model: aligning trims the end, never shifts."""
    wave = torch.randn(1, 12345)
    full = encodec(wave, num_frames=-(-12345 // 320))  # EnCodec's own count, ceil(S / 320)
    aligned = encodec(wave)
    assert full.shape[-1] == 39 and aligned.shape[-1] == model_frames(12345) == 38
    assert torch.equal(full[..., :38], aligned)


def test_align_frames_pads_by_repeating_the_last_frame():
    x = torch.arange(6).view(1, 2, 3)
    padded = align_frames(x, 5)
    assert padded.shape == (1, 2, 5) and torch.equal(padded[..., 3:], x[..., 2:].repeat(1, 1, 2))
    assert torch.equal(align_frames(x, 2), x[..., :2])


def test_teachers_stay_in_eval_mode_without_grad(encodec, cqt):
    encodec.train()
    cqt.train()
    assert not encodec.model.training and not cqt.cqt.training
    assert all(not p.requires_grad for p in encodec.parameters())
    wave = torch.randn(1, 4000, requires_grad=True)
    assert not cqt(wave).requires_grad and not encodec(wave).requires_grad


def test_targets_ignore_bf16_autocast(cqt):
    wave = torch.randn(1, 8000)
    reference = cqt(wave)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = cqt(wave)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, reference)


def test_six_kbps_gives_eight_codebooks_of_1024():
    teacher = EncodecTeacher.from_config(tiny_encodec_config(), bandwidth=6.0)
    assert (teacher.num_codebooks, teacher.codebook_size) == (8, 1024)
    assert EncodecTeacher.from_config(tiny_encodec_config(), bandwidth=3.0).num_codebooks == 4


def test_teacher_checks_student_heads(encodec):
    encodec.check_compatible(tiny_pretraining_config())
    with pytest.raises(ValueError, match="codebook"):
        encodec.check_compatible(tiny_pretraining_config(codebook_size=64))


def test_teacher_rejects_wrong_rate():
    with pytest.raises(ValueError, match="24000 Hz"):
        EncodecTeacher.from_config(tiny_encodec_config(sampling_rate=16000))


def test_mert_cqt_parameters():
    assert CQT_PARAMETERS == dict(sr=24000, hop_length=320, fmin=32.7, n_bins=336, bins_per_octave=48,
                                  filter_scale=1, norm=1, window="hann", center=True, pad_mode="constant")
    teacher = CQTTeacher(implementation="nnaudio")
    assert teacher.n_bins == 336 and teacher.cqt.hop_length == 320 and teacher.cqt.cqt_kernels_real.shape[0] == 336
    assert teacher(torch.randn(1, 2000)).shape == (1, model_frames(2000), 336)


def test_trimmed_cqt_equals_nnaudio():
    """The per-group trimmed convolution is nnAudio's CQT1992v2 (same kernels, only the zero taps skipped)."""
    reference, fast = CQTTeacher(implementation="nnaudio"), CQTTeacher()
    assert fast.implementation == "trimmed" and fast.cqt.cqt_kernels_real.numel() == 0
    t = torch.arange(7001) / 24000.0
    wave = torch.stack([torch.sin(2 * torch.pi * 110.0 * t), 0.1 * torch.randn(7001)])
    expected, got = reference(wave), fast(wave)
    assert got.shape == expected.shape == (2, model_frames(7001), 336)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert int(got[0].mean(0).argmax()) == int(expected[0].mean(0).argmax())  # the 110 Hz bin


@pytest.mark.parametrize("samples", [7001, 24000])
def test_multirate_cqt_is_close_to_trimmed_and_cheaper(samples):
    """Octave-wise decimation: every octave of the 336 bins within 1e-3 (relative) of MERT's CQT, tones land in the
    same bin, the frame count is the model's, and the lower octaves run on 2-64x fewer samples."""
    exact, multirate = CQTTeacher(), CQTTeacher(implementation="multirate")
    t = torch.arange(samples) / 24000.0
    tones = sum(torch.sin(2 * torch.pi * f * t) for f in (41.2, 110.0, 523.25, 1975.5, 3951.0))
    wave = torch.stack([tones, 0.1 * torch.randn(samples, generator=torch.Generator().manual_seed(0))])
    expected, got = exact(wave), multirate(wave)
    assert got.shape == expected.shape == (2, model_frames(samples), 336)
    for octave in range(7):
        bins = slice(48 * octave, 48 * (octave + 1))
        error = (got[..., bins] - expected[..., bins]).norm() / expected[..., bins].norm()
        assert error < 1e-3, (octave, float(error))
    peaks = lambda spec: sorted(int(b) for b in spec[0].mean(0).topk(5).indices)  # noqa: E731
    assert peaks(got) == peaks(expected)
    factors = [factor for *_rest, factor in multirate._groups]
    assert factors == [64, 32, 16, 8, 4, 2, 1]  # the bottom octave at 375 Hz, the top one at 24 kHz
    taps = lambda teacher: sum(getattr(teacher, name).numel() for name, *_rest in teacher._groups)  # noqa: E731
    assert taps(multirate) * 8 < taps(exact)


def test_cqt_implementation_is_checked():
    with pytest.raises(ValueError, match="multirate"):
        CQTTeacher(implementation="fft")
    from hf_culturemert.pretraining.checks import setting_problems

    assert setting_problems({"cqt_implementation": "multirate"}) == []
    assert "cqt_implementation" in setting_problems({"cqt_implementation": "fft"})[0]


def test_random_teacher_codes_depend_on_the_input(encodec):
    """A fresh EncodecModel has all-zero codebooks (every frame would get code 0: a trivial task); the random
    teachers seed their codebooks from latents, so codes vary across frames and differ between signals."""
    from hf_culturemert.testing import sine_wave

    frames = 75
    tone = encodec(torch.as_tensor(sine_wave(1.0, 220.0))[None], frames)
    noise = encodec(0.1 * torch.randn(1, 24000, generator=torch.Generator().manual_seed(0)), frames)
    for codes in (tone, noise):
        assert all(codes[0, k].unique().numel() > 1 for k in range(codes.shape[1]))
    assert (tone != noise).float().mean() > 0.5
    # seeded: two builds agree (both built here, under the same thread count: float sums differ across counts)
    first, second = (build_encodec_teacher("random-tiny", 6.0, seed=3) for _ in range(2))
    wave = torch.as_tensor(sine_wave(1.0, 220.0))[None]
    torch.testing.assert_close(first(wave, frames), second(wave, frames))
