#!/usr/bin/env bash
# Installs egw on a Debian 13 gateway, as root, from its Debian package:
#
#   bash scripts/install-gateway.sh [PACKAGE]     (default: the newest build/egw_*_amd64.deb beside this script)
#
# Build the package first with `npm run package` (on a build machine, not on the gateway). The gateway needs
# Debian's own packages only: no compiler, no npm, no git. The script installs the package and its dependencies;
# it does not write /etc/egw/egw.yaml, which describes your network (start from the one the package installs), and
# it starts nothing. The Vagrant lab's gateways, and the system test's Debian 13 machines, are installed with it.
#
# ONE SOURCE: the block between the install-gateway markers is quoted verbatim in docs/operator-guide.md, and
# test/unit/docs/install-gateway.test.ts fails when the two differ. Change it here, then copy it there.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-gateway: run as root" >&2
  exit 1
fi
EGW_SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGE=${1:-$(find "$EGW_SOURCE/build" -maxdepth 1 -name 'egw_*_amd64.deb' 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$PACKAGE" ] || [ ! -f "$PACKAGE" ]; then
  echo "install-gateway: no package; build it with 'npm run package' (it writes build/egw_<version>_amd64.deb)" >&2
  exit 1
fi

# install-gateway:begin
# 1. The package and the Debian packages it depends on: nodejs, nftables, iproute2, keepalived, conntrackd,
#    conntrack, ulogd2, ulogd2-json, openssl. When they are already installed (a prepared image) nothing is
#    downloaded; otherwise apt refreshes its lists and fetches them.
export DEBIAN_FRONTEND=noninteractive
apt-get install -y "$PACKAGE" || { apt-get update && apt-get install -y "$PACKAGE"; }

# 2. What the package did: the software in /usr/lib/egw and /usr/bin/egw; the egw system user and group (members
#    of the group may use the CLI's socket); /etc/egw with an admin token readable by egw only (32 random bytes,
#    base64; an existing one is kept) and the default config /etc/egw/egw.yaml; the units egw.service (with its
#    path units and backup timer) and the drop-ins for Debian's keepalived and conntrackd, which stay disabled:
#    egw's first configuration starts them. Check the installed version:
egw --version
# install-gateway:end

echo "install-gateway: installed $(basename "$PACKAGE"). Next: write /etc/egw/egw.yaml, check it with" \
  "'egw check-config --config /etc/egw/egw.yaml', then 'systemctl enable --now egw' and 'egw doctor'."
