#!/usr/bin/env bash
# Cheap gate for the pickup schedule of .github/workflows/auto-reinforcement.yml:
# asks Supabase's REST API (PostgREST) whether any row of model_retraining_requests
# is `pending`, so that the expensive job (Python setup + training) only starts when
# there is work. One GET of at most one id; no Python, no checkout of dependencies.
#
# Input (environment): SUPABASE_URL, SUPABASE_SERVICE_KEY (repository secrets).
# Output: `pending=true|false` appended to $GITHUB_OUTPUT (stdout when unset).
# Exit status:
#   0  answered (pending true or false), or Supabase unreachable / 5xx: a warning,
#      pending=false, and the next tick (or the nightly run) tries again;
#   1  Supabase answered 401/403/404: wrong key, or migrations not applied;
#   2  a secret is missing.
# The key is never printed: it reaches curl through a 0600 header file, not argv.
set -euo pipefail

output="${GITHUB_OUTPUT:-/dev/stdout}"

missing=()
[[ -n "${SUPABASE_URL:-}" ]] || missing+=(SUPABASE_URL)
[[ -n "${SUPABASE_SERVICE_KEY:-}" ]] || missing+=(SUPABASE_SERVICE_KEY)
if ((${#missing[@]})); then
  echo "::error title=Missing Supabase secrets::${missing[*]} not set. Add them under Settings > Secrets and variables > Actions (see docs/github-actions.md)."
  exit 2
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
umask 077

# Legacy service_role keys are JWTs (eyJ...) and go in both headers; the newer
# sb_secret_... keys are not JWTs and belong in the apikey header only.
{
  printf 'apikey: %s\n' "$SUPABASE_SERVICE_KEY"
  if [[ "$SUPABASE_SERVICE_KEY" == eyJ* ]]; then
    printf 'Authorization: Bearer %s\n' "$SUPABASE_SERVICE_KEY"
  fi
  printf 'Accept: application/json\n'
} >"$workdir/headers"

url="${SUPABASE_URL%/}/rest/v1/model_retraining_requests?status=eq.pending&select=id&limit=1"
status="$(curl --silent --show-error --max-time 20 --retry 2 --retry-connrefused \
  --header "@$workdir/headers" --output "$workdir/body" --write-out '%{http_code}' \
  "$url")" || status="000"

case "$status" in
  200)
    if grep -q '"id"' "$workdir/body"; then pending=true; else pending=false; fi
    ;;
  401 | 403)
    echo "::error title=Supabase rejected the key::HTTP $status from the REST API. Check that SUPABASE_SERVICE_KEY is the project's service_role (or sb_secret_) key."
    exit 1
    ;;
  404)
    echo "::error title=Table not found::HTTP 404 for model_retraining_requests. Check SUPABASE_URL and that the migrations in supabase/migrations are applied."
    exit 1
    ;;
  *)
    echo "::warning title=Supabase unreachable::HTTP $status while checking for pending requests; skipping this tick (the next one retries)."
    pending=false
    ;;
esac

echo "pending=$pending" >>"$output"
echo "Pending retraining requests: $pending"
