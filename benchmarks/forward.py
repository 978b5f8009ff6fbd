"""Forward throughput of MERTModel vs transformers' HubertModel (the published MERT code is bit-identical to it).

Seconds of audio processed per second, 95M config, random weights shared by both models, 10 s clips, batch 1 and 8,
measured in the same run (interleaved repeats, median). CPU: both fp32; ours uses SDPA and a padding-aware front end,
the reference is HubertModel with eager attention. GPU (when CUDA is available): ours bf16 + SDPA vs the fp32 eager
reference. A third column runs ours through ``hf_culturemert.inference.compile_for_inference`` (torch.compile with
frozen weights; its one-off compile time per shape is printed, not counted). Targets: >= 1.3x on CPU, >= 4x on an
H100.

    python benchmarks/forward.py [--quick] [--batch-sizes 1 8] [--seconds 10] [--repeats 3]
"""

import argparse
import json
import statistics
import time

import torch
from transformers import HubertConfig, HubertModel

from hf_culturemert import MERTModel
from hf_culturemert.export import reference_config


def build_pair(device):
    torch.manual_seed(0)
    ours = MERTModel(reference_config("95M")).eval()
    cfg = {k: v for k, v in ours.config.to_dict().items() if k not in ("model_type", "auto_map", "architectures")}
    reference = HubertModel(HubertConfig(**cfg, attn_implementation="eager")).eval()
    reference.load_state_dict(ours.state_dict(), strict=True)
    return ours.to(device), reference.to(device)


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="batch 1 and 2, 2 repeats (about a minute on 2 cores)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row (saves the compile time)")
    args = parser.parse_args()
    if args.quick:
        args.batch_sizes, args.repeats = [1, 2], 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ours, reference = build_pair(device)
    fast_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    ours = ours.to(fast_dtype)
    compiled = None
    if not args.no_compile:
        from hf_culturemert.inference import compile_for_inference

        compiled = compile_for_inference(ours)
    samples = int(args.seconds * 24000)
    rows = []
    print(f"device={device} threads={torch.get_num_threads()} clip={args.seconds:.0f}s ours={fast_dtype} "
          f"reference=HubertModel eager fp32; compiled = torch.compile (inductor) with frozen weights")
    print(f"{'batch':>5} {'ours':>8} {'compiled':>9} {'Hubert':>8} {'ratio':>7} {'ratio compiled':>15} "
          f"{'compile s':>10} {'max|diff| eager':>16} {'max|diff| compiled':>19}   (audio-s/s)")
    for batch in args.batch_sizes:
        x = torch.randn(batch, samples, device=device)
        with torch.inference_mode():
            runs = {"ours": lambda: ours(x.to(fast_dtype)), "reference": lambda: reference(x)}  # noqa: E731
            runs["ours"](), runs["reference"]()  # warm-up
        compile_seconds = float("nan")
        if compiled is not None:
            compile_seconds = timed(lambda: compiled(x.to(fast_dtype)), device)  # first call of this shape compiles
            runs["compiled"] = lambda: compiled(x.to(fast_dtype))  # noqa: E731
            runs["compiled"]()
        times = {name: [] for name in runs}
        with torch.inference_mode():
            for _ in range(args.repeats):  # interleaved, so drifting machine load hits every variant alike
                for name, run in runs.items():
                    times[name].append(timed(run, device))
        diff = diff_compiled = float("nan")
        if fast_dtype == torch.float32:
            with torch.inference_mode():
                expected = reference(x).last_hidden_state
                diff = (ours(x).last_hidden_state - expected).abs().max().item()
            if compiled is not None:
                diff_compiled = (compiled(x).last_hidden_state - expected).abs().max().item()
        audio = batch * args.seconds
        rate = {name: audio / statistics.median(values) for name, values in times.items()}
        row = {"batch": batch, "ours": rate["ours"], "reference": rate["reference"],
               "ratio": rate["ours"] / rate["reference"], "max_abs_diff": diff, "device": str(device)}
        if compiled is not None:
            row.update(compiled=rate["compiled"], ratio_compiled=rate["compiled"] / rate["reference"],
                       compile_seconds=compile_seconds, max_abs_diff_compiled=diff_compiled)
        rows.append(row)
        print(f"{batch:>5} {rate['ours']:>8.1f} {rate.get('compiled', float('nan')):>9.1f} {rate['reference']:>8.1f} "
              f"{row['ratio']:>6.2f}x {row.get('ratio_compiled', float('nan')):>14.2f}x {compile_seconds:>10.1f} "
              f"{diff:>16.2e} {diff_compiled:>19.2e}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
