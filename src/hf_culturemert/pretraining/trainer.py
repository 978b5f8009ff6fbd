"""``Trainer`` for MERT's objective: teachers on the device, per-component logging, NaN stop, atomic checkpoints.

What it adds to ``transformers.Trainer``:

* ``compute_loss`` computes the targets on the training device from the *clean* clip (EnCodec codes unless the
  batch carries precomputed ones, CQT), calls ``MERTForPreTraining`` and stops with :class:`NonFiniteLossError`
  naming the step and the loss component when anything is NaN/inf (Trainer would silently skip it);
* logs ``codebook_loss``, ``cqt_loss``, ``feature_penalty``, ``acc_cb{k}`` (masked accuracy per codebook),
  ``audio_seconds_per_second``, ``mfu`` (when the device peak is known), teacher time shares and skipped samples;
* checkpoints get a ``checkpoint_complete.json`` marker once every rank has written its part, and old
  checkpoints are rotated only after that, so a run killed at any moment resumes from a complete checkpoint.
"""

import json
import logging
import math
import re
import shutil
import time
from collections import defaultdict
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback

from ..outputs import atomic_write_text
from .flops import device_peak_tflops, training_flops_per_second

logger = logging.getLogger(__name__)

CHECKPOINT_MARKER = "checkpoint_complete.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss; the message names the step and the component."""


