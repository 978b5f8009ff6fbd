"""LoRA continual pre-training: adapter on the backbone, saved, reloaded on the base, merged into a full model."""

import pytest
import torch
from transformers import HfArgumentParser

from hf_culturemert.export import save_model_folder
from hf_culturemert.models.mert.modeling_mert import MERTModel
from hf_culturemert.pretraining import (HEADS_FILE, PretrainingArguments, apply_lora, load_lora_model,
                                        load_pretraining_model, lora_task_vector, merge_lora_adapter,
                                        run_pretraining, save_lora_adapter)
from hf_culturemert.pretraining.testing import tiny_pretraining_config, tiny_teachers


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture()
def base_folder(tmp_path):
    torch.manual_seed(0)
    save_model_folder(MERTModel(tiny_pretraining_config()), tmp_path / "base")
    return tmp_path / "base"


def perturb_lora(model):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)


def test_adapter_targets_attention_and_feed_forward(base_folder):
    model = apply_lora(load_pretraining_model(str(base_folder)), rank=4)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    for module in ("q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense"):
        assert any(f"{module}.lora_A" in n for n in trainable), module
    assert not any("base_layer" in n for n in trainable)  # frozen base weights
    assert {"final_proj.weight", "label_embs_concat", "encoder_cqt_model.fc.weight"} <= trainable  # heads train
    assert next(n for n in trainable if "lora_A" in n) and \
        model.get_parameter(next(n for n in trainable if "q_proj.lora_A" in n)).shape[0] == 4


def test_save_load_merge_round_trip(tmp_path, base_folder):
    model = apply_lora(load_pretraining_model(str(base_folder)), rank=4, base_name_or_path=str(base_folder))
    perturb_lora(model)
    adapter = save_lora_adapter(model, tmp_path / "adapter")
    assert {"adapter_config.json", "adapter_model.safetensors", HEADS_FILE} <= {p.name for p in adapter.iterdir()}
    wave = torch.randn(1, 8000)
    model.eval()
    with torch.no_grad():
        expected = model.mert(wave).last_hidden_state
        reloaded = load_lora_model(str(base_folder), adapter).eval()(wave).last_hidden_state
    torch.testing.assert_close(reloaded, expected)

    merged_folder = merge_lora_adapter(str(base_folder), adapter, tmp_path / "merged")
    merged, info = MERTModel.from_pretrained(merged_folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    with torch.no_grad():
        torch.testing.assert_close(merged.eval()(wave).last_hidden_state, expected, atol=1e-5, rtol=1e-4)
        base_out = MERTModel.from_pretrained(base_folder).eval()(wave).last_hidden_state
    assert not torch.allclose(base_out, expected)

    delta = lora_task_vector(str(base_folder), adapter)
    assert delta and all(any(m in k for m in ("_proj.", "_dense.")) for k in delta)
    base_state = MERTModel.from_pretrained(base_folder).state_dict()
    merged_state = merged.state_dict()
    for key, value in delta.items():
        torch.testing.assert_close(base_state[key] + value, merged_state[key])


def test_lora_pretraining_run_writes_adapter_and_merged_model(tmp_path, base_folder):
    values = dict(output_dir=str(tmp_path / "run"), model_name_or_path=str(base_folder), train_datasets=["sine:4:0"],
                  crop_seconds=0.5, min_crop_seconds=0.25, mixup_min_seconds=0.05, mixup_max_seconds=0.1,
                  per_device_train_batch_size=2, max_steps=2, logging_steps=1, save_steps=1, report_to="none",
                  disable_tqdm=True, learning_rate=1e-2, lora_rank=4, use_cpu=True, keep_checkpoints=True)
    (args,) = HfArgumentParser(PretrainingArguments).parse_dict(values)
    encodec, cqt = tiny_teachers()
    output = run_pretraining(args, encodec_teacher=encodec, cqt_teacher=cqt)
    adapter = tmp_path / "run" / "adapter"
    assert (adapter / "adapter_config.json").is_file()
    merged = MERTModel.from_pretrained(output).eval()
    with_adapter = load_lora_model(str(base_folder), adapter).eval()
    wave = torch.randn(1, 8000)
    with torch.no_grad():
        torch.testing.assert_close(merged(wave).last_hidden_state, with_adapter(wave).last_hidden_state,
                                   atol=1e-5, rtol=1e-4)
    assert (tmp_path / "run" / "checkpoint-2" / "checkpoint_complete.json").is_file()
