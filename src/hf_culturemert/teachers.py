"""Frozen teachers that produce MERT's pre-training targets, frame-aligned with the model.

* :class:`EncodecTeacher` - EnCodec 24 kHz at 6 kbps: 8 residual codebooks x 1024 codes at 75 Hz (acoustic target).
* :class:`CQTTeacher` - nnAudio constant-Q transform with MERT's parameters: 336 bins at 75 Hz (musical target).
* :class:`RVQTeacher` - residual k-means codebooks over log-mel frames, fitted on a corpus: the miniature study's
  stand-in for EnCodec (codes that carry acoustic information at a scale where a random EnCodec carries none).

Both run batched on the training device in eval mode without gradients (and outside autocast, so bf16 training
does not change the targets), and return exactly the model's frame count for any clip length: MERT's frames are
``floor((S - 400) / 320) + 1`` while EnCodec gives ``ceil(S / 320)`` and a centred CQT ``floor(S / 320) + 1``, so
targets are trimmed at the end (fairseq HuBERT/MERT align frame ``i`` with target ``i`` and drop the excess).
"""

import contextlib
import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from .constants import CQT_IMPLEMENTATIONS, SAMPLING_RATE

logger = logging.getLogger(__name__)

ENCODEC_24KHZ = "facebook/encodec_24khz"
HOP_LENGTH = 320

# nnAudio CQT parameters of MERT (yizhilll/MERT mert_model.py)
CQT_PARAMETERS = dict(sr=SAMPLING_RATE, hop_length=HOP_LENGTH, fmin=32.7, n_bins=336, bins_per_octave=48,
                      filter_scale=1, norm=1, window="hann", center=True, pad_mode="constant")


def model_frames(num_samples, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2)):
    """Frames of the MERT CNN for ``num_samples`` samples (374 for 5 s at 24 kHz)."""
    from .models.mert.modeling_mert import conv_output_lengths

    return int(conv_output_lengths(int(num_samples), list(conv_kernel), list(conv_stride)))


def align_frames(targets, num_frames, dim=-1):
    """Trim (or, if ever short, repeat the last frame) ``targets`` along ``dim`` to exactly ``num_frames``."""
    length = targets.shape[dim]
    if length == num_frames:
        return targets
    if length > num_frames:
        return targets.narrow(dim, 0, num_frames)
    if length == 0:
        raise ValueError(f"Cannot align an empty target sequence to {num_frames} frames")
    last = targets.narrow(dim, length - 1, 1)
    repeat = [1] * targets.dim()
    repeat[dim] = num_frames - length
    return torch.cat([targets, last.repeat(*repeat)], dim=dim)


def _no_autocast(device):
    device_type = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
    if device_type in ("cuda", "cpu", "xpu", "mps"):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def _as_batch(waveform):
    if waveform.dim() == 1:
        waveform = waveform[None]
    if waveform.dim() != 2:
        raise ValueError(f"Teachers expect mono waveforms of shape (batch, samples), got {tuple(waveform.shape)}")
    return waveform


