# Copyright 2026 the hf-culturemert developers. Apache-2.0.
"""Musicnn multi-label music tagger of "From West to East" (arXiv 2307.09795).

Hub remote-code file: it imports only torch and the public transformers API. Input: mel-dB spectrograms
``input_features`` ``[batch, n_mels, frames]`` (``MelSpectrogramFeatureExtractor``). Output: logits; ``labels``
(multi-hot) give the mean binary cross-entropy with logits.
"""

import torch
import torch.nn.functional as F
from torch import nn

from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_musicnn import MusicnnConfig


def _check_multi_label(config, name):
    """The taggers are multi-label (BCE loss, a sigmoid per tag in pipelines): any config accepts transformers'
    ``problem_type`` values, and the model refuses the others when it is built (as every family here does)."""
    if config.problem_type is None:
        config.problem_type = "multi_label_classification"
    elif config.problem_type != "multi_label_classification":
        raise ValueError(f"{name} is a multi-label tagger (BCE loss); config.problem_type must be "
                         f"'multi_label_classification' or unset, got {config.problem_type!r}")


class MusicnnTimbral(nn.Module):
    """Vertical conv (height x width, 'same' in time) -> BN -> ReLU -> max over frequency: [B, C, T]."""

    def __init__(self, filters, height, width):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, (height, width), padding=(0, width // 2))
        self.norm = nn.BatchNorm2d(filters)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x))).amax(dim=2)


class MusicnnTemporal(nn.Module):
    """Mean over frequency -> 1-D conv ('same') -> BN -> ReLU: [B, C, T]."""

    def __init__(self, filters, length):
        super().__init__()
        self.conv = nn.Conv1d(1, filters, length, padding=length // 2)
        self.norm = nn.BatchNorm1d(filters)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x.mean(dim=2))))


class MusicnnBackendLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, padding=kernel // 2)
        self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class MusicnnPreTrainedModel(PreTrainedModel):
    config_class = MusicnnConfig
    base_model_prefix = "musicnn"
    main_input_name = "input_features"

    def _init_weights(self, module):
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)):
            module.reset_parameters()  # PyTorch's default initialisation, as the study used


class MusicnnForAudioTagging(MusicnnPreTrainedModel):
    def __init__(self, config):
        _check_multi_label(config, type(self).__name__)
        super().__init__(config)
        self.input_norm = nn.BatchNorm2d(1)
        self.timbral = nn.ModuleList(MusicnnTimbral(config.timbral_filters, h, config.timbral_width)
                                     for h in config.timbral_heights)
        self.temporal = nn.ModuleList(MusicnnTemporal(config.temporal_filters, n) for n in config.temporal_lengths)
        front, back = config.frontend_channels, config.backend_channels
        self.backend = nn.ModuleList([MusicnnBackendLayer(front, back, config.backend_kernel),
                                      MusicnnBackendLayer(back, back, config.backend_kernel),
                                      MusicnnBackendLayer(back, back, config.backend_kernel)])
        self.dense = nn.Linear(2 * (front + 3 * back), config.dense_size)
        self.dense_norm = nn.BatchNorm1d(config.dense_size)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dense_size, config.num_labels)
        self.post_init()

    def forward(self, input_features, labels=None, return_dict=None, **kwargs):
        if input_features.ndim != 3 or input_features.shape[1] != self.config.num_mel_bins:
            raise ValueError(f"MusicnnForAudioTagging expects input_features [batch, {self.config.num_mel_bins} mel "
                             f"bins, frames], got shape {tuple(input_features.shape)}")
        x = self.input_norm(input_features.unsqueeze(1))
        frames = x.shape[-1]
        # even kernel widths pad one frame too many: trim every branch to the input's length
        front = torch.cat([m(x)[..., :frames] for m in self.timbral] + [m(x)[..., :frames] for m in self.temporal], 1)
        first = self.backend[0](front)
        second = self.backend[1](first) + first
        third = self.backend[2](second) + second
        features = torch.cat([front, first, second, third], dim=1)
        pooled = torch.cat([features.amax(dim=2), features.mean(dim=2)], dim=1)
        logits = self.classifier(self.dropout(F.relu(self.dense_norm(self.dense(pooled)))))
        loss = None
        if labels is not None:
            loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        output = SequenceClassifierOutput(loss=loss, logits=logits)
        return output if (return_dict if return_dict is not None else self.config.return_dict) else output.to_tuple()


MusicnnForAudioTagging.register_for_auto_class("AutoModelForAudioClassification")

__all__ = ["MusicnnPreTrainedModel", "MusicnnForAudioTagging"]
