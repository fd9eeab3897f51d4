//! The run manifest: `kscan-run.json` in a scan's `--out-dir`, saying what
//! belongs to the run — its id, its HDF files and reports, its verdict, its
//! exit code and, when it ended badly, why.
//!
//! `kscan report DIR` reads it instead of globbing `*.hdf.json`, so results
//! an older run left in a reused directory are never taken for this run's:
//! a new run replaces the manifest and removes the files the previous one
//! listed and it did not write again.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};
use crate::report::coverage::Target;
use crate::report::{Diff, Gate};

/// A run against its baseline, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineRecord {
    /// The baseline as given.
    pub origin: String,
    /// Findings the baseline does not have.
    pub new: usize,
    /// Findings the baseline has too.
    pub unchanged: usize,
    /// Findings of the baseline this run's targets no longer have.
    pub fixed: usize,
    /// Findings of the baseline on targets this run did not scan.
    pub not_compared: usize,
    /// How the baseline differs from the run; empty when it does not.
    pub warnings: Vec<String>,
}

impl From<&Diff> for BaselineRecord {
    fn from(d: &Diff) -> Self {
        BaselineRecord {
            origin: d.origin.clone(),
            new: d.new,
            unchanged: d.unchanged,
            fixed: d.fixed_len(),
            not_compared: d.not_compared,
            warnings: d.warnings.clone(),
        }
    }
}

/// The manifest's file name.
pub const FILE: &str = "kscan-run.json";

/// What the `kind` field says.
const KIND: &str = "kscan-run";

/// The manifest's format version.
const VERSION: u32 = 1;

/// One report a run wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFile {
    /// The format (`junit`, `sarif`, …).
    pub format: String,
    /// The file, relative to the manifest's directory.
    pub file: String,
}

/// What one run wrote and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `kscan-run`.
    pub kind: String,
    /// The format version (1).
    pub version: u32,
    /// The kscan that wrote it.
    pub kscan: String,
    /// The run id (the `kscan.dev/run` label of its cluster objects).
    pub run: String,
    /// What ran: `scan`, or `scan --root`.
    pub command: String,
    /// When it ended (RFC 3339, UTC).
    pub finished_at: String,
    /// The HDF files, one per target, relative to the manifest's directory.
    pub hdf: Vec<String>,
    /// The reports.
    pub reports: Vec<ReportFile>,
    /// The gate's verdict; `null` when no threshold was given or nothing was scanned.
    pub verdict: Option<Gate>,
    /// This run against `--baseline`: new, unchanged and fixed counts, and
    /// how the baseline differs from the run (warnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineRecord>,
    /// Every target the run meant to scan: scanned, or not with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    /// The exit code (0–4, as in the README).
    pub exit_code: u8,
    /// Why the run did not end cleanly (exit 2, 3 or 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Manifest {
    /// A manifest for run `run` of `command`, ended now.
    pub fn new(run: &str, command: &str, exit_code: u8) -> Self {
        Manifest {
            kind: KIND.into(),
            version: VERSION,
            kscan: env!("CARGO_PKG_VERSION").into(),
            run: run.into(),
            command: command.into(),
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            hdf: Vec::new(),
            reports: Vec::new(),
            verdict: None,
            baseline: None,
            targets: Vec::new(),
            exit_code,
            error: None,
        }
    }

    /// The manifest in `dir`, checked: an input error (exit 2) naming the
    /// file when it is missing, malformed, or lists a path outside `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::input(format!(
                    "{} is a directory without a run manifest ({FILE}): give the --out-dir of a kscan scan, or \
                     the HDF files themselves",
                    dir.display()
                ))
            } else {
                Error::read_file(&path, e)
            }
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(format!("{} is not a kscan run manifest", path.display())).with_source(e))?;
        if manifest.kind != KIND || manifest.version != VERSION {
            return Err(Error::input(format!(
                "{} is a {:?} manifest of version {}; this kscan reads {KIND:?} version {VERSION}",
                path.display(),
                manifest.kind,
                manifest.version
            )));
        }
        for file in manifest.files() {
            if !is_plain_relative(file) {
                return Err(Error::input(format!(
                    "{} lists {file:?}, which is not a file inside its directory",
                    path.display()
                )));
            }
        }
        Ok(manifest)
    }

    /// Write the manifest into `dir` (through a temporary file, renamed),
    /// after removing what the manifest it replaces listed and this one
    /// does not. Returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(FILE);
        if let Ok(previous) = Manifest::read(dir) {
            let keep: Vec<&str> = self.files().collect();
            for stale in previous.files().filter(|f| !keep.contains(f)) {
                match std::fs::remove_file(dir.join(stale)) {
                    Ok(()) => {
                        tracing::info!("removed {stale} of the previous run {} in {}", previous.run, dir.display())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!("cannot remove {stale} of the previous run in {}: {e}", dir.display()),
                }
            }
        }
        let cannot =
            |e: std::io::Error| Error::scan(format!("cannot write the run manifest {}", path.display())).with_source(e);
        let mut tmp = tempfile::Builder::new().prefix(".kscan-run-").tempfile_in(dir).map_err(cannot)?;
        serde_json::to_writer_pretty(tmp.as_file_mut(), self)
            .map_err(|e| Error::scan(format!("cannot encode the run manifest: {e}")))?;
        std::io::Write::write_all(tmp.as_file_mut(), b"\n").map_err(cannot)?;
        #[cfg(unix)]
        std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(cannot)?;
        tmp.persist(&path).map_err(|e| cannot(e.error))?;
        Ok(path)
    }

    /// Every file the run wrote (HDF and reports), relative to its directory.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.hdf.iter().map(String::as_str).chain(self.reports.iter().map(|r| r.file.as_str()))
    }

    /// The error the run ended with, as it was (same kind, same exit code),
    /// naming the run and its directory; `None` for exit 0 and 1.
    pub fn ended_badly(&self, dir: &Path) -> Option<Error> {
        let kind = match self.exit_code {
            0 | 1 => return None,
            2 => Kind::Input,
            3 => Kind::Scan,
            _ => Kind::Teardown,
        };
        let why = self.error.as_deref().unwrap_or("no reason recorded");
        Some(Error::new(
            kind,
            format!("run {} in {} ended with exit {}: {why}", self.run, dir.display(), self.exit_code),
        ))
    }
}

