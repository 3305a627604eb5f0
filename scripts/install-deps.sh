#!/usr/bin/env bash
# Installs what the appliance, its tests and its lab need on a fresh Debian machine (run as root):
# the Debian packages for the data plane, then the npm dependencies, then the build.
# With --ci it also installs the tools CI checks with: shellcheck, and vagrant when Debian packages it.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (it installs Debian packages and the lab needs network namespaces)" >&2
    exit 1
  fi
}

# iperf3, netsniff-ng (trafgen) and wrk are the benchmarks' load generators; prometheus ships promtool, which the
# tests run on the alert rules (its server is not wanted here: stopped and disabled below); chromium (with a font)
# drives the status page's browser tests, ansible-core runs the automation example's playbook.
PACKAGES=(nftables iproute2 keepalived conntrackd conntrack ulogd2 ulogd2-json dnsmasq-base iperf3 netsniff-ng wrk procps ca-certificates openssl python3 make g++ prometheus chromium fonts-dejavu-core ansible-core)
CI=false
if [ "${1:-}" = "--ci" ]; then
  CI=true
  PACKAGES+=(shellcheck)
fi
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  need_root
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Only promtool is used: the Prometheus server the package starts where systemd runs would listen on :9090.
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet prometheus.service 2>/dev/null; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi

# `vagrant validate` in CI, only where Debian packages vagrant (bookworm does; it is about 1.5 minutes to install).
if [ "$CI" = true ] && ! command -v vagrant >/dev/null 2>&1; then
  candidate=$(apt-cache policy vagrant 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ]; then
    need_root
    echo "install-deps: installing vagrant $candidate (for vagrant validate)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends vagrant
  else
    echo "install-deps: no vagrant package in the configured apt sources; CI skips vagrant validate"
  fi
fi

# Debian 12's own nodejs is 18; the appliance needs 20 or newer (Debian 13 packages 20).
if ! command -v node >/dev/null 2>&1; then
  need_root
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: Node.js $(node --version) is too old; the appliance needs Node.js 20 or newer" >&2
  exit 1
fi

# better-sqlite3 compiles from source when no prebuilt binary can be downloaded (about a minute).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
