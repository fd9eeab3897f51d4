//! The template context: what every template (built-in or a user's
//! `--format template:PATH`) sees, documented field by field in
//! `docs/reports.md`.
//!
//! ```text
//! kscan          {name, version}
//! generated_at   RFC 3339 UTC (SOURCE_DATE_EPOCH honoured)
//! inputs[]       one per results file: file, path, target, platform, engine_version, duration, profiles, counts
//! verdict        null without --threshold; else {passed, outcome, threshold, violations[{rule, message}]}
//! totals         counts over every control
//! summary[]      exactly `kscan summary --format json` (SAF's shape)
//! profiles[]     one per profile name: name, title, version, files, targets, compliance, counts, controls[]
//! findings[]     Failed and Profile Error controls of every profile, most severe first (the new ones with --only-new)
//! coverage       null unless a scan's; else {scanned, total, percent, targets[], missing[]} (target, workload, scanned, reason, message)
//! baseline       null without --baseline; else {origin, new, unchanged, fixed, not_compared, warnings, only_new, fixed_findings[]}
//! ```
//!
//! The context is lazy: the small parts are converted once, and `profiles`,
//! `controls` and `findings` are sequences whose items become template
//! values only when a template reads them, so a summary of a 100 MB results
//! file does not copy the results.

use std::sync::Arc;

use minijinja::value::{merge_maps, Enumerator, Object, ObjectRepr, Serde};
use minijinja::Value;
use serde::Serialize;

use super::{GateViolation, Group, Report};
use crate::hdf::summary::{documents, SummaryDocument};
use crate::hdf::{ControlStatus, Counts, Severity};

/// The context of `report` as a template value.
pub fn value(report: &Report) -> Value {
    merge_maps([
        Value::from(Serde(Head::new(report))),
        Value::from_object(Lazy { report: report.clone(), group: None }),
    ])
}

/// The context with extra top-level keys (the GitHub templates get their
/// selection of annotations this way).
pub fn value_with(report: &Report, extra: Value) -> Value {
    merge_maps([value(report), extra])
}

/// The eagerly converted top of the context.
#[derive(Serialize)]
struct Head<'a> {
    kscan: Tool,
    generated_at: &'a str,
    inputs: Vec<InputDoc<'a>>,
    verdict: Option<VerdictDoc<'a>>,
    totals: CountsDoc,
    summary: Vec<SummaryDocument>,
    baseline: Option<BaselineDoc<'a>>,
    coverage: Option<CoverageDoc<'a>>,
}

/// Which targets the run scanned.
#[derive(Serialize)]
struct CoverageDoc<'a> {
    scanned: usize,
    total: usize,
    percent: u32,
    targets: Vec<TargetDoc<'a>>,
    missing: Vec<TargetDoc<'a>>,
}

#[derive(Serialize)]
struct TargetDoc<'a> {
    target: &'a str,
    workload: Option<&'a str>,
    scanned: bool,
    reason: Option<&'static str>,
    message: Option<&'a str>,
}

impl<'a> From<&'a super::coverage::Target> for TargetDoc<'a> {
    fn from(t: &'a super::coverage::Target) -> Self {
        TargetDoc {
            target: &t.target,
            workload: t.workload.as_deref(),
            scanned: t.scanned,
            reason: t.reason.map(super::coverage::Reason::label),
            message: t.message.as_deref(),
        }
    }
}

/// This run against the baseline.
#[derive(Serialize)]
struct BaselineDoc<'a> {
    origin: &'a str,
    new: usize,
    unchanged: usize,
    fixed: usize,
    not_compared: usize,
    warnings: &'a [String],
    only_new: bool,
    fixed_findings: &'a [super::baseline::Finding],
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct InputDoc<'a> {
    file: &'a str,
    path: &'a str,
    target: &'a str,
    platform: PlatformDoc<'a>,
    engine_version: &'a str,
    duration: Option<f64>,
    profiles: Vec<&'a str>,
    counts: CountsDoc,
}

