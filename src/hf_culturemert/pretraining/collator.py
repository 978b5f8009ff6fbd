"""Batches for MERT pre-training: decode, random crop, cut to the shortest clip, span mask, in-batch noise mixup.

Randomness is a pure function of ``(seed, epoch, ids of the batch's examples)``: a run resumed from a checkpoint
sees exactly the crops, masks and mixes of an uninterrupted run (Trainer re-seeds its own RNG only after the first
resumed batch is fetched, so a collator drawing from the global RNG would not be reproducible). Examples need an
``id`` column (or a file path) for that; without one a per-collator counter is used (not resume-exact).

An example that cannot be decoded is skipped and counted (``num_skipped`` in the batch), never fatal.
"""

import logging
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch

from ..constants import SAMPLING_RATE
from ..models.mert.modeling_mert import compute_span_mask, conv_output_lengths
from ..teachers import HOP_LENGTH, align_frames

logger = logging.getLogger(__name__)

CODES_COLUMN = "codec_codes"


def batch_generator(seed, epoch, keys):
    """A torch.Generator seeded from the batch's identity (stable across processes and Python runs)."""
    text = f"{seed}|{epoch}|" + "|".join(str(k) for k in keys)
    return torch.Generator().manual_seed(zlib.crc32(text.encode("utf-8")) * 2654435761 % (2 ** 63))


def _randint(generator, low, high):
    """Uniform integer in [low, high] (inclusive)."""
    if high <= low:
        return int(low)
    return int(torch.randint(low, high + 1, (), generator=generator))


