# Shared by the scripts under scripts/: paths and small helpers. Source it.
set -euo pipefail

KSCAN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Caches live outside the checkout so that a clean clone on the same machine
# reuses them (tools, Go and Cargo builds, the testbed's binaries).
export KSCAN_CACHE="${KSCAN_CACHE:-$HOME/.cache/kscan}"
export KSCAN_BIN="$KSCAN_CACHE/bin"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KSCAN_CACHE/target}"
mkdir -p "$KSCAN_BIN"
export PATH="$KSCAN_BIN:$PATH"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install Debian packages that are not installed yet (one apt run for all).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt: installing ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# go_install_into DIR PACKAGE@VERSION [GO-INSTALL-FLAGS...]: build a pinned
# Go command with the machine's Go into DIR (module and build caches under
# $KSCAN_CACHE/go), through DIR.partial: a failed build stops the script
# and leaves no DIR, so the next run builds again instead of finding half a
# directory.
go_install_into() {
  local dir=$1 package=$2
  shift 2
  command -v go >/dev/null || die "go not found: install Go 1.24 or newer"
  log "go: building $package"
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  GOBIN="$dir.partial" GOMODCACHE="$KSCAN_CACHE/go/mod" GOCACHE="$KSCAN_CACHE/go/build" GOFLAGS=-mod=mod \
    go install "$@" "$package" || die "go install $package failed (above)"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
}

# build_kscan_for_bench: build kscan for a benchmark and set KSCAN to it;
# the release build, or with KSCAN_BENCH_PROFILE=dev the debug build (an
# upper bound for kscan's own share, where an optimised build costs too
# much time).
build_kscan_for_bench() {
  if [ "${KSCAN_BENCH_PROFILE:-release}" = dev ]; then
    log "building kscan (debug)"
    cargo build --locked --quiet -p kscan
    KSCAN="$CARGO_TARGET_DIR/debug/kscan"
  else
    log "building kscan (release)"
    cargo build --release --locked --quiet -p kscan
    KSCAN="$CARGO_TARGET_DIR/release/kscan"
  fi
}
