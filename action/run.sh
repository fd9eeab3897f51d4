#!/usr/bin/env bash
# The GitHub Action's one kscan command (action.yml): the KSCAN_INPUT_*
# variables become the argument vector of `kscan scan --ci github`, never a
# shell string. kscan writes the annotations, the step summary, the outputs
# (exit-code included) and the reports itself, once; its exit code is the
# step's.
set -uo pipefail

args=(scan --ci github --namespace "${KSCAN_INPUT_NAMESPACE:-}" --out-dir "${KSCAN_INPUT_OUT_DIR:-kscan-results}")
add() { [ -z "$2" ] || args+=("$1" "$2"); }
add --pod "${KSCAN_INPUT_POD:-}"
add --selector "${KSCAN_INPUT_SELECTOR:-}"
add --container "${KSCAN_INPUT_CONTAINER:-}"
add --strategy "${KSCAN_INPUT_STRATEGY:-}"
add --engine "${KSCAN_INPUT_ENGINE:-}"
add --profile "${KSCAN_INPUT_PROFILE:-}"
add --scanner-image "${KSCAN_INPUT_SCANNER_IMAGE:-}"
add --manifests "${KSCAN_INPUT_MANIFESTS:-}"
add --threshold "${KSCAN_INPUT_THRESHOLD:-}"
add --format "${KSCAN_INPUT_FORMATS:-}"
add --timeout "${KSCAN_INPUT_TIMEOUT:-}"
add --kubeconfig "${KSCAN_INPUT_KUBECONFIG:-}"
add --context "${KSCAN_INPUT_CONTEXT:-}"
add --sarif-category "${KSCAN_INPUT_SARIF_CATEGORY:-}"
exec kscan "${args[@]}"
