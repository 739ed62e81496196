#!/usr/bin/env bash
# The main job on the embedded local store with sample data, installing what it needs:
# creates .venv, installs requirements.txt, fills ./.ml_pipeline with the sample evaluation
# log and base model (only if it is empty), then runs the job. Extra arguments go to the job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh runtime
PY=${VENV:-.venv}/bin/python
"$PY" -m ml_pipeline.sample_data
exec "$PY" -m ml_pipeline.auto_reinforcement "$@"
