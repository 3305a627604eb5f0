#!/usr/bin/env bash
# Provisions a gateway VM of the Vagrant lab: installs egw's Debian package the way an operator does
# (scripts/install-gateway.sh, the steps the operator's guide documents), then writes this gateway's config and
# starts the service. The system test (test/system/) runs this same script, unchanged, in Debian 13 machines.
# Usage: provision-gateway.sh NAME PRIORITY INSIDE OUTSIDE SYNC PEER_NAME PEER_INSIDE PEER_OUTSIDE PEER_SYNC
set -euo pipefail
if [ "$#" -ne 9 ]; then
  echo "usage: $0 NAME PRIORITY INSIDE OUTSIDE SYNC PEER_NAME PEER_INSIDE PEER_OUTSIDE PEER_SYNC" >&2
  exit 2
fi
name=$1 priority=$2 inside=$3 outside=$4 sync=$5 peer_name=$6 peer_inside=$7 peer_outside=$8 peer_sync=$9
vip=172.31.0.1
repo=/vagrant

# The interface that holds ADDRESS (Vagrant configured the lab networks with static addresses).
interface_of() {
  local found
  found=$(ip -o -4 address show | awk -v a="$1" '{ split($4, p, "/"); if (p[1] == a) print $2 }' | head -n 1)
  if [ -z "$found" ]; then
    echo "provision-gateway: no interface has $1; did Vagrant configure the private networks?" >&2
    exit 1
  fi
  echo "$found"
}

bash "$repo/scripts/install-gateway.sh"

# Both gateways share the admin token; each has its own replication certificate and trusts the peer's (all
# generated on the host by the Vagrantfile).
# The daemon runs as the egw user: the token and the key are its own (0600), the directory its group's.
install -m 0600 -o egw -g egw "$repo/vagrant/.secrets/admin-token" /etc/egw/admin-token
install -d -m 0750 -o root -g egw /etc/egw/peer
install -m 0600 -o egw -g egw "$repo/vagrant/.secrets/$name.key" "/etc/egw/peer/$name.key"
install -m 0644 "$repo/vagrant/.secrets/$name.crt" "/etc/egw/peer/$name.crt"
install -m 0644 "$repo/vagrant/.secrets/$peer_name.crt" /etc/egw/peer/trusted.pem

# Lab sysctls: listen on the VIP before holding it; loose reverse-path filtering (asymmetric paths on failover).
cat > /etc/sysctl.d/60-egw-lab.conf <<SYSCTL
net.ipv4.ip_nonlocal_bind = 1
net.ipv4.conf.all.rp_filter = 2
net.ipv4.conf.default.rp_filter = 2
SYSCTL
sysctl -q -p /etc/sysctl.d/60-egw-lab.conf   # these settings only (a container refuses some of the distribution's own)

sed -e "s/@NAME@/$name/g" -e "s/@PRIORITY@/$priority/g" -e "s/@VIP@/$vip/g" \
  -e "s/@SYNC@/$sync/g" \
  -e "s/@INSIDE_IF@/$(interface_of "$inside")/g" -e "s/@OUTSIDE_IF@/$(interface_of "$outside")/g" \
  -e "s/@SYNC_IF@/$(interface_of "$sync")/g" \
  -e "s/@PEER_NAME@/$peer_name/g" -e "s/@PEER_INSIDE@/$peer_inside/g" -e "s/@PEER_OUTSIDE@/$peer_outside/g" \
  -e "s/@PEER_SYNC@/$peer_sync/g" \
  "$repo/vagrant/egw-gateway.yaml.in" > /etc/egw/egw.yaml.new
egw check-config --config /etc/egw/egw.yaml.new
mv /etc/egw/egw.yaml.new /etc/egw/egw.yaml

systemctl enable egw.service
systemctl restart egw.service
for _ in $(seq 1 60); do
  if egw status >/dev/null 2>&1; then break; fi
  sleep 1
done
egw status
echo "provision-gateway: $name is running egw ($outside outside, $inside inside, VIP $vip)"
