#!/usr/bin/env python
"""Build FMA-medium (ccml's split, top-20 genres) in the Hub layout from fma_medium.zip.

    python dataset_scripts/fma.py --audio fma_medium.zip [--tracks-csv fma_metadata/tracks.csv] --output-dir data/fma
"""

import sys

from hf_culturemert.data.builders.common import cli_main
from hf_culturemert.data.builders.fma import FMAArguments, build_fma


def main(argv=None):
    return cli_main(FMAArguments, build_fma, argv, "fma")


if __name__ == "__main__":
    sys.exit(main())
