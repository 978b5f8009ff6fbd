# Copyright 2026 the hf-culturemert developers. Apache-2.0.
"""MERT-v1 / CultureMERT configuration.

Hub remote-code file: it imports only the public transformers API so that it keeps working across releases.
It accepts every field of the published ``m-a-p/MERT-v1-95M`` and ``MERT-v1-330M`` ``config.json`` unchanged.
"""

import logging
import math

try:  # transformers >= 5 renamed the base class; the old name stays as an alias in most releases.
    from transformers import PreTrainedConfig as _BaseConfig
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import PretrainedConfig as _BaseConfig

logger = logging.getLogger(__name__)

# What `save_pretrained` writes into config.json: every class of this family lives in the two files saved beside it
# (the classes are registered with `register_for_auto_class`, so transformers copies those files itself).
AUTO_MAP = {
    "AutoConfig": "configuration_mert.MERTConfig",
    "AutoModel": "modeling_mert.MERTModel",
    "AutoModelForPreTraining": "modeling_mert.MERTForPreTraining",
    "AutoModelForAudioClassification": "modeling_mert.MERTForAudioTagging",
}
_replaced_auto_map_logged = False


def _replace_auto_map(given):
    """The auto_map this config carries: always :data:`AUTO_MAP`, because these classes (not the code a loaded
    folder names) are the ones running and the ones ``save_pretrained`` writes. A foreign map (e.g. the published
    ``configuration_MERT.MERTConfig``) is replaced, logged once."""
    global _replaced_auto_map_logged
    foreign = {key: value for key, value in (given or {}).items()
               if str(value).split("--")[-1] != AUTO_MAP.get(key)}
    if foreign and not _replaced_auto_map_logged:
        _replaced_auto_map_logged = True
        logger.info(
            "This config names remote code %s; it is loaded with the MERT classes of %s instead (hf_culturemert "
            "registers them for model_type 'mert_model', and transformers prefers registered classes over a "
            "folder's code; the published MERT code fails at init on transformers 4.48-5.8 and returns no "
            "hidden_states on >= 5.16). save_pretrained writes these classes' files and auto_map.",
            foreign, __name__)
    return dict(AUTO_MAP)


