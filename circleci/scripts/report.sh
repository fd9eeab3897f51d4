#!/usr/bin/env bash
# kscan/report: every HDF file in the output directory, one report.
set -uo pipefail
shopt -s nullglob
hdf=("$KSCAN_PARAM_OUT_DIR"/*.hdf.json)
if [ "${#hdf[@]}" -eq 0 ]; then
  echo "no kscan results (*.hdf.json) in $KSCAN_PARAM_OUT_DIR: did kscan/scan run?" >&2
  exit 3
fi
report=(report --ci circleci --out-dir "$KSCAN_PARAM_OUT_DIR")
[ -n "$KSCAN_PARAM_THRESHOLD" ] && report+=(--threshold "$KSCAN_PARAM_THRESHOLD")
[ -n "$KSCAN_PARAM_FORMATS" ] && report+=(--format "$KSCAN_PARAM_FORMATS")
exec kscan "${report[@]}" "${hdf[@]}"
