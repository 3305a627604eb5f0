#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the single-gateway demo in network
# namespaces on this machine (as root). Nothing is attached to the host's interfaces; everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it creates network namespaces)" >&2
  exit 1
fi
bash scripts/install-deps.sh
exec node dist/lab/demo.js "$@"
