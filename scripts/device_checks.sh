#!/usr/bin/env bash
# GPU rows of the benchmarks + an FSDP2 Trainer run, as ONE command for the lent GPU machine (device tool `run`).
#
# Prepare here (once per checkout; .whl/ is git-ignored, ~12 MiB):
#     bash scripts/device_wheels.sh
# Then one device call (the machine has no network; the wheels travel through `carry`):
#     run(command="bash scripts/device_checks.sh", carry=[".whl"], timeout_s=540)
# What comes back ($OUT, at most 8 files): log.txt (every step's full output), summary.json (all key figures and
# step statuses), forward.json, forward_compiled.json, pretrain.json, pretrain_compiled.json. The reply's
# output_tail ends with a summary table: forward ratio at batch 1 / 8, pretrain MFU (eager, compiled), FSDP run
# ok/failed (+ Trainer MFU), extraction x real time.
#
# Steps, most important first, each under `timeout` and a global budget (DEVICE_CHECKS_BUDGET_S, default 450 s, so
# the whole script ends in < 8 min on an H200; a step that would start with too little time left is skipped):
#   forward    benchmarks/forward.py --no-compile: ours bf16 + SDPA vs HubertModel fp32 eager, batch 1 and 8
#   pretrain   benchmarks/pretrain.py GPU default: bf16, batch 32 x 5 s, 20 timed steps, MFU vs the H200 peak
#   fsdp       accelerate launch --use_fsdp --fsdp_version 2 --num_processes 1 --mixed_precision bf16 through
#              `culturemert pretrain --recipe <one-stage yaml>` (95M config, random 24 kHz EnCodec teacher,
#              synthetic makam corpus, offline): 20 steps with checkpoints at 10 and 20, then a second run resumed
#              from the sharded checkpoint-20 to step 30, then AutoModel.from_pretrained(trust_remote_code=True)
#              of the output in bf16 on CUDA
#   pretrain_compiled  benchmarks/pretrain.py --compile (the training step compiles as one graph)
#   extract    benchmarks/extract.py --skip-cpu (256 files x 30 s): end-to-end x real time
#   pytest     tests/test_modeling.py -x (CPU tests, but under the machine's torch 2.11 / Python 3.12)
#   compiled   benchmarks/forward.py with the torch.compile column (inductor compile per shape: gets what is left)
#   rehearse_reproduce / rehearse_transfer  `culturemert reproduce --preset culturemert-95m --rehearsal` and
#              `culturemert transfer --preset west-to-east --rehearsal` (every stage of the real presets at a toy
#              budget; rehearsal_*.json come back with each stage's wall time, and the measured step costs).
#              They need more than the default budget: DEVICE_CHECKS_ONLY="rehearse_reproduce rehearse_transfer"
#              DEVICE_CHECKS_BUDGET_S=560, carry=[".whl", ".rehearsal-inputs"] (prepared as said at rehearsal_check)
# Decoding: the carried torchcodec 0.16 (built for torch >= 2.11, CUDA) needs the system's FFmpeg libraries. If it
# cannot decode there, a soundfile stand-in `torchcodec` package (WAV/FLAC only, the synthetic data's formats) is
# put first on PYTHONPATH and the summary says so ("decoder"): decode-dependent figures (extract end to end, FSDP
# data loading) are then soundfile's, the model figures are unaffected.
#
# Knobs (prefix the command): DEVICE_CHECKS_ONLY="pretrain fsdp" (run only these steps), DEVICE_CHECKS_BUDGET_S=300,
# DEVICE_CHECKS_DECODER=shim (force the stand-in). Rerun after a partial failure with e.g.
#     run(command="DEVICE_CHECKS_ONLY=fsdp DEVICE_CHECKS_BUDGET_S=240 bash scripts/device_checks.sh", carry=[".whl"])
#
# CPU smoke mode (here, no GPU): every step at tiny sizes, to prove imports, flags and paths. With a throwaway venv
# /tmp/devsim holding the device's versions (torch CPU, transformers 5.17.0, huggingface_hub 1.33.0, accelerate
# 1.15.0, peft, pandas, pyarrow, pytest, ...) and the same wheel set for its Python
# (DEST=/tmp/simwhl PYVER=3.11 bash scripts/device_wheels.sh):
#     DEVICE_CHECKS_DRY=1 PYTHON=/tmp/devsim/bin/python DEVICE_WHEELS=/tmp/simwhl OUT=/tmp/dc-out \
#         bash scripts/device_checks.sh            # (or: bash scripts/device_checks.sh --cpu-smoke)
# Other variables: PYTHON (default python3), DEVICE_WHEELS (default .whl), DEVICE_SITE (default /tmp/site),
# OUT (default /tmp/device_checks_out when unset), DEVICE_CHECKS_WORK (scratch, default /tmp/dc).
set -uo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
cd "$REPO"

