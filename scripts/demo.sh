#!/usr/bin/env bash
# Offline demo: the real handler over every sample event, AWS served by moto, Datadog and Slack
# by local capturing endpoints. Prints what on-call would get. Needs no Docker, AWS or credentials.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec python scripts/demo.py "$@"
