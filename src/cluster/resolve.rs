//! From a [`Request`] (a pod, or a label selector) to the running containers
//! to scan, read with the caller's identity before any access is created —
//! so an unknown pod is an input error and nothing is left behind.

use k8s_openapi::api::core::v1::Pod;
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
    let ns = &request.namespace;
    let pods: Api<Pod> = Api::namespaced(admin.client.clone(), ns.as_str());
    match &request.pods {
        Selection::Pod(name) => {
            let pod = get_pod(&pods, ns, name).await?;
            running_container(&pod, ns, request.container.as_ref()).map(|c| vec![c])
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
            Ok(found)
        }
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
