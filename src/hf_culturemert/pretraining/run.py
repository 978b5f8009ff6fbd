"""One pre-training run (``run_pretraining``): model + teachers + data + Trainer, resumable, Hub-ready output."""

import json
import logging
from pathlib import Path

import torch
from transformers import set_seed

from .arguments import PretrainingArguments
from .collator import MERTPretrainingCollator
from .data import build_train_dataset, precompute_codes
from ..outputs import atomic_write_text
from ..runstate import refuse_changed_settings
from .modeling import (COMPLETE_MARKER, freeze_parts, is_complete_output, load_pretraining_model, mark_complete,
                       save_pretraining_output)
from .trainer import MERTPretrainingTrainer, last_complete_checkpoint, remove_incomplete_checkpoints

logger = logging.getLogger(__name__)

_NO_RESUME = {"false", "no", "none", "never", "0"}


def _resolve_resume(args):
    """``resume_from_checkpoint``: None/'auto' -> newest complete checkpoint in output_dir; 'false' -> fresh."""
    value = args.resume_from_checkpoint
    if value is not None and str(value).lower() in _NO_RESUME:
        return None
    if value is None or str(value).lower() in ("auto", "true", "yes", "1", "last"):
        return last_complete_checkpoint(args.output_dir)
    if not Path(value).is_dir():
        raise FileNotFoundError(f"resume_from_checkpoint={value!r} is not a checkpoint folder")
    return str(value)


def _summary(args, trainer=None, result=None):
    keys = ("model_name_or_path", "config_name", "fairseq_checkpoint", "train_datasets", "replay_datasets",
            "replay_probability", "freeze", "learning_rate", "lr_scheduler_type", "warmup_steps", "max_steps",
            "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "crop_seconds",
            "mask_prob", "mask_length", "noise_mixup", "encodec_model", "encodec_bandwidth", "cqt_implementation",
            "lora_rank", "bf16",
            "fp16", "seed")
    summary = {k: getattr(args, k) for k in keys}
    if trainer is not None:
        summary["global_step"] = trainer.state.global_step
        summary["num_processes"] = trainer.accelerator.num_processes
    if result is not None:
        summary["train_loss"] = result.training_loss
        summary["train_runtime_s"] = result.metrics.get("train_runtime")
    return summary


SETTINGS_FILE = "pretraining_settings.json"  # written at the start of every run; checked on resume and skip


def run_settings(args):
    """The settings that define a run's result (JSON-normalised): stored with it, compared on resume and skip."""
    return json.loads(json.dumps(_summary(args), default=str))


def _refuse_changed_settings(output_dir, settings, stored_name, action):
    """Raise ValueError naming each setting that differs from the run stored in ``output_dir``."""
    path = Path(output_dir) / stored_name
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if stored_name == SETTINGS_FILE and (Path(output_dir) / COMPLETE_MARKER).is_file():
            return _refuse_changed_settings(output_dir, settings, COMPLETE_MARKER, action)
        raise ValueError(f"{output_dir} holds checkpoints of a run without stored settings ({SETTINGS_FILE}); "
                         "cannot tell whether they match, so not resuming: choose another --output_dir, or pass "
                         "--resume_from_checkpoint false to start fresh there") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is unreadable ({error}); choose another --output_dir") from error
    refuse_changed_settings(stored, settings, output_dir, flags=False,
                            remedy=f"refusing to {action} with different settings. Choose another --output_dir, or "
                                   f"rerun with the stored settings (see {path})")


