//! The gate: SAF-compatible threshold files and their evaluation.
//!
//! [`Thresholds::load`] / [`Thresholds::parse`] read and validate a threshold
//! file (the format of `saf validate threshold`), [`check`] evaluates it
//! against result sets and returns a [`Verdict`] listing every violated
//! rule, and [`generate()`] writes a threshold file from results as
//! `saf generate threshold` does.
//!
//! # Rules
//!
//! ```yaml
//! compliance: {min: 80, max: 100}          # percent, 0–100
//! passed:    {total: {min: 10}, critical: {min: 1, controls: [C-1]}}
//! failed:    {total: {max: 0}, high: {max: 2}}
//! skipped:   {total: 3}                     # a scalar total: exactly 3
//! error:     {total: {max: 0}}
//! no_impact: {total: {max: 5}, none: {max: 5}}
//! ```
//!
//! Statuses are `passed`, `failed`, `skipped` (Not Reviewed), `error`
//! (Profile Error) and `no_impact` (Not Applicable); below each, `total` and
//! the severities `critical`, `high`, `medium`, `low`, `none`, each with
//! `min`, `max` and `controls` (the exact set of ids in that bucket). Keys
//! may be nested or flat (`failed.critical.max: 0`) in any mix.
//!
//! # What is counted
//!
//! Counts are merged over every file and every top profile of each file,
//! overlays counted once (see [`crate::hdf::evaluate`]); a rule's `total`
//! counts every severity, `none` included. Compliance is computed from the
//! merged counts.
//!
//! # Differences from SAF 1.5.3, on purpose
//!
//! - every violated rule is reported, in SAF's order (SAF stops at the first);
//! - `no_impact.total.min/max` and `compliance.max: 0` are enforced (SAF
//!   ignores them); `<status>.none` exists for every status, not only
//!   `no_impact`, so that no control escapes a severity rule;
//! - flat keys are all honoured: SAF keeps only the last of
//!   `x.y.min`/`x.y.max`, and drops flat `compliance.*` beside nested keys;
//! - `controls` is exact set equality; duplicate ids are an error, and `[]`
//!   on an empty bucket holds (SAF fails it);
//! - malformed files are errors (exit 2) naming the file and the key:
//!   unknown keys, `null`, quoted, negative or fractional numbers, a scalar
//!   `compliance`, a key given twice, a `min` above its `max`, no rules;
//! - severity tags count whatever their case (`HIGH` is high; SAF puts it in
//!   a bucket of its own that no rule reads);
//! - every top profile counts, not only `profiles[0]`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::Error;
use crate::hdf::ResultSet;
use crate::{Outcome, Result};

mod check;
mod generate;
mod parse;
pub mod rules;

pub use generate::{generate, GenerateOptions};
pub use rules::{Bound, Rule, RuleKey, Scope};

/// A parsed, validated threshold file: its rules in SAF's checking order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    origin: String,
    rules: BTreeMap<RuleKey, Rule>,
}

impl Thresholds {
    /// Read and validate the threshold file at `path`. Errors are input
    /// errors (exit 2) naming the file and, for bad content, the key.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::read_file(path, e).context("threshold file"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::input(format!("threshold file {} is not UTF-8 text", path.display())))?;
        Thresholds::parse(&text, &path.display().to_string())
    }

    /// Parse threshold YAML; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let rules = parse::parse_rules(text, origin)?;
        Ok(Thresholds { origin: origin.to_owned(), rules })
    }

    /// Where the thresholds came from (the path given to [`Thresholds::load`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The rules, in SAF's checking order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    /// How many rules there are (never zero).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Always false: a threshold file without rules is rejected.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Evaluate `thresholds` against the merged counts of `sets`.
pub fn check(thresholds: &Thresholds, sets: &[ResultSet]) -> Verdict {
    Verdict { violations: check::violations(&thresholds.rules, sets), rules: thresholds.len() }
}

/// The result of a gate check.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Every violated rule, in SAF's order.
    pub violations: Vec<Violation>,
    /// How many rules were checked.
    pub rules: usize,
}

impl Verdict {
    /// Whether every rule held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The outcome the process exits with.
    pub fn outcome(&self) -> Outcome {
        Outcome::of_gate(self.passed())
    }
}

