#!/usr/bin/env bash
# Provisions the lab's cluster node: three "pods" (network namespaces with veth pairs, like a CNI would make)
# whose traffic the node routes, un-masqueraded, to the gateways' inside VIP. The node's own traffic keeps its
# default route; only traffic from the pod range goes to the VIP (policy routing).
# Usage: provision-node.sh VIP
set -euo pipefail
vip=${1:?usage: provision-node.sh VIP}
repo=/vagrant

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends iproute2 curl

install -m 0755 "$repo/vagrant/node-pods.sh" /usr/local/sbin/egw-lab-pods
install -m 0755 "$repo/vagrant/pod.sh" /usr/local/bin/pod
cat > /etc/systemd/system/egw-lab-pods.service <<UNIT
[Unit]
Description=egw lab: pod namespaces and routes to the gateways' inside VIP
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/egw-lab-pods up $vip
ExecStop=/usr/local/sbin/egw-lab-pods down

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable egw-lab-pods.service
systemctl restart egw-lab-pods.service
ip -br address
echo "provision-node: pods a (10.244.1.5), b (10.244.1.69) and c (10.244.2.5) route via $vip; try: sudo pod a whoami"
