"""Musicnn tagger: Hub remote-code files ``configuration_musicnn.py`` + ``modeling_musicnn.py``."""

from .configuration_musicnn import MusicnnConfig
from .modeling_musicnn import MusicnnForAudioTagging, MusicnnPreTrainedModel

__all__ = ["MusicnnConfig", "MusicnnForAudioTagging", "MusicnnPreTrainedModel"]
