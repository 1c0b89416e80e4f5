#!/usr/bin/env bash
# Compile src/requirements.in into src/requirements.txt: every transitive package pinned, with the
# hashes of all its published files (so the arm64 wheels `sam build` fetches are checked too).
# Run after changing src/requirements.in; CI checks the lock is in sync (tests/project/test_lock.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/runtime_python.sh
lockenv=.venv-lock
[ -x "$lockenv/bin/pip-compile" ] || { "$RUNTIME_PYTHON" -m venv "$lockenv" && "$lockenv/bin/pip" install --quiet pip-tools==7.7.0; }
"$lockenv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
  --output-file src/requirements.txt src/requirements.in
echo "src/requirements.txt: $(grep -c '==' src/requirements.txt) packages pinned with hashes"