#[derive(Serialize)]
struct PlatformDoc<'a> {
    name: &'a str,
    release: &'a str,
    target_id: Option<&'a str>,
}

#[derive(Serialize)]
struct VerdictDoc<'a> {
    passed: bool,
    outcome: &'static str,
    threshold: &'a str,
    violations: &'a [GateViolation],
}

/// Counts by status and severity. Unlike SAF's summary, every `total`
/// includes severity `none`.
#[derive(Debug, Serialize)]
pub struct CountsDoc {
    controls: u64,
    compliance: u32,
    passed: Row,
    failed: Row,
    skipped: Row,
    no_impact: Row,
    error: Row,
}

#[derive(Debug, Serialize)]
struct Row {
    critical: u64,
    high: u64,
    medium: u64,
    low: u64,
    none: u64,
    total: u64,
}

impl From<&Counts> for CountsDoc {
    fn from(c: &Counts) -> Self {
        let row = |s: ControlStatus| Row {
            critical: c.get(s, Severity::Critical),
            high: c.get(s, Severity::High),
            medium: c.get(s, Severity::Medium),
            low: c.get(s, Severity::Low),
            none: c.get(s, Severity::None),
            total: c.total(s),
        };
        CountsDoc {
            controls: c.controls(),
            compliance: c.compliance(),
            passed: row(ControlStatus::Passed),
            failed: row(ControlStatus::Failed),
            skipped: row(ControlStatus::NotReviewed),
            no_impact: row(ControlStatus::NotApplicable),
            error: row(ControlStatus::ProfileError),
        }
    }
}

impl<'a> Head<'a> {
    fn new(report: &'a Report) -> Self {
        let inputs = report
            .sets()
            .iter()
            .zip(report.inputs())
            .map(|(set, input)| {
                let platform = &set.execution.platform;
                InputDoc {
                    file: &input.file,
                    path: &input.path,
                    target: &input.target,
                    platform: PlatformDoc {
                        name: &platform.name,
                        release: &platform.release,
                        target_id: platform.target_id.as_deref(),
                    },
                    engine_version: &set.execution.version,
                    duration: set.execution.statistics.duration,
                    profiles: set.profiles.iter().map(|p| set.profile(p).name.as_str()).collect(),
                    counts: CountsDoc::from(&input.counts),
                }
            })
            .collect();
        let summaries: Vec<_> = report.groups().iter().map(|g| g.summary.clone()).collect();
        Head {
            kscan: Tool { name: "kscan", version: env!("CARGO_PKG_VERSION") },
            generated_at: report.generated_at(),
            inputs,
            verdict: report.gate().map(|g| VerdictDoc {
                passed: g.passed(),
                outcome: if g.passed() { "passed" } else { "failed" },
                threshold: &g.threshold,
                violations: &g.violations,
            }),
            totals: CountsDoc::from(report.totals()),
            summary: documents(&summaries),
            baseline: report.diff().map(|d| BaselineDoc {
                origin: &d.origin,
                new: d.new,
                unchanged: d.unchanged,
                fixed: d.fixed_len(),
                not_compared: d.not_compared,
                warnings: &d.warnings,
                only_new: report.only_new(),
                fixed_findings: &d.fixed,
            }),
            coverage: report.coverage().map(|c| CoverageDoc {
                scanned: c.scanned(),
                total: c.total(),
                percent: c.percent(),
                targets: c.targets.iter().map(TargetDoc::from).collect(),
                missing: c.missing().map(TargetDoc::from).collect(),
            }),
        }
    }
}

/// The eagerly converted part of one `profiles[]` entry.
#[derive(Serialize)]
struct ProfileHead<'a> {
    name: &'a str,
    title: Option<&'a str>,
    version: Option<&'a str>,
    files: &'a [String],
    targets: Vec<&'a str>,
    compliance: u32,
    counts: CountsDoc,
}