class EncodecTeacher(nn.Module):
    """EnCodec codes as MERT's acoustic targets: ``[B, S]`` 24 kHz -> ``LongTensor [B, num_codebooks, T]``.

    ``bandwidth`` 6.0 kbps selects 8 residual codebooks of 1024 codes at 75 Hz (the 24 kHz model). Use
    :meth:`from_pretrained` for the real weights (``facebook/encodec_24khz``) or pass any ``EncodecModel``.

    Args:
        model: an ``EncodecModel`` (frozen and kept in eval mode).
        bandwidth: the target bandwidth in kbps, which sets the number of codebooks.
        num_codebooks: keep only the first codebooks.

    Example:
        ```python
        teacher = EncodecTeacher.from_pretrained()           # facebook/encodec_24khz, 8 codebooks
        codes = teacher(waveforms, num_frames=model_frames(waveforms.shape[-1]))   # [B, 8, T]
        ```
    """

    def __init__(self, model, bandwidth=6.0, num_codebooks=None):
        super().__init__()
        self.model = model.eval()
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.bandwidth = float(bandwidth)
        config = model.config
        if config.sampling_rate != SAMPLING_RATE or math.prod(config.upsampling_ratios) != HOP_LENGTH:
            raise ValueError(f"EnCodec teacher must run at {SAMPLING_RATE} Hz with hop {HOP_LENGTH} (75 Hz codes) "
                             f"to align with MERT frames; got {config.sampling_rate} Hz and hop "
                             f"{math.prod(config.upsampling_ratios)}. Use {ENCODEC_24KHZ}.")
        if self.bandwidth not in [float(b) for b in config.target_bandwidths]:
            raise ValueError(f"bandwidth {bandwidth} is not one of the EnCodec model's target_bandwidths "
                             f"{config.target_bandwidths}")
        available = int(model.quantizer.get_num_quantizers_for_bandwidth(self.bandwidth))
        self.num_codebooks = int(num_codebooks or available)
        if self.num_codebooks > available:
            raise ValueError(f"EnCodec gives {available} codebooks at {bandwidth} kbps, fewer than the "
                             f"{self.num_codebooks} requested; raise the bandwidth")
        self.codebook_size = int(config.codebook_size)

    def train(self, mode=True):  # a teacher stays in eval mode whatever the trainer does
        return super().train(False)

    @classmethod
    def from_pretrained(cls, name_or_path=ENCODEC_24KHZ, bandwidth=6.0, num_codebooks=None, **kwargs):
        from transformers import EncodecModel

        return cls(EncodecModel.from_pretrained(name_or_path, **kwargs), bandwidth, num_codebooks)

    @classmethod
    def from_config(cls, config=None, bandwidth=6.0, num_codebooks=None, seed=0):
        """Randomly initialised teacher (tests, benchmarks): ``config`` defaults to the real 24 kHz architecture."""
        from transformers import EncodecConfig, EncodecModel

        torch.manual_seed(seed)
        model = EncodecModel(config or EncodecConfig())
        _seed_codebooks(model, torch.Generator().manual_seed(seed))
        return cls(model, bandwidth, num_codebooks)

    def check_compatible(self, mert_config):
        """Raise if the student's codebook head does not match this teacher's codes."""
        if (mert_config.num_codebooks, mert_config.codebook_size) != (self.num_codebooks, self.codebook_size):
            raise ValueError(f"The model predicts {mert_config.num_codebooks} codebooks x {mert_config.codebook_size} "
                             f"codes but the EnCodec teacher gives {self.num_codebooks} x {self.codebook_size}; set "
                             "`num_codebooks`/`codebook_size` in the model config (or the teacher bandwidth)")

    @torch.no_grad()
    def forward(self, waveform, num_frames=None):
        waveform = _as_batch(waveform)
        device = next(self.model.parameters()).device
        with _no_autocast(device):
            dtype = next(self.model.parameters()).dtype
            out = self.model.encode(waveform.to(device=device, dtype=dtype)[:, None], bandwidth=self.bandwidth,
                                    return_dict=True)
        codes = out.audio_codes  # [chunks=1, B, K, T]
        if codes.dim() == 4:
            if codes.shape[0] != 1:
                raise RuntimeError("EncodecTeacher expects an EnCodec model without chunking (chunk_length_s=None)")
            codes = codes[0]
        codes = codes[:, : self.num_codebooks].long()
        if num_frames is None:
            num_frames = model_frames(waveform.shape[-1])
        return align_frames(codes, num_frames, dim=-1)


HALFBAND_TAPS = 31
GEMM_MAX_TAPS = 1024  # longer kernels run as a strided conv1d (see CQTTeacher._trimmed)


def _halfband_filter(taps=HALFBAND_TAPS, beta=8.0):
    """Zero-phase low-pass FIR (Kaiser-windowed sinc, cut-off at half the Nyquist rate, unit DC gain) for 2x
    decimation: flat up to a quarter of the decimated rate, ~80 dB down where aliases would fold onto it."""
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    h = 0.5 * torch.sinc(0.5 * n) * torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64)
    return (h / h.sum()).float()


