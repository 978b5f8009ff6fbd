"""The study's mel front end (one copy; saved beside every VGG-ish, Musicnn and AST folder as remote code)."""

from .feature_extraction_mel import MelSpectrogramFeatureExtractor

__all__ = ["MelSpectrogramFeatureExtractor"]
