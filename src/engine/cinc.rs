//! The `cinc` engine: CINC Auditor (or InSpec) as an external program.
//!
//! kscan runs `PROGRAM exec PROFILE -t TARGET --reporter json:FILE` as an
//! argument vector (never a shell line), with `KUBECONFIG` pointing at the
//! run's scoped kubeconfig, a time limit, and standard error captured. Exit
//! codes 0 (all passed), 100 (a control failed) and 101 (a control was
//! skipped) mean results were written; anything else, a missing program, or a
//! results file that is missing or not exec JSON means the scan could not run
//! (exit 3), with the program's own message.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::hdf::{ResultSet, Source};

/// Programs looked for on `PATH` when `--engine-bin` is not given, in order.
pub const PROGRAMS: &[&str] = &["cinc-auditor", "inspec"];

/// Exit codes of `inspec exec` that come with results.
const RESULT_CODES: &[i32] = &[0, 100, 101];

/// Most of the program's standard error kept for messages.
const STDERR_LIMIT: usize = 8 * 1024;

/// A configured CINC Auditor / InSpec run.
#[derive(Debug, Clone)]
pub struct Cinc {
    program: PathBuf,
    profile: PathBuf,
    timeout: Duration,
}

impl Cinc {
    /// Check the profile and find the program: `bin` if given (a path or a
    /// name on `PATH`), else the first of [`PROGRAMS`] on `PATH`.
    pub fn new(bin: Option<&Path>, profile: &Path, timeout: Duration) -> Result<Self> {
        if !profile.join("inspec.yml").is_file() {
            return Err(Error::input(format!(
                "--profile {}: not an InSpec profile (no inspec.yml there)",
                profile.display()
            )));
        }
        let program = match bin {
            Some(b) => find_program(b)
                .ok_or_else(|| Error::scan(format!("--engine-bin {}: no such executable", b.display())))?,
            None => PROGRAMS.iter().find_map(|p| find_program(Path::new(p))).ok_or_else(|| {
                Error::scan(
                    "neither cinc-auditor nor inspec is on PATH: install CINC Auditor (and its train-k8s-container \
                     plugin for k8s-container:// targets, which runs kubectl: it must be on PATH too), pass \
                     --engine-bin PATH, or use --engine builtin",
                )
            })?,
        };
        Ok(Cinc { program, profile: profile.to_path_buf(), timeout })
    }

    /// The program that will run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The argument vector for `target`, writing JSON to `results`.
    pub fn argv(&self, target: &str, results: &Path) -> Vec<OsString> {
        let mut reporter = OsString::from("json:");
        reporter.push(results);
        vec![
            "exec".into(),
            self.profile.clone().into_os_string(),
            "-t".into(),
            target.into(),
            "--reporter".into(),
            reporter,
        ]
    }

    /// Run against `target` (a train URI such as
    /// `k8s-container://ns/pod/container`) as the identity in `kubeconfig`;
    /// the results file goes into `work_dir`. Returns the exec JSON.
    pub async fn run(&self, target: &str, kubeconfig: &Path, work_dir: &Path) -> Result<Vec<u8>> {
        let results = work_dir.join("cinc-results.json");
        let shown = self.program.display().to_string();
        let mut child = tokio::process::Command::new(&self.program)
            .args(self.argv(target, &results))
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::scan(format!("cannot start {shown}")).with_source(e))?;
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let wait = async {
            let mut err = Vec::new();
            let _ = stderr.read_to_end(&mut err).await;
            let status = child.wait().await;
            (status, err)
        };
        let (status, err) = tokio::time::timeout(self.timeout, wait)
            .await
            .map_err(|_| Error::scan(format!("{shown} did not finish within {:?} and was stopped", self.timeout)))?;
        let status = status.map_err(|e| Error::scan(format!("waiting for {shown}")).with_source(e))?;
        let err = tail(&err);
        let code = status.code();
        if !code.is_some_and(|c| RESULT_CODES.contains(&c)) {
            let how = code.map_or_else(|| "was killed by a signal".to_owned(), |c| format!("exited with {c}"));
            return Err(Error::scan(format!("{shown} {how} against {target}: {err}")));
        }
        let bytes = std::fs::read(&results)
            .map_err(|e| Error::scan(format!("{shown} wrote no results to {} ({e}): {err}", results.display())))?;
        ResultSet::from_slice(Source::File(results.clone()), &bytes)
            .map_err(|e| Error::scan(format!("{shown} wrote results kscan cannot read: {e}")))?;
        Ok(bytes)
    }
}

/// The last part of a program's standard error, as text.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_LIMIT);
    let text = String::from_utf8_lossy(&bytes[start..]).trim().to_owned();
    if text.is_empty() {
        "(no output on standard error)".to_owned()
    } else {
        text
    }
}

/// `name` itself if it has a slash, else the first match on `PATH`; only
/// executable files count.
fn find_program(name: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if name.components().count() > 1 || name.is_absolute() {
        return executable(name).then(|| name.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_the_documented_vector() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("inspec.yml"), "name: p\n").unwrap();
        let cinc = Cinc::new(Some(Path::new("/bin/true")), dir.path(), Duration::from_secs(1)).unwrap();
        let argv = cinc.argv("k8s-container://ns/pod/c", Path::new("/w/r.json"));
        let argv: Vec<String> = argv.into_iter().map(|a| a.into_string().unwrap()).collect();
        assert_eq!(
            argv,
            [
                "exec",
                &dir.path().display().to_string(),
                "-t",
                "k8s-container://ns/pod/c",
                "--reporter",
                "json:/w/r.json"
            ]
        );
    }

    #[test]
    fn a_directory_without_inspec_yml_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Cinc::new(Some(Path::new("/bin/true")), dir.path(), Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("inspec.yml"), "{err}");
    }

    #[test]
    fn a_missing_program_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("inspec.yml"), "name: p\n").unwrap();
        let err = Cinc::new(Some(Path::new("/nonexistent/cinc")), dir.path(), Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.exit_code(), 3);
    }
}
