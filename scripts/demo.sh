#!/usr/bin/env bash
# The README's main command: on a Debian machine, as root, installs what is missing and runs the lab demo: two
# gateways (egw, keepalived, conntrackd), a node with pods and an external server in network namespaces; the REST
# calls, the egress IPs the server sees, a hard failover with a TCP stream open, and the old master's return.
# Options: --json (one JSON report on stdout), --keep (leave the lab running; `bash scripts/lab.sh down` removes it).
set -euo pipefail
exec bash "$(dirname "$0")/lab.sh" demo "$@"
