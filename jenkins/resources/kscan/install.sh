#!/bin/sh
# kscanScan's install: the pinned kscan release binary for this agent,
# checked against the release's SHA256SUMS, into $KSCAN_BIN_DIR (kept there
# for later builds in the workspace, checked again each time).
set -eu
case "$(uname -m)" in
  x86_64) asset=kscan-linux-amd64 ;;
  aarch64) asset=kscan-linux-arm64 ;;
  *) echo "no kscan release for $(uname -m): put kscan on the agent's PATH and pass version: 'path'" >&2; exit 2 ;;
esac
dir="$KSCAN_BIN_DIR/$KSCAN_VERSION"
if [ "$KSCAN_VERSION" = latest ] || [ ! -s "$dir/$asset" ]; then
  if [ "$KSCAN_VERSION" = latest ]; then url="$KSCAN_RELEASES_URL/latest/download"; else url="$KSCAN_RELEASES_URL/download/$KSCAN_VERSION"; fi
  rm -rf "$dir" && mkdir -p "$dir"
  if ! { curl -fsSL --retry 3 -o "$dir/$asset" "$url/$asset" && curl -fsSL --retry 3 -o "$dir/SHA256SUMS" "$url/SHA256SUMS"; }; then
    echo "kscan $KSCAN_VERSION could not be downloaded from $url" >&2; exit 2
  fi
fi
if ! (cd "$dir" && grep -E "^[0-9a-f]{64} [ *]$asset\$" SHA256SUMS | sha256sum -c --strict -); then
  echo "$asset does not match its SHA-256 in SHA256SUMS: not installed" >&2
  rm -rf "$dir"
  exit 2
fi
chmod 0755 "$dir/$asset"
ln -sf "$asset" "$dir/kscan"
"$dir/kscan" --version
