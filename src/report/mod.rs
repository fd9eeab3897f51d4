//! Reports: the files CI systems read, all made from one [`Report`].
//!
//! A [`Report`] holds the loaded result sets, the gate's verdict (if a
//! threshold was given) and what every format needs, computed once: the
//! profiles grouped by name as `kscan summary` groups them, and the
//! *findings* (Failed and Profile Error controls, most severe first). Each
//! format is a module:
//!
//! | format | module | how |
//! |---|---|---|
//! | JUnit XML | [`junit`] | typed, with quick-junit |
//! | SARIF 2.1.0 | [`sarif`] | typed serde structs |
//! | GitLab Code Quality | [`codequality`] | typed serde structs |
//! | Markdown summary | [`markdown`] | template `markdown.md.j2` |
//! | GitHub annotations + step summary | [`github`] | templates `github-annotations.txt.j2`, `github-summary.md.j2` |
//! | the template context as JSON | [`context`] | serialised context |
//! | a user's template | [`templates`] | `--format template:PATH` |
//!
//! Text formats are minijinja templates under `templates/`, embedded in the
//! binary and overridable by name with `--template-dir`; they and users'
//! templates all see the same context ([`context`], documented in
//! `docs/reports.md`). The XML and JSON formats are typed so that they are
//! valid by construction; their validity is tested with the official
//! validators.
//!
//! Memory: nothing here copies the results. Views borrow from the loaded
//! sets, SARIF and Code Quality are serialised straight to the file, and the
//! template context is lazy: a control becomes a template value only when a
//! template touches it.

pub mod baseline;
pub mod codequality;
pub mod context;
pub mod coverage;
pub mod formats;
pub mod github;
pub mod junit;
pub mod markdown;
pub mod placement;
pub mod sarif;
pub mod templates;
pub mod view;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::hdf::summary::{summarize, ProfileSummary};
use crate::hdf::{total_counts, ControlStatus, Counts, ResultSet};
use crate::Outcome;

pub use baseline::{Baseline, Diff, GateOn, State};
pub use coverage::Coverage;
pub use formats::{Format, Written};
pub use placement::{Anchor, Manifests, Placement};
pub use templates::Templates;
pub use view::{ControlView, Level, Location};

/// The gate's verdict as the reports show it: plain data, so that the
/// reports do not depend on how the gate works, and so that it can be stored
/// (the run manifest, the service's jobs) and every later rendering shows
/// the verdict the run was gated with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Gate {
    /// The threshold file as given (a path, or the service's threshold name).
    pub threshold: String,
    /// How many rules the threshold file has.
    #[serde(default)]
    pub rules: usize,
    /// Every violated rule, in SAF's order; empty when the gate passed.
    pub violations: Vec<GateViolation>,
}

/// One violated threshold rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GateViolation {
    /// The rule's key, e.g. `failed.critical.max`.
    pub rule: String,
    /// What was expected and what was found.
    pub message: String,
    /// Facts the message leaves out (the compliance figure, missing ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl std::fmt::Display for GateViolation {
    /// `[rule] message (detail)`, one line, as `kscan gate` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.rule, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl Gate {
    /// The verdict of `thresholds` (named `threshold` in reports) on `sets`.
    pub fn check(threshold: String, thresholds: &crate::gate::Thresholds, sets: &[ResultSet]) -> Self {
        Gate::of(threshold, &crate::gate::check(thresholds, sets))
    }

    /// The reports' form of the gate's `verdict`.
    pub fn of(threshold: String, verdict: &crate::gate::Verdict) -> Self {
        let violations = verdict
            .violations
            .iter()
            .map(|v| GateViolation { rule: v.rule.clone(), message: v.message.clone(), detail: v.detail.clone() })
            .collect();
        Gate { threshold, rules: verdict.rules, violations }
    }

    /// Whether every rule held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Passed or GateFailed, for the exit code.
    pub fn outcome(&self) -> Outcome {
        Outcome::of_gate(self.passed())
    }

    /// The verdict as `kscan gate` prints it: one `FAIL` line per violated
    /// rule, then a verdict line; `files` is how many results files.
    pub fn text(&self, files: usize) -> String {
        let mut out = String::new();
        for v in &self.violations {
            out.push_str(&format!("FAIL {v}\n"));
        }
        let files = if files == 1 { "1 file".to_owned() } else { format!("{files} files") };
        if self.passed() {
            out.push_str(&format!(
                "All validation tests passed ({} rules of {} checked against {files})\n",
                self.rules, self.threshold
            ));
        } else {
            out.push_str(&format!(
                "Gate failed: {} of {} rules of {} violated ({files})\n",
                self.violations.len(),
                self.rules,
                self.threshold
            ));
        }
        out
    }
}

