"""Helpers for tests, benchmarks and the offline default: tiny configs and deterministic audio.

Kept in the package (not in tests/) because the offline default pipeline and the Space fall back to them too.
"""

import math

import numpy as np
import torch

from .constants import SAMPLING_RATE
from .models.mert.configuration_mert import MERTConfig


def tiny_mert_config(**overrides):
    """A MERT config small enough for CPU tests in milliseconds, with MERT's real 320x / 400-sample CNN geometry.

    hidden 32, 2 layers, 4 heads, CNN channels 32 (the strides and kernels of MERT-v1 are kept so that frame
    counts, 75 Hz timing and EnCodec alignment are the real ones).
    """
    values = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        conv_dim=[32] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        final_dropout=0.0, layerdrop=0.0, num_codebooks=8, codebook_size=64, codebook_dim=16, cqt_bins=336,
    )
    values.update(overrides)
    return MERTConfig(**values)


def sine_wave(seconds=1.0, frequency=440.0, sampling_rate=SAMPLING_RATE, amplitude=0.5, seed=None):
    """A float32 sine (plus a little noise when ``seed`` is given): deterministic stand-in audio."""
    t = np.arange(int(round(seconds * sampling_rate)), dtype=np.float64) / sampling_rate
    wave = amplitude * np.sin(2 * math.pi * frequency * t)
    if seed is not None:
        wave = wave + 0.01 * np.random.default_rng(seed).standard_normal(wave.shape)
    return wave.astype(np.float32)


def random_model(config=None, seed=0, model_class=None):
    """A randomly initialised model, reproducible by seed."""
    from .models.mert.modeling_mert import MERTModel

    torch.manual_seed(seed)
    return (model_class or MERTModel)(config or tiny_mert_config()).eval()


def write_tone_corpus(path, counts=(24, 12, 12), seconds=1.5, sampling_rate=SAMPLING_RATE, seed=0, mix_all=True):
    """A ``DatasetDict`` folder (train/validation/test) whose three tags are audible to any model: ``low`` (220 Hz
    sine), ``high`` (1760 Hz sine) and ``noise``. Clips are multi-label mixes; every tag has positives in every split.
    ``mix_all=False`` never switches on all three at once (the tag after the guaranteed one is off)."""
    import io

    import datasets
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    names = ["low", "high", "noise"]
    features = datasets.Features({"id": datasets.Value("string"),
                                  "audio": datasets.Audio(sampling_rate=sampling_rate),
                                  "tags": datasets.List(datasets.Value("string")),
                                  "labels": datasets.List(datasets.Value("int8"))})
    splits = {}
    for split, count in zip(("train", "validation", "test"), counts):
        rows = {"id": [], "audio": [], "tags": [], "labels": []}
        for i in range(count):
            on = rng.random(3) < 0.5
            on[i % 3] = True
            if not mix_all:
                on[(i + 1) % 3] = False
            wave = 0.01 * rng.standard_normal(t.shape)
            wave += on[0] * 0.3 * np.sin(2 * np.pi * 220 * t) + on[1] * 0.3 * np.sin(2 * np.pi * 1760 * t)
            wave += on[2] * 0.3 * rng.standard_normal(t.shape)
            buffer = io.BytesIO()
            sf.write(buffer, wave.astype(np.float32), sampling_rate, format="WAV")
            rows["id"].append(f"{split}-{i}")
            rows["audio"].append({"bytes": buffer.getvalue(), "path": None})
            rows["tags"].append([n for n, flag in zip(names, on) if flag])
            rows["labels"].append(on.astype(int).tolist())
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(path))
    return path


def hubert_twin(model, attn_implementation=None):
    """transformers' ``HubertModel`` with ``model``'s weights: the published MERT code is bit-identical to it, so it
    is the parity reference (tests and ``benchmarks/forward.py``)."""
    from transformers import HubertConfig, HubertModel

    config = {k: v for k, v in model.config.to_dict().items() if k not in ("model_type", "auto_map", "architectures")}
    if attn_implementation is not None:
        config["attn_implementation"] = attn_implementation
    hubert = HubertModel(HubertConfig(**config)).eval()
    hubert.load_state_dict(model.state_dict(), strict=True)
    return hubert

