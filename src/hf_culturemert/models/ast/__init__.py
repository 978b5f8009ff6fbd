"""AST for the study: transformers' own ``ASTForAudioClassification`` at ccml's geometry, ImageNet-initialised.

* :func:`study_ast_config`: 128 mel bins x 500 frames (8 s), 16x16 patches with stride 10 in both axes
  (12 x 49 = 588 patches), ViT-base sizes, multi-label problem type; about 86 M parameters.
* :func:`init_ast_from_deit`: the ImageNet initialisation the study used (DeiT-base-distilled-384, *not* AudioSet):
  every encoder weight copied, the RGB patch conv summed into one input channel, cls and distillation tokens copied,
  and the 24 x 24 patch position grid fitted to the AST grid per axis (bilinear interpolation where the AST axis is
  longer, centre crop where it is shorter; Gong et al. 2021). The tagging head stays freshly initialised.
"""

import logging

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

IMAGENET_DEIT = "facebook/deit-base-distilled-patch16-384"
STUDY_GEOMETRY = dict(num_mel_bins=128, max_length=500, patch_size=16, frequency_stride=10, time_stride=10)


def study_ast_config(num_labels=None, id2label=None, **overrides):
    """An ``ASTConfig`` at the study's geometry (``overrides`` change any field, e.g. a tiny size for tests)."""
    from transformers import ASTConfig

    values = dict(STUDY_GEOMETRY, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                  intermediate_size=3072, problem_type="multi_label_classification")
    values.update(overrides)
    if id2label is not None:
        values["id2label"] = {int(k): v for k, v in dict(id2label).items()}
        values["label2id"] = {v: int(k) for k, v in values["id2label"].items()}
    elif num_labels is not None:
        values["num_labels"] = int(num_labels)
    return ASTConfig(**values)


def ast_grid(config):
    """(frequency patches, time patches) of an ``ASTConfig``."""
    f_dim = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
    t_dim = (config.max_length - config.patch_size) // config.time_stride + 1
    if f_dim < 1 or t_dim < 1:
        raise ValueError(f"ASTConfig: num_mel_bins={config.num_mel_bins} and max_length={config.max_length} must be "
                         f"at least patch_size={config.patch_size}")
    return f_dim, t_dim


def fit_axis(grid, size, dim):
    """Fit one axis of a ``[1, H, rows, cols]`` grid to ``size``: centre crop when shorter, bilinear when longer."""
    current = grid.shape[dim]
    if size == current:
        return grid
    if size < current:
        start = current // 2 - size // 2
        return grid.narrow(dim, start, size)
    target = list(grid.shape[2:])
    target[dim - 2] = size
    return F.interpolate(grid, size=tuple(target), mode="bilinear", align_corners=False)


def adapt_position_embeddings(deit_positions, f_dim, t_dim, num_special=2):
    """DeiT ``[1, 2 + G*G, H]`` position embeddings -> AST ``[1, 2 + f_dim*t_dim, H]`` (rows = frequency)."""
    special, patches = deit_positions[:, :num_special], deit_positions[:, num_special:]
    side = int(round(patches.shape[1] ** 0.5))
    if side * side != patches.shape[1]:
        raise ValueError(f"DeiT position embeddings hold {patches.shape[1]} patch positions, not a square grid")
    hidden = patches.shape[-1]
    grid = patches.reshape(1, side, side, hidden).permute(0, 3, 1, 2)  # [1, H, rows, cols]
    grid = fit_axis(grid, t_dim, 3)  # time = image width (columns)
    grid = fit_axis(grid, f_dim, 2)  # frequency = image height (rows)
    patches = grid.permute(0, 2, 3, 1).reshape(1, f_dim * t_dim, hidden)
    return torch.cat([special, patches], dim=1)


@torch.no_grad()
def init_ast_from_deit(ast_model, deit):
    """Initialise ``ast_model`` (``ASTForAudioClassification`` or ``ASTModel``) from a DeiT (``DeiTModel``,
    ``DeiTForImageClassificationWithTeacher`` or a DeiT state dict without prefix); returns the copied keys.

    Raises ``ValueError`` naming the keys when the two do not fit (hidden size, depth, missing weights).
    """
    backbone = getattr(ast_model, "audio_spectrogram_transformer", ast_model)
    if isinstance(deit, dict):
        source = dict(deit)
    else:
        source = getattr(deit, "deit", deit).state_dict()
    source = {k[len("deit."):] if k.startswith("deit.") else k: v for k, v in source.items()}
    target = backbone.state_dict()
    copied, problems = [], []
    for key, value in target.items():
        if key not in source:
            problems.append(f"{key}: missing in the DeiT weights")
            continue
        weight = source[key]
        if key == "embeddings.patch_embeddings.projection.weight":
            weight = weight.sum(dim=1, keepdim=True)  # RGB -> one spectrogram channel
        elif key == "embeddings.position_embeddings":
            weight = adapt_position_embeddings(weight, *ast_grid(backbone.config))
        if tuple(weight.shape) != tuple(value.shape):
            problems.append(f"{key}: DeiT {tuple(weight.shape)} vs AST {tuple(value.shape)}")
            continue
        value.copy_(weight.to(value.dtype))
        copied.append(key)
    if problems:
        raise ValueError("init_ast_from_deit: the DeiT does not fit the AST config: " + "; ".join(problems[:8])
                         + (f" (+{len(problems) - 8} more)" if len(problems) > 8 else ""))
    logger.info("AST initialised from DeiT: %d tensors copied (head left freshly initialised)", len(copied))
    return copied


def imagenet_ast(config, deit_name_or_path=IMAGENET_DEIT, revision=None):
    """``ASTForAudioClassification(config)`` initialised from the ImageNet DeiT-base-distilled-384 checkpoint."""
    from transformers import ASTForAudioClassification, DeiTModel

    deit = DeiTModel.from_pretrained(deit_name_or_path, revision=revision, add_pooling_layer=False)
    model = ASTForAudioClassification(config)
    init_ast_from_deit(model, deit)
    return model


__all__ = ["IMAGENET_DEIT", "STUDY_GEOMETRY", "study_ast_config", "ast_grid", "adapt_position_embeddings",
           "init_ast_from_deit", "imagenet_ast"]
