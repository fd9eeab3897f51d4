//! The gate: SAF-compatible threshold files and their evaluation.
//!
//! The public surface is small on purpose: [`Thresholds::load`] /
//! [`Thresholds::parse`] read and validate a threshold file, [`check`]
//! evaluates it against result sets and returns a [`Verdict`] listing every
//! violated rule.

use serde::Serialize;

use crate::hdf::ResultSet;
use crate::{Outcome, Result};

/// A parsed, validated threshold file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    origin: String,
}

impl Thresholds {
    /// Read and validate the threshold file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::read_file(path, e))?;
        Thresholds::parse(&text, &path.display().to_string())
    }

    /// Parse threshold YAML; `origin` names it in errors.
    pub fn parse(_text: &str, origin: &str) -> Result<Self> {
        Err(crate::Error::input(format!("{origin}: threshold files are not supported yet")))
    }
}

/// Evaluate `thresholds` against the merged counts of `sets`.
pub fn check(_thresholds: &Thresholds, _sets: &[ResultSet]) -> Verdict {
    Verdict { violations: Vec::new() }
}

/// The result of a gate check.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Every violated rule, in SAF's order.
    pub violations: Vec<Violation>,
}

impl Verdict {
    /// Whether every rule held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The outcome the process exits with.
    pub fn outcome(&self) -> Outcome {
        if self.passed() {
            Outcome::Passed
        } else {
            Outcome::GateFailed
        }
    }
}

/// One violated rule.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// The rule's key, e.g. `failed.critical.max`, `compliance.min`, `passed.high.controls`.
    pub rule: String,
    /// SAF's wording for the violation, where SAF has one.
    pub message: String,
}
