#!/usr/bin/env bash
# `docker compose` (v2) from the repo root, for make, npm scripts and the tests alike. Image
# builds get the CAs this host trusts locally (/usr/local/share/ca-certificates), for their npm
# step behind a TLS-intercepting proxy; set EXTRA_CA_CERTS (even empty) to choose yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
docker compose version >/dev/null 2>&1 || { echo "docker compose (v2) missing: run scripts/setup.sh" >&2; exit 1; }
if [[ -z ${EXTRA_CA_CERTS+set} ]] && compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)"
  export EXTRA_CA_CERTS
fi
exec docker compose "$@"
