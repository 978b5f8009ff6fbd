"""Audio input contract: mono float waveforms at 24 kHz, decoded with torchcodec, validated with clear errors.

Every entry point (feature extraction, probing, the Space, the dataset builders) goes through these two functions so
that a wrong sampling rate, an empty or silent clip, NaNs or a non-audio array fail the same, explained way.
"""

import logging
import os
from pathlib import Path

import numpy as np
import torch

from .constants import SAMPLING_RATE

logger = logging.getLogger(__name__)

MIN_SAMPLES = 400  # one MERT frame (the CNN's receptive field)
SILENCE_PEAK = 1e-5
DURATION_TOLERANCE_SECONDS = 0.25  # decoded vs. header duration: larger gaps are warned about
DURATION_TOLERANCE_FRACTION = 0.02
MAX_CHANNELS = 8  # (samples, channels) arrays with at most this many channels are down-mixed


def _source_name(source):
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__} of {len(source)} bytes>" if isinstance(source, (bytes, bytearray)) else repr(source)


def load_audio(source, sampling_rate=SAMPLING_RATE, start_seconds=None, end_seconds=None, allow_silent=False):
    """Decode a file (any ffmpeg format), raw bytes, or a ``datasets`` audio dict to a mono float32 array.

    The signal is down-mixed to mono and resampled to ``sampling_rate`` by the decoder.

    Args:
        source: a path, raw bytes, or a ``datasets`` ``Audio`` value (decoded or not).
        sampling_rate: the rate to decode to (MERT's 24 kHz by default).
        start_seconds: start of a time range to cut (Lyra's time-stamped cuts of longer videos).
        end_seconds: end of that range.
        allow_silent: accept an all-zero recording (refused by default: it gives meaningless features).

    Returns:
        A mono float32 numpy array at ``sampling_rate``.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the audio is undecodable, empty or silent; the message names the source.

    Example:
        ```python
        wave = load_audio("taksim.mp3")          # float32, 24 kHz, mono
        part = load_audio("video.m4a", start_seconds=30, end_seconds=60)
        ```
    """
    if isinstance(source, dict):  # datasets' decoded or undecoded Audio value
        if source.get("array") is not None:
            array = prepare_waveform(source["array"], source["sampling_rate"], sampling_rate, check_silence=False)
            return _check_loaded(array.numpy(), source.get("path") or "<audio dict>", allow_silent)
        source = source.get("bytes") or source.get("path")
    name = _source_name(source)
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise FileNotFoundError(f"Audio file not found: {name}")
    if not isinstance(source, (str, os.PathLike, bytes, bytearray)):
        raise ValueError(f"Cannot load audio from {name}: pass a file path, bytes, or a datasets audio dict")
    from torchcodec.decoders import AudioDecoder

    source = bytes(source) if isinstance(source, bytearray) else source
    try:
        if start_seconds is not None or end_seconds is not None:
            try:
                decoder = AudioDecoder(source, sample_rate=sampling_rate, num_channels=1)
                samples = decoder.get_samples_played_in_range(start_seconds or 0.0, end_seconds)
                array = samples.data[0].numpy()  # num_channels=1: the decoder down-mixed already; a view, no copy
                del samples
            except RuntimeError as error:  # some FLAC streams decode whole but fail to seek ("Could not push packet")
                logger.debug("Seeking in %s failed (%s); decoding the whole stream and cutting", name, error)
                whole, _ = _decode_stream(source, sampling_rate)
                first = int(round((start_seconds or 0.0) * sampling_rate))
                last = whole.size if end_seconds is None else int(round(end_seconds * sampling_rate))
                array = whole[first:last]
        else:
            array, metadata = _decode_stream(source, sampling_rate)
    except (RuntimeError, ValueError, IndexError) as error:
        raise ValueError(f"Could not decode audio {name}: {error}. Is it a valid audio/video file? "
                         "Any format ffmpeg reads works (wav, flac, mp3, ogg, m4a, mp4, webm).") from error
    array = array.astype(np.float32, copy=False)
    if start_seconds is None and end_seconds is None:
        _check_duration(metadata, array.size / float(sampling_rate), name, source)
    return _check_loaded(array, name, allow_silent)


