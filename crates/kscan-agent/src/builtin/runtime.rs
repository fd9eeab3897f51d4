//! Runtime-observed controls: what the kernel applied to the running
//! container — seccomp, no_new_privs, capabilities, mounts, namespaces, the
//! LSM label — and what the container's filesystem exposes (a service
//! account token, private keys). Pod-spec scanners read what was asked;
//! these read `/proc/<pid>/status`, `mountinfo`, `ns/*` and `attr/*` of the
//! main process, so they see what was applied.
//!
//! **Spec versus reality.** When the engine knows the pod spec
//! ([`PodSpecFacts`]) and the spec asks for a setting
//! (`readOnlyRootFilesystem`, `allowPrivilegeEscalation: false`, a seccomp
//! profile, dropped capabilities, an AppArmor/SELinux profile, no token),
//! the control adds a result of its own: passed when the kernel applied it,
//! failed — naming both the spec and what the kernel reports — when not.
//!
//! The same controls exist in `profiles/container-baseline/controls/runtime.rb`
//! (without the spec comparison, which needs the pod).

use super::checks::{unreadable_processes, Check};
use super::facts::{Fact, Facts};
use super::outcome::{error, fail, pass, skip};
use crate::hdf::TestResult;
use crate::probe::proc::{capability_names, Process, CAPABILITY_NAMES};
use crate::probe::runtime::{is_initial_namespace, mount_of, parse_mountinfo, Mount, RuntimeView};
use crate::spec::PodSpecFacts;

/// The InSpec file of these controls.
const FILE: &str = "runtime.rb";

/// `CAP_NET_BIND_SERVICE`, the one capability Pod Security `restricted`
/// lets a container add.
const NET_BIND_SERVICE: u32 = 10;

/// The CIS Kubernetes Benchmark version the section numbers refer to.
pub const CIS_KUBERNETES: &str = "CIS Kubernetes Benchmark 1.8.0";
/// The CIS Docker Benchmark version the section numbers refer to.
pub const CIS_DOCKER: &str = "CIS Docker Benchmark 1.2.0";
/// The NSA/CISA guide the section names refer to.
pub const NSA_CISA: &str = "NSA/CISA Kubernetes Hardening Guidance 1.2";

