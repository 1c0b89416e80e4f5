#!/usr/bin/env bash
# Create .venv and install requirements-dev.txt into it, once per change of the requirement files.
# Sourced by scripts/demo.sh, scripts/test.sh and scripts/bench.sh; needs only python3 (3.11+) and PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.ecswatch-requirements
want=$(cat requirements-dev.txt src/requirements.in pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "== installing requirements-dev.txt into .venv (first run takes a minute or two)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt >&2
  echo "$want" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
