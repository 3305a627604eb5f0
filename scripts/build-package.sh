#!/usr/bin/env bash
# Builds the Debian package, build/egw_<version>_amd64.deb, from this checkout (`npm run package`):
#
#   bash scripts/build-package.sh [--version VERSION] [--output DIR] [--skip-build]
#
# The gateway needs no compiler, no npm and no git: the package holds the compiled daemon and CLI and the production
# dependencies with better-sqlite3 already built. It runs on Debian 13's own nodejs (20), so it is built with a Node
# 20 (the same native-module ABI, 115): `bash scripts/install-deps.sh` prepares such a machine. --version stamps
# another version into the package (the upgrade tests build N+1 this way); the default is package.json's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
version=""
output="$ROOT/build"
build=true
while [ "$#" -gt 0 ]; do
  case "$1" in
    --version) version=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    # The tests package the dist/ that `npm test` has just built (rebuilding it would rewrite files in use).
    --skip-build) build=false; shift ;;
    *) echo "usage: $0 [--version VERSION] [--output DIR] [--skip-build]" >&2; exit 2 ;;
  esac
done
version=${version:-$(node -p 'require("./package.json").version')}
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([~+.][A-Za-z0-9.~+]+)?$ ]]; then
  echo "build-package: '$version' is not a version (MAJOR.MINOR.PATCH[~pre|+build])" >&2
  exit 2
fi
abi=$(node -p 'process.versions.modules')
if [ "$abi" != "115" ]; then
  echo "build-package: this is Node.js $(node --version) (ABI $abi); build with Node.js 20 (ABI 115), the runtime of Debian 13's nodejs" >&2
  exit 1
fi
for tool in dpkg-deb npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-package: $tool is missing" >&2; exit 1; }
done
if [ ! -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]; then
  echo "build-package: node_modules is not installed (run: bash scripts/install-deps.sh)" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
lib="$stage/usr/lib/egw"
install -d "$lib" "$stage/usr/bin" "$stage/usr/lib/systemd/system" "$stage/usr/lib/sysusers.d" \
  "$stage/usr/share/doc/egw" "$stage/etc/egw" "$stage/DEBIAN"

# 1. The compiled appliance: everything but the tests, the benchmarks and the lab (test tooling).
if [ "$build" = true ]; then
  npm run build --silent
fi
cp -a dist "$lib/dist"
# (and the client's code generator, which needs openapi-typescript, a development dependency)
rm -rf "$lib/dist/test" "$lib/dist/bench" "$lib/dist/lab" "$lib/dist/client/codegen"
install -d "$lib/scripts"
install -m 0755 scripts/check-keepalived-conf.sh scripts/release-floating-ips.sh scripts/fault-health-file.sh "$lib/scripts/"
cp -a migrations templates ui "$lib/"
node -e '
  const [from, to, version] = process.argv.slice(1);
  const pkg = require(from);
  pkg.version = version;
  delete pkg.devDependencies;
  delete pkg.scripts;
  require("fs").writeFileSync(to, JSON.stringify(pkg, null, 2) + "\n");
' "$ROOT/package.json" "$lib/package.json" "$version"
cp package-lock.json "$lib/"

# 2. Production dependencies: this checkout's node_modules (better-sqlite3 compiled here), pruned of the development
#    ones without the network, then of better-sqlite3's build leftovers (sources, objects).
#    (Resolved first: in a git worktree node_modules may be a symlink to the main checkout's, which cp -a would copy
#    as a link.)
cp -a "$(readlink -f node_modules)" "$lib/node_modules"
(cd "$lib" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts >/dev/null)
rm -rf "$lib/node_modules/better-sqlite3/deps" "$lib/node_modules/better-sqlite3/src" \
  "$lib/node_modules/better-sqlite3/build/Release/obj" "$lib/node_modules/better-sqlite3/build/Release/obj.target" \
  "$lib/node_modules/better-sqlite3/build/Release/.deps" "$lib/node_modules/better-sqlite3/build/Release/test_extension.node" \
  "$lib/node_modules/better-sqlite3/build/Release/sqlite3.a" "$lib/node_modules/.package-lock.json"
# koffi (the netlink socket's FFI) ships prebuilt binaries for some twenty platforms; the package is amd64.
find "$lib/node_modules/koffi/build/koffi" -mindepth 1 -maxdepth 1 ! -name linux_x64 -exec rm -rf {} +
chmod 0755 "$lib/dist/bin/egw.js"
ln -s ../lib/egw/dist/bin/egw.js "$stage/usr/bin/egw"
# bash completion, generated from the CLI's own command table (so it lists exactly the commands it has).
install -d "$stage/usr/share/bash-completion/completions"
node "$lib/dist/bin/egw.js" completion bash > "$stage/usr/share/bash-completion/completions/egw"
chmod 0644 "$stage/usr/share/bash-completion/completions/egw"

# 3. systemd: the daemon, the path units that drive keepalived and conntrackd, the backup timer, the drop-ins for
#    Debian's keepalived and conntrackd units, and the egw system user.
install -m 0644 templates/systemd/*.service templates/systemd/*.path "$stage/usr/lib/systemd/system/"
for timer in templates/systemd/*.timer; do
  [ -e "$timer" ] && install -m 0644 "$timer" "$stage/usr/lib/systemd/system/"
done
install -D -m 0644 templates/systemd/keepalived.service.d/egw.conf "$stage/usr/lib/systemd/system/keepalived.service.d/egw.conf"
install -D -m 0644 templates/systemd/conntrackd.service.d/egw.conf "$stage/usr/lib/systemd/system/conntrackd.service.d/egw.conf"
install -m 0644 packaging/deb/sysusers.conf "$stage/usr/lib/sysusers.d/egw.conf"

# 4. The default configuration (a conffile: dpkg keeps the operator's version on upgrades) and the docs.
install -m 0640 docs/examples/egw.yaml "$stage/etc/egw/egw.yaml"
install -m 0644 README.md CHANGELOG.md "$stage/usr/share/doc/egw/"
cp -a docs/. "$stage/usr/share/doc/egw/"
install -m 0644 LICENSE "$stage/usr/share/doc/egw/copyright"

# 5. The control files.
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" packaging/deb/control.in > "$stage/DEBIAN/control"
install -m 0644 packaging/deb/conffiles "$stage/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"

install -d "$output"
deb="$output/egw_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
