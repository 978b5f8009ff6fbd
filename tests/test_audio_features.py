"""Input contract (decoding, validation, resampling) and long-recording feature extraction."""

import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_culturemert.audio import load_audio, normalize_waveform, prepare_waveform
from hf_culturemert.cli import main as cli_main
from hf_culturemert.features import extract_features
from hf_culturemert.testing import random_model, sine_wave


def test_prepare_waveform_validates_and_resamples(caplog):
    wave = sine_wave(1.0, 440, 48000)
    with caplog.at_level("INFO"):
        out = prepare_waveform(wave, 48000)
    assert out.shape == (24000,) and out.dtype == torch.float32
    assert "Resampling audio from 48000 Hz to 24000 Hz" in caplog.text
    # the resampled tone keeps its pitch
    spectrum = np.abs(np.fft.rfft(out.numpy()))
    assert abs(np.argmax(spectrum) * 24000 / 24000 - 440) <= 1
    with pytest.raises(ValueError, match="expects 24000 Hz"):
        prepare_waveform(wave, 48000, resample=False)
    batch = prepare_waveform(np.stack([wave, wave]), 48000)
    assert batch.shape == (2, 24000)
    pcm = prepare_waveform((wave * 32767).astype(np.int16), 48000)
    assert float(pcm.abs().max()) <= 1.0


@pytest.mark.parametrize(
    "waveform, rate, message",
    [
        (np.zeros(0, dtype=np.float32), 24000, "empty"),
        (np.zeros(399, dtype=np.float32), 24000, "shorter than one MERT frame"),
        (np.array([0.1, np.nan] * 300, dtype=np.float32), 24000, "NaN"),
        (np.full(1000, np.inf, dtype=np.float32), 24000, "NaN or infinite"),
        (np.zeros((2, 2, 1000), dtype=np.float32), 24000, "mono audio"),
        (np.array(["a"] * 1000), 24000, "real float samples"),
        (np.ones(1000, dtype=np.complex64), 24000, "real float samples"),
        (np.ones(1000, dtype=np.float32), None, "sampling_rate` is required"),
    ],
)
def test_prepare_waveform_rejects_bad_input(waveform, rate, message):
    with pytest.raises(ValueError, match=message):
        prepare_waveform(waveform, rate)


def test_load_audio_decodes_formats_and_cuts(tmp_path):
    wave = sine_wave(3.0, 330, 44100, seed=0)
    sf.write(tmp_path / "clip.wav", np.stack([wave, wave], 1), 44100)  # stereo, 44.1 kHz
    audio = load_audio(tmp_path / "clip.wav")
    assert audio.dtype == np.float32 and abs(len(audio) - 72000) <= 1
    cut = load_audio(tmp_path / "clip.wav", start_seconds=1.0, end_seconds=2.5)
    assert abs(len(cut) - 36000) <= 400
    from_bytes = load_audio((tmp_path / "clip.wav").read_bytes())
    np.testing.assert_allclose(from_bytes, audio, atol=1e-6)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(tmp_path / "clip.wav"), str(tmp_path / "c.mp3")],
                   check=True)
    assert abs(len(load_audio(tmp_path / "c.mp3")) - 72000) < 3000


def test_load_audio_cut_falls_back_when_seeking_fails(tmp_path, monkeypatch):
    """Some FLAC streams decode whole but fail to seek in torchcodec ("Could not push packet to decoder", seen on
    a synthetic Hindustani clip): a cut then comes from the whole stream, with the same samples."""
    from torchcodec.decoders import AudioDecoder

    wave = sine_wave(3.0, 330, 24000, seed=0)
    sf.write(tmp_path / "clip.flac", wave, 24000)
    seeked = load_audio(tmp_path / "clip.flac", start_seconds=1.0, end_seconds=2.5)

    def broken_seek(self, *args, **kwargs):
        raise RuntimeError("Could not push packet to decoder: Invalid data found when processing input")

    monkeypatch.setattr(AudioDecoder, "get_samples_played_in_range", broken_seek)
    fallback = load_audio(tmp_path / "clip.flac", start_seconds=1.0, end_seconds=2.5)
    assert len(fallback) == 36000
    np.testing.assert_allclose(fallback, seeked[:36000], atol=1e-4)
    assert len(load_audio(tmp_path / "clip.flac", start_seconds=2.0)) == 24000
    (tmp_path / "corrupt.flac").write_bytes(b"fLaC" + b"x" * 400)  # a stream that does not decode whole either
    with pytest.raises(ValueError, match="corrupt.flac"):
        load_audio(tmp_path / "corrupt.flac", start_seconds=0.5)


