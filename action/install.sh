#!/usr/bin/env bash
# Installs the kscan the GitHub Action (action.yml) pins and puts it on the
# PATH of the job's later steps. KSCAN_INPUT_VERSION says which:
#   vX.Y.Z    that release (the default is the action's own release); kept in
#             $RUNNER_TOOL_CACHE/kscan/vX.Y.Z/ARCH, which the action's cache
#             step restores on later runs
#   latest    the newest release (never cached)
#   path      kscan already on PATH
#   source    cargo build --release from the action's source
# A release binary must match its line in the release's SHA256SUMS, checked
# again whenever it is taken from the cache; a mismatch always fails (exit 2).
set -euo pipefail

version="${KSCAN_INPUT_VERSION:-}"
releases="${KSCAN_INPUT_RELEASES_URL:-}"
[ -n "$releases" ] || releases="${GITHUB_SERVER_URL:-https://github.com}/kscan/kscan/releases"

fail() { echo "::error title=kscan install::$*"; exit 2; }

asset=""
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64 | Linux/amd64) asset=kscan-linux-amd64 ;;
  Linux/aarch64 | Linux/arm64) asset=kscan-linux-arm64 ;;
esac

# Download $asset of release $1 with its SHA256SUMS into directory $2 and
# check it there.
download() {
  local tag="$1" dir="$2" url
  [ -n "$asset" ] || fail "no kscan release binary for $(uname -s)/$(uname -m): use version source or path"
  if [ "$tag" = latest ]; then url="$releases/latest/download"; else url="$releases/download/$tag"; fi
  mkdir -p "$dir"
  echo "downloading $url/$asset"
  if ! { curl -fsSL --retry 3 -o "$dir/$asset" "$url/$asset" && curl -fsSL --retry 3 -o "$dir/SHA256SUMS" "$url/SHA256SUMS"; }; then
    rm -rf "$dir"; fail "kscan $tag could not be downloaded from $url (see above)"
  fi
}

# Check $asset in directory $1 against its SHA256SUMS; remove it on a mismatch.
verify() {
  (cd "$1" && grep -E "^[0-9a-f]{64} [ *]$asset\$" SHA256SUMS | sha256sum -c --strict -) \
    || { rm -rf "$1"; fail "$asset does not match its SHA-256 in SHA256SUMS: not installed"; }
}

case "$version" in
  path)
    existing="$(command -v kscan)" || fail "version: path, but there is no kscan on PATH"
    bin_dir="$(dirname "$existing")"
    ;;
  source)
    src="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
    command -v cargo >/dev/null || fail "version: source needs cargo (Rust): add a Rust toolchain step, or use a release"
    bin_dir="${RUNNER_TEMP:-/tmp}/kscan-bin"
    cargo build --release --locked --manifest-path "$src/Cargo.toml" --target-dir "${RUNNER_TEMP:-/tmp}/kscan-target"
    mkdir -p "$bin_dir"
    install -m 0755 "${RUNNER_TEMP:-/tmp}/kscan-target/release/kscan" "$bin_dir/kscan"
    ;;
  latest | v[0-9]*)
    bin_dir="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/kscan/$version/$(uname -m)"
    if [ "$version" = latest ] || [ ! -s "$bin_dir/$asset" ]; then
      rm -rf "$bin_dir"
      download "$version" "$bin_dir"
    else
      echo "using the cached kscan $version in $bin_dir"
    fi
    verify "$bin_dir"
    chmod 0755 "$bin_dir/$asset"
    ln -sf "$asset" "$bin_dir/kscan"
    ;;
  *) fail "version must be vX.Y.Z, latest, path or source; got '$version'" ;;
esac

echo "$bin_dir" >>"${GITHUB_PATH:?GITHUB_PATH is not set}"
"$bin_dir/kscan" --version
