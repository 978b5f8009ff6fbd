"""Wall time of every stage of the two rehearsals (the real presets at a toy budget), for the docs' results page.

Runs `culturemert reproduce --preset culturemert-95m --rehearsal` and `culturemert transfer --preset west-to-east
--rehearsal` from the command line (or reads rehearsals already run, with --reproduce-dir / --transfer-dir) and saves
each stage's wall time (benchmarks/results/rehearsal.json). The times are those of the machine it ran on: on a
shared CPU they say where the time goes, not what a GPU cluster will take (the dry run's --step_costs does that from
a rehearsal on the target GPU).

    python benchmarks/rehearsal.py --work /tmp/rehearsal [--transfer-models vggish musicnn ast]
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _results import save


def _run(command):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def _table(title, report, total):
    rows = [[name, f"{seconds:.1f}"] for name, seconds in report["stage_seconds"].items() if seconds is not None]
    rows.append(["whole command (wall)", f"{total:.0f}" if total else "-"])
    return {"title": title, "columns": ["stage", "seconds"], "rows": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="/tmp/culturemert-rehearsal")
    parser.add_argument("--reproduce-dir", help="a finished reproduce rehearsal (skips running one)")
    parser.add_argument("--transfer-dir", nargs="+", help="finished transfer rehearsals (skips running one)")
    parser.add_argument("--transfer-models", nargs="+", default=["vggish", "musicnn", "ast"])
    parser.add_argument("--note", action="append", default=[], help="a note for the page (how the machine was)")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "hf_culturemert.cli"]
    tables, totals = [], {}
    reproduce = Path(args.reproduce_dir or Path(args.work) / "reproduce")
    if not args.reproduce_dir:
        totals["reproduce"] = _run(cli + ["reproduce", "--preset", "culturemert-95m", "--rehearsal", "--output_dir",
                                          str(reproduce)])
    transfers = [Path(t) for t in args.transfer_dir or [Path(args.work) / "transfer"]]
    if not args.transfer_dir:
        totals["transfer"] = _run(cli + ["transfer", "--preset", "west-to-east", "--rehearsal", "--output_dir",
                                         str(transfers[0]), "--no_progress", "--models", *args.transfer_models])
    notes = list(args.note)
    runs = [("reproduce", reproduce, "culturemert reproduce --preset culturemert-95m --rehearsal")]
    runs += [("transfer", t, "culturemert transfer --preset west-to-east --rehearsal") for t in transfers]
    for name, folder, title in runs:
        marker = folder / "rehearsal.json"
        if not marker.is_file():
            continue
        report = json.loads(marker.read_text())
        if report.get("status") != "complete":
            notes.append(f"{name}: the rehearsal in {folder} had not finished; its stages are not listed")
            continue
        if name == "transfer":
            pairs = report.get("pairs", "all")
            datasets, modes = report.get("datasets_run", "all six"), report.get("modes", ["full", "head"])
            title += (f" (models: {' '.join(report['models'])}; datasets: "
                      f"{datasets if isinstance(datasets, str) else ' '.join(datasets)}; pairs: "
                      f"{pairs if isinstance(pairs, str) else ' '.join(pairs)}; modes: {' '.join(modes)})")
        tables.append(_table(title, report, totals.get(name)))
        notes.append(f"{name}: {report['random_weights']}")
        costs = folder / "step_costs.json"
        if costs.is_file():
            measured = json.loads(costs.read_text())
            notes.append(f"measured pre-training step cost on {measured['device']}: "
                         f"{measured['seconds_per_clip_second']:.2f} s per clip-second (with warm-up)")
    save("rehearsal", tables, notes=notes, title="Rehearsals of the real presets",
         command="python benchmarks/rehearsal.py " + " ".join(sys.argv[1:]))
    for table in tables:
        print(f"# {table['title']}")
        for row in table["rows"]:
            print(f"{row[1]:>8} s  {row[0]}")


if __name__ == "__main__":
    main()
