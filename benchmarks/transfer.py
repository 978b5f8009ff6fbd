"""Training throughput of the transfer study's taggers: ``Trainer`` (the package's path) vs a plain PyTorch loop.

For each model (VGG-ish, Musicnn, AST) both paths train the same model from the same initial weights on the same
in-memory spectrogram tracks (random mel-dB, the study's chunk lengths), with the same random-crop dataset, batch
size and Adam settings. Clips per second are measured after a warm-up step, in one run, each path ``--repeats``
times in alternating order (best kept); the printed ratio is Trainer / plain loop (the reference). On CPU the
rows run in float32; when a GPU is present a second set of rows runs there (bf16 autocast for both paths).

    python benchmarks/transfer.py            # published sizes, study batch sizes (AST 86 M: slow on CPU)
    python benchmarks/transfer.py --quick    # the miniature sizes (seconds)
"""

import argparse
import sys
import time

import numpy as np
import torch
from _results import save


def tracks(frames, count=64, seed=0, tags=10):
    rng = np.random.default_rng(seed)
    return [{"x": (rng.standard_normal((frames * 2, 128)) * 10 - 30).astype(np.float16),
             "labels": (rng.random(tags) < 0.3).astype(np.float32), "track_id": str(i)} for i in range(count)]


def build(family, size, seed=0):
    from hf_culturemert.transfer.models import build_tagger, chunk_length, feature_extractor

    model = build_tagger(family, [f"t{i}" for i in range(10)], size=size, seed=seed)
    extractor = feature_extractor(family, model.config, **({"mean": -30.0, "std": 10.0} if family == "ast" else {}))
    return model, extractor, chunk_length(model)


def dataset(family, extractor, length, seed):
    from hf_culturemert.transfer.data import RandomCrops
    from hf_culturemert.transfer.training import input_adapter

    to_model, name = input_adapter(family, extractor)
    return RandomCrops(tracks(length), length, to_model, name, seed=seed), name


def collate(items):
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def plain_loop(family, size, batch, steps, device, lr=1e-4):
    model, extractor, length = build(family, size)
    data, name = dataset(family, extractor, length, seed=0)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, collate_fn=collate, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")
    done, start = 0, None
    while done < steps + 1:
        for batch_items in loader:
            inputs, labels = batch_items[name].to(device), batch_items["labels"].to(device)
            with autocast:
                loss = model(inputs, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device == "cuda":
                torch.cuda.synchronize()
            done += 1
            if done == 1:
                start = time.perf_counter()  # after the warm-up step
            if done == steps + 1:
                break
    return steps * batch / (time.perf_counter() - start)


def trainer_loop(family, size, batch, steps, device, lr=1e-4):
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model, extractor, length = build(family, size)
    data, _ = dataset(family, extractor, length, seed=0)
    marks = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if device == "cuda":
                torch.cuda.synchronize()
            marks.append(time.perf_counter())

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        args = TrainingArguments(output_dir=folder, max_steps=steps + 1, per_device_train_batch_size=batch,
                                 save_strategy="no", eval_strategy="no", logging_strategy="no", report_to="none",
                                 disable_tqdm=True, remove_unused_columns=False, dataloader_drop_last=True,
                                 use_cpu=device == "cpu", bf16=device == "cuda", seed=0)
        trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate,
                          optimizers=(optimizer, scheduler), callbacks=[Clock()])
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return steps * batch / (marks[-1] - marks[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="miniature model sizes")
    parser.add_argument("--steps", type=int, default=None, help="measured steps per path (default 6; AST on CPU 2)")
    parser.add_argument("--models", nargs="+", default=["vggish", "musicnn", "ast"])
    parser.add_argument("--ast_cpu_batch", type=int, default=4,
                        help="AST's batch on CPU (the study's 12 makes one 86 M step take minutes on 2 cores)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2,
                        help="measurements per path, in alternating order (plain, Trainer, Trainer, plain, ...); "
                             "the best of each is reported (shared machines are noisy)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    size = "miniature" if options.quick else "published"
    batches = {"vggish": 16, "musicnn": 16, "ast": 12} if not options.quick else {"vggish": 8, "musicnn": 8, "ast": 8}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for family, batch in batches.items():
            if family not in options.models:
                continue
            if family == "ast" and device == "cpu" and not options.quick:
                batch = options.ast_cpu_batch
            steps = options.steps or (20 if options.quick else (2 if family == "ast" and device == "cpu" else 6))
            if device == "cuda":
                steps *= 5
            plains, ours_all = [], []
            for repeat in range(options.repeats):
                order = (plain_loop, trainer_loop) if repeat % 2 == 0 else (trainer_loop, plain_loop)
                for function in order:
                    value = function(family, size, batch, steps, device)
                    (plains if function is plain_loop else ours_all).append(value)
            plain, ours = max(plains), max(ours_all)
            rows.append({"device": device, "model": family, "size": size, "batch": batch, "steps": steps,
                         "trainer_clips_per_s": round(ours, 2), "plain_clips_per_s": round(plain, 2),
                         "ratio": round(ours / plain, 3)})
            print(f"{device:<5} {family:<8} {size:<10} batch {batch:>2}: Trainer {ours:8.2f} clips/s, plain loop "
                  f"{plain:8.2f} clips/s, ratio {ours / plain:.2f}x", flush=True)
    columns = ["device", "model", "size", "batch", "steps", "Trainer clips/s", "plain loop clips/s", "ratio"]
    keys = ["device", "model", "size", "batch", "steps", "trainer_clips_per_s", "plain_clips_per_s", "ratio"]
    path = save("transfer", [{"title": f"Trainer against a plain PyTorch loop ({size} sizes, {options.threads} threads)",
                              "columns": columns, "rows": [[str(row[k]) for k in keys] for row in rows]}],
                notes=[f"Training clips/s, best of {options.repeats} alternating repeats; the ratio is Trainer / "
                       "plain loop, the same model, crops, batch and Adam."],
                command=" ".join(["python benchmarks/transfer.py", *sys.argv[1:]]),
                title="The transfer study's Trainer against a plain loop")
    print(f"figures saved to {path}")


if __name__ == "__main__":
    main()
