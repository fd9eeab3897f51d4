//! The Pod Security Standards, control by control, as the official admission
//! library (`k8s.io/pod-security-admission`, policy version `latest`) decides
//! them.
//!
//! Each [`Check`] carries the admission library's check id, its level, and
//! which baseline check it replaces at the restricted level (the library's
//! `OverrideCheckIDs`): at `restricted`, `capabilities_restricted` stands in
//! for `capabilities_baseline`, `restrictedVolumes` for `hostPathVolumes`,
//! `seccompProfile_restricted` for `seccompProfile_baseline`, and
//! `procMount_restricted` for `procMount`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::spec::{Container, Handler, PodSpec, SeLinuxOptions, VOLUME_SOURCES};

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    /// Prevents known privilege escalations.
    Baseline,
    /// Hardened pod, current best practice.
    Restricted,
}

impl Level {
    /// `baseline` or `restricted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// Who a violation is about: the pod as a whole or one of its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A pod-level field (host namespaces, volumes, sysctls, …).
    Pod,
    /// A container, init container or ephemeral container, by name.
    Container(&'a str),
}

/// One offending setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation<'a> {
    /// The pod or the container that sets it.
    pub subject: Subject<'a>,
    /// What is set, in the admission library's words where it has them.
    pub detail: Cow<'static, str>,
}

/// The pod as the checks see it: its annotations and its spec.
#[derive(Debug, Clone, Copy)]
pub struct PodView<'a> {
    /// Pod (or pod template) annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// The pod spec.
    pub spec: &'a PodSpec,
}

impl<'a> PodView<'a> {
    /// Init containers, containers, then ephemeral containers: the admission
    /// library's visiting order.
    pub fn containers(&self) -> impl Iterator<Item = &'a Container> {
        let s = self.spec;
        s.init_containers.iter().chain(&s.containers).chain(&s.ephemeral_containers)
    }
}

/// One Pod Security Standards control.
#[derive(Debug)]
pub struct Check {
    /// The admission library's check id (`hostNamespaces`, …).
    pub id: &'static str,
    /// A one-line title.
    pub title: &'static str,
    /// The lowest level that enforces it.
    pub level: Level,
    /// HDF impact.
    pub impact: f64,
    /// NIST SP 800-53 tags.
    pub nist: &'static [&'static str],
    /// The baseline check this one replaces at the restricted level.
    pub overrides: Option<&'static str>,
    /// Push one [`Violation`] per offending pod setting or container.
    pub eval: for<'a> fn(&PodView<'a>, &mut Vec<Violation<'a>>),
}

