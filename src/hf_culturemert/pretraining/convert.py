"""Convert the original fairseq MERT checkpoint (``MERT-v1-95M_fairseq.pt``) to a Hub-ready folder, keeping the
trained pre-training heads (``final_proj``, ``label_embs_concat``, ``encoder_cqt_model.fc``) that the published
transformers checkpoint drops.

The file is read with ``torch.load(weights_only=True)``. fairseq checkpoints can also pickle Python objects
(``argparse.Namespace``, meters in ``extra_state``) that this refuses; then conversion stops and explains the
opt-in ``trust_pickle=True`` (``--trust-pickle``), which unpickles with every class outside torch / numpy /
the standard containers replaced by an inert stub (nothing from fairseq is imported or run). Use it only for files
from a source you trust.
"""

import ast
import logging
import pickle
import re
import types
from pathlib import Path

import torch

from ..models.mert.configuration_mert import MERTConfig
from ..models.mert.modeling_mert import MERTForPreTraining

logger = logging.getLogger(__name__)

_LAYER_RULES = [
    (r"self_attn\.(q|k|v|out)_proj\.(weight|bias)$", r"attention.\1_proj.\2"),
    (r"self_attn_layer_norm\.(weight|bias)$", r"layer_norm.\1"),
    (r"fc1\.(weight|bias)$", r"feed_forward.intermediate_dense.\1"),
    (r"fc2\.(weight|bias)$", r"feed_forward.output_dense.\1"),
    (r"final_layer_norm\.(weight|bias)$", r"final_layer_norm.\1"),
]
_POS_CONV = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1",
             "bias": "bias", "weight": "weight"}
HEAD_KEYS = re.compile(r"^(final_proj\.(weight|bias)|label_embs_concat|encoder_cqt_model\.fc\.(weight|bias))$")


def fairseq_key_to_hf(key):
    """Our name for a fairseq MERT parameter (``mert.`` prefix for the backbone), or None if it has no equivalent."""
    for prefix in ("w2v_encoder.w2v_model.", "model."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    if HEAD_KEYS.match(key):
        return key
    if key == "mask_emb":
        return "mert.masked_spec_embed"
    match = re.match(r"^post_extract_proj\.(weight|bias)$", key)
    if match:
        return f"mert.feature_projection.projection.{match.group(1)}"
    match = re.match(r"^layer_norm\.(weight|bias)$", key)
    if match:
        return f"mert.feature_projection.layer_norm.{match.group(1)}"
    match = re.match(r"^feature_extractor\.conv_layers\.(\d+)\.0\.weight$", key)
    if match:
        return f"mert.feature_extractor.conv_layers.{match.group(1)}.conv.weight"
    match = re.match(r"^feature_extractor\.conv_layers\.(\d+)\.0\.bias$", key)
    if match:
        return f"mert.feature_extractor.conv_layers.{match.group(1)}.conv.bias"
    match = re.match(r"^feature_extractor\.conv_layers\.(\d+)\.2\.(?:1\.)?(weight|bias)$", key)
    if match:  # GroupNorm (layer 0, "default" mode) or LayerNorm in a TransposeLast sandwich ("layer_norm" mode)
        return f"mert.feature_extractor.conv_layers.{match.group(1)}.layer_norm.{match.group(2)}"
    match = re.match(r"^encoder\.pos_conv\.0\.(weight_g|weight_v|bias|weight)$", key)
    if match:
        return f"mert.encoder.pos_conv_embed.conv.{_POS_CONV[match.group(1)]}"
    match = re.match(r"^encoder\.layer_norm\.(weight|bias)$", key)
    if match:
        return f"mert.encoder.layer_norm.{match.group(1)}"
    match = re.match(r"^encoder\.layers\.(\d+)\.(.+)$", key)
    if match:
        for pattern, replacement in _LAYER_RULES:
            if re.match(pattern, match.group(2)):
                return f"mert.encoder.layers.{match.group(1)}." + re.sub(pattern, replacement, match.group(2))
    return None


def convert_fairseq_state_dict(state):
    """-> (converted state dict, dropped fairseq keys)."""
    converted, dropped = {}, []
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            dropped.append(key)
            continue
        new = fairseq_key_to_hf(key)
        if new is None:
            dropped.append(key)
        else:
            converted[new] = value
    return converted, dropped


# ---------------------------------------------------------------------------------------------------- reading
class _Stub:
    """Inert stand-in for a pickled class we do not import (fairseq meters, ...)."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


_SAFE_MODULES = ("torch", "collections", "numpy", "builtins", "_codecs", "copyreg", "argparse")


class _StubUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.split(".")[0] in _SAFE_MODULES:
            return super().find_class(module, name)
        return type(name, (_Stub,), {"__module__": "hf_culturemert.stub." + module})


_stub_pickle = types.SimpleNamespace(Unpickler=_StubUnpickler, load=pickle.load, loads=pickle.loads,
                                     __name__="hf_culturemert_stub_pickle")


def read_fairseq_checkpoint(path, trust_pickle=False):
    """The checkpoint dict (``model`` state + ``cfg``/``args``) read safely; see the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fairseq checkpoint not found: {path}")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not trust_pickle:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(
                f"{path} cannot be read with torch.load(weights_only=True): it pickles Python objects besides tensors "
                f"({reason}). If you trust the file's origin (e.g. the official m-a-p/MERT-v1-95M repository), "
                "rerun with --trust-pickle (Python: trust_pickle=True): unknown classes are then replaced by inert "
                "stubs, but unpickling still executes the file's instructions.") from error
    logger.warning("Reading %s with the stub unpickler (--trust-pickle): only for files you trust", path)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=_stub_pickle)
    except (pickle.UnpicklingError, ValueError, EOFError, RuntimeError, KeyError, AttributeError) as error:
        # e.g. a text file: "invalid literal for int()"; a truncated download: EOFError
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ValueError(f"{path} is not a PyTorch/fairseq checkpoint ({type(error).__name__}: {reason}); pass the "
                         ".pt file of the original checkpoint (e.g. MERT-v1-95M_fairseq.pt), downloaded completely"
                         ) from error


