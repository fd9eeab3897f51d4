//! The parts of Kubernetes objects that posture reads, as light serde types.
//!
//! Only the fields the checks need are declared; everything else is skipped
//! while parsing, so a 10,000-pod manifest costs little memory. Field
//! semantics follow the Go API types the admission library decodes into:
//! `null` means "not set" everywhere (Go's nil pointer, nil slice, zero
//! bool), and keys are case-sensitive as in the API server's decoder.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// `null` or absent → `T::default()`, as Go's decoder leaves a nil slice or a
/// zero value.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One object of a manifest or an API list: any kind, with the fields a
/// pod-bearing kind may have.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawObject {
    /// `v1`, `apps/v1`, …
    #[serde(default, deserialize_with = "nullable")]
    pub api_version: String,
    /// `Pod`, `Deployment`, `List`, …
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    /// Object metadata.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    /// The spec: a pod spec (Pod) or a workload spec with a template.
    #[serde(default)]
    pub spec: Option<PodSpec>,
    /// A `PodTemplate`'s template (top level, not under `spec`).
    #[serde(default)]
    pub template: Option<Box<PodTemplateSpec>>,
    /// A `List`'s (or `PodList`'s, …) items.
    #[serde(default, deserialize_with = "nullable")]
    pub items: Vec<RawObject>,
}

/// Object metadata: identity, owner, and the annotations two checks read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `metadata.generateName`, used when there is no name.
    #[serde(default, deserialize_with = "nullable")]
    pub generate_name: String,
    /// `metadata.namespace`.
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
    /// `metadata.annotations` (AppArmor annotations are checked).
    #[serde(default, deserialize_with = "nullable")]
    pub annotations: BTreeMap<String, String>,
    /// `metadata.ownerReferences`.
    #[serde(default, deserialize_with = "nullable")]
    pub owner_references: Vec<OwnerReference>,
}

/// An owner reference; only whether it is the managing controller matters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// Kind of the owner.
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    /// Name of the owner.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Whether the owner is the managing controller.
    #[serde(default, deserialize_with = "nullable")]
    pub controller: bool,
}

/// A pod template: metadata (annotations) and spec.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// Template metadata.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    /// Template spec.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: PodSpec,
}

/// A CronJob's `jobTemplate`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplateSpec {
    /// The Job spec (only its `template` is read).
    #[serde(default, deserialize_with = "nullable")]
    pub spec: PodSpec,
}

/// The pod spec fields the checks read, plus the two fields through which a
/// workload's `spec` holds its pod template. A Pod's spec, a workload's spec
/// and a Job spec share this one type so that `spec` parses in one pass,
/// whatever order `kind` and `spec` come in (no buffering).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// A workload's pod template (`spec.template`).
    #[serde(default)]
    pub template: Option<Box<PodTemplateSpec>>,
    /// A CronJob's job template (`spec.jobTemplate`).
    #[serde(default)]
    pub job_template: Option<Box<JobTemplateSpec>>,
    /// `initContainers`.
    #[serde(default, deserialize_with = "nullable")]
    pub init_containers: Vec<Container>,
    /// `containers`.
    #[serde(default, deserialize_with = "nullable")]
    pub containers: Vec<Container>,
    /// `ephemeralContainers`.
    #[serde(default, deserialize_with = "nullable")]
    pub ephemeral_containers: Vec<Container>,
    /// `hostNetwork`.
    #[serde(default, deserialize_with = "nullable")]
    pub host_network: bool,
    /// `hostPID`.
    #[serde(default, rename = "hostPID", deserialize_with = "nullable")]
    pub host_pid: bool,
    /// `hostIPC`.
    #[serde(default, rename = "hostIPC", deserialize_with = "nullable")]
    pub host_ipc: bool,
    /// `hostUsers`: `Some(false)` runs the pod in a user namespace.
    #[serde(default)]
    pub host_users: Option<bool>,
    /// `os`.
    #[serde(default)]
    pub os: Option<PodOs>,
    /// Pod-level security context.
    #[serde(default)]
    pub security_context: Option<PodSecurityContext>,
    /// Volumes.
    #[serde(default, deserialize_with = "nullable")]
    pub volumes: Vec<Volume>,
}

