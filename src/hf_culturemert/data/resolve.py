"""How a dataset name becomes data, in one documented order (probe, evaluate, pretrain, transfer, reproduce):

1. a **path** (absolute, holding a ``/``, or starting with ``.`` or ``~``): that folder, which must exist;
2. ``<data_root>/<name>`` when ``--data_root`` is given and that folder exists;
3. a **registry name** (``lyra``, ``makam``, ..., ``western``): the registry's Hub dataset;
4. anything else is refused, naming what was tried.

A bare name is never looked up in the working directory: a ``./lyra`` folder there does not replace the Lyra
dataset (pass ``./lyra`` to use it). This module imports nothing heavy.
"""

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def is_path_like(name) -> bool:
    text = str(name)
    return os.path.isabs(text) or "/" in text or os.sep in text or text.startswith((".", "~"))


def is_registry_name(name) -> bool:
    from .registry import get_dataset_info

    try:
        get_dataset_info(str(name))
    except ValueError:
        return False
    return True


def resolve_dataset(name, data_root=None, require_root=False, argument="dataset"):
    """The folder ``name`` stands for, or None for a registry name (see the module docstring for the order).

    ``require_root``: with ``data_root`` given, a bare name must be a folder under it (pre-training's rule).
    """
    text = str(name)
    if is_path_like(text):
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"{argument} {text}: no such folder")
        return folder
    if data_root is not None:
        candidate = Path(data_root) / text
        if candidate.is_dir():
            return candidate
        if require_root:
            raise FileNotFoundError(f"Dataset {text!r} not found under data_root={data_root} (expected the folder "
                                    f"{candidate}); build it (e.g. `culturemert synthesize`) or fix data_root")
    if is_registry_name(text):
        if Path(text).is_dir():
            logger.warning("%s %s: the registry dataset is used, not the folder ./%s in the working directory "
                           "(pass ./%s to use that folder)", argument, text, text, text)
        return None
    from .registry import ALIASES, DATASETS

    where = f" nor a folder under data_root {data_root}" if data_root is not None else ""
    here = (f"; to use the folder {text} in the working directory, pass ./{text}" if Path(text).is_dir() else "")
    raise FileNotFoundError(f"{argument} {text!r} is neither a registry name ({', '.join([*DATASETS, *ALIASES])})"
                            f"{where}{here}")
