"""Feature extraction split across the processes of ``accelerate launch`` (or torchrun), gathered on every process.

The full evaluation is about 1,200 hours of audio per model: under ``accelerate launch ... culturemert evaluate`` (or
``probe``) process ``r`` of ``n`` extracts tracks ``r, r + n, r + 2n, ...`` of each split, and every process receives
all windows back in the order one process would have produced them. Probes are then trained on every process alike
(seconds), and only the main process writes the feature cache and the result files. Without a launcher (one
process) nothing here does anything.
"""

import logging
import os

import numpy as np
import torch

logger = logging.getLogger(__name__)


def _launched() -> bool:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return True
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def process_state(cpu=None):
    """``(rank, world size, local rank)``; joins the launcher's process group (gloo on CPU, NCCL on GPUs) once."""
    if not _launched():
        return 0, 1, 0
    from accelerate import PartialState

    if cpu is None:
        cpu = not torch.cuda.is_available()
    state = PartialState(cpu=cpu)
    return state.process_index, state.num_processes, state.local_process_index


def is_main_process() -> bool:
    return process_state()[0] == 0


def main_process_value(value):
    """The main process's ``value`` on every process (a feature-cache hit is decided once, after the main process
    has written what it extracted before): one process returns ``value`` as it is."""
    if process_state()[1] == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def process_device(device: torch.device) -> torch.device:
    """Each launched process extracts on its own GPU: ``cuda`` becomes ``cuda:<local rank>``."""
    rank, world, local = process_state(cpu=device.type != "cuda")
    if world > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local)
    return device


def _track_ids(ds):
    """The ids one process would give the tracks (``id`` column, else the row number), as strings."""
    if "id" in ds.column_names:
        return [str(value) for value in ds["id"]]
    return [str(index) for index in range(len(ds))]


def merge_shards(parts, track_ids):
    """Windows of every process's share back in the one-process order (track after track, windows in time order).

    Each part names its tracks by their row number in the full split (``track_id``); they get their real ids here."""
    parts = [p for p in parts if p is not None]
    rows = np.concatenate([np.asarray(p["track_id"], dtype=np.int64) for p in parts])
    order = np.argsort(rows, kind="stable")  # windows of one track stay in their (time) order
    merged = {"track_id": [track_ids[row] for row in rows[order]]}
    for key in ("window_start", "window_end", "labels", "features"):
        merged[key] = np.concatenate([p[key] for p in parts])[order]
    return merged


def extract_sharded(extract, backbone, ds, args, device, dtype, description="features", audio_key=None):
    """``extract`` (``features.extract_split_features``) over this process's share of ``ds``, gathered from all.

    One process: ``extract`` on the whole split. A failure on any process (an undecodable track) is raised on all of
    them, with its message, instead of leaving the others waiting."""
    rank, world, _ = process_state(cpu=device.type != "cuda")
    if world == 1:
        return extract(backbone, ds, args, device, dtype, description=description, audio_key=audio_key)
    ids = _track_ids(ds)
    mine = list(range(rank, len(ds), world))
    part, error = None, None
    if mine:
        shard = ds.select(mine)
        if "id" in shard.column_names:
            shard = shard.remove_columns("id")
        shard = shard.add_column("id", [str(row) for row in mine])  # row numbers: the merge restores the order
        try:
            part = extract(backbone, shard, args, device, dtype,
                           description=f"{description} [process {rank + 1}/{world}]",
                           audio_key=None if audio_key is None else (*audio_key, f"process {rank}/{world}"))
        except (ValueError, RuntimeError, OSError) as failure:
            error = f"process {rank}: {failure}"
    logger.info("Process %d/%d extracted %d of %d tracks", rank + 1, world, len(mine), len(ds))
    gathered = [None] * world
    torch.distributed.all_gather_object(gathered, {"part": part, "error": error})
    errors = [g["error"] for g in gathered if g["error"]]
    if errors:
        raise ValueError("Feature extraction failed: " + "; ".join(errors))
    return merge_shards([g["part"] for g in gathered], ids)
