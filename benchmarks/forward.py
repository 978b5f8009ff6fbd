"""Forward throughput of MERTModel vs transformers' HubertModel (the published MERT code is bit-identical to it).

Seconds of audio processed per second, 95M config, random weights shared by both models, 10 s clips, batch 1 and 8,
measured in the same run (interleaved repeats, median). CPU: both fp32; ours uses SDPA and a padding-aware front end,
the reference is HubertModel with eager attention. GPU (when CUDA is available): ours bf16 + SDPA vs the fp32 eager
reference. Targets: >= 1.3x on CPU, >= 4x on an H100.

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
    args = parser.parse_args()
    if args.quick:
        args.batch_sizes, args.repeats = [1, 2], 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ours, reference = build_pair(device)
    fast_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    ours = ours.to(fast_dtype)
    samples = int(args.seconds * 24000)
    rows = []
    print(f"device={device} threads={torch.get_num_threads()} clip={args.seconds:.0f}s ours={fast_dtype} "
          f"reference=HubertModel eager fp32")
    print(f"{'batch':>5} {'ours audio-s/s':>15} {'HubertModel audio-s/s':>22} {'ratio':>7} {'max|diff| (fp32 path)':>22}")
    for batch in args.batch_sizes:
        x = torch.randn(batch, samples, device=device)
        with torch.inference_mode():
            run_ours = lambda: ours(x.to(fast_dtype))  # noqa: E731
            run_ref = lambda: reference(x)  # noqa: E731
            run_ours(), run_ref()  # warm-up
            t_ours, t_ref = [], []
            for _ in range(args.repeats):
                t_ours.append(timed(run_ours, device))
                t_ref.append(timed(run_ref, device))
            diff = float("nan")
            if fast_dtype == torch.float32:
                diff = (ours(x).last_hidden_state - reference(x).last_hidden_state).abs().max().item()
        audio = batch * args.seconds
        ours_rate, ref_rate = audio / statistics.median(t_ours), audio / statistics.median(t_ref)
        rows.append({"batch": batch, "ours": ours_rate, "reference": ref_rate, "ratio": ours_rate / ref_rate,
                     "max_abs_diff": diff, "device": str(device)})
        print(f"{batch:>5} {ours_rate:>15.1f} {ref_rate:>22.1f} {ours_rate / ref_rate:>6.2f}x {diff:>22.2e}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
