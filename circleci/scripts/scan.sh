#!/usr/bin/env bash
# kscan/scan: the parameters (KSCAN_PARAM_*) become the argument vector of
# one `kscan scan --ci circleci`; its exit code is the step's.
set -uo pipefail
args=(scan --ci circleci --namespace "$KSCAN_PARAM_NAMESPACE" --out-dir "$KSCAN_PARAM_OUT_DIR")
add() { [ -z "$2" ] || args+=("$1" "$2"); }
add --pod "$KSCAN_PARAM_POD"
add --selector "$KSCAN_PARAM_SELECTOR"
add --container "$KSCAN_PARAM_CONTAINER"
add --strategy "$KSCAN_PARAM_STRATEGY"
add --engine "$KSCAN_PARAM_ENGINE"
add --profile "$KSCAN_PARAM_PROFILE"
add --scanner-image "$KSCAN_PARAM_SCANNER_IMAGE"
add --manifests "$KSCAN_PARAM_MANIFESTS"
add --threshold "$KSCAN_PARAM_THRESHOLD"
add --format "$KSCAN_PARAM_FORMATS"
add --timeout "$KSCAN_PARAM_TIMEOUT"
add --kubeconfig "$KSCAN_PARAM_KUBECONFIG"
add --context "$KSCAN_PARAM_CONTEXT"
exec kscan "${args[@]}"
