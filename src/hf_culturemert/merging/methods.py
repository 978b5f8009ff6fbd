"""Per-tensor merge arithmetic: thin wrappers around ``peft.utils.merge_utils`` (the reference implementations).

Every function here takes float32 task vectors ``tau_i = theta_i - theta_base`` of one tensor and returns the
merged task vector; the caller adds it to the base. ``weights`` are ``lambda * w_i`` (for ``average``:
``w_i / sum w``), applied by peft before the sum / disjoint mean.
"""

import warnings
import zlib

import torch
from peft.utils import merge_utils

from .recipe import METHODS


def dare_seed(seed, key):
    """Seed of DARE's drop mask for tensor ``key``: depends only on the recipe seed and the tensor name, so the
    output does not depend on the order of tensors or on which other tensors are merged."""
    return (int(seed) * 1_000_003 + zlib.crc32(key.encode("utf-8"))) % (2**63 - 1)


def merge_task_vectors(task_vectors, weights, method, density=None, majority_sign_method="total", seed=0, key=""):
    """Merge the float32 task vectors of one tensor with ``method`` (see :data:`METHODS` for papers / formulas).

    DARE methods draw their masks from torch's generator seeded with :func:`dare_seed` ``(seed, key)`` inside
    ``torch.random.fork_rng`` (the global RNG state is left untouched).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown merge method {method!r}; choose one of {', '.join(METHODS)}")
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if method in ("task_arithmetic", "average"):
        return merge_utils.task_arithmetic(task_vectors, weights)
    with warnings.catch_warnings():
        # density 1 is allowed and means "no pruning"; peft warns about it on every tensor
        warnings.filterwarnings("ignore", message=r"The density .* no pruning will be performed")
        if method == "ties":
            return merge_utils.ties(task_vectors, weights, density, majority_sign_method)
        if method == "magnitude_prune":
            return merge_utils.magnitude_prune(task_vectors, weights, density)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(dare_seed(seed, key))
            if method == "dare_linear":
                return merge_utils.dare_linear(task_vectors, weights, density)
            return merge_utils.dare_ties(task_vectors, weights, density, majority_sign_method)
