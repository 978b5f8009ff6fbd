"""FSDP2 continual pre-training of ``MERTForPreTraining`` on 2 CPU processes (gloo), wrapped by accelerate's own code.

accelerate 1.15 promotes ``ACCELERATE_USE_FSDP`` / an FSDP plugin to ``DistributedType.FSDP`` only from a
multi-*accelerator* state: on CPU the state stays ``MULTI_CPU`` and ``prepare`` wraps the model in DDP (checked
with ``accelerate launch --use_fsdp --fsdp_version 2`` and with ``TrainingArguments(fsdp=..., fsdp_config={"version":
2})``). So the worker calls accelerate's ``fsdp2_prepare_model`` (what ``Accelerator.prepare`` runs for FSDP2 on
GPUs, TRANSFORMER_BASED_WRAP over ``_no_split_modules``) with a stand-in Accelerator. That call used to fail on
MERT models (transformers' ``get_input_embeddings`` fallback raised NotImplementedError). The test checks that the
parameters really are sharded DTensors, that a few steps of MERT's loss (labels from the tiny teachers, AdamW, grad
clipping) end with the same weights as one process taking the same steps, that bf16 mixed precision learns, and
that the gathered full state dict has the unsharded names and round-trips through the Hub-ready output folder.
The last test runs the whole Trainer loop under accelerate's FSDP2 (one device check lifted, see its worker) and
checks checkpoint/resume equality.
"""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.usefixtures("single_thread")

STEPS = 3
LR = 1e-3
MAX_GRAD_NORM = 1.0

WORKER = r'''
import json, sys
from types import SimpleNamespace
import torch
torch.set_num_threads(1)
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy
from torch.distributed.tensor import DTensor, Shard
from accelerate.utils import FullyShardedDataParallelPlugin
from accelerate.utils.fsdp_utils import fsdp2_prepare_model
from hf_culturemert.models.mert.configuration_mert import MERTConfig
from hf_culturemert.models.mert.modeling_mert import MERTForPreTraining
from hf_culturemert.pretraining import save_pretraining_output

work = sys.argv[1]
steps, lr, max_grad_norm = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
setup = torch.load(f"{work}/setup.pt")
torch.manual_seed(0)
model = MERTForPreTraining(MERTConfig.from_json_file(f"{work}/config.json"))
model.load_state_dict(setup["init"])
model.train()
unsharded_keys = sorted(model.state_dict())

# Wrap with accelerate's own FSDP2 code (what `accelerate launch --use_fsdp --fsdp_version 2` runs on GPUs, with
# TRANSFORMER_BASED_WRAP over `_no_split_modules`); only the Accelerator is a stand-in, because on CPU accelerate
# never enters its FSDP state. bf16: bf16 compute, fp32 sharded weights and gradient reduction.
plugin = FullyShardedDataParallelPlugin(fsdp_version=2, auto_wrap_policy="transformer_based_wrap")
if sys.argv[5] == "bf16":
    plugin.mixed_precision_policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
accelerator = SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin), torch_device_mesh=None,
                              device=torch.device("cpu"), is_main_process=rank == 0, mixed_precision="no")
model = fsdp2_prepare_model(accelerator, model)

params = dict(model.named_parameters())
placements = {name: param.placements for name, param in params.items() if isinstance(param, DTensor)}
local_numel = sum(param.to_local().numel() for param in params.values())
full_numel = sum(param.numel() for param in params.values())

optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
batch = {k: v.chunk(world)[rank] for k, v in setup["batch"].items()}  # each rank its own half (data parallel)
losses = []
for _ in range(steps):
    optimizer.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    total = loss.detach().clone()
    dist.all_reduce(total)
    losses.append(float(total) / world)
grad_is_dtensor = all(isinstance(p.grad, DTensor) for p in model.parameters() if p.grad is not None)
with torch.no_grad():  # the dtype the encoder computes in under this policy
    hidden_dtype = str(model(**batch, output_hidden_states=True).hidden_states[-1].dtype)

sharded = model.state_dict()  # sharded: DTensors under the unsharded names
full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
report = {
    "rank": rank, "world": world, "is_fsdp_module": isinstance(model, FSDPModule),
    "fsdp_blocks": sum(isinstance(m, FSDPModule) for m in model.modules()),
    "all_params_dtensor": all(isinstance(p, DTensor) for p in params.values()),
    "all_shard0": all(p == (Shard(0),) for p in placements.values()),
    "mesh": str(params["mert.encoder.layers.0.attention.q_proj.weight"].device_mesh),
    "example_placement": repr(params["mert.encoder.layers.0.attention.q_proj.weight"].placements),
    "local_numel": local_numel, "full_numel": full_numel, "losses": losses,
    "grad_is_dtensor": grad_is_dtensor, "hidden_dtype": hidden_dtype,
    "param_dtypes": sorted({str(p.dtype) for p in model.parameters()}), "grad_norm_type": type(grad_norm).__name__,
    "sharded_keys_match": sorted(sharded) == unsharded_keys,
    "sharded_values_dtensor": all(isinstance(v, DTensor) for v in sharded.values()),
    "full_keys_missing": sorted(set(unsharded_keys) - set(full)),
    "full_keys_extra": sorted(set(full) - set(unsharded_keys)),
    "full_plain_tensors": all(type(v) is torch.Tensor for v in full.values()),
}
if rank == 0:  # full_state_dict + cpu_offload: only rank 0 holds the gathered tensors
    torch.save(full, f"{work}/fsdp_full.pt")
    final = MERTForPreTraining(model.config)
    final.load_state_dict(full)  # strict: every name of the unsharded model, nothing else
    save_pretraining_output(final, f"{work}/fsdp_output")
with open(f"{work}/rank{rank}.json", "w") as handle:
    json.dump(report, handle)
dist.barrier()
dist.destroy_process_group()
'''


