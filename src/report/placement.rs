//! Findings of a live scan placed on the manifests that deploy what was
//! scanned (`kscan scan --manifests`), so that SARIF, GitHub annotations and
//! GitLab Code Quality point at the user's own files.
//!
//! [`Manifests::load`] reads the manifests with posture's reader
//! ([`crate::posture::manifest`]) and indexes each pod-bearing object by
//! kind, namespace (a manifest without one is the scan's namespace) and
//! name, with the lines of its containers ([`crate::posture::lines`]). A
//! scanned target is found by the workload `kscan scan` recorded for it
//! (`platform.workload`, `namespace/Kind/name/container`: the top of the
//! pod's owner chain, see [`crate::cluster::resolve`]); its findings then
//! point at the line of the field that causes them ([`Field`]): the
//! container's `securityContext`, or its `image` for what the image
//! brings; else the container's item line (`- name:`); else, for a
//! container the manifest does not have, the object's line.

use std::collections::HashMap;
use std::path::Path;

use super::view::Location;
use crate::error::{Error, Result};
use crate::posture::lines::KeyLines;
use crate::posture::manifest::{expand, for_each_document, parse_object};
use crate::posture::spec::RawObject;
use crate::posture::workload::extract;

/// The manifests of `--manifests`, indexed by the objects they deploy.
#[derive(Debug, Default)]
pub struct Manifests {
    objects: HashMap<(String, String, String), Object>,
    /// The files read.
    pub files: usize,
}

#[derive(Debug)]
struct Object {
    path: String,
    line: u64,
    containers: Vec<(String, Anchor)>,
}

/// Where one container of a manifest stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The manifest file, relative to the current directory when inside it.
    pub path: String,
    /// The container's item line (`- name: app`), or the object's line.
    pub container: u64,
    /// The container's `securityContext:` line, when it has one.
    pub security_context: Option<u64>,
    /// The container's `image:` line.
    pub image: Option<u64>,
}

/// Which field of a container a control's finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// What the container's `securityContext` sets (user, capabilities,
    /// seccomp, privilege escalation, read-only root, LSM profile).
    SecurityContext,
    /// What the image brings (files, accounts, packages, programs).
    Image,
    /// Anything else: the container as a whole.
    Container,
}

impl Field {
    /// The field behind control `id` of kscan's container baseline; a
    /// control of another profile is about the container.
    pub fn of(id: &str) -> Self {
        match id {
            "kscan-main-process-not-root"
            | "kscan-no-root-processes"
            | "kscan-no-dangerous-capabilities"
            | "kscan-seccomp-applied"
            | "kscan-no-new-privileges"
            | "kscan-capabilities-restricted"
            | "kscan-root-filesystem-read-only"
            | "kscan-kernel-interfaces-read-only"
            | "kscan-lsm-profile-applied" => Field::SecurityContext,
            "kscan-os-release"
            | "kscan-passwd-owner-mode"
            | "kscan-shadow-owner-mode"
            | "kscan-shadow-no-empty-passwords"
            | "kscan-passwd-single-uid0"
            | "kscan-no-world-writable-system-files"
            | "kscan-no-setid-binaries"
            | "kscan-no-package-manager"
            | "kscan-no-shell"
            | "kscan-no-remote-access-daemons" => Field::Image,
            _ => Field::Container,
        }
    }
}

impl Anchor {
    /// Where a finding of control `id` points: the line of its [`Field`],
    /// else the container's.
    pub fn location(&self, id: &str) -> Location {
        let line = match Field::of(id) {
            Field::SecurityContext => self.security_context,
            Field::Image => self.image,
            Field::Container => None,
        };
        Location { path: self.path.clone(), line: line.unwrap_or(self.container), synthetic: false }
    }
}

