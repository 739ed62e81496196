#!/usr/bin/env bash
# Lint supabase/migrations/*.sql with squawk, pinned in tools/package.json.
# Settings: .squawk.toml (PostgreSQL 15, each file in a transaction). Exceptions are
# justified in place with `-- squawk-ignore <rule>` comments. Exits non-zero on findings.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

squawk="tools/node_modules/.bin/squawk"
if [[ ! -x "$squawk" ]]; then
    echo "lint-sql: installing the pinned lint tools (npm ci --prefix tools)" >&2
    # `npm ci` refuses the lock when the registry serves only this platform's squawk
    # binary (the lock lists all of them); `npm install --no-save` keeps the pins.
    npm ci --prefix tools --no-audit --no-fund --loglevel=error >&2 ||
        npm install --prefix tools --no-audit --no-fund --no-save --loglevel=error >&2
fi

shopt -s nullglob
migrations=(supabase/migrations/*.sql)
if (( ${#migrations[@]} == 0 )); then
    echo "lint-sql: no migrations found in supabase/migrations/" >&2
    exit 1
fi

"$squawk" --config .squawk.toml "${migrations[@]}"
echo "lint-sql: squawk $("$squawk" --version | awk '{print $2}'): ${#migrations[@]} migrations, no findings"
