"""Honest results of the miniature study: does continual pre-training on a tradition help on that tradition, and how
much of that gain do CultureMERT (all traditions together) and CultureMERT-TA (task arithmetic) keep?

Runs ``culturemert reproduce`` (the default miniature study: synthetic corpus, tiny MERT pre-trained on the
"western" part, two-stage continual pre-training per tradition and on all four, lambda sweep, probing) once per
seed, each in its own process and output folder (reruns resume/skip finished seeds), then reads every
``results/results.json`` and prints, with the test ROC-AUC and mAP of the reported probe (mean over probe seeds):

* gain of each single-culture model over the base on its own tradition, per seed and as mean +- std over seeds,
  and how many seeds it beats the base;
* the share of those gains kept by CultureMERT and CultureMERT-TA: (model - base) / (single - base), per
  tradition (only meaningful where the single-culture gain is clearly positive) and pooled
  (sum over traditions of model gains / sum of single-culture gains);
* the references: the hand-crafted upper bound, the random-init floor and the base on western and every tradition;
* forgetting: the western score of every adapted model against the base's;
* real makam recognition (OTMM, 20 makams, held-out recordings; ``results-otmm/``): test accuracy and ROC-AUC of
  the upper bound, floor, base, single-culture makam, CultureMERT and CultureMERT-TA, and whether continual
  pre-training on makam beats the base by more than the base's seed std;
* the wall time of each run (the README's "under 10 minutes on 2 CPU cores" claim);
* the acceptance checks of the miniature (issue 14), each PASS or FAIL, from the numbers above.

    python benchmarks/reproduce.py                     # seeds 0 1 2 into outputs/benchmarks/reproduce/
    python benchmarks/reproduce.py --seeds 0 1 2 3 4 --output_dir /tmp/bench
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _results import save, tables_from_markdown

from hf_culturemert.constants import TRADITIONS
METRICS = {"roc_auc": "ROC-AUC", "average_precision": "mAP"}
MIN_GAIN = 0.005  # half a point: below it, the share of a gain that a merged model keeps is not reported


def run_seed(seed, output_dir, extra):
    folder = Path(output_dir) / f"seed-{seed}"
    done = (folder / "summary.json").is_file()
    start = time.perf_counter()
    command = [sys.executable, "-m", "hf_culturemert.cli", "reproduce", "--seed", str(seed),
               "--output_dir", str(folder), *extra]
    with open(Path(output_dir) / f"seed-{seed}.log", "a", encoding="utf-8") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    timing_file = folder / "benchmark_wall_seconds.json"
    if not done:
        timing_file.write_text(json.dumps({"wall_seconds": seconds}))
    return json.loads(timing_file.read_text())["wall_seconds"] if timing_file.is_file() else None


def scores(folder):
    results = json.loads((Path(folder) / "results" / "results.json").read_text())["results"]
    return {model: {dataset: {m: r["summary"][m]["mean"] for m in METRICS} for dataset, r in per.items()}
            for model, per in results.items()}


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):+.1f} +- {100 * std:.1f}"


def analyse(per_seed, traditions):
    lines = []
    for metric, label in METRICS.items():
        lines += ["", f"### {label} (test, points; mean +- std over {len(per_seed)} seeds)", "",
                  "| tradition | base | single-culture | gain (single - base) | beats base | CultureMERT gain | "
                  "CultureMERT-TA gain | share kept CM | share kept TA |", "|---|---|---|---|---|---|---|---|---|"]
        pooled = {"single": [], "CultureMERT": [], "CultureMERT-TA": []}
        for tradition in traditions:
            base = [s["base"][tradition][metric] for s in per_seed]
            single = [s[f"single-{tradition}"][tradition][metric] for s in per_seed]
            gains = {name: [s[name][tradition][metric] - b for s, b in zip(per_seed, base)]
                     for name in ("CultureMERT", "CultureMERT-TA")}
            gain = [x - b for x, b in zip(single, base)]
            pooled["single"].append(sum(gain))
            for name in gains:
                pooled[name].append(sum(gains[name]))
            mean_gain = statistics.mean(gain)
            shares = {name: (statistics.mean(gains[name]) / mean_gain if mean_gain > MIN_GAIN else None)
                      for name in gains}
            lines.append(
                f"| {tradition} | {100 * statistics.mean(base):.1f} | {100 * statistics.mean(single):.1f} | "
                f"{mean_std(gain)} | {sum(g > 0 for g in gain)}/{len(gain)} | {mean_std(gains['CultureMERT'])} | "
                f"{mean_std(gains['CultureMERT-TA'])} | "
                + " | ".join("-" if shares[n] is None else f"{100 * shares[n]:.0f}%"
                             for n in ("CultureMERT", "CultureMERT-TA")) + " |")
        total = sum(pooled["single"])
        keepable = total / len(per_seed) > MIN_GAIN
        kept = {n: (sum(pooled[n]) / total if keepable else None) for n in ("CultureMERT", "CultureMERT-TA")}
        lines.append("")
        lines.append(f"Pooled over traditions and seeds: single-culture gain {100 * total / len(per_seed):+.1f} "
                     f"points summed over traditions (per seed); share kept: CultureMERT "
                     + ("n/a" if kept["CultureMERT"] is None else f"{100 * kept['CultureMERT']:.0f}%")
                     + ", CultureMERT-TA "
                     + ("n/a" if kept["CultureMERT-TA"] is None else f"{100 * kept['CultureMERT-TA']:.0f}%")
                     + ("" if keepable else " (no single-culture gain of 0.5+ points to keep)"))
    return lines


def _values(per_seed, model, dataset, metric="roc_auc"):
    return [s[model][dataset][metric] for s in per_seed if model in s and dataset in s[model]]


def _cell(values):
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} +- {100 * std:.1f}"


def references(per_seed, traditions):
    """Upper bound, floor and base per dataset; every model's western score (forgetting)."""
    datasets = ["western"] + list(traditions)
    models = [m for m in ("upper-bound", "random-init", "base") if all(m in s for s in per_seed)]
    lines = ["", f"### References and forgetting (test ROC-AUC, mean +- std over {len(per_seed)} seeds)", "",
             "| model | " + " | ".join(datasets) + " |", "|---" * (len(datasets) + 1) + "|"]
    adapted = ["CultureMERT", "CultureMERT-TA"] + [f"single-{t}" for t in traditions]
    for model in models + [m for m in adapted if all(m in s for s in per_seed)]:
        lines.append(f"| {model} | " + " | ".join(_cell(_values(per_seed, model, d)) for d in datasets) + " |")
    return lines


