#!/usr/bin/env bash
# kscan/report: the results directories of earlier kscan/scan steps, gated
# and reported together by one `kscan report --ci circleci`.
set -uo pipefail
read -r -a results <<<"$KSCAN_PARAM_RESULTS"
args=(report --ci circleci --out-dir "$KSCAN_PARAM_OUT_DIR")
[ -z "$KSCAN_PARAM_THRESHOLD" ] || args+=(--threshold "$KSCAN_PARAM_THRESHOLD")
[ -z "$KSCAN_PARAM_FORMATS" ] || args+=(--format "$KSCAN_PARAM_FORMATS")
exec kscan "${args[@]}" "${results[@]}"
