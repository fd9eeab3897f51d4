# The fuzz targets under libFuzzer for a fixed small budget (KSCAN_FUZZ_SECONDS,
# default 20 s each); scripts/fuzz runs them longer. cargo test already
# replays the seeds and regressions on stable (tests/fuzz_corpus.rs).
source "$(dirname "$0")/../lib.sh"
exec "$KSCAN_ROOT/scripts/fuzz" "${KSCAN_FUZZ_SECONDS:-20}"