/// Every check of policy version `latest`, baseline first.
pub const CHECKS: &[Check] = &[
    Check {
        id: "hostNamespaces",
        title: "Pods must not share the host's network, PID or IPC namespace",
        level: Level::Baseline,
        impact: 0.7,
        nist: &["AC-6", "SC-39"],
        overrides: None,
        eval: host_namespaces,
    },
    Check {
        id: "privileged",
        title: "Containers must not run privileged",
        level: Level::Baseline,
        impact: 0.9,
        nist: &["AC-6(10)", "CM-7"],
        overrides: None,
        eval: privileged,
    },
    Check {
        id: "capabilities_baseline",
        title: "Containers must not add capabilities beyond the baseline set",
        level: Level::Baseline,
        impact: 0.7,
        nist: &["AC-6", "CM-7"],
        overrides: None,
        eval: capabilities_baseline,
    },
    Check {
        id: "hostPathVolumes",
        title: "Pods must not mount hostPath volumes",
        level: Level::Baseline,
        impact: 0.7,
        nist: &["AC-6", "SC-39"],
        overrides: None,
        eval: host_path_volumes,
    },
    Check {
        id: "hostPorts",
        title: "Containers must not bind host ports",
        level: Level::Baseline,
        impact: 0.5,
        nist: &["CM-7", "SC-7"],
        overrides: None,
        eval: host_ports,
    },
    Check {
        id: "appArmorProfile",
        title: "AppArmor profiles must be RuntimeDefault or Localhost",
        level: Level::Baseline,
        impact: 0.5,
        nist: &["AC-6", "CM-6"],
        overrides: None,
        eval: app_armor,
    },
    Check {
        id: "seLinuxOptions",
        title: "SELinux options must not set a custom type, user or role",
        level: Level::Baseline,
        impact: 0.5,
        nist: &["AC-6", "CM-6"],
        overrides: None,
        eval: se_linux,
    },
    Check {
        id: "procMount",
        title: "Containers must use the default /proc mount",
        level: Level::Baseline,
        impact: 0.5,
        nist: &["AC-6", "SC-39"],
        overrides: None,
        eval: proc_mount_baseline,
    },
    Check {
        id: "seccompProfile_baseline",
        title: "Seccomp must not be Unconfined",
        level: Level::Baseline,
        impact: 0.5,
        nist: &["AC-6", "CM-7"],
        overrides: None,
        eval: seccomp_baseline,
    },
    Check {
        id: "sysctls",
        title: "Pods may set only the safe sysctls",
        level: Level::Baseline,
        impact: 0.5,
        nist: &["CM-6", "SC-39"],
        overrides: None,
        eval: sysctls,
    },
    Check {
        id: "windowsHostProcess",
        title: "Windows pods must not run as HostProcess",
        level: Level::Baseline,
        impact: 0.9,
        nist: &["AC-6", "SC-39"],
        overrides: None,
        eval: windows_host_process,
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        title: "Probes and lifecycle hooks must not target another host",
        level: Level::Baseline,
        impact: 0.3,
        nist: &["SC-7"],
        overrides: None,
        eval: host_probes,
    },
    Check {
        id: "restrictedVolumes",
        title: "Pods may use only the restricted volume types",
        level: Level::Restricted,
        impact: 0.5,
        nist: &["AC-6", "CM-7"],
        overrides: Some("hostPathVolumes"),
        eval: restricted_volumes,
    },
    Check {
        id: "allowPrivilegeEscalation",
        title: "Containers must set allowPrivilegeEscalation to false",
        level: Level::Restricted,
        impact: 0.7,
        nist: &["AC-6(10)"],
        overrides: None,
        eval: allow_privilege_escalation,
    },
    Check {
        id: "runAsNonRoot",
        title: "Containers must set runAsNonRoot to true",
        level: Level::Restricted,
        impact: 0.7,
        nist: &["AC-6(10)", "CM-6"],
        overrides: None,
        eval: run_as_non_root,
    },
    Check {
        id: "runAsUser",
        title: "Pods and containers must not set runAsUser to 0",
        level: Level::Restricted,
        impact: 0.7,
        nist: &["AC-6(10)", "CM-6"],
        overrides: None,
        eval: run_as_user,
    },
    Check {
        id: "seccompProfile_restricted",
        title: "Seccomp must be RuntimeDefault or Localhost",
        level: Level::Restricted,
        impact: 0.5,
        nist: &["AC-6", "CM-7"],
        overrides: Some("seccompProfile_baseline"),
        eval: seccomp_restricted,
    },
    Check {
        id: "capabilities_restricted",
        title: "Containers must drop ALL capabilities and add only NET_BIND_SERVICE",
        level: Level::Restricted,
        impact: 0.7,
        nist: &["AC-6", "CM-7"],
        overrides: Some("capabilities_baseline"),
        eval: capabilities_restricted,
    },
    Check {
        id: "procMount_restricted",
        title: "Containers must use the default /proc mount, also in user namespaces",
        level: Level::Restricted,
        impact: 0.5,
        nist: &["AC-6", "SC-39"],
        overrides: Some("procMount"),
        eval: proc_mount_restricted,
    },
];

