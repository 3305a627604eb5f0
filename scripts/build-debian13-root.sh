#!/usr/bin/env bash
# Builds (once) the Debian 13 root file system that the system tests boot as systemd-nspawn machines, and prints
# its path. It is cached under /var/cache/egw-ci, named by a digest of this script: change the package list and a
# new one is built (about 5 minutes), otherwise the cached one is reused. Run as root.
#
# The machines get Debian's own packages only: systemd as PID 1, the runtime dependencies of the egw package
# (nftables, iproute2, keepalived, conntrackd, conntrack, ulogd2 and ulogd2-json, nodejs), and the tools the test suite drives (trafgen,
# iperf3, openssl, python3, promtool from prometheus, dnsmasq for the egress policy tests, chromium and a font for the
# status page's browser tests, ansible-core for the automation example's test). No compiler, no npm and no git: the
# package must install without them.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "build-debian13-root: run as root" >&2
  exit 1
fi
PACKAGES=systemd,systemd-sysv,dbus,nftables,iproute2,keepalived,conntrackd,conntrack,ulogd2,ulogd2-json,dnsmasq-base,nodejs,procps,ca-certificates,openssl,python3,netsniff-ng,iperf3,prometheus
LATE_PACKAGES=(chromium fonts-dejavu-core ansible-core)
CACHE=${EGW_ROOT_CACHE:-/var/cache/egw-ci}
digest=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
root="$CACHE/debian13-$digest"
if [ -f "$root/.egw-complete" ]; then
  echo "$root"
  exit 0
fi

for tool in debootstrap systemd-nspawn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap systemd-container >&2
    break
  fi
done

# The mirror apt already uses on this machine (CI reaches Debian's packages, nothing else).
mirror=$(grep -rhoE 'https?://[^ ]*debian(/)?$|https?://deb\.debian\.org/debian' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -v security | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

install -d -m 0755 "$CACHE"
work=$(mktemp -d "$CACHE/.debian13-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-debian13-root: debootstrap trixie from $mirror into $work (about 5 minutes)" >&2
debootstrap --variant=minbase --include="$PACKAGES" trixie "$work" "$mirror" >&2
# Chromium and ansible-core have deep dependency trees that apt resolves better than debootstrap does.
DEBIAN_FRONTEND=noninteractive chroot "$work" apt-get install -y -qq --no-install-recommends "${LATE_PACKAGES[@]}" >&2

# Booted as a container: no getty on a console it does not have, no network configuration of its own (the tests
# wire every link), Debian's keepalived and conntrackd disabled (egw's package keeps them so; the test suite starts
# its own instances), an empty machine-id so that each boot makes its own.
chroot "$work" systemctl mask console-getty.service getty@tty1.service systemd-networkd.service \
  systemd-resolved.service >/dev/null 2>&1 || true
chroot "$work" systemctl disable keepalived.service conntrackd.service >/dev/null 2>&1 || true
# prometheus is there for promtool (the tests check the alert rules with it); its server is not wanted.
chroot "$work" systemctl mask prometheus.service prometheus-node-exporter.service >/dev/null 2>&1 || true
: > "$work/etc/machine-id"
echo "egw-test" > "$work/etc/hostname"
chroot "$work" apt-get clean
touch "$work/.egw-complete"

rm -rf "$root"
mv "$work" "$root"
trap - EXIT
# Older roots of this script are no longer used.
find "$CACHE" -maxdepth 1 -name 'debian13-*' ! -path "$root" -exec rm -rf {} +
echo "$root"
