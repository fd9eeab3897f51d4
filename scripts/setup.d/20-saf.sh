# The MITRE SAF CLI (npm @mitre/saf), pinned: the reference that
# tests/parity.rs compares `kscan summary`, `kscan gate` and
# `kscan threshold generate` against.
# Installs under $KSCAN_CACHE/npm/saf-<version> (reused while the installed
# version matches) and links `saf` into $KSCAN_BIN.
source "$(dirname "$0")/../lib.sh"

SAF_VERSION=1.5.3
dir="$KSCAN_CACHE/npm/saf-$SAF_VERSION"
pkg="$dir/node_modules/@mitre/saf"

installed_version() {
  [ -f "$pkg/package.json" ] || return 0
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg/package.json" 2>/dev/null || true
}

if [ "$(installed_version)" != "$SAF_VERSION" ] || [ ! -x "$pkg/bin/run" ]; then
  command -v npm >/dev/null || die "npm not found: install Node.js 20 and npm"
  log "npm: installing @mitre/saf@$SAF_VERSION into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@mitre/saf@$SAF_VERSION" >/dev/null
  [ "$(installed_version)" = "$SAF_VERSION" ] || die "@mitre/saf@$SAF_VERSION did not install into $dir"
fi
ln -sfn "$pkg/bin/run" "$KSCAN_BIN/saf"
# `saf --version` prints e.g. "@mitre/saf/1.5.3 linux-x64 node-v20…".
"$KSCAN_BIN/saf" --version 2>/dev/null | grep -q "@mitre/saf/$SAF_VERSION" \
  || die "saf does not run: try '$KSCAN_BIN/saf --version'"
