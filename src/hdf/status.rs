//! Control status and severity, following inspecjs 2.12 exactly so that
//! every number kscan prints matches the SAF CLI and Heimdall.

use serde::Serialize;
use std::fmt;

pub use super::model::Severity;
use super::model::{js_truthy, Control, ResultStatus};

/// The status of a control as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    /// Every test passed (SAF key `passed`).
    Passed,
    /// At least one test failed (SAF key `failed`).
    Failed,
    /// Only skipped tests (SAF key `skipped`, shown as "Not Reviewed").
    NotReviewed,
    /// Waived, or impact 0 (SAF key `no_impact`).
    NotApplicable,
    /// An error, a backtrace, or no results at all (SAF key `error`).
    ProfileError,
}

impl ControlStatus {
    /// All statuses in SAF's key order.
    pub const ALL: [ControlStatus; 5] = [
        ControlStatus::Passed,
        ControlStatus::Failed,
        ControlStatus::NotReviewed,
        ControlStatus::ProfileError,
        ControlStatus::NotApplicable,
    ];

    /// The key SAF uses in summaries and threshold files.
    pub fn key(self) -> &'static str {
        match self {
            ControlStatus::Passed => "passed",
            ControlStatus::Failed => "failed",
            ControlStatus::NotReviewed => "skipped",
            ControlStatus::NotApplicable => "no_impact",
            ControlStatus::ProfileError => "error",
        }
    }

    /// The name inspecjs and Heimdall show.
    pub fn label(self) -> &'static str {
        match self {
            ControlStatus::Passed => "Passed",
            ControlStatus::Failed => "Failed",
            ControlStatus::NotReviewed => "Not Reviewed",
            ControlStatus::NotApplicable => "Not Applicable",
            ControlStatus::ProfileError => "Profile Error",
        }
    }

    /// Index into [`ControlStatus::ALL`].
    pub fn index(self) -> usize {
        match self {
            ControlStatus::Passed => 0,
            ControlStatus::Failed => 1,
            ControlStatus::NotReviewed => 2,
            ControlStatus::ProfileError => 3,
            ControlStatus::NotApplicable => 4,
        }
    }

    /// Parse a SAF key (`passed`, `failed`, `skipped`, `error`, `no_impact`).
    pub fn from_key(key: &str) -> Option<Self> {
        ControlStatus::ALL.into_iter().find(|s| s.key() == key)
    }
}

impl fmt::Display for ControlStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The status of one test as inspecjs sees it: a truthy backtrace makes it an
/// error whatever its status; a missing status is its own case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    /// `passed`
    Passed,
    /// `failed`
    Failed,
    /// `skipped`
    Skipped,
    /// `error`, or any status with a backtrace
    Error,
    /// no `status` key
    NoStatus,
}

/// The outcome of a single test result.
pub fn test_outcome(result: &super::model::TestResult) -> TestOutcome {
    if result.backtrace.as_ref().is_some_and(js_truthy) {
        return TestOutcome::Error;
    }
    match &result.status {
        Some(ResultStatus::Passed) => TestOutcome::Passed,
        Some(ResultStatus::Failed) => TestOutcome::Failed,
        Some(ResultStatus::Skipped) => TestOutcome::Skipped,
        Some(ResultStatus::Error) => TestOutcome::Error,
        // Rejected by the loader; counted as an error if it ever gets here.
        Some(ResultStatus::Unknown(_)) => TestOutcome::Error,
        None => TestOutcome::NoStatus,
    }
}

/// Whether a control is waived (`waiver_data.skipped_due_to_waiver` truthy).
pub fn is_waived(control: &Control) -> bool {
    control.waiver_data.as_ref().and_then(|w| w.get("skipped_due_to_waiver")).is_some_and(js_truthy)
}

