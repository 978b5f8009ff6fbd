"""Loader throughput: decode + resample + chunk, in seconds of audio per second, map-style vs streaming.

    python benchmarks/data.py            # default synthetic corpus size (48 clips of 8 s per split) for 2 traditions
    python benchmarks/data.py --quick    # 12 clips, one tradition: a CPU smoke run in well under a minute

The corpus is generated at 24 kHz (no resampling needed for MERT) and at 44.1 kHz (the loader resamples to 24 kHz),
then each pipeline reads the training split and cuts it: random 5 s crops (pre-training) and 5 s windows (probing).
Pipelines: map-style ``Dataset`` iterated, map-style ``Dataset.map(batched=True)`` (no cache reuse), streaming
``IterableDataset``. Figures are relative to each other within one run; absolute numbers depend on the machine.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

from _results import save


def _measure(label, make_examples, durations, repeats):
    best = float("inf")
    chunks = 0
    for _ in range(repeats):
        start = time.perf_counter()
        chunks = sum(1 for _ in make_examples())
        best = min(best, time.perf_counter() - start)
    audio_seconds = float(sum(durations))
    return {"pipeline": label, "chunks": chunks, "wall_s": best, "audio_s": audio_seconds,
            "throughput": audio_seconds / best}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small corpus, one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per pipeline (best is kept)")
    parser.add_argument("--work-dir", default=None, help="where to build the corpora (default: a temp folder)")
    args = parser.parse_args(argv)

    work = args.work_dir or tempfile.mkdtemp(prefix="culturemert-bench-data-")
    try:
        return _run(args, work)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


def _run(args, work):
    os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(work, "hf-cache"))  # keep ~/.cache clean
    from datasets.utils.logging import disable_progress_bar

    from hf_culturemert.data import build_synthetic_corpus, crop_dataset, iter_random_crops, iter_windows
    from hf_culturemert.data.loading import load_tradition

    disable_progress_bar()
    traditions = ["makam"] if args.quick else ["makam", "carnatic"]
    clips = {"train": 12, "validation": 2, "test": 2} if args.quick else {"train": 48, "validation": 2, "test": 2}
    repeats = args.repeats or (1 if args.quick else 3)

    rows = []
    for rate in (24000, 44100):
        start = time.perf_counter()
        folders = build_synthetic_corpus(os.path.join(work, f"corpus-{rate}"), seed=0, clips_per_split=clips,
                                         traditions=traditions, sampling_rate=rate, progress=False)
        build_s = time.perf_counter() - start
        for tradition, folder in folders.items():
            mapped = load_tradition(tradition, "train", repo_id=folder, sampling_rate=24000)
            durations = mapped["duration"]

            def streamed():
                return load_tradition(tradition, "train", repo_id=folder, sampling_rate=24000, streaming=True)

            cases = [
                ("map-style, iterate: 5 s crops", lambda: iter_random_crops(mapped, 5.0)),
                ("map-style, .map(batched): 5 s crops",
                 lambda: iter(crop_dataset(mapped, 5.0, load_from_cache_file=False).with_format("numpy"))),
                ("streaming: 5 s crops", lambda: iter_random_crops(streamed(), 5.0)),
                ("map-style, iterate: 5 s windows", lambda: iter_windows(mapped, 5.0)),
                ("streaming: 5 s windows", lambda: iter_windows(streamed(), 5.0)),
            ]
            for label, make in cases:
                row = _measure(label, make, durations, repeats)
                row.update(source_rate=rate, tradition=tradition, build_s=build_s)
                rows.append(row)

    out = sys.stdout
    out.write(f"\nLoader throughput (best of {repeats}; seconds of audio decoded+chunked per wall second)\n\n")
    out.write("| source rate | tradition | pipeline | chunks | audio s | wall s | audio s / s |\n")
    out.write("|---|---|---|---|---|---|---|\n")
    for r in rows:
        out.write(f"| {r['source_rate']} | {r['tradition']} | {r['pipeline']} | {r['chunks']} | {r['audio_s']:.0f} | "
                  f"{r['wall_s']:.2f} | {r['throughput']:.0f} |\n")
    out.write("\nstreaming / map-style (iterate) throughput ratio:\n")

    def throughput(rate, pipeline):
        return sum(r["throughput"] for r in rows if r["source_rate"] == rate and r["pipeline"] == pipeline)

    for rate in (24000, 44100):
        for task in ("crops", "windows"):
            ratio = throughput(rate, f"streaming: 5 s {task}") / throughput(rate, f"map-style, iterate: 5 s {task}")
            out.write(f"  {rate} Hz, {task}: {ratio:.2f}\n")
    windows = "map-style, iterate: 5 s windows"
    out.write(f"44.1 kHz (resampled) / 24 kHz throughput, map-style windows: "
              f"{throughput(44100, windows) / throughput(24000, windows):.2f}\n")
    builds = {rate: next(r["build_s"] for r in rows if r["source_rate"] == rate) for rate in (24000, 44100)}
    out.write("corpus build time: " + ", ".join(f"{rate} Hz {t:.1f} s" for rate, t in builds.items())
              + f" ({len(traditions)} traditions, {sum(clips.values())} clips each)\n")
    ratios = [f"{rate} Hz, {task}: " + format(throughput(rate, f"streaming: 5 s {task}")
                                             / throughput(rate, f"map-style, iterate: 5 s {task}"), ".2f")
              for rate in (24000, 44100) for task in ("crops", "windows")]
    save("data", [{"title": f"Loader throughput (best of {repeats})",
                   "columns": ["source rate", "tradition", "pipeline", "chunks", "audio s", "wall s", "audio s / s"],
                   "rows": [[str(r["source_rate"]), r["tradition"], r["pipeline"], str(r["chunks"]),
                             f"{r['audio_s']:.0f}", f"{r['wall_s']:.2f}", f"{r['throughput']:.0f}"] for r in rows]}],
         notes=["Seconds of audio decoded and chunked per wall second.",
                "Streaming / map-style (iterate) throughput: " + "; ".join(ratios) + "."],
         command="python benchmarks/data.py" + (" --quick" if args.quick else ""),
         title="Data loading")
    return 0


if __name__ == "__main__":
    sys.exit(main())
