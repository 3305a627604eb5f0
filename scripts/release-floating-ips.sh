#!/usr/bin/env bash
# Takes the floating addresses (the inside VIPs and the egress IPs) off this gateway's interfaces once keepalived
# is gone, whatever killed it:
#
#   release-floating-ips.sh FILE        (FILE: the keepalived configuration egw generated, /run/egw/keepalived.conf)
#
# keepalived removes them itself when it stops cleanly; killed (SIGKILL, a crash, the OOM killer) it cannot, and a
# gateway that keeps a VIP or an egress IP its peer has taken over answers for it too: a duplicate address on the
# LAN and on the firewall's side. The keepalived.service drop-in runs this as ExecStopPost=, root-owned, from the
# package. It only ever deletes the ADDRESS/LEN dev IFACE lines of the virtual_ipaddress blocks (the only form
# check-keepalived-conf.sh lets through); an address that is not there is what we want.
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: $0 FILE" >&2
  exit 2
fi
if [ ! -s "$1" ]; then
  exit 0
fi
released=0
while read -r address iface; do
  if ip address del "$address" dev "$iface" 2>/dev/null; then
    released=$((released + 1))
    echo "release-floating-ips: removed $address from $iface"
  fi
done < <(awk '
  /^[[:space:]]*(virtual_ipaddress|virtual_ipaddress_excluded)[[:space:]]*\{/ { inblock = 1; next }
  inblock && $1 == "}" { inblock = 0; next }
  inblock && NF == 3 && $1 ~ /^[0-9a-fA-F:.]+\/[0-9]+$/ && $2 == "dev" && $3 ~ /^[A-Za-z0-9_.-]+$/ { print $1, $3 }
' "$1")
echo "release-floating-ips: keepalived is gone; $released floating address(es) were still on this gateway and are removed"
