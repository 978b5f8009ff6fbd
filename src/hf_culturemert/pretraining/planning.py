"""The dry runs' cost model, shared by ``culturemert reproduce --dry_run`` and ``culturemert transfer --dry_run``.

Two estimates. From FLOPs: a FLOP count (``flops.forward_flops_per_second`` for MERT, a meta-device count for the
transfer taggers) at a GPU's dense bf16 peak (``PEAK_TFLOPS_BF16``) and an assumed utilisation (MFU). From
measured step costs: a rehearsal's ``step_costs.json`` on the target GPU, whose seconds per clip-second of a step
(batch x crop) scale to the recipe's audio per run. A rehearsal step is an upper bound of a real one: it includes the
first step's warm-up and runs a batch too small to fill a GPU.
"""

import json
from pathlib import Path

# Dense bf16 tensor-core peaks (TFLOP/s) of common accelerators, for the MFU estimate.
PEAK_TFLOPS_BF16 = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 989.0, "H800": 989.0,
    "GH200": 989.0, "B200": 2250.0, "A100": 312.0, "A800": 312.0, "A10G": 70.0, "A10": 125.0, "L40S": 362.0,
    "L40": 181.0, "L4": 121.0, "RTX 4090": 165.0, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0,
}

DEFAULT_GPU = "H100 SXM"  # the GPU the studies' plans are priced on
DEFAULT_MFU = 0.25


def peak_tflops(gpu: str = DEFAULT_GPU) -> float:
    """Dense bf16 peak TFLOP/s of a GPU named in ``PEAK_TFLOPS_BF16``."""
    if gpu not in PEAK_TFLOPS_BF16:
        raise ValueError(f"No peak TFLOP/s known for GPU {gpu!r}; known: {', '.join(PEAK_TFLOPS_BF16)}")
    return PEAK_TFLOPS_BF16[gpu]


def gpu_hours(flops: float, tflops: float, mfu: float) -> float:
    """GPU-hours for ``flops`` at ``tflops`` peak and a utilisation ``mfu`` in (0, 1]."""
    return flops / (tflops * 1e12 * mfu) / 3600


def measured_cost_lines(path, audio_seconds_per_run: float, runs: int) -> list:
    """Dry-run lines from a rehearsal's ``step_costs.json``."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--step_costs {file}: no such file (a rehearsal writes OUTPUT_DIR/step_costs.json)")
    try:
        costs = json.loads(file.read_text(encoding="utf-8"))
        per_second = float(costs["seconds_per_clip_second"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--step_costs {file}: not a rehearsal's step_costs.json ({error})") from error
    hours = runs * audio_seconds_per_run * per_second / 3600
    steps = len(costs.get("runs", []))
    return [f"measured step cost ({file}, {steps} rehearsal steps on {costs.get('device', 'unknown device')}): "
            f"{per_second:.3g} s per clip-second -> {hours:.1f} device-hours of pre-training on that device "
            f"({runs} runs; an upper bound: rehearsal batches are tiny and include warm-up)"]
