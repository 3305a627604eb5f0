#!/usr/bin/env bash
# The lab node's pods: `egw-lab-pods up VIP` creates them, `egw-lab-pods down` removes them.
# Each pod is a network namespace (pod-a, pod-b, pod-c) with a veth to the node; the node forwards pod traffic to
# the gateways' inside VIP without masquerading it, so the gateway sees pod addresses.
set -euo pipefail

# pod  address/len     node side (pod's gateway)
PODS=(
  "a 10.244.1.5/26 10.244.1.1"
  "b 10.244.1.69/26 10.244.1.65"
  "c 10.244.2.5/24 10.244.2.1"
)
TABLE=100

down() {
  for spec in "${PODS[@]}"; do
    read -r pod _ _ <<<"$spec"
    ip netns del "pod-$pod" 2>/dev/null || true
  done
  ip rule del priority 90 2>/dev/null || true
  ip rule del priority 100 2>/dev/null || true
  ip route flush table "$TABLE" 2>/dev/null || true
}

up() {
  local vip=$1
  down
  sysctl -q -w net.ipv4.ip_forward=1
  sysctl -q -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2
  for spec in "${PODS[@]}"; do
    read -r pod address gateway <<<"$spec"
    local len=${address#*/}
    ip netns add "pod-$pod"
    ip link add "vpod$pod" type veth peer name eth0 netns "pod-$pod"
    ip address add "$gateway/$len" dev "vpod$pod"
    ip link set "vpod$pod" up
    ip -n "pod-$pod" link set lo up
    ip -n "pod-$pod" address add "$address" dev eth0
    ip -n "pod-$pod" link set eth0 up
    ip -n "pod-$pod" route add default via "$gateway"
  done
  # Pod to pod stays on the node; everything else from the pod range goes to the VIP.
  ip rule add priority 90 from 10.244.0.0/16 to 10.244.0.0/16 lookup main
  ip rule add priority 100 from 10.244.0.0/16 lookup "$TABLE"
  ip route add default via "$vip" table "$TABLE"
}

case "${1:-}" in
  up) up "${2:?usage: egw-lab-pods up VIP}" ;;
  down) down ;;
  *)
    echo "usage: egw-lab-pods up VIP | down" >&2
    exit 2
    ;;
esac
