# Helm, for the chart's tests (scripts/test.d/helm.sh: lint, template, and
# the rendered chart against the testbed's API server): the Go module
# helm.sh/helm/v4, pinned, built with the machine's Go into
# $KSCAN_CACHE/helm-VERSION and linked into $KSCAN_BIN, as 65-act.sh does
# for act. A failed build stops the script and leaves no `helm` behind.
source "$(dirname "$0")/../lib.sh"

HELM_VERSION=v4.3.2
built="$KSCAN_CACHE/helm-$HELM_VERSION"
# Helm's version comes from a link-time variable (without it `helm version`
# says only v4.3); -s -w leave out the symbol table and DWARF (86 MB instead
# of 120 MB), as Helm's own release builds do.
[ -x "$built/helm" ] || go_install_into "$built" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
ln -sf "$built/helm" "$KSCAN_BIN/helm"
# tests/helm/check.py reads the rendered YAML with PyYAML.
apt_install python3-yaml
"$KSCAN_BIN/helm" version --template '{{.Version}}' | grep -qx "$HELM_VERSION" \
  || die "helm from $built does not say $HELM_VERSION: remove that directory and run again"