/// The runtime controls, in report order.
pub const CHECKS: &[Check] = &[
    Check {
        id: "kscan-seccomp-applied",
        title: "The kernel confines the main process with a seccomp filter",
        impact: 0.5,
        nist: &["AC-6", "CM-7", "SC-39"],
        desc: "Without seccomp every system call of the kernel is open to the container: the kernel's whole attack surface, including calls no workload needs (keyctl, bpf, unshare).",
        check: "The Seccomp field of /proc/<pid>/status of the container's main process is 2 (filter) or 1 (strict), not 0 (disabled). When the pod spec asks for a seccomp profile, a result says whether the kernel applied it.",
        fix: "Set securityContext.seccompProfile.type: RuntimeDefault (or a Localhost profile) on the pod or the container; do not run the container privileged, which disables seccomp.",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.7.2"),
            ("cis_docker", "5.21"),
            ("nsa_cisa", "Hardening container environments: seccomp"),
            ("pss", "restricted: Seccomp"),
        ],
        run: seccomp_applied,
    },
    Check {
        id: "kscan-no-new-privileges",
        title: "The main process cannot gain privileges through execve (no_new_privs)",
        impact: 0.5,
        nist: &["AC-6(10)"],
        desc: "Without no_new_privs a setuid or file-capability binary in the image turns a compromised process into root, or into a holder of the capabilities the binary carries.",
        check: "The NoNewPrivs field of /proc/<pid>/status of the main process is 1. When the pod spec sets allowPrivilegeEscalation: false, a result says whether the kernel applied it.",
        fix: "Set securityContext.allowPrivilegeEscalation: false on the container (the kubelet then sets no_new_privs).",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.2.6"),
            ("cis_docker", "5.25"),
            ("nsa_cisa", "Pod security: non-root containers"),
            ("pss", "restricted: Privilege Escalation"),
        ],
        run: no_new_privileges,
    },
    Check {
        id: "kscan-capabilities-restricted",
        title: "No process holds a capability beyond NET_BIND_SERVICE, and the bounding set allows no more",
        impact: 0.7,
        nist: &["AC-6", "CM-7"],
        desc: "Pod Security restricted drops every capability but NET_BIND_SERVICE. Capabilities in the effective set are root's powers in pieces; those in the bounding set are what a setuid or file-capability binary can still hand out.",
        check: "No process of the container has a bit other than CAP_NET_BIND_SERVICE in CapEff, and the main process's CapBnd holds no other bit. When the pod spec drops capabilities, a result says whether the kernel removed them from the bounding set.",
        fix: "Set securityContext.capabilities.drop: [ALL] and add back only NET_BIND_SERVICE if the workload binds a port below 1024; do not run the container privileged.",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.2.9"),
            ("cis_kubernetes", "5.2.10"),
            ("cis_docker", "5.3"),
            ("nsa_cisa", "Pod security: non-root containers"),
            ("pss", "restricted: Capabilities"),
        ],
        run: capabilities_restricted,
    },
    Check {
        id: "kscan-root-filesystem-read-only",
        title: "The container's root filesystem is mounted read-only",
        impact: 0.5,
        nist: &["CM-5", "SI-7"],
        desc: "A writable root filesystem lets an attacker replace the image's binaries and libraries in the running container and leave tools behind.",
        check: "The mount at / in the main process's /proc/<pid>/mountinfo is read-only. When the pod spec sets readOnlyRootFilesystem: true, a result says whether the kernel applied it.",
        fix: "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the workload must write.",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.7.3"),
            ("cis_docker", "5.12"),
            ("nsa_cisa", "Pod security: immutable container file systems"),
        ],
        run: root_filesystem_read_only,
    },
    Check {
        id: "kscan-kernel-interfaces-read-only",
        title: "/proc/sys, /proc/sysrq-trigger, /sys and /sys/fs/cgroup are read-only in the container",
        impact: 0.7,
        nist: &["AC-6", "SC-39"],
        desc: "Writable kernel interfaces let a container change the node's kernel settings, trigger sysrq and reconfigure cgroups: what a privileged container or an unmasked procMount allows.",
        check: "Each of these paths resolves, in the main process's mountinfo, to a read-only mount.",
        fix: "Do not run the container privileged and keep procMount: Default; a runtime mounts these read-only for every other container.",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.2.2"),
            ("cis_docker", "5.4"),
            ("nsa_cisa", "Pod security: privileged containers"),
            ("pss", "baseline: Privileged Containers"),
            ("pss", "baseline: /proc Mount Type"),
        ],
        run: kernel_interfaces_read_only,
    },
    Check {
        id: "kscan-no-host-namespaces",
        title: "The container does not share the node's PID, IPC, network or UTS namespace",
        impact: 0.7,
        nist: &["AC-6", "SC-39"],
        desc: "A container in the node's PID namespace sees and signals the node's processes; in its IPC namespace it reaches the node's shared memory; in its network namespace it binds the node's interfaces and reaches services on loopback.",
        check: "The namespace ids (/proc/<pid>/ns/*) of the main process are not the kernel's initial namespaces (fixed inode numbers in include/linux/proc_ns.h; net from Linux 6.18). hostNetwork also shares the node's UTS namespace, so it shows on any kernel. A pod spec that sets hostNetwork, hostPID or hostIPC fails too, whatever the runtime shows.",
        fix: "Remove hostPID, hostIPC and hostNetwork from the pod spec.",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.2.3"),
            ("cis_kubernetes", "5.2.4"),
            ("cis_kubernetes", "5.2.5"),
            ("cis_docker", "5.9"),
            ("cis_docker", "5.15"),
            ("cis_docker", "5.16"),
            ("cis_docker", "5.20"),
            ("nsa_cisa", "Pod security: host namespaces"),
            ("pss", "baseline: Host Namespaces"),
        ],
        run: no_host_namespaces,
    },
    Check {
        id: "kscan-lsm-profile-applied",
        title: "The main process runs under an enforcing AppArmor or SELinux profile where the node has one",
        impact: 0.5,
        nist: &["AC-3", "AC-6"],
        desc: "AppArmor and SELinux confine what a process may touch beyond file permissions; unconfined, a container escape meets no mandatory access control.",
        check: "The main process's /proc/<pid>/attr/apparmor/current (or attr/current) names an AppArmor profile in enforce mode, or attr/current an SELinux type other than unconfined_t or spc_t. On a node with neither LSM the control is skipped, unless the pod spec asks for a profile nothing could apply.",
        fix: "Keep the runtime's default profile (appArmorProfile.type: RuntimeDefault, a container_t SELinux type); never Unconfined or spc_t.",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.7.3"),
            ("cis_docker", "5.1"),
            ("cis_docker", "5.2"),
            ("nsa_cisa", "Hardening container environments: AppArmor, SELinux"),
            ("pss", "baseline: AppArmor"),
            ("pss", "baseline: SELinux"),
        ],
        run: lsm_profile_applied,
    },
    Check {
        id: "kscan-no-service-account-token",
        title: "No service account token is mounted into a container that does not call the API",
        impact: 0.5,
        nist: &["AC-6", "IA-5"],
        desc: "A mounted token is the pod's identity towards the API server: whoever reads it acts with the pod's permissions, from inside or outside the cluster.",
        check: "Neither /var/run/secrets/kubernetes.io/serviceaccount/token nor /run/secrets/kubernetes.io/serviceaccount/token exists, unless the pod declares with the annotation kscan.dev/uses-kubernetes-api: \"true\" that it calls the API. When the pod spec sets automountServiceAccountToken: false, a result says whether a token is mounted anyway.",
        fix: "Set automountServiceAccountToken: false on the pod (or its ServiceAccount); for a workload that calls the API, annotate the pod kscan.dev/uses-kubernetes-api: \"true\".",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.1.6"),
            ("nsa_cisa", "Pod security: protecting pod service account tokens"),
        ],
        run: no_service_account_token,
    },
    Check {
        id: "kscan-no-private-keys-in-filesystem",
        title: "No private key or cloud credential is readable in the container's filesystem",
        impact: 0.7,
        nist: &["IA-5", "SC-12", "SC-28"],
        desc: "A key or credential in the image travels with every copy of it, cannot be rotated without a rebuild, and is one file read away from an attacker in the container.",
        check: "No regular file of at most 1 MiB on the container's root filesystem (other mounts, such as Secret volumes, are not searched) whose name looks like a key or credentials file (*.pem, *.key, *.ppk, id_rsa, id_ed25519, credentials, *credentials*.json, ...) and that the container's user can read holds, in its first 64 lines, a private-key header or a cloud credential marker (aws_secret_access_key, a Google service account key, an OAuth refresh token). Paths and kinds are reported, never contents.",
        fix: "Remove the files from the image build and deliver keys at run time from a Secret volume or a secret store.",
        file: FILE,
        sources: &[
            ("cis_kubernetes", "5.4.1"),
            ("cis_kubernetes", "5.4.2"),
            ("nsa_cisa", "Building secure container images; Secrets"),
        ],
        run: no_private_keys,
    },
];

