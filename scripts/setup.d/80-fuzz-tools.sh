# The nightly toolchain and cargo-fuzz (crates.io, pinned) for the fuzz
# targets in fuzz/: scripts/test.d/fuzz.sh runs them briefly in every
# `make test`, scripts/fuzz for as long as you like. Links `cargo-fuzz` into
# $KSCAN_BIN.
source "$(dirname "$0")/../lib.sh"

CARGO_FUZZ_VERSION=0.13.2

command -v rustup >/dev/null || die "rustup not found: the fuzz targets need the nightly toolchain (rustup toolchain install nightly)"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "rustup: installing the nightly toolchain (minimal profile)"
  rustup toolchain install nightly --profile minimal >/dev/null
fi
if [ "$("$KSCAN_BIN/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  log "cargo: installing cargo-fuzz $CARGO_FUZZ_VERSION into $KSCAN_CACHE"
  CARGO_TARGET_DIR="$KSCAN_CACHE/build/cargo-fuzz" cargo install --quiet --locked --root "$KSCAN_CACHE" \
    cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
"$KSCAN_BIN/cargo-fuzz" --version >/dev/null || die "cargo-fuzz does not run: try '$KSCAN_BIN/cargo-fuzz --version'"
