#!/usr/bin/env bash
# Re-pin the Go module to another Kubernetes release: rewrites go.mod/go.sum so
# that k8s.io/kubernetes is required at VERSION and every staging module listed
# in that release's own go.mod is replaced by its published v0.Y.Z tag (the
# release's go.mod points them at ./staging, which does not exist for us).
# Usage: tests/testbed/pin.sh v1.35.4   (then update KUBE_VERSION in `testbed`)
set -euo pipefail
cd "$(dirname "$0")"
version="${1:?usage: pin.sh vX.Y.Z}"
staging_version="v0.${version#v1.}"
export GOFLAGS=-mod=mod
rm -f go.mod go.sum
go mod init kscan.test/testbed >/dev/null 2>&1
go mod edit -go=1.26.0 -require="k8s.io/kubernetes@$version"
dir="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
[ -n "$dir" ] || { echo "error: could not download k8s.io/kubernetes@$version" >&2; exit 1; }
for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$dir/go.mod"); do
  go mod edit -replace="$m=$m@$staging_version"
done
go mod tidy
echo "pinned k8s.io/kubernetes $version ($(grep -c '=> k8s.io' go.mod) staging replaces)"
