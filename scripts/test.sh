#!/usr/bin/env bash
# The whole gate, exactly as CI runs it: lint, format, types, jobs config, template, tests.
# Extra arguments go to pytest (e.g. scripts/test.sh -k links -x).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
echo "== ruff check";   ruff check .
echo "== ruff format";  ruff format --check .
echo "== mypy";         mypy
echo "== jobs config";  PYTHONPATH=src python -m ecswatch.config --check src/ecswatch/config/jobs.yaml
echo "== sam validate"; sam validate --lint --region eu-west-1 --template template.yaml
echo "== pytest";       python -m pytest "$@"