/// inspecjs `ExecControl.compute_status`, in its order:
/// error → Profile Error; waived or impact 0 → Not Applicable; no results →
/// Profile Error; failed → Failed; passed → Passed; skipped → Not Reviewed;
/// anything else → Profile Error.
pub fn control_status(control: &Control) -> ControlStatus {
    let outcomes: Vec<TestOutcome> = control.results().iter().map(test_outcome).collect();
    let has = |o: TestOutcome| outcomes.contains(&o);
    if has(TestOutcome::Error) {
        ControlStatus::ProfileError
    } else if is_waived(control) || control.impact == 0.0 {
        ControlStatus::NotApplicable
    } else if outcomes.is_empty() {
        ControlStatus::ProfileError
    } else if has(TestOutcome::Failed) {
        ControlStatus::Failed
    } else if has(TestOutcome::Passed) {
        ControlStatus::Passed
    } else if has(TestOutcome::Skipped) {
        ControlStatus::NotReviewed
    } else {
        ControlStatus::ProfileError
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn control(impact: f64, results: Value, extra: Value) -> Control {
        let mut v = json!({"id": "c", "impact": impact, "results": results});
        if let Value::Object(m) = extra {
            v.as_object_mut().unwrap().extend(m);
        }
        serde_json::from_value(v).unwrap()
    }

    fn r(status: &str) -> Value {
        json!({"status": status, "code_desc": "t", "start_time": ""})
    }

    #[test]
    fn status_rules_in_inspecjs_order() {
        use ControlStatus::*;
        let cases = [
            (0.5, json!([r("passed")]), json!({}), Passed),
            (0.5, json!([r("passed"), r("failed")]), json!({}), Failed),
            (0.5, json!([r("skipped")]), json!({}), NotReviewed),
            (0.5, json!([r("skipped"), r("passed")]), json!({}), Passed),
            (0.5, json!([]), json!({}), ProfileError),
            (0.0, json!([]), json!({}), NotApplicable),
            (0.0, json!([r("failed")]), json!({}), NotApplicable),
            (0.0, json!([r("error")]), json!({}), ProfileError),
            (0.5, json!([r("failed")]), json!({"waiver_data": {"skipped_due_to_waiver": true}}), NotApplicable),
            (0.5, json!([r("failed")]), json!({"waiver_data": {"skipped_due_to_waiver": "false"}}), NotApplicable),
            (0.5, json!([r("failed")]), json!({"waiver_data": {"skipped_due_to_waiver": false}}), Failed),
            (0.5, json!([r("error")]), json!({"waiver_data": {"skipped_due_to_waiver": true}}), ProfileError),
            (0.5, json!([{"status": "passed", "code_desc": "t", "backtrace": []}]), json!({}), ProfileError),
            (0.5, json!([{"status": "passed", "code_desc": "t", "backtrace": null}]), json!({}), Passed),
            (0.5, json!([{"code_desc": "t"}]), json!({}), ProfileError),
            (0.5, json!([{"code_desc": "t"}, r("passed")]), json!({}), Passed),
        ];
        for (impact, results, extra, want) in cases {
            let c = control(impact, results.clone(), extra.clone());
            assert_eq!(control_status(&c), want, "impact {impact} results {results} extra {extra}");
        }
    }

    #[test]
    fn severity_boundaries_are_exact() {
        use Severity::*;
        for (impact, want) in [
            (0.0, None),
            (0.09, None),
            (0.1, Low),
            (0.39, Low),
            (0.4, Medium),
            (0.69, Medium),
            (0.7, High),
            (0.89, High),
            (0.9, Critical),
            (1.0, Critical),
        ] {
            assert_eq!(Severity::from_impact(impact), want, "impact {impact}");
        }
    }

    #[test]
    fn severity_tags_win_when_they_name_a_severity() {
        let c = control(0.3, json!([]), json!({"tags": {"severity": "HIGH"}}));
        assert_eq!(Severity::of(&c), Severity::High);
        let c = control(0.3, json!([]), json!({"tags": {"severity": "CAT I"}}));
        assert_eq!(Severity::of(&c), Severity::Low);
        let c = control(0.3, json!([]), json!({"tags": {"severity": "high", "severityoverride": "critical"}}));
        assert_eq!(Severity::of(&c), Severity::Critical);
        let c = control(0.3, json!([]), json!({"tags": {"severity": "medium", "severityoverride": "bogus"}}));
        assert_eq!(Severity::of(&c), Severity::Medium);
        let c = control(0.95, json!([]), json!({"tags": {"severity": 3}}));
        assert_eq!(Severity::of(&c), Severity::Critical);
    }
}
