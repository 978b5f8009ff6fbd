"""``culturemert transfer``: the "From West to East" transfer study (miniature default, ``--preset west-to-east``)."""

import logging
import sys
from pathlib import Path


def main(argv):
    from . import make_parser, quiet_library_progress
    from ..transfer.arguments import TransferArguments

    parser = make_parser("transfer", TransferArguments, light=True)
    parser.description = ("Train VGG-ish, Musicnn, AST (and MERT-family) taggers on each dataset and transfer them "
                          "to every other dataset (full fine-tuning or output layer only). Rerun to resume.")
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    from ..transfer.sweep import run_transfer

    if not args.dry_run:
        from transformers.utils import logging as hf_logging

        quiet_library_progress()
        hf_logging.set_verbosity_error()
        logging.getLogger("accelerate").setLevel(logging.WARNING)  # one "dataset had no length" line per eval
    if args.preset == "miniature" and not args.dry_run:
        import torch

        torch.set_num_threads(1)  # tiny models: one intra-op thread is fastest, above all on shared cores
    if args.rehearsal and not args.dry_run:  # the real preset's stages at a toy budget
        if args.preset != "west-to-east":
            raise ValueError("--rehearsal rehearses the real study: pass --preset west-to-east with it")
        from ..rehearsal.transfer import rehearse_transfer

        result = rehearse_transfer(args)
    else:
        result = run_transfer(args)
    if args.dry_run:
        sys.stdout.write(result["plan"] + "\n")
        return 0
    if result.get("main_process") is False:
        return 0
    rehearsal = result if args.rehearsal else None
    if rehearsal:
        result = rehearsal["summary"]
    files = result["results"]
    lines = ["", "Transfer study finished. Written:",
             f"  results (markdown): {Path(files['markdown']).resolve()}",
             f"  results (JSON):     {Path(files['json']).resolve()}",
             f"  heatmaps:           {len(files['heatmaps'])} PNG in {Path(files['json']).parent.resolve()}",
             f"  model folders:      {Path(result['output_dir']).resolve() / 'models'}",
             f"  stage log:          {Path(result['stages']).resolve()}", "",
             Path(files["markdown"]).read_text(encoding="utf-8")]
    if rehearsal:
        from ..rehearsal.study import timing_table

        lines += [timing_table(rehearsal), "", rehearsal["random_weights"]]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
