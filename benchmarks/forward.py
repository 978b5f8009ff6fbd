"""Forward throughput of MERTModel vs transformers' HubertModel (the published MERT code is bit-identical to it).

Seconds of audio processed per second, 95M config, random weights shared by both models, 10 s clips, batch 1 and 8,
measured in the same run (interleaved repeats, median). CPU: both fp32; ours uses SDPA and a padding-aware front end,
the reference is HubertModel with eager attention. On CPU a second column runs ours through
``hf_culturemert.inference.fuse_for_inference`` (oneDNN GEMMs/convs with fused GELU, cache-blocked front end).
GPU (when CUDA is available): ours bf16 + SDPA vs the fp32 eager reference. A last column runs ours through
``hf_culturemert.inference.compile_for_inference`` (torch.compile with frozen weights; its one-off compile time
per shape is printed, not counted). Targets: >= 1.3x on CPU, >= 4x on an H100.

    python benchmarks/forward.py [--quick] [--batch-sizes 1 8] [--seconds 10] [--repeats 3] [--no-compile]
"""

import argparse
import json
import statistics
import time

import torch
from hf_culturemert import MERTModel
from hf_culturemert.export import reference_config
from hf_culturemert.testing import hubert_twin


def build_pair(device):
    torch.manual_seed(0)
    ours = MERTModel(reference_config("95M")).eval()
    reference = hubert_twin(ours, attn_implementation="eager")
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
    fast = {}
    if device.type == "cpu":
        from hf_culturemert.inference import fuse_for_inference

        fast["fused"] = fuse_for_inference(ours)
    if not args.no_compile:
        from hf_culturemert.inference import compile_for_inference

        fast["compiled"] = compile_for_inference(ours)
    samples = int(args.seconds * 24000)
    rows = []
    print(f"device={device} threads={torch.get_num_threads()} clip={args.seconds:.0f}s ours={fast_dtype} "
          f"reference=HubertModel eager fp32; fused = fuse_for_inference (CPU); compiled = torch.compile (inductor) "
          f"with frozen weights")
    names = ["ours", *fast]
    print(f"{'batch':>5} " + " ".join(f"{name:>9}" for name in [*names, "Hubert"]) + "  "
          + " ".join(f"{'ratio ' + name:>15}" for name in names)
          + f" {'compile s':>10}  " + " ".join(f"{'max|diff| ' + name:>19}" for name in names) + "   (audio-s/s)")
    for batch in args.batch_sizes:
        x = torch.randn(batch, samples, device=device)
        runs = {"ours": lambda: ours(x.to(fast_dtype)), "reference": lambda: reference(x)}  # noqa: E731
        compile_seconds = float("nan")
        for name, model in fast.items():
            runs[name] = lambda model=model: model(x.to(fast_dtype))  # noqa: E731
            if name == "compiled":
                compile_seconds = timed(runs[name], device)  # the first call of this shape compiles
        with torch.inference_mode():
            for run in runs.values():  # warm-up
                run()
        times = {name: [] for name in runs}
        with torch.inference_mode():
            for _ in range(args.repeats):  # interleaved, so drifting machine load hits every variant alike
                for name, run in runs.items():
                    times[name].append(timed(run, device))
        diffs = dict.fromkeys(names, float("nan"))
        if fast_dtype == torch.float32:
            with torch.inference_mode():
                expected = reference(x).last_hidden_state
                for name in names:
                    diffs[name] = (runs[name]().last_hidden_state - expected).abs().max().item()
        audio = batch * args.seconds
        rate = {name: audio / statistics.median(values) for name, values in times.items()}
        row = {"batch": batch, "reference": rate["reference"], "device": str(device),
               "compile_seconds": compile_seconds}
        for name in names:
            suffix = "" if name == "ours" else f"_{name}"
            row.update({name: rate[name], f"ratio{suffix}": rate[name] / rate["reference"],
                        f"max_abs_diff{suffix}": diffs[name]})
        rows.append(row)
        print(f"{batch:>5} " + " ".join(f"{rate[name]:>9.1f}" for name in [*names, "reference"]) + "  "
              + " ".join(f"{rate[name] / rate['reference']:>14.2f}x" for name in names)
              + f" {compile_seconds:>10.1f}  " + " ".join(f"{diffs[name]:>19.2e}" for name in names))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
