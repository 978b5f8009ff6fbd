"""``culturemert probe``: MARBLE probes on frozen features of one model and one dataset."""

import json
import sys
from dataclasses import dataclass, field
from typing import Optional

from ..probing.arguments import ProbeArguments


@dataclass
class ProbeCommandArguments:
    model: str = field(metadata={"help": "Model folder, Hub id or short name (mert-v1-95m, culturemert-95m, ...)."})
    dataset: str = field(metadata={
        "help": "Registry name (lyra, makam, hindustani, carnatic, fma, mtat, synthetic-*) or a dataset folder."})
    output: Optional[str] = field(default=None, metadata={
        "help": "Folder for the JSON result (probe_<model>_<dataset>.json); printed only when omitted."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace a probe_<model>_<dataset>.json in --output that an earlier `culturemert probe` did not "
                "write (nothing else there is touched)."})


def main(argv):
    from ..commands import make_parser

    parser = make_parser("probe", (ProbeCommandArguments, ProbeArguments), light=True)
    command, args = parser.parse_args_into_dataclasses(args=list(argv))
    from ..probing import probe_model  # torch: only once the arguments are valid

    from ..probing.sharding import is_main_process

    result = probe_model(command.model, command.dataset, args, output_dir=command.output,
                         overwrite=command.overwrite)
    if not is_main_process():  # under `accelerate launch`, one report
        return 0
    summary = result["summary"]
    lines = [f"{result['model']} on {result['dataset']} (probe: layer {result['reported_layer']}, "
             f"{len(args.seeds)} seed(s), feature cache {'hit' if result['cache_hit'] else 'miss'})"]
    lines += [f"  {name:<18} {100 * value['mean']:.2f} ± {100 * value['std']:.2f}" for name, value in summary.items()]
    if "output_file" in result:
        lines.append(f"  wrote {result['output_file']}")
    else:
        lines.append(json.dumps({k: result[k] for k in ("summary", "reported_layer", "cache_hit")}, indent=2))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
