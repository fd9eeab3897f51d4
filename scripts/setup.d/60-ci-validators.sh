# The CI platforms' own validators, for tests/ci.rs and scripts/test.d/ci.sh, pinned:
# - check-jsonschema (PyPI) with its vendored SchemaStore schemas
#   (vendor.github-actions, vendor.github-workflows, vendor.gitlab-ci,
#   vendor.circle-ci), in a venv;
# - shellcheck (Debian), which actionlint runs on every `run:` script and the
#   wrapper tests run on the wrappers' shell scripts;
# - actionlint (Go module github.com/rhysd/actionlint/cmd/actionlint), built
#   from source: its PyPI wrapper downloads a release binary at install time.
# Installs under $KSCAN_CACHE/ci-validators and $KSCAN_CACHE/go, and links
#   check-jsonschema, actionlint, shellcheck
# into $KSCAN_BIN.
source "$(dirname "$0")/../lib.sh"

CHECK_JSONSCHEMA_VERSION=0.39.0
ACTIONLINT_VERSION=v1.7.12
dir="$KSCAN_CACHE/ci-validators"
mkdir -p "$dir"

apt_install shellcheck
# Debian's binary, not a lookup on PATH: $KSCAN_BIN comes first there, and
# a second run would link the link to itself.
[ -x /usr/bin/shellcheck ] || die "apt installed shellcheck, but /usr/bin/shellcheck is missing"
ln -sf /usr/bin/shellcheck "$KSCAN_BIN/shellcheck"

# --- check-jsonschema --------------------------------------------------------
venv="$dir/venv-check-jsonschema-$CHECK_JSONSCHEMA_VERSION"
if [ ! -x "$venv/bin/check-jsonschema" ] || ! "$venv/bin/check-jsonschema" --version >/dev/null 2>&1; then
  command -v python3 >/dev/null || die "python3 not found: install Python 3"
  log "pip: installing check-jsonschema==$CHECK_JSONSCHEMA_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi
ln -sf "$venv/bin/check-jsonschema" "$KSCAN_BIN/check-jsonschema"
"$KSCAN_BIN/check-jsonschema" --version | grep -q "$CHECK_JSONSCHEMA_VERSION" \
  || die "check-jsonschema does not run from $venv: remove that directory and run again"

# --- actionlint --------------------------------------------------------------
built="$dir/actionlint-$ACTIONLINT_VERSION"
[ -x "$built/actionlint" ] || go_install_into "$built" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
ln -sf "$built/actionlint" "$KSCAN_BIN/actionlint"
"$KSCAN_BIN/actionlint" -version | grep -q "${ACTIONLINT_VERSION#v}" \
  || die "actionlint does not run from $built: remove that directory and run again"
