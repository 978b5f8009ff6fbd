"""Write a ``.safetensors`` file tensor by tensor, so a merge never holds its output model in memory.

The safetensors layout is: 8-byte little-endian header length, a JSON header (name -> dtype, shape, byte offsets;
``__metadata__``), then the raw little-endian bytes of every tensor, contiguous. The merge knows every output name,
dtype and shape before it computes anything (they are the base's), so the header is written first and each tensor
is appended as soon as it is merged. The file is written as ``<name>.partial`` and renamed when complete.
"""

import json
import math
import os
import struct
import sys
from pathlib import Path

import torch

DTYPE_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
               torch.bool: "BOOL"}


class SafetensorsStreamWriter:
    """``writer = SafetensorsStreamWriter(path, {name: (dtype, shape)}, metadata)``; then ``writer.write(name,
    tensor)`` for every name, in the given order; then ``writer.close()`` (or use it as a context manager)."""

    def __init__(self, path, specs, metadata=None):
        if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
            raise RuntimeError("SafetensorsStreamWriter needs a little-endian machine")
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._order, self._specs = list(specs), {}
        header, offset = {}, 0
        for name in self._order:
            dtype, shape = specs[name]
            if dtype not in DTYPE_NAMES:
                raise ValueError(f"Tensor {name!r}: dtype {dtype} cannot be written to safetensors")
            shape = [int(s) for s in shape]
            size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
            header[name] = {"dtype": DTYPE_NAMES[dtype], "shape": shape, "data_offsets": [offset, offset + size]}
            self._specs[name] = (dtype, tuple(shape))
            offset += size
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
        encoded += b" " * (-len(encoded) % 8)  # the reference writer aligns the data section to 8 bytes
        self._file = open(self._partial, "wb")
        self._file.write(struct.pack("<Q", len(encoded)))
        self._file.write(encoded)
        self._next = 0

    def write(self, name, tensor):
        expected = self._order[self._next] if self._next < len(self._order) else None
        if name != expected:
            raise RuntimeError(f"SafetensorsStreamWriter expected tensor {expected!r} next, got {name!r}")
        dtype, shape = self._specs[name]
        if tensor.dtype != dtype or tuple(tensor.shape) != shape:
            raise RuntimeError(f"Tensor {name!r} is {tensor.dtype} {tuple(tensor.shape)}, the header declares "
                               f"{dtype} {shape}")
        data = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()
        self._file.write(memoryview(data))
        self._next += 1

    def close(self):
        if self._file is None:
            return self.path
        if self._next != len(self._order):
            self.abort()
            raise RuntimeError(f"{self.path}: only {self._next} of {len(self._order)} tensors were written")
        self._file.close()
        self._file = None
        os.replace(self._partial, self.path)
        return self.path

    def abort(self):
        """Drop the partial file (on errors), leaving no truncated weights behind."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._partial.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.close()
        return False