def _decimation(top_hz, sampling_rate, hop_length, limit=64):
    """The largest power of two (dividing the hop, at most ``limit``) whose decimated rate keeps ``top_hz`` below a
    quarter of it."""
    factor = 1
    while (2 * factor <= limit and hop_length % (2 * factor) == 0
           and top_hz * 2 * factor <= sampling_rate / 4):
        factor *= 2
    return factor


class CQTTeacher(nn.Module):
    """Constant-Q magnitude (nnAudio, MERT's parameters) of the clean clip: ``[B, S]`` -> ``[B, T, 336]`` float32.

    nnAudio's CQT1992v2 convolves with every kernel zero-padded to the longest one (65,536 taps for 32.7 Hz at
    24 kHz, while the top octave needs ~800). ``implementation="trimmed"`` (default) runs the same convolution per
    group of ``bins_per_group`` bins with the kernels cut to their group's support, and only for the frames the
    model needs: the same numbers up to float summation order (tested against nnAudio), ~3-4x fewer FLOPs.
    ``"multirate"`` computes each octave on the clip decimated by the largest power of two that keeps the octave
    below a quarter of the decimated rate (cascaded half-band Kaiser FIRs, as in Schoerkhuber & Klapuri 2010 /
    nnAudio's CQT2010): every octave then costs what the top one does, ~8x fewer taps than ``"trimmed"`` (3-6x
    faster), within ~1e-4 relative error of it (tested to 1e-3 per octave). The miniature study uses it; MERT's recipe keeps ``"trimmed"``.
    ``"nnaudio"`` calls nnAudio's module as is.

    Args:
        implementation: ``trimmed``, ``multirate`` or ``nnaudio``.
        bins_per_group: bins per trimmed convolution (``trimmed`` only).
        **overrides: nnAudio CQT parameters to change (``CQT_PARAMETERS``: MERT's).

    Example:
        ```python
        cqt = CQTTeacher("multirate")
        targets = cqt(waveforms, num_frames=model_frames(waveforms.shape[-1]))   # [B, T, 336]
        ```
    """

    def __init__(self, implementation="trimmed", bins_per_group=24, **overrides):
        super().__init__()
        from nnAudio.features import CQT

        if implementation not in CQT_IMPLEMENTATIONS:
            raise ValueError(f"CQTTeacher implementation must be one of {CQT_IMPLEMENTATIONS}, got "
                             f"{implementation!r}")
        params = {**CQT_PARAMETERS, **overrides}
        if not params["center"] or params["pad_mode"] != "constant":
            implementation = "nnaudio"  # the trimmed paths reproduce centre=True with zero padding only
        self.implementation = implementation
        self.n_bins = int(params["n_bins"])
        self.hop_length = int(params["hop_length"])
        self.cqt = CQT(**params, trainable=False, output_format="Magnitude", verbose=False)
        self.cqt.eval()
        self.kernel_width = int(self.cqt.kernel_width)
        self._groups = []
        if implementation != "nnaudio":
            real, imag = self.cqt.cqt_kernels_real[:, 0], self.cqt.cqt_kernels_imag[:, 0]
            scale = torch.sqrt(self.cqt.lenghts.float())  # librosa normalisation, folded into the kernels
            support = (real != 0) | (imag != 0)
            if implementation == "multirate":
                bins_per_group = int(params["bins_per_octave"])
                # bin frequencies, as nnAudio lays them out: fmin * 2^(k / bins_per_octave)
                top_hz = [float(params["fmin"]) * 2 ** ((min(first + bins_per_group, self.n_bins) - 1)
                                                         / bins_per_group) for first in range(0, self.n_bins,
                                                                                              bins_per_group)]
            for index, first in enumerate(range(0, self.n_bins, bins_per_group)):
                rows = slice(first, min(first + bins_per_group, self.n_bins))
                columns = support[rows].any(0).nonzero()
                start, stop = int(columns.min()), int(columns.max()) + 1
                factor = 1
                if implementation == "multirate":
                    factor = _decimation(top_hz[index], float(params["sr"]), self.hop_length)
                    start = start // factor * factor
                    stop = start + -(-(stop - start) // factor) * factor
                # a band-limited kernel sampled every `factor` taps, times `factor`, gives the same inner product
                # with the (equally band-limited) decimated clip
                weight = torch.cat([real[rows, start:stop:factor], imag[rows, start:stop:factor]]) * \
                    torch.cat([scale[rows], scale[rows]])[:, None] * factor
                self.register_buffer(f"group_{index}", weight.contiguous(), persistent=False)  # [2 * bins, taps]
                self._groups.append((f"group_{index}", start, stop, factor))
            self.register_buffer("halfband", _halfband_filter()[None, None], persistent=False)
            # the full padded kernels are no longer needed: free ~170 MB
            self.cqt.cqt_kernels_real = torch.empty(0)
            self.cqt.cqt_kernels_imag = torch.empty(0)

    def train(self, mode=True):
        return super().train(False)

    def _trimmed(self, waveform, num_frames):
        """[B, S] -> [B, T, bins]. A group with short kernels (every multirate group) is one GEMM of the clip's
        frames ([B * T, taps], a strided view of the decimated clip) with its kernels: 2.5x faster than a strided
        ``conv1d`` for the multirate CQT of 8 x 2 s on 2 cores (42 -> 17 ms), the same sums to 1e-6 relative."""
        pad = self.kernel_width // 2
        total = waveform.shape[-1] + 2 * pad
        available = (total - self.kernel_width) // self.hop_length + 1
        num_frames = available if num_frames is None else min(num_frames, available)
        decimated = {1: F.pad(waveform, (pad, pad))}
        parts = []
        for name, start, stop, factor in self._groups:
            weight = getattr(self, name)  # [2 * bins, taps]
            while factor not in decimated:  # cascade: each halving filters the previous rate (cheap, zero-phase)
                rate = max(decimated)
                taps = self.halfband.shape[-1]
                decimated[2 * rate] = F.conv1d(decimated[rate][:, None], self.halfband, padding=taps // 2,
                                               stride=2)[:, 0]
            signal = decimated[factor]
            first, step = start // factor, self.hop_length // factor
            end = first + (num_frames - 1) * step + weight.shape[-1]
            if end > signal.shape[-1]:
                signal = F.pad(signal, (0, end - signal.shape[-1]))
            if weight.shape[-1] <= GEMM_MAX_TAPS:
                frames = signal[:, first:end].unfold(-1, weight.shape[-1], step)  # [B, T, taps]
                out = frames @ weight.T  # [B, T, 2 * bins]
            else:  # long kernels (the trimmed path's low octaves): the frames would be copied many times over
                out = F.conv1d(signal[:, None, first:end], weight[:, None], stride=step).transpose(1, 2)
            half = weight.shape[0] // 2
            parts.append(torch.sqrt(out[..., :half].pow(2) + out[..., half:].pow(2)))
        return torch.cat(parts, dim=-1)  # [B, T, bins]

    @torch.no_grad()
    def forward(self, waveform, num_frames=None):
        waveform = _as_batch(waveform)
        device = next(iter(self.buffers())).device
        if num_frames is None:
            num_frames = model_frames(waveform.shape[-1])
        with _no_autocast(device):
            waveform = waveform.to(device=device, dtype=torch.float32)
            if self.implementation != "nnaudio":
                spec = self._trimmed(waveform, num_frames)
            else:
                spec = self.cqt(waveform).transpose(1, 2)  # [B, frames, bins]
        return align_frames(spec, num_frames, dim=1).contiguous()


class RVQTeacher(nn.Module):
    """Residual vector quantisation of log-mel frames with k-means codebooks: ``[B, S]`` -> ``[B, K, T]`` codes.

    EnCodec's codes matter to MERT because they summarise the sound of each 75 Hz frame; a randomly initialised
    EnCodec (all a miniature can afford) gives codes without that meaning. This teacher keeps the form of the
    target (``num_codebooks`` residual codebooks at MERT's frame rate, coarse to fine) and gives it content:
    codebook ``k`` is fitted by k-means on what codebooks ``0..k-1`` leave of the standardised log-mel frames of a
    corpus (:meth:`fit`), so similar-sounding frames share codes. Saved and loaded as safetensors.

    Args:
        centroids: [K, codebook_size, n_mels] codebooks, as :meth:`fit` makes them.
        mean: the log-mel frames' mean, used to standardise.
        std: their standard deviation.
        n_mels: mel bands per frame.
        n_fft: the STFT size.

    Example:
        ```python
        teacher = RVQTeacher.fit(clips, num_codebooks=8, codebook_size=128)
        teacher.save("rvq_teacher.safetensors")
        codes = RVQTeacher.load("rvq_teacher.safetensors")(waveforms)             # [B, 8, T]
        ```
    """

    def __init__(self, centroids, mean, std, n_mels=64, n_fft=1024):
        super().__init__()
        import torchaudio

        centroids, mean, std = (torch.as_tensor(t, dtype=torch.float32) for t in (centroids, mean, std))
        if centroids.dim() != 3 or centroids.shape[-1] != n_mels or mean.shape != (n_mels,) or std.shape != (n_mels,):
            raise ValueError(f"RVQTeacher needs centroids [codebooks, codes, {n_mels}] and mean/std [{n_mels}], got "
                             f"{tuple(centroids.shape)}, {tuple(mean.shape)}, {tuple(std.shape)}")
        self.register_buffer("centroids", centroids.contiguous())
        self.register_buffer("mean", mean)
        self.register_buffer("std", std.clamp(min=1e-5))
        self.n_mels, self.n_fft = int(n_mels), int(n_fft)
        self.num_codebooks, self.codebook_size = int(centroids.shape[0]), int(centroids.shape[1])
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLING_RATE, n_fft=self.n_fft,
                                                        hop_length=HOP_LENGTH, n_mels=self.n_mels, center=True)

    def train(self, mode=True):
        return super().train(False)

    def frames(self, waveform, num_frames=None):
        """Standardised log-mel frames ``[B, T, n_mels]``, aligned with the model's frames."""
        waveform = _as_batch(waveform)
        if num_frames is None:
            num_frames = model_frames(waveform.shape[-1])
        with _no_autocast(self.mean.device):
            mel = self.mel(waveform.to(device=self.mean.device, dtype=torch.float32))  # [B, n_mels, T]
            log_mel = torch.log(mel + 1e-5).transpose(1, 2)
            return align_frames((log_mel - self.mean) / self.std, num_frames, dim=1)

    @staticmethod
    def _assign(residual, codebook):
        """Nearest centroid of every row (squared distance without the constant |x|^2 term)."""
        return torch.argmin(codebook.pow(2).sum(-1)[None] - 2 * residual @ codebook.T, dim=-1)

    @torch.no_grad()
    def forward(self, waveform, num_frames=None):
        frames = self.frames(waveform, num_frames)
        batch, length, dim = frames.shape
        residual = frames.reshape(-1, dim)
        codes = []
        for codebook in self.centroids:
            index = self._assign(residual, codebook)
            codes.append(index)
            residual = residual - codebook[index]
        return torch.stack(codes, dim=0).reshape(self.num_codebooks, batch, length).transpose(0, 1).contiguous()

    def check_compatible(self, mert_config):
        """Raise if the student's codebook head does not match this teacher's codes."""
        if (mert_config.num_codebooks, mert_config.codebook_size) != (self.num_codebooks, self.codebook_size):
            raise ValueError(f"The model predicts {mert_config.num_codebooks} codebooks x {mert_config.codebook_size} "
                             f"codes but the RVQ teacher gives {self.num_codebooks} x {self.codebook_size}; fit the "
                             "teacher with the model's `num_codebooks`/`codebook_size`")

    @classmethod
    @torch.no_grad()
    def fit(cls, waveforms, num_codebooks=8, codebook_size=1024, n_mels=64, iterations=15, max_frames=200_000,
            seed=0, progress=True):
        """Fit the residual codebooks on the frames of ``waveforms`` (an iterable of 1-D 24 kHz tensors/arrays).

        k-means per codebook, on the residual of the previous ones: ``codebook_size`` distinct frames as the start,
        ``iterations`` Lloyd steps, empty clusters re-seeded with the worst-fitted frames. Deterministic by
        ``seed``; at most ``max_frames`` frames (a seeded sample) are used.
        """
        from tqdm.auto import tqdm

        probe = cls(torch.zeros(1, 1, n_mels), torch.zeros(n_mels), torch.ones(n_mels), n_mels=n_mels)
        chunks = []
        for wave in waveforms:
            wave = torch.as_tensor(wave, dtype=torch.float32).reshape(-1)
            if wave.numel() >= 400:
                chunks.append(probe.frames(wave)[0])
        if not chunks:
            raise ValueError("RVQTeacher.fit got no waveform of at least 400 samples (one frame)")
        frames = torch.cat(chunks)
        mean, std = frames.mean(0), frames.std(0).clamp(min=1e-5)
        frames = (frames - mean) / std
        generator = torch.Generator().manual_seed(int(seed))
        if frames.shape[0] > max_frames:
            frames = frames[torch.randperm(frames.shape[0], generator=generator)[:max_frames]]
        if frames.shape[0] < codebook_size:
            raise ValueError(f"RVQTeacher.fit needs at least codebook_size={codebook_size} frames, got "
                             f"{frames.shape[0]}: give it more audio or a smaller codebook")
        residual, codebooks = frames, []
        for _ in tqdm(range(num_codebooks), desc="RVQ teacher (k-means)", disable=not progress):
            codebook = residual[torch.randperm(residual.shape[0], generator=generator)[:codebook_size]].clone()
            for _ in range(iterations):
                index = cls._assign(residual, codebook)
                sums = torch.zeros_like(codebook).index_add_(0, index, residual)
                counts = torch.bincount(index, minlength=codebook_size)
                filled = counts > 0
                codebook[filled] = sums[filled] / counts[filled, None].float()
                if not filled.all():  # re-seed empty clusters with the frames the codebook fits worst
                    error = (residual - codebook[index]).pow(2).sum(-1)
                    codebook[~filled] = residual[torch.topk(error, int((~filled).sum())).indices]
            codebooks.append(codebook)
            residual = residual - codebook[cls._assign(residual, codebook)]
        return cls(torch.stack(codebooks), mean, std, n_mels=n_mels)

    def save(self, path):
        from .outputs import save_safetensors

        save_safetensors({"centroids": self.centroids.cpu(), "mean": self.mean.cpu(), "std": self.std.cpu()}, path,
                         metadata={"kind": "rvq-teacher", "n_mels": str(self.n_mels), "n_fft": str(self.n_fft)})
        return path

    @classmethod
    def load(cls, path):
        from safetensors import SafetensorError, safe_open

        path = str(path)
        try:
            with safe_open(path, framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        except (OSError, SafetensorError) as error:
            raise ValueError(f"{path} is not a readable RVQ teacher file (safetensors written by "
                             f"RVQTeacher.save): {error}") from error
        if metadata.get("kind") != "rvq-teacher" or set(tensors) != {"centroids", "mean", "std"}:
            raise ValueError(f"{path} is not an RVQ teacher file (expected centroids/mean/std written by "
                             "RVQTeacher.save)")
        return cls(tensors["centroids"], tensors["mean"], tensors["std"], n_mels=int(metadata["n_mels"]),
                   n_fft=int(metadata["n_fft"]))


@torch.no_grad()
def _seed_codebooks(model, generator, seconds=8.0):
    """Draw each residual codebook of a fresh ``EncodecModel`` from frames of the residual it quantises.

    transformers initialises the codebooks to zeros, so a random teacher would give code 0 to every frame and the
    masked-prediction task would be trivial. Sampling codebook entries from the latents of a probe signal (random
    harmonic tones plus noise), as k-means initialisation does, gives random teachers varied, input-dependent codes.
    """
    rate = model.config.sampling_rate
    time = torch.arange(int(seconds * rate)) / rate
    rows = []
    for _ in range(4):
        f0 = 55.0 * 2 ** (torch.rand((), generator=generator) * 5)
        tone = sum(torch.sin(2 * math.pi * f0 * k * time + torch.rand((), generator=generator) * 6.28) / k
                   for k in range(1, 6))
        noise = torch.randn(time.shape, generator=generator)
        rows.append(0.1 * tone / 2 + 0.02 * noise)
    probe = torch.stack(rows)[:, None].to(next(model.parameters()).dtype)
    residual = model.encoder(probe).transpose(1, 2).reshape(-1, model.config.codebook_dim)
    for layer in model.quantizer.layers:
        codebook = layer.codebook
        picks = torch.randint(0, residual.shape[0], (codebook.codebook_size,), generator=generator)
        jitter = 1e-3 * residual.std() * torch.randn(codebook.embed.shape, generator=generator)
        codebook.embed.copy_(residual[picks] + jitter)
        codebook.embed_avg.copy_(codebook.embed)
        codebook.cluster_size.fill_(1.0)
        residual = residual - codebook.decode(codebook.encode(residual))


def tiny_encodec_config(codebook_size=1024, **overrides):
    """A valid, very small 24 kHz EnCodec config (hop 320, 8 codebooks at 6 kbps) for tests and the tiny recipe.

    The number of codebooks at a bandwidth is ``1000 * bw / (75 * log2(codebook_size))``, so 8 codebooks at 6 kbps
    needs the real ``codebook_size`` 1024; the networks themselves are tiny (4 filters, hidden 16, 1 LSTM layer).
    """
    from transformers import EncodecConfig

    values = dict(sampling_rate=SAMPLING_RATE, audio_channels=1, hidden_size=16, num_filters=4, num_lstm_layers=1,
                  num_residual_layers=1, codebook_size=codebook_size, upsampling_ratios=[8, 5, 4, 2],
                  target_bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0])
    values.update(overrides)
    return EncodecConfig(**values)


