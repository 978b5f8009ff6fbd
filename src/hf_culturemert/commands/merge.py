"""``culturemert merge``: merge MERT checkpoints (task arithmetic = CultureMERT-TA, TIES, DARE, ...).

Examples::

    culturemert merge --base m-a-p/MERT-v1-95M --models lyra/ makam/ hindustani/ carnatic/ \\
        --method task_arithmetic --lambda 0.2 --output CultureMERT-TA-95M
    culturemert merge --recipe merge-culturemert-ta.yaml --output out/
    culturemert merge --recipe merge-culturemert-ta.yaml --lambda-grid 0.1,0.2,0.3 \\
        --eval-datasets lyra makam --eval-data-root data/ --output out/

Values of a ``--recipe`` YAML file are defaults; flags given on the command line override them.
"""

import argparse
import sys
from dataclasses import dataclass, field
from typing import Optional

from ..commands import make_parser
from ..merging.recipe import MergeRecipe

_COMMA_LISTS = {"--lambda_grid", "--lambda-grid", "--weights", "--eval_seeds", "--eval-seeds"}


@dataclass
class RecipeFileArguments:
    recipe: Optional[str] = field(default=None, metadata={
        "help": "YAML recipe file (fields of MergeRecipe; `lambda` is accepted for `weight`). Command-line flags "
                "override its values. Example: src/hf_culturemert/recipes/merge-culturemert-ta.yaml."})


def expand_comma_lists(argv):
    """``--lambda-grid 0.1,0.2`` -> ``--lambda-grid 0.1 0.2`` (also ``--weights``, ``--eval-seeds``)."""
    expanded, in_list = [], False
    for token in argv:
        if token.startswith("-") and not _is_number(token):
            name, eq, value = token.partition("=")
            in_list = name in _COMMA_LISTS
            if in_list and eq:
                expanded.append(name)
                expanded += [v for v in value.split(",") if v]
                continue
            expanded.append(token)
        elif in_list:
            expanded += [v for v in token.split(",") if v]
        else:
            expanded.append(token)
    return expanded


def _is_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def build_parser():
    """The merge options without importing torch or transformers (argument errors answer at once)."""
    parser = make_parser("merge", (MergeRecipe, RecipeFileArguments), light=True)
    parser.description = __doc__.split("\n\n")[0]
    return parser


def parse_args(argv):
    """(MergeRecipe, RecipeFileArguments) from command-line arguments (recipe file values as defaults)."""
    argv = expand_comma_lists(list(argv))
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe")
    known, _ = pre.parse_known_args(argv)
    parser = build_parser()
    if known.recipe:
        parser.set_defaults(**MergeRecipe.yaml_values(known.recipe))
    recipe, file_args = parser.parse_args_into_dataclasses(args=argv)
    return recipe, file_args


def main(argv=None):
    recipe, _ = parse_args(sys.argv[1:] if argv is None else argv)
    from ..merging import run_merge, sweep_lambda

    if not recipe.output:
        raise ValueError("Pass --output FOLDER (where the merged, Hub-ready model folder is written)")
    if recipe.lambda_grid:
        sweep = sweep_lambda(recipe)
        sys.stdout.write(f"Selected lambda {sweep.best_lambda:g} ({len(sweep.rows)} candidates); merged model in "
                         f"{sweep.merge.output}; sweep table {sweep.files['markdown']}\n")
        return 0
    result = run_merge(recipe)
    sys.stdout.write(f"Merged {len(result.merged_keys)} tensors ({recipe.method}, {len(recipe.models)} models); "
                     f"{len(result.copied_keys)} copied from the base -> {result.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
