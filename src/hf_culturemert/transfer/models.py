"""The transfer study's model families: builders at the published and miniature sizes, front ends, output layers.

Families: ``vggish``, ``musicnn``, ``ast`` (the study's three) and ``mert`` (beyond the paper: MERT-v1-95M,
CultureMERT-95M and CultureMERT-TA-95M through ``MERTForAudioTagging``; the tiny MERT in the miniature).
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..constants import SAMPLING_RATE

logger = logging.getLogger(__name__)

CNN_FAMILIES = ("vggish", "musicnn")
STUDY_FAMILIES = ("vggish", "musicnn", "ast")
DEIT_ENV = "CULTUREMERT_DEIT"  # a local DeiT-base-distilled-384 folder for AST's ImageNet initialisation
SIZES = ("published", "miniature")
# miniature sizes: a few thousand to a few hundred thousand parameters, same structure as the published models
MINIATURE = {
    "vggish": dict(channels=[16, 16, 32, 32, 64], dense_size=64, chunk_frames=128),
    "musicnn": dict(timbral_filters=8, timbral_heights=[32, 16], temporal_filters=8, temporal_lengths=[33, 17, 9],
                    backend_channels=16, dense_size=32, chunk_frames=128),
    "ast": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, max_length=128,
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
}


def check_family(family):
    if family not in FAMILIES:
        raise ValueError(f"Unknown model {family!r}; choose from {', '.join(FAMILIES)}")
    return family


def label_maps(tags):
    tags = list(tags)
    if not tags:
        raise ValueError("A tagging model needs at least one tag (the dataset's vocabulary is empty)")
    return {i: t for i, t in enumerate(tags)}


def _mert_config(id2label, size, values):
    from ..testing import tiny_mert_config

    if size == "miniature":
        config = tiny_mert_config(**values)
    else:
        from ..export import reference_config

        config = reference_config("95M", **values)
    config.id2label = id2label
    config.label2id = {v: k for k, v in id2label.items()}
    config.problem_type = "multi_label_classification"
    config.use_weighted_layer_sum = True  # MARBLE's weighted sum of all layers, as in the probe
    return config


def _vggish_config(id2label, size, values):
    from ..models import VGGishConfig

    return VGGishConfig(id2label=id2label, label2id={v: k for k, v in id2label.items()}, **values)


def _musicnn_config(id2label, size, values):
    from ..models import MusicnnConfig

    return MusicnnConfig(id2label=id2label, label2id={v: k for k, v in id2label.items()}, **values)


def _ast_config(id2label, size, values):
    from ..models.ast import study_ast_config

    return study_ast_config(id2label=id2label, **values)


def _vggish_class():
    from ..models import VGGishForAudioTagging

    return VGGishForAudioTagging


def _musicnn_class():
    from ..models import MusicnnForAudioTagging

    return MusicnnForAudioTagging


def _ast_class():
    from transformers import ASTForAudioClassification

    return ASTForAudioClassification


def _mert_class():
    from ..models.mert.modeling_mert import MERTForAudioTagging

    return MERTForAudioTagging


def _mel_extractor(config, mean, std):
    from ..models import MelSpectrogramFeatureExtractor

    return MelSpectrogramFeatureExtractor(n_mels=getattr(config, "num_mel_bins", 128) if config is not None else 128)


def _ast_extractor(config, mean, std):
    from ..models import MelSpectrogramFeatureExtractor

    return MelSpectrogramFeatureExtractor(n_mels=getattr(config, "num_mel_bins", 128) if config is not None else 128,
                                          time_major=True, mean=mean, std=std, input_name="input_values")


def _mert_extractor(config, mean, std):
    from ..export import mert_feature_extractor

    return mert_feature_extractor()


def _frames(config):
    return int(getattr(config, "chunk_frames", None) or config.max_length)


MERT_CHUNK_SECONDS = 5  # a MERT tagger's crop when its config names none


def _mert_samples(config):
    value = config.get("transfer_chunk_samples") if isinstance(config, dict) else getattr(
        config, "transfer_chunk_samples", 0)
    return int(value or MERT_CHUNK_SECONDS * SAMPLING_RATE)


def set_mert_chunk(config, seconds) -> None:
    """Make a MERT tagger's ``config`` crop ``seconds`` of 24 kHz waveform (``transfer_chunk_samples``)."""
    config.transfer_chunk_samples = int(float(seconds) * SAMPLING_RATE)


def mert_chunk_seconds(config) -> float:
    """Seconds of one crop of a MERT tagger's ``config`` (a ``PretrainedConfig`` or its ``config.json`` dict)."""
    return _mert_samples(config) / SAMPLING_RATE


@dataclass(frozen=True)
class Family:
    """Everything the transfer study needs to know about one model family, in one place.

    Attributes:
        name: the family's key (``--models``).
        pretty: its name in tables and cards.
        model_type: the ``config.model_type`` that identifies a built or loaded model as this family.
        config: ``config(id2label, size, values)`` builds the family's config for a dataset's tags.
        model_class: returns the model class (imported on demand: torch and transformers load only when used).
        extractor: ``extractor(config, mean, std)`` builds the family's front end.
        output_prefix: ``output_prefix(model)``, the name prefix of the output layer (what a transfer replaces).
        chunk_length: ``chunk_length(config)``, the input length of one crop: spectrogram frames or samples.
    """

    name: str
    pretty: str
    model_type: str
    config: Callable
    model_class: Callable
    extractor: Callable
    output_prefix: Callable
    chunk_length: Callable


