"""MORTY's makam recognition anchor on the package's OTMM data: accuracy against the published 0.718.

    python benchmarks/otmm.py                     # the subset shipped with the package (pitch every 46 ms)
    python benchmarks/otmm.py --otmm_dir CLONE --tonic_annotations otmm_tonic_dataset/annotations.json \
        [--folds_file makam_recognition_experiments/data/folds.json]   # also the full-resolution clone (2.9 ms)

Method (Karakurt, Şentürk & Serra, DLfM 2016; evaluation_overall.json, mode, multi--pcd--25_0--25_0--bhat--10):
one pitch-class distribution per recording (25-cent bins, 25-cent Gaussian kernel, cents re the annotated tonic),
Bhattacharyya distance, k = 10 nearest neighbours, MORTY's stratified 10 folds. Matching 0.718 within a point checks
that the package's tonics, labels and folds are right.
"""

import argparse
import sys
import time

import numpy as np
from _results import save

from hf_culturemert.data import otmm


def _clone_anchor(args):
    recordings = otmm.read_recordings(args.otmm_dir, args.tonic_annotations, args.folds_file)
    distributions = np.stack([otmm.pitch_class_distribution(
        otmm.cents_re_tonic(otmm.read_pitch(args.otmm_dir, r), r.tonic)) for r in recordings])
    return otmm.morty_accuracy(distributions, [r.makam for r in recordings], [r.fold for r in recordings])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--otmm_dir", help="clone of MTG/otmm_makam_recognition_dataset (adds a full-resolution row)")
    parser.add_argument("--tonic_annotations", help="annotations.json of MTG/otmm_tonic_dataset (with --otmm_dir)")
    parser.add_argument("--folds_file", help="MORTY's folds.json (default: the shipped folds)")
    args = parser.parse_args(argv)
    if args.otmm_dir and not args.tonic_annotations:
        parser.error("--otmm_dir needs --tonic_annotations (the corrected tonics)")

    rows = []
    start = time.perf_counter()
    shipped = otmm.morty_anchor()
    rows.append(["shipped subset", f"{shipped['hop_seconds'] * 1000:.1f} ms", f"{shipped['accuracy']:.3f}",
                 f"{otmm.PUBLISHED_ACCURACY:.3f}", f"{100 * (shipped['accuracy'] - otmm.PUBLISHED_ACCURACY):+.1f}",
                 f"{min(shipped['per_fold'].values()):.2f}-{max(shipped['per_fold'].values()):.2f}",
                 f"{time.perf_counter() - start:.1f}"])
    if args.otmm_dir:
        start = time.perf_counter()
        clone = _clone_anchor(args)
        rows.append(["clone", f"{otmm.HOP_SECONDS * 1000:.1f} ms", f"{clone['accuracy']:.3f}",
                     f"{otmm.PUBLISHED_ACCURACY:.3f}", f"{100 * (clone['accuracy'] - otmm.PUBLISHED_ACCURACY):+.1f}",
                     f"{min(clone['per_fold'].values()):.2f}-{max(clone['per_fold'].values()):.2f}",
                     f"{time.perf_counter() - start:.1f}"])
    columns = ["pitch data", "pitch step", "accuracy", "published (MORTY)", "difference (points)",
               "per-fold accuracy", "seconds"]
    sys.stdout.write("# MORTY makam recognition, annotated (corrected) tonic, 1,000 recordings, 20 makams\n\n"
                     "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
                     + "".join("| " + " | ".join(row) + " |\n" for row in rows))
    save("otmm", [{"title": "MORTY makam recognition on OTMM (annotated tonic, 10-fold, k = 10)", "columns": columns,
                   "rows": rows}],
         notes=["Pitch-class distribution per recording (25-cent bins, 25-cent Gaussian kernel, cents re the "
                "corrected tonic), Bhattacharyya distance, k = 10 nearest neighbours (ties: the tied makam with the "
                "nearest member), MORTY's stratified 10 folds. Published: 0.718 (Karakurt, Şentürk & Serra, DLfM "
                "2016; makam_recognition_experiments evaluation_overall.json).",
                "Data: CC BY-NC-SA 4.0 (MTG OTMM makam recognition and tonic datasets)."],
         command="python benchmarks/otmm.py" + (" --otmm_dir CLONE --tonic_annotations TONICS" if args.otmm_dir
                                                else ""),
         title="Real makam: the MORTY anchor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
