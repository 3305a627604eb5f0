#!/usr/bin/env bash
# Installs egw on a Debian 13 gateway VM, as root, from a checkout (or an unpacked release) of the repository:
#
#   bash scripts/install-gateway.sh
#
# It installs the Debian packages, builds the appliance into /opt/egw, creates /etc/egw with an admin token, and
# installs and enables the systemd units. It does not write /etc/egw/egw.yaml, which describes your network (start
# from docs/examples/egw.yaml), and it starts nothing. The Vagrant lab's gateways are installed with it.
#
# ONE SOURCE: the block between the install-gateway markers is quoted verbatim in docs/operator-guide.md, and
# test/unit/docs/install-gateway.test.ts fails when the two differ. Change it here, then copy it there.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-gateway: run as root" >&2
  exit 1
fi
EGW_SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# install-gateway:begin
# 1. Debian packages: nftables and iproute2 (the data plane), keepalived, conntrackd and conntrack (high
#    availability), Node.js 20 or newer with npm (Debian 13's nodejs), build-essential and python3 (to compile
#    better-sqlite3 when npm cannot download a prebuilt binary), openssl (egw peer-cert), rsync (to copy the software).
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends nftables iproute2 keepalived conntrackd conntrack \
  nodejs npm build-essential python3 ca-certificates openssl rsync
node -e 'const v = process.versions.node; if (Number(v.split(".")[0]) < 20) { console.error("Node.js " + v + " is too old: egw needs 20 or newer"); process.exit(1); }'

# 2. The software in /opt/egw: a copy of the checkout or release in $EGW_SOURCE, built there. The build needs
#    TypeScript, a development dependency: install everything, build, then remove the development dependencies.
install -d -m 0755 /opt/egw
rsync -a --delete --exclude .git --exclude node_modules --exclude dist --exclude vagrant/.secrets \
  "${EGW_SOURCE:?set EGW_SOURCE to the checkout or unpacked release}/" /opt/egw/
cd /opt/egw
npm ci --no-audit --no-fund
npm run build
npm prune --omit=dev --no-audit --no-fund
chmod 0755 /opt/egw/dist/bin/egw.js
ln -sf /opt/egw/dist/bin/egw.js /usr/local/bin/egw      # the operator's CLI: egw status, egw doctor, …

# 3. The egw system user and group: the daemon runs as egw with CAP_NET_ADMIN only; members of the group may use
#    the CLI's socket. /etc/egw and the admin token: 32 random bytes, base64 (44 characters), readable by egw only
#    (root reads it too). An existing token is kept. The config, /etc/egw/egw.yaml, is yours to write: start from
#    /opt/egw/docs/examples/egw.yaml.
getent group egw >/dev/null || groupadd --system egw
getent passwd egw >/dev/null || useradd --system --gid egw --home-dir /var/lib/egw --no-create-home --shell /usr/sbin/nologin egw
install -d -m 0750 -o root -g egw /etc/egw
[ -s /etc/egw/admin-token ] || (umask 077 && head -c 32 /dev/urandom | base64 > /etc/egw/admin-token)
chown egw:egw /etc/egw/admin-token
chmod 0600 /etc/egw/admin-token

# 4. The systemd units. In a gateway pair (`ha.processes: systemd`) keepalived and conntrackd run as root under their
#    own units, with the configuration egw generates in /run/egw (drop-ins), and two path units restart them when
#    egw rewrites it: that is all egw may do to them. They must not start on their own at boot: egw's first
#    configuration starts them, once its data plane is in place.
install -m 0644 /opt/egw/templates/systemd/egw.service /opt/egw/templates/systemd/egw-*-reload.path \
  /opt/egw/templates/systemd/egw-*-reload.service /etc/systemd/system/
install -D -m 0644 /opt/egw/templates/systemd/keepalived.service.d/egw.conf /etc/systemd/system/keepalived.service.d/egw.conf
install -D -m 0644 /opt/egw/templates/systemd/conntrackd.service.d/egw.conf /etc/systemd/system/conntrackd.service.d/egw.conf
systemctl daemon-reload
systemctl enable egw.service egw-keepalived-reload.path egw-conntrackd-reload.path
systemctl disable keepalived.service conntrackd.service
# install-gateway:end

echo "install-gateway: installed in /opt/egw. Next: write /etc/egw/egw.yaml, check it with" \
  "'egw check-config --config /etc/egw/egw.yaml', then 'systemctl start egw' and 'egw doctor'."
