# Copyright 2026 the hf-culturemert developers. Apache-2.0.
"""VGG-ish (short-chunk CNN) multi-label music tagger of "From West to East" (arXiv 2307.09795).

Hub remote-code file: it imports only torch and the public transformers API. Input: mel-dB spectrograms
``input_features`` of shape ``[batch, n_mels, frames]`` (``MelSpectrogramFeatureExtractor``). Output: logits;
``labels`` (multi-hot) give the mean binary cross-entropy with logits.
"""

import torch.nn.functional as F
from torch import nn

from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_vggish import VGGishConfig


def _check_multi_label(config, name):
    """The taggers are multi-label (BCE loss, a sigmoid per tag in pipelines): any config accepts transformers'
    ``problem_type`` values, and the model refuses the others when it is built (as every family here does)."""
    if config.problem_type is None:
        config.problem_type = "multi_label_classification"
    elif config.problem_type != "multi_label_classification":
        raise ValueError(f"{name} is a multi-label tagger (BCE loss); config.problem_type must be "
                         f"'multi_label_classification' or unset, got {config.problem_type!r}")


class VGGishBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return F.max_pool2d(F.relu(self.norm(self.conv(x))), 2)


class VGGishPreTrainedModel(PreTrainedModel):
    config_class = VGGishConfig
    base_model_prefix = "vggish"
    main_input_name = "input_features"

    def _init_weights(self, module):
        # PyTorch's own default initialisation (as the study used); only re-applied to modules transformers flags
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            module.reset_parameters()
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.reset_parameters()


class VGGishForAudioTagging(VGGishPreTrainedModel):
    """Input BN -> 7 VGG blocks -> global max pool -> Linear-BN-ReLU-Dropout -> output Linear ``classifier``."""

    def __init__(self, config):
        _check_multi_label(config, type(self).__name__)
        super().__init__(config)
        self.input_norm = nn.BatchNorm2d(1)
        channels = [1] + list(config.channels)
        self.blocks = nn.ModuleList(VGGishBlock(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.dense = nn.Linear(channels[-1], config.dense_size)
        self.dense_norm = nn.BatchNorm1d(config.dense_size)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dense_size, config.num_labels)
        self.post_init()

    def forward(self, input_features, labels=None, return_dict=None, **kwargs):
        if input_features.ndim != 3 or input_features.shape[1] != self.config.num_mel_bins:
            raise ValueError(f"VGGishForAudioTagging expects input_features [batch, {self.config.num_mel_bins} mel "
                             f"bins, frames], got shape {tuple(input_features.shape)}")
        x = self.input_norm(input_features.unsqueeze(1))
        for block in self.blocks:
            x = block(x)
        x = x.amax(dim=(2, 3))
        x = self.dropout(F.relu(self.dense_norm(self.dense(x))))
        logits = self.classifier(x)
        loss = None
        if labels is not None:
            loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        output = SequenceClassifierOutput(loss=loss, logits=logits)
        return output if (return_dict if return_dict is not None else self.config.return_dict) else output.to_tuple()


VGGishForAudioTagging.register_for_auto_class("AutoModelForAudioClassification")

__all__ = ["VGGishPreTrainedModel", "VGGishForAudioTagging"]
