# Copyright 2026 the hf-culturemert developers. Apache-2.0.
"""MERT-v1 / CultureMERT model classes (single-file, transformers style).

Hub remote-code file. It imports only torch and the *public* transformers API (``PreTrainedModel``, output
dataclasses, ``GradientCheckpointingLayer`` and ``AttentionInterface``, the last two with small fallbacks for
releases that predate them), never transformers internals: the published MERT code subclassed ``HubertModel`` & co.
and broke when those changed (init error on 4.48-5.8, ``hidden_states=None`` on >= 5.16).

Architecture (MERT-v1 = a HuBERT backbone at 24 kHz, arXiv 2306.00107):
waveform -> 7-layer CNN (320x downsampling, 75 Hz) -> LayerNorm + Linear projection -> positional conv ->
post-LN (95M) or pre-LN (330M) Transformer encoder.

Beyond the published code:
* padded batches give the same features as each clip run alone (the first-layer GroupNorm ignores padding);
* ``output_hidden_states=True`` always works; SDPA attention by default, any registered attention function via
  ``attn_implementation`` / ``set_attn_implementation``; gradient checkpointing with ``gradient_checkpointing_kwargs``;
* ``torch.export`` (static and dynamic shapes, with or without a mask) and ``torch.compile`` trace one graph;
* ``MERTForPreTraining`` (MERT's masked EnCodec-code prediction + CQT reconstruction) and
  ``MERTForAudioTagging`` (weighted layer sum + MLP probe) live in this same file.
"""

import math
import os
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from transformers import PreTrainedModel, Wav2Vec2FeatureExtractor
from transformers.modeling_outputs import BaseModelOutput, ModelOutput, SequenceClassifierOutput

from .configuration_mert import MERTConfig

try:  # transformers >= 4.52: layers that `gradient_checkpointing_enable(gradient_checkpointing_kwargs=...)` reaches
    from transformers import GradientCheckpointingLayer
except ImportError:  # pragma: no cover - older releases set the same two attributes on every flagged module
    class GradientCheckpointingLayer(nn.Module):
        gradient_checkpointing = False

        def __call__(self, *args, **kwargs):
            if self.gradient_checkpointing and self.training:
                return self._gradient_checkpointing_func(lambda *a: super(GradientCheckpointingLayer, self).__call__(
                    *a, **kwargs), *args)
            return super().__call__(*args, **kwargs)

try:  # transformers >= 4.50: the attention-function registry that `attn_implementation` selects from
    from transformers import AttentionInterface
except ImportError:  # pragma: no cover
    AttentionInterface = dict


def _activation(name):
    """Map a config activation name to a module; ``gelu`` is the exact-erf GELU that MERT uses."""
    table = {"gelu": nn.GELU(), "gelu_new": nn.GELU(approximate="tanh"), "relu": nn.ReLU(), "silu": nn.SiLU(),
             "swish": nn.SiLU(), "tanh": nn.Tanh()}
    if name not in table:
        raise ValueError(f"Unsupported activation {name!r} in the MERT config; use one of {sorted(table)}")
    return table[name]