/// Everything the reports are made of. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Report {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sets: Vec<ResultSet>,
    inputs: Vec<Input>,
    groups: Vec<Group>,
    findings: Vec<ControlRef>,
    /// With `--only-new`, the new findings; else `None` (all are shown).
    shown: Option<Vec<ControlRef>>,
    totals: Counts,
    gate: Option<Gate>,
    generated_at: String,
    compared: Option<Compared>,
    coverage: Option<Coverage>,
    /// With `--manifests`, where each set's findings point (by set index).
    anchors: Vec<Option<Anchor>>,
    /// With `--manifests`, how the targets mapped.
    placement: Option<Placement>,
    /// SARIF's `automationDetails.id`, when the run gave one.
    automation: Option<String>,
}

/// This run against a baseline.
#[derive(Debug)]
struct Compared {
    baseline: Baseline,
    diff: Diff,
    only_new: bool,
}

/// One results file.
#[derive(Debug)]
pub struct Input {
    /// The file's base name (`stdin` for standard input).
    pub file: String,
    /// The path as given (`<stdin>` for standard input).
    pub path: String,
    /// What was scanned: `platform.target_id`, else the path as given.
    pub target: String,
    /// Counts over the file's controls.
    pub counts: Counts,
}

/// The profiles of one name across all files, as `kscan summary` groups them.
#[derive(Debug)]
pub struct Group {
    /// Name, files and counts, as in the summary.
    pub summary: ProfileSummary,
    /// (set, index into `ResultSet::profiles`) of each member, in input order.
    members: Vec<(usize, usize)>,
    /// Number of controls before each member, for indexing.
    offsets: Vec<usize>,
    /// Total number of controls.
    len: usize,
}

/// The address of one counted control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRef {
    set: usize,
    profile: usize,
    control: usize,
}

impl Report {
    /// A report of `sets`, stamped with the current time, or with
    /// `SOURCE_DATE_EPOCH` (seconds) when that is set, for reproducible files.
    pub fn new(sets: Vec<ResultSet>, gate: Option<Gate>) -> Result<Self> {
        Ok(Report::at(sets, gate, generated_at()?))
    }

    /// [`Report::new`] compared with `baseline`; with `only_new`, the
    /// findings JUnit, Code Quality and the templates show are the new ones.
    pub fn compared(
        sets: Vec<ResultSet>,
        gate: Option<Gate>,
        baseline: Option<&Baseline>,
        only_new: bool,
    ) -> Result<Self> {
        Ok(Report::compared_at(sets, gate, generated_at()?, baseline, only_new))
    }

    /// A report of `sets` stamped with `generated_at` (RFC 3339).
    pub fn at(sets: Vec<ResultSet>, gate: Option<Gate>, generated_at: String) -> Self {
        Report::compared_at(sets, gate, generated_at, None, false)
    }

