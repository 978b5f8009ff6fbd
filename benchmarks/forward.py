"""Forward throughput of MERT on each CPU inference engine, side by side in one run.

Seconds of audio processed per second (median over alternating rounds), the 95M config (``--model``: 330M, or
``tiny``, the test model under ``auto``'s 10 M-parameter threshold) with random weights, every hidden state returned
(probing needs them all), 10 s clips, batch 1 and 8, float32. Engines
(``hf_culturemert.backends``): ``eager`` (``MERTModel``, SDPA), ``fused`` (``fuse_for_inference``), ``onnxruntime``
and ``openvino`` (the cached export); ``--hubert`` adds transformers' ``HubertModel`` with eager attention (the
published MERT code is bit-identical to it), ``--compile`` adds ``torch.compile`` with frozen weights. Each round
runs every engine once, in a rotated order, so a drifting load on a shared machine hits them alike. The max abs
difference is over every hidden state, against ``eager``. Each engine's one-off cost (export when not cached + load
and compile) is printed and noted: it is what ``auto`` weighs for small models. Prints the CPU, the threads and the
load average before and after; saves ``benchmarks/results/forward.json`` (``forward-<model>.json`` for another
model). With CUDA, eager bf16 and compiled run on the GPU instead.

    python benchmarks/forward.py [--model 95M] [--batch-sizes 1 8] [--seconds 10] [--repeats 3] [--hubert] [--compile]
    python benchmarks/forward.py --model tiny --repeats 20   # the measurement behind auto's small-model rule
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, save  # noqa: E402

from hf_culturemert import MERTModel  # noqa: E402
from hf_culturemert.backends import for_inference, installed_backends, resolve_backend  # noqa: E402
from hf_culturemert.export import reference_config  # noqa: E402
from hf_culturemert.testing import tiny_mert_config  # noqa: E402


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def build_engines(model, device, hubert, compile_, ready):
    """name -> callable(x) returning every hidden state; ``ready[name]``: seconds to get the engine ready."""
    def states(runner):
        return lambda x: runner(x, output_hidden_states=True, return_dict=True).hidden_states

    if device.type == "cuda":
        engines = {"eager bf16": states(model.to(device, torch.bfloat16))}
    else:
        engines = {"eager": states(model)}
        for name in ("fused", "onnxruntime", "openvino"):
            if name in installed_backends():
                begin = time.perf_counter()
                engines[name] = states(for_inference(model, name))
                ready[name] = time.perf_counter() - begin
                print(f"{name}: ready in {ready[name]:.1f} s (export unless cached for these weights, + load)")
            else:
                print(f"{name}: not installed, skipped")
    if compile_:
        from hf_culturemert.inference import compile_for_inference

        engines["compiled"] = states(compile_for_inference(model))
    if hubert:
        from hf_culturemert.testing import hubert_twin

        engines["HubertModel"] = states(hubert_twin(model.float().cpu(), attn_implementation="eager").to(device))
    return engines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="95M", choices=["95M", "330M", "tiny"],
                        help="MERT config (random weights); tiny: hf_culturemert.testing.tiny_mert_config")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds (after one warm-up round)")
    parser.add_argument("--hubert", action="store_true", help="add transformers' HubertModel (eager attention)")
    parser.add_argument("--compile", action="store_true", help="add torch.compile with frozen weights")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = MERTModel(tiny_mert_config() if args.model == "tiny" else reference_config(args.model)).eval()
    label = f"MERT-{args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters)"
    info = machine()
    print(f"CPU {info['cpu']} ({info['cores']} cores, {', '.join(info['isa'])}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {info.get('load_average')}; default engine here: "
          f"{resolve_backend('auto', model)}")
    print(label)
    ready = {}
    engines = build_engines(model, device, args.hubert, args.compile, ready)
    names = list(engines)
    samples = int(args.seconds * 24000)
    rows, speeds = [], {}
    print(f"\n| batch | {' | '.join(names)} | max abs diff vs eager ({', '.join(names[1:])}) |")
    for batch in args.batch_sizes:
        x = torch.randn(batch, samples, generator=torch.Generator().manual_seed(batch)).to(device)
        times = {name: [] for name in names}
        outputs = {}
        with torch.inference_mode():
            for round_ in range(args.repeats + 1):
                order = names[round_ % len(names):] + names[: round_ % len(names)]
                for name in order:
                    seconds, outputs[name] = timed(lambda: engines[name](x), device)
                    if round_:  # round 0 warms up (allocator, runtime plans)
                        times[name].append(seconds)
        reference = outputs[names[0]]
        diffs = [max(float((torch.as_tensor(np.asarray(got)).float().to(device) - want.float()).abs().max())
                     for got, want in zip(outputs[name], reference)) for name in names[1:]]
        speeds[batch] = {name: batch * args.seconds / statistics.median(times[name]) for name in names}
        cells = [f"{speeds[batch][name]:.2f}" for name in names]
        rows.append([str(batch), *cells, ", ".join(f"{d:.1e}" for d in diffs)])
        print(f"| {batch} | {' | '.join(cells)} | {', '.join(f'{d:.1e}' for d in diffs)} |", flush=True)
    after = [round(v, 2) for v in os.getloadavg()]
    print(f"load average after: {after}")
    for batch, speed in speeds.items():
        print(f"batch {batch}: " + ", ".join(f"{name} {speed[name] / speed[names[0]]:.2f}x" for name in names[1:])
              + f" {names[0]}")
    notes = [f"Audio-seconds per second, median of {args.repeats} alternating rounds after a warm-up round; "
             f"{args.seconds:g} s clips, {label}, random weights, float32, every hidden state returned; "
             f"{torch.get_num_threads()} threads.",
             f"Load average before {info.get('load_average')}, after {after} (a shared machine).",
             f"auto picks {resolve_backend('auto', model)} here (hf_culturemert.backends).",
             "Seconds to get each engine ready (export unless cached for these weights, + load and compile): "
             + ", ".join(f"{name} {seconds:.1f}" for name, seconds in ready.items()) + "."]
    name = "forward" if args.model == "95M" else f"forward-{args.model.lower()}"
    save(name, [{"title": f"Forward throughput per engine, {label}, {info['cpu']}",
                      "columns": ["batch", *names, f"max abs diff vs {names[0]} ({', '.join(names[1:])})"],
                      "rows": rows}], notes=notes, command="python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
