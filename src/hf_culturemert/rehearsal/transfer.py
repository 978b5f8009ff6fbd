"""``culturemert transfer --preset west-to-east --rehearsal``: the real transfer study at a toy budget.

Real: the preset's code path and stages (``run_transfer`` with ``--preset west-to-east``: single-domain training on
each of the six datasets, every ordered pair x both modes, tables, heatmaps, cards), the datasets (built by the real
builders from real-format sources, as for the reproduce rehearsal: :mod:`.sources`), the architectures at their
published sizes (VGG-ish, Musicnn, AST at 128 x 500 with the ImageNet-initialisation code path) and the recipe's
optimiser settings. Shrunk: epochs (1 per run) and tracks (2 s, 2 per split; Lyra 18 / 2 / 2). Not shown: AST's
ImageNet weights (the DeiT it is initialised from is DeiT-base-distilled-384's architecture with random weights,
flagged in ``rehearsal.json``), and anything the numbers would mean. The MERT-family backbones of the preset are Hub
checkpoints and are left out unless ``--models`` names them (they then need the Hub).

Layout of ``--output_dir`` as for the reproduce rehearsal: ``inputs/``, ``study/`` and ``rehearsal.json``.
"""

import dataclasses
import json
import logging
import os
from pathlib import Path

from .study import Timer, prepare_inputs, start

logger = logging.getLogger(__name__)

MODELS = ["vggish", "musicnn", "ast"]
RANDOM_DEIT_NOTE = ("REHEARSAL: AST's ImageNet initialisation ran from DeiT-base-distilled-384's architecture with "
                    "random weights (no checkpoint can be downloaded here); every model's numbers are meaningless.")


def random_deit(folder: Path, seed=0) -> str:
    """DeiT-base-distilled-patch16-384's architecture with random weights, saved as a model folder."""
    import torch
    from transformers import DeiTConfig, DeiTModel

    if not (folder / "config.json").is_file():
        torch.manual_seed(seed)
        config = DeiTConfig(image_size=384, patch_size=16, hidden_size=768, num_hidden_layers=12,
                            num_attention_heads=12, intermediate_size=3072)
        DeiTModel(config, add_pooling_layer=False).save_pretrained(folder)
        (folder / "README.md").write_text(f"# DeiT-base-distilled-384 (random)\n\n{RANDOM_DEIT_NOTE}\n")
    return str(folder)


def rehearse_transfer(args):
    """Run the west-to-east preset's stages at a toy budget (see the module docstring); returns a summary."""
    from ..transfer.models import DEIT_ENV
    from ..transfer.sweep import run_transfer

    out = Path(args.output_dir)
    marker, timer = start(out, "transfer"), Timer()
    inputs = out / "inputs"
    data = prepare_inputs(inputs, timer, args.rehearsal_audio,
                          names=("lyra", "makam", "hindustani", "carnatic", "fma", "mtat"))
    models = list(args.models or MODELS)
    if "ast" in models:
        deit = timer.run("AST initialisation: DeiT-base-distilled-384 config, random weights",
                         lambda: random_deit(inputs / "models" / "deit-base-distilled-384-random", args.seed))
        os.environ[DEIT_ENV] = deit
    study_args = dataclasses.replace(args, rehearsal=False, rehearsal_audio=None, output_dir=str(out / "study"),
                                     data_root=str(inputs / "data"), models=models, epochs=1)
    summary = timer.run("study (the west-to-east preset's stages)", lambda: run_transfer(study_args))
    if summary.get("main_process") is False:
        return summary
    stages = json.loads((out / "study" / "stages.json").read_text())
    timings = {**{f"rehearsal: {k}": v for k, v in timer.seconds.items()},
               **{name: entry.get("seconds") for name, entry in stages.items()}}
    report = {"command": "transfer", "status": "complete", "preset": "west-to-east", "models": models,
              "datasets_run": list(args.datasets or []) or "all six", "pairs": list(args.pairs or []) or "all",
              "modes": list(args.modes),
              "random_weights": RANDOM_DEIT_NOTE if "ast" in models else
              "REHEARSAL: models trained 1 epoch on 2 s tracks; the numbers are meaningless.",
              "datasets": data, "epochs": 1, "stage_seconds": timings, "summary": summary}
    marker.write_text(json.dumps(report, indent=2, default=str))
    return report
