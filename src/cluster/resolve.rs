//! From a [`Request`] (a pod, or a label selector) to the running containers
//! to scan, read with the caller's identity before any access is created —
//! so an unknown pod is an input error and nothing is left behind.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, ListParams};

use super::client::Connection;
use super::pod::{is_running, Kind};
use super::{api_error, api_status};
use crate::error::{Error, Result};
use crate::target::{ContainerRef, Label, Request, Selection, Subdomain};

/// Annotation naming a pod's default container (as `kubectl exec` uses it).
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// The containers `request` names, each in a running pod.
pub async fn resolve(admin: &Connection, request: &Request) -> Result<Vec<ContainerRef>> {
    Ok(resolve_owned(admin, request).await?.0)
}

/// [`resolve`], and the workload that owns each pod: pod name →
/// `Kind/name` of the controller at the top of its owner chain (Pod →
/// ReplicaSet → Deployment, Pod → Job → CronJob, Pod → StatefulSet, …), or
/// `Pod/name` for a bare pod. That name survives a pod restart, so it is
/// what findings are identified by from run to run.
pub async fn resolve_owned(
    admin: &Connection,
    request: &Request,
) -> Result<(Vec<ContainerRef>, BTreeMap<String, String>)> {
    let ns = &request.namespace;
    let pods: Api<Pod> = Api::namespaced(admin.client.clone(), ns.as_str());
    let (targets, found) = match &request.pods {
        Selection::Pod(name) => {
            let pod = get_pod(&pods, ns, name).await?;
            (running_container(&pod, ns, request.container.as_ref()).map(|c| vec![c])?, vec![pod])
        }
        Selection::Selector(selector) => {
            let list = pods.list(&ListParams::default().labels(selector)).await.map_err(|e| {
                if api_status(&e) == Some(400) {
                    Error::input(format!("--selector {selector:?} is not a valid label selector")).with_source(e)
                } else {
                    api_error(e, &format!("listing pods in {ns} matching {selector:?}"))
                }
            })?;
            let mut found = Vec::new();
            let mut not_running = Vec::new();
            for pod in &list.items {
                if phase(pod) == "Running" {
                    found.push(running_container(pod, ns, request.container.as_ref())?);
                } else {
                    not_running.push(format!("{} ({})", pod.metadata.name.as_deref().unwrap_or("?"), phase(pod)));
                }
            }
            if !not_running.is_empty() {
                tracing::warn!("skipping pods that are not running: {}", not_running.join(", "));
            }
            if found.is_empty() {
                return Err(Error::input(format!("no running pod in namespace {ns} matches --selector {selector:?}")));
            }
            found.sort_by(|a, b| (&a.pod, &a.container).cmp(&(&b.pod, &b.container)));
            (found, list.items)
        }
    };
    let mut owners = BTreeMap::new();
    for pod in &found {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if targets.iter().any(|t| t.pod.as_str() == name) {
            owners.insert(name, workload(admin, ns, pod).await);
        }
    }
    Ok((targets, owners))
}

/// `Kind/name` of the workload at the top of `pod`'s owner chain. Owners
/// are read with the caller's identity; when it may not read one, a
/// ReplicaSet whose name ends in the pod's `pod-template-hash` is taken for
/// its Deployment (the Deployment controller names them so), and any other
/// owner stands for itself.
async fn workload(admin: &Connection, ns: &Label, pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let Some(owner) = controller(&pod.metadata) else {
        return format!("Pod/{name}");
    };
    let upper = match owner.kind.as_str() {
        "ReplicaSet" => {
            let api: Api<ReplicaSet> = Api::namespaced(admin.client.clone(), ns.as_str());
            api.get(&owner.name).await.map(|rs| controller(&rs.metadata).cloned())
        }
        "Job" => {
            let api: Api<Job> = Api::namespaced(admin.client.clone(), ns.as_str());
            api.get(&owner.name).await.map(|job| controller(&job.metadata).cloned())
        }
        _ => Ok(None),
    };
    match upper {
        Ok(Some(top)) => format!("{}/{}", top.kind, top.name),
        Ok(None) => format!("{}/{}", owner.kind, owner.name),
        Err(e) => {
            tracing::debug!("cannot read {} {ns}/{} (owner of pod {name}): {e}", owner.kind, owner.name);
            owner_by_name(pod, owner)
        }
    }
}

/// The owner reference that is the object's controller.
fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|o| o.controller == Some(true))
}

