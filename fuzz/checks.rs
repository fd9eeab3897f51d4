//! What every fuzz target asserts, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`) and the corpus replay in `cargo test`
//! (`tests/fuzz_corpus.rs`), which both take it in as a module: each input
//! ends in a result, or in an input error (exit 2) that says what is wrong.
//! A panic, or an error of another kind, is a finding.

use kscan::hdf::{ResultSet, Source};

/// `err` must be what kscan reports for bad input: exit 2, with a message.
fn input_error(what: &str, err: kscan::Error) {
    assert_eq!(err.exit_code(), 2, "{what}: an error that is not an input error: {err}");
    assert!(!err.to_string().trim().is_empty(), "{what}: an error without a message");
}

/// The strict threshold file of the repository, to gate fuzzed results with.
const STRICT: &str = include_str!("../thresholds/strict.yml");

/// A small HDF document to gate fuzzed thresholds against.
const RESULTS: &[u8] = include_bytes!("../examples/results/payments-posture.json");

/// The HDF loader: parse, evaluate, count, summarise and gate.
pub fn hdf(data: &[u8]) {
    match ResultSet::from_slice(Source::File("fuzz.json".into()), data) {
        Ok(set) => {
            let counts = set.counts();
            assert!(counts.compliance() <= 100, "compliance above 100%");
            let sets = [set];
            let summaries = kscan::hdf::summary::summarize(&sets);
            let _ = serde_json::to_vec(&kscan::hdf::summary::documents(&summaries)).expect("summaries serialize");
            let strict = kscan::gate::Thresholds::parse(STRICT, "strict.yml").expect("the strict thresholds parse");
            let _ = kscan::gate::check(&strict, &sets).passed();
        }
        Err(e) => input_error("HDF", e),
    }
}

/// The threshold parser: parse, then gate a fixed result set with it.
pub fn threshold(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match kscan::gate::Thresholds::parse(text, "fuzz.yml") {
        Ok(thresholds) => {
            assert!(!thresholds.is_empty(), "a threshold file without rules was accepted");
            let set =
                ResultSet::from_slice(Source::File("results.json".into()), RESULTS).expect("the fixed results load");
            let verdict = kscan::gate::check(&thresholds, &[set]);
            for v in &verdict.violations {
                assert!(!v.to_string().is_empty());
            }
        }
        Err(e) => input_error("threshold", e),
    }
}

/// The posture manifest reader: read every document, check every pod spec.
pub fn manifest(data: &[u8]) {
    use kscan::posture::pss::Level;
    use kscan::posture::scan::Scan;
    let mut scan = Scan::new(Level::Restricted);
    match kscan::posture::manifest::read_stream("fuzz.yaml", data, &mut |w, origin| scan.add(&w, origin)) {
        Ok(_) => {
            let mut out = Vec::new();
            scan.write_seed_json(&mut out).expect("the seed JSON is written");
        }
        Err(e) => input_error("manifest", e),
    }
}
