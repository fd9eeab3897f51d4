//! The fuzz targets' checks (`fuzz/checks.rs`) on stable, inside `cargo
//! test`: every seed (`fuzz/seeds/`, `examples/results`), every regression
//! input a fuzzer once found (`fuzz/regressions/`), and a fixed budget of
//! mutations of each seed from a fixed-seed generator (so a failure
//! reproduces). Each must end in a result or an input error (exit 2).
//! `scripts/fuzz` runs the same checks under libFuzzer for longer.

use std::path::{Path, PathBuf};

#[path = "../fuzz/checks.rs"]
mod checks;
mod support;

use support::rng::Rng;

/// Mutations tried per seed.
const MUTATIONS: usize = 150;

fn files(dirs: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap_or_else(|e| panic!("{d}: {e}")))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')))
        .collect();
    out.sort();
    out
}

/// Bytes that matter to JSON and YAML, to splice in.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\"",
    b"-",
    b"--- ",
    b"\n",
    b"  ",
    b"null",
    b"true",
    b"1e999",
    b"-0",
    b"18446744073709551616",
    b"&a ",
    b"*a",
    b"!!binary ",
    b"? ",
    b"|",
    b"\xff",
    b"\\u0000",
    b"~",
];

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 => data.truncate(at),
            1 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, t.iter().copied());
            }
            3 if at < data.len() => {
                let end = (at + rng.below(64)).min(data.len());
                data.drain(at..end);
            }
            _ => {
                let from = rng.below(data.len());
                let end = (from + rng.below(128)).min(data.len());
                let piece: Vec<u8> = data[from..end].to_vec();
                data.splice(at..at, piece);
            }
        }
    }
    data
}

fn run(target: &str, check: fn(&[u8]), dirs: &[&str]) {
    let inputs = files(dirs);
    assert!(!inputs.is_empty(), "{target}: no inputs in {dirs:?}");
    let mut rng = Rng(0x6b73_6361_6e21 ^ target.len() as u64);
    for path in inputs {
        let seed = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&seed));
        assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        for n in 0..MUTATIONS {
            let input = mutate(&seed, &mut rng);
            if std::panic::catch_unwind(|| check(&input)).is_err() {
                let keep = std::env::temp_dir().join(format!("kscan-fuzz-{target}-{n}"));
                std::fs::write(&keep, &input).unwrap();
                panic!("{target}: mutation {n} of {} panicked; input kept in {}", path.display(), keep.display());
            }
        }
    }
}

#[test]
fn the_hdf_loader_ends_every_input_in_a_result_or_an_input_error() {
    run("hdf", checks::hdf, &["fuzz/seeds/hdf", "fuzz/regressions/hdf", "examples/results"]);
}

#[test]
fn the_threshold_parser_ends_every_input_in_a_result_or_an_input_error() {
    run("threshold", checks::threshold, &["fuzz/seeds/threshold", "fuzz/regressions/threshold"]);
}

#[test]
fn the_manifest_reader_ends_every_input_in_a_result_or_an_input_error() {
    run("manifest", checks::manifest, &["fuzz/seeds/manifest", "fuzz/regressions/manifest"]);
}