def list_checkpoints(output_dir):
    """``[(step, path)]`` of ``checkpoint-N`` folders in ``output_dir``, oldest first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name))]
    return sorted(found)


def is_complete_checkpoint(path):
    """A checkpoint is complete when its marker exists and names its step."""
    marker = Path(path) / CHECKPOINT_MARKER
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("complete") is True
    except (OSError, ValueError):
        return False


def last_complete_checkpoint(output_dir):
    """Newest complete checkpoint in ``output_dir`` or None (partial ones from a killed run are ignored)."""
    for step, path in reversed(list_checkpoints(output_dir)):
        if is_complete_checkpoint(path):
            return str(path)
        logger.warning("Ignoring incomplete checkpoint %s (no %s: the run was interrupted while writing it)",
                       path, CHECKPOINT_MARKER)
    return None


def remove_incomplete_checkpoints(output_dir):
    """Delete partial checkpoint folders (main process only) so that a resumed run rewrites them cleanly."""
    for _, path in list_checkpoints(output_dir):
        if not is_complete_checkpoint(path):
            logger.info("Removing incomplete checkpoint %s", path)
            shutil.rmtree(path, ignore_errors=True)


class _CollatorEpochCallback(TrainerCallback):
    """Tell the collator the epoch so that its crops/masks differ between epochs (but not between resumes)."""

    def __init__(self, collator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        if hasattr(self.collator, "epoch"):
            self.collator.epoch = int(math.floor((state.epoch or 0.0) + 1e-9))


class MERTPretrainingTrainer(Trainer):
    """``Trainer`` for :class:`~hf_culturemert.models.mert.modeling_mert.MERTForPreTraining` with MERT's teachers."""

    def __init__(self, model=None, args=None, encodec_teacher=None, cqt_teacher=None, **kwargs):
        super().__init__(model=model, args=args, **kwargs)
        self.model_accepts_loss_kwargs = False  # our loss is a mean per micro-batch: let Trainer scale it
        config = self.model.config
        self.use_codebook_loss = getattr(args, "use_codebook_loss", True)
        self.use_cqt_loss = getattr(args, "use_cqt_loss", True)
        if self.use_codebook_loss and encodec_teacher is None:
            logger.warning("No EnCodec teacher: batches must carry precomputed `codec_labels`")
        if encodec_teacher is not None:
            encodec_teacher.check_compatible(config)
            encodec_teacher = encodec_teacher.to(self.args.device)
        if self.use_cqt_loss:
            if cqt_teacher is None:
                raise ValueError("use_cqt_loss=True needs a CQTTeacher (or set use_cqt_loss=False)")
            if cqt_teacher.n_bins != config.cqt_bins:
                raise ValueError(f"The CQT teacher gives {cqt_teacher.n_bins} bins but the model regresses "
                                 f"config.cqt_bins={config.cqt_bins}")
            cqt_teacher = cqt_teacher.to(self.args.device)
        self.encodec_teacher, self.cqt_teacher = encodec_teacher, cqt_teacher
        self._sample_rate = config.sample_rate
        self._conv = (list(config.conv_kernel), list(config.conv_stride))
        self._train_flops_per_second = training_flops_per_second(config, getattr(args, "crop_seconds", 5.0))
        self._peak_tflops = device_peak_tflops(self.args.device, getattr(args, "peak_tflops", None))
        self._profile = bool(getattr(args, "profile_teachers", False)) or self.args.device.type == "cpu"
        self._reset_metrics()
        self._skipped_total = 0
        self._too_short_total = 0
        self._last_log_time = None
        if self.data_collator is not None:
            self.add_callback(_CollatorEpochCallback(self.data_collator))

    # ------------------------------------------------------------------ metrics
    def _reset_metrics(self):
        self._sums = defaultdict(lambda: None)
        self._micro_steps = 0
        self._audio_samples = 0
        self._skipped = 0
        self._too_short = 0
        self._teacher_time = {"encodec": 0.0, "cqt": 0.0}

    def _accumulate(self, name, value):
        value = value.detach().float()
        self._sums[name] = value if self._sums[name] is None else self._sums[name] + value

    def _sync(self):
        if self._profile and self.args.device.type == "cuda":
            torch.cuda.synchronize(self.args.device)

    def floating_point_ops(self, inputs):
        """Training FLOPs of the batch from the config (not Trainer's 6 x params x samples guess)."""
        values = inputs.get("input_values") if isinstance(inputs, dict) else None
        if values is None:
            return 0
        return values.shape[0] * values.shape[-1] / self._sample_rate * self._train_flops_per_second

    # ------------------------------------------------------------------ loss
    def _num_frames(self, num_samples):
        from ..models.mert.modeling_mert import conv_output_lengths

        return int(conv_output_lengths(int(num_samples), *self._conv))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        clean = inputs.pop("clean_input_values", None)
        skipped = inputs.pop("num_skipped", None)
        too_short = inputs.pop("num_too_short", None)
        weight = inputs.pop("batch_weight", None)
        input_values = inputs["input_values"]
        clean = input_values if clean is None else clean
        batch, samples = input_values.shape
        num_frames = self._num_frames(samples)
        if not self.use_codebook_loss:
            inputs.pop("codec_labels", None)
        elif "codec_labels" not in inputs:
            if self.encodec_teacher is None:
                raise ValueError("The batch has no precomputed `codec_labels` and no EnCodec teacher was given")
            self._sync()
            start = time.perf_counter()
            inputs["codec_labels"] = self.encodec_teacher(clean, num_frames)
            self._sync()
            self._teacher_time["encodec"] += time.perf_counter() - start
        if self.use_cqt_loss:
            self._sync()
            start = time.perf_counter()
            inputs["cqt_labels"] = self.cqt_teacher(clean, num_frames)
            self._sync()
            self._teacher_time["cqt"] += time.perf_counter() - start
        if inputs.get("mask_time_indices") is None:  # masking switched off: predict every frame, mask none
            inputs["mask_time_indices"] = torch.zeros(batch, num_frames, dtype=torch.bool, device=input_values.device)
            inputs["loss_mask"] = torch.ones(batch, num_frames, dtype=torch.bool, device=input_values.device)
        outputs = model(**inputs, return_dict=True)
        self._check_finite(outputs)
        loss = outputs.loss
        usable = True
        if weight is not None:
            weight = weight.reshape(-1)[0]
            loss = loss * weight.to(loss.dtype)
            usable = float(weight) > 0
        # metrics (kept on the device; read at logging time)
        if usable:
            for name in ("codebook_loss", "cqt_loss", "feature_penalty"):
                value = getattr(outputs, name, None)
                if value is not None:
                    self._accumulate(name, value)
            if outputs.codebook_accuracy is not None:
                self._accumulate("codebook_accuracy", outputs.codebook_accuracy)
            self._micro_steps += 1
            self._audio_samples += batch * samples
        if skipped is not None:
            self._skipped += int(skipped.sum())
        if too_short is not None:
            self._too_short += int(too_short.sum())
        return (loss, outputs) if return_outputs else loss

    def _check_finite(self, outputs):
        names = [n for n in ("loss", "codebook_loss", "cqt_loss", "feature_penalty") if getattr(outputs, n) is not None]
        values = torch.stack([getattr(outputs, n).detach().float().reshape(()) for n in names])
        bad = ~torch.isfinite(values)
        if self.accelerator.num_processes > 1:  # every rank stops together instead of hanging in a collective
            flags = self.accelerator.reduce(bad.to(torch.int32), reduction="sum")
            any_bad = bool(flags.any())
        else:
            any_bad = bool(bad.any())
        if not any_bad:
            return
        step = self.state.global_step + 1
        report = ", ".join(f"{n}={v:.4g}" for n, v in zip(names, values.tolist()))
        culprits = [n for n, b in zip(names, bad.tolist()) if b and n != "loss"] or \
                   [n for n, b in zip(names, bad.tolist()) if b]
        where = f"component {culprits[0]!r}" if culprits else "another process"
        raise NonFiniteLossError(
            f"Non-finite loss at step {step} (epoch {self.state.epoch or 0:.3f}): {where} is not finite ({report}). "
            "Training stopped; resume from the last checkpoint after lowering the learning rate, checking the audio "
            "for NaN/inf samples, or using bf16 instead of fp16.")

    # ------------------------------------------------------------------ logging
    def log(self, logs, start_time=None):
        if "loss" in logs:  # a training log: add our components and throughput
            logs.update(self._collect_metrics())
        return super().log(logs, start_time)

    def _reduce_sum(self, tensor):
        return self.accelerator.reduce(tensor, reduction="sum") if self.accelerator.num_processes > 1 else tensor

    def _collect_metrics(self):
        """Average the accumulated components over micro-steps and ranks (a collective on every rank)."""
        now = time.perf_counter()
        elapsed = None if self._last_log_time is None else now - self._last_log_time
        self._last_log_time = now
        out = {}
        device = self.args.device
        counters = self._reduce_sum(torch.tensor(
            [float(self._micro_steps), float(self._audio_samples), float(self._skipped), float(self._too_short)],
            device=device, dtype=torch.float64))
        steps = float(counters[0])
        for name in ("codebook_loss", "cqt_loss", "feature_penalty", "codebook_accuracy"):
            total = self._sums[name]
            shape = (self.model.config.num_codebooks,) if name == "codebook_accuracy" else ()
            present = torch.tensor(0.0 if total is None else 1.0, device=device)
            total = torch.zeros(shape, device=device) if total is None else total.to(device)
            total, present = self._reduce_sum(total), self._reduce_sum(present)
            if steps == 0 or float(present) == 0:
                continue
            mean = total / steps  # micro-steps summed over ranks, like the totals
            if name == "codebook_accuracy":
                for k, value in enumerate(mean.tolist()):
                    out[f"acc_cb{k}"] = round(value, 4)
                out["masked_accuracy"] = round(float(mean.mean()), 4)
            else:
                out[name] = round(float(mean), 6)
        audio_seconds = float(counters[1]) / self._sample_rate
        self._skipped_total += int(counters[2])
        self._too_short_total += int(counters[3])
        out["skipped_samples"] = self._skipped_total
        if self._too_short_total:
            out["too_short_samples"] = self._too_short_total
        if elapsed and elapsed > 0:
            rate = audio_seconds / elapsed
            out["audio_seconds_per_second"] = round(rate, 3)
            if self._peak_tflops:
                peak = self._peak_tflops * 1e12 * self.accelerator.num_processes
                out["mfu"] = round(rate * self._train_flops_per_second / peak, 4)
            if self._profile:
                for name, seconds in self._teacher_time.items():
                    if seconds:
                        out[f"{name}_time_share"] = round(seconds / elapsed, 4)
        self._reset_metrics()
        return out

    def train(self, *args, **kwargs):
        self._last_log_time = time.perf_counter()
        return super().train(*args, **kwargs)

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self, model, trial):
        limit = self.args.save_total_limit
        self.args.save_total_limit = None  # rotate only after the new checkpoint is marked complete
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        self.accelerator.wait_for_everyone()
        run_dir = self._get_output_dir(trial=trial)
        folder = Path(run_dir) / f"checkpoint-{self.state.global_step}"
        if self.args.should_save:
            from ..outputs import fix_modes

            fix_modes(folder)  # Trainer's safetensors are written 0600; follow the umask
            atomic_write_text(folder / CHECKPOINT_MARKER,
                               json.dumps({"complete": True, "global_step": self.state.global_step,
                                           "num_processes": self.accelerator.num_processes}))
            if limit is not None:
                from transformers.trainer_utils import rotate_checkpoints

                rotate_checkpoints(output_dir=run_dir, save_total_limit=limit,
                                   best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)
        self.accelerator.wait_for_everyone()