REAL_MAKAM_MODELS = ("upper-bound", "random-init", "base", "single-makam", "CultureMERT", "CultureMERT-TA")


def real_makam_scores(folder):
    """Test accuracy and ROC-AUC on real makam recognition (OTMM, 20 makams), per model; {} when not run."""
    path = Path(folder) / "results-otmm" / "results.json"
    if not path.is_file():
        return {}
    results = json.loads(path.read_text())["results"]
    return {model: {m: next(iter(per.values()))["summary"][m]["mean"] for m in ("top1_accuracy", "roc_auc")}
            for model, per in results.items()}


def real_makam(per_seed_real):
    """Table and acceptance check of real makam recognition over seeds (issue 29)."""
    runs = [r for r in per_seed_real if r]
    if not runs:
        return []
    lines = ["", f"### Real makam recognition (OTMM, 20 makams, held-out recordings; test, mean +- std over "
             f"{len(runs)} seeds)", "", "| model | accuracy | ROC-AUC |", "|---|---|---|"]
    for model in REAL_MAKAM_MODELS:
        if all(model in r for r in runs):
            lines.append(f"| {model} | " + " | ".join(_cell([r[model][m] for r in runs])
                                                   for m in ("top1_accuracy", "roc_auc")) + " |")
    if len(runs) > 1 and all("single-makam" in r and "base" in r for r in runs):
        for metric, label in (("top1_accuracy", "accuracy"), ("roc_auc", "ROC-AUC")):
            gain = statistics.mean([r["single-makam"][metric] - r["base"][metric] for r in runs])
            std = statistics.stdev([r["base"][metric] for r in runs])
            lines.append(f"- {'PASS' if gain > std else 'FAIL'}: single-culture continual pre-training on makam "
                         f"beats the base on real makam {label} by more than the base's seed std "
                         f"({100 * gain:+.1f} vs {100 * std:.1f})")
    return lines


def stage_times(folders):
    """Seconds per stage of every run (from its ``stages.json``): where the wall time goes."""
    logs = {seed: json.loads((folder / "stages.json").read_text()) for seed, folder in folders.items()
            if (folder / "stages.json").is_file()}
    if not logs:
        return []
    stages = list(next(iter(logs.values())))
    lines = ["", "### Wall time per stage (s)", "", "| stage | " + " | ".join(f"seed {s}" for s in logs) + " |",
             "|---" * (len(logs) + 1) + "|"]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{log[stage]['seconds']:.0f}" if stage in log else "-"
                                                  for log in logs.values()) + " |")
    return lines