    /// [`Report::compared`] stamped with `generated_at`.
    pub fn compared_at(
        sets: Vec<ResultSet>,
        gate: Option<Gate>,
        generated_at: String,
        baseline: Option<&Baseline>,
        only_new: bool,
    ) -> Self {
        let compared = baseline.map(|b| Compared { baseline: b.clone(), diff: b.compare(&sets), only_new });
        let inputs = sets
            .iter()
            .map(|s| Input {
                file: s.source.base_name(),
                path: s.source.display(),
                target: target_of(s),
                counts: s.counts(),
            })
            .collect();
        let groups = summarize(&sets)
            .into_iter()
            .map(|summary| {
                let name = summary.profile_name.as_str();
                let members: Vec<(usize, usize)> = sets
                    .iter()
                    .enumerate()
                    .flat_map(|(si, s)| {
                        s.profiles
                            .iter()
                            .enumerate()
                            .filter_map(move |(pi, p)| (s.profile(p).name == name).then_some((si, pi)))
                    })
                    .collect();
                let mut offsets = Vec::with_capacity(members.len());
                let mut len = 0;
                for &(si, pi) in &members {
                    offsets.push(len);
                    len += sets[si].profiles[pi].controls.len();
                }
                Group { summary, members, offsets, len }
            })
            .collect();
        let totals = total_counts(&sets);
        let mut report = Inner {
            sets,
            inputs,
            groups,
            findings: Vec::new(),
            shown: None,
            totals,
            gate,
            generated_at,
            compared,
            coverage: None,
            anchors: Vec::new(),
            placement: None,
            automation: None,
        };
        report.findings = findings(&report);
        let mut report = Report { inner: Arc::new(report) };
        if report.only_new() {
            let shown = report.inner.findings.iter().copied().filter(|&c| report.view(c).state() == Some(State::New));
            let shown = Some(shown.collect());
            Arc::get_mut(&mut report.inner).expect("not shared yet").shown = shown;
        }
        report
    }

