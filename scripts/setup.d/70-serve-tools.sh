# Tools the tests of `kscan serve` need:
# - PostgreSQL (Debian's server binaries): tests/support/postgres.rs starts a
#   throwaway server per test for the shared store (tests/store.rs, tests/serve.rs);
# - Schemathesis (PyPI), pinned, in its own virtualenv under $KSCAN_CACHE:
#   scripts/test.d/serve-schemathesis.sh runs it against `kscan serve`'s
#   /openapi.json. Links `schemathesis` into $KSCAN_BIN.
source "$(dirname "$0")/../lib.sh"

apt_install postgresql
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || die "postgresql is installed but no initdb under /usr/lib/postgresql/*/bin"

SCHEMATHESIS_VERSION=4.32.5
venv="$KSCAN_CACHE/venv/schemathesis-$SCHEMATHESIS_VERSION"

installed_version() {
  [ -x "$venv/bin/python" ] || return 0
  "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"), end="")' 2>/dev/null || true
}

if [ "$(installed_version)" != "$SCHEMATHESIS_VERSION" ]; then
  command -v python3 >/dev/null || die "python3 not found: install Python 3.11"
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  log "pip: installing schemathesis==$SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  [ "$(installed_version)" = "$SCHEMATHESIS_VERSION" ] || die "schemathesis $SCHEMATHESIS_VERSION did not install into $venv"
fi
ln -sfn "$venv/bin/schemathesis" "$KSCAN_BIN/schemathesis"
"$KSCAN_BIN/schemathesis" --version >/dev/null || die "schemathesis does not run: try '$KSCAN_BIN/schemathesis --version'"
