# The Rust toolchain is on the machine; fetch crates once so later builds are offline-safe.
source "$(dirname "$0")/../lib.sh"
command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
cd "$KSCAN_ROOT" && cargo fetch --locked -q
