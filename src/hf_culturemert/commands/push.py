"""``culturemert push {model,dataset,space} PATH --repo-id ORG/NAME [--private] [--revision R] [--dry-run]``."""

import logging
import math
import sys
from dataclasses import dataclass, field
from typing import List, Optional

from ..publish import DEFAULT_IGNORE, KINDS, MAX_FILE_GB, format_size, push_folder

logger = logging.getLogger(__name__)


@dataclass
class PushArguments:
    kind: str = field(metadata={"help": "What the folder holds: model, dataset or space.", "choices": list(KINDS)})
    path: str = field(metadata={"help": "The folder to upload (a Hub-ready model/dataset/Space folder)."})
    repo_id: str = field(metadata={"help": "Target repository, ORG/NAME."})
    private: bool = field(default=False, metadata={"help": "Create the repository as private."})
    revision: Optional[str] = field(default=None, metadata={"help": "Branch to upload to (created if missing)."})
    dry_run: bool = field(default=False, metadata={"help": "Check the folder and list what would be uploaded "
                                                           "(files and sizes); upload nothing."})
    commit_message: Optional[str] = field(default=None, metadata={"help": "Commit message."})
    create_pr: bool = field(default=False, metadata={"help": "Open a pull request instead of committing."})
    ignore_patterns: List[str] = field(default_factory=lambda: list(DEFAULT_IGNORE),
                                       metadata={"help": "fnmatch patterns of files to leave out "
                                                         "(default: caches, __pycache__, build leftovers)."})
    allow_files: List[str] = field(default_factory=list, metadata={
        "help": "fnmatch patterns (paths in the folder) of files to upload although they look like secrets (a "
                "file named token, an hf_... string, a private key) or exceed --max_file_gb."})
    max_file_gb: float = field(default=MAX_FILE_GB, metadata={"help": "Largest file to upload, in GB (the Hub's "
                                                                      "limit per file is 50)."})

    def __post_init__(self):
        if not (math.isfinite(self.max_file_gb) and self.max_file_gb > 0):
            raise ValueError(f"--max_file_gb must be a positive number, got {self.max_file_gb}")


def main(argv) -> int:
    argv = list(argv)
    # positional KIND PATH, as in `culturemert push model ./folder --repo-id org/name`
    positional = []
    while argv and not argv[0].startswith("-") and len(positional) < 2:
        positional.append(argv.pop(0))
    argv = [item for pair in zip(("--kind", "--path"), positional) for item in pair] + argv
    from ..commands import make_parser

    parser = make_parser("push", PushArguments, light=True)
    parser.description = ("Publish a model, dataset or Space folder to the Hugging Face Hub. The token comes from "
                          "$HF_TOKEN or `hf auth login` and is never printed.")
    (args,) = parser.parse_args_into_dataclasses(argv)
    result = push_folder(args.kind, args.path, args.repo_id, private=args.private, revision=args.revision,
                         dry_run=args.dry_run, commit_message=args.commit_message, create_pr=args.create_pr,
                         ignore_patterns=args.ignore_patterns, allow_files=args.allow_files,
                         max_file_gb=args.max_file_gb)
    plan = result.plan
    if args.dry_run:
        sys.stdout.write(plan.summary() + "\n")
        verdict = "valid" if plan.ok else "NOT valid"
        sys.stdout.write(f"dry run: folder is {verdict} for a {plan.kind} repo; nothing was uploaded\n")
        return 0 if plan.ok else 1
    for text in plan.warnings:
        logger.warning(text)
    sys.stdout.write(f"uploaded {len(plan.files)} files ({format_size(plan.total_bytes)}) to {result.repo_url}\n")
    return 0
