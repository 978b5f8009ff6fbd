"""``culturemert transfer --preset west-to-east --dry-run``: dataset sizes, runs and estimated GPU-hours.

FLOPs per chunk are counted with ``torch.utils.flop_counter`` on the meta device (nothing allocated, nothing
downloaded); MERT's from the package's analytic count. Training = 3 x forward per crop (1 x forward + the output
layer in head mode, whose backward stops at the head); each epoch also runs one validation crop per track; the test
pass covers every chunk of every track. Track durations are the datasets' clip lengths (MTAT 29 s, FMA 30 s), Lyra's
mean from ``raw.tsv``, and for the Dunya datasets the study's cuts (150 / 780 / 330 s), an upper bound.
"""

import csv
import logging

logger = logging.getLogger(__name__)

MTAT_APPROX = {"train": 19397, "validation": 1616, "test": 4850}  # 25,863 clips, folders 0-b / c / d-f (approx.)
CLIP_SECONDS = {"mtat": 29.1, "fma": 30.0, "makam": 150.0, "hindustani": 780.0, "carnatic": 330.0}


def _lyra_mean_seconds():
    from ..data.registry import resource_path

    with open(resource_path("lyra", "raw.tsv"), encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    spans = [float(r["end-ts"]) - float(r["start-ts"]) for r in rows if r["end-ts"] and r["start-ts"]]
    return sum(spans) / len(spans)


def _forward_flops(family, config):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if family == "mert":
        from ..pretraining.flops import forward_flops_per_second
        from .models import mert_chunk_seconds

        seconds = mert_chunk_seconds(config)
        return forward_flops_per_second(config, clip_seconds=seconds, include_heads=False)["total"] * seconds
    from .models import build_tagger, chunk_frames

    with torch.device("meta"):
        model = build_tagger(family, list(config.id2label.values()), size="published",
                             **({"chunk_frames": chunk_frames(config)} if family != "ast" else
                                {"max_length": chunk_frames(config)}))
        model.eval()
        frames = chunk_frames(config)
        x = torch.empty(1, frames, 128) if family == "ast" else torch.empty(1, 128, frames)
        counter = FlopCounterMode(display=False)
        with counter:
            model(x)
    return float(counter.get_total_flops())


def dry_run_plan(plan):
    from ..data.registry import get_dataset_info
    from .models import set_mert_chunk, tagger_config

    lines = ["From West to East transfer study: plan (dry run; nothing downloaded)", ""]
    sizes, seconds = {}, {}
    lines.append("datasets (Hub id: tracks per split, tags, seconds per track used for the estimate):")
    for name in plan.datasets:
        info = get_dataset_info(name)
        split = {k: (v if v is not None else MTAT_APPROX[k]) for k, v in info.splits.items()}
        sizes[name] = split
        seconds[name] = _lyra_mean_seconds() if name == "lyra" else CLIP_SECONDS.get(name, 30.0)
        approx = " (approx.: official folder split)" if name == "mtat" else ""
        lines.append(f"  {name:<11} {info.repo_id}: train {split['train']}, validation {split['validation']}, test "
                     f"{split['test']}{approx}; {info.num_tags} tags; {seconds[name]:.0f} s")
    from ..pretraining.planning import gpu_hours

    total_hours, rows = 0.0, []
    tflops, mfu = plan.args.gpu_tflops, plan.args.mfu
    singles, transfers = plan.run_names()
    for model, family in plan.models.items():
        values = plan.recipe[family]
        config = tagger_config(family, ["t"], size="published")
        if family == "mert":
            set_mert_chunk(config, values["chunk_seconds"])
            chunk_s = values["chunk_seconds"]
        else:
            frames = int(values["chunk_frames"])
            config = tagger_config(family, ["t"], size="published",
                                   **({"max_length": frames} if family == "ast" else {"chunk_frames": frames}))
            chunk_s = frames * 256 / 16000
        forward = _forward_flops(family, config)
        model_hours = {"single": 0.0, "full": 0.0, "head": 0.0}
        for target in plan.datasets:
            epochs = plan.settings(model, target).epochs
            split = sizes[target]
            test_chunks = split["test"] * max(1, int(seconds[target] // chunk_s))
            evaluation = (epochs * split["validation"] + test_chunks + split["validation"] * 2) * forward
            full = epochs * split["train"] * 3 * forward + evaluation
            head = epochs * split["train"] * forward + evaluation
            if family == "mert":  # head mode = features once per window + probe (negligible)
                head = sum(split[k] * seconds[target] / chunk_s for k in split) * forward
            sources = sum(1 for s, t in plan.pairs if t == target)
            model_hours["single"] += gpu_hours(full, tflops, mfu)
            if "full" in plan.modes:
                model_hours["full"] += gpu_hours(sources * full, tflops, mfu)
            if "head" in plan.modes:
                model_hours["head"] += gpu_hours(sources * head, tflops, mfu)
        hours = sum(model_hours.values())
        total_hours += hours
        rows.append(f"  {model:<20} {forward / 1e9:8.2f} GFLOP/chunk ({chunk_s:.2f} s)   "
                    f"single {model_hours['single']:7.1f}"
                    f"   full {model_hours['full']:7.1f}   head {model_hours['head']:7.1f}   total {hours:7.1f}")
    lines += ["", f"runs: {len(singles)} single-domain + {len(transfers)} transfers "
              f"({len(plan.models)} models x {len(plan.modes)} modes x {len(plan.pairs)} ordered pairs)",
              f"GPU-hours at {plan.args.gpu_tflops:g} TFLOP/s peak and {plan.args.mfu:.0%} MFU (estimate; CNNs "
              "rarely reach it, so read these as lower bounds):"]
    lines += rows
    lines.append(f"  {'all':<20} {total_hours:.1f} GPU-hours")
    lines += ["", "AST starts from ImageNet DeiT-base-distilled-384 (facebook/deit-base-distilled-patch16-384); "
              "MERT rows fine-tune MERTForAudioTagging (full) or probe frozen features (head)."]
    return {"plan": "\n".join(lines), "gpu_hours": total_hours, "runs": len(singles) + len(transfers)}
