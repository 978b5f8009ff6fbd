#!/usr/bin/env python
"""Build the OTMM makam recognition dataset (1,000 real makam melodies, resynthesised) in the Hub layout.

    # offline, from the pitch subset shipped with the package (46 ms pitch steps):
    python dataset_scripts/otmm.py --output_dir data/otmm [--absolute_pitch] [--max_duration 150]
    # from the originals (2.9 ms pitch steps):
    git clone https://github.com/MTG/otmm_makam_recognition_dataset
    git clone https://github.com/MTG/otmm_tonic_dataset
    python dataset_scripts/otmm.py --otmm_dir otmm_makam_recognition_dataset \\
        --tonic_annotations otmm_tonic_dataset/annotations.json --output_dir data/otmm

CC BY-NC-SA 4.0: non-commercial use; what you build from it is shared under the same licence.
"""

import sys

from hf_culturemert.data.builders.common import cli_main
from hf_culturemert.data.builders.otmm import OTMMArguments, build_otmm


def main(argv=None):
    return cli_main(OTMMArguments, build_otmm, argv, "otmm")


if __name__ == "__main__":
    sys.exit(main())
