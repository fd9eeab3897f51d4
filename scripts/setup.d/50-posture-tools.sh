# Tools for `kscan posture`'s tests and benchmark, built from Go modules:
# - psa-oracle (tests/psa-oracle): the official k8s.io/pod-security-admission
#   policy package behind a tiny CLI; the cross-check test compares kscan's
#   per-pod verdicts with it.
# - kube-score and polaris: the peers `scripts/bench.d/posture` times kscan against.
source "$(dirname "$0")/../lib.sh"
command -v go >/dev/null || die "go not found: install Go (1.26+) first"

GOBIN_DIR="$KSCAN_CACHE/go/bin"
mkdir -p "$GOBIN_DIR"

# The oracle is rebuilt when its sources change (keyed on their checksum).
oracle_src="$KSCAN_ROOT/tests/psa-oracle"
oracle_key="$(cat "$oracle_src"/go.mod "$oracle_src"/go.sum "$oracle_src"/*.go | sha256sum | cut -c1-16)"
oracle_bin="$KSCAN_CACHE/psa-oracle/psa-oracle-$oracle_key"
if [ ! -x "$oracle_bin" ]; then
  log "building psa-oracle (k8s.io/pod-security-admission)"
  mkdir -p "$(dirname "$oracle_bin")"
  (cd "$oracle_src" && go build -mod=readonly -trimpath -o "$oracle_bin.tmp" .) && mv "$oracle_bin.tmp" "$oracle_bin"
fi
ln -sf "$oracle_bin" "$KSCAN_BIN/psa-oracle"

KUBE_SCORE_VERSION=v1.20.0
if [ ! -x "$GOBIN_DIR/kube-score-$KUBE_SCORE_VERSION" ]; then
  log "installing kube-score $KUBE_SCORE_VERSION"
  GOBIN="$GOBIN_DIR" go install "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION"
  mv "$GOBIN_DIR/kube-score" "$GOBIN_DIR/kube-score-$KUBE_SCORE_VERSION"
fi
ln -sf "$GOBIN_DIR/kube-score-$KUBE_SCORE_VERSION" "$KSCAN_BIN/kube-score"

# Polaris is only a benchmark peer. The Go module proxy reachable from these
# machines refuses github.com/fairwindsops/polaris ("403 Forbidden: This module
# version is not available") for every version, so a failure here is a
# warning: scripts/bench.d/posture then says polaris could not be measured.
POLARIS_VERSION=latest
if [ ! -x "$GOBIN_DIR/polaris" ]; then
  log "installing polaris ($POLARIS_VERSION)"
  if ! GOBIN="$GOBIN_DIR" go install "github.com/fairwindsops/polaris@$POLARIS_VERSION" 2>"$KSCAN_CACHE/polaris-install.log"; then
    log "warning: polaris could not be installed (see $KSCAN_CACHE/polaris-install.log); the benchmark will skip it"
  fi
fi
[ -x "$GOBIN_DIR/polaris" ] && ln -sf "$GOBIN_DIR/polaris" "$KSCAN_BIN/polaris"
true
