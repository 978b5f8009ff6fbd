# Copyright 2026 the hf-culturemert developers. Apache-2.0.
"""The "From West to East" mel front end (arXiv 2307.09795) as a transformers feature extractor.

Hub remote-code file: it imports only torch, numpy, torchaudio (lazily, when first used) and the public transformers
API. One copy lives in the package (``hf_culturemert/models/mel/``); ``save_pretrained`` writes it beside every
VGG-ish, Musicnn and AST model folder, with an ``auto_map`` entry in ``preprocessor_config.json``.

Waveform (mono, 16 kHz) -> torchaudio ``MelSpectrogram`` (n_fft 512, hop 256, f_min 0, f_max 8000, 128 mel bins,
power 2) -> ``AmplitudeToDB`` (10 log10, no top_db clamp) -> optionally ``(x - mean) / (2 std)`` with *fixed*
statistics stored in the config (AST; the original code recomputed them from fresh random crops at evaluation,
which this class never does) -> ``[batch, n_mels, frames]`` (CNNs) or ``[batch, frames, n_mels]`` (AST).
"""

from typing import List, Optional, Union

import numpy as np
import torch

from transformers import BatchFeature, SequenceFeatureExtractor


class MelSpectrogramFeatureExtractor(SequenceFeatureExtractor):
    r"""Mel-dB spectrograms as the study computes them; batched and on any device (``device="cuda"``).

    Args:
        sampling_rate: expected input rate (16000); other rates are refused with the expected rate named.
        n_fft, hop_length, n_mels, f_min, f_max: the STFT / mel filter-bank geometry.
        time_major: ``False`` gives ``[batch, n_mels, frames]`` (VGG-ish, Musicnn), ``True`` gives
            ``[batch, frames, n_mels]`` (transformers' AST).
        mean, std: fixed normalisation statistics, applied as ``(x - mean) / (2 std)`` when both are set.
        input_name: the key of the returned tensor (``input_features`` for the CNNs, ``input_values`` for AST).
    """

    model_input_names = ["input_features"]

    def __init__(self, sampling_rate=16000, n_fft=512, hop_length=256, n_mels=128, f_min=0.0, f_max=8000.0,
                 time_major=False, mean=None, std=None, input_name="input_features", padding_value=0.0,
                 **kwargs):
        kwargs.pop("feature_size", None)  # written by to_dict; always n_mels
        super().__init__(feature_size=n_mels, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        if n_fft < 2 or hop_length < 1 or n_mels < 1:
            raise ValueError(f"MelSpectrogramFeatureExtractor: n_fft ({n_fft}), hop_length ({hop_length}) and "
                             f"n_mels ({n_mels}) must be positive")
        if not 0 <= f_min < f_max <= sampling_rate / 2:
            raise ValueError(f"MelSpectrogramFeatureExtractor: need 0 <= f_min ({f_min}) < f_max ({f_max}) <= "
                             f"sampling_rate / 2 ({sampling_rate / 2})")
        if (mean is None) != (std is None) or (std is not None and not std > 0):
            raise ValueError("MelSpectrogramFeatureExtractor: set both `mean` and `std` (std > 0) or neither")
        self.n_fft, self.hop_length, self.n_mels = int(n_fft), int(hop_length), int(n_mels)
        self.f_min, self.f_max = float(f_min), float(f_max)
        self.time_major = bool(time_major)
        self.mean = None if mean is None else float(mean)
        self.std = None if std is None else float(std)
        self.input_name = str(input_name)
        self.model_input_names = [self.input_name]
        self._modules = {}

    def to_dict(self):
        output = super().to_dict()
        output.pop("_modules", None)
        output.pop("model_input_names", None)
        return output

    # ------------------------------------------------------------------ computation

    def _transforms(self, device):
        key = str(device)
        if key not in self._modules:
            import warnings

            import torchaudio

            with warnings.catch_warnings():  # 128 mels on a 257-bin STFT leave some filters empty: the study's setting
                warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")
                mel = torchaudio.transforms.MelSpectrogram(
                    sample_rate=self.sampling_rate, n_fft=self.n_fft, hop_length=self.hop_length, f_min=self.f_min,
                    f_max=self.f_max, n_mels=self.n_mels, power=2.0)
            self._modules[key] = (mel.to(device), torchaudio.transforms.AmplitudeToDB(stype="power").to(device))
        return self._modules[key]

    def num_frames(self, num_samples):
        """Frames of a clip of ``num_samples`` samples (centred STFT: ``num_samples // hop + 1``)."""
        return int(num_samples) // self.hop_length + 1

    def mel_db(self, waveforms, device=None):
        """``[batch, samples]`` float tensor -> raw mel-dB ``[batch, n_mels, frames]`` (no normalisation)."""
        waveforms = torch.as_tensor(waveforms, dtype=torch.float32)
        if device is not None:
            waveforms = waveforms.to(device)
        mel, to_db = self._transforms(waveforms.device)
        with torch.no_grad():
            return to_db(mel(waveforms))

    def postprocess(self, mel):
        """Raw mel-dB ``[..., n_mels, frames]`` -> the model input (normalised, in the model's layout)."""
        if self.mean is not None:
            mel = (mel - self.mean) / (2.0 * self.std)
        return mel.transpose(-1, -2) if self.time_major else mel

    def __call__(self, raw_speech: Union[np.ndarray, List[float], List[np.ndarray], torch.Tensor],
                 sampling_rate: Optional[int] = None, return_tensors: Optional[str] = "pt", device=None,
                 **kwargs) -> BatchFeature:
        """One clip or a batch (list or 2-D array) of mono float waveforms at ``sampling_rate`` -> BatchFeature with
        ``input_name`` (and ``num_frames`` per clip; shorter clips are zero-padded to the longest)."""
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(f"MelSpectrogramFeatureExtractor expects {self.sampling_rate} Hz audio, got "
                             f"sampling_rate={sampling_rate}; resample first (e.g. datasets.Audio(sampling_rate="
                             f"{self.sampling_rate}) or torchaudio.functional.resample)")
        if isinstance(raw_speech, torch.Tensor):
            clips = [raw_speech] if raw_speech.ndim == 1 else list(raw_speech)
        elif isinstance(raw_speech, np.ndarray):
            clips = [raw_speech] if raw_speech.ndim == 1 else list(raw_speech)
        elif isinstance(raw_speech, (list, tuple)) and raw_speech and not np.isscalar(raw_speech[0]):
            clips = list(raw_speech)
        else:
            clips = [raw_speech]
        clips = [torch.as_tensor(np.asarray(c, dtype=np.float32) if not isinstance(c, torch.Tensor) else c,
                                 dtype=torch.float32) for c in clips]
        for index, clip in enumerate(clips):
            if clip.ndim != 1:
                raise ValueError(f"MelSpectrogramFeatureExtractor: clip {index} has shape {tuple(clip.shape)}; "
                                 "pass mono waveforms (1-D arrays), one per clip")
            if clip.numel() < self.n_fft // 2 + 1:
                raise ValueError(f"MelSpectrogramFeatureExtractor: clip {index} has {clip.numel()} samples; at "
                                 f"least {self.n_fft // 2 + 1} are needed for one frame")
            if not torch.isfinite(clip).all():
                raise ValueError(f"MelSpectrogramFeatureExtractor: clip {index} contains NaN or inf")
        longest = max(c.numel() for c in clips)
        batch = torch.stack([torch.nn.functional.pad(c, (0, longest - c.numel())) for c in clips])
        features = self.postprocess(self.mel_db(batch, device=device))
        frames = torch.tensor([self.num_frames(c.numel()) for c in clips])
        data = {self.input_name: features, "num_frames": frames}
        if return_tensors != "pt":
            data = {k: v.cpu().numpy() for k, v in data.items()}
            return BatchFeature(data, tensor_type=return_tensors)
        return BatchFeature(data)


MelSpectrogramFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")

__all__ = ["MelSpectrogramFeatureExtractor"]
