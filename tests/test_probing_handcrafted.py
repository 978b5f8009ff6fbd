"""The hand-crafted upper-bound "backbone": frame alignment, padding, tonic invariance, rhythm, and the probe."""

import numpy as np
import pytest
import torch

from hf_culturemert.probing import probe_model
from hf_culturemert.probing.handcrafted import BINS_PER_OCTAVE, HandcraftedFeatures
from hf_culturemert.teachers import model_frames
from hf_culturemert.testing import write_tone_corpus

pytestmark = pytest.mark.usefixtures("single_thread")
RATE = 24000
NUM_BINS = 336


@pytest.fixture(scope="module")
def features():
    return HandcraftedFeatures()


def _scale_clip(tonic, cents=(0, 200, 400, 500, 700, 900, 1100), seconds=2.0):
    t = np.arange(int(seconds * RATE)) / RATE
    note = len(t) // len(cents)
    wave = np.zeros_like(t)
    for i, c in enumerate(cents):
        f = tonic * 2 ** (c / 1200)
        wave[i * note:(i + 1) * note] = np.sin(2 * np.pi * f * t[i * note:(i + 1) * note])
    return torch.tensor(wave, dtype=torch.float32)


def _window_stats(features, wave, mask=None):
    out = features(wave[None] if wave.dim() == 1 else wave, attention_mask=mask)
    return out.hidden_states[0]


def test_one_frame_aligned_state_with_the_documented_width(features):
    wave = torch.randn(RATE + 123) * 0.1
    state = _window_stats(features, wave)
    assert state.shape == (1, model_frames(RATE + 123), 2 * NUM_BINS + BINS_PER_OCTAVE + 225)
    assert torch.isfinite(state).all()
    assert features._get_feat_extract_output_lengths(torch.tensor([RATE + 123])).tolist() == [state.shape[1]]


def test_padded_clip_gives_the_features_of_the_clip_alone(features):
    short, long = torch.randn(RATE) * 0.1, torch.randn(2 * RATE) * 0.1
    batch = torch.zeros(2, 2 * RATE)
    batch[0, :RATE], batch[1] = short, long
    mask = (torch.arange(2 * RATE)[None] < torch.tensor([[RATE], [2 * RATE]])).long()
    padded = _window_stats(features, batch, mask)
    alone = _window_stats(features, short)
    frames = alone.shape[1]
    torch.testing.assert_close(padded[0, :frames].mean(0), alone[0].mean(0), atol=2e-3, rtol=1e-3)


def test_interval_histogram_ignores_the_tonic_but_sees_the_scale(features):
    start = 2 * NUM_BINS
    intervals = slice(start, start + BINS_PER_OCTAVE)
    major_a = _window_stats(features, _scale_clip(220.0))[0, 0, intervals]
    major_b = _window_stats(features, _scale_clip(220.0 * 2 ** (5 / 12)))[0, 0, intervals]  # same scale, a fourth up
    hicaz = _window_stats(features, _scale_clip(220.0, cents=(0, 113, 385, 498, 702, 792, 1018)))[0, 0, intervals]
    same, other = (major_a - major_b).norm(), (major_a - hicaz).norm()
    assert same < 0.3 * other, (float(same), float(other))


def test_rhythm_autocorrelation_peaks_at_the_pulse_period(features):
    wave = torch.zeros(4 * RATE)
    period = int(0.4 * RATE)  # 2.5 pulses per second -> lag 30 frames at 75 Hz
    for start in range(0, wave.numel() - 800, period):
        wave[start:start + 800] = torch.randn(800) * torch.linspace(1, 0, 800)
    rhythm = _window_stats(features, wave)[0, 0, 2 * NUM_BINS + BINS_PER_OCTAVE:]
    lag = int(torch.argmax(rhythm[10:60])) + 10 + 1  # entry k is lag k + 1
    assert abs(lag - 30) <= 1, lag


def test_probing_pipeline_runs_it_like_a_backbone(features, tmp_path):
    tones = write_tone_corpus(tmp_path / "tones")
    result = probe_model(features, str(tones), cache_dir=str(tmp_path / "cache"), window_seconds=1.0,
                         learning_rates=[1e-3, 1e-2], seeds=[0], max_epochs=25, weighted_sum=False, progress=False)
    assert result["num_hidden_states"] == 1
    assert result["summary"]["roc_auc"]["mean"] > 0.9


def test_it_keeps_float32_when_the_probe_extracts_in_bfloat16(features, tmp_path):
    """The miniature extracts MERT features in bfloat16 on CPUs that compute it natively; the CQT of the upper bound
    must not be cast with them (its float32 input would meet bfloat16 kernels)."""
    import json

    from hf_culturemert.probing.arguments import ProbeArguments
    from hf_culturemert.probing.pipeline import _PreparedModel
    from hf_culturemert.testing import tiny_mert_config
    from hf_culturemert.models.mert.modeling_mert import MERTModel

    args = ProbeArguments(dtype="bfloat16")
    assert _PreparedModel(features, args).dtype == torch.float32
    mert = _PreparedModel(MERTModel(tiny_mert_config()), args)
    assert mert.dtype == torch.bfloat16 and next(mert.backbone.parameters()).dtype == torch.bfloat16
    mert.release()
    tones = write_tone_corpus(tmp_path / "tones")
    result = probe_model(features, str(tones), cache_dir=str(tmp_path / "cache"), window_seconds=1.0, dtype="bfloat16",
                         learning_rates=[1e-2], seeds=[0], max_epochs=25, weighted_sum=False, progress=False)
    key = json.loads(next((tmp_path / "cache").glob("*--train--*/cache_key.json")).read_text())
    assert key["dtype"] == "torch.float32"
    assert result["summary"]["roc_auc"]["mean"] > 0.9
