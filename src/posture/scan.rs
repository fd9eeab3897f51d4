//! Run every posture control over a stream of workloads and keep only what
//! the reports need: the offending containers, counts, and per-source errors.
//! Workloads are dropped as soon as they are checked, so memory grows with
//! the number of findings, not with the size of the cluster; the HDF is
//! written straight from the findings, without a second copy in memory.

use std::borrow::Cow;
use std::sync::Arc;

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::image::{pinning, Pinning};
use super::pss::{checks_for, Level, Subject, Violation};
use super::spec::Container;
use super::user::{run_as, RunAs};
use super::workload::Workload;
use crate::hdf::model::{Platform, ResultStatus, SourceLocation, Statistics, TestResult};

/// Where an object was read: a manifest file and line, or a live object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A manifest file (`-` for standard input) and the line its document starts on.
    File {
        /// The path as given.
        path: String,
        /// 1-based line of the document.
        line: u64,
    },
    /// An object read from the API server.
    Live,
}

/// The object a finding is about, shared by all its findings.
#[derive(Debug)]
pub struct Object {
    /// Namespace (empty when a manifest omits it).
    pub namespace: String,
    /// Object kind.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// The SARIF-style location: `path:line` for files, `k8s/<ns>/<kind>/<name>` for live objects.
    pub location: String,
}

impl Object {
    /// `<namespace>/<kind>/<name>`, `-` for a missing namespace.
    pub fn path(&self) -> String {
        let ns = if self.namespace.is_empty() { "-" } else { &self.namespace };
        format!("{ns}/{}/{}", self.kind, self.name)
    }
}

/// One offending container (or pod-level setting) of one control.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The object.
    pub object: Arc<Object>,
    /// Container name; `None` for a pod-level setting.
    pub container: Option<String>,
    /// The container's image; `None` for a pod-level setting.
    pub image: Option<String>,
    /// What is wrong.
    pub detail: Cow<'static, str>,
}

impl Finding {
    /// The HDF result for this finding, written straight from the finding
    /// (no owned copy of its strings: a 10,000-pod scan writes tens of
    /// thousands of them).
    fn result<'a>(&'a self, status: &'a ResultStatus, start_time: &'a str) -> FindingResult<'a> {
        FindingResult { finding: self, status, start_time }
    }
}

/// A finding as an HDF result, with the keys and order of [`TestResult`].
struct FindingResult<'a> {
    finding: &'a Finding,
    status: &'a ResultStatus,
    start_time: &'a str,
}

/// `<namespace>/<kind>/<name>[/<container>]`, written where it is needed.
struct ObjectPath<'a>(&'a Object, Option<&'a str>);

impl std::fmt::Display for ObjectPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = self.0;
        let ns = if o.namespace.is_empty() { "-" } else { &o.namespace };
        write!(f, "{ns}/{}/{}", o.kind, o.name)?;
        match self.1 {
            Some(c) => write!(f, "/{c}"),
            None => Ok(()),
        }
    }
}

impl Serialize for FindingResult<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let f = self.finding;
        let object = &*f.object;
        let container = f.container.as_deref();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("status", self.status)?;
        struct CodeDesc<'a>(&'a Finding);
        impl std::fmt::Display for CodeDesc<'_> {
            fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let f = self.0;
                match &f.container {
                    Some(c) => write!(out, "container {c} of {}: {}", ObjectPath(&f.object, None), f.detail),
                    None => write!(out, "{}: {}", ObjectPath(&f.object, None), f.detail),
                }
            }
        }
        map.serialize_key("code_desc")?;
        map.serialize_value(&Collected(CodeDesc(f)))?;
        map.serialize_entry("start_time", self.start_time)?;
        let detail: &str = &f.detail;
        match self.status {
            ResultStatus::Skipped => map.serialize_entry("skip_message", detail)?,
            _ => map.serialize_entry("message", detail)?,
        }
        map.serialize_entry("resource", &object.location)?;
        map.serialize_key("resource_id")?;
        map.serialize_value(&Collected(ObjectPath(object, container)))?;
        map.end()
    }
}

