"""Hub-ready model folders: config with ``auto_map``, self-contained remote code, safetensors, feature extractor.

A folder written here loads with ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` and
``AutoFeatureExtractor.from_pretrained(folder)`` in a Python where hf_culturemert is not installed.
"""

import logging
import shutil
from pathlib import Path

from transformers import Wav2Vec2FeatureExtractor

from .configuration_mert import MERTConfig
from .modeling_mert import MERTModel

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
REMOTE_CODE_FILES = ("configuration_mert.py", "modeling_mert.py")
CONFIG_DIR = PACKAGE_DIR / "resources" / "configs"
AUTO_MAP = {
    "AutoConfig": "configuration_mert.MERTConfig",
    "AutoModel": "modeling_mert.MERTModel",
    "AutoModelForPreTraining": "modeling_mert.MERTForPreTraining",
    "AutoModelForAudioClassification": "modeling_mert.MERTForAudioTagging",
}
HUB_IDS = {
    "mert-v1-95m": "m-a-p/MERT-v1-95M",
    "mert-v1-330m": "m-a-p/MERT-v1-330M",
    "culturemert-95m": "ntua-slp/CultureMERT-95M",
    "culturemert-ta-95m": "ntua-slp/CultureMERT-TA-95M",
}


def reference_config(name="95M", **overrides):
    """The published MERT-v1 config (``"95M"`` or ``"330M"``) shipped with the package, as a ``MERTConfig``."""
    path = CONFIG_DIR / f"MERT-v1-{name}.config.json"
    if not path.is_file():
        raise ValueError(f"Unknown reference config {name!r}; use '95M' or '330M'")
    config = MERTConfig.from_json_file(str(path))
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def mert_feature_extractor(sampling_rate=24000):
    """The stock ``Wav2Vec2FeatureExtractor`` configured as MERT-v1's ``preprocessor_config.json``."""
    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=sampling_rate, padding_value=0.0,
                                    do_normalize=True, return_attention_mask=True, padding_side="right")


def write_remote_code(folder):
    """Copy the self-contained configuration/modeling files into ``folder``."""
    folder = Path(folder)
    for name in REMOTE_CODE_FILES:
        shutil.copyfile(PACKAGE_DIR / name, folder / name)


def save_model_folder(model, folder, card_text=None, extra_files=None, max_shard_size="5GB"):
    """Write ``model`` as a Hub repository folder and return its path.

    Contents: ``config.json`` (with ``auto_map``), ``model.safetensors``, ``configuration_mert.py``,
    ``modeling_mert.py``, ``preprocessor_config.json``, and ``README.md`` when ``card_text`` is given.
    ``extra_files`` maps file names to text written beside them (e.g. a merge recipe).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.auto_map = dict(AUTO_MAP)
    model.save_pretrained(folder, max_shard_size=max_shard_size)
    stale = folder / "pytorch_model.bin"
    if stale.exists():  # never leave a pickle next to the safetensors we just wrote
        stale.unlink()
    write_remote_code(folder)
    mert_feature_extractor(model.config.sample_rate).save_pretrained(folder)
    if card_text is not None:
        (folder / "README.md").write_text(str(card_text), encoding="utf-8")
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    from .outputs import fix_modes

    fix_modes(folder)  # save_pretrained's safetensors are 0600; follow the umask like every other tool
    logger.info("Saved Hub-ready model folder %s", folder)
    return folder


def resolve_model_id(name_or_path):
    """Map short names (``culturemert-95m``, ``mert-v1-95m`` ...) to Hub ids; paths and other ids pass through."""
    if Path(str(name_or_path)).exists():
        return str(name_or_path)
    return HUB_IDS.get(str(name_or_path).lower(), str(name_or_path))


def load_model(name_or_path, model_class=MERTModel, revision=None, **kwargs):
    """Load a MERT checkpoint (local folder, Hub id or short name) with the package's classes.

    The package's own code is used (no ``trust_remote_code``), so published checkpoints whose remote code fails
    on current transformers load fine. Legacy ``weight_g``/``weight_v`` names and ``.bin`` files are accepted.
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
