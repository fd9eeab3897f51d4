# A scanner image whose agent does not compile must stop the testbed, not
# slip through: `testbed images scanner` from a copy of this checkout with a
# deliberately broken agent exits non-zero, names the compiler's error and
# records no scanner image for that copy. (It once pushed an image without
# the scanner binary in it and said "testbed up".)
#
# The copy is `git archive HEAD` with one compile_error! added; it shares
# this run's Cargo target directory, so only the agent itself is recompiled.
source "$(dirname "$0")/../lib.sh"
cd "$KSCAN_ROOT" || exit 1
tests/testbed/testbed status >/dev/null || die "the testbed is not up: run tests/testbed/testbed up first"

copy=$(mktemp -d "${TMPDIR:-/tmp}/kscan-broken-scanner.XXXXXX")
trap 'rm -rf "$copy"' EXIT
git archive HEAD | tar -x -C "$copy"
main=$(cd "$copy" && cargo metadata --locked --no-deps --format-version 1 \
  | jq -r '.packages[] | select(.name == "kscan-agent") | .targets[] | select(.kind == ["bin"]) | .src_path')
[ -f "$main" ] || die "no kscan-agent binary target in the copy of $KSCAN_ROOT"
printf '\ncompile_error!("deliberately broken scanner build");\n' >>"$main"

rc=0
out=$("$copy/tests/testbed/testbed" images scanner 2>&1) || rc=$?
fail() { printf '%s\n' "$out" >&2; die "testbed images scanner with a broken agent: $*"; }
[ "$rc" -ne 0 ] || fail "exited 0"
grep -qF 'deliberately broken scanner build' <<<"$out" || fail "the compiler's error is not shown"
grep -qF 'cargo could not build kscan-agent' <<<"$out" || fail "it does not say what failed"
if [ -f "$copy/target/testbed-images.json" ] && jq -e '.scanner' "$copy/target/testbed-images.json" >/dev/null; then
  fail "a scanner image was recorded for the broken copy"
fi
log "testbed-broken-scanner: exit $rc, the compiler's error shown, no scanner image recorded"
