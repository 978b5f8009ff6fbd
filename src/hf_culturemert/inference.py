"""Fast frozen-weight inference: ``torch.compile`` (inductor) with weight freezing.

Why: a MERT forward pass on CPU is GEMM/convolution-bound, so eager PyTorch is already near the machine's fp32
peak in the big layers; what is left is the memory-bound glue (GroupNorm + GELU over 512 x 48,000 values per
10 s clip, LayerNorms, bias adds). Inductor fuses that glue, and freezing folds the weights into the graph as
constants so oneDNN can use pre-packed weights. Measured on 2 shared CPU cores (95M, 10 s clips, several runs):
0.9-1.15x over our eager path, 0.98-1.27x over transformers' HubertModel (``benchmarks/forward.py``): on such a CPU
it mostly does not pay; outputs within 1e-5 of eager in fp32. On GPUs it also removes the launch overhead of the
many small kernels (unmeasured here).

The weights are constants of the compiled graph: use it for inference only, and compile again after changing them.
Each new input shape compiles once (tens of seconds on CPU), so feed fixed-size windows, as
:func:`hf_culturemert.features.extract_features` does.
"""

import logging

import torch

logger = logging.getLogger(__name__)


class CompiledMERT(torch.nn.Module):
    """A MERT model (backbone or task model) run through ``torch.compile`` with inductor's weight freezing.

    Attribute access falls through to the wrapped model (``config``, ``_get_feat_extract_output_lengths`` ...), so
    it can stand in for it in :func:`~hf_culturemert.features.extract_features` and the probing code.
    """

    def __init__(self, model, mode=None, dynamic=False):
        super().__init__()
        if model.training:
            logger.info("compile_for_inference: switching the model to eval mode")
        self.model = model.eval()
        # `options` scopes inductor's freezing to this compiled model (no process-wide config change)
        self.compiled = torch.compile(model, mode=mode, dynamic=dynamic, options={"freezing": True})

    def forward(self, *args, **kwargs):
        with torch.no_grad():
            return self.compiled(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("model"), name)


def compile_for_inference(model, mode=None, dynamic=False):
    """Wrap ``model`` for fast frozen-weight inference (see the module docstring); returns a :class:`CompiledMERT`."""
    if isinstance(model, CompiledMERT):
        return model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"compile_for_inference expects a MERT model (torch.nn.Module), got {type(model).__name__}")
    return CompiledMERT(model, mode=mode, dynamic=dynamic)


__all__ = ["CompiledMERT", "compile_for_inference"]
