//! Run every posture control over a stream of workloads and keep only what
//! the reports need: the offending containers, counts, and per-source errors.
//! Workloads are dropped as soon as they are checked, so memory grows with
//! the number of findings, not with the size of the cluster.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::image::pinning;
use super::pss::{checks_for, Level, Subject, Violation};
use super::user::{run_as, RunAs};
use super::workload::Workload;
use crate::hdf::model::{Execution, Platform, Profile, ResultStatus, SourceLocation, Statistics, TestResult};
use crate::hdf::Control;

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

/// One offending container (or pod-level setting) of one control.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Namespace (empty when a manifest omits it).
    pub namespace: String,
    /// Object kind.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// Container name; `None` for a pod-level setting.
    pub container: Option<String>,
    /// The container's image; `None` for a pod-level setting.
    pub image: Option<String>,
    /// What is wrong.
    pub detail: String,
    /// The SARIF-style location: `path:line` for files, `k8s/<ns>/<kind>/<name>` for live objects.
    pub location: String,
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
        let finding = |container: Option<&super::spec::Container>, detail: String| Finding {
            namespace: w.namespace.clone(),
            kind: w.kind.clone(),
            name: w.name.clone(),
            container: container.map(|c| c.name.clone()),
            image: container.map(|c| c.image.clone()),
            detail,
            location: location.clone(),
        };
        let view = w.view();
        for c in view.containers() {
            self.containers += 1;
            let p = pinning(&c.image);
            if p.floats() {
                let detail = match p {
                    super::image::Pinning::Latest => format!("image {:?} uses the tag latest", c.image),
                    super::image::Pinning::Empty => "no image is set".to_owned(),
                    _ => format!("image {:?} has no tag (the runtime pulls latest)", c.image),
                };
                self.latest.failed.push(finding(Some(c), detail));
            }
            match run_as(&w.spec, c) {
                RunAs::Root => self.root.failed.push(finding(Some(c), "runs as root (runAsUser=0)".to_owned())),
                RunAs::Unknown => self.root.unknown.push(finding(
                    Some(c),
                    "user unknown from the spec: neither runAsUser nor runAsNonRoot=true is set, so the image's USER decides"
                        .to_owned(),
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

    /// The HDF document: one control per check, one result per offence.
    pub fn to_hdf(&self, target: &str, start_time: &str, duration: f64) -> Execution {
        let mut controls = vec![
            self.control(
                LATEST_ID,
                "Container images must be pinned to a tag other than latest or a digest",
                0.5,
                &["CM-2", "CM-6", "SI-7"],
                None,
                &self.latest,
                start_time,
            ),
            self.control(
                ROOT_ID,
                "Containers must not run as root",
                0.7,
                &["AC-6(10)", "CM-6"],
                None,
                &self.root,
                start_time,
            ),
        ];
        controls.push(self.sources_control(start_time));
        for (check, results) in checks_for(self.level).zip(&self.pss) {
            controls.push(self.control(
                &format!("pss-{}", check.id),
                check.title,
                check.impact,
                check.nist,
                Some(check.level),
                results,
                start_time,
            ));
        }
        let mut platform_extra = Map::new();
        platform_extra.insert("scan".into(), json!("posture"));
        Execution {
            platform: Platform {
                name: "kubernetes".into(),
                release: String::new(),
                target_id: Some(target.to_owned()),
                extra: platform_extra,
            },
            profiles: vec![Profile {
                name: "kscan-posture".into(),
                sha256: String::new(),
                title: Some(format!(
                    "kscan posture: image pinning, root users, Pod Security Standards ({})",
                    self.level.as_str()
                )),
                version: Some(env!("CARGO_PKG_VERSION").into()),
                summary: Some(format!(
                    "{} objects, {} containers, {} sources, {} source errors",
                    self.objects,
                    self.containers,
                    self.sources,
                    self.errors.len()
                )),
                supports: Vec::new(),
                attributes: Vec::new(),
                groups: Vec::new(),
                controls,
                parent_profile: None,
                depends: Vec::new(),
                status: Some("loaded".into()),
                status_message: None,
                extra: Map::new(),
            }],
            statistics: Statistics { duration: Some(duration), extra: Map::new() },
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// `posture-sources-readable`: one skipped result per namespace or file
    /// that could not be read, so a partial scan shows as Not Reviewed.
    fn sources_control(&self, start_time: &str) -> Control {
        let mut control = self.control(
            SOURCES_ID,
            "Every selected namespace could be read",
            0.3,
            &["CA-7"],
            None,
            &ControlResults::default(),
            start_time,
        );
        if !self.errors.is_empty() {
            control.results = Some(
                self.errors
                    .iter()
                    .map(|e| TestResult {
                        status: Some(ResultStatus::Skipped),
                        code_desc: format!("{}: {}", e.source, e.reason),
                        run_time: None,
                        start_time: start_time.to_owned(),
                        message: None,
                        skip_message: Some(e.message.clone()),
                        exception: None,
                        backtrace: None,
                        resource: Some(format!("k8s/{}", e.source)),
                        resource_id: Some(e.source.clone()),
                    })
                    .collect(),
            );
        } else if let Some(r) = control.results.as_mut().and_then(|r| r.first_mut()) {
            r.code_desc = format!("{} sources read, none failed", self.sources);
        }
        control
    }

    #[allow(clippy::too_many_arguments)]
    fn control(
        &self,
        id: &str,
        title: &str,
        impact: f64,
        nist: &[&str],
        level: Option<Level>,
        results: &ControlResults,
        start_time: &str,
    ) -> Control {
        let result = |f: &Finding, status: ResultStatus| {
            let who = match &f.container {
                Some(c) => format!("container {c} of {}", object_path(f)),
                None => object_path(f),
            };
            let (message, skip_message) = match status {
                ResultStatus::Skipped => (None, Some(f.detail.clone())),
                _ => (Some(f.detail.clone()), None),
            };
            TestResult {
                status: Some(status),
                code_desc: format!("{who}: {}", f.detail),
                run_time: None,
                start_time: start_time.to_owned(),
                message,
                skip_message,
                exception: None,
                backtrace: None,
                resource: Some(f.location.clone()),
                resource_id: Some(match &f.container {
                    Some(c) => format!("{}/{c}", object_path(f)),
                    None => object_path(f),
                }),
            }
        };
        let mut list: Vec<TestResult> = results.failed.iter().map(|f| result(f, ResultStatus::Failed)).collect();
        list.extend(results.unknown.iter().map(|f| result(f, ResultStatus::Skipped)));
        if list.is_empty() {
            list.push(TestResult {
                status: Some(ResultStatus::Passed),
                code_desc: format!("{} containers in {} objects checked: none offends", self.containers, self.objects),
                run_time: None,
                start_time: start_time.to_owned(),
                message: None,
                skip_message: None,
                exception: None,
                backtrace: None,
                resource: None,
                resource_id: None,
            });
        }
        let mut tags = Map::new();
        tags.insert("nist".into(), json!(nist));
        if let Some(level) = level {
            tags.insert("pss_level".into(), json!(level.as_str()));
        }
        Control {
            id: id.to_owned(),
            title: Some(title.to_owned()),
            desc: None,
            descriptions: Vec::new(),
            impact,
            refs: Vec::new(),
            tags,
            code: None,
            source_location: SourceLocation { reference: Some("src/posture".into()), line: None },
            waiver_data: None,
            attestation_data: None,
            results: Some(list),
        }
    }

    /// The JSON of the original cluster scanner (`--format seed-json`).
    pub fn to_seed_json(&self) -> Value {
        let rows = |list: &[Finding]| -> Vec<Value> {
            list.iter()
                .map(|f| {
                    json!({"namespace": f.namespace, "kind": f.kind, "pod": f.name,
                           "container": f.container, "image": f.image})
                })
                .collect()
        };
        json!({
            "latest_tag_containers": rows(&self.latest.failed),
            "root_containers": rows(&self.root.failed),
            "unknown_user_containers": rows(&self.root.unknown),
            "summary": {
                "objects": self.objects,
                "containers": self.containers,
                "latest_tag": self.latest.failed.len(),
                "root": self.root.failed.len(),
                "unknown_user": self.root.unknown.len(),
                "sources": self.sources,
                "errors": self.errors.len(),
            },
            "errors": self.errors,
        })
    }
}

fn object_path(f: &Finding) -> String {
    let ns = if f.namespace.is_empty() { "-" } else { &f.namespace };
    format!("{ns}/{}/{}", f.kind, f.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::spec::RawObject;
    use crate::posture::workload::extract;

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
        assert_eq!(s.pss_failures("hostNamespaces")[0].location, "m.yaml:3");
        let hdf = s.to_hdf("manifests", "2026-01-01T00:00:00Z", 0.0);
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
        let seed = s.to_seed_json();
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
        let hdf = s.to_hdf("live", "t", 0.0);
        let c = hdf.profiles[0].controls.iter().find(|c| c.id == SOURCES_ID).unwrap();
        assert_eq!(c.results().len(), 1);
        assert_eq!(c.results()[0].status, Some(ResultStatus::Skipped));
        assert_eq!(c.results()[0].code_desc, "kube-system: forbidden");
        let clean = Scan::new(Level::Baseline).to_hdf("live", "t", 0.0);
        let c = clean.profiles[0].controls.iter().find(|c| c.id == SOURCES_ID).unwrap();
        assert_eq!(c.results()[0].status, Some(ResultStatus::Passed));
    }

    #[test]
    fn unknown_users_are_skipped_results_not_passes() {
        let s = scan(
            r#"{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"a:1"}]}}"#,
            Level::Restricted,
        );
        let hdf = s.to_hdf("m", "t", 0.0);
        let root = hdf.profiles[0].controls.iter().find(|c| c.id == ROOT_ID).unwrap();
        assert_eq!(root.results().len(), 1);
        assert_eq!(root.results()[0].status, Some(ResultStatus::Skipped));
    }
}
