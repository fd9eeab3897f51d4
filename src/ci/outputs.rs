//! The outputs of a run, as every platform publishes them, and their two
//! encodings: GitHub's `$GITHUB_OUTPUT` file and a dotenv file (GitLab's
//! `artifacts:reports:dotenv`).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The gate's verdict as an output value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every threshold rule held (exit 0).
    Passed,
    /// A threshold rule was violated (exit 1).
    Failed,
    /// No threshold was given (exit 0).
    NotGated,
}

impl Verdict {
    /// `passed`, `failed` or `not-gated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NotGated => "not-gated",
        }
    }
}

/// What a run leaves for the next steps of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// The gate's verdict.
    pub verdict: Verdict,
    /// Compliance in percent, as `saf summary` computes it.
    pub compliance: u32,
    /// Number of Failed controls.
    pub failed: u64,
    /// The SARIF file, if written.
    pub sarif: Option<PathBuf>,
    /// The JUnit file, if written.
    pub junit: Option<PathBuf>,
    /// The HDF files the reports were made from.
    pub hdf: Vec<String>,
}

impl Outputs {
    /// (name, value) pairs; `hdf` holds one path per line.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        vec![
            ("verdict", self.verdict.as_str().to_owned()),
            ("compliance", self.compliance.to_string()),
            ("failed", self.failed.to_string()),
            ("sarif", path(&self.sarif)),
            ("junit", path(&self.junit)),
            ("hdf", self.hdf.join("\n")),
        ]
    }

    /// The lines to append to `$GITHUB_OUTPUT`: `name=value`, or for a value
    /// with a line break `name<<DELIMITER` … `DELIMITER`, with a delimiter
    /// made from the value's digest so that it cannot occur in it.
    pub fn github_output(&self) -> String {
        let mut out = String::new();
        for (name, value) in self.pairs() {
            if value.contains('\n') || value.contains('\r') {
                let digest = Sha256::digest(value.as_bytes());
                let delimiter: String =
                    format!("ghadelimiter_{}", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>());
                out.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
            } else {
                out.push_str(&format!("{name}={value}\n"));
            }
        }
        out
    }

    /// A dotenv file: `KSCAN_<NAME>=value`, `KSCAN_HDF` space-separated.
    /// GitLab's dotenv reports take one line per variable, so a path with a
    /// line break is refused.
    pub fn dotenv(&self) -> Result<String> {
        let mut out = String::new();
        for (name, value) in self.pairs() {
            let value = if name == "hdf" { self.hdf.join(" ") } else { value };
            if value.contains(['\n', '\r']) {
                return Err(Error::input(format!(
                    "the {name} output {value:?} has a line break, which a dotenv file cannot hold: rename the file"
                )));
            }
            out.push_str(&format!("KSCAN_{}={value}\n", name.to_ascii_uppercase()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(hdf: &[&str]) -> Outputs {
        Outputs {
            verdict: Verdict::Failed,
            compliance: 83,
            failed: 2,
            sarif: Some("out/kscan.sarif".into()),
            junit: None,
            hdf: hdf.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn single_line_values_are_name_equals_value() {
        assert_eq!(
            outputs(&["a.json"]).github_output(),
            "verdict=failed\ncompliance=83\nfailed=2\nsarif=out/kscan.sarif\njunit=\nhdf=a.json\n"
        );
    }

    #[test]
    fn several_hdf_files_use_a_delimited_block() {
        let text = outputs(&["a.json", "b.json"]).github_output();
        let block = text.split_once("hdf<<").unwrap().1;
        let (delimiter, rest) = block.split_once('\n').unwrap();
        assert!(delimiter.starts_with("ghadelimiter_") && delimiter.len() > 20, "{delimiter}");
        assert_eq!(rest, format!("a.json\nb.json\n{delimiter}\n"));
    }

    #[test]
    fn dotenv_is_one_line_per_variable() {
        assert_eq!(
            outputs(&["a.json", "b.json"]).dotenv().unwrap(),
            "KSCAN_VERDICT=failed\nKSCAN_COMPLIANCE=83\nKSCAN_FAILED=2\nKSCAN_SARIF=out/kscan.sarif\nKSCAN_JUNIT=\n\
             KSCAN_HDF=a.json b.json\n"
        );
        let err = outputs(&["a\nb.json"]).dotenv().unwrap_err();
        assert!(err.to_string().contains("hdf"), "{err}");
    }
}
