"""Starting points and outputs of continual pre-training.

Output folders are Hub-ready *backbone* folders (``MERTModel`` / ``AutoModel`` load them without a single
unexpected key) plus ``pretraining_heads.safetensors`` holding MERT's trained heads (``final_proj``,
``label_embs_concat``, ``encoder_cqt_model.fc``), so the next stage (or anyone continuing pre-training) starts from
trained heads instead of random ones.
"""

import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..models.mert.configuration_mert import MERTConfig
from ..models.mert.modeling_mert import MERTForPreTraining

logger = logging.getLogger(__name__)

HEADS_FILE = "pretraining_heads.safetensors"
HEAD_PREFIXES = ("final_proj.", "label_embs_concat", "encoder_cqt_model.")
COMPLETE_MARKER = "pretraining_complete.json"


def is_head_key(name):
    return name.startswith(HEAD_PREFIXES)


# 128 codes per codebook, not MERT's 1024: a 64-wide model learns little from 1024-way targets (masked accuracy 2.5%
# against 8.0% with 128, both after 5000 steps), and its continual pre-training steps take two thirds of the time
PICO_CONFIG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, codebook_size=128,
                   mask_time_prob=0.05)


def config_from_name(name, **overrides):
    """``'tiny'``, ``'pico'``, ``'95M'``, ``'330M'`` or a config.json path -> MERTConfig.

    ``pico`` is the miniature study's base (hidden 64, 4 layers, CNN 32 channels, 0.2 M parameters): on 2 CPU
    cores its encoder step costs 1.2x tiny's (0.061 vs 0.050 s for 8 x 2 s), where the teachers dominate anyway.
    """
    from ..export import reference_config
    from ..testing import tiny_mert_config

    if name == "tiny":
        return tiny_mert_config(codebook_size=1024, mask_time_prob=0.05, **overrides)
    if name == "pico":
        return tiny_mert_config(**{**PICO_CONFIG, **overrides})
    if name in ("95M", "330M"):
        return reference_config(name, **overrides)
    path = Path(name)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"config_name {name!r} is neither 'tiny', 'pico', '95M', '330M' nor an existing "
                                "config.json")
    config = MERTConfig.from_json_file(str(path))
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def _find_heads_file(source):
    path = Path(source)
    if path.is_dir():
        candidate = path / HEADS_FILE
        return str(candidate) if candidate.is_file() else None
    try:  # a Hub repository that publishes the heads
        from huggingface_hub import hf_hub_download

        return hf_hub_download(str(source), HEADS_FILE)
    except Exception as error:  # noqa: BLE001 - any Hub/network failure just means "no heads file"
        logger.debug("No %s for %s: %s", HEADS_FILE, source, error)
        return None


def load_heads(model, heads_path):
    """Load ``pretraining_heads.safetensors`` into a MERTForPreTraining; raises ValueError on a shape mismatch."""
    state = load_file(str(heads_path))
    unknown = [k for k in state if not is_head_key(k)]
    if unknown:
        raise ValueError(f"{heads_path} holds non-head tensors {unknown[:5]}; expected only {HEAD_PREFIXES}")
    own = model.state_dict()
    for key, tensor in state.items():
        if key not in own or own[key].shape != tensor.shape:
            raise ValueError(f"Head tensor {key!r} in {heads_path} has shape {tuple(tensor.shape)}, the model expects "
                             f"{tuple(own[key].shape) if key in own else 'no such tensor'}; the config's "
                             "num_codebooks / codebook_size / codebook_dim / cqt_bins must match the heads")
    model.load_state_dict(state, strict=False)
    return sorted(state)


