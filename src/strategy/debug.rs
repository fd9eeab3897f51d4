//! The debug strategy: an ephemeral scanner container in the target pod,
//! `targetContainerName` set so it shares the target's PID namespace; kscan
//! runs inside it on `/proc/<pid>/root` of the target's main process.
//!
//! Ephemeral containers cannot be removed from a pod: at teardown the
//! scanner's process is stopped, so the container ends, and the report says
//! it remains in the pod's spec.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kscan_agent::protocol::{platform, Command, AGENT_PATH};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::pods::{refused, wait_running};
use super::StrategyConfig;
use crate::cluster::access::{Grant, ScopedAccess};
use crate::cluster::api_error;
use crate::cluster::exec::Exec;
use crate::cluster::pod::{container_id, Kind};
use crate::cluster::teardown::{Owned, Teardown};
use crate::engine::agent::Agent;
use crate::engine::{Reach, Via};
use crate::error::{Error, Result};
use crate::target::{ContainerRef, Label};

/// Exec grants plus `get`/`patch` on `pods/ephemeralcontainers`, all for the
/// target pods only.
pub fn grants(pods: &[String]) -> Vec<Grant> {
    let mut grants = super::exec::grants(pods);
    grants.push(Grant { resource: "pods/ephemeralcontainers", verbs: &["get", "patch"], names: pods.to_vec() });
    grants
}

/// Add the scanner container to the target's pod and wait until it runs.
pub async fn reach(
    config: &StrategyConfig,
    access: &ScopedAccess,
    target: &ContainerRef,
    timeout: Duration,
    teardown: &Teardown,
    reason: Option<String>,
) -> Result<Reach> {
    let ns = target.namespace.as_str();
    let pod_name = target.pod.as_str();
    let pods: Api<Pod> = Api::namespaced(access.connection.client.clone(), ns);
    let pod = pods.get(pod_name).await.map_err(|e| api_error(e, &format!("reading pod {ns}/{pod_name}")))?;
    let target_id = container_id(&pod, Kind::Regular, target.container.as_str())
        .ok_or_else(|| Error::scan(format!("{target} has no container id yet: is it running?")))?;
    let before = within_limit(&pod, config, target)?;
    let name = access.name.clone();

    let security_context = config.scanner_security_context(pod.spec.as_ref(), target.container.as_str());
    let container = json!({
        "name": name,
        "image": config.scanner_image,
        "command": Command::hold_for(access_seconds(access)).argv(),
        "targetContainerName": target.container.as_str(),
        "securityContext": security_context.clone(),
    });
    tracing::info!("{target}: adding ephemeral container {name} (image {})", config.scanner_image);
    let patch = json!({"spec": {"ephemeralContainers": [container]}});
    let owned = Owned::EphemeralContainer { namespace: ns.into(), pod: pod_name.into(), name: name.clone() };
    let (params, patch) = (PatchParams::default(), Patch::Strategic(&patch));
    teardown
        .create(owned, || pods.patch_ephemeral_containers(pod_name, &params, &patch))
        .await
        .map_err(|e| refused(e, &format!("the ephemeral scanner container for {target}")))?;
    wait_running(&pods, pod_name, Kind::Ephemeral, &[&name], &config.scanner_image).await?;

    let scanner = ContainerRef {
        namespace: target.namespace.clone(),
        pod: target.pod.clone(),
        container: Label::parse("container", &name)?,
    };
    let agent = Agent {
        exec: Exec::new(access.connection.client.clone(), scanner, timeout),
        container_id: target_id,
        target_id: target.uri(),
        strategy: "debug".into(),
    };
    let mut reach = Reach::new(Via::Agent(Box::new(agent)), None, "debug", reason);
    reach.platform.insert(platform::SCANNER_SECURITY_CONTEXT.into(), security_context);
    reach.platform.insert(platform::EPHEMERAL_BEFORE.into(), json!(before));
    Ok(reach)
}

/// The kscan scanner containers `pod` holds: ephemeral containers named as
/// runs name their objects (`kscan-<hex>`) or running kscan's agent.
pub fn scanner_containers(pod: &Pod) -> usize {
    let containers = pod.spec.iter().flat_map(|s| s.ephemeral_containers.iter().flatten());
    containers
        .filter(|c| {
            let named = c.name.strip_prefix("kscan-").is_some_and(|id| id.bytes().all(|b| b.is_ascii_hexdigit()));
            let agent = c.command.as_ref().and_then(|argv| argv.first()).is_some_and(|p| p == AGENT_PATH);
            named || agent
        })
        .count()
}

/// How many scanner containers `pod` already holds; refused (exit 3, before
/// anything is added to it) at `--max-ephemeral`.
pub fn within_limit(pod: &Pod, config: &StrategyConfig, target: &ContainerRef) -> Result<usize> {
    let held = scanner_containers(pod);
    if held >= config.max_ephemeral as usize {
        return Err(Error::scan(format!(
            "pod {}/{} already holds {held} stopped kscan scanner container(s) from earlier debug scans \
             (--max-ephemeral {}), and Kubernetes cannot remove ephemeral containers: nothing was added to it. \
             Restart the pod (delete it; its controller recreates it without them), scan it with --strategy \
             sidecar (a copy in a pod of its own, deleted afterwards), or raise --max-ephemeral",
            target.namespace, target.pod, config.max_ephemeral
        )));
    }
    Ok(held)
}

/// Seconds until the scoped token expires: the scanner never outlives it.
pub(super) fn access_seconds(access: &ScopedAccess) -> u32 {
    let left = access.expires_at - chrono::Utc::now();
    u32::try_from(left.num_seconds().max(60)).unwrap_or(3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{Strategy, DEFAULT_MAX_EPHEMERAL};

    #[test]
    fn scanner_containers_are_counted_and_refused_at_the_limit() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {
        "containers": [{"name": "app"}],
        "ephemeralContainers": [
            {"name": "kscan-0123456789", "image": "s"},
            {"name": "probe", "image": "s", "command": [AGENT_PATH, "hold"]},
            {"name": "debugger", "image": "busybox"},
            {"name": "kscan-tools", "image": "busybox"},
        ]}}))
        .unwrap();
        assert_eq!(scanner_containers(&pod), 2);
        let target = ContainerRef {
            namespace: Label::parse("namespace", "shop").unwrap(),
            pod: crate::target::Subdomain::parse("pod", "web").unwrap(),
            container: Label::parse("container", "app").unwrap(),
        };
        let mut config = StrategyConfig {
            kind: Strategy::Debug,
            scanner_image: "s".into(),
            scanner_user: None,
            image: None,
            max_ephemeral: DEFAULT_MAX_EPHEMERAL,
        };
        assert_eq!(within_limit(&pod, &config, &target).unwrap(), 2);
        config.max_ephemeral = 2;
        let err = within_limit(&pod, &config, &target).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        for needle in ["shop/web", "holds 2", "Restart the pod", "--strategy sidecar", "--max-ephemeral 2"] {
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }
}
