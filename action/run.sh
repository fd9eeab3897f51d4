#!/usr/bin/env bash
# Runs kscan for the GitHub Action (action.yml): `kscan scan` into the output
# directory, then `kscan report --ci github` over its HDF files, which writes
# the annotations, the step summary and the step's outputs. Inputs arrive as
# KSCAN_INPUT_* variables and become argument vectors, never shell strings.
# Exit: the scan's code when it could not scan (2, 3) or left objects (4),
# else the report's (0 passed, 1 gate failed, 2 bad input).
set -uo pipefail

out="${KSCAN_INPUT_OUT_DIR:-kscan-results}"
scan=(scan --namespace "${KSCAN_INPUT_NAMESPACE:-}" --out-dir "$out")
[ -n "${KSCAN_INPUT_POD:-}" ] && scan+=(--pod "$KSCAN_INPUT_POD")
[ -n "${KSCAN_INPUT_SELECTOR:-}" ] && scan+=(--selector "$KSCAN_INPUT_SELECTOR")
[ -n "${KSCAN_INPUT_CONTAINER:-}" ] && scan+=(--container "$KSCAN_INPUT_CONTAINER")
[ -n "${KSCAN_INPUT_STRATEGY:-}" ] && scan+=(--strategy "$KSCAN_INPUT_STRATEGY")
[ -n "${KSCAN_INPUT_ENGINE:-}" ] && scan+=(--engine "$KSCAN_INPUT_ENGINE")
[ -n "${KSCAN_INPUT_PROFILE:-}" ] && scan+=(--profile "$KSCAN_INPUT_PROFILE")
[ -n "${KSCAN_INPUT_TIMEOUT:-}" ] && scan+=(--timeout "$KSCAN_INPUT_TIMEOUT")
[ -n "${KSCAN_INPUT_KUBECONFIG:-}" ] && scan+=(--kubeconfig "$KSCAN_INPUT_KUBECONFIG")

scan_rc=0
kscan "${scan[@]}" || scan_rc=$?
if [ "$scan_rc" -ne 0 ] && [ "$scan_rc" -ne 4 ]; then
  echo "exit-code=$scan_rc" >>"$GITHUB_OUTPUT"
  echo "::error title=kscan::kscan scan exited $scan_rc (2: bad input, 3: could not scan); see the log above"
  exit "$scan_rc"
fi

shopt -s nullglob
hdf=("$out"/*.hdf.json)
if [ "${#hdf[@]}" -eq 0 ]; then
  echo "exit-code=3" >>"$GITHUB_OUTPUT"
  echo "::error title=kscan::kscan scan wrote no results into $out"
  exit 3
fi

report=(report "${hdf[@]}" --ci github --out-dir "$out")
[ -n "${KSCAN_INPUT_THRESHOLD:-}" ] && report+=(--threshold "$KSCAN_INPUT_THRESHOLD")
[ -n "${KSCAN_INPUT_FORMATS:-}" ] && report+=(--format "$KSCAN_INPUT_FORMATS")
report_rc=0
kscan "${report[@]}" || report_rc=$?

rc="$report_rc"
[ "$scan_rc" -eq 4 ] && [ "$report_rc" -ne 2 ] && rc=4
echo "exit-code=$rc" >>"$GITHUB_OUTPUT"
[ "$scan_rc" -eq 4 ] && echo "::error title=kscan teardown::the scan left objects behind: run kscan cleanup"
exit "$rc"
