//! The floor for reading an HDF file: `serde_json` parsing it into a
//! `Value`, and nothing else. `scripts/bench.d/gate` compares `kscan gate`
//! with it.
//!
//! ```text
//! cargo run --release --example bare_parse -- results.json
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: bare_parse FILE");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(doc) => {
            let controls: usize = doc["profiles"]
                .as_array()
                .map_or(0, |ps| ps.iter().map(|p| p["controls"].as_array().map_or(0, Vec::len)).sum());
            println!("{controls} controls");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{} is not JSON: {e}", path.to_string_lossy());
            ExitCode::from(2)
        }
    }
}
