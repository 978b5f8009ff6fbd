"""Moved to :mod:`hf_culturemert.models.mert.modeling_mert`; this name stays an alias of that module for old imports."""

import sys

from .models.mert import modeling_mert as _module

sys.modules[__name__] = _module
