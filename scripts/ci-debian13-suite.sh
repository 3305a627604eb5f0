#!/usr/bin/env bash
# The project's whole test suite on Debian 13, with Debian's own packages (Node 20, nftables 1.1, keepalived 2.3,
# conntrackd, iproute2): builds on this host (`npm run build`), boots the cached Debian 13 root file system
# (scripts/build-debian13-root.sh) as a systemd-nspawn machine with systemd as PID 1, and runs in it
#
#   node --test --test-concurrency=1 $(find dist/test -name '*.test.js' | sort)
#
# with Debian's /usr/bin/node, on this checkout bind-mounted at the same path (its node_modules were built for
# Node 20, ABI 115, as Debian 13's node 20.19 is). Run as root. Exit status 0 only if every test passed.
#
# The machine has a network namespace of its own, made here (the tests make their own namespaces inside it;
# nothing is wired to the host's interfaces), and boots the cached root with --volatile=overlay: everything it
# writes goes to a tmpfs and the cache stays clean. The machine, its namespace and the temporary directory are
# removed on every exit path. EGW_CI_ARTIFACTS=DIR keeps the boot log and the tests' reports (spec and TAP) there.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-debian13: run as root" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
checkout=$(pwd -P)
started=$SECONDS

log() { echo "ci-debian13: $*"; }

root=$(bash scripts/build-debian13-root.sh)
if [ ! -f "$root/.egw-complete" ] || [ ! -x "$root/usr/bin/node" ]; then
  echo "ci-debian13: $root is not a complete Debian 13 root file system with nodejs" >&2
  exit 1
fi
log "root file system $root ($((SECONDS - started)) s)"

log "npm run build (on this host)"
npm run build

# The checkout's node_modules may be a link to another checkout's (a git worktree): that one is bound too.
modules=$(readlink -f node_modules)
if [ ! -f "$modules/better-sqlite3/package.json" ]; then
  echo "ci-debian13: $checkout/node_modules has no better-sqlite3: run npm ci first" >&2
  exit 1
fi
binds=(--bind="$checkout")
case "$modules/" in
  "$checkout"/*) ;;
  *) binds+=(--bind-ro="$modules") ;;
esac

tag="$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
namespace="egw-ci13-$tag"
machine="egw-ci13-$tag"
work=$(mktemp -d /tmp/egw-ci13.XXXXXX)
nspawn_pid=""
pid1=""
suite_pid=""
tail_pid=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
  # The suite's nsenter goes first: when the machine powers off, its systemd stops every process (SIGSTOP before
  # SIGTERM), and nsenter, seeing the test runner stopped, would stop itself and never reap it, which holds the
  # machine's PID 1 forever. Without nsenter, the runner is the machine's PID 1's to reap and stop.
  if [ -n "$suite_pid" ]; then
    kill -KILL "$suite_pid" 2>/dev/null || true
    wait "$suite_pid" 2>/dev/null || true
  fi
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # nspawn asks the machine's systemd to power off; whatever still runs in it goes with its PID 1.
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$nspawn_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$nspawn_pid" 2>/dev/null; then
      echo "ci-debian13: the machine did not shut down within 60 s: killing it" >&2
      # Its PID 1 first: the kernel then kills everything in the machine's PID namespace.
      [ -z "$pid1" ] || kill -KILL "$pid1" 2>/dev/null || true
      kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
  fi
  [ -z "$nspawn_pid" ] || wait "$nspawn_pid" 2>/dev/null || true
  ip netns del "$namespace" 2>/dev/null || true
  # nspawn leaves its (empty) mount propagation directory behind when /run is not a tmpfs.
  rm -rf --one-file-system "/run/systemd/nspawn/propagate/$machine"
  if [ -n "${EGW_CI_ARTIFACTS:-}" ]; then
    mkdir -p "$EGW_CI_ARTIFACTS"
    cp -f "$work/boot.log" "$work/tests.out" "$work/results/tests.tap" "$EGW_CI_ARTIFACTS"/ 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$work/results"
ip netns add "$namespace"
boot_started=${EPOCHREALTIME/./}
log "booting $machine (Debian 13, systemd as PID 1, network namespace $namespace)"
# --private-network with the namespace: the machine gets CAP_NET_ADMIN and a writable /proc/sys/net.
systemd-nspawn --directory="$root" --volatile=overlay --boot --register=no --keep-unit \
  --machine="$machine" --private-network --network-namespace-path="/run/netns/$namespace" \
  --console=read-only "${binds[@]}" --bind="$work/results:/egw-ci-results" >"$work/boot.log" 2>&1 &
nspawn_pid=$!

# The machine's PID 1: nspawn's child that is PID 1 in a PID namespace of its own (nspawn's first child, which
# makes that namespace, is not).
is_machine_init() { grep -qE '^NSpid:[[:space:]]+[0-9]+[[:space:]]+1$' "/proc/$1/status" 2>/dev/null; }
deadline=$((SECONDS + 60))
while [ -z "$pid1" ]; do
  if ! kill -0 "$nspawn_pid" 2>/dev/null; then
    echo "ci-debian13: systemd-nspawn exited while booting:" >&2
    cat "$work/boot.log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "ci-debian13: no PID 1 in the machine after 60 s" >&2
    exit 1
  fi
  for child in $(pgrep -P "$nspawn_pid" || true); do
    if is_machine_init "$child"; then
      pid1=$child
      break
    fi
  done
  [ -n "$pid1" ] || sleep 0.1
done
in_machine() { nsenter --target="$pid1" --all -- "$@"; }

state=""
deadline=$((SECONDS + 180))
while :; do
  state=$(in_machine systemctl is-system-running 2>/dev/null || true)
  case "$state" in
    running | degraded) break ;;
    # Not yet reachable ("offline", or nothing) while PID 1 is not systemd yet: waited for below.
    maintenance | stopping)
      echo "ci-debian13: the machine is $state:" >&2
      cat "$work/boot.log" >&2
      exit 1
      ;;
  esac
  if ! kill -0 "$nspawn_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    echo "ci-debian13: the machine did not finish booting (last state: ${state:-none}):" >&2
    cat "$work/boot.log" >&2
    exit 1
  fi
  sleep 0.2
done
boot_seconds=$(printf '%d.%01d' $(((${EPOCHREALTIME/./} - boot_started) / 1000000)) $(((${EPOCHREALTIME/./} - boot_started) / 100000 % 10)))
if [ "$state" = degraded ]; then
  log "the machine is degraded; failed units:"
  in_machine systemctl --failed --no-legend --plain || true
fi

# A clean environment: Debian's node and tools, nothing of this host's.
machine_env=(env -i -C "$checkout" PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TZ=UTC)
node_version=$(in_machine "${machine_env[@]}" node --version)
machine_abi=$(in_machine "${machine_env[@]}" node -p process.versions.modules)
host_abi=$(node -p process.versions.modules)
os_name=$(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' "$root/usr/lib/os-release")
keepalived_version=$(in_machine keepalived --version 2>&1 | sed -n '1s/ (.*//p' || true)
nft_version=$(in_machine nft --version 2>&1 || true)
log "booted in ${boot_seconds} s ($state): $os_name, node $node_version, $keepalived_version, $nft_version"
if [ "$machine_abi" != "$host_abi" ]; then
  echo "ci-debian13: the machine's node (ABI $machine_abi) cannot load node_modules built here (ABI $host_abi)" >&2
  exit 1
