//! From any Kubernetes object to the pods it runs: a Pod's own spec, the pod
//! template of a workload, a CronJob's job template, the items of a `List`.
//! The kinds are those the admission library's pod-spec extractor knows.

use std::collections::BTreeMap;

use super::pss::PodView;
use super::spec::{PodSpec, RawObject};

/// One pod spec to check, with the object that carries it.
#[derive(Debug)]
pub struct Workload {
    /// The object's kind (`Pod`, `Deployment`, …).
    pub kind: String,
    /// Its namespace; empty when a manifest leaves it out.
    pub namespace: String,
    /// Its name (or `generateName`).
    pub name: String,
    /// The pod's annotations (of the template for workloads).
    pub annotations: BTreeMap<String, String>,
    /// The pod spec.
    pub spec: PodSpec,
}

impl Workload {
    /// The pod as the checks see it.
    pub fn view(&self) -> PodView<'_> {
        PodView { annotations: &self.annotations, spec: &self.spec }
    }

    /// `<namespace>/<kind>/<name>`, with `-` for a missing namespace.
    pub fn path(&self) -> String {
        let ns = if self.namespace.is_empty() { "-" } else { &self.namespace };
        format!("{ns}/{}/{}", self.kind, self.name)
    }
}

/// Pass every pod spec in `obj` (recursing into `List` items) to `f`;
/// returns how many objects carried none.
pub fn extract(obj: RawObject, f: &mut impl FnMut(Workload)) -> usize {
    if !obj.items.is_empty() || obj.kind.ends_with("List") {
        return obj.items.into_iter().map(|item| extract(item, f)).sum();
    }
    match extract_one(obj) {
        Some(w) => {
            f(w);
            0
        }
        None => 1,
    }
}

fn extract_one(obj: RawObject) -> Option<Workload> {
    let RawObject { kind, metadata, spec, template, .. } = obj;
    let template = match kind.as_str() {
        "Pod" => {
            return Some(Workload {
                name: display_name(metadata.name, metadata.generate_name),
                kind,
                namespace: metadata.namespace,
                annotations: metadata.annotations,
                spec: spec.unwrap_or_default(),
            })
        }
        "PodTemplate" => template,
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicationController" => {
            spec.and_then(|s| s.template)
        }
        "CronJob" => spec.and_then(|s| s.job_template).and_then(|j| j.spec.template),
        _ => return None,
    };
    let template = template.unwrap_or_default();
    Some(Workload {
        name: display_name(metadata.name, metadata.generate_name),
        kind,
        namespace: metadata.namespace,
        annotations: template.metadata.annotations,
        spec: template.spec,
    })
}

fn display_name(name: String, generate_name: String) -> String {
    match (name.is_empty(), generate_name.is_empty()) {
        (false, _) => name,
        (true, false) => generate_name,
        (true, true) => "<unnamed>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_templates_and_cronjobs() {
        let o: RawObject = serde_json::from_str(
            r#"{"kind":"List","items":[
                {"kind":"Deployment","metadata":{"name":"d","namespace":"a"},
                 "spec":{"template":{"metadata":{"annotations":{"x":"y"}},"spec":{"containers":[{"name":"c"}]}}}},
                {"kind":"CronJob","metadata":{"name":"cj"},
                 "spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"j"}]}}}}}},
                {"kind":"Service","metadata":{"name":"s"}},
                {"kind":"Pod","metadata":{"generateName":"p-"},"spec":{"containers":[{"name":"p"}]}}]}"#,
        )
        .unwrap();
        let mut got = Vec::new();
        let skipped = extract(o, &mut |w| got.push(w));
        assert_eq!(skipped, 1);
        let paths: Vec<String> = got.iter().map(Workload::path).collect();
        assert_eq!(paths, ["a/Deployment/d", "-/CronJob/cj", "-/Pod/p-"]);
        assert_eq!(got[0].annotations["x"], "y");
        assert_eq!(got[1].spec.containers[0].name, "j");
    }
}
