#!/usr/bin/env bash
# Refuses a keepalived configuration that does more than egw's own template does (templates/keepalived.conf.hbs):
# no script of any kind, no include, scripts (were there any) only as "nobody" under enable_script_security.
#
#   check-keepalived-conf.sh FILE
#
# keepalived runs as root and reads a file the unprivileged egw daemon writes; a compromised egw could otherwise
# add a notify script and become root. The keepalived.service drop-in runs this (root-owned, from /usr/lib/egw) before
# keepalived starts and before every reload: a refused file leaves keepalived on its previous configuration.
# Allowlist, not denylist: every line must be one egw's template can produce.
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: $0 FILE" >&2
  exit 2
fi
exec awk '
  function fail(why) { printf "check-keepalived-conf: %s:%d: %s: %s\n", FILENAME, FNR, why, $0 > "/dev/stderr"; bad = 1; exit 1 }
  BEGIN {
    split("global_defs router_id notify_fifo vrrp_garp_master_delay vrrp_garp_master_repeat vrrp_garp_master_refresh " \
          "fifo_write_vrrp_states_on_reload enable_script_security script_user track_file file vrrp_instance state " \
          "nopreempt interface virtual_router_id priority advert_int version dont_track_primary unicast_src_ip " \
          "check_unicast_src unicast_peer track_interface virtual_ipaddress virtual_ipaddress_excluded", words, " ")
    for (i in words) allowed[words[i]] = 1
    block = ""
  }
  /^[[:space:]]*(#|!|$)/ { next }
  {
    first = $1
    if (first == "}") { block = ""; next }
    if (block == "unicast_peer") { if (NF != 1 || first !~ /^[0-9a-fA-F:.]+$/) fail("not a peer address"); next }
    if (block == "track_interface") { if (NF != 1 || first !~ /^[A-Za-z0-9_.-]+$/) fail("not an interface name"); next }
    if (block == "virtual_ipaddress" || block == "virtual_ipaddress_excluded") {
      if (NF != 3 || first !~ /^[0-9a-fA-F:.]+\/[0-9]+$/ || $2 != "dev" || $3 !~ /^[A-Za-z0-9_.-]+$/) fail("not ADDRESS/LEN dev IFACE")
      next
    }
    if (block == "track_file_use") { if (!(NF == 3 && first == "egw_health" && $2 == "weight" && $3 == "0")) fail("not the health file"); next }
    if (!(first in allowed)) fail("not a keyword egw writes")
    if (first == "script_user" && !(NF == 2 && $2 == "nobody")) fail("scripts may only run as nobody")
    if (first == "notify_fifo" && NF != 2) fail("a notify FIFO without a script")
    if (first == "enable_script_security") secure = 1
    if ($NF == "{") {
      if (first == "unicast_peer" || first == "track_interface" || first == "virtual_ipaddress" || first == "virtual_ipaddress_excluded") block = first
      else if (first == "track_file" && NF == 2) block = "track_file_use"
    }
  }
  END { if (!bad && !secure) { print "check-keepalived-conf: " FILENAME ": enable_script_security is missing" > "/dev/stderr"; exit 1 } }
' "$1"
