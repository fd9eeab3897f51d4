//! The benchmark's floor: read a file and parse it into a `serde_json::Value`
//! with nothing else, as `kscan report` must at least do. Prints the number
//! of top-level keys so that the parse cannot be optimised away.
//!
//! ```text
//! cargo run --release --example bare_parse -- big.json
//! ```

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: bare_parse FILE");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("cannot read {}: {e}", path.to_string_lossy());
        std::process::exit(2);
    });
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        eprintln!("{} is not JSON: {e}", path.to_string_lossy());
        std::process::exit(2);
    });
    println!("{} top-level keys", value.as_object().map_or(0, |o| o.len()));
}
