#!/usr/bin/env bash
# Create/refresh the project environment in .venv/ (idempotent). Used by the README commands and CI.
#   bash scripts/bootstrap.sh          # runtime: .venv with the pinned stack + ffmpeg
#   bash scripts/bootstrap.sh --test   # also test tools + Debian chromium for the Space's browser test
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

apt_install() {  # install Debian packages when their binary is missing
  local missing=()
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "[bootstrap] installing Debian packages: ${missing[*]}"
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
}
apt_install ffmpeg:ffmpeg
[[ $want_test -eq 1 ]] && apt_install chromium:chromium

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
extras="space"; [[ $want_test -eq 1 ]] && extras="space,test"
stamp=".venv/.bootstrap-$(cat constraints.txt pyproject.toml | sha256sum | cut -c1-16)-${extras/,/-}"
if [[ ! -f "$stamp" ]]; then
  echo "[bootstrap] installing hf-culturemert[$extras] with constraints.txt into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$extras]" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  .venv/bin/python -c "import hf_culturemert, torchaudio, torchcodec" || { echo "[bootstrap] install failed" >&2; exit 1; }
  rm -f .venv/.bootstrap-* && touch "$stamp"
fi