fn who(p: &Process) -> String {
    format!("main process {} (pid {})", p.name, p.pid)
}

fn spec_name(spec: &PodSpecFacts) -> String {
    if spec.pod.is_empty() {
        "the pod spec".to_owned()
    } else {
        format!("the pod spec of {}", spec.pod)
    }
}

/// The spec-versus-reality result: `applied` says whether the kernel did
/// what `asked` describes; `reality` is what the kernel reports.
fn applied<T>(fact: &Fact<T>, spec: &PodSpecFacts, asked: &str, applied: bool, reality: &str) -> TestResult {
    let desc = format!("The kernel applied {asked} from the pod spec");
    if applied {
        pass(fact, format!("{desc}: {reality}"))
    } else {
        fail(fact, desc, format!("{} asks for {asked}, but {reality}", spec_name(spec)))
    }
}

fn seccomp_applied(f: &Facts) -> Vec<TestResult> {
    let desc = "The main process is confined by seccomp";
    let view = running_or_return!(&f.processes, desc);
    let m = &view.main;
    let (ok, reality) = match m.confinement.seccomp {
        None => return vec![error(&f.processes, desc, format!("/proc/{}/status has no Seccomp field", m.pid))],
        Some(0) => (false, format!("the kernel reports Seccomp: 0 (disabled) for the {}", who(m))),
        Some(1) => (true, format!("Seccomp: 1 (strict) for the {}", who(m))),
        Some(n) => (true, format!("Seccomp: {n} (filter) for the {}", who(m))),
    };
    let mut results = vec![if ok {
        pass(&f.processes, format!("{desc}: {reality}"))
    } else {
        fail(&f.processes, desc, reality.clone())
    }];
    if let Some(spec) = &f.spec {
        if let Some(kind @ ("RuntimeDefault" | "Localhost")) = spec.seccomp_profile.as_deref() {
            results.push(applied(&f.processes, spec, &format!("seccompProfile {kind}"), ok, &reality));
        }
    }
    results
}

fn no_new_privileges(f: &Facts) -> Vec<TestResult> {
    let desc = "The main process has no_new_privs set";
    let view = running_or_return!(&f.processes, desc);
    let m = &view.main;
    let Some(nnp) = m.confinement.no_new_privs else {
        return vec![error(&f.processes, desc, format!("/proc/{}/status has no NoNewPrivs field", m.pid))];
    };
    let reality = format!("the kernel reports NoNewPrivs: {} for the {}", u8::from(nnp), who(m));
    let mut results =
        vec![if nnp { pass(&f.processes, format!("{desc}: {reality}")) } else { fail(&f.processes, desc, &reality) }];
    if let Some(spec) = f.spec.as_ref().filter(|s| s.allow_privilege_escalation == Some(false)) {
        results.push(applied(&f.processes, spec, "allowPrivilegeEscalation: false", nnp, &reality));
    }
    results
}

