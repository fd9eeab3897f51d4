# Static (musl) Rust builds: the in-pod agent that the scanner image holds
# (tests/testbed/lib/images.sh, scripts/scanner-image) and the release
# binaries. Installs the rustup targets for amd64 and arm64 and Debian's
# musl-tools (musl-gcc, for crates with C code: kscan itself has ring and a
# bundled SQLite; the agent has none, so arm64 links with rust-lld alone).
source "$(dirname "$0")/../lib.sh"

command -v rustup >/dev/null || die "rustup not found: install Rust with rustup (the static builds need its musl targets)"
apt_install musl-tools
command -v musl-gcc >/dev/null || die "apt installed musl-tools, but musl-gcc is not on PATH"

installed=$(rustup target list --installed)
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  grep -qx "$target" <<<"$installed" && continue
  log "rustup: adding the $target target"
  rustup target add "$target" >/dev/null 2>&1 || die "rustup target add $target failed: run it by hand to see why"
done
installed=$(rustup target list --installed)
grep -qx x86_64-unknown-linux-musl <<<"$installed" \
  || die "rustup reports no x86_64-unknown-linux-musl target after adding it"
