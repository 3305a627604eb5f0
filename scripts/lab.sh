#!/usr/bin/env bash
# The namespace lab from a checkout, as root: `bash scripts/lab.sh up|demo|status|fail|restore|down [options]`.
# Before `up` and `demo` it installs what is missing (Debian packages, npm dependencies, the build); its output goes
# to stderr, so that `demo --json` prints only the JSON report on stdout. See docs/lab.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "lab: run as root: the lab creates network namespaces and runs the daemon, keepalived and conntrackd in them (try sudo)" >&2
  exit 1
fi
case "${1:-}" in
  up | demo) bash scripts/install-deps.sh >&2 ;;
  *) [ -f dist/bin/egw.js ] || bash scripts/install-deps.sh >&2 ;;
esac
exec node dist/bin/egw.js lab "$@"