# ------------------------------------------------------------------------------------------------ sub-command: fsdp
# (runs under the parent's timeout; all configuration comes from the parent's exported variables)
fsdp_check() {
  set -e
  local data="$WORK/data" yaml="$WORK/fsdp.yaml" launch
  if [ "$SMOKE" = 1 ]; then
    local config=tiny teacher=random-tiny crop=1.0 mincrop=0.5 mixmin=0.1 mixmax=0.2 batch=2 workers=0 \
      steps1=4 save=2 steps2=6 size=6 clip=2 extra="use_cpu: true"
  else
    local config=95M teacher=random-24khz crop=5.0 mincrop=3.0 mixmin=0.5 mixmax=1.0 batch=32 workers=6 \
      steps1=20 save=10 steps2=30 size=64 clip=8 extra=""
  fi
  echo "--- synthetic corpus: makam, $size clips of $clip s"
  "$PY" -m hf_culturemert.cli synthesize --output_dir "$data" --traditions makam --size "$size" \
    --clip_seconds "$clip" --num_proc 4
  cat > "$yaml" <<YAML
name: device-fsdp
description: one-stage FSDP2 check on the lent GPU (scripts/device_checks.sh)
output_dir: $WORK/fsdp-a
defaults:
  model_name_or_path: null
  config_name: "$config"
  encodec_model: $teacher
  encodec_bandwidth: 6.0
  data_root: $data
  train_datasets: [makam]
  crop_seconds: $crop
  min_crop_seconds: $mincrop
  mixup_min_seconds: $mixmin
  mixup_max_seconds: $mixmax
  per_device_train_batch_size: $batch
  gradient_accumulation_steps: 1
  learning_rate: 1.0e-4
  lr_scheduler_type: constant_with_warmup
  warmup_steps: 2
  bf16: true
  logging_steps: 5
  save_steps: $save
  save_total_limit: 2
  keep_checkpoints: true
  dataloader_num_workers: $workers
  report_to: none
  seed: 0
  disable_tqdm: true
  $extra
stages:
  - name: fsdp
    max_steps: $steps1
YAML
  launch=("$PY" -m accelerate.commands.launch --use_fsdp --fsdp_version 2 --num_processes 1 --num_machines 1
          --mixed_precision bf16 --dynamo_backend no --fsdp_auto_wrap_policy TRANSFORMER_BASED_WRAP
          --fsdp_state_dict_type SHARDED_STATE_DICT --main_process_port 29517
          -m hf_culturemert.cli pretrain --recipe "$yaml")
  echo "--- run A: $steps1 steps, checkpoints every $save"
  local retried=false
  if ! "${launch[@]}"; then
    # accelerate's default fsdp_cpu_ram_efficient_loading=true (meta-device re-init + broadcast) is the likeliest
    # culprit of a failure before the first step: one retry without it, reported in fsdp.json
    echo "--- run A FAILED; retrying once with --fsdp_cpu_ram_efficient_loading false"
    rm -rf "$WORK/fsdp-a"
    retried=true
    launch=("${launch[@]:0:3}" --fsdp_cpu_ram_efficient_loading false --fsdp_sync_module_states false
            "${launch[@]:3}")
    "${launch[@]}"
  fi
  local ckpt="$WORK/fsdp-a/fsdp/checkpoint-$steps1"
  echo "--- checkpoint $ckpt:"; ls -la "$ckpt"
  echo "--- run B: resume from $ckpt to step $steps2"
  "${launch[@]}" --output_dir "$WORK/fsdp-b" --max_steps "$steps2" --resume_from_checkpoint "$ckpt"
  echo "--- load the output with AutoModel.from_pretrained(trust_remote_code=True), bf16"
  "$PY" - "$WORK" "$ckpt" "$steps1" "$steps2" "$retried" <<'PYEOF'
import json, os, sys
from pathlib import Path
import torch
from transformers import AutoModel

work, ckpt, steps1, steps2 = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
smoke = os.environ.get("SMOKE") == "1"
result = {"retried_without_cpu_ram_efficient_loading": sys.argv[5] == "true"}
for tag, folder in (("a", work / "fsdp-a" / "fsdp"), ("b", work / "fsdp-b" / "fsdp")):
    state = json.loads((folder / "trainer_state.json").read_text())
    logs = [e for e in state["log_history"] if "loss" in e]
    result[f"run_{tag}"] = {
        "global_step": state["global_step"], "complete": (folder / "pretraining_complete.json").is_file(),
        "first_logged_step": logs[0]["step"] if logs else None,
        "losses": [round(e["loss"], 4) for e in logs],
        "mfu_last": logs[-1].get("mfu") if logs else None,
        "audio_seconds_per_second_last": logs[-1].get("audio_seconds_per_second") if logs else None}
names = sorted(p.name for p in ckpt.iterdir())
result["checkpoint_entries"] = names
# FSDP in force <=> the Trainer saved a sharded (torch.distributed.checkpoint) model; on CPU accelerate runs DDP
result["sharded_checkpoint"] = any(n.startswith("pytorch_model_fsdp") for n in names)
result["resumed_ok"] = (result["run_b"]["global_step"] == steps2 and
                        (result["run_b"]["first_logged_step"] or 0) > steps1)
device = "cuda" if torch.cuda.is_available() else "cpu"
model = AutoModel.from_pretrained(str(work / "fsdp-b" / "fsdp"), trust_remote_code=True,
                                  dtype=torch.bfloat16).to(device).eval()
x = torch.randn(2, 24000, device=device, dtype=torch.bfloat16)
with torch.inference_mode():
    hidden = model(x).last_hidden_state
result["load"] = {"class": f"{type(model).__module__}.{type(model).__name__}", "device": device,
                  "dtype": str(next(model.parameters()).dtype), "output_shape": list(hidden.shape),
                  "finite": bool(torch.isfinite(hidden).all())}
result["ok"] = bool(result["run_a"]["complete"] and result["run_b"]["complete"] and result["resumed_ok"]
                    and result["load"]["finite"] and (result["sharded_checkpoint"] or smoke))
print(json.dumps(result, indent=1))
(work / "fsdp.json").write_text(json.dumps(result, indent=1))
sys.exit(0 if result["ok"] else 1)
PYEOF
}

