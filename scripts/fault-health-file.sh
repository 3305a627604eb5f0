#!/usr/bin/env bash
# Puts this gateway's VRRP group in FAULT because its daemon has failed for good:
#
#   fault-health-file.sh FILE          (FILE: the health file keepalived tracks, /run/egw/health)
#
# systemd runs it (egw-failed.service, OnFailure= of egw.service) once egw.service has failed and will not be
# restarted: a configuration error (exit 78) or the start limit reached. A restart after a crash or the watchdog
# does not get here. keepalived, tracking the file, then gives the floating IPs to the peer, whose daemon applies and
# replicates; a master without a daemon would keep them with its data plane frozen. The daemon's next start writes
# the file again (healthy), and the gateway returns as backup. Without the file (no HA) there is nothing to do.
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: $0 FILE" >&2
  exit 2
fi
if [ ! -e "$1" ]; then
  exit 0
fi
# Replaced whole, as the daemon does: keepalived must never read half a file.
printf '1\n' > "$1.failed"
chmod 0644 "$1.failed"
mv -f "$1.failed" "$1"
echo "fault-health-file: egw.service failed; $1 now faults this gateway, the peer takes the floating IPs"
