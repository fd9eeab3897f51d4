//! One control as every report sees it: its identity, status, severity, where
//! it points to, a stable fingerprint and a one-line reason, borrowed from the
//! loaded results without copying them.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::baseline::State;
use super::placement::Anchor;
use crate::hdf::model::{Description, TestResult};
use crate::hdf::status::{is_waived, test_outcome, TestOutcome};
use crate::hdf::{Control, ControlStatus, EvaluatedControl, ResultSet, Severity};

/// A control of a top profile, with the copy of it whose data counts
/// (see [`crate::hdf::evaluate`] for overlays).
#[derive(Debug, Clone, Copy)]
pub struct ControlView<'a> {
    set: &'a ResultSet,
    target: &'a str,
    eval: &'a EvaluatedControl,
    data: &'a Control,
    state: Option<State>,
    anchor: Option<&'a Anchor>,
}

impl<'a> ControlView<'a> {
    /// The view of `eval` in `set`; `target` names what was scanned.
    pub fn new(set: &'a ResultSet, target: &'a str, eval: &'a EvaluatedControl) -> Self {
        ControlView { set, target, eval, data: set.data(eval), state: None, anchor: None }
    }

    /// The view with its standing against a baseline.
    pub fn with_state(self, state: State) -> Self {
        ControlView { state: Some(state), ..self }
    }

    /// The view pointing at the manifest container `anchor` (`--manifests`).
    pub fn with_anchor(self, anchor: &'a Anchor) -> Self {
        ControlView { anchor: Some(anchor), ..self }
    }

    /// New or unchanged against the baseline; `None` without a baseline or
    /// for a control that is not a finding.
    pub fn state(&self) -> Option<State> {
        self.state
    }

