//! The sidecar strategy: a new pod with the target container's image (and
//! command, user and security settings) beside a scanner container, with
//! `shareProcessNamespace: true`; kscan runs in the scanner on
//! `/proc/<pid>/root` of the target's main process. The pod belongs to the
//! run and is deleted at teardown.
//!
//! The Role must grant `create` on pods, which RBAC cannot narrow by name;
//! `get`, `delete` and exec are limited to the run's own pod(s).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kscan_agent::protocol::{platform, Command};
use kube::api::Api;
use serde_json::json;

use super::debug::access_seconds;
use super::pods::{refused, wait_running};
use super::StrategyConfig;
use crate::cluster::access::{expiry_annotation, Grant, ScopedAccess};
use crate::cluster::exec::Exec;
use crate::cluster::pod::{container_id, Kind};
use crate::cluster::teardown::{Owned, Teardown};
use crate::cluster::{api_error, RunId, MANAGED_BY, RUN_LABEL};
use crate::engine::agent::Agent;
use crate::engine::{Reach, Via};
use crate::error::{Error, Result};
use crate::target::{ContainerRef, Label, Subdomain};

/// Name of the scanner container in the sidecar pod.
pub const SCANNER_CONTAINER: &str = "kscan-scanner";

/// Name of the run's pod for its `index`-th target.
pub fn pod_name(run_object_name: &str, index: usize) -> String {
    format!("{run_object_name}-{index}")
}

/// `get` on the target pods (to copy the container) and the run's pods;
/// `create` on pods; `delete` and exec on the run's pods only.
pub fn grants(run: &RunId, pods: &[String]) -> Vec<Grant> {
    let own: Vec<String> = (0..pods.len()).map(|i| pod_name(&run.object_name(), i)).collect();
    let mut readable = pods.to_vec();
    readable.extend(own.iter().cloned());
    vec![
        Grant { resource: "pods", verbs: &["get"], names: readable },
        Grant { resource: "pods", verbs: &["create"], names: Vec::new() },
        Grant { resource: "pods", verbs: &["delete"], names: own.clone() },
        Grant { resource: "pods/exec", verbs: &["get", "create"], names: own },
    ]
}

/// Start the sidecar pod for `target` and wait until both containers run.
pub async fn reach(
    config: &StrategyConfig,
    access: &ScopedAccess,
    target: &ContainerRef,
    index: usize,
    timeout: Duration,
    teardown: &Teardown,
) -> Result<Reach> {
    let ns = target.namespace.as_str();
    let pods: Api<Pod> = Api::namespaced(access.connection.client.clone(), ns);
    let original =
        pods.get(target.pod.as_str()).await.map_err(|e| api_error(e, &format!("reading pod {ns}/{}", target.pod)))?;
    let spec = original.spec.clone().unwrap_or_default();
    let source = spec
        .containers
        .iter()
        .find(|c| c.name == target.container.as_str())
        .ok_or_else(|| Error::scan(format!("{target}: the container is not in the pod's spec")))?;
    let image = config.image.clone().or_else(|| source.image.clone()).unwrap_or_default();
    let name = pod_name(&access.name, index);
    let run = access.name.strip_prefix("kscan-").unwrap_or(&access.name);

    let security_context = config.scanner_security_context(Some(&spec), target.container.as_str());
    let scanner = json!({
        "name": SCANNER_CONTAINER,
        "image": config.scanner_image,
        "command": Command::hold_for(access_seconds(access)).argv(),
        "securityContext": security_context.clone(),
    });
    let labels = BTreeMap::from([(MANAGED_BY.0, MANAGED_BY.1), (RUN_LABEL, run)]);
    // The expiry lets `kscan cleanup --all-expired` find the pod of a killed run.
    let (expiry_key, expiry) = expiry_annotation(access.objects_expire_at);
    let pod = json!({
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "annotations": {"kscan.dev/scans": target.uri(), expiry_key: expiry},
        },
        "spec": {
            "shareProcessNamespace": true,
            "automountServiceAccountToken": false,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": spec.security_context,
            "imagePullSecrets": spec.image_pull_secrets,
            "nodeSelector": spec.node_selector,
            "tolerations": spec.tolerations,
            "containers": [
                {
                    "name": source.name,
                    "image": image,
                    "imagePullPolicy": source.image_pull_policy,
                    "command": source.command,
                    "args": source.args,
                    "workingDir": source.working_dir,
                    "securityContext": source.security_context,
                },
                scanner,
            ],
        },
    });
    let pod: Pod =
        serde_json::from_value(strip_nulls(pod)).map_err(|e| Error::scan(format!("building pod {name}: {e}")))?;
    tracing::info!("{target}: starting pod {name} (image {image}) with a scanner sidecar");
    teardown
        .create_object(Owned::Pod { namespace: ns.into(), name: name.clone() }, &pods, &pod)
        .await
        .map_err(|e| refused(e, &format!("the sidecar pod {name}")))?;
    let running = wait_running(
        &pods,
        &name,
        Kind::Regular,
        &[target.container.as_str(), SCANNER_CONTAINER],
        &config.scanner_image,
    )
    .await?;
    let target_id = container_id(&running, Kind::Regular, target.container.as_str())
        .ok_or_else(|| Error::scan(format!("pod {name} runs but reports no container id")))?;
    let scanner = ContainerRef {
        namespace: target.namespace.clone(),
        pod: Subdomain::parse("pod", &name)?,
        container: Label::parse("container", SCANNER_CONTAINER)?,
    };
    let agent = Agent {
        exec: Exec::new(access.connection.client.clone(), scanner, timeout),
        container_id: target_id,
        target_id: target.uri(),
        strategy: "sidecar".into(),
    };
    let mut reach = Reach::new(Via::Agent(Box::new(agent)), None, "sidecar", None);
    reach.platform.insert(platform::SIDECAR_POD.into(), json!(name));
    reach.platform.insert(platform::IMAGE.into(), json!(image));
    reach.platform.insert(platform::SCANNER_SECURITY_CONTEXT.into(), security_context);
    Ok(reach)
}

/// Drop `null` members so that absent fields stay absent.
fn strip_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect(),
        ),
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}
