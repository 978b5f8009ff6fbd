"""``culturemert demo [--host 127.0.0.1] [--port N] [--models ID ...] [--offline]``: the Space, locally."""

import logging

from transformers import HfArgumentParser

from ..demo import DemoArguments, launch

logger = logging.getLogger(__name__)


def main(argv) -> int:
    parser = HfArgumentParser(DemoArguments, prog="culturemert demo",
                              description="Launch the CultureMERT Gradio demo (tag predictions per tradition and a "
                                          "layer-wise view for several models). Falls back to tiny stand-in models "
                                          "when the Hub cannot be reached.")
    (args,) = parser.parse_args_into_dataclasses(list(argv))
    launch(args)
    return 0
