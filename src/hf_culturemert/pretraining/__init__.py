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

from .recipes import available_recipes, load_recipe, run_recipe, stage_arguments

# the rest imports torch: loaded on first use, so that `culturemert pretrain` checks (and refuses) its arguments
# without it
_LAZY = {"PretrainingArguments": "arguments",
         "MERTPretrainingCollator": "collator", "noise_mixup": "collator", "random_crop_offset": "collator",
         "convert_fairseq_checkpoint": "convert", "convert_fairseq_state_dict": "convert",
         "device_peak_tflops": "flops", "forward_flops_per_second": "flops", "training_flops_per_second": "flops",
         "apply_lora": "lora", "load_lora_model": "lora", "lora_task_vector": "lora", "merge_lora_adapter": "lora",
         "save_lora_adapter": "lora", "HEADS_FILE": "modeling", "load_pretraining_model": "modeling",
         "save_pretraining_output": "modeling", "weights_digest": "modeling",
         "run_pretraining": "run",
         "MERTPretrainingTrainer": "trainer", "NonFiniteLossError": "trainer", "last_complete_checkpoint": "trainer"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PretrainingArguments", "MERTPretrainingCollator", "MERTPretrainingTrainer", "NonFiniteLossError",
           "run_pretraining", "run_recipe", "load_recipe", "available_recipes", "stage_arguments",
           "load_pretraining_model", "save_pretraining_output", "convert_fairseq_checkpoint",
           "convert_fairseq_state_dict", "apply_lora", "save_lora_adapter", "load_lora_model", "merge_lora_adapter",
           "lora_task_vector", "forward_flops_per_second", "training_flops_per_second", "device_peak_tflops",
           "last_complete_checkpoint", "weights_digest", "noise_mixup", "random_crop_offset", "HEADS_FILE"]
