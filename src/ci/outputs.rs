//! The outputs of a run, as every platform publishes them, and their two
//! encodings: GitHub's `$GITHUB_OUTPUT` file and a dotenv file (GitLab's
//! `artifacts:reports:dotenv`, within GitLab's limits: one `KEY=value` line
//! per variable, no empty values, fewer than 20 variables, under 5 KiB).

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
    /// There is no verdict: the run could not scan or was given bad input
    /// (exit 2 or 3).
    Error,
}

impl Verdict {
    /// The verdict of `report`'s gate.
    pub fn of(report: &crate::report::Report) -> Self {
        match report.gate() {
            None => Verdict::NotGated,
            Some(g) if g.passed() => Verdict::Passed,
            Some(_) => Verdict::Failed,
        }
    }

    /// `passed`, `failed` or `not-gated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NotGated => "not-gated",
            Verdict::Error => "error",
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
    /// The run manifest, if one was written.
    pub manifest: Option<PathBuf>,
    /// The process's exit code (0–4, see the README).
    pub exit_code: u8,
}

/// GitLab's smallest dotenv size limit (bytes).
pub const DOTENV_MAX_BYTES: usize = 5 * 1024;

impl Outputs {
    /// The outputs of a run that ended with `exit_code` and no results.
    pub fn failed(exit_code: u8) -> Self {
        Outputs {
            verdict: Verdict::Error,
            compliance: 0,
            failed: 0,
            sarif: None,
            junit: None,
            hdf: Vec::new(),
            manifest: None,
            exit_code,
        }
    }
}

impl Outputs {
    /// (name, value) pairs; `hdf` holds one path per line. Without a
    /// verdict, `compliance` and `failed` are empty.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let scanned = self.verdict != Verdict::Error;
        vec![
            ("verdict", self.verdict.as_str().to_owned()),
            ("compliance", if scanned { self.compliance.to_string() } else { String::new() }),
            ("failed", if scanned { self.failed.to_string() } else { String::new() }),
            ("sarif", path(&self.sarif)),
            ("junit", path(&self.junit)),
            ("hdf", self.hdf.join("\n")),
            ("manifest", path(&self.manifest)),
            ("exit-code", self.exit_code.to_string()),
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

    /// A dotenv file: `KSCAN_<NAME>=value` (`exit-code` is `KSCAN_EXIT_CODE`,
    /// `KSCAN_HDF` space-separated). Empty values are left out. GitLab takes
    /// one line per variable, so a path with a line break is refused; when
    /// the HDF list would take the file past [`DOTENV_MAX_BYTES`], it is left
    /// out (`KSCAN_MANIFEST` lists the files) and the second value says so.
    pub fn dotenv(&self) -> Result<(String, Option<String>)> {
        let mut lines = Vec::new();
        for (name, value) in self.pairs() {
            let value = if name == "hdf" { self.hdf.join(" ") } else { value };
            if value.contains(['\n', '\r']) {
                return Err(Error::input(format!(
                    "the {name} output {value:?} has a line break, which a dotenv file cannot hold: rename the file"
                )));
            }
            if !value.is_empty() {
                lines.push((name, format!("KSCAN_{}={value}\n", name.to_ascii_uppercase().replace('-', "_"))));
            }
        }
        let size = |lines: &[(&str, String)]| lines.iter().map(|(_, l)| l.len()).sum::<usize>();
        let mut note = None;
        if size(&lines) > DOTENV_MAX_BYTES {
            lines.retain(|(name, _)| *name != "hdf");
            note = Some(format!(
                "KSCAN_HDF is left out of the dotenv file: {} paths pass GitLab's {DOTENV_MAX_BYTES}-byte limit \
                 (KSCAN_MANIFEST lists them)",
                self.hdf.len()
            ));
        }
        if size(&lines) > DOTENV_MAX_BYTES {
            return Err(Error::input(format!(
                "the dotenv outputs take {} bytes, more than GitLab's {DOTENV_MAX_BYTES}: use a shorter --out-dir",
                size(&lines)
            )));
        }
        Ok((lines.into_iter().map(|(_, l)| l).collect(), note))
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
            manifest: Some("out/kscan-run.json".into()),
            exit_code: 1,
        }
    }

    #[test]
    fn single_line_values_are_name_equals_value() {
        assert_eq!(
            outputs(&["a.json"]).github_output(),
            "verdict=failed\ncompliance=83\nfailed=2\nsarif=out/kscan.sarif\njunit=\nhdf=a.json\n\
             manifest=out/kscan-run.json\nexit-code=1\n"
        );
    }

    #[test]
    fn several_hdf_files_use_a_delimited_block() {
        let text = outputs(&["a.json", "b.json"]).github_output();
        let block = text.split_once("hdf<<").unwrap().1;
        let (delimiter, rest) = block.split_once('\n').unwrap();
        assert!(delimiter.starts_with("ghadelimiter_") && delimiter.len() > 20, "{delimiter}");
        assert_eq!(rest, format!("a.json\nb.json\n{delimiter}\nmanifest=out/kscan-run.json\nexit-code=1\n"));
    }

    #[test]
    fn dotenv_is_one_line_per_variable_without_empty_values() {
        assert_eq!(
            outputs(&["a.json", "b.json"]).dotenv().unwrap(),
            (
                "KSCAN_VERDICT=failed\nKSCAN_COMPLIANCE=83\nKSCAN_FAILED=2\nKSCAN_SARIF=out/kscan.sarif\n\
                 KSCAN_HDF=a.json b.json\nKSCAN_MANIFEST=out/kscan-run.json\nKSCAN_EXIT_CODE=1\n"
                    .to_owned(),
                None
            )
        );
        let err = outputs(&["a\nb.json"]).dotenv().unwrap_err();
        assert!(err.to_string().contains("hdf"), "{err}");
    }

    #[test]
    fn a_failed_run_has_a_verdict_of_error_and_its_exit_code() {
        let (text, _) = Outputs::failed(3).dotenv().unwrap();
        assert_eq!(text, "KSCAN_VERDICT=error\nKSCAN_EXIT_CODE=3\n");
        assert!(Outputs::failed(2).github_output().contains("compliance=\nfailed=\n"));
    }

    #[test]
    fn dotenv_stays_within_gitlabs_size_limit() {
        let many: Vec<String> = (0..200).map(|i| format!("kscan-results/web-{i}.app.hdf.json")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let (text, note) = outputs(&many).dotenv().unwrap();
        assert!(text.len() <= DOTENV_MAX_BYTES, "{}", text.len());
        assert!(!text.contains("KSCAN_HDF=") && text.contains("KSCAN_MANIFEST="), "{text}");
        assert!(note.unwrap().contains("200 paths"));
        assert!(text.lines().count() < 20);
    }
}