/// The workload `owner` stands for without reading it: a Deployment's
/// ReplicaSet `<deployment>-<pod-template-hash>` is the Deployment.
fn owner_by_name(pod: &Pod, owner: &OwnerReference) -> String {
    let hash = pod.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash"));
    match hash.and_then(|h| owner.name.strip_suffix(h.as_str())).and_then(|n| n.strip_suffix('-')) {
        Some(deployment) if owner.kind == "ReplicaSet" && !deployment.is_empty() => {
            format!("Deployment/{deployment}")
        }
        _ => format!("{}/{}", owner.kind, owner.name),
    }
}

/// Pod `name` of `pods` (in namespace `ns`): not found is an input error
/// (exit 2) that says how to list the pods; other failures cannot scan.
pub async fn get_pod(pods: &Api<Pod>, ns: &Label, name: &Subdomain) -> Result<Pod> {
    match pods.get(name.as_str()).await {
        Ok(pod) => Ok(pod),
        Err(e) if api_status(&e) == Some(404) => Err(Error::input(format!(
            "pod {name} not found in namespace {ns}: check --namespace and --pod \
             (`kubectl get pods -n {ns}` lists them)"
        ))),
        Err(e) => Err(api_error(e, &format!("reading pod {ns}/{name}"))),
    }
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Unknown")
}

/// The container to scan in `pod`: `wanted`, or the default/only one; it must
/// be running.
fn running_container(pod: &Pod, ns: &Label, wanted: Option<&Label>) -> Result<ContainerRef> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let names: Vec<&str> = pod.spec.iter().flat_map(|s| s.containers.iter()).map(|c| c.name.as_str()).collect();
    let chosen = match wanted {
        Some(w) if names.contains(&w.as_str()) => w.as_str().to_owned(),
        Some(w) => {
            return Err(Error::input(format!(
                "pod {ns}/{name} has no container {w}; its containers are: {}",
                names.join(", ")
            )))
        }
        None => match pod.metadata.annotations.as_ref().and_then(|a| a.get(DEFAULT_CONTAINER)) {
            Some(default) if names.contains(&default.as_str()) => default.clone(),
            _ if names.len() == 1 => names[0].to_owned(),
            _ => {
                return Err(Error::input(format!(
                    "pod {ns}/{name} has {} containers ({}): choose one with --container",
                    names.len(),
                    names.join(", ")
                )))
            }
        },
    };
    if !is_running(pod, Kind::Regular, &chosen) {
        return Err(Error::scan(format!(
            "container {chosen} of pod {ns}/{name} is not running (pod phase {}): only running containers can be scanned",
            phase(pod)
        )));
    }
    Ok(ContainerRef {
        namespace: ns.clone(),
        pod: Subdomain::parse("pod", &name)?,
        container: Label::parse("container", &chosen)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn ns() -> Label {
        Label::parse("namespace", "ns").unwrap()
    }

    #[test]
    fn picks_the_only_or_default_container_and_requires_it_running() {
        let p = pod(json!({
            "metadata": {"name": "web", "annotations": {DEFAULT_CONTAINER: "app"}},
            "spec": {"containers": [{"name": "app"}, {"name": "proxy"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "proxy", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {}}}
            ]}
        }));
        assert_eq!(running_container(&p, &ns(), None).unwrap().container.as_str(), "app");
        let proxy = Label::parse("container", "proxy").unwrap();
        assert_eq!(running_container(&p, &ns(), Some(&proxy)).unwrap_err().exit_code(), 3);
        let other = Label::parse("container", "db").unwrap();
        let err = running_container(&p, &ns(), Some(&other)).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("app, proxy"), "{err}");
    }

    #[test]
    fn a_deployments_replica_set_stands_for_it_by_its_hash() {
        let p = pod(json!({
            "metadata": {"name": "web-7d4b9-x2kqp", "labels": {"pod-template-hash": "7d4b9"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9",
                    "uid": "u", "controller": true}]},
            "spec": {"containers": [{"name": "app"}]}
        }));
        let owner = controller(&p.metadata).unwrap();
        assert_eq!(owner_by_name(&p, owner), "Deployment/web");
        let bare = pod(json!({
            "metadata": {"name": "solo-abcde", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "solo", "uid": "u", "controller": true}]},
            "spec": {"containers": [{"name": "app"}]}
        }));
        assert_eq!(owner_by_name(&bare, controller(&bare.metadata).unwrap()), "ReplicaSet/solo");
    }

    #[test]
    fn several_containers_without_a_default_need_a_choice() {
        let p = pod(json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running"}
        }));
        let err = running_container(&p, &ns(), None).unwrap_err();
        assert!(err.to_string().contains("--container"), "{err}");
    }
}
