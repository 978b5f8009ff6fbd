#!/usr/bin/env bash
# Wheels that the lent GPU machine (device tool `run`, kind nvidia-h200) lacks for hf_culturemert's GPU checks.
#
# That machine has no network. Its python3 (3.12, /opt/torch/.venv) already holds torch 2.11.0+cu130, torchaudio
# 2.11.0, transformers 5.17.0, huggingface_hub 1.33.0, accelerate 1.15.0, peft, safetensors, numpy, scipy, pyarrow,
# pandas, fsspec, xxhash, scikit-learn, matplotlib, pyyaml, tqdm, pytest (/work/.library/device/KINDS.md). Missing
# from our runtime dependencies (pyproject.toml): datasets (+ dill, multiprocess), evaluate, nnAudio, soundfile
# (+ cffi, pycparser) and torchcodec. Versions are constraints.txt's, except torchcodec: 0.16.0, the newest release
# whose compatibility table names torch >= 2.11 (constraints.txt's 0.17.0 pairs with torch 2.14).
# huggingface_hub 1.33.0 already satisfies datasets 5.2.0 (>=1.31,<3) and transformers 5.17.0 (>=1.5,<2): no hub wheel.
#
#   bash scripts/device_wheels.sh                           # -> .whl/ (git-ignored), then run(carry=[".whl"])
#   DEST=/tmp/simwhl PYVER=3.11 bash scripts/device_wheels.sh   # the same set for another Python (CPU simulation)
#
# The folder is emptied first (two versions of one package stop the device's install). Prints the total size and
# checks each wheel's Requires-Dist names against this set plus the device image's package list.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=${DEST:-.whl}
PYVER=${PYVER:-3.12}
MAX_MIB=${MAX_MIB:-40}
WHEELS=(
  datasets==5.2.0
  dill==0.4.1
  multiprocess==0.70.19
  evaluate==0.4.6
  nnaudio==0.3.4
  soundfile==0.14.0
  cffi==2.1.1
  pycparser==3.12
  torchcodec==0.16.0
)

if [ "$DEST" = ".whl" ]; then
  mkdir -p .git/info
  grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
fi
rm -rf "$DEST"
mkdir -p "$DEST"

PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  PLATFORMS+=(--platform "$p")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  "${PLATFORMS[@]}" -d "$DEST" "${WHEELS[@]}" 2> >(grep -v "^WARNING: Location" >&2)

# Self-check: every Requires-Dist name (no extras) is in this set or on the device image.
python3 - "$DEST" "$PYVER" <<'EOF'
import re, sys, zipfile
from pathlib import Path

dest, pyver = Path(sys.argv[1]), sys.argv[2]
device = set("""absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers
flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson
ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx
optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client
propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex
requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig
werkzeug wheel wrapt xarray xxhash yarl zipp""".split())
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
wheels = sorted(dest.glob("*.whl"))
ours = {norm(w.name.split("-")[0]) for w in wheels}
problems, pinned = [], []
for wheel in wheels:
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(meta).decode().splitlines()
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        spec = line.split(":", 1)[1].strip()
        requirement, _, marker = spec.partition(";")
        if "extra ==" in marker or "python_version < \"3.8\"" in marker or "PyPy\" ==" in marker:
            continue
        name = norm(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0))
        if name not in ours and name not in device:
            problems.append(f"{wheel.name}: needs {requirement.strip()} (neither carried nor on the device)")
        elif name in device and re.search(r"[<>=!~]", requirement):
            pinned.append(f"{wheel.name.split('-')[0]}: {requirement.strip()}")
print(f"{len(wheels)} wheels for cp{pyver.replace('.', '')}:")
for wheel in wheels:
    print(f"  {wheel.stat().st_size / 2**20:6.2f} MiB  {wheel.name}")
print("version bounds on device packages (checked on the device by scripts/device_checks.sh):")
for item in sorted(set(pinned)):
    print(f"  {item}")
if problems:
    print("UNMET:\n  " + "\n  ".join(problems))
    sys.exit(1)
EOF

total=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
mib=$(python3 -c "print(f'{$total / 2**20:.2f}')")
echo "total: $mib MiB in $DEST"
if [ "$total" -gt $((MAX_MIB * 1024 * 1024)) ]; then
  echo "over the ${MAX_MIB} MiB budget" >&2
  exit 1
fi
