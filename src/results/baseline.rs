//! `--baseline PATH`: the earlier results a run is compared with — HDF
//! files, a run's `--out-dir`, or its manifest `kscan-run.json` (the HDF
//! files it lists). Read and checked before anything runs: a missing or
//! malformed baseline, or a run that ended without results, is an input
//! error (exit 2) naming the path.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::hdf::{ResultSet, Source};
use crate::report::Baseline;

use super::manifest::{self, Manifest};

/// Arguments every command with a post-scan stage takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BaselineArgs {
    /// Compare with earlier results: HDF files, or a `kscan scan --out-dir`
    /// (or its `kscan-run.json`); repeat for several. Each finding is new,
    /// unchanged or fixed, matched by its fingerprint (control and workload,
    /// so a restarted pod keeps its findings).
    #[arg(long, value_name = "PATH")]
    pub baseline: Vec<PathBuf>,

    /// With --baseline: JUnit, Code Quality and the Markdown summary list
    /// only new findings (SARIF always has all, with baselineState).
    #[arg(long)]
    pub only_new: bool,

    /// Which findings the gate counts: all, or with --baseline only new
    /// ones (a pull request fails for what it introduced, not for old debt).
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = crate::report::GateOn::All)]
    pub gate_on: crate::report::GateOn,
}

impl BaselineArgs {
    /// The baseline, read and checked, when one was given.
    pub fn load(&self) -> Result<Option<Baseline>> {
        if self.baseline.is_empty() {
            return Ok(None);
        }
        load(&self.baseline).map(Some)
    }
}

/// Read the baseline at `paths`.
pub fn load(paths: &[PathBuf]) -> Result<Baseline> {
    let mut sources = Vec::new();
    for path in paths {
        sources.extend(files(path)?);
    }
    let sets = ResultSet::load_all(sources.into_iter().map(Source::File))
        .map_err(|e| Error::input(format!("--baseline: {}", e.message())))?;
    let origin = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
    Ok(Baseline::of(origin, &sets))
}

/// The HDF files `path` stands for.
fn files(path: &Path) -> Result<Vec<PathBuf>> {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else if path.file_name().is_some_and(|n| n == manifest::FILE) {
        path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    } else if path.exists() {
        return Ok(vec![path.to_path_buf()]);
    } else {
        return Err(Error::input(format!("--baseline {} does not exist", path.display())));
    };
    let m = Manifest::read(&dir).map_err(|e| Error::input(format!("--baseline: {}", e.message())))?;
    if m.hdf.is_empty() {
        let why = m.error.as_deref().unwrap_or("it scanned nothing");
        return Err(Error::input(format!(
            "--baseline {}: run {} has no results to compare with (exit {}: {why})",
            path.display(),
            m.run,
            m.exit_code
        )));
    }
    Ok(m.hdf.iter().map(|f| dir.join(f)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_malformed_baseline_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&[dir.path().join("nope.json")]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("does not exist"), "{err}");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let err = load(&[bad]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("bad.json is not valid JSON"), "{err}");
        let err = load(&[dir.path().to_path_buf()]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("without a run manifest"), "{err}");
        let mut m = Manifest::new("eeee", "scan", 3);
        m.error = Some("no pod".into());
        m.write(dir.path()).unwrap();
        let err = load(&[dir.path().join(manifest::FILE)]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("run eeee has no results"), "{err}");
    }
}
