#!/usr/bin/env bash
# setup.sh - install everything Footage needs on a fresh Debian 12 machine (Python 3.11), then
# leave a ready virtual environment in .venv. Idempotent: a second run only checks.
#   Debian packages: ffmpeg (benchmark baseline), fonts-noto-cjk (Chinese text in pictures),
#   python3-venv (to bootstrap uv), curl, chromium + chromium-driver (the disclosure browser test).
#   Python packages: exactly those in uv.lock (uv sync --frozen), with the test extras.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
log() { echo "[setup] $*" >&2; }

PKGS=(ffmpeg fonts-noto-cjk python3 python3-venv curl ca-certificates chromium chromium-driver)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# uv, from PyPI, in a small tools venv of its own (Debian's Python refuses system-wide pip)
UV=$(command -v uv || true)
if [[ -z $UV ]]; then
  if [[ ! -x .tools/bin/uv ]]; then
    log "bootstrapping uv into .tools/"
    python3 -m venv .tools
    .tools/bin/pip install -q 'uv>=0.5,<1'
  fi
  UV=$REPO/.tools/bin/uv
fi

PY=${FOOTAGE_PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
log "syncing .venv from uv.lock"
# byte code compiled at install: with PYTHONDONTWRITEBYTECODE set (as on our machines) every
# process would otherwise compile Prefect, Dask and the rest again at each start, seconds of CPU
# per process, paid again by every Dask worker of every run
"$UV" sync --frozen --extra test --python "$PY" --quiet --compile-bytecode
# our own packages (installed editable, so not compiled above)
.venv/bin/python -m compileall -q -j 0 flows media records reports storage >/dev/null
log "ready: $REPO/.venv/bin/footage"