/// The checks that decide `level`: every check of that level or below, less
/// the baseline checks a restricted check replaces.
pub fn checks_for(level: Level) -> impl Iterator<Item = &'static Check> {
    CHECKS.iter().filter(move |c| {
        c.level <= level
            && !(level == Level::Restricted
                && CHECKS.iter().any(|r| r.level == Level::Restricted && r.overrides == Some(c.id)))
    })
}

/// Whether the pod is allowed at `level` (no check of that level objects).
pub fn allowed(pod: &PodView<'_>, level: Level) -> bool {
    let mut found = Vec::new();
    checks_for(level).all(|c| {
        (c.eval)(pod, &mut found);
        found.is_empty()
    })
}

fn container<'a>(c: &'a Container, detail: impl Into<Cow<'static, str>>) -> Violation<'a> {
    Violation { subject: Subject::Container(&c.name), detail: detail.into() }
}

fn pod<'a>(detail: impl Into<Cow<'static, str>>) -> Violation<'a> {
    Violation { subject: Subject::Pod, detail: detail.into() }
}

fn is_windows(p: &PodView<'_>) -> bool {
    p.spec.is_windows()
}

fn host_namespaces<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    for (set, name) in
        [(p.spec.host_network, "hostNetwork"), (p.spec.host_pid, "hostPID"), (p.spec.host_ipc, "hostIPC")]
    {
        if set {
            out.push(pod(format!("{name}=true")));
        }
    }
}

fn privileged<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    for c in p.containers() {
        if c.security_context.as_ref().and_then(|s| s.privileged) == Some(true) {
            out.push(container(c, "securityContext.privileged=true"));
        }
    }
}

/// Capabilities a baseline pod may add.
pub const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn added_capabilities(c: &Container) -> &[String] {
    c.security_context.as_ref().and_then(|s| s.capabilities.as_ref()).map_or(&[], |caps| &caps.add)
}

fn capabilities_baseline<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    for c in p.containers() {
        let bad: Vec<&str> =
            added_capabilities(c).iter().map(String::as_str).filter(|a| !BASELINE_CAPABILITIES.contains(a)).collect();
        if !bad.is_empty() {
            out.push(container(c, format!("adds non-default capabilities {}", bad.join(", "))));
        }
    }
}

fn host_path_volumes<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    for v in p.spec.volumes.iter().filter(|v| v.has("hostPath")) {
        out.push(pod(format!("hostPath volume {:?}", v.name)));
    }
}

fn host_ports<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    for c in p.containers() {
        let ports: Vec<String> = c.ports.iter().filter(|x| x.host_port != 0).map(|x| x.host_port.to_string()).collect();
        if !ports.is_empty() {
            out.push(container(c, format!("hostPort {}", ports.join(", "))));
        }
    }
}

fn app_armor_type_allowed(kind: &str) -> bool {
    matches!(kind, "RuntimeDefault" | "Localhost")
}

fn app_armor<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    if let Some(t) = p.spec.security_context.as_ref().and_then(|s| s.app_armor_profile.as_ref()) {
        if !app_armor_type_allowed(&t.kind) {
            out.push(pod(format!("appArmorProfile.type={:?}", t.kind)));
        }
    }
    for c in p.containers() {
        if let Some(t) = c.security_context.as_ref().and_then(|s| s.app_armor_profile.as_ref()) {
            if !app_armor_type_allowed(&t.kind) {
                out.push(container(c, format!("appArmorProfile.type={:?}", t.kind)));
            }
        }
    }
    const PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
    let from = (std::ops::Bound::Included(PREFIX), std::ops::Bound::Unbounded);
    for (key, value) in p.annotations.range::<str, _>(from).take_while(|(k, _)| k.starts_with(PREFIX)) {
        if !(value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")) {
            out.push(pod(format!("annotation {key}={value:?}")));
        }
    }
}

