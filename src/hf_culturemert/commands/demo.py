"""``culturemert demo [--host 127.0.0.1] [--port N] [--models ID ...] [--offline]``: the Space, locally."""

import logging

from ..demo_arguments import DemoArguments

logger = logging.getLogger(__name__)


def main(argv) -> int:
    from . import make_parser

    parser = make_parser("demo", DemoArguments, light=True)
    parser.description = ("Launch the CultureMERT Gradio demo (tag predictions per tradition and a layer-wise view "
                          "for several models). Falls back to tiny stand-in models when the Hub cannot be reached.")
    (args,) = parser.parse_args_into_dataclasses(list(argv))
    from ..demo import launch

    launch(args)
    return 0
