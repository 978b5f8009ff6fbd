"""MERT pre-training on Trainer: collator, objective, NaN stop, starting points, outputs, recipes."""

import json
from pathlib import Path
import logging

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoModel, HfArgumentParser

import hf_culturemert  # noqa: F401  (registers the Auto classes)
from hf_culturemert.export import save_model_folder
from hf_culturemert.models.mert.modeling_mert import MERTForPreTraining, MERTModel, compute_span_mask
from hf_culturemert.pretraining import (HEADS_FILE, MERTPretrainingCollator, MERTPretrainingTrainer,
                                        NonFiniteLossError, PretrainingArguments, forward_flops_per_second,
                                        load_pretraining_model, load_recipe, noise_mixup, run_pretraining,
                                        stage_arguments)
from hf_culturemert.pretraining.data import sine_corpus
from hf_culturemert.pretraining.testing import tiny_pretraining_config, tiny_teachers
from hf_culturemert.teachers import model_frames

SR = 24000


pytestmark = pytest.mark.usefixtures("single_thread")


def make_args(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path / "run"), model_name_or_path=None, config_name=None,
                  train_datasets=["sine:8:0"], crop_seconds=0.5, min_crop_seconds=0.25, mixup_min_seconds=0.05,
                  mixup_max_seconds=0.1, per_device_train_batch_size=2, max_steps=2, logging_steps=1,
                  save_steps=100, report_to="none", disable_tqdm=True, learning_rate=1e-3, seed=0, use_cpu=True)
    values.update(overrides)
    (args,) = HfArgumentParser(PretrainingArguments).parse_dict(values)
    return args


def examples(n=3, seconds=(1.0, 0.8, 1.3), seed=0):
    rng = np.random.default_rng(seed)
    return [{"id": f"clip-{i}", "audio": {"array": rng.standard_normal(int(seconds[i % len(seconds)] * SR))
                                          .astype(np.float32) * 0.1, "sampling_rate": SR}} for i in range(n)]


# ------------------------------------------------------------------------------------------------ collator
def test_collator_crops_cuts_to_shortest_and_masks():
    collator = MERTPretrainingCollator(crop_seconds=0.5, min_crop_seconds=0.25, noise_mixup=False)
    batch = collator(examples(3, seconds=(1.0, 0.3, 2.0)))
    assert batch["input_values"].shape == (3, int(0.3 * SR))  # cut to the shortest clip (0.3 s)
    frames = model_frames(int(0.3 * SR))
    mask = batch["mask_time_indices"]
    assert mask.shape == (3, frames) and mask.dtype == torch.bool
    assert (mask.sum(1) >= 2 * 5).all() or (mask.sum(1) >= 5).all()  # at least two spans (may overlap)
    assert int(batch["num_skipped"][0]) == 0


def test_mask_ratio_matches_mert():
    collator = MERTPretrainingCollator(crop_seconds=5.0, min_crop_seconds=3.0, noise_mixup=False)
    ratios = [collator(examples(4, seconds=(5.0,), seed=s))["mask_time_indices"].float().mean() for s in range(5)]
    assert 0.45 < float(torch.stack(ratios).mean()) < 0.65  # ~55% of frames masked with (0.8, 5)


def test_collator_is_a_function_of_ids_and_epoch():
    collator = MERTPretrainingCollator(crop_seconds=0.5, min_crop_seconds=0.25, mixup_probability=1.0,
                                       mixup_min_seconds=0.05, mixup_max_seconds=0.1)
    a, b = collator(examples(3)), collator(examples(3))
    assert torch.equal(a["input_values"], b["input_values"]) and torch.equal(a["mask_time_indices"],
                                                                             b["mask_time_indices"])
    collator.epoch = 1
    c = collator(examples(3))
    assert not torch.equal(a["mask_time_indices"], c["mask_time_indices"])


def test_crop_offsets_on_frame_boundaries_and_codes_follow():
    wave = np.arange(SR * 2, dtype=np.float32) / 1e5  # sample value encodes its index
    codes = np.tile(np.arange(160, dtype=np.int16), (8, 1))  # frame index as the code
    collator = MERTPretrainingCollator(crop_seconds=0.5, min_crop_seconds=0.25, noise_mixup=False)
    for seed in range(4):
        collator.seed = seed
        batch = collator([{"id": "x", "audio": {"array": wave, "sampling_rate": SR}, "codec_codes": codes}])
        start = int(round(float(batch["input_values"][0, 0]) * 1e5))
        assert start % 320 == 0
        labels = batch["codec_labels"][0]
        assert labels.shape == (8, model_frames(int(0.5 * SR)))
        assert int(labels[0, 0]) == start // 320 and int(labels[0, -1]) == start // 320 + labels.shape[1] - 1