    /// The control id (the wrapper's, for overlays).
    pub fn id(&self) -> &'a str {
        &self.set.control(self.eval).id
    }

    /// The title, if any.
    pub fn title(&self) -> Option<&'a str> {
        self.data.title.as_deref().filter(|t| !t.trim().is_empty())
    }

    /// `id: title`, or the id alone.
    pub fn name(&self) -> String {
        match self.title() {
            Some(t) => format!("{}: {}", self.id(), t.trim()),
            None => self.id().to_owned(),
        }
    }

    /// Status, by the inspecjs rules.
    pub fn status(&self) -> ControlStatus {
        self.eval.status
    }

    /// Severity, by the inspecjs rules.
    pub fn severity(&self) -> Severity {
        self.eval.severity
    }

    /// The impact, 0.0–1.0.
    pub fn impact(&self) -> f64 {
        self.data.impact
    }

    /// The name of the top profile the control is counted in.
    pub fn profile(&self) -> &'a str {
        &self.set.execution.profiles[self.eval.profile].name
    }

    /// What was scanned: `platform.target_id`, else the results file's path as given.
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// What the finding is identified by from run to run: the workload kscan
    /// recorded in `platform.workload` (`namespace/Kind/name/container`,
    /// which survives a pod restart), else the target.
    pub fn identity(&self) -> &'a str {
        workload(self.set).unwrap_or(self.target)
    }

    /// The results file's base name.
    pub fn file(&self) -> String {
        self.set.source.base_name()
    }

    /// The control's test results.
    pub fn results(&self) -> &'a [TestResult] {
        self.data.results()
    }

    /// The description with `label` (`default` falls back to `desc`).
    pub fn description(&self, label: &str) -> Option<&'a str> {
        self.data.description(label).filter(|d| !d.trim().is_empty())
    }

    /// The labelled descriptions, in document order.
    pub fn descriptions(&self) -> &'a [Description] {
        &self.data.descriptions
    }

    /// NIST SP 800-53 tags.
    pub fn nist(&self) -> Vec<&'a str> {
        self.data.nist_tags()
    }

    /// Whether the control is waived.
    pub fn waived(&self) -> bool {
        is_waived(self.data)
    }

    /// Where the control points to: the manifest of its target with
    /// `--manifests` ([`Anchor::location`]), else see [`Location`].
    pub fn location(&self) -> Location {
        match self.anchor {
            Some(anchor) => anchor.location(self.id()),
            None => Location::of(self.data, self.profile(), self.id()),
        }
    }

    /// A stable identity for this control on this target, the same from run
    /// to run: SHA-256 over [`identity`](Self::identity) (the workload, not
    /// the pod), profile name and control id. SARIF's `partialFingerprints`,
    /// Code Quality's `fingerprint` and baseline comparisons use it.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in ["kscan/v1", self.identity(), self.profile(), self.id()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// One line saying why the control has its status, for titles and
    /// failure messages.
    pub fn reason(&self) -> String {
        let results = self.results();
        let first = |want: TestOutcome| results.iter().find(|r| test_outcome(r) == want);
        let count = |want: TestOutcome| results.iter().filter(|r| test_outcome(r) == want).count();
        let more = |n: usize, what: &str| if n > 1 { format!(" (+{} more {what})", n - 1) } else { String::new() };
        let line = match self.status() {
            ControlStatus::Failed => {
                let r = first(TestOutcome::Failed).expect("a failed control has a failed result");
                format!("{}{}", describe(r, r.message.as_deref()), more(count(TestOutcome::Failed), "failed tests"))
            }
            ControlStatus::ProfileError => match first(TestOutcome::Error) {
                Some(r) => {
                    let detail = match (&r.exception, &r.message) {
                        (Some(e), Some(m)) => Some(format!("{e}: {m}")),
                        (e, m) => e.clone().or_else(|| m.clone()),
                    };
                    format!("{}{}", describe(r, detail.as_deref()), more(count(TestOutcome::Error), "errors"))
                }
                None if results.is_empty() => "no test results: the control did not run".to_owned(),
                None => "no test result has a status".to_owned(),
            },
            ControlStatus::NotApplicable if self.waived() => {
                let why = self
                    .data
                    .waiver_data
                    .as_ref()
                    .and_then(|w| w.get("justification"))
                    .and_then(|j| j.as_str())
                    .filter(|j| !j.trim().is_empty());
                match why {
                    Some(j) => format!("waived: {j}"),
                    None => "waived".to_owned(),
                }
            }
            ControlStatus::NotApplicable => {
                let skip = results.iter().find_map(|r| r.skip_message.as_deref());
                match skip {
                    Some(s) => format!("impact 0 (not applicable): {s}"),
                    None => "impact 0 (not applicable)".to_owned(),
                }
            }
            ControlStatus::NotReviewed => {
                let r = first(TestOutcome::Skipped).expect("a not-reviewed control has a skipped result");
                describe(r, r.skip_message.as_deref())
            }
            ControlStatus::Passed => {
                let n = count(TestOutcome::Passed);
                format!("{n} test{} passed", if n == 1 { "" } else { "s" })
            }
        };
        one_line(&line)
    }

    /// Seconds the control's tests took.
    pub fn run_time(&self) -> f64 {
        self.results().iter().filter_map(|r| r.run_time).filter(|t| t.is_finite() && *t > 0.0).sum()
    }
}

/// The workload a results file says it scanned (`platform.workload`, as
/// `kscan scan` writes it), if any.
pub fn workload(set: &ResultSet) -> Option<&str> {
    set.execution.platform.extra.get("workload").and_then(serde_json::Value::as_str).filter(|w| !w.trim().is_empty())
}

fn describe(r: &TestResult, detail: Option<&str>) -> String {
    let desc = r.code_desc.trim();
    match detail.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) if desc.is_empty() => d.to_owned(),
        Some(d) => format!("{desc}: {d}"),
        None => desc.to_owned(),
    }
}

/// Collapse every run of whitespace (newlines included) to one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The effective status of one test result: `passed`, `failed`, `skipped`,
/// `error` (an error status, or any status with a backtrace), or `None` when
/// the result has no status.
pub fn result_status(r: &TestResult) -> Option<&'static str> {
    match test_outcome(r) {
        TestOutcome::Passed => Some("passed"),
        TestOutcome::Failed => Some("failed"),
        TestOutcome::Skipped => Some("skipped"),
        TestOutcome::Error => Some("error"),
        TestOutcome::NoStatus => None,
    }
}