def build_encodec_teacher(name_or_path=ENCODEC_24KHZ, bandwidth=6.0, num_codebooks=None, seed=0):
    """``"random-tiny"`` / ``"random-24khz"`` give randomly initialised teachers (offline tests and benchmarks),
    ``"rvq:<file>"`` a fitted :class:`RVQTeacher`; anything else is a Hub id or a local folder loaded with
    ``EncodecModel.from_pretrained``."""
    if str(name_or_path).startswith("rvq:"):
        teacher = RVQTeacher.load(str(name_or_path)[len("rvq:"):])
        if num_codebooks is not None and num_codebooks != teacher.num_codebooks:
            raise ValueError(f"{name_or_path} has {teacher.num_codebooks} codebooks but {num_codebooks} were asked for")
        return teacher
    if name_or_path == "random-tiny":
        return EncodecTeacher.from_config(tiny_encodec_config(), bandwidth, num_codebooks, seed)
    if name_or_path == "random-24khz":
        return EncodecTeacher.from_config(None, bandwidth, num_codebooks, seed)
    return EncodecTeacher.from_pretrained(name_or_path, bandwidth, num_codebooks)


__all__ = ["EncodecTeacher", "CQTTeacher", "RVQTeacher", "align_frames", "model_frames", "tiny_encodec_config",
           "build_encodec_teacher", "CQT_PARAMETERS", "ENCODEC_24KHZ"]