def save_heads(model, folder):
    """Write the pre-training heads of ``model`` to ``folder/pretraining_heads.safetensors``."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if is_head_key(k)}
    from ..outputs import save_safetensors

    save_safetensors(state, Path(folder) / HEADS_FILE, metadata={"format": "pt"})
    return Path(folder) / HEADS_FILE


def load_pretraining_model(name_or_path=None, config_name=None, **config_overrides):
    """A ``MERTForPreTraining`` from a checkpoint (Hub id, short name, local folder) or random from a config.

    A bare ``MERTModel`` checkpoint loads under the ``mert.`` prefix (transformers adds it for a base-model
    checkpoint); its heads come from ``pretraining_heads.safetensors`` when present, else they are freshly
    initialised and the log says so.

    Args:
        name_or_path: a checkpoint: Hub id, short name or local folder.
        config_name: without a checkpoint, a random model of this size: ``tiny``, ``pico``, ``95M``, ``330M`` or a
            ``config.json`` path.
        **config_overrides: config fields to change (e.g. ``feature_grad_mult``).

    Returns:
        The ``MERTForPreTraining``.

    Example:
        ```python
        model = load_pretraining_model("mert-v1-95m")
        random_tiny = load_pretraining_model(config_name="tiny")
        ```
    """
    if name_or_path:
        from ..export import resolve_model_id

        source = resolve_model_id(name_or_path)
        local_heads = Path(source).is_dir() and (Path(source) / HEADS_FILE).is_file()
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        if local_heads:  # the heads come from the heads file: transformers' "MISSING heads" report would mislead
            hf_logging.set_verbosity_error()
        from safetensors import SafetensorError

        from ..hub_access import check_model_source, describe_load_error

        offline = check_model_source(source, "--model_name_or_path")  # one line at once when the Hub is unreachable
        try:
            model, info = MERTForPreTraining.from_pretrained(source, output_loading_info=True, **offline,
                                                             **config_overrides)
        except (SafetensorError, OSError) as error:
            if not Path(source).is_dir():
                raise
            raise describe_load_error(source, error, "--model_name_or_path") from error
        finally:
            hf_logging.set_verbosity(verbosity)
        missing = sorted(info.get("missing_keys", []))
        unexpected = sorted(info.get("unexpected_keys", []))
        backbone_missing = [k for k in missing if not is_head_key(k)]
        if backbone_missing:
            raise ValueError(f"{source} lacks backbone weights {backbone_missing[:8]}: it is not a MERT checkpoint "
                             "of this config (check model_name_or_path)")
        if unexpected:
            logger.warning("Ignored %d unexpected tensors in %s: %s", len(unexpected), source, unexpected[:8])
        if missing:
            heads = _find_heads_file(source)
            if heads is not None:
                load_heads(model, heads)
                logger.info("Loaded the trained pre-training heads from %s", heads)
            else:
                logger.warning("%s has no pre-training heads (%s): final_proj, label_embs_concat and "
                               "encoder_cqt_model were freshly initialised. Start from the fairseq checkpoint "
                               "(`culturemert convert-fairseq`) to continue with MERT's trained heads.",
                               source, ", ".join(missing))
        else:
            logger.info("Loaded backbone and pre-training heads from %s", source)
        return model
    if not config_name:
        raise ValueError("Give model_name_or_path (a checkpoint) or config_name (random initialisation)")
    config = config_from_name(config_name, **config_overrides)
    logger.info("Randomly initialised MERTForPreTraining from config %s", config_name)
    return MERTForPreTraining(config)


def freeze_parts(model, prefixes):
    """Freeze backbone parameters whose name (relative to MERTModel) starts with one of ``prefixes``."""
    if not prefixes:
        return []
    backbone = model.mert
    names = [name for name, _ in backbone.named_parameters()]
    frozen = []
    for prefix in prefixes:
        matched = [n for n in names if n == prefix or n.startswith(prefix.rstrip(".") + ".")]
        if not matched:
            raise ValueError(f"freeze: {prefix!r} matches no backbone parameter; use prefixes such as "
                             "feature_extractor, feature_projection, encoder.pos_conv_embed, encoder.layers.0, "
                             "masked_spec_embed")
        frozen.extend(matched)
    frozen = sorted(set(frozen))
    for name, param in backbone.named_parameters():
        if name in frozen:
            param.requires_grad_(False)
    if any(n.startswith("feature_extractor.") for n in frozen) and all(
            not p.requires_grad for p in backbone.feature_extractor.parameters()):
        backbone.freeze_feature_encoder()  # also skips the input-grad hook of the CNN
    logger.info("Frozen %d backbone tensors (%s)", len(frozen), ", ".join(prefixes))
    return frozen


def default_card(title, base_model=None, summary=None, repo="path/to/this/folder"):
    """The card of a ``culturemert pretrain`` output (``model_cards/pretrained.md``)."""
    from ..cards import render_card

    metadata = {"library_name": "transformers", "pipeline_tag": "feature-extraction", "license": "cc-by-nc-4.0",
                "tags": ["music", "audio", "mert", "culturemert", "self-supervised"]}
    if base_model and "/" in str(base_model) and not Path(str(base_model)).exists():
        metadata["base_model"] = str(base_model)
    return render_card("pretrained.md", metadata, title=title, repo=repo,
                       summary=json.dumps(summary or {}, indent=2, default=str))


def save_pretraining_output(model, output_dir, card_text=None, summary=None):
    """Write the Hub-ready backbone folder + heads file; returns the folder."""
    from ..export import save_model_folder

    output_dir = Path(output_dir)
    backbone = model.mert
    if card_text is None:
        card_text = default_card(output_dir.name, (summary or {}).get("model_name_or_path"), summary)
    save_model_folder(backbone, output_dir, card_text=card_text)
    save_heads(model, output_dir)
    return output_dir


def mark_complete(output_dir, summary):
    from ..outputs import atomic_write_text

    atomic_write_text(Path(output_dir) / COMPLETE_MARKER, json.dumps(summary, indent=2, default=str))


def is_complete_output(output_dir):
    return (Path(output_dir) / COMPLETE_MARKER).is_file() and (Path(output_dir) / "config.json").is_file()


def weights_digest(model_or_state):
    """SHA-256 over all tensors (name-sorted): used to compare ranks and resumed runs."""
    import hashlib

    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(tensor.float().numpy().tobytes() if tensor.dtype == torch.bfloat16 else tensor.numpy().tobytes())
    return digest.hexdigest()
