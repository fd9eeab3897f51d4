//! What the target's pod spec asks of the kernel, as the engine compares it
//! with what the kernel applied ("spec versus reality").
//!
//! `kscan` reads the pod with the run's scoped identity and reduces it to
//! these fields for the scanned container (the container's
//! `securityContext` over the pod's, field by field, as the kubelet applies
//! them); the agent receives them through the protocol as JSON. A field
//! the spec leaves out is `None`/empty: the runtime control then says only
//! what the kernel did.

use serde::{Deserialize, Serialize};

/// The hardening a pod spec asks for one container, and the pod-level
/// settings the runtime controls compare against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpecFacts {
    /// `namespace/pod`, to name the spec in messages.
    pub pod: String,
    /// `securityContext.readOnlyRootFilesystem`.
    pub read_only_root_filesystem: Option<bool>,
    /// `securityContext.allowPrivilegeEscalation`.
    pub allow_privilege_escalation: Option<bool>,
    /// `securityContext.privileged`.
    pub privileged: Option<bool>,
    /// `seccompProfile.type` (container over pod): `RuntimeDefault`,
    /// `Localhost` or `Unconfined`.
    pub seccomp_profile: Option<String>,
    /// `capabilities.add`, as written (`NET_BIND_SERVICE`).
    pub capabilities_add: Vec<String>,
    /// `capabilities.drop`, as written (`ALL`, `NET_RAW`).
    pub capabilities_drop: Vec<String>,
    /// `appArmorProfile.type` (container over pod, or the
    /// `container.apparmor.security.beta.kubernetes.io/<c>` annotation):
    /// `RuntimeDefault`, `Localhost` or `Unconfined`.
    pub apparmor_profile: Option<String>,
    /// `seLinuxOptions.type` (container over pod).
    pub selinux_type: Option<String>,
    /// `hostNetwork`.
    pub host_network: bool,
    /// `hostPID`.
    pub host_pid: bool,
    /// `hostIPC`.
    pub host_ipc: bool,
    /// `automountServiceAccountToken` of the pod.
    pub automount_service_account_token: Option<bool>,
    /// The pod says the workload calls the Kubernetes API (annotation
    /// [`USES_API_ANNOTATION`] is `"true"`), so a mounted token is expected.
    pub uses_kubernetes_api: bool,
}

/// The pod annotation that declares a workload needs its service account
/// token (it calls the Kubernetes API).
pub const USES_API_ANNOTATION: &str = "kscan.dev/uses-kubernetes-api";

impl PodSpecFacts {
    /// Whether the spec drops capability `name` (or ALL).
    pub fn drops(&self, name: &str) -> bool {
        let bare = |c: &str| c.trim_start_matches("CAP_").to_ascii_uppercase();
        self.capabilities_drop.iter().any(|d| bare(d) == "ALL" || bare(d) == bare(name))
    }

    /// Whether the spec adds capability `name`.
    pub fn adds(&self, name: &str) -> bool {
        let bare = |c: &str| c.trim_start_matches("CAP_").to_ascii_uppercase();
        self.capabilities_add.iter().any(|a| bare(a) == bare(name))
    }

    /// The JSON the protocol carries.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse the protocol's JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_compare_without_prefix_or_case() {
        let spec = PodSpecFacts {
            capabilities_drop: vec!["NET_RAW".into()],
            capabilities_add: vec!["net_bind_service".into()],
            ..Default::default()
        };
        assert!(spec.drops("CAP_NET_RAW"));
        assert!(!spec.drops("CAP_CHOWN"));
        assert!(spec.adds("CAP_NET_BIND_SERVICE"));
        let all = PodSpecFacts { capabilities_drop: vec!["ALL".into()], ..Default::default() };
        assert!(all.drops("CAP_SYS_ADMIN"));
        assert_eq!(PodSpecFacts::from_json(&all.to_json()).unwrap(), all);
        assert_eq!(PodSpecFacts::from_json("{}").unwrap(), PodSpecFacts::default());
    }
}