REGISTRY = {family.name: family for family in (
    Family("vggish", "VGG-ish", "vggish_tagger", _vggish_config,
           _vggish_class, _mel_extractor, lambda model: "classifier.", _frames),
    Family("musicnn", "Musicnn", "musicnn_tagger", _musicnn_config,
           _musicnn_class, _mel_extractor, lambda model: "classifier.", _frames),
    Family("ast", "AST", "audio-spectrogram-transformer", _ast_config,
           _ast_class, _ast_extractor,
           lambda model: "classifier.dense.", _frames),
    Family("mert", "MERT", "mert_model", _mert_config,
           _mert_class, _mert_extractor,
           lambda model: f"classifier.{len(model.classifier) - 1}.", _mert_samples),
)}
FAMILIES = tuple(REGISTRY)
PRETTY = {name: family.pretty for name, family in REGISTRY.items()}


def tagger_config(family, tags, size="published", **overrides):
    """The config of ``family`` for a dataset with vocabulary ``tags`` (``id2label``), multi-label problem type."""
    entry = REGISTRY[check_family(family)]
    if size not in SIZES:
        raise ValueError(f"Unknown model size {size!r}; choose from {SIZES}")
    values = dict(MINIATURE.get(family, {})) if size == "miniature" else {}
    values.update(overrides)
    return entry.config(label_maps(tags), size, values)


def chunk_frames(config):
    """Model input length in spectrogram frames (187 Musicnn, 230 VGG-ish, 500 AST at the published sizes)."""
    return _frames(config)


def build_tagger(family, tags, size="published", init="random", seed=0, deit=None, **overrides):
    """A freshly built tagger.

    Args:
        family: ``vggish``, ``musicnn``, ``ast`` or ``mert``.
        tags: the dataset's vocabulary (the config's ``id2label``).
        size: ``published`` (the study's sizes) or ``miniature``.
        init: ``random`` or, for AST, ``imagenet`` (DeiT-base-distilled-384 weights).
        seed: seed of the random initialisation.
        deit: for ``init="imagenet"``, a DeiT model or state dict to use instead of downloading one.
        **overrides: config fields.

    Returns:
        The model, in train mode, with a multi-label output layer over ``tags``.

    Example:
        ```python
        model = build_tagger("vggish", ["rock", "jazz"], size="miniature")
        ```
    """
    import torch

    config = tagger_config(family, tags, size, **overrides)
    torch.manual_seed(seed)
    model = REGISTRY[family].model_class()(config)
    if family == "ast":
        if init == "imagenet":
            from ..models.ast import IMAGENET_DEIT, init_ast_from_deit

            if deit is None:
                from transformers import DeiTModel

                # $CULTUREMERT_DEIT: a local copy of the checkpoint (offline machines; the rehearsal's random one)
                deit = DeiTModel.from_pretrained(os.environ.get(DEIT_ENV) or IMAGENET_DEIT, add_pooling_layer=False)
            init_ast_from_deit(model, deit)
        elif init != "random":
            raise ValueError(f"Unknown AST initialisation {init!r}; use 'imagenet' or 'random'")
    return model


def feature_extractor(family, config=None, mean=None, std=None):
    """The model's front end: the study's mel-dB for VGG-ish / Musicnn / AST (AST: time-major, normalised with
    fixed training-set statistics), MERT's own waveform extractor for the MERT family."""
    return REGISTRY[check_family(family)].extractor(config, mean, std)


def family_of(model):
    """The family of a built or loaded model, from its ``config.model_type``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    for family in REGISTRY.values():
        if family.model_type == model_type:
            return family.name
    raise ValueError(f"Not a transfer-study model: {type(model).__name__} (model_type {model_type!r})")


def output_layer_prefix(model):
    """Name prefix of the output layer (the one layer a transfer replaces)."""
    return REGISTRY[family_of(model)].output_prefix(model)


def chunk_length(model):
    """Input length of one training crop: spectrogram frames (mel families) or samples (MERT)."""
    return REGISTRY[family_of(model)].chunk_length(model.config)


def save_tagger(model, extractor, folder, card_text=None):
    """A Hub-ready folder: config (``auto_map`` written by transformers), remote code, safetensors, front end
    (``preprocessor_config.json`` + ``feature_extraction_mel.py``), and ``README.md`` when given."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if family_of(model) == "mert":
        from ..export import save_model_folder

        save_model_folder(model, folder, card_text=card_text)
        return folder
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    if card_text is not None:
        (folder / "README.md").write_text(str(card_text), encoding="utf-8")
    return folder


def load_tagger(folder):
    """Load a folder written by :func:`save_tagger` with the package's classes (no remote code needed).

    Args:
        folder: a model folder of the transfer study (its ``config.json`` names the family by ``model_type``).

    Returns:
        ``(model, extractor)``; the extractor is None for the MERT family, whose front end is MERT's own.

    Example:
        ```python
        model, extractor = load_tagger("outputs/transfer/models/vggish/lyra")
        inputs = extractor(waveform, sampling_rate=16000, return_tensors="pt")  # mel-dB [1, 128, frames]
        ```
    """
    import json

    config = Path(folder) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{folder} has no config.json: not a model folder written by the transfer study")
    model_type = json.loads(config.read_text()).get("model_type")
    family = next((f for f in REGISTRY.values() if f.model_type == model_type), None)
    if family is None:
        raise ValueError(f"{config}: model_type {model_type!r} is not a transfer-study family "
                         f"({', '.join(REGISTRY)})")
    model = family.model_class().from_pretrained(folder)
    if family.name == "mert":
        return model, None
    from ..models import MelSpectrogramFeatureExtractor

    return model, MelSpectrogramFeatureExtractor.from_pretrained(folder)
