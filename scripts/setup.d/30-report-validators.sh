# Independent validators for the report tests (tests/reports.rs), pinned:
# - Microsoft's SARIF Multitool and the official SARIF 2.1.0 JSON schema it
#   ships (npm @microsoft/sarif-multitool-linux);
# - junitparser (PyPI), a JUnit XML reader that is not ours, and jsonschema
#   (PyPI, with its format checkers), the reference JSON Schema validator, in
#   one venv.
# Installs under $KSCAN_CACHE/report-validators and links into $KSCAN_BIN:
#   Sarif.Multitool      the Multitool (a wrapper that sets the .NET globalization
#                        mode when libicu is missing)
#   report-validators-python   the venv's python: junitparser, jsonschema
#   sarif-2.1.0.json     the schema file (a link, not a command)
source "$(dirname "$0")/../lib.sh"

SARIF_MULTITOOL_VERSION=5.7.0
JUNITPARSER_VERSION=5.0.3
JSONSCHEMA_VERSION=4.26.0
dir="$KSCAN_CACHE/report-validators"
mkdir -p "$dir"

# --- SARIF Multitool -------------------------------------------------------
npm_dir="$dir/npm-sarif-multitool-$SARIF_MULTITOOL_VERSION"
pkg="$npm_dir/node_modules/@microsoft/sarif-multitool-linux"
if [ ! -x "$pkg/Sarif.Multitool" ]; then
  command -v npm >/dev/null || die "npm not found: install Node.js 20 and npm"
  log "npm: installing @microsoft/sarif-multitool-linux@$SARIF_MULTITOOL_VERSION"
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
    "@microsoft/sarif-multitool-linux@$SARIF_MULTITOOL_VERSION" >/dev/null
  chmod +x "$pkg/Sarif.Multitool"
fi
schema="$(find "$pkg" -name 'sarif-2.1.0.json' -print -quit)"
[ -n "$schema" ] || die "sarif-2.1.0.json not found in $pkg"
ln -sf "$schema" "$KSCAN_BIN/sarif-2.1.0.json"

# .NET needs libicu unless told to run with invariant globalization.
icu_env=""
if ! ldconfig -p 2>/dev/null | grep -q 'libicuuc\.so'; then
  icu_env="export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1"
fi
cat >"$KSCAN_BIN/Sarif.Multitool" <<EOF
#!/bin/sh
# Installed by scripts/setup.d/30-report-validators.sh
$icu_env
exec "$pkg/Sarif.Multitool" "\$@"
EOF
chmod +x "$KSCAN_BIN/Sarif.Multitool"
"$KSCAN_BIN/Sarif.Multitool" --version >/dev/null 2>&1 \
  || die "Sarif.Multitool does not run: try '$KSCAN_BIN/Sarif.Multitool --version'"

# --- junitparser and jsonschema -------------------------------------------
venv="$dir/venv-junitparser-$JUNITPARSER_VERSION-jsonschema-$JSONSCHEMA_VERSION"
probe='import junitparser, jsonschema, rfc3986_validator'
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "$probe" 2>/dev/null; then
  command -v python3 >/dev/null || die "python3 not found: install Python 3"
  log "pip: installing junitparser==$JUNITPARSER_VERSION jsonschema==$JSONSCHEMA_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "junitparser==$JUNITPARSER_VERSION" "jsonschema[format-nongpl]==$JSONSCHEMA_VERSION"
fi
# A wrapper, not a link: python finds its venv from the path it was started by.
rm -f "$KSCAN_BIN/report-validators-python"
printf '#!/bin/sh\n# Installed by scripts/setup.d/30-report-validators.sh\nexec "%s" "$@"\n' \
  "$venv/bin/python" >"$KSCAN_BIN/report-validators-python"
chmod +x "$KSCAN_BIN/report-validators-python"
"$KSCAN_BIN/report-validators-python" -c "$probe" \
  || die "the validators are not importable from $venv: remove that directory and run again"
