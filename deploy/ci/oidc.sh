#!/usr/bin/env bash
# Sign-in through a real OpenID provider: installs node's oidc-provider (pinned in
# deploy/ci/oidc/package-lock.json), then runs the tests marked "oidc", which start provider.js on a
# loopback port and sign in through it with the Django test client and with Chromium (moderator, lead,
# a removed group, amr with and without a second factor; expired, tampered, wrong-audience and
# wrong-issuer ID tokens and replayed states refused). A missing node, provider or Chromium fails
# (REQUIRE_SERVICES). Prints "oidc: sign-ins=N refused=M", the sign-ins that went through and those refused.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v npm >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
npm ci --prefix deploy/ci/oidc --no-audit --no-fund

tally="$(mktemp)"
trap 'rm -f "$tally"' EXIT
rc=0
env -u DATABASE_URL REQUIRE_SERVICES=oidc,chromium OIDC_TALLY_FILE="$tally" \
  .venv/bin/python -m pytest -p no:cacheprovider -m oidc \
  tests/integration/test_oidc_peer.py tests/browser/test_oidc_browser.py || rc=$?

awk '{ signed += $2; refused += $3 } END { printf "oidc: sign-ins=%d refused=%d\n", signed, refused }' "$tally"
exit "$rc"