/// A relative path that stays inside its directory.
fn is_plain_relative(file: &str) -> bool {
    let p = Path::new(file);
    !file.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_manifest_replaces_the_old_runs_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["old.app.hdf.json", "kscan.sarif", "web.app.hdf.json", "mine.txt"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let mut old = Manifest::new("aaaa", "scan", 0);
        old.hdf = vec!["old.app.hdf.json".into(), "web.app.hdf.json".into()];
        old.reports = vec![ReportFile { format: "sarif".into(), file: "kscan.sarif".into() }];
        old.write(dir.path()).unwrap();
        let mut new = Manifest::new("bbbb", "scan", 1);
        new.hdf = vec!["web.app.hdf.json".into()];
        new.write(dir.path()).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [FILE, "mine.txt", "web.app.hdf.json"]);
        assert_eq!(Manifest::read(dir.path()).unwrap(), new);
    }

    #[test]
    fn bad_manifests_are_input_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Manifest::read(dir.path()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("without a run manifest"), "{err}");
        std::fs::write(dir.path().join(FILE), "{}").unwrap();
        assert!(Manifest::read(dir.path()).unwrap_err().to_string().contains(FILE));
        let mut m = Manifest::new("cccc", "scan", 0);
        m.hdf = vec!["../elsewhere.hdf.json".into()];
        std::fs::write(dir.path().join(FILE), serde_json::to_vec(&m).unwrap()).unwrap();
        let err = Manifest::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a file inside its directory"), "{err}");
    }

    #[test]
    fn a_bad_ending_comes_back_with_its_exit_code() {
        let dir = Path::new("out");
        assert!(Manifest::new("dddd", "scan", 1).ended_badly(dir).is_none());
        for code in [2, 3, 4] {
            let mut m = Manifest::new("dddd", "scan", code);
            m.error = Some("why".into());
            let e = m.ended_badly(dir).unwrap();
            assert_eq!(e.exit_code(), code);
            assert_eq!(e.to_string(), format!("run dddd in out ended with exit {code}: why"));
        }
    }
}