def _get(container, *names):
    for name in names:
        if container is None:
            return None
        if isinstance(container, dict):
            container = container.get(name)
        else:
            container = getattr(container, name, None)
    return container


def _conv_layers_from_string(text):
    """fairseq's ``conv_feature_layers`` ("[(512,10,5)] + [(512,3,2)] * 4 + ...") parsed without eval()."""
    layers = []
    for term in str(text).split("+"):
        term = term.strip()
        match = re.match(r"^(\[.*\])\s*(?:\*\s*(\d+))?$", term)
        if not match:
            raise ValueError(f"Cannot parse conv_feature_layers term {term!r}")
        layers.extend(ast.literal_eval(match.group(1)) * int(match.group(2) or 1))
    return layers


def config_from_fairseq(state, model_cfg=None, base_config=None):
    """A MERTConfig for the converted weights: the base config (packaged 95M by default) corrected from the tensor
    shapes and, where present, the fairseq model config."""
    from ..export import reference_config

    config = base_config if base_config is not None else reference_config("95M")
    config = MERTConfig.from_dict(config.to_dict())
    hidden = state["mert.feature_projection.projection.weight"].shape[0]
    config.hidden_size = int(hidden)
    layer_ids = {int(m.group(1)) for k in state if (m := re.match(r"mert\.encoder\.layers\.(\d+)\.", k))}
    config.num_hidden_layers = len(layer_ids)
    config.intermediate_size = int(state["mert.encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0])
    conv_ids = sorted({int(m.group(1)) for k in state
                       if (m := re.match(r"mert\.feature_extractor\.conv_layers\.(\d+)\.conv", k))})
    config.conv_dim = [int(state[f"mert.feature_extractor.conv_layers.{i}.conv.weight"].shape[0]) for i in conv_ids]
    config.conv_kernel = [int(state[f"mert.feature_extractor.conv_layers.{i}.conv.weight"].shape[2])
                          for i in conv_ids]
    spec = _get(model_cfg, "conv_feature_layers")
    if spec:
        config.conv_stride = [int(layer[2]) for layer in _conv_layers_from_string(spec)]
    if len(config.conv_stride) != len(config.conv_dim):
        raise ValueError(f"The checkpoint has {len(config.conv_dim)} conv layers but the config gives "
                         f"{len(config.conv_stride)} strides; pass a matching config")
    config.num_feat_extract_layers = len(config.conv_dim)
    config.conv_bias = "mert.feature_extractor.conv_layers.0.conv.bias" in state
    norms = [i for i in conv_ids if f"mert.feature_extractor.conv_layers.{i}.layer_norm.weight" in state]
    config.feat_extract_norm = "layer" if len(norms) == len(conv_ids) and len(norms) > 1 else "group"
    weight_v = state.get("mert.encoder.pos_conv_embed.conv.parametrizations.weight.original1")
    if weight_v is not None:
        config.num_conv_pos_embeddings = int(weight_v.shape[-1])
        config.num_conv_pos_embedding_groups = int(hidden // weight_v.shape[1])
    for ours, theirs in (("num_attention_heads", "encoder_attention_heads"), ("logit_temp", "logit_temp"),
                         ("do_stable_layer_norm", "layer_norm_first"), ("feature_grad_mult", "feature_grad_mult")):
        value = _get(model_cfg, theirs)
        if value is not None:
            setattr(config, ours, type(getattr(config, ours))(value))
    if "label_embs_concat" in state and "final_proj.weight" in state:
        codebook_dim = int(state["label_embs_concat"].shape[1])
        config.codebook_dim = codebook_dim
        config.num_codebooks = int(state["final_proj.weight"].shape[0] // codebook_dim)
        config.codebook_size = int(state["label_embs_concat"].shape[0] // config.num_codebooks)
    if "encoder_cqt_model.fc.weight" in state:
        config.cqt_bins = int(state["encoder_cqt_model.fc.weight"].shape[0])
    if config.mask_time_prob <= 0:
        config.mask_time_prob = 0.05  # keep the mask embedding (the Hub configs use 0.05)
    config.architectures = ["MERTModel"]
    config._validate_mert()
    return config


def convert_fairseq_checkpoint(input_path, output_dir, trust_pickle=False, config=None, card_text=None):
    """fairseq ``.pt`` -> Hub-ready folder (backbone safetensors + config + remote code) + trained heads file.

    Args:
        input_path: the fairseq checkpoint (``MERT-v1-95M_fairseq.pt``).
        output_dir: the output folder.
        trust_pickle: unpickle classes outside torch / numpy / builtins too (replaced by inert stand-ins); only for
            a file you trust. Without it such a checkpoint is refused, naming the class.
        config: a MERTConfig or config.json path to start from (default: the packaged MERT-v1-95M config,
            corrected from the checkpoint's shapes and fairseq config).
        card_text: the model card, written as ``README.md``.

    Returns:
        The output folder: backbone safetensors, config, remote code and ``pretraining_heads.safetensors``.

    Example:
        ```python
        convert_fairseq_checkpoint("MERT-v1-95M_fairseq.pt", "mert-fairseq")
        ```
    """
    from .modeling import default_card, save_pretraining_output

    checkpoint = read_fairseq_checkpoint(input_path, trust_pickle=trust_pickle)
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{input_path} is not a fairseq checkpoint: expected a dict with the weights under 'model' "
                         f"(found keys {sorted(checkpoint)[:10] if isinstance(checkpoint, dict) else type(checkpoint)})")
    converted, dropped = convert_fairseq_state_dict(state)
    if "mert.feature_projection.projection.weight" not in converted:
        raise ValueError(f"{input_path} holds no MERT/HuBERT encoder weights (no post_extract_proj); is it a MERT "
                         "fairseq checkpoint?")
    model_cfg = _get(checkpoint, "cfg", "model") or _get(checkpoint, "args")
    if isinstance(config, (str, Path)):
        config = MERTConfig.from_json_file(str(Path(config) / "config.json" if Path(config).is_dir() else config))
    config = config_from_fairseq(converted, model_cfg, config)
    model = MERTForPreTraining(config)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    missing = [k for k in missing if k != "mert.masked_spec_embed" or "mert.masked_spec_embed" in converted]
    if unexpected:
        raise ValueError(f"Converted tensors that the model does not have: {unexpected[:8]}")
    backbone_missing = [k for k in missing if k.startswith("mert.")]
    if backbone_missing:
        raise ValueError(f"{input_path} lacks backbone tensors {backbone_missing[:8]} after conversion")
    heads_missing = [k for k in missing if not k.startswith("mert.")]
    if heads_missing:
        logger.warning("The checkpoint has no %s: those heads are freshly initialised", heads_missing)
    if dropped:
        logger.info("Dropped %d fairseq tensors without an equivalent: %s", len(dropped), dropped[:10])
    summary = {"converted_from": str(Path(input_path).name), "tensors": len(converted),
               "heads": sorted(k for k in converted if not k.startswith("mert."))}
    card = card_text or default_card(Path(output_dir).name, "m-a-p/MERT-v1-95M", summary)
    save_pretraining_output(model, output_dir, card_text=card, summary=summary)
    logger.info("Converted %s -> %s (%d tensors, heads: %s)", input_path, output_dir, len(converted),
                ", ".join(summary["heads"]) or "none")
    return Path(output_dir)
