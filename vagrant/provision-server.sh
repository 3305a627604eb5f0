#!/usr/bin/env bash
# Provisions the lab's external server: it stands for the firewall-protected service. Port 8080 answers every HTTP
# request with the source address it saw (what a firewall would see), port 8081 echoes whatever it receives.
set -euo pipefail
repo=/vagrant

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3

install -m 0755 "$repo/vagrant/whoami-server.py" /usr/local/bin/egw-lab-whoami
cat > /etc/systemd/system/egw-lab-whoami.service <<'UNIT'
[Unit]
Description=egw lab: answers with the client's source address (:8080 HTTP) and echoes (:8081)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/egw-lab-whoami
DynamicUser=yes
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable egw-lab-whoami.service
systemctl restart egw-lab-whoami.service
echo "provision-server: listening on 203.0.113.200:8080 (who am I) and :8081 (echo)"