def conv_output_lengths(lengths, conv_kernel, conv_stride):
    """Frames produced by the CNN for inputs of ``lengths`` samples: floor((n - k) / s) + 1 per layer.

    Works on ints and integer tensors. Inputs shorter than the receptive field give 0 (clamped), not negative.
    """
    for kernel, stride in zip(conv_kernel, conv_stride):
        if isinstance(lengths, torch.Tensor):
            lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
            lengths = lengths.clamp(min=0)
        else:
            lengths = max((lengths - kernel) // stride + 1, 0)
    return lengths


def lengths_to_mask(lengths, max_length):
    """[B] lengths -> [B, max_length] bool mask (True = valid)."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def _is_tracing():
    """True under torch.compile, torch.export and torch.jit tracing, where no branch may depend on tensor values."""
    exporting = getattr(torch.compiler, "is_exporting", lambda: False)
    return torch.compiler.is_compiling() or exporting() or torch.jit.is_tracing()


def compute_span_mask(batch_size, num_frames, mask_prob, mask_length, min_masks=0, frame_lengths=None,
                      generator=None, device=None):
    """Random time-span mask as in fairseq's ``compute_mask_indices`` (spans may overlap).

    For each clip: ``num_spans = int(mask_prob * T / mask_length + U(0, 1))`` (at least ``min_masks``) start frames
    are drawn without replacement from ``[0, T - mask_length]``; each masks ``mask_length`` frames. With MERT's
    pre-training values (0.8, 5, 2) about 55% of the frames end up masked. Padding frames are never masked.
    """
    mask = torch.zeros(batch_size, num_frames, dtype=torch.bool)
    if mask_prob <= 0 or num_frames == 0:
        return mask.to(device) if device is not None else mask
    lengths = frame_lengths.tolist() if frame_lengths is not None else [num_frames] * batch_size
    for i, length in enumerate(lengths):
        length = int(length)
        span = min(mask_length, length)
        if span < 1:
            continue
        num_spans = int(mask_prob * length / span + torch.rand((), generator=generator).item())
        num_spans = min(max(num_spans, min_masks), length - span + 1)
        if num_spans <= 0:
            continue
        starts = torch.randperm(length - span + 1, generator=generator)[:num_spans]
        index = (starts[:, None] + torch.arange(span)[None, :]).reshape(-1)
        mask[i, index] = True
    return mask.to(device) if device is not None else mask


# ----------------------------------------------------------------------------------------------------------------
# CNN front end
# ----------------------------------------------------------------------------------------------------------------


class MERTConvLayer(GradientCheckpointingLayer):
    """Conv1d (+ GroupNorm on layer 0 for ``feat_extract_norm='group'``, LayerNorm per layer for 'layer') + GELU.

    Parameter names follow the checkpoints: ``conv.weight`` and ``layer_norm.{weight,bias}``.
    """

    def __init__(self, config, layer_id):
        super().__init__()
        in_dim = config.conv_dim[layer_id - 1] if layer_id > 0 else 1
        out_dim = config.conv_dim[layer_id]
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size=config.conv_kernel[layer_id],
                              stride=config.conv_stride[layer_id], bias=config.conv_bias)
        self.norm_type = None
        if config.feat_extract_norm == "group" and layer_id == 0:
            self.layer_norm = nn.GroupNorm(num_groups=out_dim, num_channels=out_dim, affine=True)
            self.norm_type = "group"
        elif config.feat_extract_norm == "layer":
            self.layer_norm = nn.LayerNorm(out_dim, elementwise_affine=True)
            self.norm_type = "layer"
        self.activation = _activation(config.feat_extract_activation)

    def forward(self, hidden_states, lengths=None):
        hidden_states = self.conv(hidden_states)
        if self.norm_type == "group":
            if lengths is None:
                hidden_states = self.layer_norm(hidden_states)
            else:
                hidden_states = self._masked_group_norm(hidden_states, lengths)
        elif self.norm_type == "layer":
            hidden_states = self.layer_norm(hidden_states.transpose(-2, -1)).transpose(-2, -1)
        return self.activation(hidden_states)

    def _masked_group_norm(self, hidden_states, lengths):
        """Per-channel normalisation over each clip's valid frames only (GroupNorm with groups == channels).

        The published code normalises over the zero padding too, so a padded clip's features change with the
        length of its batch mates; this makes a padded batch equal each clip run alone.
        """
        norm = self.layer_norm
        valid = lengths_to_mask(lengths, hidden_states.shape[-1])[:, None, :].to(hidden_states.dtype)
        count = valid.sum(-1, keepdim=True).clamp(min=1)
        x = hidden_states.float() if hidden_states.dtype in (torch.float16, torch.bfloat16) else hidden_states
        mean = (x * valid).sum(-1, keepdim=True) / count
        var = (((x - mean) * valid) ** 2).sum(-1, keepdim=True) / count
        x = (x - mean) * torch.rsqrt(var + norm.eps)
        x = x * norm.weight[None, :, None] + norm.bias[None, :, None]
        return x.to(hidden_states.dtype)


class MERTFeatureEncoder(nn.Module):
    """Waveform [B, S] -> CNN features [B, C, T] (75 Hz for MERT-v1)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.conv_layers = nn.ModuleList([MERTConvLayer(config, i) for i in range(config.num_feat_extract_layers)])
        self.gradient_checkpointing = False
        self._requires_grad = True

    def _freeze_parameters(self):
        for param in self.parameters():
            param.requires_grad = False
        self._requires_grad = False

    def forward(self, input_values, sample_lengths=None):
        hidden_states = input_values[:, None]
        if self.gradient_checkpointing and self.training and self._requires_grad and not hidden_states.requires_grad:
            # reentrant checkpointing (`use_reentrant=True`) gives the conv weights no gradient unless an input needs one
            hidden_states.requires_grad_(True)
        lengths = sample_lengths
        for layer in self.conv_layers:
            layer_lengths = None
            if lengths is not None:
                lengths = conv_output_lengths(lengths, [layer.conv.kernel_size[0]], [layer.conv.stride[0]])
                layer_lengths = lengths
            hidden_states = layer(hidden_states, lengths=layer_lengths)  # checkpointed by GradientCheckpointingLayer
        return hidden_states


class MERTFeatureProjection(nn.Module):
    """LayerNorm(512) -> Linear(512 -> hidden) -> dropout."""

    def __init__(self, config):
        super().__init__()
        self.feat_proj_layer_norm = config.feat_proj_layer_norm
        if self.feat_proj_layer_norm:
            self.layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.projection = nn.Linear(config.conv_dim[-1], config.hidden_size)
        self.dropout = nn.Dropout(config.feat_proj_dropout)

    def forward(self, hidden_states):
        if self.feat_proj_layer_norm:
            hidden_states = self.layer_norm(hidden_states)
        return self.dropout(self.projection(hidden_states))


# ----------------------------------------------------------------------------------------------------------------
# Transformer encoder
# ----------------------------------------------------------------------------------------------------------------


class MERTPositionalConvEmbedding(nn.Module):
    """Grouped Conv1d(kernel 128) with weight norm over dim 2, drop the last frame (even kernel), GELU."""

    def __init__(self, config):
        super().__init__()
        self.conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel_size=config.num_conv_pos_embeddings,
                              padding=config.num_conv_pos_embeddings // 2,
                              groups=config.num_conv_pos_embedding_groups)
        self.conv = nn.utils.parametrizations.weight_norm(self.conv, name="weight", dim=2)
        self.num_pad_remove = 1 if config.num_conv_pos_embeddings % 2 == 0 else 0
        self.activation = _activation(config.feat_extract_activation)

    def forward(self, hidden_states):
        hidden_states = hidden_states.transpose(1, 2)
        if hidden_states.device.type == "cpu" and self.conv.in_channels // self.conv.groups < 16 and (
                hidden_states.dtype in (torch.bfloat16, torch.float16) or torch.is_autocast_enabled("cpu")):
            # oneDNN (torch 2.14, AVX-512 Xeon) returns wrong bf16 grouped convs with 2-12 channels per group
            # (cosine 0.1-0.8 to fp32); small configs run this conv in fp32 on CPU. Real configs have 48-64.
            with torch.autocast("cpu", enabled=False):
                hidden_states = F.conv1d(hidden_states.float(), self.conv.weight.float(), self.conv.bias.float(),
                                         padding=self.conv.padding, groups=self.conv.groups).to(hidden_states.dtype)
        else:
            hidden_states = self.conv(hidden_states)
        if self.num_pad_remove:
            hidden_states = hidden_states[:, :, : -self.num_pad_remove]
        return self.activation(hidden_states).transpose(1, 2)


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Softmax attention written out: [B, heads, T, D] -> ([B, T, heads, D], weights [B, heads, T, T])."""
    scores = torch.matmul(query * scaling, key.transpose(-1, -2))
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    context = torch.matmul(F.dropout(weights, p=dropout, training=module.training), value)
    return context.transpose(1, 2), weights


def sdpa_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """``F.scaled_dot_product_attention`` with the bool mask as is: no data- or shape-dependent branch (unlike
    transformers' generic one), so torch.export's dynamic shapes trace; no weights."""
    context = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout,
                                             scale=scaling)
    return context.transpose(1, 2), None


if not hasattr(AttentionInterface, "get_interface"):  # pragma: no cover - transformers < 5
    class AttentionInterface(AttentionInterface):
        def get_interface(self, implementation, default):
            return default if implementation in (None, "eager") else self[implementation]


# transformers' registry (flash / flex / kernels / user-registered functions) with this file's SDPA in front
ALL_ATTENTION_FUNCTIONS = AttentionInterface()
ALL_ATTENTION_FUNCTIONS["sdpa"] = sdpa_attention_forward


class MERTAttention(nn.Module):
    """Multi-head self-attention with separate q/k/v/out projections (checkpoint names). The attention function
    is looked up on every call from ``config._attn_implementation``, so ``set_attn_implementation`` takes effect."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed_dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scaling = self.head_dim ** -0.5
        self.dropout = config.attention_dropout
        self.is_causal = False
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        """``attention_mask``: None or a [B, 1, 1, T] bool mask (True = attend)."""
        batch, length, _ = hidden_states.shape
        shape = (batch, length, self.num_heads, self.head_dim)
        query = self.q_proj(hidden_states).view(shape).transpose(1, 2)
        key = self.k_proj(hidden_states).view(shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(shape).transpose(1, 2)
        dropout = self.dropout if self.training else 0.0
        implementation = getattr(self.config, "_attn_implementation", None) or "sdpa"
        if output_attentions:  # only the written-out softmax has weights to return
            implementation = "eager"
        attention = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
        context, weights = attention(self, query, key, value, attention_mask, scaling=self.scaling, dropout=dropout)
        context = context.reshape(batch, length, self.embed_dim)
        return self.out_proj(context), (weights if output_attentions else None)


class MERTFeedForward(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.intermediate_dropout = nn.Dropout(config.activation_dropout)
        self.intermediate_dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = _activation(config.hidden_act)
        self.output_dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden_states):
        hidden_states = self.intermediate_dropout(self.intermediate_act_fn(self.intermediate_dense(hidden_states)))
        return self.output_dropout(self.output_dense(hidden_states))


class MERTEncoderLayer(GradientCheckpointingLayer):
    """Transformer block: post-LN (MERT-v1-95M) or pre-LN (``do_stable_layer_norm``, MERT-v1-330M)."""

    def __init__(self, config):
        super().__init__()
        self.pre_layer_norm = config.do_stable_layer_norm
        self.attention = MERTAttention(config)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = MERTFeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        residual = hidden_states
        if self.pre_layer_norm:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states, weights = self.attention(hidden_states, attention_mask, output_attentions)
        hidden_states = residual + self.dropout(hidden_states)
        if self.pre_layer_norm:
            hidden_states = hidden_states + self.feed_forward(self.final_layer_norm(hidden_states))
        else:
            hidden_states = self.layer_norm(hidden_states)
            hidden_states = self.final_layer_norm(hidden_states + self.feed_forward(hidden_states))
        return hidden_states, weights


class MERTEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.pos_conv_embed = MERTPositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList([MERTEncoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False

    def forward(self, hidden_states, frame_mask=None, output_attentions=False, output_hidden_states=False):
        """``frame_mask``: [B, T] bool (True = valid frame) or None for an unpadded batch."""
        attention_mask = None
        if frame_mask is not None:
            # padded frames must be zero before the positional conv so valid frames see what a lone clip sees
            hidden_states = hidden_states.masked_fill(~frame_mask[..., None], 0.0)
            attention_mask = frame_mask[:, None, None, :]
        hidden_states = hidden_states + self.pos_conv_embed(hidden_states)
        if not self.config.do_stable_layer_norm:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(hidden_states)

        all_hidden_states = [] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states.append(hidden_states)
            if self.training and self.config.layerdrop > 0 and torch.rand(()) < self.config.layerdrop:
                continue  # LayerDrop (arXiv 1909.11556)
            # checkpointed by GradientCheckpointingLayer (the hidden states positional, as reentrant checkpoints need)
            hidden_states, weights = layer(hidden_states, attention_mask=attention_mask,
                                           output_attentions=output_attentions)
            if output_attentions:
                all_attentions.append(weights)
        if self.config.do_stable_layer_norm:
            hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden_states.append(hidden_states)
        return hidden_states, all_hidden_states, all_attentions


# ----------------------------------------------------------------------------------------------------------------
# Pre-trained model base + bare model
# ----------------------------------------------------------------------------------------------------------------


def mert_feature_extractor(sampling_rate=24000):
    """The stock ``Wav2Vec2FeatureExtractor`` configured as MERT-v1's ``preprocessor_config.json``."""
    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=sampling_rate, padding_value=0.0,
                                    do_normalize=True, return_attention_mask=True, padding_side="right")


class MERTPreTrainedModel(PreTrainedModel):
    config_class = MERTConfig
    base_model_prefix = "mert"
    main_input_name = "input_values"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_flash_attn_2 = False
    _no_split_modules = ["MERTEncoderLayer", "MERTFeatureEncoder"]
    # Legacy weight-norm names of the published checkpoints (torch.nn.utils.weight_norm) -> parametrizations.
    _legacy_weight_norm = {"weight_g": "parametrizations.weight.original0",
                           "weight_v": "parametrizations.weight.original1"}

    def _init_weights(self, module):
        """wav2vec 2.0's initialisation, as MERT's fairseq code. Each parameter goes through ``torch.nn.init``, which
        transformers guards while it fills missing weights, so loaded ones are kept. The positional conv's weight norm
        (g, v) is set on the parametrization that owns it: transformers visits the modules that own parameters."""
        std = self.config.initializer_range
        if isinstance(module, parametrize.ParametrizationList) and hasattr(module, "original1"):
            weight_g, weight_v = module.original0, module.original1  # [1, 1, k] and [out, in / groups, k]
            if not getattr(weight_v, "_is_hf_initialized", False):
                nn.init.normal_(weight_v, mean=0.0, std=2 * math.sqrt(1 / (weight_v.shape[1] * weight_v.shape[2])))
            if not getattr(weight_g, "_is_hf_initialized", False):
                with torch.no_grad():
                    weight_g.copy_(torch.linalg.vector_norm(weight_v, dim=(0, 1), keepdim=True))
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            if not parametrize.is_parametrized(module, "weight"):  # the CNN; the positional conv's is above
                nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, MERTModel):
            if module.masked_spec_embed is not None:
                nn.init.uniform_(module.masked_spec_embed)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # accept the legacy weight-norm names when a plain ``load_state_dict`` is used
        for key in [k for k in state_dict if k.startswith(prefix) and k.rsplit(".", 1)[-1] in self._legacy_weight_norm]:
            base, leaf = key.rsplit(".", 1)
            state_dict[f"{base}.{self._legacy_weight_norm[leaf]}"] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' ``save_pretrained`` (weights, config with ``auto_map``, this code) plus MERT's
        ``preprocessor_config.json`` when the folder has none, so that every saved folder (``push_to_hub``,
        ``Trainer`` checkpoints) works with ``AutoFeatureExtractor`` and ``pipeline``."""
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True) and \
                not os.path.exists(os.path.join(save_directory, "preprocessor_config.json")):
            mert_feature_extractor(self.config.sample_rate).save_pretrained(save_directory)
        return result

    def get_input_embeddings(self):
        """None: a waveform model has no token-embedding table.

        transformers' fallback raises NotImplementedError here, which breaks callers that probe for embeddings,
        e.g. accelerate's FSDP2 wrapping (``accelerate launch --use_fsdp --fsdp_version 2``).
        """
        return None

    def _get_feat_extract_output_lengths(self, input_lengths):
        return conv_output_lengths(input_lengths, self.config.conv_kernel, self.config.conv_stride)

    @property
    def frames_per_second(self):
        return self.config.frames_per_second


@dataclass
class MERTModelOutput(BaseModelOutput):
    """``BaseModelOutput`` plus the CNN features and the frame mask, which the pre-training head needs."""

    extract_features: Optional[torch.FloatTensor] = None
    # [B, T], True = valid frame: given whenever an attention_mask is (all True when nothing is padded)
    frame_mask: Optional[torch.BoolTensor] = None


class MERTModel(MERTPreTrainedModel):
    """The bare MERT encoder: 24 kHz mono waveform [B, S] -> frames [B, T, H] at 75 Hz (13 hidden states for 95M).

    Args:
        config: a ``MERTConfig``; the weights are initialised as wav2vec 2.0's unless loaded with ``from_pretrained``.

    Example:
        ```python
        model = MERTModel.from_pretrained("m-a-p/MERT-v1-95M")
        out = model(torch.randn(1, 24000 * 5), output_hidden_states=True)  # 5 s, normalised as the extractor does
        len(out.hidden_states), out.last_hidden_state.shape                # 13, (1, 374, 768)
        ```
    """

    def __init__(self, config):
        super().__init__(config)
        self.feature_extractor = MERTFeatureEncoder(config)
        self.feature_projection = MERTFeatureProjection(config)
        if config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0:
            self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size).uniform_())
        else:
            self.masked_spec_embed = None
        self.encoder = MERTEncoder(config)
        self.post_init()

    def freeze_feature_encoder(self):
        """Stop gradients through the CNN front end (its parameters will not be updated)."""
        self.feature_extractor._freeze_parameters()

    def _frame_mask(self, attention_mask, num_frames):
        """Sample-level mask [B, S] -> (sample lengths [B] for the padding-aware path, or None when nothing is
        padded; frame mask [B, T], True = valid frame). (None, None) without a mask.

        The unpadded shortcut is taken in eager mode only: a traced graph (torch.export / compile) cannot branch on
        the mask's values, so it always runs the padding-aware path, which gives the same result."""
        if attention_mask is None:
            return None, None
        sample_lengths = attention_mask.to(torch.bool).sum(-1)
        frame_mask = lengths_to_mask(self._get_feat_extract_output_lengths(sample_lengths), num_frames)
        if not _is_tracing() and bool((sample_lengths == attention_mask.shape[-1]).all()):
            return None, frame_mask
        return sample_lengths, frame_mask

    def forward(self, input_values, attention_mask=None, mask_time_indices=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        r"""
        Args:
            input_values (`torch.FloatTensor` of shape `(batch, samples)`): mono 24 kHz waveform (normalised as the
                feature extractor does: zero mean, unit variance per clip).
            attention_mask (`torch.LongTensor` of shape `(batch, samples)`, *optional*): 1 for real samples, 0 for
                right padding. Padded clips give the same features as when run alone.
            mask_time_indices (`torch.BoolTensor` of shape `(batch, frames)`, *optional*): frames replaced by the
                learned mask embedding (MERT pre-training).
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (output_hidden_states if output_hidden_states is not None
                                else self.config.output_hidden_states)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if input_values.dim() == 1:
            input_values = input_values[None]
        if input_values.dim() != 2:
            raise ValueError(f"`input_values` must be a mono waveform of shape (batch, samples), got shape "
                             f"{tuple(input_values.shape)}")
        if input_values.shape[-1] < self.config.receptive_field:
            raise ValueError(f"`input_values` has {input_values.shape[-1]} samples, fewer than one frame "
                             f"({self.config.receptive_field} samples at {self.config.sample_rate} Hz)")

        sample_lengths, _ = self._frame_mask(attention_mask, 1)
        extract_features = self.feature_extractor(input_values, sample_lengths).transpose(1, 2)
        _, frame_mask = self._frame_mask(attention_mask, extract_features.shape[1])
        grad_mult = self.config.feature_grad_mult
        if grad_mult != 1.0 and self.training and extract_features.requires_grad:
            extract_features = _GradMultiply.apply(extract_features, grad_mult)
        hidden_states = self.feature_projection(extract_features)
        if mask_time_indices is not None:
            if self.masked_spec_embed is None:
                raise ValueError("`mask_time_indices` was given but this config has no mask embedding "
                                 "(set mask_time_prob > 0)")
            hidden_states = torch.where(mask_time_indices[..., None],
                                        self.masked_spec_embed.to(hidden_states.dtype), hidden_states)
        elif self.training and self.config.apply_spec_augment and self.config.mask_time_prob > 0:
            frame_lengths = frame_mask.sum(-1) if frame_mask is not None else None
            spec_mask = compute_span_mask(hidden_states.shape[0], hidden_states.shape[1], self.config.mask_time_prob,
                                          self.config.mask_time_length, self.config.mask_time_min_masks,
                                          frame_lengths, device=hidden_states.device)
            hidden_states = torch.where(spec_mask[..., None], self.masked_spec_embed.to(hidden_states.dtype),
                                        hidden_states)

        last_hidden_state, all_hidden_states, all_attentions = self.encoder(
            hidden_states, frame_mask if sample_lengths is not None else None, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        hidden_tuple = tuple(all_hidden_states) if all_hidden_states is not None else None
        attention_tuple = tuple(all_attentions) if all_attentions is not None else None
        output = MERTModelOutput(last_hidden_state=last_hidden_state, hidden_states=hidden_tuple,
                                 attentions=attention_tuple, extract_features=extract_features, frame_mask=frame_mask)
        return output if return_dict else output.to_tuple()


# ----------------------------------------------------------------------------------------------------------------
# Pre-training heads (MERT objective)
# ----------------------------------------------------------------------------------------------------------------


class _GradMultiply(torch.autograd.Function):
    """Scale the gradient flowing into the CNN (fairseq ``feature_grad_mult``, 0.1 for MERT)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


class MERTCQTHead(nn.Module):
    """Frame -> CQT magnitude regression (fairseq name ``encoder_cqt_model.fc``)."""

    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.hidden_size, config.cqt_bins)

    def forward(self, hidden_states):
        return self.fc(hidden_states)


@dataclass
class MERTForPreTrainingOutput(ModelOutput):
    loss: Optional[torch.FloatTensor] = None
    codebook_loss: Optional[torch.FloatTensor] = None
    cqt_loss: Optional[torch.FloatTensor] = None
    feature_penalty: Optional[torch.FloatTensor] = None
    codebook_accuracy: Optional[torch.FloatTensor] = None
    # [N, num_codebooks, codebook_size] and [N, cqt_bins] for the N frames the loss is taken on (eager), or for all
    # batch x frames (under torch.compile, where the loss weights them instead)
    codebook_logits: Optional[torch.FloatTensor] = None
    cqt_prediction: Optional[torch.FloatTensor] = None
    mask_time_indices: Optional[torch.BoolTensor] = None
    hidden_states: Optional[Tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[Tuple[torch.FloatTensor, ...]] = None


class MERTForPreTraining(MERTPreTrainedModel):
    """MERT's masked-prediction objective (arXiv 2306.00107, fairseq ``mert_model.py``).

    * acoustic: ``final_proj`` (hidden -> 8 x 64); logits = cosine(projected frame, code embedding) / 0.1 against
      all 1024 codes of each EnCodec codebook (``label_embs_concat`` [8*1024, 64]); cross-entropy on masked frames,
      summed over codebooks;
    * musical: ``encoder_cqt_model.fc`` regresses the 336-bin CQT of the clean clip; MSE on masked frames;
    * feature penalty: mean squared CNN feature.
    ``loss = sum_k CE_k + cqt_loss_weight * MSE + feature_penalty_weight * penalty`` (weights [10, 1] in MERT).

    Args:
        config: a ``MERTConfig``; its ``num_codebooks``, ``codebook_size``, ``cqt_bins`` and loss weights size the
            heads.

    Example:
        ```python
        # `culturemert convert-fairseq` writes MERT-v1-95M with its trained heads (the Hub weights have none)
        model = MERTForPreTraining.from_pretrained("mert-95m-with-heads")
        # culturemert pretrain feeds it codebook_labels (EnCodec) and cqt_labels; see the pre-training guide
        ```
    """

    def __init__(self, config):
        super().__init__(config)
        self.mert = MERTModel(config)
        self.final_proj = nn.Linear(config.hidden_size, config.codebook_dim * config.num_codebooks)
        self.label_embs_concat = nn.Parameter(
            torch.empty(config.num_codebooks * config.codebook_size, config.codebook_dim).uniform_())
        self.encoder_cqt_model = MERTCQTHead(config)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, MERTForPreTraining):
            nn.init.uniform_(module.label_embs_concat)

    def codebook_logits(self, frames):
        """[N, H] frames -> [N, num_codebooks, codebook_size] logits (cosine similarity / logit_temp)."""
        cfg = self.config
        projected = self.final_proj(frames).view(-1, cfg.num_codebooks, cfg.codebook_dim)
        codes = self.label_embs_concat.view(cfg.num_codebooks, cfg.codebook_size, cfg.codebook_dim)
        projected = F.normalize(projected.float(), dim=-1, eps=1e-8)
        codes = F.normalize(codes.float(), dim=-1, eps=1e-8)
        return torch.einsum("nkd,kcd->nkc", projected, codes) / cfg.logit_temp

    def forward(self, input_values, attention_mask=None, mask_time_indices=None, codec_labels=None, cqt_labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, loss_mask=None, **kwargs):
        r"""
        Args:
            mask_time_indices (`torch.BoolTensor` `(batch, frames)`): frames to mask and predict.
            codec_labels (`torch.LongTensor` `(batch, num_codebooks, frames)`): EnCodec codes aligned with frames.
            cqt_labels (`torch.FloatTensor` `(batch, frames, cqt_bins)`): CQT magnitudes of the clean clip.
            loss_mask (`torch.BoolTensor` `(batch, frames)`, *optional*): frames the loss is taken on, when they
                differ from the masked ones (e.g. masking switched off: no frame masked, every frame predicted).
        """
        cfg = self.config
        return_dict = return_dict if return_dict is not None else cfg.return_dict
        if mask_time_indices is None and loss_mask is None and (codec_labels is not None or cqt_labels is not None):
            raise ValueError("`mask_time_indices` is required to compute the MERT loss (the loss is taken on masked "
                             "frames); build it with `compute_span_mask`")
        outputs = self.mert(input_values, attention_mask=attention_mask, mask_time_indices=mask_time_indices,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=True)
        hidden = outputs.last_hidden_state
        num_frames = hidden.shape[1]
        features = outputs.extract_features
        feature_penalty = features.float().pow(2).mean()

        loss = codebook_loss = cqt_loss = accuracy = logits = cqt_prediction = None
        if mask_time_indices is not None or loss_mask is not None:
            selected = loss_mask if loss_mask is not None else mask_time_indices
            if outputs.frame_mask is not None:
                selected = selected & outputs.frame_mask
            # Eager: gather the selected frames (the heads run on those alone, as fairseq). Under torch.compile:
            # run the heads on every frame and weight the means, so no shape depends on the mask and the step
            # stays one graph (`--torch_compile`); equal up to float rounding (tested).
            weights = selected.flatten().to(torch.float32) if torch.compiler.is_compiling() else None
            pick = (lambda t: t.flatten(0, 1)) if weights is not None else (lambda t: t[selected])

            def frame_mean(values):  # [N, ...] -> mean over the selected frames
                if weights is None:
                    return values.mean(0)
                weight = weights.view(-1, *([1] * (values.dim() - 1)))
                return (values * weight).sum(0) / weights.sum().clamp(min=1.0)

            frames = pick(hidden)
            if codec_labels is not None:
                if codec_labels.shape[-1] != num_frames or codec_labels.shape[1] != cfg.num_codebooks:
                    raise ValueError(f"`codec_labels` must have shape (batch, {cfg.num_codebooks}, {num_frames}) to "
                                     f"match the model's frames, got {tuple(codec_labels.shape)}")
                targets = pick(codec_labels.transpose(1, 2))  # [N, K]
                logits = self.codebook_logits(frames)  # [N, K, C]
                per_frame = F.cross_entropy(logits.flatten(0, 1), targets.reshape(-1), reduction="none")
                codebook_loss = frame_mean(per_frame.view_as(targets)).sum()
                accuracy = frame_mean((logits.detach().argmax(-1) == targets).to(torch.float32))
            if cqt_labels is not None:
                if cqt_labels.shape[1] != num_frames or cqt_labels.shape[-1] != cfg.cqt_bins:
                    raise ValueError(f"`cqt_labels` must have shape (batch, {num_frames}, {cfg.cqt_bins}), got "
                                     f"{tuple(cqt_labels.shape)}")
                cqt_prediction = self.encoder_cqt_model(frames)  # [N, bins]
                cqt_loss = frame_mean((cqt_prediction.float() - pick(cqt_labels).float()).pow(2).mean(-1))
            parts = [p for p in (codebook_loss,) if p is not None]
            if cqt_loss is not None:
                parts.append(cfg.cqt_loss_weight * cqt_loss)
            if parts:
                loss = sum(parts) + cfg.feature_penalty_weight * feature_penalty
        output = MERTForPreTrainingOutput(loss=loss, codebook_loss=codebook_loss, cqt_loss=cqt_loss,
                                          feature_penalty=feature_penalty, codebook_accuracy=accuracy,
                                          codebook_logits=logits, cqt_prediction=cqt_prediction,
                                          mask_time_indices=mask_time_indices, hidden_states=outputs.hidden_states,
                                          attentions=outputs.attentions)
        return output if return_dict else output.to_tuple()


# ----------------------------------------------------------------------------------------------------------------
# Audio tagging head (MARBLE-style probe / fine-tuning)
# ----------------------------------------------------------------------------------------------------------------


class MERTForAudioTagging(MERTPreTrainedModel):
    """Multi-label tagging: softmax-weighted sum of all hidden states (or the last) -> mean pool over valid frames
    -> MLP Linear(H -> 512) ReLU Dropout(0.2) Linear(512 -> num_labels); BCE loss (MARBLE probe head).

    Args:
        config: a ``MERTConfig`` with the tags in ``id2label`` / ``label2id``; ``problem_type`` must be unset or
            ``"multi_label_classification"``.

    Example:
        ```python
        tags = ["makam--hicaz", "makam--rast"]
        model = MERTForAudioTagging.from_pretrained(
            "ntua-slp/CultureMERT-95M", id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
        logits = model(torch.randn(2, 24000 * 5), labels=torch.zeros(2, 2)).logits  # [2, 2]; sigmoid per tag
        ```
    """

    def __init__(self, config):
        if config.problem_type is None:  # BCE over independent tags: pipelines then apply a sigmoid per tag
            config.problem_type = "multi_label_classification"
        elif config.problem_type != "multi_label_classification":
            raise ValueError(f"MERTForAudioTagging is a multi-label tagger (BCE loss); config.problem_type must be "
                             f"'multi_label_classification' or unset, got {config.problem_type!r}")
        super().__init__(config)
        self.mert = MERTModel(config)
        num_layers = config.num_hidden_layers + 1
        self.layer_weights = nn.Parameter(torch.full((num_layers,), 1.0 / num_layers))
        self.classifier = nn.Sequential(
            nn.Linear(config.hidden_size, config.classifier_hidden_size), nn.ReLU(),
            nn.Dropout(config.classifier_dropout), nn.Linear(config.classifier_hidden_size, config.num_labels))
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, MERTForAudioTagging):
            nn.init.constant_(module.layer_weights, 1.0 / module.layer_weights.numel())

    def freeze_base_model(self):
        for param in self.mert.parameters():
            param.requires_grad = False

    def forward(self, input_values, attention_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        r"""
        Args:
            labels (`torch.FloatTensor` of shape `(batch, num_labels)`, *optional*): multi-hot tags; give the mean
                binary cross-entropy with the logits as ``loss``.
        """
        output_hidden_states = (output_hidden_states if output_hidden_states is not None
                                else self.config.output_hidden_states)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.mert(input_values, attention_mask=attention_mask, output_attentions=output_attentions,
                            output_hidden_states=self.config.use_weighted_layer_sum or output_hidden_states,
                            return_dict=True)
        if self.config.use_weighted_layer_sum:
            stacked = torch.stack(outputs.hidden_states, dim=1)  # [B, L+1, T, H]
            weights = torch.softmax(self.layer_weights, dim=-1).to(stacked.dtype)
            hidden = (stacked * weights[None, :, None, None]).sum(1)
        else:
            hidden = outputs.last_hidden_state
        if outputs.frame_mask is not None:
            valid = outputs.frame_mask[..., None].to(hidden.dtype)
            pooled = (hidden * valid).sum(1) / valid.sum(1).clamp(min=1)
        else:
            pooled = hidden.mean(1)
        logits = self.classifier(pooled)
        loss = None
        if labels is not None:
            loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        output = SequenceClassifierOutput(loss=loss, logits=logits,
                                          hidden_states=outputs.hidden_states if output_hidden_states else None,
                                          attentions=outputs.attentions)
        return output if return_dict else output.to_tuple()


# save_pretrained / push_to_hub / Trainer checkpoints copy this file and configuration_mert.py and write auto_map
MERTModel.register_for_auto_class("AutoModel")
MERTForPreTraining.register_for_auto_class("AutoModelForPreTraining")
MERTForAudioTagging.register_for_auto_class("AutoModelForAudioClassification")

__all__ = ["MERTPreTrainedModel", "MERTModel", "MERTForPreTraining", "MERTForAudioTagging", "compute_span_mask",
           "conv_output_lengths", "mert_feature_extractor"]