/// One violated rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule's key, e.g. `failed.critical.max`, `compliance.min`, `passed.high.controls`.
    pub rule: String,
    /// SAF's wording for the violation.
    pub message: String,
    /// Facts SAF's wording leaves out: the compliance figure, the missing and
    /// unlisted control ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The measured value: a percentage for compliance, else a number of controls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<u64>,
    /// The threshold's value (for `controls`, how many ids it lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl std::fmt::Display for Violation {
    /// `[rule] message (detail)`, one line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.rule, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdf::Source;
    use serde_json::json;

    /// A set with one control per (id, impact, status, severity tag).
    fn set(controls: &[(&str, f64, &str)]) -> ResultSet {
        let controls: Vec<_> = controls
            .iter()
            .map(|(id, impact, status)| {
                json!({"id": id, "impact": impact, "tags": {},
                       "results": [{"status": status, "code_desc": "t", "start_time": ""}]})
            })
            .collect();
        let doc = json!({"platform": {"name": "x", "release": "1"}, "profiles": [{"name": "p", "controls": controls}]});
        ResultSet::from_slice(Source::File("r.json".into()), doc.to_string().as_bytes()).unwrap()
    }

    fn verdict(threshold: &str, sets: &[ResultSet]) -> Verdict {
        check(&Thresholds::parse(threshold, "t.yml").unwrap(), sets)
    }

    fn rules(v: &Verdict) -> Vec<&str> {
        v.violations.iter().map(|v| v.rule.as_str()).collect()
    }

    #[test]
    fn every_violation_is_reported_in_safs_order() {
        // 2 passed (high, medium), 2 failed (critical, low), 1 skipped, 1 n/a: compliance 40.
        let s = set(&[
            ("P1", 0.7, "passed"),
            ("P2", 0.5, "passed"),
            ("F1", 0.9, "failed"),
            ("F2", 0.3, "failed"),
            ("S1", 0.5, "skipped"),
            ("N1", 0.0, "passed"),
        ]);
        let t = "failed: {critical: {max: 0}, total: {max: 1}}\nno_impact.total.max: 0\ncompliance: {min: 50}\n\
                 passed: {total: 3, high: {controls: [P1, P9]}}\nskipped.medium.min: 2";
        let v = verdict(t, &[s]);
        assert_eq!(
            rules(&v),
            [
                "compliance.min",
                "passed.total",
                "failed.total.max",
                "no_impact.total.max",
                "failed.critical.max",
                "skipped.medium.min",
                "passed.high.controls"
            ]
        );
        assert_eq!(v.rules, 7);
        assert_eq!(v.outcome(), Outcome::GateFailed);
        let m: Vec<&str> = v.violations.iter().map(|v| v.message.as_str()).collect();
        assert_eq!(m[0], "Overall compliance minimum was not satisfied");
        assert_eq!(v.violations[0].detail.as_deref(), Some("compliance is 40%, below the minimum of 50%"));
        assert_eq!(m[1], "passed.total: Threshold not met. Number of received total passed controls (2) is not equal to your set threshold for the number of passed controls (3)");
        assert_eq!(m[2], "failed.total.max: Threshold not met. Number of received total failed controls (2) is greater than your set threshold for the number of failed controls (1)");
        assert_eq!(m[5], "skipped.medium.min: Threshold not met. Number of received total skipped controls (1) is less than your set threshold for the number of skipped controls (2)");
        assert_eq!(m[6], "Expected passed.high.controls to contain P9 controls but it only contained [P1]");
        assert_eq!(v.violations[6].detail.as_deref(), Some("missing P9"));
    }

    #[test]
    fn passing_thresholds_pass() {
        let s = set(&[("P1", 0.7, "passed"), ("F1", 0.5, "failed")]);
        let v = verdict(
            "compliance: {min: 50, max: 50}\nfailed.medium: {max: 1, controls: [F1]}\nerror.low.controls: []",
            &[s],
        );
        assert!(v.passed(), "{:?}", v.violations);
        assert_eq!(v.outcome(), Outcome::Passed);
    }

    #[test]
    fn compliance_max_zero_is_enforced() {
        let v = verdict("compliance.max: 0", &[set(&[("P1", 0.7, "passed")])]);
        assert_eq!(rules(&v), ["compliance.max"]);
        assert_eq!(v.violations[0].message, "Overall compliance maximum was not satisfied");
    }

    #[test]
    fn controls_are_an_exact_set() {
        let s = set(&[("P1", 0.7, "passed"), ("P2", 0.7, "passed")]);
        let v = verdict("passed.high.controls: [P1]", std::slice::from_ref(&s));
        assert_eq!(v.violations[0].message, "Expected passed.high.controls to contain 1 controls but it contained 2");
        assert_eq!(v.violations[0].detail.as_deref(), Some("not listed P2"));
        assert!(verdict("passed.high.controls: [P2, P1]", &[s]).passed());
    }

    #[test]
    fn several_sets_are_merged() {
        let a = set(&[("P1", 0.7, "passed")]);
        let b = set(&[("F1", 0.7, "failed")]);
        let v = verdict("compliance.min: 51\nfailed.high.max: 0\npassed.high.controls: [P1]", &[a, b]);
        assert_eq!(rules(&v), ["compliance.min", "failed.high.max"]);
    }

    #[test]
    fn violation_lines_carry_rule_and_detail() {
        let v = verdict("compliance.min: 80", &[set(&[("F1", 0.7, "failed")])]);
        assert_eq!(
            v.violations[0].to_string(),
            "[compliance.min] Overall compliance minimum was not satisfied (compliance is 0%, below the minimum of 80%)"
        );
    }
}
