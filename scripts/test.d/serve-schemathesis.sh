# Schemathesis against `kscan serve`: every operation of /openapi.json is
# called with generated requests (valid and invalid); the run fails on any
# 5xx and on any response that breaks the document (status code, content
# type, headers, body schema). The server talks to the testbed when it is up
# (GET /scan reads it; generated scans fail to find their pods), else to a
# cluster that does not exist (GET /scan then answers 502, which the document
# lists but which counts as a server error: the testbed is required).
source "$(dirname "$0")/../lib.sh"
cd "$KSCAN_ROOT"

st="$KSCAN_BIN/schemathesis"
[ -x "$st" ] || die "$st is missing: run scripts/setup"
kubeconfig="$KSCAN_CACHE/testbed/run/admin.kubeconfig"
[ -f "$kubeconfig" ] || die "$kubeconfig is missing: bring the testbed up with tests/testbed/testbed up"
kscan="$CARGO_TARGET_DIR/debug/kscan"
[ -x "$kscan" ] || cargo build --locked --quiet
work="$(mktemp -d)"
chmod 700 "$work"
token="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$token" > "$work/tokens"
"$kscan" serve --listen 127.0.0.1:0 --token-file "$work/tokens" --db "$work/kscan.db" \
  --kubeconfig "$kubeconfig" --thresholds thresholds --profiles profiles --workers 2 --queue-limit 1000 \
  > "$work/out" 2> "$work/server.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -n 's/.*listening on //p' "$work/out")"
[ -n "$base" ] || { cat "$work/server.log" >&2; die "kscan serve did not start"; }
curl -fsS -H "Authorization: Bearer $token" "$base/openapi.json" -o "$work/openapi.json"
log "schemathesis against $base"
# (from $work: schemathesis keeps a cache in its working directory)
(cd "$work" && "$st" run "$work/openapi.json" --url "$base" -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing,stateful --max-examples "${KSCAN_SCHEMATHESIS_EXAMPLES:-50}" \
  --request-timeout 150 --workers 1) \
  || { tail -50 "$work/server.log" >&2; die "schemathesis found problems (above)"; }
