#!/usr/bin/env bash
# Benchmarks: cold start as a ratio to a boto3 baseline, warm throughput in events/s, AWS calls per event,
# and the fault matrix (alerts lost, duplicated or leaking secrets under injected faults).
# AWS is moto on loopback; needs no Docker, AWS or credentials. Extra arguments go to bench/run.py
# (e.g. scripts/bench.sh --rounds 30, scripts/bench.sh --only throughput,
# scripts/bench.sh --only fault_matrix). Writes bench/results/latest.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec python -m bench.run "$@"