fn capabilities_restricted(f: &Facts) -> Vec<TestResult> {
    let desc = "No process holds a capability other than CAP_NET_BIND_SERVICE";
    let view = running_or_return!(&f.processes, desc);
    let allowed = 1u64 << NET_BIND_SERVICE;
    let holders: Vec<String> = view
        .all
        .iter()
        .filter(|p| p.cap_eff & !allowed != 0)
        .map(|p| format!("{} (pid {}): {}", p.name, p.pid, capability_names(p.cap_eff & !allowed).join(", ")))
        .collect();
    let mut results = vec![if holders.is_empty() {
        pass(&f.processes, format!("{desc} ({} processes)", view.all.len()))
    } else {
        fail(&f.processes, desc, format!("effective capabilities: {}", holders.join("; ")))
    }];
    results.extend(unreadable_processes(&f.processes, view, desc));

    let m = &view.main;
    let bnd_desc = "The main process's bounding set holds no capability other than CAP_NET_BIND_SERVICE";
    let Some(bnd) = m.confinement.cap_bnd else {
        results.push(error(&f.processes, bnd_desc, format!("/proc/{}/status has no CapBnd field", m.pid)));
        return results;
    };
    results.push(if bnd & !allowed == 0 {
        pass(&f.processes, format!("{bnd_desc}: CapBnd {bnd:016x} for the {}", who(m)))
    } else {
        fail(
            &f.processes,
            bnd_desc,
            format!("CapBnd of the {} holds {}", who(m), capability_names(bnd & !allowed).join(", ")),
        )
    });
    if let Some(spec) = f.spec.as_ref().filter(|s| !s.capabilities_drop.is_empty()) {
        // What the runtime must have removed: the dropped capabilities,
        // minus those the spec adds back.
        let dropped: u64 = (0..64u32)
            .filter(|&b| {
                let name = CAPABILITY_NAMES.get(b as usize).copied().unwrap_or("");
                !name.is_empty() && spec.drops(name) && !spec.adds(name)
            })
            .fold(0, |acc, b| acc | (1u64 << b));
        let kept = bnd & dropped;
        let asked = format!("capabilities.drop [{}]", spec.capabilities_drop.join(", "));
        let reality = if kept == 0 {
            format!("none of them is in CapBnd {bnd:016x} of the {}", who(m))
        } else {
            format!("CapBnd of the {} still holds {}", who(m), capability_names(kept).join(", "))
        };
        results.push(applied(&f.processes, spec, &asked, kept == 0, &reality));
    }
    results
}

fn mounts_of(
    f: &Facts,
    runtime: &RuntimeView,
    desc: &str,
) -> Result<Vec<crate::probe::runtime::Mount>, Vec<TestResult>> {
    match &runtime.mountinfo {
        Ok(text) => {
            let mounts = parse_mountinfo(text);
            if mounts.is_empty() {
                Err(vec![error(&f.main_runtime, desc, format!("/proc/{}/mountinfo lists no mount", runtime.pid))])
            } else {
                Ok(mounts)
            }
        }
        Err(why) => Err(vec![error(&f.main_runtime, desc, format!("could not read the target: {why}"))]),
    }
}

fn root_filesystem_read_only(f: &Facts) -> Vec<TestResult> {
    let desc = "The root filesystem is mounted read-only";
    let runtime = running_or_return!(&f.main_runtime, desc);
    let mounts = match mounts_of(f, runtime, desc) {
        Ok(m) => m,
        Err(results) => return results,
    };
    let Some(root) = mount_of(&mounts, "/") else {
        return vec![error(&f.main_runtime, desc, format!("/proc/{}/mountinfo has no mount at /", runtime.pid))];
    };
    let ro = root.read_only();
    let reality = format!(
        "/ ({}) is mounted {} in /proc/{}/mountinfo",
        root.fs_type,
        if ro { "read-only" } else { "read-write" },
        runtime.pid
    );
    let mut results = vec![if ro {
        pass(&f.main_runtime, format!("{desc}: {reality}"))
    } else {
        fail(&f.main_runtime, desc, &reality)
    }];
    if let Some(spec) = f.spec.as_ref().filter(|s| s.read_only_root_filesystem == Some(true)) {
        results.push(applied(&f.main_runtime, spec, "readOnlyRootFilesystem: true", ro, &reality));
    }
    results
}

/// Kernel interfaces a container must not write.
pub const KERNEL_INTERFACES: &[&str] = &["/proc/sys", "/proc/sysrq-trigger", "/sys", "/sys/fs/cgroup"];

fn kernel_interfaces_read_only(f: &Facts) -> Vec<TestResult> {
    let desc = "Kernel interfaces are read-only";
    let runtime = running_or_return!(&f.main_runtime, desc);
    let present = known_or_return!(&f.kernel_interfaces, desc);
    let mounts = match mounts_of(f, runtime, desc) {
        Ok(m) => m,
        Err(results) => return results,
    };
    KERNEL_INTERFACES
        .iter()
        .map(|path| {
            let desc = format!("{path} is read-only in the container");
            if !present.iter().any(|p| p == path) {
                // Nothing there to write: the kernel has no such interface.
                return pass(&f.kernel_interfaces, format!("{desc}: {path} does not exist in this container"));
            }
            if *path == "/sys/fs/cgroup" {
                // With cgroup v1 the runtime mounts a tmpfs at /sys/fs/cgroup
                // and each controller below it; the controllers are the
                // interface, the tmpfs holding their mount points is not.
                let controllers: Vec<&Mount> = mounts
                    .iter()
                    .filter(|m| m.fs_type.starts_with("cgroup"))
                    .filter(|m| m.mount_point == *path || m.mount_point.starts_with("/sys/fs/cgroup/"))
                    .collect();
                if !controllers.is_empty() {
                    return match controllers.iter().find(|m| !m.read_only()) {
                        None => {
                            pass(&f.main_runtime, format!("{desc}: every cgroup mount ({}) is ro", controllers.len()))
                        }
                        Some(m) => fail(
                            &f.main_runtime,
                            desc,
                            format!("{path} is writable: mount {} ({}) is read-write", m.mount_point, m.fs_type),
                        ),
                    };
                }
            }
            match mount_of(&mounts, path) {
                Some(m) if m.read_only() => {
                    pass(&f.main_runtime, format!("{desc}: mount {} ({}) is ro", m.mount_point, m.fs_type))
                }
                Some(m) => fail(
                    &f.main_runtime,
                    desc,
                    format!("{path} is writable: mount {} ({}) is read-write", m.mount_point, m.fs_type),
                ),
                None => error(&f.main_runtime, desc, format!("no mount covers {path}")),
            }
        })
        .collect()
}

