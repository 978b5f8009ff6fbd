#!/usr/bin/env python
"""Build Turkish makam, Hindustani or Carnatic (CompMusic Dunya) in the Hub layout, with ccml's splits and tags.

    export DUNYA_TOKEN=...   # profile page of https://dunya.compmusic.upf.edu (after an audio-access request)
    python dataset_scripts/dunya.py --tradition makam --output-dir data/makam [--cache-dir ~/dunya-cache]
        [--max-duration 150] [--push-to-hub ORG/turkish-makam --private]

Metadata and mp3s are cached (--cache-dir) and reused, so an interrupted run resumes. Recordings that cannot be
fetched or decoded are skipped and listed in failures.jsonl.
"""

import sys

from hf_culturemert.data.builders.common import cli_main
from hf_culturemert.data.builders.dunya import DunyaArguments, build_dunya


def main(argv=None):
    return cli_main(DunyaArguments, build_dunya, argv, "dunya")


if __name__ == "__main__":
    sys.exit(main())
