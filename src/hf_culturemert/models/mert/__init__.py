"""MERT-v1 / CultureMERT: ``configuration_mert.py`` + ``modeling_mert.py``, the family's two Hub remote-code files."""

from .configuration_mert import AUTO_MAP, MERTConfig
from .modeling_mert import (MERTForAudioTagging, MERTForPreTraining, MERTModel, MERTPreTrainedModel,
                            mert_feature_extractor)

__all__ = ["AUTO_MAP", "MERTConfig", "MERTModel", "MERTForPreTraining", "MERTForAudioTagging", "MERTPreTrainedModel",
           "mert_feature_extractor"]