impl PodSpec {
    /// Whether `spec.os.name` is `windows`.
    pub fn is_windows(&self) -> bool {
        self.os.as_ref().is_some_and(|os| os.name == "windows")
    }

    /// `hostUsers: false`: the pod runs in its own user namespace.
    pub fn in_user_namespace(&self) -> bool {
        self.host_users == Some(false)
    }
}

/// `spec.os`.
#[derive(Debug, Default, Deserialize)]
pub struct PodOs {
    /// `linux` or `windows`.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// A container, init container or ephemeral container (the fields the
/// checks read are common to all three).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Image reference.
    #[serde(default, deserialize_with = "nullable")]
    pub image: String,
    /// Ports (`hostPort`).
    #[serde(default, deserialize_with = "nullable")]
    pub ports: Vec<ContainerPort>,
    /// Container security context.
    #[serde(default)]
    pub security_context: Option<SecurityContext>,
    /// Liveness probe.
    #[serde(default)]
    pub liveness_probe: Option<Handler>,
    /// Readiness probe.
    #[serde(default)]
    pub readiness_probe: Option<Handler>,
    /// Startup probe.
    #[serde(default)]
    pub startup_probe: Option<Handler>,
    /// Lifecycle hooks.
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
}

/// A container port.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// `hostPort`; 0 or absent means none.
    #[serde(default, deserialize_with = "nullable")]
    pub host_port: i64,
}

/// A probe or lifecycle handler: only the `host` of `httpGet`/`tcpSocket`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handler {
    /// `httpGet`.
    #[serde(default)]
    pub http_get: Option<HostField>,
    /// `tcpSocket`.
    #[serde(default)]
    pub tcp_socket: Option<HostField>,
}

/// The `host` of an HTTP GET or TCP socket action.
#[derive(Debug, Default, Deserialize)]
pub struct HostField {
    /// `host`; empty means the pod IP.
    #[serde(default, deserialize_with = "nullable")]
    pub host: String,
}

/// Lifecycle hooks.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// `postStart`.
    #[serde(default)]
    pub post_start: Option<Handler>,
    /// `preStop`.
    #[serde(default)]
    pub pre_stop: Option<Handler>,
}

/// Container `securityContext`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// `privileged`.
    #[serde(default)]
    pub privileged: Option<bool>,
    /// `allowPrivilegeEscalation`.
    #[serde(default)]
    pub allow_privilege_escalation: Option<bool>,
    /// `capabilities`.
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
    /// `runAsNonRoot`.
    #[serde(default)]
    pub run_as_non_root: Option<bool>,
    /// `runAsUser`.
    #[serde(default)]
    pub run_as_user: Option<i64>,
    /// `seccompProfile`.
    #[serde(default)]
    pub seccomp_profile: Option<ProfileType>,
    /// `appArmorProfile`.
    #[serde(default)]
    pub app_armor_profile: Option<ProfileType>,
    /// `seLinuxOptions`.
    #[serde(default, rename = "seLinuxOptions")]
    pub se_linux_options: Option<SeLinuxOptions>,
    /// `procMount`.
    #[serde(default)]
    pub proc_mount: Option<String>,
    /// `windowsOptions`.
    #[serde(default)]
    pub windows_options: Option<WindowsOptions>,
}

/// Pod `securityContext`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    /// `runAsNonRoot`.
    #[serde(default)]
    pub run_as_non_root: Option<bool>,
    /// `runAsUser`.
    #[serde(default)]
    pub run_as_user: Option<i64>,
    /// `seccompProfile`.
    #[serde(default)]
    pub seccomp_profile: Option<ProfileType>,
    /// `appArmorProfile`.
    #[serde(default)]
    pub app_armor_profile: Option<ProfileType>,
    /// `seLinuxOptions`.
    #[serde(default, rename = "seLinuxOptions")]
    pub se_linux_options: Option<SeLinuxOptions>,
    /// `sysctls`.
    #[serde(default, deserialize_with = "nullable")]
    pub sysctls: Vec<Sysctl>,
    /// `windowsOptions`.
    #[serde(default)]
    pub windows_options: Option<WindowsOptions>,
}