fi

# Not test/system: it boots Debian 13 machines itself (the package, under systemd), from the host's npm test.
mapfile -t tests < <(find dist/test -name '*.test.js' -not -path 'dist/test/system/*' | sort)
if [ "${#tests[@]}" -eq 0 ]; then
  echo "ci-debian13: no test files under dist/test" >&2
  exit 1
fi
log "running ${#tests[@]} test files in the machine"
suite_started=$SECONDS
# nsenter in the background, waited for: bash runs a trap (Ctrl-C, a CI job's SIGTERM) only once the foreground
# command has ended, and the suite takes minutes. The spec report goes to a file that tail shows as it grows, the
# TAP report (counted below) to the results directory the machine shares with this host.
: >"$work/tests.out"
nsenter --target="$pid1" --all -- "${machine_env[@]}" node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination=/egw-ci-results/tests.tap \
  "${tests[@]}" >"$work/tests.out" 2>&1 &
suite_pid=$!
tail --pid="$suite_pid" --follow --lines=+1 "$work/tests.out" &
tail_pid=$!
suite_status=0
wait "$suite_pid" || suite_status=$?
suite_pid=""
wait "$tail_pid" || true
tail_pid=""
suite_seconds=$((SECONDS - suite_started))

count() { sed -n "s/^# $1 \([0-9][0-9]*\)\$/\1/p" "$work/results/tests.tap" 2>/dev/null | tail -n 1; }
total=$(count tests)
passed=$(count pass)
failed=$(count fail)
cancelled=$(count cancelled)
skipped=$(count skipped)
echo
log "summary: Debian 13 ($node_version): ${total:-?} tests, ${passed:-?} passed, ${failed:-?} failed, ${cancelled:-?} cancelled, ${skipped:-?} skipped"
log "wall clock $((SECONDS - started)) s (machine booted in ${boot_seconds} s, suite ${suite_seconds} s)"
if [ "$suite_status" -ne 0 ] || [ "${failed:-1}" != 0 ] || [ "${cancelled:-1}" != 0 ] || [ "${total:-0}" = 0 ]; then
  log "FAILED (node --test exited with $suite_status); the tests that failed:"
  grep -E '^[[:space:]]*not ok ' "$work/results/tests.tap" | sed 's/^[[:space:]]*/  /' || true
  exit 1
fi
log "all tests passed"