/// The host namespaces a pod spec can ask for, and the namespace each shares.
const HOST_NAMESPACES: &[(&str, &str)] =
    &[("pid", "hostPID"), ("ipc", "hostIPC"), ("net", "hostNetwork"), ("uts", "hostNetwork")];

fn no_host_namespaces(f: &Facts) -> Vec<TestResult> {
    let desc = "The main process is not in the node's namespaces";
    let runtime = running_or_return!(&f.main_runtime, desc);
    let mut results: Vec<TestResult> = HOST_NAMESPACES
        .iter()
        .map(|(kind, field)| {
            let desc = format!("The {kind} namespace of the main process is not the node's");
            match runtime.namespace(kind) {
                None => error(&f.main_runtime, desc, format!("namespace {kind} was not read")),
                Some(Err(why)) => error(&f.main_runtime, desc, format!("could not read the target: {why}")),
                Some(Ok(id)) if is_initial_namespace(kind, *id) => fail(
                    &f.main_runtime,
                    desc,
                    format!(
                        "{kind}:[{id}] of process {} is the kernel's initial {kind} namespace (the pod uses {field})",
                        runtime.pid
                    ),
                ),
                Some(Ok(id)) => pass(&f.main_runtime, format!("{desc}: {kind}:[{id}]")),
            }
        })
        .collect();
    if let Some(spec) = &f.spec {
        for (set, field) in [(spec.host_pid, "hostPID"), (spec.host_ipc, "hostIPC"), (spec.host_network, "hostNetwork")]
        {
            if set {
                results.push(fail(
                    &f.main_runtime,
                    format!("The pod spec does not set {field}"),
                    format!("{} sets {field}: true", spec_name(spec)),
                ));
            }
        }
    }
    results
}

/// SELinux types that confine nothing.
const UNCONFINED_SELINUX_TYPES: &[&str] = &["unconfined_t", "spc_t", "kernel_t", "initrc_t", "unconfined_service_t"];

/// What an LSM label says: `Ok(description)` when it confines, `Err(why not)`.
fn judge_label(label: &str) -> Result<String, String> {
    let fields: Vec<&str> = label.split(':').collect();
    if fields.len() >= 4 && !label.contains(' ') {
        let ty = fields[2];
        return if UNCONFINED_SELINUX_TYPES.contains(&ty) {
            Err(format!("SELinux type {ty} confines nothing ({label})"))
        } else {
            Ok(format!("SELinux type {ty} ({label})"))
        };
    }
    if label == "unconfined" {
        return Err("AppArmor profile: unconfined".into());
    }
    match label.rsplit_once(" (") {
        Some((profile, mode)) => match mode.trim_end_matches(')') {
            "enforce" | "kill" => Ok(format!("AppArmor profile {profile} in {} mode", mode.trim_end_matches(')'))),
            other => Err(format!("AppArmor profile {profile} is in {other} mode, which enforces nothing")),
        },
        None => Ok(format!("LSM label {label}")),
    }
}

fn lsm_profile_applied(f: &Facts) -> Vec<TestResult> {
    let desc = "The main process runs under an enforcing LSM profile";
    let runtime = running_or_return!(&f.main_runtime, desc);
    let label = match (&runtime.attr_apparmor, &runtime.attr_current) {
        (Err(why), _) | (_, Err(why)) => {
            return vec![error(&f.main_runtime, desc, format!("could not read the target: {why}"))];
        }
        (Ok(Some(apparmor)), _) => Some(apparmor.clone()),
        (Ok(None), Ok(current)) => current.clone(),
    };
    let node_apparmor = match &f.apparmor_enabled.value {
        Ok(contents) => contents.as_deref().is_some_and(|c| c.starts_with(b"Y")),
        Err(why) => return vec![error(&f.apparmor_enabled, desc, format!("could not read the target: {why}"))],
    };
    let node_selinux = matches!(&f.selinux_enforce.value, Ok(Some(_)));
    let asked = f.spec.as_ref().and_then(|s| {
        let apparmor =
            s.apparmor_profile.as_deref().filter(|p| *p != "Unconfined").map(|p| format!("appArmorProfile {p}"));
        apparmor.or_else(|| s.selinux_type.as_ref().map(|t| format!("seLinuxOptions.type {t}"))).map(|a| (s, a))
    });
    let mut results = Vec::new();
    match &label {
        Some(label) => {
            let verdict = judge_label(label);
            let reality = match &verdict {
                Ok(what) | Err(what) => format!("the {} runs under {what}", runtime_name(f, runtime.pid)),
            };
            results.push(match &verdict {
                Ok(_) => pass(&f.main_runtime, format!("{desc}: {reality}")),
                Err(_) => fail(&f.main_runtime, desc, &reality),
            });
            if let Some((spec, asked)) = asked {
                results.push(applied(&f.main_runtime, spec, &asked, verdict.is_ok(), &reality));
            }
        }
        None if node_apparmor || node_selinux => results.push(error(
            &f.main_runtime,
            desc,
            format!(
                "the node runs {} but process {} has no label in attr/current or attr/apparmor/current",
                if node_apparmor { "AppArmor" } else { "SELinux" },
                runtime.pid
            ),
        )),
        None => {
            let why =
                "the node runs neither AppArmor nor SELinux (no process label, no /sys/module/apparmor, no selinuxfs)";
            match asked {
                Some((spec, asked)) => results.push(applied(&f.main_runtime, spec, &asked, false, why)),
                None => results.push(skip(&f.main_runtime, desc, why)),
            }
        }
    }
    results
}