fn se_linux_problem(o: &SeLinuxOptions) -> Option<String> {
    let mut bad = Vec::new();
    if !matches!(o.kind.as_str(), "" | "container_t" | "container_init_t" | "container_kvm_t" | "container_engine_t") {
        bad.push(format!("type {:?}", o.kind));
    }
    if !o.user.is_empty() {
        bad.push("user may not be set".to_owned());
    }
    if !o.role.is_empty() {
        bad.push("role may not be set".to_owned());
    }
    (!bad.is_empty()).then(|| format!("seLinuxOptions: {}", bad.join("; ")))
}

fn se_linux<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    if let Some(problem) =
        p.spec.security_context.as_ref().and_then(|s| s.se_linux_options.as_ref()).and_then(se_linux_problem)
    {
        out.push(pod(problem));
    }
    for c in p.containers() {
        if let Some(problem) =
            c.security_context.as_ref().and_then(|s| s.se_linux_options.as_ref()).and_then(se_linux_problem)
        {
            out.push(container(c, problem));
        }
    }
}

fn proc_mount_restricted<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    for c in p.containers() {
        if let Some(m) = c.security_context.as_ref().and_then(|s| s.proc_mount.as_deref()) {
            if m != "Default" {
                out.push(container(c, format!("procMount={m:?}")));
            }
        }
    }
}

fn proc_mount_baseline<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    // A pod in its own user namespace may unmask /proc.
    if !p.spec.in_user_namespace() {
        proc_mount_restricted(p, out);
    }
}

fn seccomp_type_allowed(kind: &str) -> bool {
    matches!(kind, "RuntimeDefault" | "Localhost")
}

/// Explicitly bad seccomp settings; returns whether the pod level sets an
/// allowed profile.
fn seccomp_explicit<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) -> bool {
    let mut pod_set = false;
    if let Some(t) = p.spec.security_context.as_ref().and_then(|s| s.seccomp_profile.as_ref()) {
        if seccomp_type_allowed(&t.kind) {
            pod_set = true;
        } else {
            out.push(pod(format!("seccompProfile.type={:?}", t.kind)));
        }
    }
    for c in p.containers() {
        if let Some(t) = c.security_context.as_ref().and_then(|s| s.seccomp_profile.as_ref()) {
            if !seccomp_type_allowed(&t.kind) {
                out.push(container(c, format!("seccompProfile.type={:?}", t.kind)));
            }
        }
    }
    pod_set
}

fn seccomp_baseline<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    seccomp_explicit(p, out);
}

fn seccomp_restricted<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    if is_windows(p) {
        return;
    }
    let pod_set = seccomp_explicit(p, out);
    if pod_set {
        return;
    }
    for c in p.containers() {
        if c.security_context.as_ref().and_then(|s| s.seccomp_profile.as_ref()).is_none() {
            out.push(container(c, "must set securityContext.seccompProfile.type to RuntimeDefault or Localhost"));
        }
    }
}

/// Sysctls a baseline pod may set (policy version `latest`).
pub const SAFE_SYSCTLS: [&str; 14] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

fn sysctls<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    for s in p.spec.security_context.iter().flat_map(|s| &s.sysctls) {
        if !SAFE_SYSCTLS.contains(&s.name.as_str()) {
            out.push(pod(format!("sysctl {}", s.name)));
        }
    }
}

fn windows_host_process<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    if p.spec.security_context.as_ref().and_then(|s| s.windows_options.as_ref()).and_then(|w| w.host_process)
        == Some(true)
    {
        out.push(pod("windowsOptions.hostProcess=true"));
    }
    for c in p.containers() {
        if c.security_context.as_ref().and_then(|s| s.windows_options.as_ref()).and_then(|w| w.host_process)
            == Some(true)
        {
            out.push(container(c, "windowsOptions.hostProcess=true"));
        }
    }
}

