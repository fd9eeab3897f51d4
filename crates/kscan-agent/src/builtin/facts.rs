//! What the built-in checks look at, gathered from a [`Probe`] before any
//! check runs, each fact with when it was read and how long it took. Checks
//! are then pure functions of the facts.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::Result;
use crate::probe::{FileStat, FindFilter, Found, Op, Probe, ProbeError, ProcessView, RuntimeView, SensitiveFiles};
use crate::spec::PodSpecFacts;

/// Files larger than this are read only up to it.
const READ_LIMIT: usize = 1 << 20;

/// Directories searched for world-writable and setuid/setgid files.
pub const SYSTEM_DIRS: &[&str] = &["/bin", "/sbin", "/usr", "/lib", "/lib64", "/etc", "/opt", "/boot"];

/// Package managers looked for by path.
pub const PACKAGE_MANAGERS: &[&str] = &[
    "/usr/bin/apt",
    "/usr/bin/apt-get",
    "/usr/bin/dpkg",
    "/sbin/apk",
    "/usr/bin/yum",
    "/usr/bin/dnf",
    "/usr/bin/microdnf",
    "/usr/bin/rpm",
    "/usr/bin/zypper",
    "/usr/bin/pip",
    "/usr/bin/pip3",
];

/// Shells looked for by path.
pub const SHELLS: &[&str] =
    &["/bin/sh", "/bin/bash", "/bin/ash", "/bin/dash", "/bin/zsh", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/zsh"];

/// Where Kubernetes mounts a pod's service account token.
pub const SERVICE_ACCOUNT_TOKENS: &[&str] =
    &["/var/run/secrets/kubernetes.io/serviceaccount/token", "/run/secrets/kubernetes.io/serviceaccount/token"];

/// Says `Y` when the node's kernel runs AppArmor (sysfs, readable in a container).
pub const APPARMOR_ENABLED: &str = "/sys/module/apparmor/parameters/enabled";

/// Exists when the node runs SELinux and the runtime mounted selinuxfs.
pub const SELINUX_ENFORCE: &str = "/sys/fs/selinux/enforce";

/// Every question [`Facts::gather`] asks, in its order: what a probe
/// fetches at once when each question would cost a round trip.
pub fn plan() -> Vec<Op> {
    let mut ops = vec![Op::Processes, Op::MainEnvironment, Op::MainRuntime];
    ops.extend([
        Op::Stat { path: "/etc/os-release" },
        Op::Read { path: "/etc/os-release", limit: READ_LIMIT },
        Op::Stat { path: "/etc/passwd" },
        Op::Read { path: "/etc/passwd", limit: READ_LIMIT },
        Op::Stat { path: "/etc/shadow" },
        Op::Read { path: "/etc/shadow", limit: READ_LIMIT },
        Op::Find { dirs: SYSTEM_DIRS, filter: FindFilter::SetIdFiles },
        Op::Find { dirs: SYSTEM_DIRS, filter: FindFilter::WorldWritable },
    ]);
    ops.extend(
        PACKAGE_MANAGERS
            .iter()
            .chain(SHELLS)
            .chain(SERVICE_ACCOUNT_TOKENS)
            .chain(super::runtime::KERNEL_INTERFACES)
            .map(|path| Op::Stat { path }),
    );
    ops.extend([
        Op::Read { path: APPARMOR_ENABLED, limit: 16 },
        Op::Stat { path: SELINUX_ENFORCE },
        Op::SensitiveFiles,
    ]);
    ops
}

/// One fact: its value, or why the target would not give it.
#[derive(Debug, Clone)]
pub struct Fact<T> {
    /// The value, or the refusal message.
    pub value: std::result::Result<T, String>,
    /// When reading started.
    pub started: DateTime<Utc>,
    /// How long reading took.
    pub took: Duration,
}

impl<T> Fact<T> {
    /// RFC 3339 start time, as HDF writes it.
    pub fn start_time(&self) -> String {
        self.started.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// A fact read just now (tests).
    #[cfg(test)]
    pub fn known(value: T) -> Self {
        Fact { value: Ok(value), started: Utc::now(), took: Duration::ZERO }
    }

    /// A fact the target refused (tests).
    #[cfg(test)]
    pub fn refused(message: &str) -> Self {
        Fact { value: Err(message.to_owned()), started: Utc::now(), took: Duration::ZERO }
    }
}

/// A file's status and, where needed, its contents.
#[derive(Debug, Clone, Default)]
pub struct FileFact {
    /// Owner, mode, size; `None` if it does not exist.
    pub stat: Option<FileStat>,
    /// Contents; `None` if it does not exist or was not read.
    pub contents: Option<Vec<u8>>,
}

/// Everything the checks need.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `/etc/os-release` (contents).
    pub os_release: Fact<FileFact>,
    /// `/etc/passwd` (status and contents).
    pub passwd: Fact<FileFact>,
    /// `/etc/shadow` (status only).
    pub shadow_stat: Fact<Option<FileStat>>,
    /// `/etc/shadow` (contents; needs root in the target).
    pub shadow: Fact<Option<Vec<u8>>>,
    /// The container's processes; `None` for a directory scan.
    pub processes: Fact<Option<ProcessView>>,
    /// Names of the main process's non-empty environment variables.
    pub main_environment: Fact<Option<Vec<String>>>,
    /// Setuid/setgid regular files under [`SYSTEM_DIRS`].
    pub setid_files: Fact<Found>,
    /// World-writable files and non-sticky directories under [`SYSTEM_DIRS`].
    pub world_writable: Fact<Found>,
    /// Which of [`PACKAGE_MANAGERS`] exist.
    pub package_managers: Fact<Vec<String>>,
    /// Which of [`SHELLS`] exist.
    pub shells: Fact<Vec<String>>,
    /// What the kernel applied to the main process; `None` for a directory scan.
    pub main_runtime: Fact<Option<RuntimeView>>,
    /// Which of [`SERVICE_ACCOUNT_TOKENS`] exist.
    pub service_account_tokens: Fact<Vec<String>>,
    /// Which of [`KERNEL_INTERFACES`](super::runtime::KERNEL_INTERFACES)
    /// exist in the target (a kernel without `CONFIG_MAGIC_SYSRQ` has no
    /// `/proc/sysrq-trigger`).
    pub kernel_interfaces: Fact<Vec<String>>,
    /// [`APPARMOR_ENABLED`] (contents), `None` when absent.
    pub apparmor_enabled: Fact<Option<Vec<u8>>>,
    /// [`SELINUX_ENFORCE`] (status), `None` when absent.
    pub selinux_enforce: Fact<Option<FileStat>>,
    /// Private keys and credentials on the root filesystem.
    pub sensitive_files: Fact<SensitiveFiles>,
    /// What the pod spec asks for, when the engine knows the pod.
    pub spec: Option<PodSpecFacts>,
}

/// Time one probe call; a broken probe stops the scan, a refusal becomes
/// the fact's value.
async fn fact<T>(read: impl std::future::Future<Output = std::result::Result<T, ProbeError>>) -> Result<Fact<T>> {
    let started = Utc::now();
    let clock = Instant::now();
    let value = match read.await {
        Ok(v) => Ok(v),
        Err(ProbeError::Denied(message)) => Err(message),
        Err(ProbeError::Broken(err)) => return Err(err),
    };
    Ok(Fact { value, started, took: clock.elapsed() })
}

async fn file(probe: &dyn Probe, path: &str, with_contents: bool) -> std::result::Result<FileFact, ProbeError> {
    let stat = probe.stat(path).await?;
    let contents = if with_contents && stat.is_some() { probe.read(path, READ_LIMIT).await? } else { None };
    Ok(FileFact { stat, contents })
}

async fn existing(probe: &dyn Probe, paths: &[&str]) -> std::result::Result<Vec<String>, ProbeError> {
    let mut present = Vec::new();
    for path in paths {
        if probe.stat(path).await?.is_some() {
            present.push((*path).to_owned());
        }
    }
    Ok(present)
}

impl Facts {
    /// Read every fact from `probe`: the [`plan`] first (a probe over exec
    /// answers it in one round trip), then each question in turn. `spec` is
    /// what the pod spec asks for, when known.
    pub async fn gather(probe: &dyn Probe, spec: Option<PodSpecFacts>) -> Result<Self> {
        // A refused prefetch only costs round trips: each question then
        // asks for itself and carries its own refusal.
        if let Err(ProbeError::Broken(err)) = probe.prefetch(&plan()).await {
            return Err(err);
        }
        let processes = fact(probe.processes()).await?;
        let main_pid = processes.value.as_ref().ok().and_then(|v| v.as_ref()).map(|v| v.main.pid);
        let main_environment = fact(async {
            match main_pid {
                Some(pid) => probe.environment_names(pid).await.map(Some),
                None => Ok(None),
            }
        })
        .await?;
        let main_runtime = fact(async {
            match main_pid {
                Some(pid) => probe.runtime(pid).await.map(Some),
                None => Ok(None),
            }
        })
        .await?;
        Ok(Facts {
            main_runtime,
            service_account_tokens: fact(existing(probe, SERVICE_ACCOUNT_TOKENS)).await?,
            kernel_interfaces: fact(existing(probe, super::runtime::KERNEL_INTERFACES)).await?,
            apparmor_enabled: fact(probe.read(APPARMOR_ENABLED, 16)).await?,
            selinux_enforce: fact(probe.stat(SELINUX_ENFORCE)).await?,
            sensitive_files: fact(probe.sensitive_files()).await?,
            spec,
            os_release: fact(file(probe, "/etc/os-release", true)).await?,
            passwd: fact(file(probe, "/etc/passwd", true)).await?,
            shadow_stat: fact(probe.stat("/etc/shadow")).await?,
            shadow: fact(probe.read("/etc/shadow", READ_LIMIT)).await?,
            processes,
            main_environment,
            setid_files: fact(probe.find(SYSTEM_DIRS, FindFilter::SetIdFiles)).await?,
            world_writable: fact(probe.find(SYSTEM_DIRS, FindFilter::WorldWritable)).await?,
            package_managers: fact(existing(probe, PACKAGE_MANAGERS)).await?,
            shells: fact(existing(probe, SHELLS)).await?,
        })
    }
}

/// `KEY=value` pairs of an os-release file (quotes removed).
pub fn os_release_fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (k, v) = line.split_once('=')?;
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// Facts of a clean, hardened target, for the checks' tests to spoil.
#[cfg(test)]
pub mod testing {
    use super::*;
    use crate::probe::proc::{Confinement, Process};
    use crate::probe::runtime::{Namespace, NAMESPACES};

    /// A regular file's status.
    pub fn stat(mode: u32, uid: u32, gid: u32) -> FileStat {
        FileStat::from_raw(0o100000 | mode, uid, gid, 10)
    }

    /// A confined process: seccomp filter, no_new_privs, no capabilities.
    pub fn process(pid: u32, name: &str, uid: u32, cap: u64) -> Process {
        let confinement = Confinement {
            seccomp: Some(2),
            no_new_privs: Some(true),
            cap_prm: Some(0),
            cap_bnd: Some(0),
            cap_amb: Some(0),
        };
        Process { pid, ppid: 0, name: name.into(), uids: [uid; 4], cap_eff: cap, confinement }
    }

    /// Mounts of a container with a read-only root and kernel interfaces.
    pub const MOUNTINFO: &str = "\
1 0 0:1 / / ro,relatime - overlay overlay rw
2 1 0:2 / /proc rw,nosuid - proc proc rw
3 2 0:2 /sys /proc/sys ro,nosuid - proc proc rw
4 2 0:2 /sysrq-trigger /proc/sysrq-trigger ro,nosuid - proc proc rw
5 1 0:3 / /sys ro,nosuid - sysfs sysfs ro
6 5 0:4 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw
";

    /// What the kernel applied to a hardened main process.
    pub fn runtime(pid: u32) -> RuntimeView {
        RuntimeView {
            pid,
            mountinfo: Ok(MOUNTINFO.into()),
            attr_current: Ok(Some("cri-containerd.apparmor.d (enforce)".into())),
            attr_apparmor: Ok(Some("cri-containerd.apparmor.d (enforce)".into())),
            namespaces: NAMESPACES
                .iter()
                .enumerate()
                .map(|(i, k)| Namespace { kind: (*k).into(), id: Ok(4026532200 + i as u64) })
                .collect(),
        }
    }

    /// Facts every check passes.
    pub fn facts() -> Facts {
        let main = process(1, "app", 1000, 0);
        Facts {
            os_release: Fact::known(FileFact { stat: Some(stat(0o644, 0, 0)), contents: Some(b"ID=kscan\n".to_vec()) }),
            passwd: Fact::known(FileFact {
                stat: Some(stat(0o644, 0, 0)),
                contents: Some(b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/false\n".to_vec()),
            }),
            shadow_stat: Fact::known(None),
            shadow: Fact::known(None),
            processes: Fact::known(Some(ProcessView { main: main.clone(), all: vec![main], unreadable: vec![] })),
            main_environment: Fact::known(Some(vec!["PATH".into()])),
            setid_files: Fact::known(Found::default()),
            world_writable: Fact::known(Found::default()),
            package_managers: Fact::known(vec![]),
            shells: Fact::known(vec![]),
            main_runtime: Fact::known(Some(runtime(1))),
            service_account_tokens: Fact::known(vec![]),
            kernel_interfaces: Fact::known(
                crate::builtin::runtime::KERNEL_INTERFACES.iter().map(|p| (*p).to_owned()).collect(),
            ),
            apparmor_enabled: Fact::known(Some(b"Y\n".to_vec())),
            selinux_enforce: Fact::known(None),
            sensitive_files: Fact::known(SensitiveFiles::default()),
            spec: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_is_parsed() {
        let f = os_release_fields("# c\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME='Debian GNU/Linux 12'\n");
        assert_eq!(f[0], ("ID".into(), "debian".into()));
        assert_eq!(f[1], ("VERSION_ID".into(), "12".into()));
        assert_eq!(f[2].1, "Debian GNU/Linux 12");
    }
}