# ------------------------------------------------------------------------------------------ sub-command: rehearsal
# The real presets end to end at a toy budget (hf_culturemert.rehearsal): the inputs are prepared here, where apt
# reaches Debian (`.venv/bin/python -m hf_culturemert.rehearsal.study .rehearsal-inputs`, ~3 MiB, git-ignored) and
# travel with `carry=[".whl", ".rehearsal-inputs"]`; without them the rehearsal fetches Debian's music itself.
rehearsal_check() {
  set -e
  local kind=$1 out="$WORK/rehearsal-$1"
  rm -rf "$out"
  if [ -d "$REPO/.rehearsal-inputs/data" ]; then
    mkdir -p "$out"
    cp -r "$REPO/.rehearsal-inputs" "$out/inputs"
    echo "{\"command\": \"$kind\", \"status\": \"running\"}" > "$out/rehearsal.json"
  fi
  if [ "$kind" = reproduce ]; then
    "$PY" -m hf_culturemert.cli reproduce --preset culturemert-95m --rehearsal --output_dir "$out"
    cp "$out/step_costs.json" "$OUT/rehearsal_step_costs.json"
    "$PY" -m hf_culturemert.cli reproduce --preset culturemert-95m --dry_run --step_costs "$out/step_costs.json" \
      | tail -n 3
  else
    "$PY" -m hf_culturemert.cli transfer --preset west-to-east --rehearsal --output_dir "$out" --no_progress
  fi
  cp "$out/rehearsal.json" "$OUT/rehearsal_$kind.json"
}
if [ "${1:-}" = "__rehearsal" ]; then
  rehearsal_check "$2"
  exit $?
fi

if [ "${1:-}" = "__fsdp" ]; then
  fsdp_check
  exit $?
fi