def _setup(work):
    from hf_culturemert.models.mert.modeling_mert import MERTForPreTraining, compute_span_mask
    from hf_culturemert.pretraining.testing import tiny_pretraining_config, tiny_teachers
    from hf_culturemert.testing import sine_wave

    config = tiny_pretraining_config(feature_grad_mult=0.1)
    config.to_json_file(str(work / "config.json"))
    torch.manual_seed(0)
    model = MERTForPreTraining(config)
    waves = torch.stack([torch.from_numpy(sine_wave(0.5, f, seed=i)) for i, f in enumerate((220, 330, 440, 550))])
    num_frames = int(model._get_feat_extract_output_lengths(waves.shape[-1]))
    encodec, cqt = tiny_teachers()
    with torch.no_grad():
        batch = {"input_values": waves, "codec_labels": encodec(waves, num_frames),
                 "cqt_labels": cqt(waves, num_frames), "mask_time_indices": compute_span_mask(4, num_frames, 0.5, 5, 2,
                                                        generator=torch.Generator().manual_seed(0))}
    assert batch["mask_time_indices"].any(dim=1).all()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"init": init, "batch": batch}, work / "setup.pt")
    return config, init, batch


def _single_process(config, init, batch, world=2):
    """The same steps in one process: the mean of the per-rank losses (what FSDP's averaged gradients descend)."""
    from hf_culturemert.models.mert.modeling_mert import MERTForPreTraining

    model = MERTForPreTraining(config)
    model.load_state_dict(init)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    halves = [{k: v.chunk(world)[r] for k, v in batch.items()} for r in range(world)]
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        loss = sum(model(**half).loss for half in halves) / world
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        losses.append(float(loss.detach()))
    return model, losses


def _torchrun_two_ranks(work, name, source, *argv):
    """Write ``source`` to ``work/name``, run it on 2 CPU ranks (torchrun, gloo), fail with its output if it fails."""
    script = work / name
    script.write_text(source)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               *argv]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=work)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])