/// A `Display` value serialized as a string without an intermediate `String`.
struct Collected<T>(T);

impl<T: std::fmt::Display> Serialize for Collected<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A source that could not be read (a forbidden namespace, say); the scan goes on.
#[derive(Debug, Clone, Serialize)]
pub struct SourceError {
    /// The namespace or file concerned.
    pub source: String,
    /// A short reason (`forbidden`, `error`).
    pub reason: String,
    /// The full message.
    pub message: String,
}

/// How one control's results stand.
#[derive(Debug, Default)]
struct ControlResults {
    failed: Vec<Finding>,
    /// Containers whose outcome the spec cannot decide.
    unknown: Vec<Finding>,
}

/// Posture control id for `:latest` or untagged images.
pub const LATEST_ID: &str = "posture-image-latest";
/// Posture control id for containers running as root.
pub const ROOT_ID: &str = "posture-run-as-root";
/// Posture control id for sources (namespaces) that could not be read.
pub const SOURCES_ID: &str = "posture-sources-readable";

/// The accumulated results of a posture scan.
#[derive(Debug)]
pub struct Scan {
    level: Level,
    latest: ControlResults,
    root: ControlResults,
    /// One entry per check of `level`, in [`checks_for`] order.
    pss: Vec<ControlResults>,
    /// Source errors recorded so far.
    pub errors: Vec<SourceError>,
    /// Objects that carried a pod spec.
    pub objects: usize,
    /// Containers checked (all three kinds).
    pub containers: usize,
    /// Objects that carry no pod spec (Services, ConfigMaps, …).
    pub ignored_objects: usize,
    /// Namespaces (live) or files (manifests) read.
    pub sources: usize,
}

/// What the HDF document says about the run.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    /// What was scanned (`live cluster`, `manifests: …`).
    pub target: &'a str,
    /// When the scan started (RFC 3339).
    pub start_time: &'a str,
    /// Seconds the scan took.
    pub duration: f64,
}

impl Scan {
    /// An empty scan enforcing the Pod Security Standards at `level`.
    pub fn new(level: Level) -> Self {
        Scan {
            level,
            latest: ControlResults::default(),
            root: ControlResults::default(),
            pss: checks_for(level).map(|_| ControlResults::default()).collect(),
            errors: Vec::new(),
            objects: 0,
            containers: 0,
            ignored_objects: 0,
            sources: 0,
        }
    }