def test_noise_mixup_adds_other_clips_and_keeps_clean():
    clean = torch.zeros(3, 24000)
    clean[1] = 1.0
    generator = torch.Generator().manual_seed(0)
    mixed, changed = noise_mixup(clean, generator, probability=1.0, min_samples=12000, max_samples=24000)
    assert changed and torch.equal(clean[0], torch.zeros(24000))  # the input is not modified
    added = (mixed - clean).abs().sum(1)
    assert added[0] > 0 and added[2] > 0  # clips 0 and 2 can only have received clip 1
    segment = (mixed[0] != 0).sum()
    assert 12000 <= segment <= 3 * 24000
    assert not noise_mixup(clean[:1], generator, probability=1.0)[1]  # a batch of one has no partner


def test_undecodable_examples_are_skipped_and_counted():
    good = examples(2)
    bad = {"id": "broken", "audio": {"bytes": b"not audio at all", "path": None}}
    collator = MERTPretrainingCollator(crop_seconds=0.5, min_crop_seconds=0.25, noise_mixup=False)
    batch = collator([good[0], bad, good[1]])
    assert int(batch["num_skipped"][0]) == 1 and batch["input_values"].shape[0] == 2
    empty = collator([bad])
    assert float(empty["batch_weight"][0]) == 0.0 and int(empty["num_skipped"][0]) == 1


def test_collator_decodes_encoded_audio_ranges():
    dataset = sine_corpus(2, seed=3, min_seconds=1.0, max_seconds=1.5)
    collator = MERTPretrainingCollator(crop_seconds=0.5, min_crop_seconds=0.25, noise_mixup=False)
    batch = collator([dataset[0], dataset[1]])
    assert batch["input_values"].shape == (2, int(0.5 * SR))
    assert batch["input_values"].abs().max() > 0.01


# ------------------------------------------------------------------------------------------------ objective
def fixed_batch():
    collator = MERTPretrainingCollator(crop_seconds=0.5, min_crop_seconds=0.25, noise_mixup=False)
    return collator(examples(2, seconds=(0.5,)))


def _train_on_fixed_batch(steps=20, autocast_dtype=None):
    """``steps`` Adam steps of the MERT loss on one batch; returns (model, losses, last output)."""
    torch.manual_seed(0)
    encodec, cqt = tiny_teachers()
    model = MERTForPreTraining(tiny_pretraining_config(feature_grad_mult=0.1)).train()
    batch = fixed_batch()
    frames = batch["mask_time_indices"].shape[1]
    labels = dict(codec_labels=encodec(batch["input_values"], frames), cqt_labels=cqt(batch["input_values"], frames))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3, betas=(0.9, 0.98), eps=1e-6)
    losses = []
    for _ in range(steps):
        with torch.autocast("cpu", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            out = model(batch["input_values"], mask_time_indices=batch["mask_time_indices"],
                        output_hidden_states=True, **labels)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.loss.detach()))
    return model, losses, out


def test_losses_are_means_over_masked_valid_frames_only():
    """Losses are fairseq's: means over the masked frames, padding excluded."""
    torch.manual_seed(0)
    encodec, cqt = tiny_teachers()
    model = MERTForPreTraining(tiny_pretraining_config()).eval()
    waves = torch.randn(2, 12000)
    attention_mask = torch.ones(2, 12000, dtype=torch.long)
    attention_mask[1, 7000:] = 0
    frames = model_frames(12000)
    masked = compute_span_mask(2, frames, 0.5, 5, 2, generator=torch.Generator().manual_seed(1))
    codes, spectra = encodec(waves, frames), cqt(waves, frames)
    out = model(waves, attention_mask=attention_mask, mask_time_indices=masked, codec_labels=codes, cqt_labels=spectra)
    valid = model.mert._frame_mask(attention_mask, frames)[1]
    selected = masked & valid
    assert (masked & ~valid).any()  # some masked frames are padding, and must not count
    logits, targets = out.codebook_logits, codes.transpose(1, 2)[selected]  # [N, K, C], [N, K]
    assert logits.shape[0] == int(selected.sum())  # eager: the heads ran on the selected frames only
    expected_ce = sum(torch.nn.functional.cross_entropy(logits[:, k], targets[:, k]) for k in range(targets.shape[1]))
    torch.testing.assert_close(out.codebook_loss, expected_ce)
    torch.testing.assert_close(out.codebook_accuracy, (logits.argmax(-1) == targets).float().mean(0))
    torch.testing.assert_close(out.cqt_loss, torch.nn.functional.mse_loss(out.cqt_prediction, spectra[selected]))