def random_crop_offset(num_samples, crop_samples, generator, hop=HOP_LENGTH):
    """Start of a random crop, on a ``hop``-sample frame boundary so precomputed 75 Hz codes crop consistently."""
    if num_samples <= crop_samples:
        return 0
    return _randint(generator, 0, (num_samples - crop_samples) // hop) * hop


def noise_mixup(clean, generator, probability=0.5, min_segments=1, max_segments=3, min_samples=12000,
                max_samples=24000, volume=1.0):
    """MERT's in-batch noise augmentation: each clip, with ``probability``, gets 1-3 segments of 0.5-1 s cut from
    other clips of the batch added at ``volume``. Returns ``(mixed, changed)``; ``clean`` is left untouched."""
    batch, length = clean.shape
    if batch < 2 or probability <= 0:
        return clean, False
    mixed = None
    for i in range(batch):
        if float(torch.rand((), generator=generator)) >= probability:
            continue
        if mixed is None:
            mixed = clean.clone()
        for _ in range(_randint(generator, min_segments, max_segments)):
            seg = min(_randint(generator, min_samples, max_samples), length)
            other = _randint(generator, 0, batch - 2)
            other = other + 1 if other >= i else other
            src = _randint(generator, 0, length - seg)
            dst = _randint(generator, 0, length - seg)
            mixed[i, dst:dst + seg] += volume * clean[other, src:src + seg]
    return (mixed, True) if mixed is not None else (clean, False)


@dataclass
class MERTPretrainingCollator:
    """Turn dataset examples into ``input_values`` / ``mask_time_indices`` (+ ``clean_input_values`` when mixed,
    ``codec_labels`` when the examples carry precomputed EnCodec codes)."""

    conv_kernel: tuple = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple = (5, 2, 2, 2, 2, 2, 2)
    sampling_rate: int = SAMPLING_RATE
    crop_seconds: float = 5.0
    min_crop_seconds: float = 3.0
    apply_mask: bool = True
    mask_prob: float = 0.8
    mask_length: int = 5
    mask_min_masks: int = 2
    noise_mixup: bool = True
    mixup_probability: float = 0.5
    mixup_min_segments: int = 1
    mixup_max_segments: int = 3
    mixup_min_seconds: float = 0.5
    mixup_max_seconds: float = 1.0
    mixup_volume: float = 1.0
    audio_column: str = "audio"
    codes_column: str = CODES_COLUMN
    seed: int = 0
    epoch: int = 0
    _counter: int = field(default=0, repr=False)

    @classmethod
    def from_args(cls, args, config):
        """Build from :class:`PretrainingArguments` and the model config."""
        return cls(conv_kernel=tuple(config.conv_kernel), conv_stride=tuple(config.conv_stride),
                   sampling_rate=config.sample_rate, crop_seconds=args.crop_seconds,
                   min_crop_seconds=args.min_crop_seconds, apply_mask=args.apply_mask, mask_prob=args.mask_prob,
                   mask_length=args.mask_length, mask_min_masks=args.mask_min_masks, noise_mixup=args.noise_mixup,
                   mixup_probability=args.mixup_probability, mixup_min_segments=args.mixup_min_segments,
                   mixup_max_segments=args.mixup_max_segments, mixup_min_seconds=args.mixup_min_seconds,
                   mixup_max_seconds=args.mixup_max_seconds, mixup_volume=args.mixup_volume,
                   audio_column=args.audio_column, seed=args.seed)

    @property
    def hop(self):
        return int(np.prod(self.conv_stride))

    @property
    def min_samples(self):
        return max(int(round(self.min_crop_seconds * self.sampling_rate)), self._receptive_field())

    def _receptive_field(self):
        field_, jump = 1, 1
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            field_ += (kernel - 1) * jump
            jump *= stride
        return field_

    def num_frames(self, num_samples):
        return int(conv_output_lengths(int(num_samples), list(self.conv_kernel), list(self.conv_stride)))

    # ------------------------------------------------------------------ decoding + crop
    def _key(self, example, position):
        for name in ("id", "path"):
            if example.get(name) is not None:
                return example[name]
        audio = example.get(self.audio_column)
        if isinstance(audio, dict) and audio.get("path"):
            return audio["path"]
        return None

    def _decode_crop(self, example, generator):
        """-> (waveform float32 tensor, offset_frames) for one example; raises ValueError when undecodable."""
        from ..audio import load_audio, prepare_waveform

        crop = int(round(self.crop_seconds * self.sampling_rate))
        audio = example.get(self.audio_column)
        if audio is None and "input_values" in example:
            audio = {"array": example["input_values"], "sampling_rate": self.sampling_rate}
        if audio is None:
            raise ValueError(f"example has no {self.audio_column!r} column (columns: {sorted(example)})")
        duration = example.get("duration")
        if hasattr(audio, "get_all_samples"):  # a datasets/torchcodec AudioDecoder
            samples = audio.get_all_samples()
            audio = {"array": samples.data.mean(0).numpy(), "sampling_rate": samples.sample_rate}
        if isinstance(audio, (np.ndarray, torch.Tensor, list)):
            audio = {"array": audio, "sampling_rate": self.sampling_rate}
        if not isinstance(audio, dict):
            raise ValueError(f"unsupported audio value of type {type(audio).__name__}")
        if audio.get("array") is not None:
            wave = prepare_waveform(np.asarray(audio["array"], dtype=np.float32), audio.get("sampling_rate"),
                                    self.sampling_rate)
            if wave.dim() != 1:
                wave = wave.reshape(-1)
            offset = random_crop_offset(wave.shape[-1], crop, generator, self.hop)
            return wave[offset:offset + crop], offset // self.hop
        if duration is not None and float(duration) > 0:  # decode only the crop's time range
            total = int(float(duration) * self.sampling_rate)
            offset = random_crop_offset(total, crop, generator, self.hop)
            start = offset / self.sampling_rate
            array = load_audio(audio, self.sampling_rate, start_seconds=start,
                               end_seconds=start + crop / self.sampling_rate, allow_silent=True)
            return torch.from_numpy(np.ascontiguousarray(array[:crop])), offset // self.hop
        array = load_audio(audio, self.sampling_rate, allow_silent=True)
        offset = random_crop_offset(len(array), crop, generator, self.hop)
        return torch.from_numpy(np.ascontiguousarray(array[offset:offset + crop])), offset // self.hop

    # ------------------------------------------------------------------ batch
    def __call__(self, examples):
        keys = [self._key(example, i) for i, example in enumerate(examples)]
        if all(k is not None for k in keys):
            generator = batch_generator(self.seed, self.epoch, keys)
        else:
            self._counter += 1
            generator = batch_generator(self.seed, self.epoch, [f"batch-{self._counter}"])
        waves, offsets, codes, skipped, too_short = [], [], [], 0, 0
        for example, key in zip(examples, keys):
            try:
                wave, offset = self._decode_crop(example, generator)
            except (ValueError, RuntimeError, OSError) as error:
                skipped += 1
                logger.warning("Skipping undecodable example %s: %s", key, error)
                continue
            if wave.shape[-1] < self.min_samples:
                too_short += 1
                continue
            waves.append(wave.float())
            offsets.append(offset)
            codes.append(example.get(self.codes_column))
        batch_weight = 1.0
        if not waves:  # nothing usable: a zero-weight dummy keeps distributed ranks in step
            waves, offsets, codes, batch_weight = [torch.zeros(self.min_samples)], [0], [None], 0.0
        length = min(w.shape[-1] for w in waves)  # MERT cuts each batch to its shortest clip
        clean = torch.stack([w[:length] for w in waves])
        num_frames = self.num_frames(length)
        batch = {"input_values": clean}
        if self.apply_mask and self.mask_prob > 0:
            batch["mask_time_indices"] = compute_span_mask(clean.shape[0], num_frames, self.mask_prob,
                                                           self.mask_length, self.mask_min_masks,
                                                           generator=generator)
        if self.noise_mixup:
            mixed, changed = noise_mixup(
                clean, generator, self.mixup_probability, self.mixup_min_segments, self.mixup_max_segments,
                int(self.mixup_min_seconds * self.sampling_rate), int(self.mixup_max_seconds * self.sampling_rate),
                self.mixup_volume)
            if changed:
                batch["input_values"], batch["clean_input_values"] = mixed, clean
        if all(c is not None and len(c) > 0 for c in codes):
            labels = []
            for code, offset in zip(codes, offsets):
                code = torch.as_tensor(np.asarray(code), dtype=torch.long)
                labels.append(align_frames(code[:, offset:offset + num_frames], num_frames, dim=-1))
            batch["codec_labels"] = torch.stack(labels)
        # 1-element (not 0-d) tensors so that accelerate can concatenate dispatched batches
        batch["num_skipped"] = torch.tensor([skipped], dtype=torch.long)
        batch["num_too_short"] = torch.tensor([too_short], dtype=torch.long)
        batch["batch_weight"] = torch.tensor([batch_weight], dtype=torch.float32)
        return batch
