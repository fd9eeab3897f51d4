# nektos/act, a GitHub Actions runner, for the Action's end-to-end tests
# (tests/ci.rs, `act`): the Go module github.com/nektos/act, pinned, built
# with the machine's Go into $KSCAN_CACHE/act-VERSION and linked into
# $KSCAN_BIN. The tests run it with `-P ubuntu-24.04=-self-hosted` (the job
# runs on this host, no Docker) and --action-offline-mode.
source "$(dirname "$0")/../lib.sh"

ACT_VERSION=v0.2.89
built="$KSCAN_CACHE/act-$ACT_VERSION"
[ -x "$built/act" ] || go_install_into "$built" "github.com/nektos/act@$ACT_VERSION"
ln -sf "$built/act" "$KSCAN_BIN/act"
"$KSCAN_BIN/act" --version | grep -q "${ACT_VERSION#v}" || die "act does not run from $built: remove that directory and run again"