def test_training_step_compiles_as_one_graph():
    """`--torch_compile`: the whole forward + loss is one graph (fullgraph raises on any break; a boolean-mask
    gather or a requires_grad_ on an activation used to split it), and its frame-weighted loss equals eager's
    gather-then-mean."""
    torch.manual_seed(0)
    encodec, cqt = tiny_teachers()
    model = MERTForPreTraining(tiny_pretraining_config(feature_grad_mult=0.1, layerdrop=0.0)).train()
    batch = fixed_batch()
    frames = batch["mask_time_indices"].shape[1]
    inputs = dict(input_values=batch["input_values"], mask_time_indices=batch["mask_time_indices"],
                  codec_labels=encodec(batch["input_values"], frames), cqt_labels=cqt(batch["input_values"], frames))
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    eager, graph = model(**inputs), compiled(**inputs)
    graph.loss.backward()
    for name in ("loss", "codebook_loss", "cqt_loss", "codebook_accuracy"):
        torch.testing.assert_close(getattr(graph, name), getattr(eager, name), rtol=1e-5, atol=1e-5, msg=name)
    assert graph.codebook_logits.shape[0] == inputs["input_values"].shape[0] * inputs["mask_time_indices"].shape[1]
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_loss_falls_on_a_fixed_batch():
    _, losses, out = _train_on_fixed_batch()
    assert out.hidden_states[-1].dtype == torch.float32
    assert losses[-1] < 0.5 * losses[0]
    assert float(out.codebook_accuracy.mean()) > 0.5  # learnt to predict masked codes of this batch (chance ~1/50)


def test_loss_falls_under_bf16_autocast():
    """The culturemert-95m recipe trains in bf16 (autocast, fp32 master weights): the objective must still learn."""
    model, losses, out = _train_on_fixed_batch(autocast_dtype=torch.bfloat16)
    assert out.hidden_states[-1].dtype == torch.bfloat16  # autocast really ran the encoder in bf16
    assert out.loss.dtype == torch.float32 and all(p.dtype == torch.float32 for p in model.parameters())
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]
    assert float(out.codebook_accuracy.mean()) > 0.5


def test_bf16_run_logs_finite_losses_and_saves_float32(tmp_path):
    args = make_args(tmp_path, max_steps=3, logging_steps=1, bf16=True, config_name=str(tmp_path / "config.json"),
                     encodec_model="random-tiny")
    tiny_pretraining_config().to_json_file(str(tmp_path / "config.json"))
    _, cqt = tiny_teachers()
    output = run_pretraining(args, cqt_teacher=cqt)
    summary = json.loads((tmp_path / "run" / "pretraining_complete.json").read_text())
    assert summary["bf16"] is True and summary["global_step"] == 3 and np.isfinite(summary["train_loss"])
    with safe_open(f"{output}/model.safetensors", "pt") as handle:  # fp32 master weights saved, not bf16 copies
        assert {handle.get_tensor(k).dtype for k in handle.keys()} == {torch.float32}
    model = MERTModel.from_pretrained(output)
    with torch.no_grad():
        hidden = model(torch.randn(1, 8000)).last_hidden_state
    assert torch.isfinite(hidden).all()


def test_trainer_logs_components_and_throughput(tmp_path):
    args = make_args(tmp_path, max_steps=2, logging_steps=1)
    encodec, cqt = tiny_teachers()
    model = MERTForPreTraining(tiny_pretraining_config())
    trainer = MERTPretrainingTrainer(model=model, args=args, encodec_teacher=encodec, cqt_teacher=cqt,
                                     train_dataset=sine_corpus(8, 0, 0.6, 1.0),
                                     data_collator=MERTPretrainingCollator.from_args(args, model.config))
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2
    for key in ("codebook_loss", "cqt_loss", "feature_penalty", "acc_cb0", "acc_cb7", "masked_accuracy",
                "audio_seconds_per_second", "skipped_samples"):
        assert key in logs[-1], key
    assert logs[-1]["audio_seconds_per_second"] > 0
    assert trainer.state.total_flos > 0