/// `capabilities`.
#[derive(Debug, Default, Deserialize)]
pub struct Capabilities {
    /// `add`.
    #[serde(default, deserialize_with = "nullable")]
    pub add: Vec<String>,
    /// `drop`.
    #[serde(default, deserialize_with = "nullable")]
    pub drop: Vec<String>,
}

/// A seccomp or AppArmor profile: only its `type`.
#[derive(Debug, Default, Deserialize)]
pub struct ProfileType {
    /// `type`; empty when absent (which the admission library rejects).
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub kind: String,
}

/// `seLinuxOptions`.
#[derive(Debug, Default, Deserialize)]
pub struct SeLinuxOptions {
    /// `type`.
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    /// `user`.
    #[serde(default, deserialize_with = "nullable")]
    pub user: String,
    /// `role`.
    #[serde(default, deserialize_with = "nullable")]
    pub role: String,
}

/// `windowsOptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowsOptions {
    /// `hostProcess`.
    #[serde(default)]
    pub host_process: Option<bool>,
    /// `runAsUserName`.
    #[serde(default)]
    pub run_as_user_name: Option<String>,
}

/// A sysctl: only its name matters.
#[derive(Debug, Default, Deserialize)]
pub struct Sysctl {
    /// `name`.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// The volume source types of the Kubernetes API (`VolumeSource`), in the
/// order the admission library tests them when it names a restricted type.
pub const VOLUME_SOURCES: [&str; 30] = [
    // Allowed by the restricted level.
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
    // Not allowed, in the order of the admission library's type switch.
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

/// How many of [`VOLUME_SOURCES`] the restricted level allows (the first ones).
pub const ALLOWED_VOLUME_SOURCES: usize = 9;

/// A volume: its name and which known source types are set (non-null).
/// Unknown keys are ignored, as Go's decoder ignores them.
#[derive(Debug, Default)]
pub struct Volume {
    /// `name`.
    pub name: String,
    /// Bit `i` set when `VOLUME_SOURCES[i]` is present and not null.
    pub sources: u32,
}

impl Volume {
    /// Whether source type `name` (one of [`VOLUME_SOURCES`]) is set.
    pub fn has(&self, name: &str) -> bool {
        VOLUME_SOURCES.iter().position(|s| *s == name).is_some_and(|i| self.sources & (1 << i) != 0)
    }
}

impl<'de> Deserialize<'de> for Volume {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Volume;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a volume (a mapping with `name` and one source)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Volume, A::Error> {
                let mut volume = Volume::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "name" {
                        volume.name = map.next_value::<Option<String>>()?.unwrap_or_default();
                    } else if let Some(i) = VOLUME_SOURCES.iter().position(|s| *s == key) {
                        if map.next_value::<Option<serde::de::IgnoredAny>>()?.is_some() {
                            volume.sources |= 1 << i;
                        }
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(volume)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_mean_unset_as_in_go() {
        let o: RawObject = serde_json::from_str(
            r#"{"kind":"Pod","metadata":{"name":"p","annotations":null},
                "spec":{"containers":null,"hostNetwork":null,"securityContext":null,
                        "volumes":[{"name":"v","hostPath":null,"emptyDir":{}}]}}"#,
        )
        .unwrap();
        let spec = o.spec.unwrap();
        assert!(spec.containers.is_empty());
        assert!(!spec.host_network);
        assert!(spec.security_context.is_none());
        assert!(!spec.volumes[0].has("hostPath"));
        assert!(spec.volumes[0].has("emptyDir"));
    }

    #[test]
    fn workload_and_cronjob_templates_parse_in_one_type() {
        let o: RawObject = serde_json::from_str(
            r#"{"spec":{"jobTemplate":{"spec":{"template":{"metadata":{"annotations":{"a":"b"}},
                 "spec":{"containers":[{"name":"c","image":"i"}]}}}}},"kind":"CronJob"}"#,
        )
        .unwrap();
        let tpl = o.spec.unwrap().job_template.unwrap().spec.template.unwrap();
        assert_eq!(tpl.spec.containers[0].name, "c");
        assert_eq!(tpl.metadata.annotations["a"], "b");
    }
}