fn handler_hosts(h: Option<&Handler>) -> impl Iterator<Item = &str> {
    h.into_iter()
        .flat_map(|h| [h.http_get.as_ref(), h.tcp_socket.as_ref()])
        .flatten()
        .map(|f| f.host.as_str())
        .filter(|host| !host.is_empty())
}

fn host_probes<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    for c in p.containers() {
        let lifecycle = c.lifecycle.as_ref();
        let handlers = [
            c.liveness_probe.as_ref(),
            c.readiness_probe.as_ref(),
            c.startup_probe.as_ref(),
            lifecycle.and_then(|l| l.post_start.as_ref()),
            lifecycle.and_then(|l| l.pre_stop.as_ref()),
        ];
        if handlers.iter().all(|h| handler_hosts(*h).next().is_none()) {
            continue;
        }
        let hosts: Vec<&str> = handlers.into_iter().flat_map(handler_hosts).collect();
        out.push(container(c, format!("probe or lifecycle host {}", hosts.join(", "))));
    }
}

fn restricted_volumes<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    use super::spec::ALLOWED_VOLUME_SOURCES;
    for v in &p.spec.volumes {
        let allowed_mask = (1u32 << ALLOWED_VOLUME_SOURCES) - 1;
        if v.sources & allowed_mask != 0 {
            continue;
        }
        let kind = (ALLOWED_VOLUME_SOURCES..VOLUME_SOURCES.len())
            .find(|i| v.sources & (1 << i) != 0)
            .map_or("unknown", |i| VOLUME_SOURCES[i]);
        out.push(pod(format!("volume {:?} uses restricted volume type {kind}", v.name)));
    }
}

fn allow_privilege_escalation<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    if is_windows(p) {
        return;
    }
    for c in p.containers() {
        if c.security_context.as_ref().and_then(|s| s.allow_privilege_escalation) != Some(false) {
            out.push(container(c, "must set securityContext.allowPrivilegeEscalation=false"));
        }
    }
}

fn run_as_non_root<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    if p.spec.in_user_namespace() {
        return;
    }
    let pod_value = p.spec.security_context.as_ref().and_then(|s| s.run_as_non_root);
    if pod_value == Some(false) {
        out.push(pod("runAsNonRoot=false"));
    }
    let mut explicit = !out.is_empty();
    let mut implicit = Vec::new();
    for c in p.containers() {
        match c.security_context.as_ref().and_then(|s| s.run_as_non_root) {
            Some(false) => {
                explicit = true;
                out.push(container(c, "runAsNonRoot=false"));
            }
            Some(true) => {}
            None if pod_value != Some(true) => implicit.push(c),
            None => {}
        }
    }
    // As in the admission library, implicit gaps are reported only when
    // nothing is explicitly wrong; either way the pod is not allowed.
    if !explicit {
        out.extend(
            implicit.into_iter().map(|c| container(c, "pod or container must set securityContext.runAsNonRoot=true")),
        );
    }
}

fn run_as_user<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    if p.spec.in_user_namespace() {
        return;
    }
    if p.spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0) {
        out.push(pod("runAsUser=0"));
    }
    for c in p.containers() {
        if c.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0) {
            out.push(container(c, "runAsUser=0"));
        }
    }
}

