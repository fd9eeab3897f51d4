#!/usr/bin/env bash
# kscan/install: the pinned release binary for this machine, checked against
# the release's SHA256SUMS, into ~/.local/bin (added to PATH for later steps
# through $BASH_ENV); version path keeps the kscan already on PATH.
set -euo pipefail
if [ "$KSCAN_PARAM_VERSION" = path ]; then
  command -v kscan >/dev/null || { echo "version path, but there is no kscan on PATH" >&2; exit 2; }
  kscan --version
  exit 0
fi
case "$(uname -m)" in
  x86_64) asset=kscan-linux-amd64 ;;
  aarch64) asset=kscan-linux-arm64 ;;
  *) echo "no kscan release for $(uname -m): use an executor with kscan on PATH and version path" >&2; exit 2 ;;
esac
if [ "$KSCAN_PARAM_VERSION" = latest ]; then
  url="$KSCAN_PARAM_RELEASES_URL/latest/download"
else
  url="$KSCAN_PARAM_RELEASES_URL/download/$KSCAN_PARAM_VERSION"
fi
tmp="$(mktemp -d)"
if ! { curl -fsSL --retry 3 -o "$tmp/$asset" "$url/$asset" && curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$url/SHA256SUMS"; }; then
  echo "kscan $KSCAN_PARAM_VERSION could not be downloaded from $url" >&2; exit 2
fi
if ! (cd "$tmp" && grep -E "^[0-9a-f]{64} [ *]$asset\$" SHA256SUMS | sha256sum -c --strict -); then
  echo "$asset from $url does not match its SHA-256 in SHA256SUMS: not installed" >&2
  exit 2
fi
mkdir -p "$HOME/.local/bin"
install -m 0755 "$tmp/$asset" "$HOME/.local/bin/kscan"
rm -rf "$tmp"
echo "export PATH=\"\$HOME/.local/bin:\$PATH\"" >>"${BASH_ENV:?BASH_ENV is not set}"
"$HOME/.local/bin/kscan" --version