def test_load_audio_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "corrupt.mp3").write_bytes(b"not audio at all" * 100)
    with pytest.raises(ValueError, match="corrupt.mp3"):
        load_audio(tmp_path / "corrupt.mp3")
    sf.write(tmp_path / "silent.wav", np.zeros(24000, dtype=np.float32), 24000)
    with pytest.raises(ValueError, match="silent.wav.*silent"):
        load_audio(tmp_path / "silent.wav")
    assert load_audio(tmp_path / "silent.wav", allow_silent=True).shape == (24000,)


def test_normalize_matches_feature_extractor():
    from hf_culturemert.export import mert_feature_extractor

    wave = sine_wave(0.5, 220, 24000, seed=1)
    expected = mert_feature_extractor()(wave, sampling_rate=24000, return_tensors="pt").input_values
    torch.testing.assert_close(normalize_waveform(torch.from_numpy(wave)[None]), expected, rtol=1e-4, atol=1e-4)


def test_extract_features_long_recording_windows_and_timestamps():
    model = random_model(seed=0)
    wave = sine_wave(12.5, 440, 24000, seed=2)
    calls = []
    out = extract_features(model, wave, 24000, window_seconds=5.0, batch_size=2,
                           on_batch=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (2, 3), (3, 3)]  # windows (not batches) done, before the first batch and after each
    assert out.window_starts == [0.0, 5.0, 10.0] and out.window_ends == [5.0, 10.0, 12.5]
    assert out.window_features.shape == (3, 3, 32) and out.pooled.shape == (3, 32)
    assert out.frames_per_second == 75.0 and out.frame_counts == [374, 374, 187]
    # each window equals a lone run of that window, and the pooled value is the frame-weighted mean
    for index, (start, end) in enumerate(zip(out.window_starts, out.window_ends)):
        clip = torch.from_numpy(wave[int(start * 24000): int(end * 24000)])
        with torch.no_grad():
            states = model(normalize_waveform(clip[None]), output_hidden_states=True).hidden_states
        for layer in range(3):
            torch.testing.assert_close(out.window_features[layer, index], states[layer][0].mean(0), rtol=1e-4,
                                       atol=1e-4)
    weights = torch.tensor([374.0, 374.0, 187.0])
    torch.testing.assert_close(out.pooled, (out.window_features * weights[None, :, None]).sum(1) / weights.sum())
    overlapping = extract_features(model, wave, 24000, window_seconds=5.0, hop_seconds=2.5, layers=[-1])
    assert overlapping.layers == [2] and overlapping.window_starts == [0.0, 2.5, 5.0, 7.5]


def test_extract_features_resamples_and_rejects_batches(caplog):
    model = random_model(seed=0)
    with caplog.at_level("INFO"):
        out = extract_features(model, sine_wave(2.0, 440, 16000), 16000, window_seconds=5.0)
    assert "Resampling" in caplog.text and out.window_ends == [2.0]
    with pytest.raises(ValueError, match="one recording"):
        extract_features(model, np.zeros((2, 24000), dtype=np.float32), 24000)


def test_embed_command_writes_features(tmp_path):
    sf.write(tmp_path / "song.flac", sine_wave(7.0, 220, 24000, seed=3), 24000)
    code = cli_main(["embed", "--audio", str(tmp_path / "song.flac"), "--model", "tiny-random", "--output_dir",
                     str(tmp_path / "out")])
    assert code == 0
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "out" / "song.safetensors")
    assert saved["window_features"].shape == (3, 2, 32)
    # the default CPU float32 run is the fused path; `--fused false` (plain eager) gives the same features
    assert cli_main(["embed", "--audio", str(tmp_path / "song.flac"), "--model", "tiny-random", "--output_dir",
                     str(tmp_path / "eager"), "--fused", "false"]) == 0
    eager = load_file(tmp_path / "eager" / "song.safetensors")
    torch.testing.assert_close(saved["window_features"], eager["window_features"], rtol=0, atol=1e-5)
    assert cli_main(["embed", "--audio", str(tmp_path / "nope.wav"), "--model", "tiny-random"]) == 1


@pytest.mark.slow
def test_compiled_inference_matches_eager():
    """Inductor with frozen weights (opt-in fast path): same features as eager, config and helpers reachable."""
    from hf_culturemert.inference import CompiledMERT, compile_for_inference

    model = random_model(seed=5)
    wave = sine_wave(2.5, 330.0, seed=1)
    eager = extract_features(model, wave, 24000, window_seconds=1.0, batch_size=4)
    compiled = compile_for_inference(model)
    assert isinstance(compiled, CompiledMERT) and compile_for_inference(compiled) is compiled
    assert compiled.config is model.config
    fast = extract_features(compiled, wave, 24000, window_seconds=1.0, batch_size=4)
    torch.testing.assert_close(fast.window_features, eager.window_features, atol=1e-5, rtol=1e-4)
    assert fast.window_starts == eager.window_starts
    with pytest.raises(TypeError, match="MERT model"):
        compile_for_inference("m-a-p/MERT-v1-95M")
