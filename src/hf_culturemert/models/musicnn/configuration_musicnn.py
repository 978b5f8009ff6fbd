# Copyright 2026 the hf-culturemert developers. Apache-2.0.
"""Configuration of the Musicnn music tagger of "From West to East" (arXiv 2307.09795).

Hub remote-code file: it imports only the public transformers API.
"""

try:  # transformers >= 5 renamed the base class; the old name stays as an alias in most releases.
    from transformers import PreTrainedConfig as _BaseConfig
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import PretrainedConfig as _BaseConfig


class MusicnnConfig(_BaseConfig):
    r"""Musicnn (Pons & Serra) multi-label tagger on mel-dB spectrograms, at the study's published size.

    Front end: vertical "timbral" convs (``timbral_filters`` filters of each height in ``timbral_heights`` x
    ``timbral_width``, max over frequency) and horizontal "temporal" 1-D convs (``temporal_filters`` filters of each
    length in ``temporal_lengths`` over the frequency-averaged input). The published heights 67 and 38 are 0.7 and
    0.4 of 96 mel bins, although the study feeds 128; they are kept so the published size (about 0.77 M parameters
    + 201 per tag) is reproduced. Back end: three Conv1d(``backend_channels``, k=7) with residuals, max + mean
    pooling over time, Linear -> ``dense_size``, BN, ReLU, Dropout, output Linear. Input 187 frames (3 s).

    Args:
        num_mel_bins: mel bins of the input spectrogram.
        chunk_frames: frames of one training crop (187 at 16 kHz, hop 256: 3 s).
        timbral_filters: filters of each timbral (vertical) conv height.
        timbral_heights: heights of the timbral convs, in mel bins (at most ``num_mel_bins``).
        timbral_width: width of the timbral convs, in frames.
        temporal_filters: filters of each temporal (horizontal) conv length.
        temporal_lengths: lengths of the temporal 1-D convs, in frames.
        backend_channels: channels of the three residual Conv1d of the back end.
        backend_kernel: their kernel size.
        dense_size: width of the hidden dense layer.
        dropout: dropout before the output layer, in [0, 1).
        aggregation: how a track's chunk scores are averaged: ``"probabilities"`` or ``"logits"``.
        problem_type: must stay ``"multi_label_classification"``.
        **kwargs: ``PretrainedConfig`` arguments (``id2label``, ``label2id``, ...).

    Example:
        ```python
        tags = ["genre--rock", "genre--jazz"]
        config = MusicnnConfig(id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
        model = MusicnnForAudioTagging(config)  # input_features [batch, 128, 187]
        ```
    """

    model_type = "musicnn_tagger"

    def __init__(self, num_mel_bins=128, chunk_frames=187, timbral_filters=204, timbral_heights=(67, 38),
                 timbral_width=7, temporal_filters=51, temporal_lengths=(129, 65, 33), backend_channels=64,
                 backend_kernel=7, dense_size=200, dropout=0.5, aggregation="probabilities",
                 problem_type="multi_label_classification", **kwargs):
        super().__init__(problem_type=problem_type, **kwargs)
        timbral_heights = [int(h) for h in timbral_heights]
        temporal_lengths = [int(n) for n in temporal_lengths]
        if any(h < 1 or h > num_mel_bins for h in timbral_heights):
            raise ValueError(f"MusicnnConfig.timbral_heights must be in [1, num_mel_bins={num_mel_bins}], got "
                             f"{timbral_heights}")
        if any(n < 1 for n in temporal_lengths) or min(timbral_filters, temporal_filters, backend_channels) < 1:
            raise ValueError("MusicnnConfig: filter counts and temporal_lengths must be positive")
        if not 0 <= dropout < 1:
            raise ValueError(f"MusicnnConfig.dropout must be in [0, 1), got {dropout}")
        if aggregation not in ("probabilities", "logits"):
            raise ValueError(f"MusicnnConfig.aggregation must be 'probabilities' or 'logits', got {aggregation!r}")
        self.num_mel_bins = int(num_mel_bins)
        self.chunk_frames = int(chunk_frames)
        self.timbral_filters = int(timbral_filters)
        self.timbral_heights = timbral_heights
        self.timbral_width = int(timbral_width)
        self.temporal_filters = int(temporal_filters)
        self.temporal_lengths = temporal_lengths
        self.backend_channels = int(backend_channels)
        self.backend_kernel = int(backend_kernel)
        self.dense_size = int(dense_size)
        self.dropout = float(dropout)
        self.aggregation = aggregation

    @property
    def frontend_channels(self):
        return self.timbral_filters * len(self.timbral_heights) + self.temporal_filters * len(self.temporal_lengths)


MusicnnConfig.register_for_auto_class()

__all__ = ["MusicnnConfig"]