fn runtime_name(f: &Facts, pid: u32) -> String {
    match &f.processes.value {
        Ok(Some(view)) if view.main.pid == pid => who(&view.main),
        _ => format!("process {pid}"),
    }
}

fn no_service_account_token(f: &Facts) -> Vec<TestResult> {
    let desc = "No service account token is mounted";
    let tokens = known_or_return!(&f.service_account_tokens, desc);
    let spec = f.spec.as_ref();
    let mut results = Vec::new();
    if tokens.is_empty() {
        results.push(pass(&f.service_account_tokens, desc));
    } else if spec.is_some_and(|s| s.uses_kubernetes_api) {
        results.push(pass(
            &f.service_account_tokens,
            format!(
                "{desc}, or the workload calls the API: a token is mounted at {} and the pod declares {}: \"true\"",
                tokens.join(", "),
                crate::spec::USES_API_ANNOTATION
            ),
        ));
    } else {
        results.push(fail(
            &f.service_account_tokens,
            desc,
            format!(
                "a service account token is mounted at {} (if the workload calls the API, annotate the pod {}: \"true\")",
                tokens.join(", "),
                crate::spec::USES_API_ANNOTATION
            ),
        ));
    }
    if let Some(spec) = spec.filter(|s| s.automount_service_account_token == Some(false)) {
        let reality = if tokens.is_empty() {
            "no token is mounted".to_owned()
        } else {
            format!("a token is mounted at {}", tokens.join(", "))
        };
        results.push(applied(
            &f.service_account_tokens,
            spec,
            "automountServiceAccountToken: false",
            tokens.is_empty(),
            &reality,
        ));
    }
    results
}