/// How loud a finding is, shared by SARIF levels, GitHub annotations and
/// Code Quality: critical and high are errors, medium a warning, low and
/// none a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// critical, high
    Error,
    /// medium
    Warning,
    /// low, none
    Note,
}

impl Level {
    /// The level of a severity.
    pub fn of(severity: Severity) -> Self {
        match severity {
            Severity::Critical | Severity::High => Level::Error,
            Severity::Medium => Level::Warning,
            Severity::Low | Severity::None => Level::Note,
        }
    }

    /// SARIF's name: `error`, `warning`, `note`.
    pub fn sarif(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// Where a control points to: its `source_location` when it has one, else a
/// synthetic, stable path `kscan/<profile>/<control id>` (cluster findings
/// have no source file, and GitHub drops SARIF results without a path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// A relative path with `/` separators (`./` removed), an absolute path,
    /// or the synthetic path.
    pub path: String,
    /// The line, at least 1.
    pub line: u64,
    /// Whether `path` is synthetic.
    pub synthetic: bool,
}

/// `path` as reports show it: `/`-separated, without a leading `./`.
pub(super) fn slashed(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut rest = path.as_str();
    while let Some(inner) = rest.strip_prefix("./") {
        rest = inner;
    }
    rest.to_owned()
}

impl Location {
    fn of(control: &Control, profile: &str, id: &str) -> Self {
        if let Some(location) = Location::of_offence(control) {
            return location;
        }
        let source = control.source_location.reference.as_deref().map(|r| slashed(r.trim()));
        match source.filter(|r| !r.is_empty()) {
            Some(path) => Location { path, line: control.source_location.line.unwrap_or(1).max(1), synthetic: false },
            None => Location {
                path: format!("kscan/{}/{}", path_segment(profile), path_segment(id)),
                line: 1,
                synthetic: true,
            },
        }
    }

    /// Where the first failed result says the offence is, when its
    /// `resource` is a location rather than a resource name: `PATH:LINE` (a
    /// manifest) or `k8s/<namespace>/<kind>/<name>` (a live object), as
    /// `kscan posture` writes them. InSpec's resource names (`File
    /// /etc/passwd`) hold spaces and never match.
    fn of_offence(control: &Control) -> Option<Self> {
        let failed =
            control.results.as_ref()?.iter().find(|r| r.status == Some(crate::hdf::model::ResultStatus::Failed))?;
        let resource = failed.resource.as_deref()?.trim();
        if resource.is_empty() || resource.contains(char::is_whitespace) {
            return None;
        }
        if resource.starts_with("k8s/") {
            return Some(Location { path: resource.to_owned(), line: 1, synthetic: true });
        }
        let (path, line) = resource.rsplit_once(':')?;
        let line: u64 = line.parse().ok()?;
        (!path.is_empty()).then(|| Location { path: path.to_owned(), line: line.max(1), synthetic: false })
    }

    /// The path as a URI reference: percent-encoded, and `file://` for
    /// absolute paths.
    pub fn uri(&self) -> String {
        let encoded = percent_encode_path(&self.path);
        if self.path.starts_with('/') {
            format!("file://{encoded}")
        } else {
            encoded
        }
    }
}

/// A name made safe as one path segment: anything but ASCII letters, digits,
/// `.`, `_` and `-` becomes `_`.
fn path_segment(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    match s.as_str() {
        "" | "." | ".." => format!("_{s}"),
        _ => s,
    }
}

/// Percent-encode a path for a URI, keeping `/` and RFC 3986 unreserved
/// characters.
fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Serialize for ControlView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("Control", 21)?;
        m.serialize_field("id", self.id())?;
        m.serialize_field("title", &self.title())?;
        m.serialize_field("profile", self.profile())?;
        m.serialize_field("target", self.target())?;
        m.serialize_field("file", &self.file())?;
        m.serialize_field("status", &StatusDoc::from(self.status()))?;
        m.serialize_field("severity", &self.severity())?;
        m.serialize_field("impact", &self.impact())?;
        m.serialize_field("desc", &self.description("default"))?;
        m.serialize_field("descriptions", &DescriptionsDoc(self.descriptions()))?;
        m.serialize_field("nist", &self.nist())?;
        m.serialize_field("tags", &self.data.tags)?;
        let source = &self.data.source_location;
        m.serialize_field("source", &SourceDoc { reference: source.reference.as_deref(), line: source.line })?;
        m.serialize_field("location", &self.location())?;
        m.serialize_field("fingerprint", &self.fingerprint())?;
        m.serialize_field("baseline", &self.state.map(State::key))?;
        m.serialize_field("waived", &self.waived())?;
        m.serialize_field("waiver_data", &self.data.waiver_data)?;
        m.serialize_field("message", &self.reason())?;
        m.serialize_field("run_time", &self.run_time())?;
        m.serialize_field("results", &ResultsDoc(self.results()))?;
        m.end()
    }
}

