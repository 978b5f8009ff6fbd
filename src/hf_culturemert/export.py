"""Hub-ready model folders: ``save_pretrained`` plus what a Hub repository adds (card, extra files).

The MERT classes are registered with ``register_for_auto_class``, so transformers' own ``save_pretrained`` (and
with it ``push_to_hub`` and every ``Trainer`` checkpoint) writes ``config.json`` with ``auto_map``, the two
self-contained remote-code files and the weights as safetensors; ``MERTPreTrainedModel.save_pretrained`` adds
``preprocessor_config.json``. Such a folder loads with ``AutoModel.from_pretrained(folder, trust_remote_code=True)``
and ``AutoFeatureExtractor.from_pretrained(folder)`` in a Python where hf_culturemert is not installed.
"""

import logging
import shutil
from pathlib import Path

from .models.mert.configuration_mert import AUTO_MAP, MERTConfig
from .models.mert.modeling_mert import MERTModel, mert_feature_extractor

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
MERT_DIR = PACKAGE_DIR / "models" / "mert"  # the MERT family's Hub files
REMOTE_CODE_FILES = ("configuration_mert.py", "modeling_mert.py")
CONFIG_DIR = PACKAGE_DIR / "resources" / "configs"
HUB_IDS = {
    "mert-v1-95m": "m-a-p/MERT-v1-95M",
    "mert-v1-330m": "m-a-p/MERT-v1-330M",
    "culturemert-95m": "ntua-slp/CultureMERT-95M",
    "culturemert-ta-95m": "ntua-slp/CultureMERT-TA-95M",
}
__all__ = ["AUTO_MAP", "HUB_IDS", "load_model", "mert_feature_extractor", "reference_config", "resolve_model_id",
           "save_model_folder", "tagging_model", "write_remote_code"]


def reference_config(name="95M", **overrides):
    """The published MERT-v1 config (``"95M"`` or ``"330M"``) shipped with the package, as a ``MERTConfig``."""
    path = CONFIG_DIR / f"MERT-v1-{name}.config.json"
    if not path.is_file():
        raise ValueError(f"Unknown reference config {name!r}; use '95M' or '330M'")
    config = MERTConfig.from_json_file(str(path))
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def write_remote_code(folder):
    """Copy the self-contained configuration/modeling files into ``folder``: for writers that stream weights
    themselves (merging) instead of calling ``save_pretrained``."""
    folder = Path(folder)
    for name in REMOTE_CODE_FILES:
        shutil.copyfile(MERT_DIR / name, folder / name)


def save_model_folder(model, folder, card_text=None, extra_files=None, max_shard_size="5GB"):
    """``model.save_pretrained(folder)`` plus a card and extra files: a Hub-ready folder.

    Args:
        model: any model with ``save_pretrained`` (its remote code and ``auto_map`` are written by transformers).
        folder: the output folder (created).
        card_text: the model card, written as ``README.md`` when given.
        extra_files: file name -> text, written beside the weights (e.g. a merge recipe).
        max_shard_size: passed to ``save_pretrained``.

    Returns:
        The folder, as a ``Path``.

    Example:
        ```python
        save_model_folder(model, "my-model", card_text=render_model_card("continual", ...))
        ```
    """
    folder = Path(folder)
    model.save_pretrained(folder, max_shard_size=max_shard_size)
    if card_text is not None:
        (folder / "README.md").write_text(str(card_text), encoding="utf-8")
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    from .outputs import fix_modes

    fix_modes(folder)  # save_pretrained's safetensors are 0600; follow the umask like every other tool
    logger.info("Saved Hub-ready model folder %s", folder)
    return folder


def tagging_model(backbone, tags, use_weighted_layer_sum=True, **config_overrides):
    """A multi-label ``MERTForAudioTagging`` on a backbone, with the tag names as labels.

    ``id2label``/``label2id`` carry the tag names and ``problem_type`` is multi-label, so the saved folder works with
    ``pipeline("audio-classification", trust_remote_code=True)`` (independent sigmoid scores).

    Args:
        backbone: a ``MERTModel``, a folder, a Hub id or a short name (``culturemert-95m`` ...).
        tags: the tag vocabulary, one output per tag (names must be unique).
        use_weighted_layer_sum: feed the head a learnt softmax-weighted sum of all layers (MARBLE's probe input).
        **config_overrides: more config fields.

    Returns:
        The tagger, its backbone weights copied from ``backbone`` and its head freshly initialised.

    Example:
        ```python
        tagger = tagging_model("culturemert-95m", get_vocabulary("makam"))
        ```
    """
    from .models.mert.modeling_mert import MERTForAudioTagging

    tags = [str(tag) for tag in tags]
    if not tags:
        raise ValueError("`tags` is empty: pass the dataset's tag vocabulary (e.g. hf_culturemert.data.get_vocabulary('makam'))")
    if len(set(tags)) != len(tags):
        duplicates = sorted({tag for tag in tags if tags.count(tag) > 1})
        raise ValueError(f"`tags` has duplicate names {duplicates[:5]}: every output needs its own label")
    labels = dict(num_labels=len(tags), id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)},
                  problem_type="multi_label_classification", use_weighted_layer_sum=use_weighted_layer_sum,
                  **config_overrides)
    if isinstance(backbone, MERTModel):
        config = MERTConfig.from_dict({**backbone.config.to_dict(), **labels})
        model = MERTForAudioTagging(config)
        model.mert.load_state_dict(backbone.state_dict())
        return model
    return load_model(backbone, model_class=MERTForAudioTagging, **labels)


def resolve_model_id(name_or_path):
    """Map short names (``culturemert-95m``, ``mert-v1-95m`` ...) to Hub ids; paths and other ids pass through."""
    if Path(str(name_or_path)).exists():
        return str(name_or_path)
    return HUB_IDS.get(str(name_or_path).lower(), str(name_or_path))


def load_model(name_or_path, model_class=MERTModel, revision=None, **kwargs):
    """Load a MERT checkpoint with the package's classes.

    The package's own code is used (no ``trust_remote_code``), so published checkpoints whose remote code fails
    on current transformers load fine. Legacy ``weight_g``/``weight_v`` names and ``.bin`` files are accepted.

    Args:
        name_or_path: a local folder, a Hub id, or a short name: ``mert-v1-95m``, ``mert-v1-330m``,
            ``culturemert-95m``, ``culturemert-ta-95m``.
        model_class: the class to load (``MERTModel``, ``MERTForPreTraining`` or ``MERTForAudioTagging``).
        revision: a Hub revision (branch, tag or commit).
        **kwargs: passed to ``from_pretrained`` (``torch_dtype``, ``attn_implementation`` ...).

    Returns:
        The model, in eval mode.

    Raises:
        FileNotFoundError: a local folder without ``config.json``.
        ValueError: no such local folder and the Hub is unreachable; one line, naming a local folder or
            ``tiny-random`` as the way out.

    Example:
        ```python
        model = load_model("culturemert-95m")
        ```
    """
    source = resolve_model_id(name_or_path)
    path = Path(source)
    if path.exists() and not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} has no config.json: not a model folder (expected config.json and "
                                "model.safetensors, as written by `save_model_folder` or `save_pretrained`)")
    from safetensors import SafetensorError

    from .hub_access import check_model_source, describe_load_error

    kwargs = {**check_model_source(source, revision=revision), **kwargs}  # offline: one line at once, no retries
    try:
        return model_class.from_pretrained(source, revision=revision, **kwargs)
    except (SafetensorError, OSError) as error:
        if not path.is_dir():
            raise
        raise describe_load_error(source, error) from error  # a local folder that exists but does not read
