//! What the target's pod spec asks of the kernel, reduced to the
//! [`PodSpecFacts`] the runtime controls compare with what the kernel
//! applied: the container's `securityContext` over the pod's, field by
//! field, as the kubelet applies them.

use k8s_openapi::api::core::v1::Pod;
use kscan_agent::spec::{PodSpecFacts, USES_API_ANNOTATION};

/// The pod-spec facts of container `container` of `pod`.
pub fn spec_facts(pod: &Pod, container: &str) -> PodSpecFacts {
    let meta = &pod.metadata;
    let name = format!("{}/{}", meta.namespace.as_deref().unwrap_or("-"), meta.name.as_deref().unwrap_or("-"));
    let Some(spec) = pod.spec.as_ref() else {
        return PodSpecFacts { pod: name, ..Default::default() };
    };
    let pod_sc = spec.security_context.as_ref();
    let sc = spec.containers.iter().find(|c| c.name == container).and_then(|c| c.security_context.as_ref());
    let annotations = meta.annotations.as_ref();
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
    let legacy_apparmor =
        annotation(&format!("container.apparmor.security.beta.kubernetes.io/{container}")).map(|v| match v {
            "runtime/default" => "RuntimeDefault".to_owned(),
            "unconfined" => "Unconfined".to_owned(),
            _ if v.starts_with("localhost/") => "Localhost".to_owned(),
            other => other.to_owned(),
        });
    let caps = sc.and_then(|c| c.capabilities.as_ref());
    PodSpecFacts {
        pod: name,
        read_only_root_filesystem: sc.and_then(|c| c.read_only_root_filesystem),
        allow_privilege_escalation: sc.and_then(|c| c.allow_privilege_escalation),
        privileged: sc.and_then(|c| c.privileged),
        seccomp_profile: sc
            .and_then(|c| c.seccomp_profile.as_ref())
            .or_else(|| pod_sc.and_then(|p| p.seccomp_profile.as_ref()))
            .map(|p| p.type_.clone()),
        capabilities_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        capabilities_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        apparmor_profile: sc
            .and_then(|c| c.app_armor_profile.as_ref())
            .or_else(|| pod_sc.and_then(|p| p.app_armor_profile.as_ref()))
            .map(|p| p.type_.clone())
            .or(legacy_apparmor),
        selinux_type: sc
            .and_then(|c| c.se_linux_options.as_ref())
            .or_else(|| pod_sc.and_then(|p| p.se_linux_options.as_ref()))
            .and_then(|o| o.type_.clone()),
        host_network: spec.host_network.unwrap_or(false),
        host_pid: spec.host_pid.unwrap_or(false),
        host_ipc: spec.host_ipc.unwrap_or(false),
        automount_service_account_token: spec.automount_service_account_token,
        uses_kubernetes_api: annotation(USES_API_ANNOTATION) == Some("true"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_containers_context_wins_over_the_pods_field_by_field() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "annotations": {
                "kscan.dev/uses-kubernetes-api": "true",
                "container.apparmor.security.beta.kubernetes.io/side": "localhost/k8s-side"}},
            "spec": {
                "hostPID": true,
                "automountServiceAccountToken": false,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "seLinuxOptions": {"type": "container_t"}},
                "containers": [
                    {"name": "app", "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                        "seccompProfile": {"type": "Unconfined"}, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}},
                    {"name": "side"}
                ]
            }
        }))
        .unwrap();
        let app = spec_facts(&pod, "app");
        assert_eq!(app.pod, "shop/web");
        assert_eq!(app.read_only_root_filesystem, Some(true));
        assert_eq!(app.allow_privilege_escalation, Some(false));
        assert_eq!(app.seccomp_profile.as_deref(), Some("Unconfined"));
        assert_eq!(app.capabilities_drop, ["ALL"]);
        assert_eq!(app.selinux_type.as_deref(), Some("container_t"));
        assert!(app.host_pid && !app.host_network);
        assert_eq!(app.automount_service_account_token, Some(false));
        assert!(app.uses_kubernetes_api);
        let side = spec_facts(&pod, "side");
        assert_eq!(side.seccomp_profile.as_deref(), Some("RuntimeDefault"));
        assert_eq!(side.apparmor_profile.as_deref(), Some("Localhost"));
        assert_eq!(side.read_only_root_filesystem, None);
    }
}
