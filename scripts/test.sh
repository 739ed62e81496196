#!/usr/bin/env bash
# The whole test suite, installing what it needs: Python packages (.venv), Debian's
# PostgreSQL (the database tests start throwaway clusters), npm packages (linters, web/),
# Chromium (web end-to-end tests). Runs every tier and linter, then exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
apt_install() {
  echo "test: installing Debian packages: $*"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

bash scripts/setup.sh dev || { echo "test: Python setup failed"; exit 1; }
PY=${VENV:-.venv}/bin/python

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install postgresql || { echo "test: cannot install postgresql (apt-get install postgresql)"; exit 1; }
fi
if [ ! -d tools/node_modules ]; then
  # `npm install`, not `npm ci`: the lock lists squawk's binaries for every platform and the
  # registry mirror here serves only the Linux ones, which `npm ci` treats as an error.
  npm install --prefix tools --no-audit --no-fund --no-save --loglevel=error || { echo "test: npm install in tools/ failed"; exit 1; }
fi

failed=()
step() {
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local t0=$SECONDS
  "$@"
  local rc=$?
  echo "=== $name: exit $rc in $((SECONDS - t0)) s"
  [ $rc -ne 0 ] && failed+=("$name (exit $rc)")
}

# The structure and code rules (pyproject.toml): import contracts (layers, no cycles, backends
# and trainer free of pipeline/store imports), ruff, mypy. Each fails CI when a rule breaks.
BIN=$(dirname "$PY")
step "import contracts (lint-imports)" "$BIN/lint-imports"
step "ruff" "$BIN/ruff" check .
step "mypy" "$PY" -m mypy
# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
step "python tests" "$PY" -m pytest ml_pipeline/tests tests -q -p no:cacheprovider
[ -f scripts/lint-sql.sh ] && step "squawk (SQL migrations)" bash scripts/lint-sql.sh
[ -f scripts/lint-workflows.sh ] && step "actionlint + zizmor (workflows)" bash scripts/lint-workflows.sh
[ -f scripts/test-web.sh ] && step "web (unit, build, e2e)" bash scripts/test-web.sh

echo
if [ ${#failed[@]} -ne 0 ]; then
  printf 'test: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "test: all steps passed"
