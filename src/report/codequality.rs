//! GitLab Code Quality (`artifacts:reports:codequality`): a JSON array with
//! one issue per finding (Failed or Profile Error control), most severe
//! first, in the Code Climate issue shape GitLab documents: `description`,
//! `check_name`, `fingerprint`, `severity`, `location.path` and
//! `location.lines.begin`, plus `type`, `categories`, `engine_name` and
//! `content.body` (the check and fix texts).
//!
//! Severity: critical → `critical`, high → `major`, medium → `minor`, low
//! and none → `info` (GitLab's `blocker` is not used). The fingerprint is
//! [`ControlView::fingerprint`]: stable across runs, distinct per target.

use std::io::Write;

use serde::Serialize;

use super::view::ControlView;
use super::Report;
use crate::error::{Error, Result};
use crate::hdf::{ControlStatus, Severity};

/// Write the Code Quality report of `report` to `out`.
pub fn write(report: &Report, out: &mut dyn Write) -> Result<()> {
    let mut w = std::io::BufWriter::new(out);
    let issues = report.shown_findings().map(|v| Issue::new(&v));
    let mut ser = serde_json::Serializer::pretty(&mut w);
    serde::Serializer::collect_seq(&mut ser, issues)
        .map_err(std::io::Error::from)
        .and_then(|_| w.write_all(b"\n"))
        .and_then(|_| w.flush())
        .map_err(|e| Error::input("cannot write the Code Quality report").with_source(e))
}

/// GitLab's severity name for a kscan severity.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "major",
        Severity::Medium => "minor",
        Severity::Low | Severity::None => "info",
    }
}

#[derive(Serialize)]
struct Issue<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    description: String,
    check_name: &'a str,
    fingerprint: String,
    severity: &'static str,
    categories: [&'static str; 1],
    engine_name: &'static str,
    location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Content>,
}

#[derive(Serialize)]
struct Location {
    path: String,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: u64,
}

#[derive(Serialize)]
struct Content {
    body: String,
}

impl<'a> Issue<'a> {
    fn new(view: &ControlView<'a>) -> Self {
        let location = view.location();
        let what = if view.status() == ControlStatus::ProfileError { "could not be checked" } else { "failed" };
        let mut body = Vec::new();
        for (label, heading) in [("default", "Description"), ("check", "Check"), ("fix", "Fix")] {
            if let Some(text) = view.description(label) {
                body.push(format!("**{heading}:** {}", text.trim()));
            }
        }
        Issue {
            kind: "issue",
            description: format!("{} {what} on {}: {}", view.name(), view.target(), view.reason()),
            check_name: view.id(),
            fingerprint: view.fingerprint(),
            severity: severity(view.severity()),
            categories: ["Security"],
            engine_name: "kscan",
            location: Location { path: location.path, lines: Lines { begin: location.line } },
            content: (!body.is_empty()).then(|| Content { body: body.join("\n\n") }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{report, set};

    #[test]
    fn one_issue_per_finding_with_gitlab_fields() {
        let r = report(vec![set("a.json", "p", None, &[("ok", 0.5, "passed"), ("f", 0.95, "failed"), ("e", 0.3, "")])]);
        let mut out = Vec::new();
        write(&r, &mut out).unwrap();
        let issues: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let issues = issues.as_array().unwrap();
        assert_eq!(issues.len(), 2);
        assert_eq!(issues[0]["check_name"], "f");
        assert_eq!(issues[0]["severity"], "critical");
        assert_eq!(issues[0]["location"]["path"], "kscan/p/f");
        assert_eq!(issues[0]["location"]["lines"]["begin"], 1);
        assert_eq!(issues[1]["severity"], "info");
        assert_ne!(issues[0]["fingerprint"], issues[1]["fingerprint"]);
    }

    #[test]
    fn no_findings_is_an_empty_array() {
        let r = report(vec![set("a.json", "p", None, &[("ok", 0.5, "passed")])]);
        let mut out = Vec::new();
        write(&r, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[]\n");
    }
}
