"""Parameter-efficient continual pre-training with peft LoRA.

LoRA wraps the *backbone* (``model.mert``), so the adapter's keys are relative to ``MERTModel``: it loads on top of
any MERT base checkpoint (``PeftModel.from_pretrained(MERTModel.from_pretrained(base), adapter)``). The
pre-training heads stay fully trainable and are saved next to the adapter (``pretraining_heads.safetensors``).
"""

import json
import logging
from pathlib import Path

import torch

from ..models.mert.modeling_mert import MERTModel
from .arguments import DEFAULT_LORA_TARGETS
from .modeling import save_heads

logger = logging.getLogger(__name__)


def lora_config(rank=8, alpha=None, dropout=0.0, target_modules=None):
    from peft import LoraConfig

    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    return LoraConfig(r=int(rank), lora_alpha=float(alpha if alpha is not None else 2 * rank), lora_dropout=dropout,
                      target_modules=list(target_modules or DEFAULT_LORA_TARGETS), bias="none")


def apply_lora(model, rank=8, alpha=None, dropout=0.0, target_modules=None, base_name_or_path=None):
    """Wrap ``model.mert`` of a MERTForPreTraining in a peft LoRA model (backbone frozen, heads trainable).

    Args:
        model: a ``MERTForPreTraining``.
        rank: the LoRA rank.
        alpha: the LoRA scale (default ``2 * rank``).
        dropout: LoRA dropout.
        target_modules: module names to adapt (default: attention and feed-forward projections).
        base_name_or_path: recorded as the adapter's base model.

    Returns:
        The same model, its ``mert`` now a peft model.

    Example:
        ```python
        model = apply_lora(load_pretraining_model("mert-v1-95m"), rank=16)
        ```
    """
    from peft import get_peft_model

    backbone = model.mert
    if base_name_or_path:
        backbone.config._name_or_path = str(base_name_or_path)
    model.mert = get_peft_model(backbone, lora_config(rank, alpha, dropout, target_modules))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("LoRA rank %d on %s: %d of %d parameters trainable (%.2f%%, heads included)", rank,
                ", ".join(target_modules or DEFAULT_LORA_TARGETS), trainable, total, 100.0 * trainable / total)
    return model


def is_lora_model(model):
    from peft import PeftModel

    return isinstance(getattr(model, "mert", None), PeftModel)


def save_lora_adapter(model, folder):
    """Save the adapter (adapter_config.json + adapter_model.safetensors) and the heads to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.mert.save_pretrained(str(folder), safe_serialization=True)
    from ..outputs import fix_modes

    fix_modes(folder)  # save_pretrained writes 0600; follow the umask
    save_heads(model, folder)
    return folder


def load_lora_model(base, adapter_folder, model_class=MERTModel, **kwargs):
    """A base MERT model (class ``model_class``) with the adapter loaded on top (a ``PeftModel``)."""
    from peft import PeftModel

    from ..export import load_model

    adapter_folder = Path(adapter_folder)
    if not (adapter_folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter_folder} has no adapter_config.json: not a LoRA adapter folder")
    base_model = base if isinstance(base, torch.nn.Module) else load_model(base, model_class=model_class, **kwargs)
    return PeftModel.from_pretrained(base_model, str(adapter_folder))


def merge_lora_adapter(base, adapter_folder, output_dir, card_text=None):
    """Merge a LoRA adapter into its base (``merge_and_unload``) and write a full Hub-ready MERTModel folder."""
    from ..export import save_model_folder

    merged = load_lora_model(base, adapter_folder).merge_and_unload()
    merged.config._name_or_path = str(output_dir)
    config = json.loads((Path(adapter_folder) / "adapter_config.json").read_text(encoding="utf-8"))
    save_model_folder(merged, output_dir, card_text=card_text)
    logger.info("Merged LoRA adapter %s (rank %s) into %s -> %s", adapter_folder, config.get("r"), base, output_dir)
    return Path(output_dir)


def lora_task_vector(base, adapter_folder):
    """``{name: merged - base}`` for the weights LoRA changes (zero elsewhere, omitted): a task vector for merging."""
    from ..export import load_model

    base_model = base if isinstance(base, torch.nn.Module) else load_model(base)
    reference = {k: v.detach().clone() for k, v in base_model.state_dict().items()}
    merged = load_lora_model(base_model, adapter_folder).merge_and_unload().state_dict()
    return {k: merged[k] - reference[k] for k in reference if k in merged and not torch.equal(merged[k], reference[k])}