/// A status as `{key, label}`: `{"key": "skipped", "label": "Not Reviewed"}`.
#[derive(Debug, Serialize)]
pub struct StatusDoc {
    /// SAF's key: passed, failed, skipped, no_impact, error.
    pub key: &'static str,
    /// The name Heimdall shows.
    pub label: &'static str,
}

impl From<ControlStatus> for StatusDoc {
    fn from(s: ControlStatus) -> Self {
        StatusDoc { key: s.key(), label: s.label() }
    }
}

#[derive(Serialize)]
struct SourceDoc<'a> {
    #[serde(rename = "ref")]
    reference: Option<&'a str>,
    line: Option<u64>,
}

struct DescriptionsDoc<'a>(&'a [Description]);

impl Serialize for DescriptionsDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for d in self.0 {
            m.serialize_entry(&d.label, &d.data)?;
        }
        m.end()
    }
}

struct ResultsDoc<'a>(&'a [TestResult]);

impl Serialize for ResultsDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ResultDoc))
    }
}

struct ResultDoc<'a>(&'a TestResult);

impl Serialize for ResultDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_struct("Result", 8)?;
        m.serialize_field("status", &result_status(r))?;
        m.serialize_field("code_desc", &r.code_desc)?;
        m.serialize_field("message", &r.message)?;
        m.serialize_field("skip_message", &r.skip_message)?;
        m.serialize_field("exception", &r.exception)?;
        m.serialize_field("resource", &r.resource)?;
        m.serialize_field("run_time", &r.run_time)?;
        m.serialize_field("start_time", &r.start_time)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdf::Source;
    use serde_json::json;

    fn set(controls: serde_json::Value) -> ResultSet {
        let doc = json!({"platform": {"name": "k8s", "release": "1", "target_id": "ns/pod/c"},
            "profiles": [{"name": "base line", "controls": controls}]});
        ResultSet::from_slice(Source::File("r.json".into()), doc.to_string().as_bytes()).unwrap()
    }

    fn view(set: &ResultSet, i: usize) -> ControlView<'_> {
        ControlView::new(set, "ns/pod/c", &set.profiles[0].controls[i])
    }

    #[test]
    fn a_failed_results_location_wins_but_inspec_resource_names_do_not() {
        let s = set(json!([
            {"id": "p", "impact": 0.7, "source_location": {"ref": "src/posture"},
             "results": [{"status": "failed", "code_desc": "x", "resource": "deploy/web.yaml:12"}]},
            {"id": "l", "impact": 0.7, "results": [{"status": "failed", "code_desc": "x", "resource": "k8s/shop/Pod/web"}]},
            {"id": "i", "impact": 0.7, "source_location": {"ref": "controls/a.rb", "line": 3},
             "results": [{"status": "failed", "code_desc": "x", "resource": "File /etc/passwd"}]}
        ]));
        assert_eq!(view(&s, 0).location(), Location { path: "deploy/web.yaml".into(), line: 12, synthetic: false });
        assert_eq!(view(&s, 1).location().path, "k8s/shop/Pod/web");
        assert_eq!(view(&s, 2).location().path, "controls/a.rb");
    }

    #[test]
    fn locations_prefer_the_source_and_fall_back_to_a_stable_synthetic_path() {
        let s = set(json!([
            {"id": "a", "impact": 0.5, "results": [], "source_location": {"ref": "./controls/a b.rb", "line": 7}},
            {"id": "V-1/x", "impact": 0.5, "results": [], "source_location": {"ref": "", "line": 0}},
            {"id": "c", "impact": 0.5, "results": [], "source_location": {"ref": "/opt/p/controls/c.rb"}}
        ]));
        let a = view(&s, 0).location();
        assert_eq!((a.path.as_str(), a.line, a.synthetic), ("controls/a b.rb", 7, false));
        assert_eq!(a.uri(), "controls/a%20b.rb");
        let b = view(&s, 1).location();
        assert_eq!((b.path.as_str(), b.line, b.synthetic), ("kscan/base_line/V-1_x", 1, true));
        assert_eq!(view(&s, 2).location().uri(), "file:///opt/p/controls/c.rb");
    }

    #[test]
    fn reasons_say_why() {
        let s = set(json!([
            {"id": "f", "impact": 0.7, "results": [
                {"status": "failed", "code_desc": "File /etc/shadow mode", "message": "expected 0640\n got 0644"},
                {"status": "failed", "code_desc": "x"}]},
            {"id": "e", "impact": 0.7, "results": [{"status": "error", "code_desc": "cmd", "exception": "Timeout", "message": "10s"}]},
            {"id": "n", "impact": 0.7, "results": []},
            {"id": "w", "impact": 0.7, "waiver_data": {"skipped_due_to_waiver": true, "justification": "accepted risk"},
                "results": [{"status": "skipped", "code_desc": "x"}]},
            {"id": "z", "impact": 0.0, "results": [{"status": "skipped", "code_desc": "x", "skip_message": "not on k8s"}]},
            {"id": "s", "impact": 0.5, "results": [{"status": "skipped", "code_desc": "sshd", "skip_message": "no sshd"}]},
            {"id": "p", "impact": 0.5, "results": [{"status": "passed", "code_desc": "a"}, {"status": "passed", "code_desc": "b"}]}
        ]));
        let reasons: Vec<String> = (0..7).map(|i| view(&s, i).reason()).collect();
        assert_eq!(
            reasons,
            [
                "File /etc/shadow mode: expected 0640 got 0644 (+1 more failed tests)",
                "cmd: Timeout: 10s",
                "no test results: the control did not run",
                "waived: accepted risk",
                "impact 0 (not applicable): not on k8s",
                "sshd: no sshd",
                "2 tests passed",
            ]
        );
    }

    #[test]
    fn fingerprints_are_stable_and_distinguish_targets() {
        let s = set(json!([{"id": "a", "impact": 0.5, "results": []}]));
        let here = view(&s, 0).fingerprint();
        assert_eq!(here, view(&s, 0).fingerprint());
        assert_eq!(here.len(), 64);
        let elsewhere = ControlView::new(&s, "ns/other/c", &s.profiles[0].controls[0]).fingerprint();
        assert_ne!(here, elsewhere);
    }

    #[test]
    fn a_recorded_workload_outlives_the_pod() {
        let on = |pod: &str| {
            let doc = json!({"platform": {"name": "k8s", "release": "1", "target_id": format!("ns/{pod}/c"),
                "workload": "ns/Deployment/web/c"},
                "profiles": [{"name": "p", "controls": [{"id": "a", "impact": 0.5, "results": []}]}]});
            ResultSet::from_slice(Source::File("r.json".into()), doc.to_string().as_bytes()).unwrap()
        };
        let (before, after) = (on("web-1-aaaaa"), on("web-1-bbbbb"));
        let fp = |s: &ResultSet, pod: &str| ControlView::new(s, pod, &s.profiles[0].controls[0]).fingerprint();
        assert_eq!(fp(&before, "ns/web-1-aaaaa/c"), fp(&after, "ns/web-1-bbbbb/c"));
        assert_eq!(ControlView::new(&before, "t", &before.profiles[0].controls[0]).identity(), "ns/Deployment/web/c");
    }
}