def _decode_stream(source, sampling_rate):
    """The whole audio stream as one mono float32 array, and the stream's header metadata.

    Packets are decoded, down-mixed and resampled one by one into a buffer sized from the header, so that decoding
    peaks at the decoded audio plus a frame, for every codec (``AudioDecoder.get_all_samples`` holds every frame and
    then their concatenation: over twice the audio). The samples are identical to ``get_all_samples``' (same
    decoder and resampler, fed in the same order; tested on mp3, vorbis, opus, aac, flac and wav).
    """
    from torchcodec.decoders import AudioConverter, Demuxer

    demuxer = Demuxer(source, streams="audio")
    stream = demuxer.streams[0]
    metadata = stream.metadata
    declared = getattr(metadata, "duration_seconds_from_header", None)
    size = int(np.ceil((declared + 1.0) * sampling_rate)) if declared and np.isfinite(declared) and declared > 0 \
        else 60 * sampling_rate
    buffer, filled = np.empty(size, dtype=np.float32), 0
    decoder, converter = stream.make_decoder(), AudioConverter(sample_rate=sampling_rate, num_channels=1)

    def put(samples):
        nonlocal buffer, filled
        if samples is None or samples.data.numel() == 0:
            return
        chunk = samples.data[0].numpy()
        if filled + chunk.size > buffer.size:  # the header under-estimated the stream: grow by half (rare)
            buffer = np.concatenate([buffer[:filled], np.empty(max(chunk.size, buffer.size // 2), np.float32)])
        buffer[filled:filled + chunk.size] = chunk
        filled += chunk.size

    for packet in demuxer:
        for raw in decoder.decode(packet):
            put(converter.convert(raw))
    for raw in decoder.drain():
        put(converter.convert(raw))
    put(converter.drain())
    if filled == 0:
        raise ValueError("the stream decoded to no samples")
    return buffer[:filled], metadata


def _wav_declared_seconds(source):
    """Duration that a RIFF/WAVE file's ``data`` chunk declares (ffmpeg estimates it from the file size instead)."""
    import struct

    try:
        if isinstance(source, (bytes, bytearray)):
            head = bytes(source[:4096])
        else:
            with open(source, "rb") as handle:
                head = handle.read(4096)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position, block_align, rate = 12, None, None
    while position + 8 <= len(head):
        chunk, size = head[position:position + 4], struct.unpack("<I", head[position + 4:position + 8])[0]
        if chunk == b"fmt " and position + 24 <= len(head):
            rate = struct.unpack("<I", head[position + 12:position + 16])[0]
            block_align = struct.unpack("<H", head[position + 20:position + 22])[0]
        elif chunk == b"data":
            if not rate or not block_align or size in (0, 0xFFFFFFFF):  # streamed wavs leave the size open
                return None
            return size / block_align / rate
        position += 8 + size + (size & 1)
    return None


def _check_duration(metadata, decoded_seconds, name, source=None):
    """Warn when the decoded audio is shorter or longer than the container says (truncated or corrupt files)."""
    declared = _wav_declared_seconds(source) if source is not None else None
    try:
        declared = declared or metadata.duration_seconds_from_header
    except AttributeError:
        return None
    if declared is None or not np.isfinite(declared) or declared <= 0:
        return None
    if abs(decoded_seconds - declared) > max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_FRACTION * declared):
        logger.warning("Audio %s: decoded %.2f s but its header declares %.2f s; the file is probably truncated or "
                       "corrupt (features cover only what decoded)", name, decoded_seconds, declared)
    return declared


def _check_loaded(array, name, allow_silent):
    if array.size == 0:
        raise ValueError(f"Audio {name} decoded to zero samples (empty file or empty time range)")
    if not np.isfinite(array.sum(dtype=np.float64)):  # NaN/inf propagate into the sum: no per-sample temporary
        raise ValueError(f"Audio {name} contains NaN or infinite samples")
    if not allow_silent and max(-float(array.min()), float(array.max())) < SILENCE_PEAK:
        raise ValueError(f"Audio {name} is silent (peak amplitude below {SILENCE_PEAK}); nothing to analyse")
    return array


def prepare_waveform(waveform, sampling_rate, target_rate=SAMPLING_RATE, resample=True, check_silence=False):
    """Validate a waveform and bring it to ``target_rate``: returns float32 [S] or [B, S] (a batch of mono clips).

    ``sampling_rate`` is required: MERT silently gives wrong features at the wrong rate.

    Args:
        waveform: samples as a numpy array, torch tensor or list; mono [S], a batch [B, S], or soundfile's
            ``(samples, channels)`` layout (up to 8 channels, down-mixed).
        sampling_rate: the rate of ``waveform`` in Hz.
        target_rate: the rate the model expects.
        resample: resample another rate (logged); ``False`` refuses it, naming the expected rate.
        check_silence: refuse an all-zero waveform.

    Returns:
        A float32 torch tensor [S] or [B, S] at ``target_rate``.

    Raises:
        ValueError: empty input, fewer than 400 samples (one frame), NaN/inf, a wrong rate with ``resample=False``.

    Example:
        ```python
        samples, rate = soundfile.read("clip.wav")        # (samples, 2) at 44.1 kHz
        wave = prepare_waveform(samples, rate)            # float32 [S] at 24 kHz, down-mixed
        ```
    """
    if sampling_rate is None:
        raise ValueError(f"`sampling_rate` is required; MERT expects {target_rate} Hz audio")
    if isinstance(waveform, (list, tuple)):
        try:
            waveform = np.asarray(waveform, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`waveform` is not numeric audio: {error}") from error
    if isinstance(waveform, np.ndarray):
        if waveform.dtype.kind in "iu":
            scale = float(np.iinfo(waveform.dtype).max) + 1.0
            logger.info("Converting integer PCM (%s) to float in [-1, 1]", waveform.dtype)
            waveform = waveform.astype(np.float32) / scale
        elif waveform.dtype.kind != "f":
            raise ValueError(f"`waveform` must hold real float samples, got dtype {waveform.dtype}")
        waveform = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    if not isinstance(waveform, torch.Tensor):
        raise ValueError(f"`waveform` must be a numpy array, torch tensor or list of floats, got {type(waveform)}")
    if not waveform.is_floating_point() or waveform.is_complex():
        raise ValueError(f"`waveform` must hold real float samples, got dtype {waveform.dtype}")
    if waveform.dim() not in (1, 2):
        raise ValueError(f"`waveform` must be mono audio of shape (samples,) or a batch (batch, samples); got shape "
                         f"{tuple(waveform.shape)}. Down-mix multi-channel audio first (e.g. waveform.mean(0)).")
    if waveform.dim() == 2 and waveform.shape[1] <= MAX_CHANNELS < waveform.shape[0]:
        # soundfile's (samples, channels) layout: a batch of clips each shorter than one frame cannot be meant
        logger.info("Down-mixing %d channels (samples, channels) to mono", waveform.shape[1])
        waveform = waveform.mean(1)
    if waveform.numel() == 0 or waveform.shape[-1] == 0:
        raise ValueError("`waveform` is empty")
    if not bool(torch.isfinite(waveform.sum())):  # NaN/inf propagate into the sum: no per-sample temporary
        raise ValueError("`waveform` contains NaN or infinite values")
    waveform = waveform.float()
    if int(sampling_rate) != target_rate:
        if not resample:
            raise ValueError(f"`waveform` is sampled at {sampling_rate} Hz but MERT expects {target_rate} Hz; "
                             f"resample it (or pass resample=True)")
        import torchaudio.functional as AF

        logger.info("Resampling audio from %d Hz to %d Hz", int(sampling_rate), target_rate)
        waveform = AF.resample(waveform, int(sampling_rate), target_rate)
    if waveform.shape[-1] < MIN_SAMPLES:
        raise ValueError(f"`waveform` has {waveform.shape[-1]} samples at {target_rate} Hz, shorter than one MERT "
                         f"frame ({MIN_SAMPLES} samples = {1000 * MIN_SAMPLES / target_rate:.1f} ms)")
    if check_silence and float(waveform.abs().max()) < SILENCE_PEAK:
        raise ValueError(f"`waveform` is silent (peak amplitude below {SILENCE_PEAK}); nothing to analyse "
                         "(pass allow_silent=True to accept silence)")
    return waveform


def normalize_waveform(waveform, lengths=None, eps=1e-7):
    """Zero-mean, unit-variance per clip over its valid samples, as ``Wav2Vec2FeatureExtractor(do_normalize=True)``."""
    if lengths is None:
        mean = waveform.mean(-1, keepdim=True)
        var = waveform.var(-1, keepdim=True, unbiased=False)
        return (waveform - mean) / torch.sqrt(var + eps)
    valid = (torch.arange(waveform.shape[-1], device=waveform.device)[None] < lengths[:, None]).to(waveform.dtype)
    count = valid.sum(-1, keepdim=True).clamp(min=1)
    mean = (waveform * valid).sum(-1, keepdim=True) / count
    var = (((waveform - mean) * valid) ** 2).sum(-1, keepdim=True) / count
    return (waveform - mean) / torch.sqrt(var + eps) * valid
