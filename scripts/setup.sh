#!/usr/bin/env bash
# Create the virtual environment (.venv, or $VENV) and install the Python dependencies.
# Usage: scripts/setup.sh [runtime|dev]   (dev = runtime + what the tests and benchmarks need)
# Re-installs only when the requirements files changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-runtime}
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
req=requirements.txt
[ "$kind" = dev ] && req=requirements-dev.txt

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$kind"
digest=$(cat requirements.txt "$req" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "setup: installing $req into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$digest" > "$stamp"
fi