def test_nan_loss_stops_naming_step_and_component(tmp_path):
    args = make_args(tmp_path, max_steps=3)
    encodec, cqt = tiny_teachers()

    class NaNCQT(torch.nn.Module):
        n_bins = cqt.n_bins

        def forward(self, waveform, num_frames=None):
            out = cqt(waveform, num_frames)
            return out * float("nan") if trainer.state.global_step >= 1 else out

    model = MERTForPreTraining(tiny_pretraining_config())
    trainer = MERTPretrainingTrainer(model=model, args=args, encodec_teacher=encodec, cqt_teacher=NaNCQT(),
                                     train_dataset=sine_corpus(8, 0, 0.6, 1.0),
                                     data_collator=MERTPretrainingCollator.from_args(args, model.config))
    with pytest.raises(NonFiniteLossError, match=r"step 2 .*'cqt_loss'"):
        trainer.train()


# ------------------------------------------------------------------------------------------------ starting points
def test_base_checkpoint_loads_under_prefix_with_fresh_heads(tmp_path, caplog):
    config = tiny_pretraining_config()
    torch.manual_seed(0)
    base = MERTModel(config)
    save_model_folder(base, tmp_path / "base")
    with caplog.at_level(logging.WARNING, logger="hf_culturemert.pretraining.modeling"):
        model = load_pretraining_model(str(tmp_path / "base"), feature_grad_mult=0.1)
    assert "freshly initialised" in caplog.text
    assert model.config.feature_grad_mult == 0.1
    for name, tensor in base.state_dict().items():
        assert torch.equal(model.mert.state_dict()[name], tensor), name


