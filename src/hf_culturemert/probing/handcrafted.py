"""Hand-crafted CQT / pitch / onset statistics as a probe-able "backbone": the miniature study's upper bound.

A MERT model earns its keep when its probes beat what a few lines of signal processing give. This module stands in
for a backbone in the probing pipeline (same call, one hidden state, frame-aligned at 75 Hz), so the same windows,
probes, learning-rate grid, validation selection and cache produce the reference row. The mean over a window's
frames of its single hidden state is, per window:

* timbre and register: mean and second moment of every log-CQT bin (MERT's CQT, multirate: 336 bins, 48 per
  octave);
* scale: the circular autocorrelation of the 48-bin pitch-class profile, an interval histogram at 25-cent
  resolution that does not depend on the tonic (microtonal makam intervals and just-intonation ragas differ here);
* rhythm: the normalised autocorrelation of the onset envelope (positive spectral flux) at lags 1/75 s .. 3 s,
  where cycle length, pulse rate and accent pattern show up.

The window-level statistics (scale, rhythm) are computed over the window's valid frames and repeated on each frame,
so the probe's frame mean returns them unchanged.
"""

import math

import torch
from torch import nn

from ..constants import SAMPLING_RATE
from ..teachers import CQTTeacher, model_frames

BINS_PER_OCTAVE = 48
RHYTHM_LAGS = 225  # 3 s at 75 Hz


class HandcraftedConfig:
    """What the probing pipeline reads from a backbone's config (and the feature settings, for the cache key)."""

    model_type = "handcrafted-cqt-statistics"

    def __init__(self, sample_rate=SAMPLING_RATE, rhythm_lags=RHYTHM_LAGS):
        self.sample_rate = sample_rate
        self.rhythm_lags = rhythm_lags
        self.receptive_field = 400
        self.conv_kernel = [10, 3, 3, 3, 3, 2, 2]
        self.conv_stride = [5, 2, 2, 2, 2, 2, 2]
        self._name_or_path = "upper-bound (hand-crafted CQT/pitch/onset statistics)"

    def to_dict(self):
        return {"model_type": self.model_type, "sample_rate": self.sample_rate, "rhythm_lags": self.rhythm_lags,
                "bins_per_octave": BINS_PER_OCTAVE, "version": 3}


class HandcraftedFeatures(nn.Module):
    """The miniature's upper bound: hand-crafted features probed exactly like a model's hidden states.

    ``[B, S]`` at 24 kHz -> one hidden state ``[B, T, 2 * 336 + 48 + rhythm_lags]`` at MERT's 75 Hz frame rate:
    multirate log-CQT moments, a tonic-free interval histogram of the pitch-class profile, and the onset
    autocorrelation up to ``rhythm_lags`` frames. It always computes in float32.

    Args:
        config: a ``HandcraftedConfig`` (input rate, onset-autocorrelation lags); default: 24 kHz and the
            miniature's lags.

    Example:
        ```python
        features = HandcraftedFeatures()
        states = features(torch.randn(2, 4 * 24000))     # [2, frames, 2 * 336 + 48 + rhythm_lags]
        ```
    """

    extraction_dtype = torch.float32  # the CQT and its logarithms stay in float32 whatever the probe's --dtype

    def __init__(self, config=None):
        super().__init__()
        self.config = config or HandcraftedConfig()
        self.cqt = CQTTeacher(implementation="multirate")  # ~1e-4 from MERT's CQT, 3-6x cheaper

    def _get_feat_extract_output_lengths(self, lengths):
        return torch.as_tensor([model_frames(int(n)) for n in torch.as_tensor(lengths).reshape(-1)],
                               dtype=torch.long)

    @torch.no_grad()
    def forward(self, input_values, attention_mask=None, output_hidden_states=True, return_dict=True):
        if input_values.dim() != 2:
            raise ValueError(f"input_values must be [batch, samples], got shape {tuple(input_values.shape)}")
        input_values = input_values.float()
        lengths = (attention_mask.sum(-1) if attention_mask is not None
                   else torch.full((input_values.shape[0],), input_values.shape[1]))
        frames = self._get_feat_extract_output_lengths(lengths).to(input_values.device)
        spec = self.cqt(input_values)  # [B, T, 336]
        valid = (torch.arange(spec.shape[1], device=spec.device)[None] < frames[:, None]).float()[..., None]
        log_spec = (torch.log(spec + 1e-4) + 5.0) / 5.0 * valid  # ~[-1, 1]
        count = valid.sum(1).clamp(min=1)
        magnitude = ((spec.pow(2) * valid).sum(1) / count).sqrt()  # [B, 336]: RMS magnitude per bin
        profile = magnitude.reshape(magnitude.shape[0], -1, BINS_PER_OCTAVE).sum(1)  # folded onto one octave
        profile = profile - profile.mean(-1, keepdim=True)
        spectrum = torch.fft.rfft(profile, dim=-1)
        intervals = torch.fft.irfft(spectrum * spectrum.conj(), n=BINS_PER_OCTAVE, dim=-1)
        intervals = intervals / intervals[:, :1].clamp(min=1e-8)
        flux = torch.relu(log_spec[:, 1:] - log_spec[:, :-1]).sum(-1) * valid[:, 1:, 0]  # [B, T-1]
        flux = (flux - (flux.sum(1, keepdim=True) / count)) * valid[:, 1:, 0]
        lags = self.config.rhythm_lags
        size = 2 ** math.ceil(math.log2(flux.shape[1] + lags + 1))  # no circular wrap-around up to `lags`
        power = torch.fft.rfft(flux, n=size, dim=-1)
        autocorrelation = torch.fft.irfft(power * power.conj(), n=size, dim=-1)[:, : lags + 1]
        if autocorrelation.shape[1] < lags + 1:
            autocorrelation = nn.functional.pad(autocorrelation, (0, lags + 1 - autocorrelation.shape[1]))
        rhythm = autocorrelation[:, 1:] / autocorrelation[:, :1].clamp(min=1e-8)
        window_level = torch.cat([intervals, rhythm], dim=-1)[:, None].expand(-1, spec.shape[1], -1)
        hidden = torch.cat([log_spec, log_spec.pow(2), window_level], dim=-1)
        return _Output((hidden,))


class _Output:
    def __init__(self, hidden_states):
        self.hidden_states = hidden_states
        self.last_hidden_state = hidden_states[-1]
