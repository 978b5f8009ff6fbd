"""hf-culturemert: CultureMERT (arXiv 2506.17818) on the Hugging Face stack.

Importing the package registers the MERT classes with ``AutoConfig`` / ``AutoModel`` / ``AutoModelForPreTraining``
/ ``AutoModelForAudioClassification``, so local users need no ``trust_remote_code``.

The one exception is the ``culturemert`` command line starting up (``culturemert ...`` or
``python -m hf_culturemert.cli ...``): there the registration waits until a sub-command runs, so that
``culturemert --help`` and argument errors do not pay for importing torch and transformers (seconds).
"""

import os
import sys

__version__ = "0.1.0"

_LAZY = {"MERTConfig": "models.mert.configuration_mert", "MERTModel": "models.mert.modeling_mert",
         "MERTForPreTraining": "models.mert.modeling_mert", "MERTForAudioTagging": "models.mert.modeling_mert",
         "MERTPreTrainedModel": "models.mert.modeling_mert"}
_registered = False


def register_auto_classes():
    """Register the MERT, VGG-ish and Musicnn classes with the transformers Auto classes (idempotent; done on
    import)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification, AutoModelForPreTraining

    from .models import register_auto_classes as register_families
    from .models.mert.configuration_mert import MERTConfig
    from .models.mert.modeling_mert import MERTForAudioTagging, MERTForPreTraining, MERTModel

    AutoConfig.register(MERTConfig.model_type, MERTConfig, exist_ok=True)
    AutoModel.register(MERTConfig, MERTModel, exist_ok=True)
    AutoModelForPreTraining.register(MERTConfig, MERTForPreTraining, exist_ok=True)
    AutoModelForAudioClassification.register(MERTConfig, MERTForAudioTagging, exist_ok=True)
    register_families()  # VGG-ish, Musicnn, the mel front end
    _registered = True


def _starting_command_line():
    """True while the ``culturemert`` console script or ``python -m hf_culturemert.cli`` is importing us."""
    if os.path.basename(sys.argv[0] if sys.argv else "") == "culturemert":
        return True
    orig = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and b == "hf_culturemert.cli" for a, b in zip(orig, orig[1:])) and "hf_culturemert.cli" \
        not in sys.modules


def __getattr__(name):
    if name in _LAZY:
        import importlib

        register_auto_classes()
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if not _starting_command_line():
    register_auto_classes()

__all__ = ["MERTConfig", "MERTModel", "MERTForPreTraining", "MERTForAudioTagging", "MERTPreTrainedModel",
           "register_auto_classes", "__version__"]