fn no_private_keys(f: &Facts) -> Vec<TestResult> {
    let desc = "No private key or cloud credential is readable on the root filesystem";
    let found = known_or_return!(&f.sensitive_files, desc);
    let unreadable = if found.unreadable.is_empty() {
        String::new()
    } else {
        format!(
            " ({} candidate file(s) the container's user cannot read: {})",
            found.unreadable.len(),
            found.unreadable.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
        )
    };
    if found.found.is_empty() {
        return vec![pass(&f.sensitive_files, format!("{desc}{unreadable}"))];
    }
    let shown: Vec<String> = found.found.iter().take(20).map(|(path, kind)| format!("{path} ({kind})")).collect();
    let more = found.found.len().saturating_sub(shown.len());
    let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
    vec![fail(
        &f.sensitive_files,
        desc,
        format!("{} readable: {}{tail}{unreadable}", found.found.len(), shown.join(", ")),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::facts::testing::{facts, process, runtime};
    use crate::hdf::ResultStatus::{self, *};
    use crate::probe::proc::ProcessView;
    use crate::probe::runtime::Namespace;
    use crate::probe::SensitiveFiles;

    fn results(id: &str, f: &Facts) -> Vec<TestResult> {
        (CHECKS.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id}")).run)(f)
    }

    fn statuses(id: &str, f: &Facts) -> Vec<ResultStatus> {
        results(id, f).into_iter().map(|r| r.status.unwrap()).collect()
    }

    fn with_main(f: &mut Facts, main: Process) {
        f.processes = Fact::known(Some(ProcessView { main: main.clone(), all: vec![main], unreadable: vec![] }));
    }

    fn spec(edit: impl FnOnce(&mut PodSpecFacts)) -> Option<PodSpecFacts> {
        let mut s = PodSpecFacts { pod: "shop/web".into(), ..Default::default() };
        edit(&mut s);
        Some(s)
    }

    #[test]
    fn a_hardened_target_passes_every_runtime_control() {
        let f = facts();
        for check in CHECKS {
            let results = (check.run)(&f);
            assert!(!results.is_empty(), "{} gave no results", check.id);
            assert!(results.iter().all(|r| r.status == Some(Passed)), "{}: {results:?}", check.id);
        }
    }

    #[test]
    fn seccomp_and_no_new_privs_fail_when_off_and_name_the_spec_that_asked() {
        let mut f = facts();
        let mut main = process(1, "app", 1000, 0);
        main.confinement.seccomp = Some(0);
        main.confinement.no_new_privs = Some(false);
        with_main(&mut f, main);
        assert_eq!(statuses("kscan-seccomp-applied", &f), [Failed]);
        assert_eq!(statuses("kscan-no-new-privileges", &f), [Failed]);
        f.spec = spec(|s| {
            s.seccomp_profile = Some("RuntimeDefault".into());
            s.allow_privilege_escalation = Some(false);
        });
        assert_eq!(statuses("kscan-seccomp-applied", &f), [Failed, Failed]);
        let asked = &results("kscan-seccomp-applied", &f)[1];
        let msg = asked.message.as_deref().unwrap();
        assert!(
            msg.contains("shop/web") && msg.contains("seccompProfile RuntimeDefault") && msg.contains("Seccomp: 0"),
            "{msg}"
        );
        assert_eq!(statuses("kscan-no-new-privileges", &f), [Failed, Failed]);
        // Asked and applied: a passed result of its own.
        let f = Facts { spec: f.spec.clone(), ..facts() };
        assert_eq!(statuses("kscan-seccomp-applied", &f), [Passed, Passed]);
        assert_eq!(statuses("kscan-no-new-privileges", &f), [Passed, Passed]);
        // A kernel that does not say is an error, not a pass.
        let mut f = facts();
        let mut main = process(1, "app", 1000, 0);
        main.confinement.no_new_privs = None;
        with_main(&mut f, main);
        assert_eq!(statuses("kscan-no-new-privileges", &f), [Error]);
    }

    #[test]
    fn capabilities_beyond_net_bind_service_fail_and_an_ignored_drop_is_named() {
        let mut f = facts();
        let mut main = process(1, "app", 0, (1 << 10) | (1 << 13));
        main.confinement.cap_bnd = Some((1 << 10) | (1 << 13) | (1 << 21));
        with_main(&mut f, main);
        assert_eq!(statuses("kscan-capabilities-restricted", &f), [Failed, Failed]);
        let r = results("kscan-capabilities-restricted", &f);
        assert!(r[0].message.as_deref().unwrap().contains("CAP_NET_RAW"), "{r:?}");
        assert!(!r[0].message.as_deref().unwrap().contains("NET_BIND"), "{r:?}");
        f.spec = spec(|s| {
            s.capabilities_drop = vec!["ALL".into()];
            s.capabilities_add = vec!["NET_BIND_SERVICE".into()];
        });
        let r = results("kscan-capabilities-restricted", &f);
        assert_eq!(r[2].status, Some(Failed));
        let msg = r[2].message.as_deref().unwrap();
        assert!(msg.contains("capabilities.drop [ALL]") && msg.contains("CAP_SYS_ADMIN"), "{msg}");
        assert!(!msg.contains("NET_BIND_SERVICE,"), "added back, so not expected gone: {msg}");
        // Only NET_BIND_SERVICE left: restricted, and the drop was applied.
        let mut main = process(1, "app", 0, 1 << 10);
        main.confinement.cap_bnd = Some(1 << 10);
        with_main(&mut f, main);
        assert_eq!(statuses("kscan-capabilities-restricted", &f), [Passed, Passed, Passed]);
    }

    #[test]
    fn mounts_decide_the_root_and_kernel_interface_controls() {
        let mut f = facts();
        let rw = "1 0 0:1 / / rw,relatime - overlay overlay rw\n2 1 0:2 / /proc rw - proc proc rw\n\
                  5 1 0:3 / /sys rw,nosuid - sysfs sysfs rw\n";
        f.main_runtime = Fact::known(Some(RuntimeView { mountinfo: Ok(rw.into()), ..runtime(1) }));
        assert_eq!(statuses("kscan-root-filesystem-read-only", &f), [Failed]);
        assert_eq!(statuses("kscan-kernel-interfaces-read-only", &f), [Failed, Failed, Failed, Failed]);
        f.spec = spec(|s| s.read_only_root_filesystem = Some(true));
        let r = results("kscan-root-filesystem-read-only", &f);
        assert_eq!(r[1].status, Some(Failed));
        assert!(r[1].message.as_deref().unwrap().contains("readOnlyRootFilesystem: true"), "{r:?}");
        f.main_runtime = Fact::known(Some(RuntimeView { mountinfo: Err("Permission denied".into()), ..runtime(1) }));
        assert_eq!(statuses("kscan-root-filesystem-read-only", &f), [Error]);
        f.main_runtime = Fact::known(None);
        f.processes = Fact::known(None);
        assert_eq!(statuses("kscan-root-filesystem-read-only", &f), [Skipped]);
    }

    #[test]
    fn an_interface_the_kernel_lacks_passes_and_cgroup_v1_is_judged_by_its_controllers() {
        // What containerd and runc give a container on a cgroup v1 node whose
        // kernel has no sysrq: /proc rw, no /proc/sysrq-trigger, a rw tmpfs at
        // /sys/fs/cgroup holding ro controller mounts.
        let v1 = "1 0 0:1 / / ro - overlay overlay rw\n2 1 0:2 / /proc rw - proc proc rw\n\
                  3 2 0:2 /sys /proc/sys ro - proc proc rw\n5 1 0:3 / /sys ro - sysfs sysfs ro\n\
                  6 5 0:4 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n7 6 0:5 / /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu\n";
        let mut f = facts();
        f.main_runtime = Fact::known(Some(RuntimeView { mountinfo: Ok(v1.into()), ..runtime(1) }));
        f.kernel_interfaces = Fact::known(vec!["/proc/sys".into(), "/sys".into(), "/sys/fs/cgroup".into()]);
        let r = results("kscan-kernel-interfaces-read-only", &f);
        assert_eq!(statuses("kscan-kernel-interfaces-read-only", &f), [Passed, Passed, Passed, Passed], "{r:?}");
        assert!(r[1].code_desc.contains("does not exist"), "{r:?}");
        // A writable controller is a writable cgroup interface.
        let rw = v1.replace("/sys/fs/cgroup/cpu ro", "/sys/fs/cgroup/cpu rw");
        f.main_runtime = Fact::known(Some(RuntimeView { mountinfo: Ok(rw), ..runtime(1) }));
        assert_eq!(statuses("kscan-kernel-interfaces-read-only", &f), [Passed, Passed, Passed, Failed]);
        // Which interfaces exist was not read: an error, not a pass.
        f.kernel_interfaces = Fact { value: Err("Permission denied".into()), ..Fact::known(vec![]) };
        assert_eq!(statuses("kscan-kernel-interfaces-read-only", &f), [Error]);
    }

    #[test]
    fn the_kernels_initial_namespaces_and_a_host_spec_fail() {
        let mut f = facts();
        let mut view = runtime(1);
        view.namespaces = vec![
            Namespace { kind: "pid".into(), id: Ok(4026531836) },
            Namespace { kind: "ipc".into(), id: Ok(4026532300) },
            Namespace { kind: "net".into(), id: Err("Permission denied".into()) },
            Namespace { kind: "uts".into(), id: Ok(4026531838) },
        ];
        f.main_runtime = Fact::known(Some(view));
        assert_eq!(statuses("kscan-no-host-namespaces", &f), [Failed, Passed, Error, Failed]);
        let f = Facts { spec: spec(|s| s.host_network = true), ..facts() };
        assert_eq!(statuses("kscan-no-host-namespaces", &f), [Passed, Passed, Passed, Passed, Failed]);
    }

    #[test]
    fn lsm_labels_are_judged_and_a_node_without_one_is_skipped() {
        let mut f = facts();
        let label = |current: &str| RuntimeView {
            attr_apparmor: Ok(None),
            attr_current: Ok(Some(current.into())),
            ..runtime(1)
        };
        for (current, status) in [
            ("system_u:system_r:container_t:s0:c1,c2", Passed),
            ("system_u:system_r:spc_t:s0", Failed),
            ("unconfined", Failed),
            ("k8s-app (complain)", Failed),
            ("k8s-app (enforce)", Passed),
        ] {
            f.main_runtime = Fact::known(Some(label(current)));
            assert_eq!(statuses("kscan-lsm-profile-applied", &f), [status], "{current}");
        }
        let none = RuntimeView { attr_apparmor: Ok(None), attr_current: Ok(None), ..runtime(1) };
        f.main_runtime = Fact::known(Some(none.clone()));
        assert_eq!(statuses("kscan-lsm-profile-applied", &f), [Error], "AppArmor on the node, yet no label");
        f.apparmor_enabled = Fact::known(None);
        assert_eq!(statuses("kscan-lsm-profile-applied", &f), [Skipped]);
        f.spec = spec(|s| s.apparmor_profile = Some("RuntimeDefault".into()));
        assert_eq!(statuses("kscan-lsm-profile-applied", &f), [Failed], "asked for, nothing applied it");
    }

    #[test]
    fn a_mounted_token_fails_unless_the_pod_says_it_calls_the_api() {
        let mut f = facts();
        f.service_account_tokens = Fact::known(vec!["/var/run/secrets/kubernetes.io/serviceaccount/token".into()]);
        assert_eq!(statuses("kscan-no-service-account-token", &f), [Failed]);
        f.spec = spec(|s| s.automount_service_account_token = Some(false));
        assert_eq!(statuses("kscan-no-service-account-token", &f), [Failed, Failed]);
        f.spec = spec(|s| s.uses_kubernetes_api = true);
        assert_eq!(statuses("kscan-no-service-account-token", &f), [Passed]);
    }

    #[test]
    fn keys_are_named_by_path_and_kind_only() {
        let mut f = facts();
        f.sensitive_files = Fact::known(SensitiveFiles {
            found: vec![("/app/tls.key".into(), "private key (PEM)".into())],
            unreadable: vec!["/root/.aws/credentials".into()],
        });
        let r = results("kscan-no-private-keys-in-filesystem", &f);
        assert_eq!(r[0].status, Some(Failed));
        let msg = r[0].message.as_deref().unwrap();
        assert!(msg.contains("/app/tls.key (private key (PEM))") && msg.contains("/root/.aws/credentials"), "{msg}");
    }
}