    /// The Pod Security Standards level enforced.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Check one workload.
    pub fn add(&mut self, w: &Workload, origin: &Origin) {
        self.objects += 1;
        let location = match origin {
            Origin::File { path, line } => format!("{path}:{line}"),
            Origin::Live => format!("k8s/{}", w.path()),
        };
        let object =
            Arc::new(Object { namespace: w.namespace.clone(), kind: w.kind.clone(), name: w.name.clone(), location });
        let finding = |container: Option<&Container>, detail: Cow<'static, str>| Finding {
            object: object.clone(),
            container: container.map(|c| c.name.clone()),
            image: container.map(|c| c.image.clone()),
            detail,
        };
        let view = w.view();
        for c in view.containers() {
            self.containers += 1;
            let p = pinning(&c.image);
            if p.floats() {
                let detail = match p {
                    Pinning::Latest => format!("image {:?} uses the tag latest", c.image).into(),
                    Pinning::Empty => "no image is set".into(),
                    _ => format!("image {:?} has no tag (the runtime pulls latest)", c.image).into(),
                };
                self.latest.failed.push(finding(Some(c), detail));
            }
            match run_as(&w.spec, c) {
                RunAs::Root => self.root.failed.push(finding(Some(c), "runs as root (runAsUser=0)".into())),
                RunAs::Unknown => self.root.unknown.push(finding(
                    Some(c),
                    "user unknown from the spec: neither runAsUser nor runAsNonRoot=true is set, so the image's USER decides"
                        .into(),
                )),
                RunAs::NonRoot | RunAs::RootInUserNamespace => {}
            }
        }
        let mut found: Vec<Violation> = Vec::new();
        for (check, results) in checks_for(self.level).zip(&mut self.pss) {
            found.clear();
            (check.eval)(&view, &mut found);
            for v in found.drain(..) {
                let container = match &v.subject {
                    Subject::Pod => None,
                    Subject::Container(name) => view.containers().find(|c| &c.name == name),
                };
                results.failed.push(finding(container, v.detail));
            }
        }
    }

    /// Containers with a floating image.
    pub fn latest_tag(&self) -> &[Finding] {
        &self.latest.failed
    }

    /// Containers that run as root.
    pub fn root(&self) -> &[Finding] {
        &self.root.failed
    }

    /// Containers whose user the spec does not decide.
    pub fn unknown_user(&self) -> &[Finding] {
        &self.root.unknown
    }

    /// Offending settings of the Pod Security Standards check `id`.
    pub fn pss_failures(&self, id: &str) -> &[Finding] {
        checks_for(self.level).zip(&self.pss).find(|(c, _)| c.id == id).map_or(&[], |(_, r)| &r.failed)
    }

    /// Write the HDF document (InSpec exec JSON): one control per check,
    /// one result per offence. Results are built one at a time while
    /// writing.
    pub fn write_hdf(&self, run: &RunInfo<'_>, out: impl std::io::Write) -> serde_json::Result<()> {
        let start = run.start_time;
        let mut controls = vec![
            ControlOut::new(
                LATEST_ID,
                "Container images must be pinned to a tag other than latest or a digest",
                0.5,
                &["CM-2", "CM-6", "SI-7"],
                None,
                Results::Findings(&self.latest, self, start),
            ),
            ControlOut::new(
                ROOT_ID,
                "Containers must not run as root",
                0.7,
                &["AC-6(10)", "CM-6"],
                None,
                Results::Findings(&self.root, self, start),
            ),
            ControlOut::new(
                SOURCES_ID,
                "Every selected namespace could be read",
                0.3,
                &["CA-7"],
                None,
                Results::Sources(self, start),
            ),
        ];
        for (check, results) in checks_for(self.level).zip(&self.pss) {
            controls.push(ControlOut::new(
                format!("pss-{}", check.id),
                check.title,
                check.impact,
                check.nist,
                Some(check.level),
                Results::Findings(results, self, start),
            ));
        }
        let mut platform_extra = Map::new();
        platform_extra.insert("scan".into(), json!("posture"));
        let doc = ExecutionOut {
            platform: Platform {
                name: "kubernetes".into(),
                release: String::new(),
                target_id: Some(run.target.to_owned()),
                extra: platform_extra,
            },
            profiles: [ProfileOut {
                name: "kscan-posture",
                title: format!(
                    "kscan posture: image pinning, root users, Pod Security Standards ({})",
                    self.level.as_str()
                ),
                version: env!("CARGO_PKG_VERSION"),
                summary: format!(
                    "{} objects, {} containers, {} sources, {} source errors",
                    self.objects,
                    self.containers,
                    self.sources,
                    self.errors.len()
                ),
                sha256: "",
                supports: [],
                attributes: [],
                groups: [],
                status: "loaded",
                controls,
            }],
            statistics: Statistics { duration: Some(run.duration), extra: Map::new() },
            version: env!("CARGO_PKG_VERSION"),
        };
        serde_json::to_writer_pretty(out, &doc)
    }

    fn passed(&self, code_desc: String, start_time: &str) -> TestResult {
        TestResult {
            status: Some(ResultStatus::Passed),
            code_desc,
            run_time: None,
            start_time: start_time.to_owned(),
            message: None,
            skip_message: None,
            exception: None,
            backtrace: None,
            resource: None,
            resource_id: None,
        }
    }

    /// Write the JSON of the original cluster scanner (`--format seed-json`):
    /// `{latest_tag_containers, root_containers, unknown_user_containers,
    /// summary, errors}`, rows written straight from the findings.
    pub fn write_seed_json(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        let doc = SeedOut {
            latest_tag_containers: Rows(&self.latest.failed),
            root_containers: Rows(&self.root.failed),
            unknown_user_containers: Rows(&self.root.unknown),
            summary: SeedSummary {
                objects: self.objects,
                containers: self.containers,
                latest_tag: self.latest.failed.len(),
                root: self.root.failed.len(),
                unknown_user: self.root.unknown.len(),
                sources: self.sources,
                errors: self.errors.len(),
            },
            errors: &self.errors,
        };
        serde_json::to_writer_pretty(out, &doc)
    }
}

