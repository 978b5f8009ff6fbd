"""The 95m study's dry run: stages, data sizes and GPU-hours (priced by ``pretraining.planning``)."""


from .arguments import PAPER_HOURS, RECIPE_GPUS, ReproduceArguments
from .miniature import full_eval_datasets

def plan(args: ReproduceArguments):
    """The 95m study's plan: stages, data sizes and GPU-hours from FLOPs per audio-second (nothing downloaded)."""
    from ..export import reference_config
    from ..pretraining.flops import training_flops_per_second
    from ..pretraining.planning import DEFAULT_GPU, gpu_hours, measured_cost_lines, peak_tflops
    from ..pretraining.recipes import load_recipe

    recipe = load_recipe("culturemert-95m")
    config = reference_config("95M")
    flops_per_audio_second = training_flops_per_second(config, clip_seconds=5.0)
    # the recipe's global batch (per-device batch x 8 GPUs) is kept on any number of GPUs (gradient accumulation)
    batch = recipe["defaults"].get("per_device_train_batch_size", 32) * RECIPE_GPUS
    crop = recipe["defaults"].get("crop_seconds", 5.0)
    steps = sum(stage.get("max_steps", 0) for stage in recipe["stages"])
    audio_seconds_per_run = steps * batch * crop
    runs = len(args.traditions) + 1
    hours = gpu_hours(runs * audio_seconds_per_run * flops_per_audio_second, peak_tflops(DEFAULT_GPU), args.mfu)
    wall_hours = hours / args.gpus
    lines = ["CultureMERT-95M study plan (dry run; nothing downloaded)", ""]
    lines.append(f"base model: {args.base_model or 'm-a-p/MERT-v1-95M'}"
                 + (f" (+ fairseq heads from {args.fairseq_checkpoint})" if args.fairseq_checkpoint else ""))
    lines.append(f"recipe: culturemert-95m, {len(recipe['stages'])} stages, {steps} steps, "
                 f"{batch} clips x {crop:.0f} s per step ({batch / args.gpus:g} per GPU on {args.gpus} GPUs)")
    lines.append("data (paper hours): " + ", ".join(f"{t} {PAPER_HOURS[t]} h" for t in args.traditions)
                 + f", western replay {PAPER_HOURS['western']} h")
    from ..data import get_dataset_info

    lines.append("datasets (Hub id: recordings per split, tags):")
    datasets = full_eval_datasets(args)
    for name in datasets:
        info = get_dataset_info(name)
        sizes = ", ".join(f"{split} {count if count is not None else 'official'}"
                          for split, count in info.splits.items())
        lines.append(f"  {name:<11} {info.repo_id}: {sizes}; {info.num_tags} tags")
    lines.append("stages:")
    for tradition in args.traditions:
        lines.append(f"  stage: continual pre-training on {tradition} -> models/single-{tradition}")
    lines.append("  stage: continual pre-training on all -> models/culturemert")
    lines.append(f"  stage: task arithmetic merge, lambda grid {args.lambda_grid} -> models/culturemert-ta")
    lines.append(f"  stage: probing of {runs + 2} models on {datasets}, seeds {args.probe_seeds or [0, 1, 2]}")
    lines.append(f"training FLOPs per audio-second (95M, fwd+bwd): {flops_per_audio_second / 1e9:.1f} GFLOP")
    lines.append(f"pre-training audio per run: {audio_seconds_per_run / 3600:.0f} h of audio")
    lines.append(f"estimated pre-training cost: {hours:.1f} {DEFAULT_GPU} GPU-hours at {args.mfu:.0%} MFU "
                 f"({runs} runs), {wall_hours:.2f} h wall on {args.gpus} GPUs")
    if args.step_costs:
        lines += measured_cost_lines(args.step_costs, audio_seconds_per_run, runs)
    text = "\n".join(lines)
    return {"plan": text, "gpu_hours": hours, "wall_hours": wall_hours, "steps": steps, "runs": runs}