class MERTConfig(_BaseConfig):
    r"""Configuration of a MERT-v1 backbone (a HuBERT-style encoder at 24 kHz) and its pre-training heads.

    The backbone fields have the names and meanings of the published MERT-v1 configs (and of transformers'
    ``HubertConfig``). The pre-training fields describe MERT's masked-prediction objective (EnCodec codebooks and
    CQT reconstruction, see arXiv 2306.00107); they are ignored by the bare :class:`MERTModel`.

    Dead branches of the published code are accepted for compatibility: ``attention_relax`` (mathematically the
    plain softmax, because softmax is shift invariant), ``deepnorm=False`` and ``feature_extractor_cqt=False``.
    The defaults are MERT-v1-95M's architecture.

    Args:
        vocab_size (`int`, *optional*, defaults to 32):
            Kept from the published config (HuBERT's CTC vocabulary); no MERT head uses it.
        hidden_size (`int`, *optional*, defaults to 768):
            Width of the Transformer encoder (1024 for MERT-v1-330M).
        num_hidden_layers (`int`, *optional*, defaults to 12):
            Number of Transformer layers (24 for MERT-v1-330M).
        num_attention_heads (`int`, *optional*, defaults to 12):
            Attention heads per layer; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 3072):
            Width of each layer's feed-forward block.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Feed-forward activation: `"gelu"` (exact erf, as MERT), `"gelu_new"`, `"relu"`, `"silu"`/`"swish"`,
            `"tanh"`.
        hidden_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the attention and feed-forward outputs and on the encoder input.
        activation_dropout (`float`, *optional*, defaults to 0.0):
            Dropout after the feed-forward activation.
        attention_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the attention weights.
        feat_proj_layer_norm (`bool`, *optional*, defaults to `True`):
            LayerNorm on the CNN features before their projection to `hidden_size`.
        feat_proj_dropout (`float`, *optional*, defaults to 0.1):
            Dropout after that projection.
        final_dropout (`float`, *optional*, defaults to 0.1):
            Kept from the published config (HuBERT's CTC head); unused here.
        layerdrop (`float`, *optional*, defaults to 0.05):
            Probability of skipping a whole Transformer layer in training (LayerDrop, arXiv 1909.11556).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the Linear layers.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of the LayerNorms.
        feat_extract_norm (`str`, *optional*, defaults to `"group"`):
            CNN normalisation: `"group"` (GroupNorm on the first layer only, MERT-v1) or `"layer"` (LayerNorm on
            every layer).
        feat_extract_activation (`str`, *optional*, defaults to `"gelu"`):
            Activation of the CNN layers and of the positional convolution.
        feat_extract_dropout (`float`, *optional*, defaults to 0.0):
            Kept from the published config; the CNN has no dropout.
        conv_dim (`tuple[int]`, *optional*, defaults to `(512,) * 7`):
            Output channels of each CNN layer.
        conv_stride (`tuple[int]`, *optional*, defaults to `(5, 2, 2, 2, 2, 2, 2)`):
            Stride of each CNN layer; their product is the hop (320 samples, 75 frames per second at 24 kHz).
        conv_kernel (`tuple[int]`, *optional*, defaults to `(10, 3, 3, 3, 3, 2, 2)`):
            Kernel size of each CNN layer (a 400-sample receptive field).
        conv_bias (`bool`, *optional*, defaults to `False`):
            Whether the CNN convolutions have a bias.
        num_conv_pos_embeddings (`int`, *optional*, defaults to 128):
            Kernel size of the convolutional positional embedding.
        num_conv_pos_embedding_groups (`int`, *optional*, defaults to 16):
            Groups of that convolution; must divide `hidden_size`.
        do_stable_layer_norm (`bool`, *optional*, defaults to `False`):
            Pre-LN layers with a final LayerNorm (MERT-v1-330M) instead of post-LN (MERT-v1-95M).
        apply_spec_augment (`bool`, *optional*, defaults to `True`):
            Mask random time spans with the learned mask embedding in training when no `mask_time_indices` is
            given.
        mask_time_prob (`float`, *optional*, defaults to 0.05):
            Share of frames that start a masked span (fairseq's `mask_prob`); > 0 creates the mask embedding.
        mask_time_length (`int`, *optional*, defaults to 10):
            Length of each masked span, in frames.
        mask_time_min_masks (`int`, *optional*, defaults to 2):
            Minimum number of masked spans per clip.
        mask_feature_prob (`float`, *optional*, defaults to 0.0):
            Kept from the published config (feature-axis masking); > 0 also creates the mask embedding.
        mask_feature_length (`int`, *optional*, defaults to 10):
            Kept from the published config.
        mask_feature_min_masks (`int`, *optional*, defaults to 0):
            Kept from the published config.
        sample_rate (`int`, *optional*, defaults to 24000):
            Sampling rate of the input waveform in Hz.
        attention_relax (`float`, *optional*, defaults to -1.0):
            The published code's attention relaxation; <= 0 disables it, and any value gives the plain softmax.
        deepnorm (`bool`, *optional*, defaults to `False`):
            Must stay `False`: no released MERT checkpoint uses DeepNorm.
        feature_extractor_cqt (`bool`, *optional*, defaults to `False`):
            Must stay `False`: no released MERT checkpoint feeds a CQT to the CNN.
        feature_extractor_cqt_bins (`int`, *optional*, defaults to 336):
            Kept from the published config.
        num_codebooks (`int`, *optional*, defaults to 8):
            EnCodec codebooks predicted by `MERTForPreTraining` (the acoustic targets).
        codebook_size (`int`, *optional*, defaults to 1024):
            Codes per codebook.
        codebook_dim (`int`, *optional*, defaults to 64):
            Size of the code embeddings that the projected frames are compared with (cosine similarity).
        logit_temp (`float`, *optional*, defaults to 0.1):
            Temperature dividing those cosine similarities.
        cqt_bins (`int`, *optional*, defaults to 336):
            Bins of the CQT that the musical head regresses.
        feature_penalty_weight (`float`, *optional*, defaults to 10.0):
            Weight of the mean squared CNN feature in the pre-training loss.
        cqt_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the CQT reconstruction loss.
        feature_grad_mult (`float`, *optional*, defaults to 1.0):
            Scale of the gradient that reaches the CNN in training (0.1 in MERT's pre-training).
        classifier_hidden_size (`int`, *optional*, defaults to 512):
            Hidden width of `MERTForAudioTagging`'s MLP head.
        classifier_dropout (`float`, *optional*, defaults to 0.2):
            Dropout in that head.
        use_weighted_layer_sum (`bool`, *optional*, defaults to `False`):
            Tag from a learned softmax-weighted sum of all hidden states instead of the last one.
        pad_token_id (`int`, *optional*, defaults to 0):
            Kept from the published config.
        bos_token_id (`int`, *optional*, defaults to 1):
            Kept from the published config.
        eos_token_id (`int`, *optional*, defaults to 2):
            Kept from the published config.
        **kwargs:
            transformers' common config arguments (`num_labels`/`id2label`, `problem_type`, `output_hidden_states`,
            `return_dict`, ...). `auto_map` is always this family's own (see `AUTO_MAP`).

    Example:

    ```python
    >>> from hf_culturemert import MERTConfig, MERTModel

    >>> # MERT-v1-95M's architecture, randomly initialised
    >>> configuration = MERTConfig()
    >>> model = MERTModel(configuration)

    >>> # MERT-v1-330M's
    >>> configuration = MERTConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
    ...                            intermediate_size=4096, do_stable_layer_norm=True)
    >>> configuration.frames_per_second
    75.0
    ```
    """

    model_type = "mert_model"

    def __init__(
        self,
        vocab_size=32,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        hidden_dropout=0.1,
        activation_dropout=0.0,
        attention_dropout=0.1,
        feat_proj_layer_norm=True,
        feat_proj_dropout=0.1,
        final_dropout=0.1,
        layerdrop=0.05,
        initializer_range=0.02,
        layer_norm_eps=1e-5,
        feat_extract_norm="group",
        feat_extract_activation="gelu",
        feat_extract_dropout=0.0,
        conv_dim=(512, 512, 512, 512, 512, 512, 512),
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_bias=False,
        num_conv_pos_embeddings=128,
        num_conv_pos_embedding_groups=16,
        do_stable_layer_norm=False,
        apply_spec_augment=True,
        mask_time_prob=0.05,
        mask_time_length=10,
        mask_time_min_masks=2,
        mask_feature_prob=0.0,
        mask_feature_length=10,
        mask_feature_min_masks=0,
        sample_rate=24000,
        attention_relax=-1.0,
        deepnorm=False,
        feature_extractor_cqt=False,
        feature_extractor_cqt_bins=336,
        # MERT pre-training heads (arXiv 2306.00107, fairseq yizhilll/MERT mert_model.py)
        num_codebooks=8,
        codebook_size=1024,
        codebook_dim=64,
        logit_temp=0.1,
        cqt_bins=336,
        feature_penalty_weight=10.0,
        cqt_loss_weight=1.0,
        feature_grad_mult=1.0,
        # audio tagging head (MERTForAudioTagging)
        classifier_hidden_size=512,
        classifier_dropout=0.2,
        use_weighted_layer_sum=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        **kwargs,
    ):
        auto_map = _replace_auto_map(kwargs.pop("auto_map", None))
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)
        self.auto_map = auto_map
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout = hidden_dropout
        self.activation_dropout = activation_dropout
        self.attention_dropout = attention_dropout
        self.feat_proj_layer_norm = feat_proj_layer_norm
        self.feat_proj_dropout = feat_proj_dropout
        self.final_dropout = final_dropout
        self.layerdrop = layerdrop
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.feat_extract_norm = feat_extract_norm
        self.feat_extract_activation = feat_extract_activation
        self.feat_extract_dropout = feat_extract_dropout
        self.conv_dim = list(conv_dim)
        self.conv_stride = list(conv_stride)
        self.conv_kernel = list(conv_kernel)
        self.conv_bias = conv_bias
        self.num_feat_extract_layers = len(self.conv_dim)
        self.num_conv_pos_embeddings = num_conv_pos_embeddings
        self.num_conv_pos_embedding_groups = num_conv_pos_embedding_groups
        self.do_stable_layer_norm = do_stable_layer_norm
        self.apply_spec_augment = apply_spec_augment
        self.mask_time_prob = mask_time_prob
        self.mask_time_length = mask_time_length
        self.mask_time_min_masks = mask_time_min_masks
        self.mask_feature_prob = mask_feature_prob
        self.mask_feature_length = mask_feature_length
        self.mask_feature_min_masks = mask_feature_min_masks
        self.sample_rate = sample_rate
        self.attention_relax = attention_relax
        self.deepnorm = deepnorm
        self.feature_extractor_cqt = feature_extractor_cqt
        self.feature_extractor_cqt_bins = feature_extractor_cqt_bins
        self.num_codebooks = num_codebooks
        self.codebook_size = codebook_size
        self.codebook_dim = codebook_dim
        self.logit_temp = logit_temp
        self.cqt_bins = cqt_bins
        self.feature_penalty_weight = feature_penalty_weight
        self.cqt_loss_weight = cqt_loss_weight
        self.feature_grad_mult = feature_grad_mult
        self.classifier_hidden_size = classifier_hidden_size
        self.classifier_dropout = classifier_dropout
        self.use_weighted_layer_sum = use_weighted_layer_sum
        self._validate_mert(kwargs.get("num_feat_extract_layers"))

    def _validate_mert(self, declared_conv_layers=None):
        """Reject impossible architectures with the field name and the fix, instead of failing deep in a forward."""
        errors = []
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "sample_rate"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                errors.append(f"`{name}` must be a positive integer, got {value!r}")
        if not errors:
            if self.hidden_size % self.num_attention_heads:
                errors.append(f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                              f"({self.num_attention_heads})")
            if self.hidden_size % self.num_conv_pos_embedding_groups:
                errors.append(f"`hidden_size` ({self.hidden_size}) must be divisible by "
                              f"`num_conv_pos_embedding_groups` ({self.num_conv_pos_embedding_groups})")
        if not (len(self.conv_dim) == len(self.conv_stride) == len(self.conv_kernel)) or not self.conv_dim:
            errors.append(f"`conv_dim`, `conv_stride` and `conv_kernel` must be non-empty and of equal length, got "
                          f"{len(self.conv_dim)}, {len(self.conv_stride)} and {len(self.conv_kernel)}")
        if declared_conv_layers is not None and declared_conv_layers != len(self.conv_dim):
            errors.append(f"`num_feat_extract_layers` ({declared_conv_layers}) does not match len(conv_dim) "
                          f"({len(self.conv_dim)})")
        for name in ("conv_dim", "conv_stride", "conv_kernel"):
            if any((not isinstance(v, int)) or v <= 0 for v in getattr(self, name)):
                errors.append(f"`{name}` must hold positive integers, got {getattr(self, name)}")
        if self.feat_extract_norm not in ("group", "layer"):
            errors.append(f"`feat_extract_norm` must be 'group' or 'layer', got {self.feat_extract_norm!r}")
        for name in ("hidden_dropout", "activation_dropout", "attention_dropout", "feat_proj_dropout",
                     "final_dropout", "layerdrop", "feat_extract_dropout", "mask_time_prob", "mask_feature_prob",
                     "classifier_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                errors.append(f"`{name}` must be a probability in [0, 1], got {value!r}")
        if self.deepnorm:
            errors.append("`deepnorm=True` is not supported: no released MERT checkpoint uses it; set it to false")
        if self.feature_extractor_cqt:
            errors.append("`feature_extractor_cqt=True` is not supported: no released MERT checkpoint uses it; "
                          "set it to false")
        relax = self.attention_relax
        if not isinstance(relax, (int, float)) or math.isnan(float(relax)) or relax == 0:
            errors.append(f"`attention_relax` must be a non-zero number (<= 0 disables it), got {relax!r}")
        if self.logit_temp <= 0:
            errors.append(f"`logit_temp` must be > 0, got {self.logit_temp!r}")
        if errors:
            raise ValueError("Invalid MERTConfig:\n  - " + "\n  - ".join(errors))

    @property
    def inputs_to_logits_ratio(self):
        """Samples per output frame (320 for MERT-v1: 24 kHz -> 75 frames per second)."""
        return math.prod(self.conv_stride)

    @property
    def receptive_field(self):
        """Samples needed for one output frame (400 for MERT-v1)."""
        field, jump = 1, 1
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            field += (kernel - 1) * jump
            jump *= stride
        return field

    @property
    def frames_per_second(self):
        """Output frames per second of audio at ``sample_rate`` (75.0 for MERT-v1)."""
        return self.sample_rate / self.inputs_to_logits_ratio


MERTConfig.register_for_auto_class()  # save_pretrained copies this file and writes auto_map
