#!/usr/bin/env bash
# kscan/scan: parameters (KSCAN_PARAM_*) become one argument vector.
# Exit 4 (teardown left objects) still leaves results for kscan/report.
set -uo pipefail
scan=(scan --namespace "$KSCAN_PARAM_NAMESPACE" --out-dir "$KSCAN_PARAM_OUT_DIR"
  --strategy "$KSCAN_PARAM_STRATEGY" --engine "$KSCAN_PARAM_ENGINE" --timeout "$KSCAN_PARAM_TIMEOUT")
[ -n "$KSCAN_PARAM_POD" ] && scan+=(--pod "$KSCAN_PARAM_POD")
[ -n "$KSCAN_PARAM_SELECTOR" ] && scan+=(--selector "$KSCAN_PARAM_SELECTOR")
[ -n "$KSCAN_PARAM_CONTAINER" ] && scan+=(--container "$KSCAN_PARAM_CONTAINER")
[ -n "$KSCAN_PARAM_PROFILE" ] && scan+=(--profile "$KSCAN_PARAM_PROFILE")
[ -n "$KSCAN_PARAM_KUBECONFIG" ] && scan+=(--kubeconfig "$KSCAN_PARAM_KUBECONFIG")
rc=0
kscan "${scan[@]}" || rc=$?
[ "$rc" -eq 4 ] && echo "the scan left objects behind: run kscan cleanup" >&2
exit "$rc"
