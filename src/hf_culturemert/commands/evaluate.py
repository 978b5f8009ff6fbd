"""``culturemert evaluate``: probe several models on several datasets; model-card tables (markdown, JSON) + plot."""

import sys
from dataclasses import dataclass, field
from typing import List

from ..constants import EVALUATION_DATASETS
from ..probing.arguments import ProbeArguments


@dataclass
class EvaluateCommandArguments:
    models: List[str] = field(default_factory=list, metadata={
        "help": "Models: folders, Hub ids or short names; 'name=path' sets the table name."})
    datasets: List[str] = field(default_factory=lambda: list(EVALUATION_DATASETS),
                                metadata={"help": "Registry names or dataset folders (default: the six of the paper)."})
    output: str = field(default="evaluation", metadata={
        "help": "Output folder: results.md, results.json, layers.png."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace results.* / layers.png in --output that an earlier `culturemert evaluate` did not write."})


def main(argv):
    from ..commands import make_parser

    parser = make_parser("evaluate", (EvaluateCommandArguments, ProbeArguments), light=True)
    command, args = parser.parse_args_into_dataclasses(args=list(argv))
    from ..probing import evaluate_models  # torch: only once the arguments are valid

    if not command.models:
        raise ValueError("Pass at least one model with --models (folders, Hub ids or short names)")
    from ..probing.sharding import is_main_process

    output = evaluate_models(command.models, command.datasets, command.output, args,
                             overwrite=command.overwrite)
    if is_main_process():  # under `accelerate launch`, one report
        sys.stdout.write(output["markdown"] + "\n"
                         + "\n".join(f"wrote {path}" for path in output["files"].values()) + "\n")
    return 0