def test_output_folder_is_a_hub_model_with_heads(tmp_path):
    args = make_args(tmp_path, max_steps=1, save_steps=1, config_name=str(tmp_path / "config.json"),
                     freeze=["feature_extractor"], encodec_model="random-tiny")
    tiny_pretraining_config().to_json_file(str(tmp_path / "config.json"))
    _, cqt = tiny_teachers()
    output = run_pretraining(args, cqt_teacher=cqt)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "model.safetensors", "modeling_mert.py", "configuration_mert.py", "README.md",
            "preprocessor_config.json", HEADS_FILE, "pretraining_complete.json"} <= files
    assert not any(name.startswith("checkpoint-") for name in files)  # a clean Hub upload by default
    model, info = MERTModel.from_pretrained(output, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    auto = AutoModel.from_pretrained(output, trust_remote_code=True)
    assert type(auto).__name__ == "MERTModel"
    # the CNN was frozen (unchanged from the random init of the same seed), the transformer was trained
    torch.manual_seed(args.seed)
    init = MERTForPreTraining(tiny_pretraining_config()).mert.state_dict()
    trained_state = model.state_dict()
    assert all(torch.equal(init[k], v) for k, v in trained_state.items() if k.startswith("feature_extractor."))
    assert not torch.equal(init["encoder.layers.0.attention.q_proj.weight"],
                           trained_state["encoder.layers.0.attention.q_proj.weight"])
    # continuing from the folder restores the trained heads
    again = load_pretraining_model(output)
    trained = json.loads((tmp_path / "run" / "pretraining_complete.json").read_text())
    assert trained["global_step"] == 1
    from safetensors.torch import load_file

    heads = load_file(str(tmp_path / "run" / HEADS_FILE))
    assert torch.equal(again.final_proj.weight, heads["final_proj.weight"])
    # a complete output is skipped, not retrained
    assert run_pretraining(args, cqt_teacher=cqt) == output


# ------------------------------------------------------------------------------------------------ recipes & FLOPs
def test_recipes_parse_with_overrides(tmp_path):
    recipe = load_recipe("culturemert-95m")
    assert recipe["defaults"]["bf16"] is True
    stages = stage_arguments(recipe, {"output_dir": str(tmp_path), "stage1.max_steps": 7, "seed": 3,
                                      "use_cpu": True})  # bf16 on CPU needs use_cpu
    (n1, s1), (n2, s2) = stages
    assert (n1, n2) == ("stage1", "stage2")
    assert s1.max_steps == 7 and s2.max_steps == 40000 and s1.seed == s2.seed == 3
    assert s1.replay_datasets == ["western"] and s1.replay_probability == 0.2 and s1.freeze == ["feature_extractor"]
    assert s2.replay_datasets == [] and s2.model_name_or_path == str(tmp_path / "stage1")
    assert (s1.adam_beta1, s1.adam_beta2, s1.adam_epsilon, s1.weight_decay, s1.max_grad_norm) == \
        (0.9, 0.98, 1e-6, 0.01, 10.0)
    assert s1.bf16 and s1.feature_grad_mult == 0.1 and s1.mask_prob == 0.8 and s1.mask_length == 5
    assert s2.lr_scheduler_type == "linear" and s1.lr_scheduler_type == "constant_with_warmup"
    with pytest.raises(ValueError, match="Unknown argument"):
        stage_arguments(recipe, {"not_a_field": 1})
    tiny = stage_arguments(load_recipe("tiny"), {"output_dir": str(tmp_path / "t")})
    assert [a.config_name for _, a in tiny] == ["tiny", None]


def test_flops_per_audio_second_of_95m():
    from hf_culturemert.export import reference_config

    parts = forward_flops_per_second(reference_config("95M"), clip_seconds=10.0)
    assert abs(parts["cnn"] / 1e9 - 7.35) < 0.1
    assert abs(parts["pos_conv"] / 1e9 - 0.71) < 0.02
    assert abs(parts["linears"] / 1e9 - 12.7) < 0.1
    assert 22.0 < (parts["total"] - parts["heads"]) / 1e9 < 24.0  # ~22.9 GFLOP/s at 10 s


# ------------------------------------------------------------------------------------------------ data paths
def test_streaming_with_replay_runs(tmp_path):
    args = make_args(tmp_path, streaming=True, max_steps=2, train_datasets=["sine:6:0"], replay_datasets=["sine:4:1"],
                     replay_probability=0.5, config_name=str(tmp_path / "config.json"), encodec_model="random-tiny")
    tiny_pretraining_config().to_json_file(str(tmp_path / "config.json"))
    from hf_culturemert.pretraining.data import build_train_dataset

    stream = build_train_dataset(args)
    ids = [example["id"] for _, example in zip(range(12), stream)]
    assert any(i.startswith("sine-1-") for i in ids) and any(i.startswith("sine-0-") for i in ids)
    _, cqt = tiny_teachers()
    run_pretraining(args, cqt_teacher=cqt)
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["global_step"] == 2


def test_precomputed_codes_replace_the_online_teacher(tmp_path):
    from hf_culturemert.pretraining.data import precompute_codes

    encodec, cqt = tiny_teachers()
    dataset = precompute_codes(sine_corpus(4, 0, 0.6, 1.0), encodec)
    codes = np.asarray(dataset[0]["codec_codes"])
    assert codes.shape == (8, -(-int(round(dataset[0]["duration"] * SR)) // 320))

    calls = []

    class Spy(torch.nn.Module):
        num_codebooks, codebook_size = 8, 1024

        def check_compatible(self, config):
            pass

        def forward(self, *a, **k):
            calls.append(1)
            return encodec(*a, **k)

    args = make_args(tmp_path, max_steps=2)
    model = MERTForPreTraining(tiny_pretraining_config())
    trainer = MERTPretrainingTrainer(model=model, args=args, encodec_teacher=Spy(), cqt_teacher=cqt,
                                     train_dataset=dataset,
                                     data_collator=MERTPretrainingCollator.from_args(args, model.config))
    trainer.train()
    assert trainer.state.global_step == 2 and not calls


def test_cli_overrides_and_tiny_recipe_end_to_end(tmp_path, capsys):
    from hf_culturemert.commands.pretrain import main, parse_overrides

    assert parse_overrides(["--recipe", "tiny", "--stage1.max_steps", "3", "--freeze", "[feature_extractor]",
                            "--bf16=false", "--streaming"]) == {
        "recipe": "tiny", "stage1.max_steps": 3, "freeze": ["feature_extractor"], "bf16": False, "streaming": True}
    assert main(["--recipe", "tiny", "--output_dir", str(tmp_path), "--max_steps", "1", "--use_cpu", "true"]) == 0
    assert capsys.readouterr().out.strip().endswith("stage2")
    for stage in ("stage1", "stage2"):
        assert (tmp_path / stage / "pretraining_complete.json").is_file()
    assert MERTModel.from_pretrained(tmp_path / "stage2").config.hidden_size == 32
    # issue 17.7: the same recipe over that run with another learning rate refuses instead of keeping the old weights
    from hf_culturemert import cli

    before = (tmp_path / "stage1" / "model.safetensors").read_bytes()
    assert cli.main(["pretrain", "--recipe", "tiny", "--output_dir", str(tmp_path), "--max_steps", "1", "--use_cpu",
                     "true", "--learning_rate", "0.05"]) == 1
    err = capsys.readouterr().err
    assert "holds a run with other settings (learning_rate:" in err and "-> 0.05" in err and "Traceback" not in err
    assert (tmp_path / "stage1" / "model.safetensors").read_bytes() == before


def test_masking_switched_off_predicts_every_frame(tmp_path):
    args = make_args(tmp_path, apply_mask=False, noise_mixup=False)
    encodec, cqt = tiny_teachers()
    model = MERTForPreTraining(tiny_pretraining_config())
    collator = MERTPretrainingCollator.from_args(args, model.config)
    batch = collator(examples(2, seconds=(0.5,)))
    assert "mask_time_indices" not in batch and "clean_input_values" not in batch
    trainer = MERTPretrainingTrainer(model=model, args=args, encodec_teacher=encodec, cqt_teacher=cqt,
                                     train_dataset=sine_corpus(2, 0), data_collator=collator)
    loss, outputs = trainer.compute_loss(model.train(), batch, return_outputs=True)
    frames = model_frames(batch["input_values"].shape[1])
    assert torch.isfinite(loss) and outputs.codebook_logits.shape[0] == 2 * frames  # every frame is a target
    assert not outputs.mask_time_indices.any()


def test_skip_and_resume_refuse_other_settings_and_name_them(tmp_path):
    """Issue 17.7: the settings are stored with every run; a complete or resumable run with other settings is
    refused (naming each difference), never silently kept."""
    from hf_culturemert.pretraining.run import SETTINGS_FILE

    args = make_args(tmp_path, max_steps=2, save_steps=1, keep_checkpoints=True,
                     config_name=str(tmp_path / "config.json"), encodec_model="random-tiny")
    tiny_pretraining_config().to_json_file(str(tmp_path / "config.json"))
    _, cqt = tiny_teachers()
    import os
    import stat

    umask = os.umask(0o022)
    try:
        output = run_pretraining(args, cqt_teacher=cqt)
    finally:
        os.umask(umask)
    weights = list(Path(output).rglob("*.safetensors"))  # the model folder, its heads and the checkpoints
    assert any("checkpoint-" in str(p) for p in weights)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in weights), [(p, oct(p.stat().st_mode)) for p in weights]
    stored = json.loads((Path(output) / SETTINGS_FILE).read_text())
    assert stored["learning_rate"] == 1e-3
    before = (Path(output) / "model.safetensors").read_bytes()
    changed = make_args(tmp_path, max_steps=2, save_steps=1, keep_checkpoints=True, learning_rate=0.05,
                        config_name=str(tmp_path / "config.json"), encodec_model="random-tiny")
    with pytest.raises(ValueError, match=r"learning_rate: 0.001 -> 0.05.*refusing to skip"):
        run_pretraining(changed, cqt_teacher=cqt)
    assert (Path(output) / "model.safetensors").read_bytes() == before
    assert run_pretraining(args, cqt_teacher=cqt) == output  # same settings: still skipped
    # an interrupted run (checkpoints, no completion marker) resumed with other settings is refused as well
    (Path(output) / "pretraining_complete.json").unlink()
    with pytest.raises(ValueError, match=r"learning_rate: 0.001 -> 0.05.*refusing to resume from .*checkpoint-2"):
        run_pretraining(changed, cqt_teacher=cqt)


def test_negative_learning_rate_is_refused_before_any_folder(tmp_path):
    with pytest.raises(ValueError, match="learning_rate must be a finite number >= 0, got -0.1"):
        make_args(tmp_path, learning_rate=-0.1)
    assert not (tmp_path / "run").exists()