fn capabilities_restricted<'a>(p: &PodView<'a>, out: &mut Vec<Violation<'a>>) {
    if is_windows(p) {
        return;
    }
    for c in p.containers() {
        let Some(caps) = c.security_context.as_ref().and_then(|s| s.capabilities.as_ref()) else {
            out.push(container(c, "must set securityContext.capabilities.drop=[\"ALL\"]"));
            continue;
        };
        let mut problems = Vec::new();
        if !caps.drop.iter().any(|d| d == "ALL") {
            problems.push(Cow::Borrowed("must set securityContext.capabilities.drop=[\"ALL\"]"));
        }
        let added: Vec<&str> = caps.add.iter().map(String::as_str).filter(|a| *a != "NET_BIND_SERVICE").collect();
        if !added.is_empty() {
            problems.push(Cow::Owned(format!("must not add {}", added.join(", "))));
        }
        if problems.len() == 1 {
            out.push(container(c, problems.remove(0)));
        } else if !problems.is_empty() {
            out.push(container(c, problems.join("; ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::spec::RawObject;

    fn spec(json: &str) -> PodSpec {
        let o: RawObject = serde_json::from_str(&format!(r#"{{"kind":"Pod","spec":{json}}}"#)).unwrap();
        o.spec.unwrap()
    }

    fn run(id: &str, json: &str) -> Vec<Violation<'static>> {
        run_with(id, json, &BTreeMap::new())
    }

    fn run_with(id: &str, json: &str, annotations: &BTreeMap<String, String>) -> Vec<Violation<'static>> {
        // Violations borrow the spec's container names: the test's spec lives on.
        let s: &'static PodSpec = Box::leak(Box::new(spec(json)));
        let annotations: &'static BTreeMap<String, String> = Box::leak(Box::new(annotations.clone()));
        let check = CHECKS.iter().find(|c| c.id == id).unwrap();
        let mut out = Vec::new();
        (check.eval)(&PodView { annotations, spec: s }, &mut out);
        out
    }

    fn subjects(v: &[Violation]) -> Vec<String> {
        v.iter()
            .map(|v| match &v.subject {
                Subject::Pod => "pod".to_owned(),
                Subject::Container(c) => (*c).to_owned(),
            })
            .collect()
    }

    const HARDENED: &str = r#"{"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false,
        "capabilities":{"drop":["ALL"]},"seccompProfile":{"type":"RuntimeDefault"}}}"#;

    #[test]
    fn restricted_overrides_replace_their_baseline_checks() {
        let ids: Vec<&str> = checks_for(Level::Restricted).map(|c| c.id).collect();
        for replaced in ["capabilities_baseline", "hostPathVolumes", "seccompProfile_baseline", "procMount"] {
            assert!(!ids.contains(&replaced), "{replaced}");
        }
        assert_eq!(checks_for(Level::Baseline).count(), 12);
        assert_eq!(ids.len(), 15);
    }

    #[test]
    fn init_and_ephemeral_containers_are_checked() {
        let v = run(
            "privileged",
            r#"{"initContainers":[{"name":"i","securityContext":{"privileged":true}}],
                "containers":[{"name":"c"}],
                "ephemeralContainers":[{"name":"e","securityContext":{"privileged":true}}]}"#,
        );
        assert_eq!(subjects(&v), ["i", "e"]);
    }

    #[test]
    fn run_as_non_root_pod_vs_container_context() {
        // Pod says true; the container overrides with false.
        let v = run(
            "runAsNonRoot",
            r#"{"securityContext":{"runAsNonRoot":true},
                "containers":[{"name":"a"},{"name":"b","securityContext":{"runAsNonRoot":false}}]}"#,
        );
        assert_eq!(subjects(&v), ["b"]);
        // Neither says: every container is implicitly bad.
        let v = run("runAsNonRoot", r#"{"containers":[{"name":"a"},{"name":"b"}]}"#);
        assert_eq!(subjects(&v), ["a", "b"]);
        // Container sets it, pod does not.
        assert!(
            run("runAsNonRoot", r#"{"containers":[{"name":"a","securityContext":{"runAsNonRoot":true}}]}"#).is_empty()
        );
        // hostUsers: false exempts runAsNonRoot and runAsUser (but not at 1.34 and older).
        assert!(run("runAsNonRoot", r#"{"hostUsers":false,"containers":[{"name":"a"}]}"#).is_empty());
        assert!(run("runAsUser", r#"{"hostUsers":false,"securityContext":{"runAsUser":0},"containers":[]}"#).is_empty());
        assert_eq!(subjects(&run("runAsUser", r#"{"securityContext":{"runAsUser":0},"containers":[]}"#)), ["pod"]);
    }

    #[test]
    fn host_users_false_relaxes_baseline_proc_mount_only() {
        let json = r#"{"hostUsers":false,"containers":[{"name":"a","securityContext":{"procMount":"Unmasked"}}]}"#;
        assert!(run("procMount", json).is_empty());
        assert_eq!(subjects(&run("procMount_restricted", json)), ["a"]);
    }

    #[test]
    fn capabilities_and_windows_exemptions() {
        let v = run(
            "capabilities_baseline",
            r#"{"containers":[{"name":"a","securityContext":{"capabilities":{"add":["CHOWN","SYS_ADMIN"]}}}]}"#,
        );
        assert_eq!(v[0].detail, "adds non-default capabilities SYS_ADMIN");
        let net = r#"{"containers":[{"name":"a","securityContext":{"capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}}}]}"#;
        assert!(run("capabilities_restricted", net).is_empty());
        let win = r#"{"os":{"name":"windows"},"containers":[{"name":"a"}]}"#;
        assert!(run("capabilities_restricted", win).is_empty());
        assert!(run("allowPrivilegeEscalation", win).is_empty());
        assert!(run("seccompProfile_restricted", win).is_empty());
    }

    #[test]
    fn seccomp_volumes_sysctls_apparmor_probes() {
        assert!(run(
            "seccompProfile_restricted",
            r#"{"securityContext":{"seccompProfile":{"type":"Localhost"}},"containers":[{"name":"a"}]}"#
        )
        .is_empty());
        assert_eq!(
            subjects(&run(
                "seccompProfile_baseline",
                r#"{"containers":[{"name":"a","securityContext":{"seccompProfile":{"type":"Unconfined"}}}]}"#
            )),
            ["a"]
        );
        let v = run(
            "restrictedVolumes",
            r#"{"volumes":[{"name":"h","hostPath":{"path":"/"}},{"name":"e","emptyDir":{}},{"name":"x","flexVolume":{}}]}"#,
        );
        assert_eq!(v.len(), 2);
        assert!(v[0].detail.contains("hostPath") && v[1].detail.contains("flexVolume"));
        assert_eq!(
            run(
                "sysctls",
                r#"{"securityContext":{"sysctls":[{"name":"net.ipv4.tcp_syncookies"},{"name":"kernel.msgmax"}]}}"#
            )
            .len(),
            1
        );
        let mut ann = BTreeMap::new();
        ann.insert("container.apparmor.security.beta.kubernetes.io/a".to_owned(), "unconfined".to_owned());
        ann.insert("container.apparmor.security.beta.kubernetes.io/b".to_owned(), "localhost/x".to_owned());
        assert_eq!(run_with("appArmorProfile", r#"{"containers":[]}"#, &ann).len(), 1);
        assert_eq!(
            subjects(&run(
                "hostProbesAndHostLifecycle",
                r#"{"containers":[{"name":"a","livenessProbe":{"httpGet":{"host":"10.0.0.1"}}}]}"#
            )),
            ["a"]
        );
        assert_eq!(run("seLinuxOptions", r#"{"securityContext":{"seLinuxOptions":{"type":"spc_t"}}}"#).len(), 1);
    }

    #[test]
    fn a_hardened_pod_is_restricted() {
        let s = spec(&format!(r#"{{"containers":[{{"name":"a",{}}}]}}"#, &HARDENED[1..HARDENED.len() - 1]));
        let empty = BTreeMap::new();
        let view = PodView { annotations: &empty, spec: &s };
        assert!(allowed(&view, Level::Restricted));
        let s = spec(r#"{"hostPID":true,"containers":[{"name":"a"}]}"#);
        let view = PodView { annotations: &empty, spec: &s };
        assert!(!allowed(&view, Level::Baseline));
    }
}
