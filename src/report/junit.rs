//! JUnit XML, typed with quick-junit: one `<testsuite>` per profile name (the
//! grouping of `kscan summary`, so a suite's counts are that summary entry's),
//! one `<testcase>` per control.
//!
//! | control status | testcase |
//! |---|---|
//! | Passed | success |
//! | Failed | `<failure>`: message = the first failing test and its message, text = every failing test |
//! | Profile Error | `<error>`: message = the first error (exception and message), or "no test results" |
//! | Not Reviewed | `<skipped>`: message = the skip message |
//! | Not Applicable | `<skipped>`: message = the waiver's justification, or "impact 0" |
//!
//! A testcase is named `<id>: <title>`; its classname is the target (the
//! platform's `target_id`, else the results file); `<system-out>` lists every
//! test with its status, `code_desc` and messages. Counts: `tests` = every
//! control, `failures` = Failed, `errors` = Profile Error, `skipped` = Not
//! Reviewed + Not Applicable (severity `none` included everywhere).

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::baseline::State;
use super::view::{result_status, ControlView};
use super::Report;
use crate::error::{Error, Result};
use crate::hdf::ControlStatus;

/// Write the JUnit XML of `report` to `out`.
pub fn write(report: &Report, out: &mut dyn Write) -> Result<()> {
    let mut junit = quick_junit::Report::new("kscan");
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(report.generated_at()) {
        junit.set_timestamp(t);
    }
    for group in report.groups() {
        let mut suite = TestSuite::new(group.name());
        let counts = &group.summary.counts;
        suite.add_property(Property::new("compliance", counts.compliance().to_string()));
        suite.add_property(Property::new("files", group.summary.result_sets.join(", ")));
        let mut time = 0.0;
        let mut left_out = 0;
        for view in report.group_controls(group) {
            if report.only_new() && view.state() == Some(State::Unchanged) {
                left_out += 1;
                continue;
            }
            time += view.run_time();
            suite.add_test_case(test_case(&view));
        }
        if report.only_new() {
            suite.add_property(Property::new("unchanged_findings_left_out", left_out.to_string()));
        }
        suite.set_time(Duration::from_secs_f64(time));
        junit.add_test_suite(suite);
    }
    // Targets the run meant to scan and could not: an error each, so that a
    // test report never looks clean for want of them.
    if let Some(coverage) = report.coverage().filter(|c| c.missing().next().is_some()) {
        let mut suite = TestSuite::new("kscan: targets not scanned");
        suite.add_property(Property::new("coverage", coverage.percent().to_string()));
        for t in coverage.missing() {
            let reason = t.reason.map_or("not scanned", super::coverage::Reason::label);
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(format!("not scanned ({reason})")).set_type(reason);
            if let Some(m) = &t.message {
                status.set_description(m.as_str());
            }
            let mut case = TestCase::new(format!("scan {}", t.target), status);
            case.set_classname(t.target.as_str());
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.serialize(out).map_err(|e| Error::input("cannot write the JUnit report").with_source(e))
}

fn test_case(view: &ControlView<'_>) -> TestCase {
    let status = match view.status() {
        ControlStatus::Passed => TestCaseStatus::success(),
        ControlStatus::Failed => non_success(NonSuccessKind::Failure, view, "failed"),
        ControlStatus::ProfileError => non_success(NonSuccessKind::Error, view, "error"),
        ControlStatus::NotReviewed | ControlStatus::NotApplicable => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(view.reason()).set_type(view.status().label());
            s
        }
    };
    let mut case = TestCase::new(view.name(), status);
    case.set_classname(view.target());
    case.set_time(Duration::from_secs_f64(view.run_time()));
    case.set_system_out(system_out(view));
    case
}

fn non_success(kind: NonSuccessKind, view: &ControlView<'_>, which: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_message(view.reason()).set_type(format!("{} ({})", view.status().label(), view.severity()));
    let mut text = String::new();
    for r in view.results().iter().filter(|r| result_status(r) == Some(which)) {
        let _ = writeln!(text, "{}", r.code_desc);
        for detail in [&r.exception, &r.message].into_iter().flatten() {
            let _ = writeln!(text, "    {}", detail.trim_end().replace('\n', "\n    "));
        }
    }
    if !text.is_empty() {
        s.set_description(text);
    }
    s
}

fn system_out(view: &ControlView<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}, impact {}) in {}",
        view.status().label(),
        view.severity(),
        view.impact(),
        view.profile()
    );
    for r in view.results() {
        let _ = writeln!(out, "[{}] {}", result_status(r).unwrap_or("no status"), r.code_desc);
        for detail in [&r.exception, &r.message, &r.skip_message].into_iter().flatten() {
            let _ = writeln!(out, "    {}", detail.trim_end().replace('\n', "\n    "));
        }
    }
    if let Some(fix) = view.description("fix") {
        let _ = writeln!(out, "Fix: {}", fix.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{report, set};

    #[test]
    fn statuses_map_to_junit_elements_and_counts_add_up() {
        let r = report(vec![
            set("a.json", "p", Some("ns/a/c"), &[("f", 0.7, "failed"), ("ok", 0.5, "passed"), ("e", 0.5, "")]),
            set("b.json", "p", None, &[("s", 0.5, "skipped"), ("na", 0.0, "failed")]),
        ]);
        let mut out = Vec::new();
        write(&r, &mut out).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "{xml}");
        assert!(xml.contains(r#"<testsuites name="kscan" tests="5" skipped="2" failures="1" errors="1""#), "{xml}");
        assert!(xml.contains(r#"<testsuite name="p" tests="5" skipped="2" errors="1" failures="1""#), "{xml}");
        assert!(xml.contains(r#"<testcase name="f: Title of f" classname="ns/a/c""#), "{xml}");
        assert!(xml.contains(r#"<failure message="f test: why" type="Failed (high)">"#), "{xml}");
        assert!(xml.contains(r#"<error message="no test results: the control did not run""#), "{xml}");
        assert!(xml.contains(r#"<skipped message="impact 0 (not applicable)" type="Not Applicable"/>"#), "{xml}");
    }
}
