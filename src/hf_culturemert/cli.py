"""The ``culturemert`` command line: one entry point, one module per sub-command.

Each sub-command lives in ``hf_culturemert.commands.<name>`` and exposes ``main(argv) -> int``; arguments are
dataclasses parsed with ``transformers.HfArgumentParser`` so the Python API and the CLI share one definition.
Modules are imported lazily so that ``culturemert --help`` is instant.
"""

import importlib
import logging
import sys

COMMANDS = {
    "embed": "Extract MERT features (per window and pooled, with timestamps) from audio files.",
    "synthesize": "Generate the synthetic multi-tradition corpus (the offline default data).",
    "pretrain": "Continual pre-training with MERT's objective (recipes: tiny, culturemert-95m).",
    "convert-fairseq": "Convert the original fairseq MERT checkpoint (with pre-training heads) to safetensors.",
    "merge": "Merge MERT checkpoints (task arithmetic = CultureMERT-TA, TIES, DARE, ...).",
    "probe": "Train MARBLE-style probes on frozen features of one model and dataset.",
    "evaluate": "Probe several models on several datasets and write model-card tables, JSON and plots.",
    "push": "Publish a model, dataset or Space folder to the Hugging Face Hub.",
    "demo": "Launch the Gradio demo locally.",
    "transfer": "The West-to-East transfer study: VGG-ish, Musicnn, AST (+ MERT) across datasets (miniature default).",
    "reproduce": "Run the whole CultureMERT study (miniature by default, full scale with --preset culturemert-95m).",
}


def _usage():
    lines = ["usage: culturemert <command> [options]", "", "commands:"]
    lines += [f"  {name:<16} {text}" for name, text in COMMANDS.items()]
    lines += ["", "Run `culturemert <command> --help` for the options of a command."]
    return "\n".join(lines)


def _is_user_error(error):
    """Expected user errors are reported in one line; anything else keeps its traceback (a bug to report)."""
    if isinstance(error, (ValueError, FileNotFoundError, RuntimeError, PermissionError, IsADirectoryError,
                          NotADirectoryError, FileExistsError)):
        return True
    return type(error).__name__ in _ONE_LINE_ERRORS


# exception classes of dependencies, matched by name so that the CLI imports none of them up front
_ONE_LINE_ERRORS = {"SafetensorError", "ArrowInvalid", "ArrowIOError", "HfHubHTTPError", "RepositoryNotFoundError",
                    "LocalEntryNotFoundError", "OfflineModeIsEnabled", "UnpicklingError"}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(_usage() + "\n")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        sys.stderr.write(f"culturemert: unknown command {name!r}\n\n{_usage()}\n")
        return 2
    # every command's parser (hf_culturemert.commands.make_parser) registers the Auto classes once its arguments
    # parsed, so that argument errors answer without importing torch
    from . import runstate
    from .outputs import is_disk_full

    runstate.reset_where_stopped()
    try:  # the import too: a Ctrl-C while torch loads is an interruption like any other
        module = importlib.import_module(f"hf_culturemert.commands.{name.replace('-', '_')}")
        return int(module.main(argv[1:]) or 0)
    except KeyboardInterrupt:  # Ctrl-C: one line, where it stopped and how to go on
        sys.stderr.write(f"culturemert {name}: interrupted{runstate.where_stopped()}; {_RESUME}\n")
        _exit_on_next_interrupt()
        return 130
    except Exception as error:  # noqa: BLE001 -- re-raised unless it is an expected user error
        if is_disk_full(error):
            where = f" writing {error.filename}" if getattr(error, "filename", None) else ""
            sys.stderr.write(f"culturemert {name}: error: no space left on the device{where}"
                             f"{runstate.where_stopped()}; free some space, then {_RESUME}\n")
            return 1
        if not _is_user_error(error):
            raise
        text = " ".join(str(error).split()) or type(error).__name__  # one line, every part of the message
        sys.stderr.write(f"culturemert {name}: error: {text}\n")
        return 1


_RESUME = "rerun the same command to resume (finished stages and written files are kept)"


def _exit_on_next_interrupt():
    """Once interrupted, another Ctrl-C (or one raised late by a library while the process shuts down) ends the
    process at once with the same status, not with a second traceback."""
    import os
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))


if __name__ == "__main__":
    sys.exit(main())
