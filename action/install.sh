#!/usr/bin/env bash
# Installs kscan for the GitHub Action (action.yml) and puts it on the PATH of
# the job's later steps. KSCAN_INPUT_VERSION decides how:
#   ''        kscan on PATH if there is one, else the latest release, else a
#             build from the action's own source (no release for this OS/arch,
#             or none published yet)
#   vX.Y.Z    that release (or `latest`); any failure fails the step
#   path      kscan already on PATH
#   source    cargo build --release from the action's source
# A downloaded binary must match its line in the release's SHA256SUMS; a
# mismatch always fails, it never falls back to something else.
set -euo pipefail

version="${KSCAN_INPUT_VERSION:-}"
releases="${KSCAN_INPUT_RELEASES_URL:-}"
if [ -z "$releases" ] && [ -n "${KSCAN_ACTION_REPOSITORY:-}" ]; then
  releases="${GITHUB_SERVER_URL:-https://github.com}/$KSCAN_ACTION_REPOSITORY/releases"
fi
bin_dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/kscan-bin"
mkdir -p "$bin_dir"

fail() { echo "::error title=kscan install::$*"; exit 2; }

asset=""
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64 | Linux/amd64) asset=kscan-linux-amd64 ;;
  Linux/aarch64 | Linux/arm64) asset=kscan-linux-arm64 ;;
esac

# Download $asset of release $1 into $bin_dir; returns 10 when there is no
# such release or asset (so the default can fall back), fails on a mismatch.
download() {
  local tag="$1" url tmp
  [ -n "$asset" ] || { echo "no kscan release binary for $(uname -s)/$(uname -m)"; return 10; }
  [ -n "$releases" ] || { echo "no releases URL (the action was not used from a repository)"; return 10; }
  if [ "$tag" = latest ]; then url="$releases/latest/download"; else url="$releases/download/$tag"; fi
  tmp="$(mktemp -d)"
  echo "downloading $url/$asset"
  if ! curl -fsSL --retry 3 -o "$tmp/$asset" "$url/$asset" || ! curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$url/SHA256SUMS"; then
    rm -rf "$tmp"
    echo "no $asset or SHA256SUMS at $url"
    return 10
  fi
  if ! (cd "$tmp" && grep -E "^[0-9a-f]{64} [ *]$asset\$" SHA256SUMS | sha256sum -c --strict -); then
    rm -rf "$tmp"
    fail "$asset from $url does not match its SHA-256 in SHA256SUMS: not installed"
  fi
  install -m 0755 "$tmp/$asset" "$bin_dir/kscan"
  rm -rf "$tmp"
}

build() {
  local src="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
  command -v cargo >/dev/null || fail "building kscan from source needs cargo (Rust): add a Rust toolchain step, or use a release with the version input"
  echo "building kscan from $src"
  cargo build --release --locked --manifest-path "$src/Cargo.toml" --target-dir "${RUNNER_TEMP:-/tmp}/kscan-target"
  install -m 0755 "${RUNNER_TEMP:-/tmp}/kscan-target/release/kscan" "$bin_dir/kscan"
}

case "$version" in
  path)
    existing="$(command -v kscan)" || fail "version: path, but there is no kscan on PATH"
    ln -sf "$existing" "$bin_dir/kscan"
    ;;
  source) build ;;
  "")
    if existing="$(command -v kscan)"; then
      echo "using $existing"
      ln -sf "$existing" "$bin_dir/kscan"
    else
      rc=0
      download latest || rc=$?
      if [ "$rc" -eq 10 ]; then build; elif [ "$rc" -ne 0 ]; then exit "$rc"; fi
    fi
    ;;
  latest | v[0-9]*)
    rc=0
    download "$version" || rc=$?
    [ "$rc" -eq 0 ] || fail "kscan $version could not be downloaded (see above)"
    ;;
  *) fail "version must be empty, latest, vX.Y.Z, path or source; got '$version'" ;;
esac

echo "$bin_dir" >>"${GITHUB_PATH:?GITHUB_PATH is not set}"
"$bin_dir/kscan" --version