    /// The report with the run's coverage (which targets it scanned).
    pub fn with_coverage(mut self, coverage: Option<Coverage>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.coverage = coverage,
            None => unreachable!("coverage is added before the report is shared"),
        }
        self
    }

    /// The report with its findings placed on `manifests` (`kscan scan
    /// --manifests`): each set whose recorded workload a manifest object
    /// deploys points there; the others keep their locations and are
    /// listed in [`Report::placement`].
    pub fn with_manifests(mut self, manifests: Option<&Manifests>) -> Self {
        let Some(manifests) = manifests else {
            return self;
        };
        let inner = Arc::get_mut(&mut self.inner).expect("manifests are added before the report is shared");
        let mut placement = Placement::default();
        inner.anchors = inner
            .sets
            .iter()
            .zip(&inner.inputs)
            .map(|(set, input)| {
                let anchor = view::workload(set).and_then(|w| manifests.find(w));
                match &anchor {
                    Some(_) => placement.mapped += 1,
                    None => placement.unmapped.push(view::workload(set).unwrap_or(&input.target).to_owned()),
                }
                anchor
            })
            .collect();
        inner.placement = Some(placement);
        self
    }

    /// How the targets mapped onto `--manifests`, when given.
    pub fn placement(&self) -> Option<&Placement> {
        self.inner.placement.as_ref()
    }

    /// The report with SARIF's `automationDetails.id` (see
    /// [`sarif::automation_id`]).
    pub fn with_automation(mut self, id: String) -> Self {
        Arc::get_mut(&mut self.inner).expect("the automation id is set before the report is shared").automation =
            Some(id);
        self
    }

    /// SARIF's `automationDetails.id`, when the run set one.
    pub fn automation(&self) -> Option<&str> {
        self.inner.automation.as_deref()
    }

    /// Which targets the run scanned, for a scan's report.
    pub fn coverage(&self) -> Option<&Coverage> {
        self.inner.coverage.as_ref()
    }

    /// This run against the baseline, when one was given.
    pub fn diff(&self) -> Option<&Diff> {
        self.inner.compared.as_ref().map(|c| &c.diff)
    }

    /// Whether the reports that can be limited show only new findings.
    pub fn only_new(&self) -> bool {
        self.inner.compared.as_ref().is_some_and(|c| c.only_new)
    }

    /// The findings JUnit, Code Quality and the templates show: every
    /// finding, or with `--only-new` the new ones.
    pub fn shown_findings(&self) -> impl ExactSizeIterator<Item = ControlView<'_>> + '_ {
        self.shown_refs().iter().map(|&r| self.view(r))
    }

    /// How many findings [`Report::shown_findings`] has.
    pub fn shown_findings_len(&self) -> usize {
        self.shown_refs().len()
    }

    fn shown_refs(&self) -> &[ControlRef] {
        self.inner.shown.as_deref().unwrap_or(&self.inner.findings)
    }

    /// The loaded result sets.
    pub fn sets(&self) -> &[ResultSet] {
        &self.inner.sets
    }

    /// One entry per results file, in input order.
    pub fn inputs(&self) -> &[Input] {
        &self.inner.inputs
    }

    /// The profile groups, in first-seen order.
    pub fn groups(&self) -> &[Group] {
        &self.inner.groups
    }

    /// Counts over every counted control.
    pub fn totals(&self) -> &Counts {
        &self.inner.totals
    }

    /// The gate, if a threshold was given.
    pub fn gate(&self) -> Option<&Gate> {
        self.inner.gate.as_ref()
    }

    /// Passed without a gate; else the gate's outcome.
    pub fn outcome(&self) -> Outcome {
        self.gate().map_or(Outcome::Passed, Gate::outcome)
    }

    /// When the report was made (RFC 3339, UTC).
    pub fn generated_at(&self) -> &str {
        &self.inner.generated_at
    }

    /// The view of one control.
    pub fn view(&self, r: ControlRef) -> ControlView<'_> {
        let set = &self.inner.sets[r.set];
        let mut view =
            ControlView::new(set, &self.inner.inputs[r.set].target, &set.profiles[r.profile].controls[r.control]);
        if let Some(Some(anchor)) = self.inner.anchors.get(r.set) {
            view = view.with_anchor(anchor);
        }
        match &self.inner.compared {
            Some(c) if is_finding(view.status()) => {
                view.with_state(if c.baseline.has(&view.fingerprint()) { State::Unchanged } else { State::New })
            }
            _ => view,
        }
    }

    /// The controls of group `g`, in input order.
    pub fn group_controls<'a>(&'a self, g: &'a Group) -> impl Iterator<Item = ControlView<'a>> + 'a {
        g.members.iter().flat_map(move |&(set, profile)| {
            (0..self.inner.sets[set].profiles[profile].controls.len())
                .map(move |control| self.view(ControlRef { set, profile, control }))
        })
    }

    /// Control `i` of group `g`, for lazy indexing.
    fn group_control(&self, g: &Group, i: usize) -> Option<ControlView<'_>> {
        if i >= g.len {
            return None;
        }
        let k = g.offsets.partition_point(|&start| start <= i) - 1;
        let (set, profile) = g.members[k];
        Some(self.view(ControlRef { set, profile, control: i - g.offsets[k] }))
    }

    /// Every counted control, in input order.
    pub fn controls(&self) -> impl Iterator<Item = ControlView<'_>> + '_ {
        self.groups().iter().flat_map(|g| self.group_controls(g))
    }

    /// Failed and Profile Error controls, most severe first (then Failed
    /// before Profile Error, then input order).
    pub fn findings(&self) -> impl ExactSizeIterator<Item = ControlView<'_>> + '_ {
        self.inner.findings.iter().map(|&r| self.view(r))
    }

    /// The number of findings.
    pub fn findings_len(&self) -> usize {
        self.inner.findings.len()
    }
}

impl Group {
    /// The profile name.
    pub fn name(&self) -> &str {
        &self.summary.profile_name
    }

    /// Number of controls.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the group has no controls.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a results file scanned: `platform.target_id`, else its path as given.
pub fn target_of(set: &ResultSet) -> String {
    set.execution.platform.target_id.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| set.source.display())
}

