"""Model families, one folder each, with each family's Hub remote-code files kept together (transformers' layout).

* ``mert/``: ``configuration_mert.py`` + ``modeling_mert.py`` (MERT-v1 / CultureMERT backbone, pre-training and
  tagging heads); ``hf_culturemert.configuration_mert`` / ``.modeling_mert`` remain aliases of these modules;
* ``vggish/``: ``configuration_vggish.py`` + ``modeling_vggish.py`` (the study's short-chunk CNN tagger);
* ``musicnn/``: ``configuration_musicnn.py`` + ``modeling_musicnn.py``;
* ``ast/``: transformers' own ``ASTForAudioClassification`` at the study's geometry, and its ImageNet (DeiT)
  initialisation; no remote code of ours besides the front end;
* ``mel/``: ``feature_extraction_mel.py``, the one mel front end saved beside all three (``AutoFeatureExtractor``).

"""

from .mel import MelSpectrogramFeatureExtractor
from .musicnn import MusicnnConfig, MusicnnForAudioTagging
from .vggish import VGGishConfig, VGGishForAudioTagging


def register_auto_classes():
    """Register the VGG-ish and Musicnn classes (and the mel front end) with the Auto classes, so that local users
    need no ``trust_remote_code``; saved folders still carry their remote code and ``auto_map``."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification

    for config_class, model_class in ((VGGishConfig, VGGishForAudioTagging), (MusicnnConfig, MusicnnForAudioTagging)):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
        AutoModelForAudioClassification.register(config_class, model_class, exist_ok=True)
        AutoFeatureExtractor.register(config_class, MelSpectrogramFeatureExtractor, exist_ok=True)


__all__ = ["MelSpectrogramFeatureExtractor", "VGGishConfig", "VGGishForAudioTagging", "MusicnnConfig",
           "MusicnnForAudioTagging", "register_auto_classes"]
