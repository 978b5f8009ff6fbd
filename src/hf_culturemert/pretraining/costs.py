"""The dry run's second estimate: GPU-hours from pre-training step costs a rehearsal measured (``step_costs.json``).

The FLOP estimate assumes a utilisation; a rehearsal on the target GPU measures one. Its seconds per clip-second of
a step (batch x crop) scale to the recipe's audio per run. A rehearsal step is an upper bound of a real one: it
includes the first step's warm-up and runs a batch too small to fill a GPU.
"""

import json
from pathlib import Path


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
