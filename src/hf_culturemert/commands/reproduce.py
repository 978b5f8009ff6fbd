"""``culturemert reproduce``: the whole CultureMERT study (miniature by default, ``--preset culturemert-95m``)."""

import sys
from pathlib import Path

from ..reproduce import ReproduceArguments


def main(argv):
    from . import make_parser, quiet_library_progress

    parser = make_parser("reproduce", ReproduceArguments, light=True)
    parser.description = ("Run the whole CultureMERT study: data, base model, continual pre-training per tradition "
                          "and on all, task-arithmetic merge with a lambda sweep, probing, results and model cards. "
                          "Rerun to resume.")
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    from ..reproduce import run_reproduce

    if not args.dry_run:
        quiet_library_progress()
    if args.rehearsal and not args.dry_run:  # the real preset's stages at a toy budget
        if args.preset != "culturemert-95m":
            raise ValueError("--rehearsal rehearses the real study: pass --preset culturemert-95m with it")
        from ..rehearsal.study import rehearse_reproduce

        result = rehearse_reproduce(args)
    else:
        result = run_reproduce(args)
    if args.dry_run:
        sys.stdout.write(result["plan"] + "\n")
        return 0

    def where(path):
        return str(Path(path).resolve()) if path else "-"

    if args.base_only:
        sys.stdout.write(f"Pico base pre-trained: {where(result['models']['base'])}\n")
        return 0
    rehearsal = result if args.rehearsal else None
    if rehearsal:
        result = rehearsal["summary"]

    files = result["results"]
    lines = ["", "CultureMERT study finished. Written:",
             f"  results (markdown): {where(files['markdown'])}",
             f"  results (JSON):     {where(files['json'])}",
             f"  per-layer plot:     {where(files['plot'])}",
             f"  lambda sweep:       {where(result.get('lambda_sweep'))}",
             f"  stage log:          {where(result['stages'])}"]
    lines += [f"  model {name:<18} {where(path) if Path(str(path)).exists() else path}"
              for name, path in result["models"].items()]
    lines.append(f"  best task-arithmetic lambda (validation): {result['best_lambda']}")
    lines += ["", Path(result["results"]["markdown"]).read_text(encoding="utf-8")]
    if rehearsal:
        from ..rehearsal.study import timing_table

        lines += [timing_table(rehearsal), f"  measured step costs: {where(rehearsal['step_costs'])}",
                  "", rehearsal["random_weights"]]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
