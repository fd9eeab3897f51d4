//! STAND-IN for the gate, kept only so that `kscan report` compiles and its
//! tests can gate before the real `src/gate/` lands; when merging, take the
//! real module and drop this file. It mirrors the real public API
//! (`Thresholds::load`, `check`, `Verdict`, `Violation`) and reads only the
//! nested form: `compliance.{min,max}`, `<status>.total.{min,max}` and
//! `<status>.<severity>.{min,max}`. Anything else is an input error.

use std::path::Path;

use serde_yaml::Value;

use crate::error::{Error, ResultExt};
use crate::hdf::{total_counts, ControlStatus, ResultSet, Severity};
use crate::{Outcome, Result};

/// A threshold file.
#[derive(Debug, Clone)]
pub struct Thresholds {
    limits: Vec<Limit>,
}

/// One `min` or `max`: of compliance (`status` None), a status total
/// (`severity` None) or one severity of a status.
#[derive(Debug, Clone)]
struct Limit {
    rule: String,
    status: Option<ControlStatus>,
    severity: Option<Severity>,
    min: bool,
    value: u64,
}

impl Thresholds {
    /// Read a threshold file (nested form only).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::read_file(path, e))?;
        let doc: Value = serde_yaml::from_str(&text).input_err(|| format!("{} is not valid YAML", path.display()))?;
        let bad = |key: &str| Error::input(format!("{}: unsupported threshold key `{key}`", path.display()));
        let mut limits = Vec::new();
        for (k, v) in doc.as_mapping().ok_or_else(|| bad("<top>"))? {
            let k = k.as_str().ok_or_else(|| bad("<non-string>"))?;
            if k == "compliance" {
                push_limits(&mut limits, k, None, None, v, &bad)?;
                continue;
            }
            let status = ControlStatus::from_key(k).ok_or_else(|| bad(k))?;
            for (sk, sv) in v.as_mapping().ok_or_else(|| bad(k))? {
                let sk = sk.as_str().ok_or_else(|| bad(k))?;
                let severity = if sk == "total" { None } else { Some(Severity::parse(sk).ok_or_else(|| bad(sk))?) };
                push_limits(&mut limits, &format!("{k}.{sk}"), Some(status), severity, sv, &bad)?;
            }
        }
        Ok(Thresholds { limits })
    }
}

fn push_limits(
    limits: &mut Vec<Limit>,
    rule: &str,
    status: Option<ControlStatus>,
    severity: Option<Severity>,
    v: &Value,
    bad: &dyn Fn(&str) -> Error,
) -> Result<()> {
    for (lk, lv) in v.as_mapping().ok_or_else(|| bad(rule))? {
        let key = format!("{rule}.{}", lk.as_str().unwrap_or("?"));
        let min = match lk.as_str() {
            Some("min") => true,
            Some("max") => false,
            _ => return Err(bad(&key)),
        };
        let value = lv.as_u64().ok_or_else(|| bad(&key))?;
        limits.push(Limit { rule: key, status, severity, min, value });
    }
    Ok(())
}

/// Check `sets` against `thresholds`.
pub fn check(thresholds: &Thresholds, sets: &[ResultSet]) -> Verdict {
    let counts = total_counts(sets);
    let violations = thresholds
        .limits
        .iter()
        .filter_map(|l| {
            let actual = match (l.status, l.severity) {
                (None, _) => u64::from(counts.compliance()),
                (Some(s), None) => counts.total(s),
                (Some(s), Some(sev)) => counts.get(s, sev),
            };
            let ok = if l.min { actual >= l.value } else { actual <= l.value };
            (!ok).then(|| Violation {
                rule: l.rule.clone(),
                message: format!("{} is {actual}, {} {}", l.rule, if l.min { "below" } else { "above" }, l.value),
            })
        })
        .collect();
    Verdict { violations }
}

/// The gate's conclusion.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Every violated rule.
    pub violations: Vec<Violation>,
}

impl Verdict {
    /// No rule was violated.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The outcome for the exit code.
    pub fn outcome(&self) -> Outcome {
        if self.passed() {
            Outcome::Passed
        } else {
            Outcome::GateFailed
        }
    }
}

/// One violated rule.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The threshold key, e.g. `failed.critical.max`.
    pub rule: String,
    /// What was expected and what was found.
    pub message: String,
}
