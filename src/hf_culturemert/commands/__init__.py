"""Sub-commands of ``culturemert``: one module each, exposing ``main(argv) -> int``; heavy imports inside ``main``."""


def make_parser(command, dataclass_types):
    """``HfArgumentParser`` whose usage line names the sub-command and whose ``--no_X`` flags have their own help.

    The MERT Auto classes are registered once the arguments parsed (the CLI defers it; see ``hf_culturemert``).
    """
    from transformers import HfArgumentParser

    class _Parser(HfArgumentParser):
        def parse_args_into_dataclasses(self, *args, **kwargs):
            parsed = super().parse_args_into_dataclasses(*args, **kwargs)
            import hf_culturemert

            hf_culturemert.register_auto_classes()  # only once the arguments parsed: --help / errors stay fast
            return parsed

    parser = _Parser(dataclass_types, prog=f"culturemert {command}")
    for action in parser._actions:
        negatives = [s for s in action.option_strings if s.startswith("--no_") or s.startswith("--no-")]
        if negatives and action.const is False:
            positive = negatives[0][5:]
            action.help = f"Turn --{positive} off (same as --{positive} false)."
    return parser
