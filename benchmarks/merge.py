"""Wall time and peak memory of merging 4 MERT-v1-95M checkpoints into a base (CultureMERT-TA's shape).

Random weights with the published 95M config (~94.4 M values, ~377 MB per fp32 safetensors file), written to a
temporary folder: a base and 4 models. Each mode runs in its own subprocess, which reports its own peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss`` and ``VmHWM`` from ``/proc/self/status``). Rows:

* baseline: the streamed merge of 4 *pico* checkpoints (a few KB): the memory of the interpreter, torch,
  transformers and the merge code path itself, without tensors worth counting;
* streamed: ``merge_models(...)`` (the default: one tensor per input in memory, output written tensor by tensor;
  the sha256 of every input file is computed too, for the model card);
* preloaded: ``merge_models(..., streaming=False)`` (all inputs read first, N + 1 models of memory);
* naive in-memory (reference): ``safetensors.torch.load_file`` of every input, the same peft arithmetic per
  tensor, the output state dict accumulated, then ``save_file``: what a simple script does.

Target: streamed peak RSS below 2x one model (on the raw peak and, more meaningfully, above the baseline).

    python benchmarks/merge.py            # 95M config, 4 models (~2 GB of temporary files, ~4 min on 2 busy cores)
    python benchmarks/merge.py --quick    # a 15 MB config (~1-2 min, mostly interpreter start-up)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import save

MODES = ("baseline", "streamed", "preloaded", "naive")


def peak_rss_mb():
    """This process's peak resident set size in MB (VmHWM; ru_maxrss as the fallback)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_config(quick, pico=False):
    from hf_culturemert.export import reference_config
    from hf_culturemert.testing import tiny_mert_config

    if pico:
        return tiny_mert_config(num_hidden_layers=1)
    if quick:
        return reference_config("95M", hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                intermediate_size=1024, conv_dim=[128] * 7, num_conv_pos_embedding_groups=16)
    return reference_config("95M")


def write_inputs(folder, quick, num_models, pico=False):
    """Base + ``num_models`` perturbed copies as safetensors model folders; returns (paths, bytes per model)."""
    import torch
    from safetensors.torch import save_file

    from hf_culturemert.models.mert.modeling_mert import MERTModel

    config = build_config(quick, pico)
    torch.manual_seed(0)
    state = {k: v.detach().contiguous() for k, v in MERTModel(config).state_dict().items()}
    size = sum(v.numel() * v.element_size() for v in state.values())
    paths = []
    for index in range(num_models + 1):
        path = folder / ("base" if index == 0 else f"model{index}")
        path.mkdir(parents=True)
        config.save_pretrained(path)
        tensors = state if index == 0 else {k: v + 0.01 * torch.randn_like(v) for k, v in state.items()}
        save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
        paths.append(str(path))
        del tensors
    return paths, size


