"""Sub-commands of ``culturemert``: one module each, exposing ``main(argv) -> int``; heavy imports inside ``main``."""

import argparse
import dataclasses
import typing


def _register_auto_classes():
    import hf_culturemert

    hf_culturemert.register_auto_classes()  # only once the arguments parsed: --help / errors stay fast


def _string_to_bool(value):
    text = str(value).strip().lower()
    if text in ("yes", "true", "t", "y", "1"):
        return True
    if text in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


class LightParser(argparse.ArgumentParser):
    """``HfArgumentParser``'s flags for plain dataclasses (str/int/float/bool, Optional[...] and List[...] of them)
    without importing transformers, so that ``--help`` and argument errors answer at once. Same spellings:
    ``--a_b`` and ``--a-b``, ``--flag [true|false]``, ``--no_flag`` for flags that default to true, and the
    ``aliases`` of a field's metadata."""

    def __init__(self, dataclass_types, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(**kwargs)
        self.dataclass_types = list(dataclass_types) if isinstance(dataclass_types, (list, tuple)) else [
            dataclass_types]
        for cls in self.dataclass_types:
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                if f.init:
                    self._add_field(f, hints[f.name])

    def _add_field(self, f, annotation):
        options = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        aliases = f.metadata.get("aliases", [])
        options += [aliases] if isinstance(aliases, str) else list(aliases)  # as HfArgumentParser
        kwargs = {"help": f.metadata.get("help")}
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) is typing.Union:
            annotation = args[0]
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if annotation is bool:
            kwargs.update(type=_string_to_bool, nargs="?", const=True, default=bool(default))
        elif typing.get_origin(annotation) in (list, typing.List):
            kwargs.update(type=typing.get_args(annotation)[0], nargs="+", default=default)
        else:
            kwargs.update(type=annotation, default=default)
        if not has_default:
            kwargs["required"] = True
        self.add_argument(*options, dest=f.name, **kwargs)
        if annotation is bool and default is True:
            self.add_argument(f"--no_{f.name}", f"--no-{f.name.replace('_', '-')}", action="store_false",
                              dest=f.name, help=f"Turn --{f.name} off (same as --{f.name} false).")

    def parse_args_into_dataclasses(self, args=None):
        namespace = self.parse_args(args)
        values = vars(namespace)
        parsed = tuple(cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.init})
                       for cls in self.dataclass_types)
        _register_auto_classes()
        return parsed


def make_parser(command, dataclass_types, light=False):
    """A parser whose usage line names the sub-command and whose ``--no_X`` flags have their own help.

    ``light``: :class:`LightParser` (no transformers import; for plain dataclasses), else ``HfArgumentParser``.
    The MERT Auto classes are registered once the arguments parsed (the CLI defers it; see ``hf_culturemert``).
    """
    if light:
        return LightParser(dataclass_types, prog=f"culturemert {command}")
    from transformers import HfArgumentParser

    class _Parser(HfArgumentParser):
        def parse_args_into_dataclasses(self, *args, **kwargs):
            parsed = super().parse_args_into_dataclasses(*args, **kwargs)
            _register_auto_classes()
            return parsed

    parser = _Parser(dataclass_types, prog=f"culturemert {command}")
    for action in parser._actions:
        negatives = [s for s in action.option_strings if s.startswith("--no_") or s.startswith("--no-")]
        if negatives and action.const is False:
            positive = negatives[0][5:]
            action.help = f"Turn --{positive} off (same as --{positive} false)."
    return parser


def quiet_library_progress():
    """Turn off datasets' per-split map/save bars and transformers' weight-loading bars, which drown a long
    pipeline's own progress bar (``reproduce``, ``transfer``)."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