impl Manifests {
    /// Read `paths` (files, directories; not standard input: a finding
    /// needs a file to point at). Objects without a namespace are in
    /// `namespace`. A missing path or a malformed document is an input
    /// error (exit 2) naming the file.
    pub fn load(paths: &[String], namespace: &str) -> Result<Self> {
        if paths.iter().any(|p| p == "-") {
            return Err(Error::input(
                "--manifests -: findings need a file to point at; write the manifests to a file first \
                 (e.g. `helm template chart > rendered.yaml`)",
            ));
        }
        let files = expand(paths)?;
        let mut m = Manifests { objects: HashMap::new(), files: files.len() };
        for_each_document(&files, &mut |name, line, doc| {
            let obj = parse_object(name, line, doc)?;
            let keys = KeyLines::index(doc, line);
            m.add(obj, "", line, &keys, &shown_path(name), namespace);
            Ok(())
        })?;
        Ok(m)
    }

    /// Index `obj`, found at path `at` of its document (empty at the top),
    /// on `line`.
    fn add(&mut self, obj: RawObject, at: &str, line: u64, keys: &KeyLines, path: &str, namespace: &str) {
        if !obj.items.is_empty() || obj.kind.ends_with("List") {
            for (i, item) in obj.items.into_iter().enumerate() {
                let at = format!("{at}items[{i}]");
                let line = keys.get(&at).unwrap_or(line);
                self.add(item, &format!("{at}."), line, keys, path, namespace);
            }
            return;
        }
        let spec = match obj.kind.as_str() {
            "Pod" => "spec",
            "PodTemplate" => "template.spec",
            "CronJob" => "spec.jobTemplate.spec.template.spec",
            _ => "spec.template.spec",
        };
        extract(obj, &mut |w| {
            let containers = w
                .spec
                .containers
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let at = format!("{at}{spec}.containers[{i}]");
                    let anchor = Anchor {
                        path: path.to_owned(),
                        container: keys.get(&at).unwrap_or(line),
                        security_context: keys.get(&format!("{at}.securityContext")),
                        image: keys.get(&format!("{at}.image")),
                    };
                    (c.name.clone(), anchor)
                })
                .collect();
            let ns = if w.namespace.is_empty() { namespace.to_owned() } else { w.namespace };
            let key = (w.kind, ns, w.name);
            if let Some(first) = self.objects.get(&key) {
                tracing::warn!(
                    "--manifests: {} {}/{} is in {}:{} and again in {path}:{line}; findings point at the first",
                    key.0,
                    key.1,
                    key.2,
                    first.path,
                    first.line
                );
                return;
            }
            self.objects.insert(key, Object { path: path.to_owned(), line, containers });
        });
    }

    /// The anchor of `workload` (`namespace/Kind/name/container`, as
    /// `platform.workload` holds it): the container's, or the object's line
    /// when the manifest has no such container.
    pub fn find(&self, workload: &str) -> Option<Anchor> {
        let mut parts = workload.splitn(4, '/');
        let (ns, kind, name, container) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let object = self.objects.get(&(kind.to_owned(), ns.to_owned(), name.to_owned()))?;
        match object.containers.iter().find(|(n, _)| n == container) {
            Some((_, anchor)) => Some(anchor.clone()),
            None => {
                Some(Anchor { path: object.path.clone(), container: object.line, security_context: None, image: None })
            }
        }
    }

    /// How many objects were indexed.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether no object was indexed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// `file` as SARIF and GitHub want it: relative to the current directory
/// (the repository's root in CI) when it is inside it, `/`-separated,
/// without a leading `./`.
fn shown_path(file: &str) -> String {
    let path = Path::new(file);
    let relative = std::env::current_dir()
        .ok()
        .filter(|_| path.is_absolute())
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(|p| p.display().to_string()));
    super::view::slashed(&relative.unwrap_or_else(|| file.to_owned()))
}

/// How the targets of a report mapped onto the manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Targets whose findings point at a manifest.
    pub mapped: usize,
    /// The targets (their workloads) no manifest object deploys; their
    /// findings keep their own locations.
    pub unmapped: Vec<String>,
}