def acceptance(per_seed, traditions, walls):
    """The miniature's acceptance checks, each PASS or FAIL with its numbers (test ROC-AUC)."""
    mean = lambda values: statistics.mean(values) if values else float("nan")  # noqa: E731
    lines = ["", "### Acceptance checks (issue 14)", ""]

    def check(ok, text):
        lines.append(f"- {'PASS' if ok else 'FAIL'}: {text}")

    upper = {t: mean(_values(per_seed, "upper-bound", t)) for t in traditions}
    check(all(v >= 0.85 for v in upper.values()), "upper bound >= 85 on every tradition: "
          + ", ".join(f"{t} {100 * v:.1f}" for t, v in upper.items()))
    base_w = mean(_values(per_seed, "base", "western"))
    base = {t: mean(_values(per_seed, "base", t)) for t in traditions}
    check(base_w >= 0.80 and all(v < base_w for v in base.values()),
          f"base >= 80 on western ({100 * base_w:.1f}) and lower on each tradition ("
          + ", ".join(f"{t} {100 * v:.1f}" for t, v in base.items()) + ")")
    wins, parts = 0, []
    gains = {}
    for t in traditions:
        gain = [s - b for s, b in zip(_values(per_seed, f"single-{t}", t), _values(per_seed, "base", t))]
        base_std = statistics.stdev(_values(per_seed, "base", t)) if len(per_seed) > 1 else 0.0
        gains[t] = mean(gain)
        won = gains[t] > base_std
        wins += won
        paired = statistics.stdev(gain) if len(gain) > 1 else 0.0
        parts.append(f"{t} {100 * gains[t]:+.1f} vs std {100 * base_std:.1f} (the gain's own std "
                     f"{100 * paired:.1f})")
    check(wins >= min(3, len(traditions)), f"single-culture beats the base on its own tradition by more than the "
          f"base's seed std in {wins}/{len(traditions)} (" + "; ".join(parts) + ")")
    mean_gain = mean(list(gains.values()))
    for model in ("CultureMERT", "CultureMERT-TA"):
        model_gain = mean([mean(_values(per_seed, model, t)) - base[t] for t in traditions])
        keepable = mean_gain > MIN_GAIN  # a share of a gain below half a point is noise over noise
        share = model_gain / mean_gain if keepable else float("nan")
        loss = base_w - mean(_values(per_seed, model, "western"))
        check(keepable and share >= 0.8 and loss <= 0.02,
              f"{model} keeps >= 80% of the mean single-culture gain (mean gain {100 * model_gain:+.1f} of "
              f"{100 * mean_gain:+.1f}: {f'{100 * share:.0f}%' if keepable else 'n/a, no gain of 0.5+ to keep'}) "
              f"and loses <= 2 on western ({100 * loss:+.1f})")
    timed = [w for w in walls.values() if w]
    check(bool(timed) and max(timed) < 600, "each run < 10 min: " + ", ".join(f"{w / 60:.1f} min" for w in timed))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output_dir", default="outputs/benchmarks/reproduce")
    parser.add_argument("extra", nargs="*", help="more `culturemert reproduce` options, after --")
    args = parser.parse_args()
    if len(args.seeds) < 3:
        parser.error("--seeds: at least 3 seeds are needed for a mean and a spread")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    walls, per_seed, per_seed_real = {}, [], []
    for seed in args.seeds:
        walls[seed] = run_seed(seed, out, args.extra)
        per_seed.append(scores(out / f"seed-{seed}"))
        per_seed_real.append(real_makam_scores(out / f"seed-{seed}"))
        sys.stdout.write(f"seed {seed}: {walls[seed]:.0f} s wall\n" if walls[seed] else f"seed {seed}: done\n")
        sys.stdout.flush()
    traditions = [t for t in TRADITIONS if all(f"single-{t}" in s for s in per_seed)]
    lines = ["## Miniature CultureMERT study (`culturemert reproduce` defaults)", "",
             "Wall time per run (2 CPU cores): " + ", ".join(f"seed {s}: {w / 60:.1f} min" for s, w in walls.items()
                                                            if w)]
    lines += analyse(per_seed, traditions)
    lines += references(per_seed, traditions)
    lines += real_makam(per_seed_real)
    lines += stage_times({seed: out / f"seed-{seed}" for seed in args.seeds})
    lines += acceptance(per_seed, traditions, walls)
    text = "\n".join(lines) + "\n"
    (out / "benchmark.md").write_text(text)
    (out / "benchmark.json").write_text(json.dumps({"wall_seconds": walls, "scores": dict(zip(args.seeds, per_seed)),
                                                    "real_makam": dict(zip(args.seeds, per_seed_real))}, indent=2))
    sys.stdout.write(text)
    tables, notes = tables_from_markdown(text)
    save("reproduce", tables, notes=notes, title="The miniature study over 3 seeds",
         command=" ".join(["python benchmarks/reproduce.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
