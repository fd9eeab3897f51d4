//! The report validators `scripts/setup` installs (the official SARIF
//! 2.1.0 schema with Python's jsonschema, and Microsoft's SARIF Multitool),
//! for every test that checks a report kscan wrote.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Validate `doc` against `schema` with Python's jsonschema.
pub fn jsonschema(schema: &Path, doc: &Path) {
    let out = Command::new(super::tool("report-validators-python"))
        .arg(super::root().join("tests/report_validators/jsonschema_check.py"))
        .args([schema, doc])
        .output()
        .expect("run jsonschema");
    assert!(
        out.status.success(),
        "{} is not valid against {}:\n{}{}",
        doc.display(),
        schema.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Validate a SARIF file with the official schema and with the SARIF
/// Multitool's `validate` (which exits 0 even on errors: its own SARIF
/// output is read and every error-level result fails the test).
pub fn validate_sarif(sarif: &Path, work: &Path) {
    let schema = super::tool("sarif-2.1.0.json");
    jsonschema(&schema, sarif);
    let log = work.join("multitool.sarif");
    let _ = std::fs::remove_file(&log);
    let out = Command::new(super::tool("Sarif.Multitool"))
        .arg("validate")
        .arg(sarif)
        .args(["--rule-kind", "Ghas;Sarif", "--json-schema"])
        .arg(&schema)
        .arg("--output")
        .arg(&log)
        .output()
        .expect("run Sarif.Multitool");
    assert!(out.status.success(), "Sarif.Multitool failed:\n{}{}", text(&out.stdout), text(&out.stderr));
    let log = read_json(&log);
    let run = &log["runs"][0];
    let rules: BTreeMap<&str, &str> = run["tool"]["driver"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["id"].as_str().unwrap_or(""), r["defaultConfiguration"]["level"].as_str().unwrap_or("warning")))
        .collect();
    let errors: Vec<String> = run["results"]
        .as_array()
        .expect("the Multitool's log has results")
        .iter()
        .filter(|r| {
            let rule = r["ruleId"].as_str().unwrap_or("");
            r["level"].as_str().unwrap_or(rules.get(rule).copied().unwrap_or("warning")) == "error"
        })
        .map(|r| format!("{} {}", r["ruleId"], r["message"]))
        .collect();
    assert!(errors.is_empty(), "Sarif.Multitool found errors in {}:\n{}", sarif.display(), errors.join("\n"));
}
