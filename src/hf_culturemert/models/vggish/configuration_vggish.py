# Copyright 2026 the hf-culturemert developers. Apache-2.0.
"""Configuration of the VGG-ish (short-chunk CNN) music tagger of "From West to East" (arXiv 2307.09795).

Hub remote-code file: it imports only the public transformers API.
"""

try:  # transformers >= 5 renamed the base class; the old name stays as an alias in most releases.
    from transformers import PreTrainedConfig as _BaseConfig
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import PretrainedConfig as _BaseConfig


class VGGishConfig(_BaseConfig):
    r"""VGG-ish multi-label tagger on mel-dB spectrograms (Won et al. 2020's short-chunk CNN, as used by the study).

    Defaults are the published model: 128 mel bins, 230-frame (3.69 s) chunks, 7 blocks of Conv3x3-BN-ReLU-MaxPool2
    with 128, 128, 256, 256, 256, 256, 512 channels, global max pool, Linear(512 -> 512)-BN-ReLU-Dropout(0.5), output
    Linear(512 -> num_labels). About 3.66 M parameters + 513 per tag. Tags go in ``id2label``/``label2id``.

    Args:
        num_mel_bins: mel bins of the input spectrogram.
        chunk_frames: frames of one training crop (230 at 16 kHz, hop 256: 3.69 s).
        channels: output channels of each Conv3x3-BN-ReLU-MaxPool2 block; each block halves both axes.
        dense_size: width of the hidden dense layer.
        dropout: dropout before the output layer, in [0, 1).
        aggregation: how a track's chunk scores are averaged: ``"probabilities"`` (sigmoid, then mean) or
            ``"logits"`` (mean, then sigmoid).
        problem_type: must stay ``"multi_label_classification"``.
        **kwargs: ``PretrainedConfig`` arguments (``id2label``, ``label2id``, ...).

    Example:
        ```python
        tags = ["genre--rock", "genre--jazz"]
        config = VGGishConfig(id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
        model = VGGishForAudioTagging(config)  # input_features [batch, 128, 230]
        ```
    """

    model_type = "vggish_tagger"

    def __init__(self, num_mel_bins=128, chunk_frames=230, channels=(128, 128, 256, 256, 256, 256, 512),
                 dense_size=512, dropout=0.5, aggregation="probabilities", problem_type="multi_label_classification",
                 **kwargs):
        super().__init__(problem_type=problem_type, **kwargs)
        channels = [int(c) for c in channels]
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f"VGGishConfig.channels must be a non-empty list of positive ints, got {channels}")
        if num_mel_bins < 2 ** len(channels) or chunk_frames < 2 ** len(channels):
            raise ValueError(f"VGGishConfig: {len(channels)} 2x2 max-pools need num_mel_bins and chunk_frames of at "
                             f"least {2 ** len(channels)}, got {num_mel_bins} and {chunk_frames}")
        if not 0 <= dropout < 1:
            raise ValueError(f"VGGishConfig.dropout must be in [0, 1), got {dropout}")
        if aggregation not in ("probabilities", "logits"):
            raise ValueError(f"VGGishConfig.aggregation must be 'probabilities' or 'logits', got {aggregation!r}")
        self.num_mel_bins = int(num_mel_bins)
        self.chunk_frames = int(chunk_frames)
        self.channels = channels
        self.dense_size = int(dense_size)
        self.dropout = float(dropout)
        self.aggregation = aggregation


VGGishConfig.register_for_auto_class()

__all__ = ["VGGishConfig"]