def worker(mode, paths, output, weight):
    """Run one mode in this (fresh) process; print a JSON line with its wall time and peak RSS."""
    start = time.perf_counter()
    if mode in ("baseline", "streamed", "preloaded"):
        from hf_culturemert.merging import merge_models

        import_done = time.perf_counter()
        merge_models(paths[0], paths[1:], method="task_arithmetic", weight=weight, output=output,
                     streaming=(mode != "preloaded"), progress=False)
        start = import_done
    else:
        import torch
        from peft.utils.merge_utils import task_arithmetic
        from safetensors.torch import load_file, save_file

        import_done = time.perf_counter()
        base, *models = [load_file(str(Path(p) / "model.safetensors")) for p in paths]
        weights = torch.full((len(models),), weight)
        merged = {}
        for key, value in base.items():
            tau = [m[key].float() - value.float() for m in models]
            merged[key] = (value.float() + task_arithmetic(tau, weights)).to(value.dtype)
        os.makedirs(output, exist_ok=True)
        save_file(merged, str(Path(output) / "model.safetensors"), metadata={"format": "pt"})
        start = import_done
    seconds = time.perf_counter() - start
    print(json.dumps({"mode": mode, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
                      "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_mode(mode, paths, output, weight):
    command = [sys.executable, __file__, "--worker", mode, "--output", output, "--weight", str(weight),
               "--paths", *paths]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    if process.returncode != 0:
        raise RuntimeError(f"benchmark worker {mode} failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def check_same(outputs):
    """Every mode must write the same weights (else the timings compare different work)."""
    from safetensors.torch import load_file

    reference = load_file(str(Path(outputs[0]) / "model.safetensors"))
    for other in outputs[1:]:
        state = load_file(str(Path(other) / "model.safetensors"))
        worst = max(float((state[k] - reference[k]).abs().max()) for k in reference)
        if worst > 1e-6 or set(state) != set(reference):
            raise RuntimeError(f"{other} differs from {outputs[0]} (max abs diff {worst})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small (15 MB) config")
    parser.add_argument("--models", type=int, default=4, help="models merged into the base (default 4)")
    parser.add_argument("--weight", type=float, default=0.2, help="lambda (default 0.2)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved runs per mode (min time, max peak)")
    parser.add_argument("--workdir", default=None, help="where the temporary checkpoints go (default: $TMPDIR)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.paths, args.output, args.weight)
        return 0

    folder = Path(tempfile.mkdtemp(prefix="merge-bench-", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        paths, size = write_inputs(folder / "inputs", args.quick, args.models)
        pico_paths, _ = write_inputs(folder / "pico", args.quick, args.models, pico=True)
        model_mb = size / 2**20
        print(f"{'quick config' if args.quick else 'MERT-v1-95M config'}: {model_mb:.0f} MB per fp32 model, base + "
              f"{args.models} models written in {time.perf_counter() - t0:.1f} s")
        rows, outputs = {}, []
        for repeat in range(args.repeats):  # interleaved repeats: the fastest wall time, the largest peak
            for mode in MODES:
                output = str(folder / f"out-{mode}")
                shutil.rmtree(output, ignore_errors=True)
                row = run_mode(mode, pico_paths if mode == "baseline" else paths, output, args.weight)
                if mode in rows:
                    row["seconds"] = min(row["seconds"], rows[mode]["seconds"])
                    row["peak_rss_mb"] = max(row["peak_rss_mb"], rows[mode]["peak_rss_mb"])
                rows[mode] = row
                if mode != "baseline" and repeat == 0:
                    outputs.append(output)
        check_same(outputs)
        baseline = rows["baseline"]["peak_rss_mb"]
        naive = rows["naive"]
        table = []
        print(f"\n{'mode':<22}{'wall s':>8}{'peak RSS MB':>13}{'above baseline MB':>19}{'x model':>9}"
              f"{'x model (above base)':>22}{'time vs naive':>15}{'RSS vs naive':>14}")
        for mode in MODES:
            row = rows[mode]
            above = row["peak_rss_mb"] - baseline
            timing = f"{row['seconds'] / naive['seconds']:.2f}x" if mode != "baseline" else "-"
            label = "baseline (pico merge)" if mode == "baseline" else mode
            memory = f"{row['peak_rss_mb'] / naive['peak_rss_mb']:.2f}x"
            label = "naive in-memory (ref)" if mode == "naive" else label
            print(f"{label:<22}{row['seconds']:>8.2f}{row['peak_rss_mb']:>13.0f}{above:>19.0f}"
                  f"{row['peak_rss_mb'] / model_mb:>9.2f}{above / model_mb:>22.2f}{timing:>15}{memory:>14}")
            table.append([label, f"{row['seconds']:.2f}", f"{row['peak_rss_mb']:.0f}", f"{above:.0f}",
                          f"{row['peak_rss_mb'] / model_mb:.2f}", f"{above / model_mb:.2f}", timing, memory])
        streamed = rows["streamed"]["peak_rss_mb"]
        verdict = "PASS" if streamed < 2 * model_mb else "above"
        print(f"\nstreamed peak RSS {streamed:.0f} MB vs 2x one model {2 * model_mb:.0f} MB: {verdict} "
              f"({(streamed - baseline) / model_mb:.2f}x one model above the {baseline:.0f} MB baseline); "
              "streamed, preloaded and naive outputs identical")
        if args.json:
            Path(args.json).write_text(json.dumps({"model_mb": model_mb, "rows": rows}, indent=2))
        config = "quick config" if args.quick else "MERT-v1-95M config"
        save("merge-quick" if args.quick else "merge",
             [{"title": f"Merging {args.models} models into a base ({config}, {model_mb:.0f} MB per fp32 model)",
               "columns": ["mode", "wall s", "peak RSS MB", "above baseline MB", "x model", "x model (above base)",
                           "time vs naive", "RSS vs naive"], "rows": table}],
             notes=[f"Streamed peak RSS {streamed:.0f} MB against 2x one model {2 * model_mb:.0f} MB: {verdict} "
                    f"({(streamed - baseline) / model_mb:.2f}x one model above the {baseline:.0f} MB baseline, the "
                    "interpreter with torch and transformers imported); streamed, preloaded and naive outputs "
                    "identical."],
             command=" ".join(["python benchmarks/merge.py", *sys.argv[1:]]), title="Merging memory")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
