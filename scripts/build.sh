#!/usr/bin/env bash
# `sam build` with the Lambda runtime's Python, then a smoke test of the artifact: each function's
# handler is imported from .aws-sam/build by that Python, and each function's size is printed.
# Extra arguments go to `sam build` (e.g. --use-container, which needs Docker and no local Python).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source scripts/runtime_python.sh
echo "== sam build (python$RUNTIME_VERSION: $RUNTIME_PYTHON)"
PATH="$(dirname "$RUNTIME_PYTHON"):$PATH" sam build --template template.yaml "$@"
echo "== artifact smoke test"
python scripts/smoke_artifact.py "$RUNTIME_PYTHON" .aws-sam/build
