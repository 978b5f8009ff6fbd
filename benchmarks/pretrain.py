"""Throughput of MERT pre-training steps (95M config, random weights) with the teachers, and MFU.

Measures, per optimiser step: the EnCodec teacher (real 24 kHz architecture, random weights), the CQT teacher
(MERT's nnAudio parameters) and the student forward + backward + AdamW step (MERTForPreTraining: masking, noise
mixup inputs, codebook CE + CQT MSE + feature penalty). Prints audio-seconds per second for the whole step and for
the student alone (the reference measured in the same run), the teachers' cost share, and the MFU against the
device's dense bf16 peak (FLOPs per audio second computed from the config: ~20.8 GFLOP/s forward for 95M, x3 for
training). Target on an H100: >= 25% MFU for the whole step, teachers included.

    python benchmarks/pretrain.py --quick          # CPU: batch 2 x 5 s, 2 timed steps
    python benchmarks/pretrain.py                  # GPU if available: bf16, batch 32 x 5 s, 20 timed steps
"""

import argparse
import json
import sys
import time

import torch
from _results import save

from hf_culturemert.export import reference_config
from hf_culturemert.models.mert.modeling_mert import MERTForPreTraining, compute_span_mask
from hf_culturemert.pretraining.collator import noise_mixup
from hf_culturemert.pretraining.flops import device_peak_tflops, forward_flops_per_second
from hf_culturemert.teachers import CQTTeacher, EncodecTeacher, model_frames


def parse():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small CPU run (batch 2 x 5 s, 2 steps)")
    parser.add_argument("--config", default="95M", help="'95M', '330M' or a config.json path")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (after warm-up)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default=None, help="autocast dtype (GPU default bf16)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (auto for known GPUs)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the student")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return parser.parse_args()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    args = parse()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    batch = args.batch_size or (2 if args.quick or not gpu else 32)
    steps = args.steps or (2 if args.quick else 20)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    dtype = args.dtype or ("bf16" if gpu else "fp32")
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    config = reference_config(args.config) if args.config in ("95M", "330M") else None
    if config is None:
        from hf_culturemert.models.mert.configuration_mert import MERTConfig

        config = MERTConfig.from_json_file(args.config)
    config.feature_grad_mult = 0.1
    torch.manual_seed(0)
    model = MERTForPreTraining(config).to(device).train()
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    student = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01,
                                  **({"fused": True} if gpu else {}))
    encodec = EncodecTeacher.from_config(None, bandwidth=6.0).to(device)
    cqt = CQTTeacher().to(device)

    samples = int(args.seconds * config.sample_rate)
    frames = model_frames(samples, config.conv_kernel, config.conv_stride)
    generator = torch.Generator().manual_seed(0)
    clean = (0.1 * torch.randn(batch, samples, generator=generator)).to(device)
    mixed, _ = noise_mixup(clean, generator, probability=0.5)
    mask = compute_span_mask(batch, frames, 0.8, 5, 2, generator=generator).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16")

    timing = {"encodec": 0.0, "cqt": 0.0, "student": 0.0}
    for step in range(warmup + steps):
        sync(device)
        t0 = time.perf_counter()
        codes = encodec(clean, frames)
        sync(device)
        t1 = time.perf_counter()
        spec = cqt(clean, frames)
        sync(device)
        t2 = time.perf_counter()
        with autocast:
            out = student(mixed, mask_time_indices=mask, codec_labels=codes, cqt_labels=spec)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        t3 = time.perf_counter()
        if step >= warmup:
            timing["encodec"] += t1 - t0
            timing["cqt"] += t2 - t1
            timing["student"] += t3 - t2
    loss = float(out.loss.detach())
    # references for the CQT teacher, same batch: nnAudio's own module (kernels zero-padded to 65,536 taps), and
    # the multirate one the miniature study uses (with its relative error against the trimmed output)
    exact = cqt(clean, frames)

    def time_cqt(implementation):
        other = CQTTeacher(implementation=implementation).to(device)
        result = other(clean, frames)
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            other(clean, frames)
        sync(device)
        return (time.perf_counter() - start) / steps, float((result - exact).norm() / exact.norm())

    nnaudio_cqt, _ = time_cqt("nnaudio")
    multirate_cqt, multirate_error = time_cqt("multirate")
    total = sum(timing.values())
    audio = batch * args.seconds * steps
    flops = forward_flops_per_second(config, args.seconds)
    train_flops = 3.0 * flops["total"]
    peak = device_peak_tflops(device, args.peak_tflops)
    whole, student_only = audio / total, audio / timing["student"]
    rows = [
        ("device", torch.cuda.get_device_name(device) if gpu else f"cpu ({torch.get_num_threads()} threads)"),
        ("precision", dtype),
        ("batch x seconds", f"{batch} x {args.seconds:g} s ({frames} frames)"),
        ("timed steps", steps),
        ("forward GFLOP / audio-s", f"{flops['total'] / 1e9:.2f} (cnn {flops['cnn'] / 1e9:.2f}, "
                                    f"linears {flops['linears'] / 1e9:.2f}, attention {flops['attention'] / 1e9:.2f})"),
        ("step time (s)", f"{total / steps:.3f}"),
        ("  EnCodec teacher", f"{timing['encodec'] / steps:.3f} s ({100 * timing['encodec'] / total:.1f}%)"),
        ("  CQT teacher", f"{timing['cqt'] / steps:.3f} s ({100 * timing['cqt'] / total:.1f}%)"),
        ("  (CQT via nnAudio module, reference)", f"{nnaudio_cqt:.3f} s -> trimmed is "
                                                  f"{nnaudio_cqt / max(timing['cqt'] / steps, 1e-9):.1f}x faster"),
        ("  (CQT multirate, the miniature's)", f"{multirate_cqt:.3f} s -> {timing['cqt'] / steps / multirate_cqt:.1f}x "
                                               f"faster than trimmed, relative error {multirate_error:.1e}"),
        ("  student fwd+bwd+opt", f"{timing['student'] / steps:.3f} s ({100 * timing['student'] / total:.1f}%)"),
        ("audio-s / s (whole step)", f"{whole:.2f}"),
        ("audio-s / s (student only, reference)", f"{student_only:.2f}"),
        ("whole / student-only", f"{whole / student_only:.3f}"),
        ("achieved TFLOP/s (whole step)", f"{whole * train_flops / 1e12:.3f}"),
        ("MFU whole step", f"{whole * train_flops / (peak * 1e12):.1%}" if peak else "n/a (unknown peak; "
                                                                                      "--peak-tflops)"),
        ("MFU student only", f"{student_only * train_flops / (peak * 1e12):.1%}" if peak else "n/a"),
        ("final loss", f"{loss:.3f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("MERT pre-training step benchmark (random weights, real 95M / EnCodec 24 kHz / CQT architectures)")
    print("-" * (width + 40))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if gpu and peak:
        verdict = "meets" if whole * train_flops / (peak * 1e12) >= 0.25 else "below"
        print(f"target >= 25% MFU for the whole step: {verdict}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({k: str(v) for k, v in rows}, handle, indent=2)
    save("pretrain-compiled" if args.compile else "pretrain",
         [{"title": "One pre-training step (random weights, real 95M / EnCodec 24 kHz / CQT architectures)",
           "columns": ["figure", "value"], "rows": [[key.strip(), str(value)] for key, value in rows]}],
         command=" ".join(["python benchmarks/pretrain.py", *sys.argv[1:]]), title="A pre-training step")


if __name__ == "__main__":
    main()