/// Whether a status is a finding (something to fix or look at).
pub fn is_finding(status: ControlStatus) -> bool {
    matches!(status, ControlStatus::Failed | ControlStatus::ProfileError)
}

fn findings(r: &Inner) -> Vec<ControlRef> {
    let mut out: Vec<ControlRef> = Vec::new();
    for g in &r.groups {
        for &(set, profile) in &g.members {
            for (control, c) in r.sets[set].profiles[profile].controls.iter().enumerate() {
                if is_finding(c.status) {
                    out.push(ControlRef { set, profile, control });
                }
            }
        }
    }
    let eval = |c: &ControlRef| &r.sets[c.set].profiles[c.profile].controls[c.control];
    // Stable: input order is kept within a severity and status.
    out.sort_by_key(|c| {
        let e = eval(c);
        (std::cmp::Reverse(e.severity), e.status != ControlStatus::Failed)
    });
    out
}

/// Now, or `SOURCE_DATE_EPOCH`, as RFC 3339 UTC.
fn generated_at() -> Result<String> {
    let when = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => {
            let secs: i64 = v.trim().parse().map_err(|_| {
                Error::input(format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds: unset it or fix it"))
            })?;
            chrono::DateTime::from_timestamp(secs, 0)
                .ok_or_else(|| Error::input(format!("SOURCE_DATE_EPOCH={v:?} is out of range")))?
        }
        Err(_) => chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()),
    };
    Ok(when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hdf::Source;
    use serde_json::json;

    /// A result set of profile `name` with `(id, impact, status)` controls.
    pub fn set(file: &str, name: &str, target: Option<&str>, controls: &[(&str, f64, &str)]) -> ResultSet {
        let controls: Vec<_> = controls
            .iter()
            .map(|(id, impact, status)| {
                let results = if status.is_empty() {
                    json!([])
                } else {
                    json!([{"status": status, "code_desc": format!("{id} test"), "start_time": "", "message": "why"}])
                };
                json!({"id": id, "title": format!("Title of {id}"), "impact": impact, "results": results})
            })
            .collect();
        let doc = json!({"platform": {"name": "k8s", "release": "1", "target_id": target},
            "profiles": [{"name": name, "version": "1.0", "controls": controls}]});
        ResultSet::from_slice(Source::File(file.into()), doc.to_string().as_bytes()).unwrap()
    }

    pub fn report(sets: Vec<ResultSet>) -> Report {
        Report::at(sets, None, "2026-01-02T03:04:05Z".into())
    }

    #[test]
    fn groups_follow_the_summary_and_findings_are_most_severe_first() {
        let r = report(vec![
            set("a.json", "p", Some("ns/a/c"), &[("low", 0.3, "failed"), ("ok", 0.5, "passed"), ("err", 0.9, "")]),
            set("b.json", "q", None, &[("crit", 0.95, "failed")]),
            set("c.json", "p", None, &[("high", 0.7, "failed"), ("crit2", 1.0, "failed")]),
        ]);
        let names: Vec<_> = r.groups().iter().map(|g| (g.name(), g.len())).collect();
        assert_eq!(names, [("p", 5), ("q", 1)]);
        let ids: Vec<_> = r.findings().map(|v| v.id()).collect();
        assert_eq!(
            ids,
            ["crit2", "crit", "err", "high", "low"],
            "severity, Failed before Profile Error, profile order"
        );
        let g = &r.groups()[0];
        let all: Vec<_> = r.group_controls(g).map(|v| v.id()).collect();
        let indexed: Vec<_> = (0..g.len()).map(|i| r.group_control(g, i).unwrap().id()).collect();
        assert_eq!(all, indexed);
        assert!(r.group_control(g, g.len()).is_none());
        assert_eq!(r.inputs()[0].target, "ns/a/c");
        assert_eq!(r.inputs()[1].target, "b.json", "no target_id: the path as given");
    }
}