#[derive(Serialize)]
struct SeedOut<'a> {
    latest_tag_containers: Rows<'a>,
    root_containers: Rows<'a>,
    unknown_user_containers: Rows<'a>,
    summary: SeedSummary,
    errors: &'a [SourceError],
}

#[derive(Serialize)]
struct SeedSummary {
    objects: usize,
    containers: usize,
    latest_tag: usize,
    root: usize,
    unknown_user: usize,
    sources: usize,
    errors: usize,
}

/// Findings as seed JSON rows `{namespace, kind, pod, container, image}`.
struct Rows<'a>(&'a [Finding]);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Row<'a> {
            namespace: &'a str,
            kind: &'a str,
            pod: &'a str,
            container: Option<&'a str>,
            image: Option<&'a str>,
        }
        s.collect_seq(self.0.iter().map(|f| Row {
            namespace: &f.object.namespace,
            kind: &f.object.kind,
            pod: &f.object.name,
            container: f.container.as_deref(),
            image: f.image.as_deref(),
        }))
    }
}

/// The top of an exec JSON document, written from borrowed data.
#[derive(Serialize)]
struct ExecutionOut<'a> {
    platform: Platform,
    profiles: [ProfileOut<'a>; 1],
    statistics: Statistics,
    version: &'static str,
}

#[derive(Serialize)]
struct ProfileOut<'a> {
    name: &'static str,
    title: String,
    version: &'static str,
    summary: String,
    sha256: &'static str,
    supports: [(); 0],
    attributes: [(); 0],
    groups: [(); 0],
    status: &'static str,
    controls: Vec<ControlOut<'a>>,
}

#[derive(Serialize)]
struct ControlOut<'a> {
    id: String,
    title: &'a str,
    impact: f64,
    refs: [(); 0],
    tags: Map<String, Value>,
    source_location: SourceLocation,
    results: Results<'a>,
}

impl<'a> ControlOut<'a> {
    fn new(
        id: impl Into<String>,
        title: &'a str,
        impact: f64,
        nist: &[&str],
        level: Option<Level>,
        results: Results<'a>,
    ) -> Self {
        let mut tags = Map::new();
        tags.insert("nist".into(), json!(nist));
        if let Some(level) = level {
            tags.insert("pss_level".into(), json!(level.as_str()));
        }
        ControlOut {
            id: id.into(),
            title,
            impact,
            refs: [],
            tags,
            source_location: SourceLocation { reference: Some("src/posture".into()), line: None },
            results,
        }
    }
}

/// A control's results, turned into HDF results one by one while written.
enum Results<'a> {
    /// Failed results, then skipped ones; one passed result when there are none.
    Findings(&'a ControlResults, &'a Scan, &'a str),
    /// One skipped result per unreadable source; one passed result when there are none.
    Sources(&'a Scan, &'a str),
}