def run_pretraining(args: PretrainingArguments, callbacks=None, encodec_teacher=None, cqt_teacher=None,
                    train_dataset=None):
    """Continual pre-training with MERT's objective; returns the output folder (a Hub-ready MERT model).

    Skips the run when ``output_dir`` already holds a complete result made with the same settings; resumes from
    the newest complete checkpoint after an interruption; refuses other settings, naming each that differs.

    Args:
        args: the run's ``PretrainingArguments`` (``TrainingArguments`` plus the model, data and objective).
        callbacks: more ``TrainerCallback`` objects.
        encodec_teacher: the acoustic teacher to use instead of the one the arguments would build.
        cqt_teacher: the CQT teacher to use instead of the one the arguments would build.
        train_dataset: the training data to use instead of the one the arguments would load.

    Returns:
        The output folder: a Hub-ready MERT model plus ``pretraining_heads.safetensors`` to continue from.

    Example:
        ```python
        args = PretrainingArguments(output_dir="runs/cm", config_name="tiny", train_datasets=["synthetic-makam"],
                                    max_steps=10, use_cpu=True)
        folder = run_pretraining(args)
        ```
    """
    from accelerate import PartialState

    from ..teachers import CQTTeacher, build_encodec_teacher

    output_dir = Path(args.output_dir)
    settings = run_settings(args)
    if is_complete_output(output_dir):
        _refuse_changed_settings(output_dir, settings, COMPLETE_MARKER, "skip the run (it is complete)")
        logger.info("%s already holds a complete pre-training result with the same settings; skipping (choose "
                    "another --output_dir to train again)", output_dir)
        return str(output_dir)
    _ = args.device  # let TrainingArguments set up the distributed state first (use_cpu -> gloo MULTI_CPU)
    state = PartialState()
    set_seed(args.seed)

    source = args.model_name_or_path
    if args.fairseq_checkpoint:
        from .convert import convert_fairseq_checkpoint

        source = str(output_dir / "init-fairseq")
        with state.main_process_first():
            if not (Path(source) / "config.json").is_file() and state.is_main_process:
                convert_fairseq_checkpoint(args.fairseq_checkpoint, source, trust_pickle=args.trust_pickle)
    overrides = dict(feature_grad_mult=args.feature_grad_mult, feature_penalty_weight=args.feature_penalty_weight,
                     cqt_loss_weight=args.cqt_loss_weight)
    model = load_pretraining_model(source, args.config_name, **overrides)
    config = model.config
    if (args.apply_mask or args.mask_prob > 0) and model.mert.masked_spec_embed is None:
        raise ValueError("The starting config has mask_time_prob=0, so the model has no mask embedding; MERT "
                         "pre-training masks frames. Use a config with mask_time_prob > 0.")
    freeze_parts(model, args.freeze)
    if args.lora_rank > 0:
        from .lora import apply_lora

        apply_lora(model, args.lora_rank, args.lora_alpha, args.lora_dropout, args.lora_target_modules,
                   base_name_or_path=source)

    if args.use_codebook_loss and encodec_teacher is None:
        encodec_teacher = build_encodec_teacher(args.encodec_model, args.encodec_bandwidth, config.num_codebooks)
    if args.use_cqt_loss and cqt_teacher is None:
        cqt_teacher = CQTTeacher(implementation=args.cqt_implementation)

    if train_dataset is None:
        with state.main_process_first():  # the main process fills the datasets cache first
            train_dataset = build_train_dataset(args)
            if args.precompute_codes and args.use_codebook_loss:
                train_dataset = precompute_codes(train_dataset, encodec_teacher.to("cpu"), config.sample_rate,
                                                 cache_name=args.encodec_model)
    collator = MERTPretrainingCollator.from_args(args, config)

    if args.streaming and getattr(args.accelerator_config, "dispatch_batches", None) is None:
        # each process reads its own shards of the stream (batches are cut to their shortest clip, so batches of
        # different processes cannot be concatenated for dispatching)
        args.accelerator_config.dispatch_batches = False
    resume = _resolve_resume(args)
    if resume:
        _refuse_changed_settings(Path(resume).parent, settings, SETTINGS_FILE, f"resume from {resume}")
    if state.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output_dir / SETTINGS_FILE, json.dumps(settings, indent=2, default=str) + "\n")
        remove_incomplete_checkpoints(args.output_dir)
    state.wait_for_everyone()
    if resume:
        logger.info("Resuming from %s", resume)

    trainer = MERTPretrainingTrainer(model=model, args=args, encodec_teacher=encodec_teacher,
                                     cqt_teacher=cqt_teacher, train_dataset=train_dataset, data_collator=collator,
                                     callbacks=callbacks)
    result = trainer.train(resume_from_checkpoint=resume)
    _save_final(trainer, args, output_dir, _summary(args, trainer, result))
    return str(output_dir)


def _save_final(trainer, args, output_dir, summary):
    """Gather the weights (FSDP-safe), then the main process writes the Hub-ready folder and the marker."""
    from ..models.mert.modeling_mert import MERTForPreTraining
    from .lora import is_lora_model, save_lora_adapter

    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    lora = is_lora_model(unwrapped)
    state_dict = None if lora else trainer.accelerator.get_state_dict(trainer.model)  # collective under FSDP
    if trainer.accelerator.is_main_process:
        trainer.save_state()
        if lora:
            save_lora_adapter(unwrapped, output_dir / "adapter")
            if args.lora_merge:
                merged = MERTForPreTraining(unwrapped.config)
                merged.mert = unwrapped.mert.merge_and_unload()
                merged.final_proj, merged.encoder_cqt_model = unwrapped.final_proj, unwrapped.encoder_cqt_model
                merged.label_embs_concat = unwrapped.label_embs_concat
                save_pretraining_output(merged.float(), output_dir, args.card_text, summary)
        else:
            final = MERTForPreTraining(unwrapped.config)
            final.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v
                                   for k, v in state_dict.items()})
            save_pretraining_output(final, output_dir, args.card_text, summary)
        mark_complete(output_dir, summary)
        if not args.keep_checkpoints:
            import shutil

            from .trainer import list_checkpoints

            for _, path in list_checkpoints(output_dir):
                shutil.rmtree(path, ignore_errors=True)
        logger.info("Pre-training finished: %s", output_dir)
    trainer.accelerator.wait_for_everyone()
