#!/usr/bin/env bash
# Tests for the Monitoring page in web/: unit tests (Vitest), type-check + production
# build, then end-to-end tests of the built app in real headless Chromium (playwright-core
# driving Debian's /usr/bin/chromium; Supabase is answered by in-test route handlers, so no
# network is needed beyond the npm registry for `npm ci` and Debian's archive for Chromium).
#
# Usage: bash scripts/test-web.sh        Exits non-zero on any failure.
# Env:   CHROMIUM_PATH (default /usr/bin/chromium)
#        E2E_SCREENSHOT (default docs/screenshot.png; the image is deterministic)
#        E2E_SCREENSHOTS_DIR (default docs/screenshots: healthy / alert / pending-request at
#        1280x800 and 390x844, deterministic)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
web="$root/web"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
start=$SECONDS

step() { printf '\n== test-web: %s (%ss)\n' "$1" "$((SECONDS - start))"; }
die() { printf 'test-web: error: %s\n' "$1" >&2; exit 1; }

command -v node >/dev/null || die "node is not installed (Node.js >= 20.19 is required)"
command -v npm >/dev/null || die "npm is not installed"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
    die "Node.js >= 20.19 is required by Vite 8 (found $(node --version))"

if [[ ! -x "$chromium" ]]; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
        step "installing Chromium with apt-get ($chromium is missing)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends chromium >/dev/null
        [[ -x "$chromium" ]] || die "apt-get installed chromium but $chromium is still missing"
    else
        die "$chromium is missing. Install Debian's chromium (as root: apt-get update && apt-get install -y chromium) or set CHROMIUM_PATH."
    fi
fi

cd "$web"

step "npm ci"
# `npm ci` installs exactly package-lock.json. If it refuses the lock (as it does in tools/
# when the registry serves only this platform's optional binaries), fall back to an install
# that keeps the lock's pins and does not rewrite it, and say so.
if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "test-web: warning: npm ci failed; retrying with npm install --no-save (lock unchanged)" >&2
    npm install --no-audit --no-fund --no-save --loglevel=error
fi

step "unit tests (vitest)"
npm test

step "type-check + production build"
npm run build

step "build for e2e (VITE_SUPABASE_URL=http://127.0.0.1:54321, intercepted by the tests)"
# The e2e bundle must point at the fake origin whatever the caller's environment says.
env -u VITE_SUPABASE_URL -u VITE_SUPABASE_ANON_KEY npm run build:e2e

step "end-to-end tests (headless Chromium: $("$chromium" --version 2>/dev/null | head -1))"
# bundle.test.mjs checks dist/ and dist-e2e/ (no source maps, no Realtime client); the other
# files drive the built app at 360, 390, 430 and 1280 px with axe-core.
CHROMIUM_PATH="$chromium" npm run e2e

step "done"