impl Placement {
    /// The line the run prints: how many targets were placed, and which
    /// were not.
    pub fn line(&self) -> String {
        let total = self.mapped + self.unmapped.len();
        let mut out = format!("manifests: {} of {total} targets placed on --manifests\n", self.mapped);
        if !self.unmapped.is_empty() {
            out.push_str(&format!(
                "  not placed (no manifest object of that kind, namespace and name; findings keep their \
                 profile locations): {}\n",
                self.unmapped.join(", ")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)], namespace: &str) -> Manifests {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let m = Manifests::load(&[dir.path().display().to_string()], namespace).unwrap();
        // Paths outside the current directory stay as given: keep only the name.
        let objects = m
            .objects
            .into_iter()
            .map(|(k, mut o)| {
                let name = |p: &str| Path::new(p).file_name().unwrap().to_string_lossy().into_owned();
                o.path = name(&o.path);
                for (_, a) in &mut o.containers {
                    a.path = name(&a.path);
                }
                (k, o)
            })
            .collect();
        Manifests { objects, files: m.files }
    }

    const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: reg/app:1
        securityContext:
          runAsNonRoot: true
      - name: side
        image: reg/side:1
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: data
spec:
  template:
    spec:
      containers:
        - image: reg/db:1
          name: db
";

    const POD: &str = "\
# a bare pod
apiVersion: v1
kind: Pod
metadata:
  name: tool
  namespace: shop
spec:
  containers:
  - name: tool
    image: reg/tool:1
    securityContext: {runAsUser: 1000}
";

    #[test]
    fn workloads_map_to_their_containers_lines() {
        let m = load(&[("app.yaml", DEPLOY), ("pod.yml", POD)], "shop");
        assert_eq!(m.files, 2);
        assert_eq!(m.len(), 3);
        let app = m.find("shop/Deployment/web/app").expect("no namespace in the manifest: the scan's");
        assert_eq!(app, Anchor { path: "app.yaml".into(), container: 9, security_context: Some(11), image: Some(10) });
        assert_eq!(app.location("kscan-main-process-not-root").line, 11);
        assert_eq!(app.location("kscan-no-shell").line, 10);
        assert_eq!(app.location("my-own-control").line, 9);
        let side = m.find("shop/Deployment/web/side").unwrap();
        assert_eq!(side.location("kscan-no-new-privileges").line, 13, "no securityContext: the container's line");
        assert_eq!(side.location("kscan-no-shell").line, 14);
        let db = m.find("data/StatefulSet/db/db").unwrap();
        assert_eq!((db.container, db.image), (25, Some(25)));
        assert!(m.find("shop/StatefulSet/db/db").is_none(), "a namespaced manifest does not match elsewhere");
        let tool = m.find("shop/Pod/tool/tool").unwrap();
        assert_eq!((tool.path.as_str(), tool.container, tool.security_context), ("pod.yml", 9, Some(11)));
        assert!(m.find("shop/Deployment/other/app").is_none());
        assert!(m.find("shop/ReplicaSet/web-5d9c/app").is_none());
    }

    #[test]
    fn an_unknown_container_points_at_the_object() {
        let m = load(&[("app.yaml", DEPLOY)], "shop");
        let a = m.find("shop/Deployment/web/nope").unwrap();
        assert_eq!((a.container, a.security_context, a.image), (1, None, None));
        assert_eq!(a.location("kscan-no-shell").line, 1);
    }

    #[test]
    fn cronjobs_lists_and_json() {
        let cron = "kind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: run\n            image: x\n";
        let list = "kind: List\nitems:\n- kind: Job\n  metadata:\n    name: once\n  spec:\n    template:\n      spec:\n        containers:\n        - name: j\n";
        let json =
            "{\"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}, \"spec\": {\"containers\": [{\"name\": \"c\"}]}}\n";
        let m = load(&[("a.yaml", cron), ("b.yaml", list), ("c.json", json)], "ns");
        assert_eq!(m.find("ns/CronJob/nightly/run").unwrap().image, Some(10));
        assert_eq!(m.find("ns/Job/once/j").unwrap().container, 10);
        let p = m.find("ns/Pod/p/c").unwrap();
        assert_eq!((p.container, p.security_context), (1, None), "JSON: the object's line");
    }

    #[test]
    fn bad_inputs_are_exit_2_naming_the_file() {
        let err = Manifests::load(&["/nonexistent/deploy".into()], "ns").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("/nonexistent/deploy"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "kind: Pod\nspec: [\n").unwrap();
        let err = Manifests::load(&[bad.display().to_string()], "ns").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("bad.yaml"), "{err}");
        assert_eq!(Manifests::load(&["-".into()], "ns").unwrap_err().exit_code(), 2);
    }

