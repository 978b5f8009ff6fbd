"""Lazy tensor readers for merge inputs: safetensors (one tensor at a time, positioned reads), pickled torch
weights (opt-in), the weight files of a folder, and file hashes for the provenance record."""

import hashlib
import json
import math
import os
import struct
from pathlib import Path

import torch

_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                       "U8": torch.uint8, "BOOL": torch.bool}


_SHA_CACHE = {}


def sha256_file(path, chunk_size=1 << 23):
    """sha256 of a file (cached by path, size and mtime: a lambda sweep hashes each input once)."""
    path = Path(path).resolve()
    stat = path.stat()
    cache_key = (str(path), stat.st_size, stat.st_mtime_ns)
    if cache_key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(chunk_size), b""):
                digest.update(chunk)
        _SHA_CACHE[cache_key] = digest.hexdigest()
    return _SHA_CACHE[cache_key]


class SafetensorsFiles:
    """Tensors of one or more safetensors files, read one key at a time with a positioned ``readinto``.

    Not ``safe_open``: it memory-maps the file, and every page a merge reads stays resident (counted in RSS) until
    the file is closed, so a merge of N models would peak at N + 1 models of RSS. Here each tensor is read into
    its own buffer and freed once merged; the operating system's page cache (not this process) keeps the file.
    """

    def __init__(self, files):
        self._files, self._where = {}, {}
        for path in files:
            handle = open(path, "rb")
            self._files[path] = handle
            try:
                (length,) = struct.unpack("<Q", handle.read(8))
                if length > 100 * 2**20:
                    raise ValueError("header longer than 100 MB")
                header = json.loads(handle.read(length))
            except (struct.error, ValueError, UnicodeDecodeError) as error:
                raise ValueError(f"{path} is not a valid safetensors file ({error}); re-download or re-save it") \
                    from error
            header.pop("__metadata__", None)
            file_size = os.fstat(handle.fileno()).st_size
            for key, info in header.items():
                begin, end = info["data_offsets"]
                dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
                if dtype is None:
                    raise ValueError(f"{path}: tensor {key!r} has dtype {info['dtype']}, which merging does not "
                                     "support")
                shape = tuple(int(s) for s in info["shape"])
                size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
                if end - begin != size or 8 + length + end > file_size:
                    raise ValueError(f"{path}: tensor {key!r} has inconsistent offsets (truncated or corrupt file); "
                                     "re-download or re-save it")
                self._where[key] = (path, 8 + length + begin, size, dtype, shape)

    def keys(self):
        return list(self._where)

    def spec(self, key):
        _, _, _, dtype, shape = self._where[key]
        return shape, dtype

    def get(self, key):
        path, offset, size, dtype, shape = self._where[key]
        if size == 0:
            return torch.empty(shape, dtype=dtype)
        buffer = bytearray(size)
        handle = self._files[path]
        handle.seek(offset)
        if handle.readinto(buffer) != size:
            raise ValueError(f"{path}: tensor {key!r} is truncated; re-download or re-save the file")
        return torch.frombuffer(buffer, dtype=dtype).reshape(shape)

    def close(self):
        for handle in self._files.values():
            handle.close()
        self._files.clear()


class TorchFiles:
    """Tensors of ``pytorch_model.bin`` file(s), loaded with ``torch.load(weights_only=True)`` (memory-mapped)."""

    def __init__(self, files):
        self._tensors = {}
        for path in files:
            try:
                state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
                state = torch.load(str(path), map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
                raise ValueError(f"{path} is not a flat state dict of tensors (name -> tensor)")
            self._tensors.update(state)

    def keys(self):
        return list(self._tensors)

    def spec(self, key):
        tensor = self._tensors[key]
        return tuple(tensor.shape), tensor.dtype

    def get(self, key):
        return self._tensors[key]

    def close(self):
        self._tensors.clear()


def weight_files(folder):
    """(format, files) of a model folder: sharded or single safetensors first, then pickled torch weights."""
    for index_name, fmt in (("model.safetensors.index.json", "safetensors"), ("pytorch_model.bin.index.json", "bin")):
        index = folder / index_name
        if index.is_file():
            weight_map = json.loads(index.read_text())["weight_map"]
            files = [folder / name for name in dict.fromkeys(weight_map.values())]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                raise FileNotFoundError(f"{index} lists shard(s) that are missing: {', '.join(missing)}")
            return fmt, files
    if (folder / "model.safetensors").is_file():
        return "safetensors", [folder / "model.safetensors"]
    if (folder / "pytorch_model.bin").is_file():
        return "bin", [folder / "pytorch_model.bin"]
    raise FileNotFoundError(f"{folder} has no weights: expected model.safetensors (or model.safetensors.index.json "
                            "with shards, or pytorch_model.bin), or adapter_config.json + adapter_model.safetensors "
                            "for a LoRA adapter")
