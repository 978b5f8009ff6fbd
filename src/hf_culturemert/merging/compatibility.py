"""Strict compatibility checks of merge inputs: architecture config fields, missing or extra tensors, shapes."""

from .checkpoints import HEADS_FILE, short_list

# Config fields that define the architecture (and so the meaning of each tensor); all others (dropouts, masking
# probabilities, loss weights, `_name_or_path`, `transformers_version`, `architectures`, `auto_map`, dtype, ...)
# may differ between merged checkpoints.
ARCHITECTURE_FIELDS = (
    "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "layer_norm_eps", "feat_extract_norm", "feat_extract_activation", "conv_dim", "conv_stride", "conv_kernel",
    "conv_bias", "feat_proj_layer_norm", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups",
    "do_stable_layer_norm", "sample_rate", "deepnorm", "feature_extractor_cqt",
)
# Compared too when heads are kept or merged.
HEAD_FIELDS = ("num_codebooks", "codebook_size", "codebook_dim", "cqt_bins", "num_labels", "classifier_hidden_size")


def config_differences(base, other, fields=ARCHITECTURE_FIELDS):
    """``[(field, base value, other value)]`` for the config fields (of two :class:`MergeInput`) that differ."""
    differences = []
    for name in fields:
        if name == "model_type":
            mine, theirs = base.model_type, other.model_type
        else:
            mine, theirs = getattr(base.config, name, None), getattr(other.config, name, None)
        if isinstance(mine, tuple):
            mine = list(mine)
        if isinstance(theirs, tuple):
            theirs = list(theirs)
        if mine != theirs:
            differences.append((name, mine, theirs))
    return differences


def check_compatible(base, models, heads="drop"):
    """Raise one ValueError listing every incompatibility: config fields, missing / extra keys, shapes.

    Args:
        base: the base :class:`~hf_culturemert.merging.checkpoints.MergeInput`.
        models: the inputs merged into it.
        heads: ``"drop"`` checks the backbone only; otherwise the pre-training heads must match too.

    Returns:
        The canonical key list of the output (backbone, plus heads unless ``heads == "drop"``).
    """
    problems = []
    fields = ARCHITECTURE_FIELDS + (HEAD_FIELDS if heads != "drop" else ())
    for entry in models:
        if entry.kind == "checkpoint":
            for name, mine, theirs in config_differences(base, entry, fields):
                problems.append(f"{entry.label}: config `{name}` is {theirs!r}, base has {mine!r}")
    keys = list(base.backbone_keys)
    if heads == "base" and not base.head_keys:
        problems.append(f"{base.label} has no heads to keep (heads='base'); use heads='drop'")
    if heads != "drop":
        keys += base.head_keys
    required = set(base.backbone_keys) | (set(base.head_keys) if heads == "merge" else set())
    for entry in models:
        if entry.kind == "checkpoint":
            theirs = set(entry.backbone_keys) | (set(entry.head_keys) if heads == "merge" else set())
            missing, extra = required - theirs, theirs - required
            if missing:
                problems.append(f"{entry.label} lacks {len(missing)} tensor(s) of the base: {short_list(missing)}")
            if extra:
                problems.append(f"{entry.label} has {len(extra)} tensor(s) the base lacks: {short_list(extra)}")
        else:
            allowed = set(base.backbone_keys) | set(base.head_keys)
            extra = set(entry.specs) - allowed
            if extra:
                problems.append(f"{entry.label} (LoRA) targets tensor(s) the base lacks: {short_list(extra)}")
            missing_heads = set(base.head_keys) - set(entry.head_keys) if heads == "merge" else set()
            if missing_heads:
                problems.append(f"{entry.label} (LoRA) has no {HEADS_FILE} with the heads {short_list(missing_heads)}, "
                                "which heads='merge' needs from every input")
        for key in sorted(required & set(entry.specs)):
            mine, theirs = base.specs[key][0], entry.specs[key][0]
            if mine != theirs:
                problems.append(f"{entry.label}: tensor {key!r} has shape {list(theirs)}, base has {list(mine)}")
    if problems:
        raise ValueError("The checkpoints cannot be merged:\n  - " + "\n  - ".join(problems))
    return keys