# ------------------------------------------------------------------------------------------------ setup
SMOKE=0
[ "${DEVICE_CHECKS_DRY:-0}" = "1" ] && SMOKE=1
for arg in "$@"; do [ "$arg" = "--cpu-smoke" ] && SMOKE=1; done
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/device_checks_out}
WORK=${DEVICE_CHECKS_WORK:-/tmp/dc}
SITE=${DEVICE_SITE:-/tmp/site}
WHEELS=${DEVICE_WHEELS:-.whl}
BUDGET=${DEVICE_CHECKS_BUDGET_S:-450}
ONLY=${DEVICE_CHECKS_ONLY:-}
START=$SECONDS
RESERVE=20  # for the summary
rm -rf "$WORK"
mkdir -p "$OUT" "$WORK"
rm -f "$OUT"/forward.json "$OUT"/forward_compiled.json "$OUT"/pretrain.json "$OUT"/pretrain_compiled.json \
  "$OUT"/summary.json
LOG="$OUT/log.txt"
: > "$LOG"
STATUS="$WORK/status.tsv"
: > "$STATUS"
export SMOKE PY WORK PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false HF_HOME="$WORK/hf" HF_DATASETS_CACHE="$WORK/hf/datasets"
export CULTUREMERT_CACHE="$WORK/features" MPLBACKEND=Agg
[ "$SMOKE" = 1 ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

say() { echo "$*" | tee -a "$LOG"; }
say "device_checks: mode=$([ "$SMOKE" = 1 ] && echo cpu-smoke || echo gpu) budget=${BUDGET}s python=$PY repo=$REPO"

# wheels -> $SITE (no index: the machine has no network)
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  rm -rf "$SITE"
  if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
      "$WHEELS"/*.whl >> "$LOG" 2>&1; then
    say "FAILED: pip install of $WHEELS/*.whl (see log.txt)"; tail -20 "$LOG"; exit 1
  fi
  say "installed $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $SITE"
else
  say "WARNING: no wheels in $WHEELS (run scripts/device_wheels.sh and carry .whl); using what is installed"
fi
export PYTHONPATH="$SITE:$REPO/src${PYTHONPATH:+:$PYTHONPATH}"

# environment + the carried wheels' version bounds against what the image has
{ command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm \
    --format=csv,noheader; echo "cpus: $(getconf _NPROCESSORS_ONLN)"; } 2>&1 | tee -a "$LOG"
"$PY" - "$SITE" <<'PYEOF' 2>&1 | tee -a "$LOG"
import importlib.metadata as md, sys
import torch
print(f"torch {torch.__version__} cuda {torch.version.cuda} available={torch.cuda.is_available()}"
      + (f" device={torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
versions = {}
for name in ("transformers", "accelerate", "huggingface_hub", "peft", "datasets", "torchcodec", "soundfile",
             "nnaudio", "evaluate", "numpy", "pyarrow", "fsspec", "pandas", "safetensors", "torchaudio"):
    try:
        versions[name] = md.version(name)
    except md.PackageNotFoundError:
        versions[name] = "MISSING"
print(" ".join(f"{k}={v}" for k, v in versions.items()))
try:
    from packaging.requirements import Requirement
    bad = []
    for dist in md.distributions(path=[sys.argv[1]]):
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                have = md.version(req.name)
            except md.PackageNotFoundError:
                bad.append(f"{dist.metadata['Name']}: {req} (missing)")
                continue
            if req.specifier and not req.specifier.contains(have, prereleases=True):
                bad.append(f"{dist.metadata['Name']}: {req} (have {have})")
    print("carried wheels' requirements: " + ("all met" if not bad else "NOT MET: " + "; ".join(bad)))
except Exception as error:  # informative only
    print(f"requirement check skipped: {error}")
PYEOF

# decoder: the real torchcodec if it decodes here, else the soundfile stand-in
DECODER=torchcodec
probe_decoder() {
  "$PY" - <<'PYEOF'
import io
import numpy as np, soundfile as sf
from hf_culturemert.audio import load_audio
wave = (0.2 * np.sin(2 * np.pi * 220 * np.arange(24000) / 24000)).astype(np.float32)
for fmt in ("WAV", "FLAC"):
    buffer = io.BytesIO(); sf.write(buffer, wave, 24000, format=fmt)
    whole = load_audio(buffer.getvalue()); part = load_audio(buffer.getvalue(), start_seconds=0.25, end_seconds=0.5)
    assert abs(len(whole) - 24000) <= 64 and abs(len(part) - 6000) <= 64, (fmt, len(whole), len(part))
import torchcodec
print(f"decoder ok: torchcodec {getattr(torchcodec, '__version__', '?')} from {torchcodec.__file__}")
PYEOF
}
write_shim() {
  mkdir -p "$WORK/tcshim/torchcodec"
  cat > "$WORK/tcshim/torchcodec/__init__.py" <<'PYEOF'
"""Stand-in for torchcodec (scripts/device_checks.sh): soundfile decoding, used only where torchcodec cannot decode."""
__version__ = "0+soundfile-shim"
from . import decoders, encoders  # noqa: E402,F401
PYEOF
  cat > "$WORK/tcshim/torchcodec/encoders.py" <<'PYEOF'
import soundfile as sf
import torch


class AudioEncoder:
    def __init__(self, samples, *, sample_rate):
        samples = torch.as_tensor(samples, dtype=torch.float32)
        self._samples = samples[None] if samples.dim() == 1 else samples  # [C, S]
        self._rate = int(sample_rate)

    def _data(self, num_channels):
        data = self._samples
        if num_channels == 1 and data.shape[0] > 1:
            data = data.mean(0, keepdim=True)
        return data.T.contiguous().numpy()

    def to_file_like(self, file_like, format, *, bit_rate=None, num_channels=None, sample_rate=None):
        sf.write(file_like, self._data(num_channels), self._rate, format=str(format).upper())

    def to_file(self, dest, *, bit_rate=None, num_channels=None, sample_rate=None):
        sf.write(str(dest), self._data(num_channels), self._rate)
PYEOF
  cat > "$WORK/tcshim/torchcodec/decoders.py" <<'PYEOF'
import io
import os
from types import SimpleNamespace

import soundfile as sf
import torch


class AudioSamples:
    def __init__(self, data, sample_rate, pts_seconds=0.0):
        self.data, self.sample_rate, self.pts_seconds = data, sample_rate, pts_seconds
        self.duration_seconds = data.shape[-1] / sample_rate


class AudioDecoder:
    def __init__(self, source, *, stream_index=None, sample_rate=None, num_channels=None):
        if isinstance(source, (bytes, bytearray, memoryview)):
            handle = io.BytesIO(bytes(source))
        elif isinstance(source, (str, os.PathLike)):
            handle = os.fspath(source)
        elif hasattr(source, "read"):
            handle = source
        else:
            raise ValueError(f"unsupported source {type(source).__name__}")
        try:
            data, rate = sf.read(handle, dtype="float32", always_2d=True)
        except Exception as error:  # torchcodec raises RuntimeError for undecodable input
            raise RuntimeError(f"soundfile stand-in could not decode: {error}") from error
        wave = torch.from_numpy(data.T.copy())
        if num_channels == 1 and wave.shape[0] > 1:
            wave = wave.mean(0, keepdim=True)
        if sample_rate and int(sample_rate) != int(rate):
            import torchaudio.functional as F
            wave, rate = F.resample(wave, int(rate), int(sample_rate)), int(sample_rate)
        self._wave, self._rate = wave, int(rate)
        self.metadata = SimpleNamespace(sample_rate=self._rate, num_channels=wave.shape[0],
                                        duration_seconds=wave.shape[-1] / self._rate)

    def get_all_samples(self):
        return AudioSamples(self._wave, self._rate)

    def get_samples_played_in_range(self, start_seconds=0.0, stop_seconds=None):
        if stop_seconds is not None and stop_seconds < start_seconds:
            raise ValueError(f"stop_seconds {stop_seconds} < start_seconds {start_seconds}")
        start = int(round(start_seconds * self._rate))
        stop = self._wave.shape[-1] if stop_seconds is None else int(round(stop_seconds * self._rate))
        return AudioSamples(self._wave[:, start:stop], self._rate, start / self._rate)


class VideoDecoder:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("VideoDecoder is not available in the soundfile torchcodec stand-in")
PYEOF
}
if [ "${DEVICE_CHECKS_DECODER:-auto}" != "shim" ] && probe_decoder > "$WORK/decoder.log" 2>&1; then
  cat "$WORK/decoder.log" | tee -a "$LOG"
else
  { echo "torchcodec cannot decode here (or DEVICE_CHECKS_DECODER=shim):"; tail -3 "$WORK/decoder.log"; } \
    2>/dev/null | tee -a "$LOG"
  write_shim
  export PYTHONPATH="$WORK/tcshim:$PYTHONPATH"
  DECODER="soundfile-shim"
  if probe_decoder >> "$LOG" 2>&1; then say "decoder: soundfile stand-in for torchcodec"; else
    say "decoder: stand-in FAILED too (decode-dependent steps will fail)"; DECODER="none"; fi
fi
echo "$DECODER" > "$WORK/decoder.txt"

# ------------------------------------------------------------------------------------------------ steps
# step NAME CAP_SECONDS MIN_SECONDS CMD...: run under timeout, full output to log.txt, tail to stdout
step() {
  local name=$1 cap=$2 min=$3; shift 3
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi
  local left=$((BUDGET - RESERVE - (SECONDS - START)))
  local limit=$((cap < left ? cap : left))
  if [ "$limit" -lt "$min" ]; then
    say "=== [$name] SKIPPED: ${left}s of the budget left, needs ${min}s"
    printf '%s\tskipped\t0\n' "$name" >> "$STATUS"; return
  fi
  say "=== [$name] (timeout ${limit}s) $*"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$LOG" > "$WORK/$name.log"
  local rc=${PIPESTATUS[0]} took=$((SECONDS - t0)) status
  case $rc in 0) status=ok ;; 124|137) status="timeout(${limit}s)" ;; *) status="failed(rc=$rc)" ;; esac
  printf '%s\t%s\t%s\n' "$name" "$status" "$took" >> "$STATUS"
  tail -n "${TAIL_LINES:-14}" "$WORK/$name.log"
  say "=== [$name] $status in ${took}s"
}

B="$REPO/benchmarks"
if [ "$SMOKE" = 1 ]; then
  step forward 300 20 "$PY" "$B/forward.py" --no-compile --batch-sizes 1 --seconds 1 --repeats 1 \
    --json "$OUT/forward.json"
  step pretrain 300 20 "$PY" "$B/pretrain.py" --batch-size 1 --seconds 1 --steps 1 --warmup 0 \
    --json "$OUT/pretrain.json"
  step fsdp 400 30 bash "$SELF" __fsdp
  step extract 300 20 "$PY" "$B/extract.py" --quick --files 2 --seconds 4 --window-seconds 2 --num-workers 1 \
    --reference-files 1
  step pytest 600 20 "$PY" -m pytest -q -x -p no:cacheprovider tests/test_modeling.py
  if [ -z "$ONLY" ]; then
    say "=== [compiled] skipped in CPU smoke mode (inductor compile of the 95M model takes minutes on 2 cores)"
    printf 'compiled\tskipped\t0\n' >> "$STATUS"
  fi
else
  step forward 150 40 "$PY" "$B/forward.py" --no-compile --json "$OUT/forward.json"
  step pretrain 120 40 "$PY" "$B/pretrain.py" --json "$OUT/pretrain.json"
  step fsdp 240 90 bash "$SELF" __fsdp
  step pretrain_compiled 180 90 "$PY" "$B/pretrain.py" --compile --json "$OUT/pretrain_compiled.json"
  step extract 150 45 "$PY" "$B/extract.py" --skip-cpu --files 256 --gpu-batch-size 32 --num-workers 12 \
    --reference-files 16
  step pytest 60 30 "$PY" -m pytest -q -x -p no:cacheprovider tests/test_modeling.py
  step compiled 180 90 "$PY" "$B/forward.py" --json "$OUT/forward_compiled.json"
  step rehearse_reproduce 420 120 bash "$SELF" __rehearsal reproduce
  step rehearse_transfer 420 120 bash "$SELF" __rehearsal transfer
fi

# ------------------------------------------------------------------------------------------------ summary
"$PY" - "$OUT" "$WORK" "$SMOKE" "$((SECONDS - START))" <<'PYEOF' 2>&1 | tee -a "$LOG"
import json, re, sys
from pathlib import Path

out, work, smoke, elapsed = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
status = {}
for line in (work / "status.tsv").read_text().splitlines():
    name, state, took = line.split("\t")
    status[name] = {"status": state, "seconds": int(took)}
decoder = (work / "decoder.txt").read_text().strip() if (work / "decoder.txt").is_file() else "?"


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


summary = {"mode": "cpu-smoke" if smoke else "gpu", "elapsed_s": elapsed, "decoder": decoder, "steps": status}
rows = []
forward = load(out / "forward.json")
if forward:
    summary["forward"] = forward
    rows.append(("forward ours/Hubert", ", ".join(f"batch {r['batch']}: {r['ratio']:.2f}x ({r['ours']:.0f} vs "
                                                   f"{r['reference']:.0f} audio-s/s)" for r in forward)))
compiled = load(out / "forward_compiled.json")
if compiled:
    summary["forward_compiled"] = compiled
    rows.append(("forward compiled/Hubert", ", ".join(f"batch {r['batch']}: {r.get('ratio_compiled', float('nan')):.2f}x"
                                                      f" (compile {r.get('compile_seconds', float('nan')):.0f} s)"
                                                      for r in compiled)))
pretrain = load(out / "pretrain.json")
if pretrain:
    summary["pretrain"] = pretrain
    rows.append(("pretrain MFU", f"whole step {pretrain.get('MFU whole step')}, student only "
                                 f"{pretrain.get('MFU student only')}; step {pretrain.get('step time (s)')} s, "
                                 f"{pretrain.get('audio-s / s (whole step)')} audio-s/s ({pretrain.get('device')}, "
                                 f"{pretrain.get('batch x seconds')})"))
pretrain_compiled = load(out / "pretrain_compiled.json")
if pretrain_compiled:
    summary["pretrain_compiled"] = pretrain_compiled
    rows.append(("pretrain MFU, torch.compile", f"whole step {pretrain_compiled.get('MFU whole step')}, student only "
                                                f"{pretrain_compiled.get('MFU student only')}"))
fsdp = load(work / "fsdp.json")
if fsdp:
    summary["fsdp"] = fsdp
    a, b = fsdp["run_a"], fsdp["run_b"]
    rows.append(("FSDP2 Trainer", f"{'OK' if fsdp['ok'] else 'FAILED'}: steps {a['global_step']} + resumed to "
                                  f"{b['global_step']} (resumed_ok={fsdp['resumed_ok']}), sharded checkpoint="
                                  f"{fsdp['sharded_checkpoint']}, retried without cpu_ram_efficient_loading="
                                  f"{fsdp['retried_without_cpu_ram_efficient_loading']}, Trainer MFU {b['mfu_last']}, "
                                  f"{b['audio_seconds_per_second_last']} audio-s/s, load {fsdp['load']['dtype']} "
                                  f"on {fsdp['load']['device']} finite={fsdp['load']['finite']}"))
elif "fsdp" in status:
    rows.append(("FSDP2 Trainer", f"FAILED ({status['fsdp']['status']}): see log.txt"))
extract_log = work / "extract.log"
if extract_log.is_file():
    text = extract_log.read_text()
    table = {m.group(1).strip(): float(m.group(2).replace(",", ""))
             for m in re.finditer(r"^\| ([^|]+) \| [\d.]+ \| [\d.]+ \| ([\d,.]+) \|", text, re.M)}
    end = re.search(r"end to end on GPU: ([\d,]+)x", text)
    summary["extract"] = {"x_real_time": table, "end_to_end_gpu": float(end.group(1).replace(",", "")) if end else None}
    if table:
        rows.append(("extract x real time", ", ".join(f"{k} {v:,.0f}x" for k, v in table.items())
                     + f" (decoder {decoder})"))
pytest_log = work / "pytest.log"
if pytest_log.is_file():
    last = [l for l in pytest_log.read_text().splitlines() if re.search(r"\d+ (passed|failed|error)", l)]
    summary["pytest"] = last[-1] if last else None
    rows.append(("pytest test_modeling", last[-1] if last else "no result line"))
(out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
print("\n================ summary " + ("(CPU SMOKE: sizes are tiny, figures meaningless)" if smoke else ""))
print(f"elapsed {elapsed} s, decoder {decoder}")
print("| step | status | seconds |\n|---|---|---:|")
for name, item in status.items():
    print(f"| {name} | {item['status']} | {item['seconds']} |")
print()
for key, value in rows:
    print(f"- {key}: {value}")
PYEOF

failed=$(awk -F'\t' '$2 != "ok" && $2 != "skipped"' "$STATUS" | wc -l)
say "device_checks: $failed step(s) not ok; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
[ "$failed" -eq 0 ]
