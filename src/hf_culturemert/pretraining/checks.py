"""The checks of the package's own pre-training settings, without torch or transformers.

``PretrainingArguments`` runs them on every instance; ``culturemert pretrain`` runs them on the values it was given
before importing anything heavy, so that a bad value answers in a fraction of a second.
"""

import math

from ..constants import CQT_IMPLEMENTATIONS

CHECKED_SETTINGS = ("mask_prob", "mask_length", "mixup_probability", "mixup_min_segments", "mixup_max_segments",
                    "mixup_min_seconds", "mixup_max_seconds", "min_crop_seconds", "crop_seconds",
                    "replay_probability", "use_codebook_loss", "use_cqt_loss", "learning_rate",
                    "per_device_train_batch_size", "lora_rank", "streaming", "max_steps", "precompute_codes",
                    "remove_unused_columns", "cqt_implementation")


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def setting_problems(values):
    """The problems of ``values`` (setting -> value), one line each. A check runs only when all the settings it
    relates are in ``values``, so that a partial set (the command line, a recipe stage) is checked as far as it goes
    and ``PretrainingArguments``, which passes them all, completes it."""
    v = {k: values.get(k) for k in CHECKED_SETTINGS}
    n = {k: _number(value) for k, value in v.items()}
    checks = [
        (("mask_prob",), n["mask_prob"] is not None and 0.0 <= n["mask_prob"] <= 1.0,
         f"mask_prob must be in [0, 1], got {v['mask_prob']}"),
        (("mask_length",), n["mask_length"] is not None and n["mask_length"] >= 1,
         f"mask_length must be >= 1, got {v['mask_length']}"),
        (("mixup_probability",), n["mixup_probability"] is not None and 0.0 <= n["mixup_probability"] <= 1.0,
         f"mixup_probability must be in [0, 1], got {v['mixup_probability']}"),
        (("mixup_min_segments", "mixup_max_segments"),
         None not in (n["mixup_min_segments"], n["mixup_max_segments"])
         and 1 <= n["mixup_min_segments"] <= n["mixup_max_segments"],
         f"need 1 <= mixup_min_segments <= mixup_max_segments, got {v['mixup_min_segments']}, "
         f"{v['mixup_max_segments']}"),
        (("mixup_min_seconds", "mixup_max_seconds"),
         None not in (n["mixup_min_seconds"], n["mixup_max_seconds"])
         and 0.0 < n["mixup_min_seconds"] <= n["mixup_max_seconds"],
         f"need 0 < mixup_min_seconds <= mixup_max_seconds, got {v['mixup_min_seconds']}, {v['mixup_max_seconds']}"),
        (("min_crop_seconds", "crop_seconds"),
         None not in (n["min_crop_seconds"], n["crop_seconds"]) and 0.0 < n["min_crop_seconds"] <= n["crop_seconds"],
         f"need 0 < min_crop_seconds <= crop_seconds, got {v['min_crop_seconds']}, {v['crop_seconds']}"),
        (("replay_probability",), n["replay_probability"] is not None and 0.0 <= n["replay_probability"] < 1.0,
         f"replay_probability must be in [0, 1), got {v['replay_probability']}"),
        (("cqt_implementation",), v["cqt_implementation"] in CQT_IMPLEMENTATIONS,
         f"cqt_implementation must be one of {', '.join(CQT_IMPLEMENTATIONS)}, got {v['cqt_implementation']!r}"),
        (("use_codebook_loss", "use_cqt_loss"), bool(v["use_codebook_loss"] or v["use_cqt_loss"]),
         "at least one of use_codebook_loss / use_cqt_loss must be true"),
        (("learning_rate",), n["learning_rate"] is not None and math.isfinite(n["learning_rate"])
         and n["learning_rate"] >= 0, f"learning_rate must be a finite number >= 0, got {v['learning_rate']}"),
        (("per_device_train_batch_size",), n["per_device_train_batch_size"] is not None
         and n["per_device_train_batch_size"] >= 1,
         f"per_device_train_batch_size must be >= 1, got {v['per_device_train_batch_size']}"),
        (("lora_rank",), n["lora_rank"] is not None and n["lora_rank"] >= 0,
         f"lora_rank must be >= 0, got {v['lora_rank']}"),
        (("streaming", "max_steps"), not v["streaming"] or (n["max_steps"] is not None and n["max_steps"] > 0),
         "streaming datasets have no length: set max_steps"),
        (("streaming", "precompute_codes"), not (v["streaming"] and v["precompute_codes"]),
         "precompute_codes needs a map-style dataset (streaming=false)"),
        (("remove_unused_columns",), not v["remove_unused_columns"],
         "remove_unused_columns must be false (the collator reads the audio/id columns)"),
    ]
    return [message for keys, ok, message in checks if not ok and all(k in values for k in keys)]
