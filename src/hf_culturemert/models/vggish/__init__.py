"""VGG-ish (short-chunk CNN) tagger: Hub remote-code files ``configuration_vggish.py`` + ``modeling_vggish.py``."""

from .configuration_vggish import VGGishConfig
from .modeling_vggish import VGGishForAudioTagging, VGGishPreTrainedModel

__all__ = ["VGGishConfig", "VGGishForAudioTagging", "VGGishPreTrainedModel"]
