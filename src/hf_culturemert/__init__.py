"""hf-culturemert: CultureMERT (arXiv 2506.17818) on the Hugging Face stack.

Importing the package registers the MERT classes with ``AutoConfig`` / ``AutoModel`` / ``AutoModelForPreTraining``
/ ``AutoModelForAudioClassification``, so local users need no ``trust_remote_code``.
"""

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification, AutoModelForPreTraining

from .models.mert.configuration_mert import MERTConfig
from .models.mert.modeling_mert import MERTForAudioTagging, MERTForPreTraining, MERTModel, MERTPreTrainedModel

__version__ = "0.1.0"

AutoConfig.register(MERTConfig.model_type, MERTConfig, exist_ok=True)
AutoModel.register(MERTConfig, MERTModel, exist_ok=True)
AutoModelForPreTraining.register(MERTConfig, MERTForPreTraining, exist_ok=True)
AutoModelForAudioClassification.register(MERTConfig, MERTForAudioTagging, exist_ok=True)

from .models import register_auto_classes as _register_models  # noqa: E402  (VGG-ish, Musicnn, mel front end)

_register_models()

__all__ = ["MERTConfig", "MERTModel", "MERTForPreTraining", "MERTForAudioTagging", "MERTPreTrainedModel",
           "__version__"]