    fn scanned(workload: &str) -> crate::hdf::ResultSet {
        let doc = serde_json::json!({"platform": {"name": "k8s", "release": "1", "target_id": "shop/pod-x/app",
            "workload": workload},
            "profiles": [{"name": "container-baseline", "controls": [
                {"id": "kscan-no-new-privileges", "impact": 0.5, "source_location": {"ref": "controls/runtime.rb", "line": 39},
                 "results": [{"status": "failed", "code_desc": "no_new_privs", "start_time": ""}]},
                {"id": "kscan-no-shell", "impact": 0.3, "source_location": {"ref": "controls/image.rb", "line": 34},
                 "results": [{"status": "failed", "code_desc": "sh", "start_time": ""}]}]}]});
        crate::hdf::ResultSet::from_slice(
            crate::hdf::Source::File(format!("{workload}.json").into()),
            doc.to_string().as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn every_format_points_at_the_manifest_and_unmapped_targets_are_counted() {
        let m = load(&[("app.yaml", DEPLOY)], "shop");
        let report = crate::report::tests::report(vec![scanned("shop/Deployment/web/app"), scanned("shop/Pod/x/app")])
            .with_manifests(Some(&m));
        let p = report.placement().unwrap();
        assert_eq!((p.mapped, p.unmapped.as_slice()), (1, &["shop/Pod/x/app".to_owned()][..]));
        assert!(p.line().contains("1 of 2 targets") && p.line().contains("shop/Pod/x/app"), "{}", p.line());

        let mut out = Vec::new();
        crate::report::sarif::write(&report, &mut out).unwrap();
        let sarif: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let places: Vec<(String, u64)> = sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let l = &r["locations"][0]["physicalLocation"];
                (l["artifactLocation"]["uri"].as_str().unwrap().to_owned(), l["region"]["startLine"].as_u64().unwrap())
            })
            .collect();
        let want = |f: &str, l: u64| (f.to_owned(), l);
        assert_eq!(
            places,
            [
                want("app.yaml", 11),
                want("controls/runtime.rb", 39),
                want("app.yaml", 10),
                want("controls/image.rb", 34)
            ]
        );
        assert_eq!(sarif["runs"][0]["properties"]["manifests"]["unmapped"], 1);

        let mut out = Vec::new();
        crate::report::codequality::write(&report, &mut out).unwrap();
        let issues: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(issues[0]["location"]["path"], "app.yaml");
        assert_eq!(issues[0]["location"]["lines"]["begin"], 11);

        let templates = crate::report::Templates::new(None).unwrap();
        let mut out = Vec::new();
        crate::report::github::write_annotations(&report, &templates, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("file=app.yaml,line=11"), "{text}");
        assert!(text.contains("file=app.yaml,line=10"), "{text}");
    }

    #[test]
    fn paths_are_shown_relative_to_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(shown_path(&cwd.join("deploy/app.yaml").display().to_string()), "deploy/app.yaml");
        assert_eq!(shown_path("./deploy/app.yaml"), "deploy/app.yaml");
        assert_eq!(shown_path("/elsewhere/app.yaml"), "/elsewhere/app.yaml");
    }
}
