"""The transfer study's model families: builders at the published and miniature sizes, front ends, output layers.

Families: ``vggish``, ``musicnn``, ``ast`` (the study's three) and ``mert`` (beyond the paper: MERT-v1-95M,
CultureMERT-95M and CultureMERT-TA-95M through ``MERTForAudioTagging``; the tiny MERT in the miniature).
"""

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

CNN_FAMILIES = ("vggish", "musicnn")
STUDY_FAMILIES = ("vggish", "musicnn", "ast")
FAMILIES = STUDY_FAMILIES + ("mert",)
SIZES = ("published", "miniature")
PRETTY = {"vggish": "VGG-ish", "musicnn": "Musicnn", "ast": "AST", "mert": "MERT"}
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


def tagger_config(family, tags, size="published", **overrides):
    """The config of ``family`` for a dataset with vocabulary ``tags`` (``id2label``), multi-label problem type."""
    check_family(family)
    if size not in SIZES:
        raise ValueError(f"Unknown model size {size!r}; choose from {SIZES}")
    id2label = label_maps(tags)
    values = dict(MINIATURE.get(family, {})) if size == "miniature" else {}
    values.update(overrides)
    if family == "vggish":
        from ..models import VGGishConfig

        return VGGishConfig(id2label=id2label, label2id={v: k for k, v in id2label.items()}, **values)
    if family == "musicnn":
        from ..models import MusicnnConfig

        return MusicnnConfig(id2label=id2label, label2id={v: k for k, v in id2label.items()}, **values)
    if family == "ast":
        from ..models.ast import study_ast_config

        return study_ast_config(id2label=id2label, **values)
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


def chunk_length_of(model):
    """Input length of one training crop: spectrogram frames (mel families) or samples (MERT)."""
    from .training import chunk_length

    return chunk_length(model)


def chunk_frames(config):
    """Model input length in spectrogram frames (187 Musicnn, 230 VGG-ish, 500 AST at the published sizes)."""
    return int(getattr(config, "chunk_frames", None) or config.max_length)


def build_tagger(family, tags, size="published", init="random", seed=0, deit=None, **overrides):
    """A freshly built tagger. ``init``: ``random`` or, for AST, ``imagenet`` (DeiT-base-distilled-384 weights;
    ``deit`` may be a DeiT model or state dict to use instead of downloading)."""
    import torch

    config = tagger_config(family, tags, size, **overrides)
    torch.manual_seed(seed)
    if family == "vggish":
        from ..models import VGGishForAudioTagging

        return VGGishForAudioTagging(config)
    if family == "musicnn":
        from ..models import MusicnnForAudioTagging

        return MusicnnForAudioTagging(config)
    if family == "ast":
        from transformers import ASTForAudioClassification

        model = ASTForAudioClassification(config)
        if init == "imagenet":
            from ..models.ast import IMAGENET_DEIT, init_ast_from_deit

            if deit is None:
                from transformers import DeiTModel

                deit = DeiTModel.from_pretrained(IMAGENET_DEIT, add_pooling_layer=False)
            init_ast_from_deit(model, deit)
        elif init != "random":
            raise ValueError(f"Unknown AST initialisation {init!r}; use 'imagenet' or 'random'")
        return model
    from ..models.mert.modeling_mert import MERTForAudioTagging

    return MERTForAudioTagging(config)


def feature_extractor(family, config=None, mean=None, std=None):
    """The model's front end: the study's mel-dB for VGG-ish / Musicnn / AST (AST: time-major, normalised with
    fixed training-set statistics), MERT's own waveform extractor for the MERT family."""
    check_family(family)
    if family == "mert":
        from ..export import mert_feature_extractor

        return mert_feature_extractor()
    from ..models import MelSpectrogramFeatureExtractor

    n_mels = getattr(config, "num_mel_bins", 128) if config is not None else 128
    if family == "ast":
        return MelSpectrogramFeatureExtractor(n_mels=n_mels, time_major=True, mean=mean, std=std,
                                              input_name="input_values")
    return MelSpectrogramFeatureExtractor(n_mels=n_mels)


def family_of(model):
    name = type(model).__name__
    for prefix, family in (("VGGish", "vggish"), ("Musicnn", "musicnn"), ("AST", "ast"), ("MERT", "mert")):
        if name.startswith(prefix):
            return family
    raise ValueError(f"Not a transfer-study model: {name}")


def output_layer_prefix(model):
    """Name prefix of the output layer (the one layer a transfer replaces)."""
    family = family_of(model)
    if family == "mert":
        return f"classifier.{len(model.classifier) - 1}."
    return "classifier.dense." if family == "ast" else "classifier."


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
    """Load a folder written by :func:`save_tagger` with the package's classes (no remote code needed)."""
    import json

    from transformers import AutoModelForAudioClassification

    import hf_culturemert  # noqa: F401  (registers the Auto classes)

    config = Path(folder) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{folder} has no config.json: not a model folder written by the transfer study")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type == "mert_model":
        from ..models.mert.modeling_mert import MERTForAudioTagging

        return MERTForAudioTagging.from_pretrained(folder), None
    from ..models import MelSpectrogramFeatureExtractor

    model = AutoModelForAudioClassification.from_pretrained(folder)
    return model, MelSpectrogramFeatureExtractor.from_pretrained(folder)
