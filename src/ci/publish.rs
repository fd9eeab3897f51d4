//! Publishing written reports where a CI platform shows them.
//!
//! [`Publisher::prepare`] checks the platform's environment before anything
//! is written (on GitHub, `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` must be
//! set); [`Publisher::publish`] runs after the reports are written and
//! returns what to print on standard output; [`Publisher::fail`] publishes a
//! run that ended without results (exit 2 or 3), so the platform's outputs
//! always carry the exit code. Each annotation, summary and output is
//! written once, by kscan: the wrappers only call it.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::outputs::{Outputs, Verdict};
use super::Platform;
use crate::error::{Error, Result};
use crate::hdf::ControlStatus;
use crate::report::github::{escape_data, escape_property};
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

/// How the run ended, as the outputs tell it.
#[derive(Debug, Clone, Copy)]
pub struct RunEnd<'a> {
    /// The HDF files the reports were made from.
    pub hdf: &'a [String],
    /// The run manifest, when one was written.
    pub manifest: Option<&'a Path>,
    /// The exit code (0–4).
    pub exit_code: u8,
    /// Why the run is not clean despite its results (teardown left objects).
    pub problem: Option<&'a str>,
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

    /// Publish `report`, whose files `written` are in `out_dir`, for a run
    /// that ended as `end`. Returns the text for standard output.
    pub fn publish(&self, report: &Report, written: &[Written], out_dir: &Path, end: RunEnd<'_>) -> Result<String> {
        let find = |format: &str, file: &str| {
            written
                .iter()
                .find(|w| w.format == format && w.path.file_name().is_some_and(|n| n == file))
                .map(|w| w.path.clone())
        };
        let outputs = Outputs {
            verdict: Verdict::of(report),
            compliance: report.totals().compliance(),
            failed: report.totals().total(ControlStatus::Failed),
            sarif: find("sarif", "kscan.sarif"),
            junit: find("junit", "kscan-junit.xml"),
            hdf: end.hdf.to_vec(),
            manifest: end.manifest.map(Path::to_path_buf),
            exit_code: end.exit_code,
        };
        let mut out = String::new();
        match &self.target {
            Target::Nowhere => {}
            Target::Github { output, summary } => {
                let annotations = find("github", "kscan-github-annotations.txt").expect("--ci github writes github");
                let summary_md = find("github", "kscan-github-summary.md").expect("--ci github writes github");
                out.push_str(&read(&annotations)?);
                let mut text = read(&summary_md)?;
                if let Some(problem) = end.problem {
                    out.push_str(&github_error("kscan teardown", problem));
                    text.push_str(&format!("\n> [!CAUTION]\n> kscan exits {}: {}\n", end.exit_code, quote(problem)));
                }
                append(summary, text.as_bytes(), "GITHUB_STEP_SUMMARY")?;
                append(output, outputs.github_output().as_bytes(), "GITHUB_OUTPUT")?;
                out.push_str(&format!(
                    "github: step summary appended to $GITHUB_STEP_SUMMARY; outputs verdict={} compliance={} \
                     failed={} exit-code={} written to $GITHUB_OUTPUT\n",
                    outputs.verdict.as_str(),
                    outputs.compliance,
                    outputs.failed,
                    outputs.exit_code
                ));
            }
            Target::Gitlab => {
                let dotenv = write_dotenv(out_dir, &outputs, &mut out)?;
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
                if let Some(sarif) = &outputs.sarif {
                    out.push_str(&format!("{platform}: sarif {}\n", sarif.display()));
                }
            }
        }
        Ok(out)
    }

    /// Publish a run that ended with `exit_code` (2 or 3) and `message`,
    /// before any results: an error annotation and the outputs on GitHub;
    /// on GitLab the dotenv file, when `out_dir` exists (a run that scanned
    /// nothing creates nothing). Returns the text for standard output.
    pub fn fail(&self, exit_code: u8, message: &str, out_dir: &Path) -> Result<String> {
        let outputs = Outputs::failed(exit_code);
        let mut out = String::new();
        match &self.target {
            Target::Github { output, summary } => {
                out.push_str(&github_error("kscan", message));
                let text = format!("## ❌ kscan: exit {exit_code}, no results\n\n> {}\n", quote(message));
                append(summary, text.as_bytes(), "GITHUB_STEP_SUMMARY")?;
                append(output, outputs.github_output().as_bytes(), "GITHUB_OUTPUT")?;
            }
            Target::Gitlab if out_dir.is_dir() => {
                let dotenv = write_dotenv(out_dir, &outputs, &mut out)?;
                out.push_str(&format!("gitlab: dotenv {}\n", dotenv.display()));
            }
            Target::Gitlab | Target::Files(_) | Target::Nowhere => {}
        }
        Ok(out)
    }
}

/// One `::error` workflow command.
fn github_error(title: &str, message: &str) -> String {
    format!("::error title={}::{}\n", escape_property(title), escape_data(message))
}

/// `message` as the lines of a Markdown block quote (the first `> ` is the caller's).
fn quote(message: &str) -> String {
    message.lines().collect::<Vec<_>>().join("\n> ")
}

/// Write `kscan.env` into `out_dir`; a note on what was left out goes to `out`.
fn write_dotenv(out_dir: &Path, outputs: &Outputs, out: &mut String) -> Result<PathBuf> {
    let dotenv = out_dir.join(DOTENV_FILE);
    let (text, note) = outputs.dotenv()?;
    std::fs::write(&dotenv, text)
        .map_err(|e| Error::input(format!("cannot write {}", dotenv.display())).with_source(e))?;
    if let Some(note) = note {
        out.push_str(&format!("gitlab: {note}\n"));
    }
    Ok(dotenv)
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
