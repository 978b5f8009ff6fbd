#!/usr/bin/env python
"""Build MagnaTagATune (top-50 tags, folders 0-b/c/d-f split) in the Hub layout from the official files.

    cat mp3.zip.001 mp3.zip.002 mp3.zip.003 > mp3.zip
    python dataset_scripts/mtat.py --audio mp3.zip --annotations annotations_final.csv --output-dir data/mtat
"""

import sys

from hf_culturemert.data.builders.common import cli_main
from hf_culturemert.data.builders.mtat import MTATArguments, build_mtat


def main(argv=None):
    return cli_main(MTATArguments, build_mtat, argv, "mtat")


if __name__ == "__main__":
    sys.exit(main())