def _launch(work, precision):
    _torchrun_two_ranks(work, "fsdp_worker.py", WORKER, str(work), str(STEPS), str(LR), str(MAX_GRAD_NORM), precision)
    return [json.loads((work / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.timeout(300)
def test_fsdp2_two_cpu_processes_match_single_process_and_save_full_weights(tmp_path):
    from hf_culturemert.pretraining import load_pretraining_model

    config, init, batch = _setup(tmp_path)
    reference, reference_losses = _single_process(config, init, batch)
    expected = reference.state_dict()

    ranks = _launch(tmp_path, "fp32")

    for report in ranks:
        assert report["world"] == 2
        # really sharded: every parameter a DTensor sharded on dim 0, each rank holding about half of them
        assert report["is_fsdp_module"] and report["fsdp_blocks"] == 1 + 1 + config.num_hidden_layers
        assert report["all_params_dtensor"] and report["all_shard0"], report["example_placement"]
        assert report["local_numel"] < 0.6 * report["full_numel"]
        assert report["grad_is_dtensor"] and report["grad_norm_type"] == "DTensor"
        assert report["hidden_dtype"] == "torch.float32"
        assert report["sharded_keys_match"] and report["sharded_values_dtensor"]
    # full_state_dict + cpu_offload: rank 0 holds every tensor under the unsharded names, the other ranks nothing
    assert ranks[0]["full_keys_missing"] == [] and ranks[0]["full_keys_extra"] == []
    assert ranks[0]["full_plain_tensors"]
    assert ranks[0]["local_numel"] + ranks[1]["local_numel"] == ranks[0]["full_numel"]
    assert ranks[0]["losses"] == ranks[1]["losses"]
    assert ranks[0]["losses"] == pytest.approx(reference_losses, rel=1e-5)

    full = torch.load(tmp_path / "fsdp_full.pt")
    assert sorted(full) == sorted(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(full[name], tensor, rtol=0, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")
    moved = max(float((expected[k] - init[k]).abs().max()) for k in expected if expected[k].is_floating_point())
    assert moved > 10 * 1e-5  # the comparison is not trivially passed by weights that never changed

    reloaded = load_pretraining_model(str(tmp_path / "fsdp_output"))  # Hub-ready folder + heads file
    for name, tensor in reloaded.state_dict().items():
        torch.testing.assert_close(tensor, full[name], rtol=0, atol=0)


@pytest.mark.timeout(300)
def test_fsdp2_bf16_mixed_precision_learns_with_fp32_sharded_weights(tmp_path):
    """accelerate's FSDP2 bf16 setting: bf16 compute and all-gathers, fp32 sharded weights, fp32 gradient reduction."""
    config, init, batch = _setup(tmp_path)
    _, reference_losses = _single_process(config, init, batch)
    ranks = _launch(tmp_path, "bf16")
    for report in ranks:
        assert report["all_params_dtensor"] and report["all_shard0"] and report["param_dtypes"] == ["torch.float32"]
        assert report["grad_is_dtensor"] and report["hidden_dtype"] == "torch.bfloat16"
    losses = ranks[0]["losses"]
    assert losses == ranks[1]["losses"] and all(math.isfinite(v) for v in losses)
    assert losses == pytest.approx(reference_losses, rel=5e-2)  # bf16 rounding, not a different computation
    assert losses[-1] < losses[0]
    full = torch.load(tmp_path / "fsdp_full.pt")
    assert {v.dtype for v in full.values() if v.is_floating_point()} == {torch.float32}
    moved = max(float((full[k] - init[k]).abs().max()) for k in full if full[k].is_floating_point())
    assert moved > 1e-4


TRAINER_WORKER = r'''
import hashlib, json, os, sys
import torch
torch.set_num_threads(1)
import accelerate.state
from accelerate.utils import DistributedType


def allow_fsdp_on_cpu():
    """accelerate enters its FSDP state only from a multi-accelerator state; lift that one device check on CPU.

    Everything after it (FSDP2 wrapping in ``Accelerator.prepare``, the Trainer's FSDP checkpointing through
    ``save_fsdp_model``/``load_fsdp_model``, ``get_state_dict``) is accelerate's and transformers' real code.
    """
    original = accelerate.state.AcceleratorState.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        plugin = kwargs.get("fsdp_plugin")
        if plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.fsdp_plugin = plugin
            self.distributed_type = DistributedType.FSDP
            accelerate.state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    accelerate.state.AcceleratorState.__init__ = __init__


allow_fsdp_on_cpu()
from torch.distributed.tensor import DTensor
from transformers import HfArgumentParser, TrainerCallback
from hf_culturemert.pretraining import PretrainingArguments, run_pretraining
from hf_culturemert.pretraining.testing import tiny_pretraining_config, tiny_teachers

values = json.loads(sys.argv[1])
stop_at, report = values.pop("_stop_at"), values.pop("_report")
tiny_pretraining_config(hidden_dropout=0.1, attention_dropout=0.1, layerdrop=0.2).to_json_file(values["config_name"])
(args,) = HfArgumentParser(PretrainingArguments).parse_dict(values)


class Report(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if stop_at and state.global_step >= stop_at:
            control.should_training_stop = True  # an interrupted run: stops after checkpoint `stop_at` is written

    def on_train_end(self, args, state, control, model=None, **kwargs):
        parameter = next(model.parameters())
        full = {k: v.full_tensor() if isinstance(v, DTensor) else v for k, v in model.state_dict().items()}
        digest = hashlib.sha256()
        for name in sorted(full):
            digest.update(name.encode())
            digest.update(full[name].detach().float().contiguous().numpy().tobytes())
        with open(f"{report}-rank{os.environ['RANK']}.json", "w") as handle:
            json.dump({"model": type(model).__name__, "sharded": isinstance(parameter, DTensor),
                       "placements": repr(getattr(parameter, "placements", None)), "digest": digest.hexdigest(),
                       "step": state.global_step}, handle)


encodec, cqt = tiny_teachers()
run_pretraining(args, callbacks=[Report()], encodec_teacher=encodec, cqt_teacher=cqt)
'''


@pytest.mark.timeout(600)
def test_trainer_under_accelerate_fsdp2_checkpoints_and_resumes_to_the_same_weights(tmp_path):
    """The full pre-training loop (``run_pretraining``: Trainer, teachers, atomic checkpoints, final Hub folder)
    under accelerate's FSDP2 on 2 CPU ranks, with dropout and LayerDrop: a run stopped after checkpoint 4 and
    resumed from it ends bit-identical to an uninterrupted run."""
    common = dict(model_name_or_path=None, config_name=str(tmp_path / "cfg.json"), train_datasets=["sine:14:0"],
                  crop_seconds=0.5, min_crop_seconds=0.25, mixup_min_seconds=0.05, mixup_max_seconds=0.1,
                  per_device_train_batch_size=2, max_steps=6, logging_steps=1, save_steps=2, report_to="none",
                  disable_tqdm=True, learning_rate=1e-3, warmup_steps=2, seed=0, use_cpu=True, keep_checkpoints=True,
                  fsdp="full_shard", fsdp_config={"version": 2})

    def launch(name, stop_at=None, **overrides):
        values = dict(common, output_dir=str(tmp_path / name), _report=str(tmp_path / name), _stop_at=stop_at,
                      **overrides)
        _torchrun_two_ranks(tmp_path, "trainer_worker.py", TRAINER_WORKER, json.dumps(values))
        reports = [json.loads((tmp_path / f"{name}-rank{r}.json").read_text()) for r in (0, 1)]
        for report in reports:  # really FSDP2, not the DDP accelerate falls back to on CPU
            assert report["model"].startswith("FSDP") and report["sharded"], report
            assert report["placements"] == "(Shard(dim=0),)"
        assert reports[0]["digest"] == reports[1]["digest"]
        return reports[0]

    uninterrupted = launch("uninterrupted")
    interrupted = launch("interrupted", stop_at=4)
    checkpoint = tmp_path / "interrupted" / "checkpoint-4"
    assert any(p.name.startswith("pytorch_model_fsdp") for p in checkpoint.iterdir())  # the FSDP checkpoint format
    resumed = launch("resumed", resume_from_checkpoint=str(checkpoint))

    assert (interrupted["step"], uninterrupted["step"], resumed["step"]) == (4, 6, 6)
    assert interrupted["digest"] != uninterrupted["digest"]
    assert resumed["digest"] == uninterrupted["digest"]
    from safetensors.torch import load_file

    from hf_culturemert.models.mert.modeling_mert import MERTModel

    final, expected = (load_file(tmp_path / name / "model.safetensors") for name in ("resumed", "uninterrupted"))
    assert final.keys() == expected.keys()
    assert all(torch.equal(final[k], expected[k]) for k in final)
    _, info = MERTModel.from_pretrained(tmp_path / "resumed", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
