#!/usr/bin/env bash
# Runs a command in cgroups of its own:  in-cgroups.sh DIR... -- COMMAND [ARGS...]
# Each DIR is a cgroup directory (made by the caller); this shell moves itself into each, then becomes COMMAND.
# systemd-nspawn --keep-unit roots a machine's cgroups where it was started: without a cgroup of its own, two
# machines would share one tree, and each one's systemd would see the other's services as its own.
set -euo pipefail
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  echo "$$" > "$1/cgroup.procs"
  shift
done
shift
exec "$@"