impl Serialize for Results<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        match *self {
            Results::Findings(r, scan, start) => {
                for f in &r.failed {
                    seq.serialize_element(&f.result(&ResultStatus::Failed, start))?;
                }
                for f in &r.unknown {
                    seq.serialize_element(&f.result(&ResultStatus::Skipped, start))?;
                }
                if r.failed.is_empty() && r.unknown.is_empty() {
                    let desc =
                        format!("{} containers in {} objects checked: none offends", scan.containers, scan.objects);
                    seq.serialize_element(&scan.passed(desc, start))?;
                }
            }
            Results::Sources(scan, start) => {
                for e in &scan.errors {
                    seq.serialize_element(&TestResult {
                        status: Some(ResultStatus::Skipped),
                        code_desc: format!("{}: {}", e.source, e.reason),
                        run_time: None,
                        start_time: start.to_owned(),
                        message: None,
                        skip_message: Some(e.message.clone()),
                        exception: None,
                        backtrace: None,
                        resource: Some(format!("k8s/{}", e.source)),
                        resource_id: Some(e.source.clone()),
                    })?;
                }
                if scan.errors.is_empty() {
                    seq.serialize_element(&scan.passed(format!("{} sources read, none failed", scan.sources), start))?;
                }
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::spec::RawObject;
    use crate::posture::workload::extract;

    fn written(s: &Scan) -> crate::hdf::Execution {
        let mut buf = Vec::new();
        s.write_hdf(&RunInfo { target: "m", start_time: "t", duration: 0.0 }, &mut buf).unwrap();
        serde_json::from_slice(&buf).unwrap()
    }

    fn scan(json: &str, level: Level) -> Scan {
        let mut s = Scan::new(level);
        let o: RawObject = serde_json::from_str(json).unwrap();
        extract(o, &mut |w| s.add(&w, &Origin::File { path: "m.yaml".into(), line: 3 }));
        s
    }

    #[test]
    fn findings_name_namespace_kind_object_and_container() {
        let s = scan(
            r#"{"kind":"Pod","metadata":{"name":"p","namespace":"ns"},"spec":{
                "hostNetwork":true,
                "initContainers":[{"name":"i","image":"busybox","securityContext":{"runAsUser":0}}],
                "containers":[{"name":"c","image":"host:5000/app@sha256:00","securityContext":{"runAsNonRoot":true}}]}}"#,
            Level::Baseline,
        );
        assert_eq!(s.latest_tag().len(), 1);
        assert_eq!(s.latest_tag()[0].container.as_deref(), Some("i"));
        assert_eq!(s.root()[0].container.as_deref(), Some("i"));
        assert!(s.unknown_user().is_empty());
        assert_eq!(s.pss_failures("hostNamespaces")[0].object.location, "m.yaml:3");
        let hdf = written(&s);
        let controls = &hdf.profiles[0].controls;
        assert_eq!(controls.len(), 3 + 12);
        let host = controls.iter().find(|c| c.id == "pss-hostNamespaces").unwrap();
        assert_eq!(host.results()[0].code_desc, "ns/Pod/p: hostNetwork=true");
        let latest = &controls[0].results()[0];
        assert_eq!(
            latest.code_desc,
            "container i of ns/Pod/p: image \"busybox\" has no tag (the runtime pulls latest)"
        );
        let privileged = controls.iter().find(|c| c.id == "pss-privileged").unwrap();
        assert_eq!(privileged.results()[0].status, Some(ResultStatus::Passed));
        let mut buf = Vec::new();
        s.write_seed_json(&mut buf).unwrap();
        let seed: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(seed["root_containers"][0]["pod"], "p");
        assert_eq!(seed["summary"]["containers"], 2);
    }

    #[test]
    fn unreadable_sources_are_skipped_results() {
        let mut s = Scan::new(Level::Baseline);
        s.errors.push(SourceError {
            source: "kube-system".into(),
            reason: "forbidden".into(),
            message: "HTTP 403".into(),
        });
        let hdf = written(&s);
        let c = hdf.profiles[0].controls.iter().find(|c| c.id == SOURCES_ID).unwrap();
        assert_eq!(c.results().len(), 1);
        assert_eq!(c.results()[0].status, Some(ResultStatus::Skipped));
        assert_eq!(c.results()[0].code_desc, "kube-system: forbidden");
        let clean = written(&Scan::new(Level::Baseline));
        let c = clean.profiles[0].controls.iter().find(|c| c.id == SOURCES_ID).unwrap();
        assert_eq!(c.results()[0].status, Some(ResultStatus::Passed));
    }

    #[test]
    fn unknown_users_are_skipped_results_not_passes() {
        let s = scan(
            r#"{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"a:1"}]}}"#,
            Level::Restricted,
        );
        let hdf = written(&s);
        let root = hdf.profiles[0].controls.iter().find(|c| c.id == ROOT_ID).unwrap();
        assert_eq!(root.results().len(), 1);
        assert_eq!(root.results()[0].status, Some(ResultStatus::Skipped));
    }
}
