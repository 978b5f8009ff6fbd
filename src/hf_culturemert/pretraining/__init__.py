"""Continual pre-training with MERT's objective on ``transformers.Trainer`` + accelerate (the CultureMERT recipe).

Public API::

    PretrainingArguments                      # TrainingArguments + model/objective/data/LoRA fields
    run_pretraining(args, callbacks=None) -> output_dir
    run_recipe(recipe_name_or_path, overrides=None) -> output_dir   # multi-stage YAML recipes (tiny, culturemert-95m)
    load_recipe(name_or_path), available_recipes(), stage_arguments(recipe, overrides)
    MERTPretrainingCollator, MERTPretrainingTrainer, NonFiniteLossError
    load_pretraining_model(name_or_path=None, config_name=None, **config_overrides)
    convert_fairseq_checkpoint(input_path, output_dir, trust_pickle=False, config=None)
    apply_lora, save_lora_adapter, load_lora_model, merge_lora_adapter, lora_task_vector
    forward_flops_per_second(config), training_flops_per_second(config)
"""

from .arguments import PretrainingArguments
from .collator import MERTPretrainingCollator, noise_mixup, random_crop_offset
from .convert import convert_fairseq_checkpoint, convert_fairseq_state_dict
from .flops import device_peak_tflops, forward_flops_per_second, training_flops_per_second
from .lora import apply_lora, load_lora_model, lora_task_vector, merge_lora_adapter, save_lora_adapter
from .modeling import HEADS_FILE, load_pretraining_model, save_pretraining_output, weights_digest
from .recipes import available_recipes, load_recipe, run_recipe, stage_arguments
from .run import run_pretraining
from .trainer import MERTPretrainingTrainer, NonFiniteLossError, last_complete_checkpoint

__all__ = ["PretrainingArguments", "MERTPretrainingCollator", "MERTPretrainingTrainer", "NonFiniteLossError",
           "run_pretraining", "run_recipe", "load_recipe", "available_recipes", "stage_arguments",
           "load_pretraining_model", "save_pretraining_output", "convert_fairseq_checkpoint",
           "convert_fairseq_state_dict", "apply_lora", "save_lora_adapter", "load_lora_model", "merge_lora_adapter",
           "lora_task_vector", "forward_flops_per_second", "training_flops_per_second", "device_peak_tflops",
           "last_complete_checkpoint", "weights_digest", "noise_mixup", "random_crop_offset", "HEADS_FILE"]
