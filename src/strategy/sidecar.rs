//! The sidecar strategy: a new pod with the target container's image (and
//! command, user and security settings, environment and the volumes it can
//! safely share: see [`carry_volumes`]) beside a scanner container, with
//! `shareProcessNamespace: true`; kscan runs in the scanner on
//! `/proc/<pid>/root` of the target's main process. The pod belongs to the
//! run and is deleted at teardown.
//!
//! The Role must grant `create` on pods, which RBAC cannot narrow by name;
//! `get`, `delete` and exec are limited to the run's own pod(s). The copy's
//! `env`, `envFrom` and Secret/ConfigMap volumes are references that the
//! kubelet resolves (the Node authorizer lets it read what pods on its node
//! name); admission asks nothing of the pod's creator for them, so the Role
//! grants nothing on Secrets or ConfigMaps.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Volume, VolumeMount};
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
    let carried = carry_volumes(&spec, source);
    for note in &carried.not_carried {
        tracing::warn!("{target}: the copy in pod {name} lacks {note}");
    }
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
            "volumes": carried.volumes,
            "containers": [
                {
                    "name": source.name,
                    "image": image,
                    "imagePullPolicy": source.image_pull_policy,
                    "command": source.command,
                    "args": source.args,
                    "workingDir": source.working_dir,
                    "securityContext": source.security_context,
                    // References, resolved by the kubelet as for the original.
                    "env": source.env,
                    "envFrom": source.env_from,
                    "volumeMounts": carried.mounts,
                    "resources": source.resources,
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
    reach.platform.insert(platform::COPY_OF.into(), json!(format!("{ns}/{}", target.pod)));
    reach.platform.insert(platform::NOT_CARRIED.into(), json!(carried.not_carried));
    Ok(reach)
}

/// The volumes and mounts of the copy.
struct Carried {
    /// The pod's volumes the copy mounts.
    volumes: Vec<Volume>,
    /// The container's mounts of those volumes.
    mounts: Vec<VolumeMount>,
    /// What the copy lacks, and why: `volume NAME (KIND) at PATH: WHY`.
    not_carried: Vec<String>,
}

/// Which of `source`'s mounts the copy gets. Secrets, ConfigMaps, the
/// downward API and projections of those are references the kubelet
/// resolves for the copy as for the original; an emptyDir is carried as a
/// new, empty one. Not carried: volumes that hold state or reach outside
/// the pod — persistentVolumeClaim (a second writer on someone's data;
/// ReadWriteOncePod refuses it anyway), hostPath (the node's filesystem),
/// service account tokens (a credential minted for the copy), and every
/// other kind (CSI, network and cloud disks, ephemeral claims).
fn carry_volumes(spec: &PodSpec, source: &Container) -> Carried {
    let mut carried = Carried { volumes: Vec::new(), mounts: Vec::new(), not_carried: Vec::new() };
    for mount in source.volume_mounts.iter().flatten() {
        let Some(volume) = spec.volumes.iter().flatten().find(|v| v.name == mount.name) else { continue };
        match refusal(volume) {
            None => {
                if !carried.volumes.iter().any(|v: &Volume| v.name == volume.name) {
                    carried.volumes.push(volume.clone());
                }
                carried.mounts.push(mount.clone());
            }
            Some((kind, why)) => {
                carried.not_carried.push(format!("volume {} ({kind}) at {}: {why}", volume.name, mount.mount_path))
            }
        }
    }
    carried
}

/// Why `volume` is not carried into the copy (its kind, the reason), or
/// `None` when it is.
fn refusal(volume: &Volume) -> Option<(&'static str, &'static str)> {
    if volume.secret.is_some() || volume.config_map.is_some() || volume.downward_api.is_some() {
        return None;
    }
    if volume.empty_dir.is_some() {
        return None;
    }
    if let Some(projected) = &volume.projected {
        let tokens = projected.sources.iter().flatten().any(|s| s.service_account_token.is_some());
        let other = projected.sources.iter().flatten().any(|s| {
            s.secret.is_none()
                && s.config_map.is_none()
                && s.downward_api.is_none()
                && s.service_account_token.is_none()
        });
        return match (tokens, other) {
            (true, _) => Some(("projected", "it projects a service account token, a credential kscan does not mint")),
            (false, true) => {
                Some(("projected", "it projects sources other than Secrets, ConfigMaps and the downward API"))
            }
            (false, false) => None,
        };
    }
    Some(if volume.persistent_volume_claim.is_some() {
        ("persistentVolumeClaim", "the copy does not mount the pod's data")
    } else if volume.host_path.is_some() {
        ("hostPath", "the copy does not mount the node's filesystem")
    } else {
        ("other", "only Secret, ConfigMap, downward API, projected and emptyDir volumes are carried")
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_empty_dirs_are_carried_data_host_and_tokens_are_not() {
        let spec: PodSpec = serde_json::from_value(json!({
            "containers": [{"name": "app", "volumeMounts": [
                {"name": "creds", "mountPath": "/etc/creds"},
                {"name": "settings", "mountPath": "/etc/settings"},
                {"name": "bundle", "mountPath": "/etc/bundle"},
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "data", "mountPath": "/data"},
                {"name": "host", "mountPath": "/host"},
                {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
            ]}],
            "volumes": [
                {"name": "creds", "secret": {"secretName": "db"}},
                {"name": "settings", "configMap": {"name": "settings"}},
                {"name": "bundle", "projected": {"sources": [{"secret": {"name": "tls"}}, {"configMap": {"name": "ca"}}]}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "host", "hostPath": {"path": "/var/log"}},
                {"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
                {"name": "unused", "secret": {"secretName": "other"}},
            ],
        }))
        .unwrap();
        let carried = carry_volumes(&spec, &spec.containers[0]);
        let names: Vec<&str> = carried.volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["creds", "settings", "bundle", "scratch"]);
        assert_eq!(carried.mounts.len(), 4);
        assert_eq!(carried.not_carried.len(), 3, "{:?}", carried.not_carried);
        assert!(carried.not_carried[0].starts_with("volume data (persistentVolumeClaim) at /data: "));
        assert!(carried.not_carried[1].starts_with("volume host (hostPath) at /host: "));
        assert!(carried.not_carried[2].contains("service account token"));
    }
}
