#!/usr/bin/env bash
# Sourced by scripts/build.sh and scripts/lock.sh: find a Python of the Lambda runtime's version
# (template.yaml Globals Runtime, e.g. python3.12) and export RUNTIME_PYTHON and RUNTIME_VERSION.
# `sam build` without --use-container needs exactly that version on PATH; this says what is missing.
RUNTIME_VERSION=$(sed -n 's/^ *Runtime: *python\([0-9.]*\) *$/\1/p' template.yaml | head -n 1)
[ -n "$RUNTIME_VERSION" ] || { echo "template.yaml names no pythonX.Y Runtime" >&2; exit 2; }
RUNTIME_PYTHON=""
candidates=("python$RUNTIME_VERSION")
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E "^$RUNTIME_VERSION(\.[0-9]+)?$" | sort -V -r); do
    candidates+=("$(pyenv root)/versions/$v/bin/python$RUNTIME_VERSION")
  done
fi
for c in "${candidates[@]}"; do
  if out=$("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) && [ "$out" = "$RUNTIME_VERSION" ]; then
    RUNTIME_PYTHON=$(command -v "$c" || echo "$c"); break
  fi
done
if [ -z "$RUNTIME_PYTHON" ]; then
  cat >&2 <<MSG
The Lambda runtime is python$RUNTIME_VERSION (template.yaml), and no Python $RUNTIME_VERSION was found
(looked for python$RUNTIME_VERSION on PATH and in pyenv). Either install Python $RUNTIME_VERSION
(pyenv install $RUNTIME_VERSION, or your OS package), or build in the runtime's own image with Docker:
  sam build --use-container
MSG
  exit 2
fi
export RUNTIME_PYTHON RUNTIME_VERSION
