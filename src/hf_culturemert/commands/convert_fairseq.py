"""``culturemert convert-fairseq --input MERT-v1-95M_fairseq.pt --output DIR [--config CONFIG] [--trust-pickle]``

Converts the original fairseq MERT checkpoint to a Hub-ready folder (safetensors backbone + config + remote code)
plus ``pretraining_heads.safetensors`` with MERT's trained heads, the best start for continual pre-training.
The file is read with ``torch.load(weights_only=True)``; ``--trust-pickle`` allows files that also pickle Python
objects (unknown classes become inert stubs) - only for files from a source you trust.
"""

import argparse
import sys


def main(argv):
    parser = argparse.ArgumentParser(prog="culturemert convert-fairseq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="fairseq checkpoint (.pt), e.g. MERT-v1-95M_fairseq.pt")
    parser.add_argument("--output", required=True, help="output folder (Hub-ready model)")
    parser.add_argument("--config", default=None,
                        help="config.json to start from (default: the packaged MERT-v1-95M config, corrected from "
                             "the checkpoint)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow a checkpoint that torch.load(weights_only=True) refuses (trusted files only)")
    args = parser.parse_args(argv)
    from .. import register_auto_classes
    from ..pretraining.convert import convert_fairseq_checkpoint

    register_auto_classes()

    output = convert_fairseq_checkpoint(args.input, args.output, trust_pickle=args.trust_pickle,
                                        config=args.config)
    sys.stdout.write(f"{output}\n")
    return 0
