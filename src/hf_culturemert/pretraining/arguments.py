"""Arguments of MERT continual pre-training: ``TrainingArguments`` + model, objective, data and LoRA options.

One flat dataclass so that ``HfArgumentParser`` (CLI), YAML recipes (``parse_dict``) and Python share one definition.
The package's own options live in ``options.PretrainingOptions`` (importable without torch); defaults that differ
from ``TrainingArguments`` are MERT's optimiser settings: Adam(0.9, 0.98), eps 1e-6, weight decay 0.01, clip norm 10.
"""

from dataclasses import dataclass

import torch
from transformers import TrainingArguments

from .checks import CHECKED_SETTINGS, setting_problems
from .options import DEFAULT_LORA_TARGETS, PretrainingOptions

__all__ = ["PretrainingArguments", "DEFAULT_LORA_TARGETS"]


@dataclass
class PretrainingArguments(PretrainingOptions, TrainingArguments):
    """:class:`PretrainingOptions` over ``TrainingArguments`` (the options override same-named Trainer fields)."""

    def __post_init__(self):
        problems = setting_problems({name: getattr(self, name) for name in CHECKED_SETTINGS})
        if problems:
            raise ValueError("Invalid pre-training arguments:\n  - " + "\n  - ".join(problems))
        if self.dataloader_pin_memory and not torch.cuda.is_available():
            self.dataloader_pin_memory = False  # pinning needs an accelerator; torch warns on every epoch otherwise
        super().__post_init__()
