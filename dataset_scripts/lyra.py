#!/usr/bin/env python
"""Build the Lyra dataset (Greek traditional and folk music) in the Hub layout from your own video downloads.

    python dataset_scripts/lyra.py --videos-dir ~/lyra-videos --output-dir data/lyra [--push-to-hub ORG/lyra --private]

Download the 74 videos listed in the `youtube-id` column of Lyra's raw.tsv (e.g. with yt-dlp, audio only is enough)
into one folder, files named <youtube-id>.<ext>. Each piece is cut at its start-ts/end-ts. Splits: official
training/test, validation = ccml's 10% of training (seed 10). Rerun to resume; skipped pieces -> failures.jsonl.
"""

import sys

from hf_culturemert.data.builders.common import cli_main
from hf_culturemert.data.builders.lyra import LyraArguments, build_lyra


def main(argv=None):
    return cli_main(LyraArguments, build_lyra, argv, "lyra")


if __name__ == "__main__":
    sys.exit(main())