impl<'a> ProfileHead<'a> {
    fn new(report: &'a Report, g: &'a Group) -> Self {
        let (first_set, first_profile) = g.members[0];
        let set = &report.sets()[first_set];
        let profile = set.profile(&set.profiles[first_profile]);
        let mut targets: Vec<&str> = Vec::new();
        for &(s, _) in &g.members {
            let t = report.inputs()[s].target.as_str();
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        ProfileHead {
            name: g.name(),
            title: profile.title.as_deref(),
            version: profile.version.as_deref(),
            files: &g.summary.result_sets,
            targets,
            compliance: g.summary.counts.compliance(),
            counts: CountsDoc::from(&g.summary.counts),
        }
    }
}

/// The lazy keys: `profiles` and `findings` at the top, `controls` in a
/// profile.
#[derive(Debug)]
struct Lazy {
    report: Report,
    group: Option<usize>,
}

impl Object for Lazy {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let kind = match (self.group, key.as_str()?) {
            (None, "profiles") => SeqKind::Profiles,
            (None, "findings") => SeqKind::Findings,
            (Some(g), "controls") => SeqKind::Controls(g),
            _ => return None,
        };
        Some(Value::from_object(LazySeq { report: self.report.clone(), kind }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.group {
            None => Enumerator::Str(&["profiles", "findings"]),
            Some(_) => Enumerator::Str(&["controls"]),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum SeqKind {
    Profiles,
    Controls(usize),
    Findings,
}

#[derive(Debug)]
struct LazySeq {
    report: Report,
    kind: SeqKind,
}

impl Object for LazySeq {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = key.as_usize()?;
        let r = &self.report;
        match self.kind {
            SeqKind::Profiles => {
                let g = r.groups().get(i)?;
                Some(merge_maps([
                    Value::from(Serde(ProfileHead::new(r, g))),
                    Value::from_object(Lazy { report: r.clone(), group: Some(i) }),
                ]))
            }
            SeqKind::Controls(g) => r.group_control(&r.groups()[g], i).map(|v| Value::from(Serde(v))),
            SeqKind::Findings => r.shown_refs().get(i).map(|&c| Value::from(Serde(r.view(c)))),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let r = &self.report;
        Enumerator::Seq(match self.kind {
            SeqKind::Profiles => r.groups().len(),
            SeqKind::Controls(g) => r.groups()[g].len(),
            SeqKind::Findings => r.shown_findings_len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{report, set};

    #[test]
    fn every_documented_key_is_there_and_lazy_parts_match_the_views() {
        let r = report(vec![set("a.json", "p", Some("ns/a/c"), &[("x", 0.7, "failed"), ("y", 0.5, "passed")])]);
        let ctx = serde_json::to_value(value(&r)).unwrap();
        for key in ["kscan", "generated_at", "inputs", "verdict", "totals", "summary", "profiles", "findings"] {
            assert!(ctx.get(key).is_some(), "missing {key}: {ctx:#}");
        }
        assert_eq!(ctx["kscan"]["name"], "kscan");
        assert_eq!(ctx["totals"]["failed"]["high"], 1);
        assert_eq!(ctx["totals"]["compliance"], 50);
        assert_eq!(ctx["profiles"][0]["name"], "p");
        assert_eq!(ctx["profiles"][0]["targets"][0], "ns/a/c");
        let controls = &ctx["profiles"][0]["controls"];
        assert_eq!(controls.as_array().unwrap().len(), 2);
        assert_eq!(controls[0], serde_json::to_value(r.findings().next().unwrap()).unwrap());
        assert_eq!(controls[0]["status"]["label"], "Failed");
        assert_eq!(ctx["findings"].as_array().unwrap().len(), 1);
        assert_eq!(ctx["verdict"], serde_json::Value::Null);
        assert_eq!(ctx["summary"], serde_json::to_value(documents(&[r.groups()[0].summary.clone()])).unwrap());
    }
}
