//! Publishing written reports where a CI platform shows them.
//!
//! [`Publisher::prepare`] checks the platform's environment before anything
//! is written (on GitHub, `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` must be
//! set); [`Publisher::publish`] runs after the reports are written and
//! returns what to print on standard output.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::outputs::{Outputs, Verdict};
use super::Platform;
use crate::error::{Error, Result};
use crate::hdf::ControlStatus;
use crate::report::{Report, Written};

/// The name of the dotenv file written for GitLab.
pub const DOTENV_FILE: &str = "kscan.env";

/// Where a platform's results go, resolved from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Github { output: PathBuf, summary: PathBuf },
    Gitlab,
    Files(Platform),
    Nowhere,
}

/// Publishes for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    target: Target,
}

impl Publisher {
    /// Check what `platform` needs from the environment `env`.
    pub fn prepare(platform: Platform, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| {
            env(name).filter(|v| !v.trim().is_empty()).map(PathBuf::from).ok_or_else(|| {
                Error::input(format!(
                    "--ci github needs {name} (GitHub Actions sets it in every step): run inside GitHub Actions, \
                     set it to a file, or pass --ci none"
                ))
            })
        };
        let target = match platform {
            Platform::Github => Target::Github { output: var("GITHUB_OUTPUT")?, summary: var("GITHUB_STEP_SUMMARY")? },
            Platform::Gitlab => Target::Gitlab,
            Platform::Jenkins | Platform::Circleci | Platform::Codebuild => Target::Files(platform),
            Platform::None => Target::Nowhere,
        };
        Ok(Publisher { target })
    }

    /// Publish `report`, whose files `written` are in `out_dir`, made from
    /// the HDF files `hdf`. Returns the text for standard output.
    pub fn publish(&self, report: &Report, written: &[Written], out_dir: &Path, hdf: &[String]) -> Result<String> {
        let find = |format: &str, file: &str| {
            written
                .iter()
                .find(|w| w.format == format && w.path.file_name().is_some_and(|n| n == file))
                .map(|w| w.path.clone())
        };
        let outputs = Outputs {
            verdict: match report.gate() {
                None => Verdict::NotGated,
                Some(g) if g.passed() => Verdict::Passed,
                Some(_) => Verdict::Failed,
            },
            compliance: report.totals().compliance(),
            failed: report.totals().total(ControlStatus::Failed),
            sarif: find("sarif", "kscan.sarif"),
            junit: find("junit", "kscan-junit.xml"),
            hdf: hdf.to_vec(),
        };
        let mut out = String::new();
        match &self.target {
            Target::Nowhere => {}
            Target::Github { output, summary } => {
                let annotations = find("github", "kscan-github-annotations.txt").expect("--ci github writes github");
                let summary_md = find("github", "kscan-github-summary.md").expect("--ci github writes github");
                out.push_str(&read(&annotations)?);
                append(summary, read(&summary_md)?.as_bytes(), "GITHUB_STEP_SUMMARY")?;
                append(output, outputs.github_output().as_bytes(), "GITHUB_OUTPUT")?;
                out.push_str(&format!(
                    "github: step summary appended to $GITHUB_STEP_SUMMARY; outputs verdict={} compliance={} \
                     failed={} written to $GITHUB_OUTPUT\n",
                    outputs.verdict.as_str(),
                    outputs.compliance,
                    outputs.failed
                ));
            }
            Target::Gitlab => {
                let dotenv = out_dir.join(DOTENV_FILE);
                std::fs::write(&dotenv, outputs.dotenv()?)
                    .map_err(|e| Error::input(format!("cannot write {}", dotenv.display())).with_source(e))?;
                let codequality =
                    find("codequality", "kscan-codequality.json").expect("--ci gitlab writes codequality");
                for (what, path) in [
                    ("junit", outputs.junit.clone().expect("--ci gitlab writes junit")),
                    ("codequality", codequality),
                    ("dotenv", dotenv),
                ] {
                    out.push_str(&format!("gitlab: {what} {}\n", path.display()));
                }
            }
            Target::Files(platform) => {
                let summary = find("markdown", "kscan-summary.md").expect("the platform writes markdown");
                let junit = outputs.junit.clone().expect("the platform writes junit");
                out.push_str(&format!(
                    "{platform}: junit {}\n{platform}: summary {}\n",
                    junit.display(),
                    summary.display()
                ));
            }
        }
        Ok(out)
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::read_file(path, e))
}

/// Append to a file GitHub gave us (created if missing, as the runner does).
fn append(path: &Path, bytes: &[u8], var: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| Error::input(format!("cannot append to ${var} ({})", path.display())).with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_without_its_files_is_refused_up_front() {
        let err = Publisher::prepare(Platform::Github, |_| None).unwrap_err();
        assert!(err.to_string().contains("GITHUB_OUTPUT"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let err = Publisher::prepare(Platform::Github, |k| (k == "GITHUB_OUTPUT").then(|| "o".into())).unwrap_err();
        assert!(err.to_string().contains("GITHUB_STEP_SUMMARY"), "{err}");
        assert!(Publisher::prepare(Platform::Jenkins, |_| None).is_ok());
    }
}
