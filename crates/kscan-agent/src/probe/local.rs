//! A probe over a root path on this machine: a directory (an unpacked image)
//! or `/proc/<pid>/root` of a container process whose PID namespace we share
//! (the debug and sidecar strategies run kscan there).
//!
//! Paths are resolved *inside* the root: a symbolic link such as
//! `/etc/os-release -> /usr/lib/os-release` is followed relative to the
//! target's root, never the scanner's (the kernel would resolve an absolute
//! link under `/proc/<pid>/root` against the caller's root).

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

use super::proc::{cgroup_mentions, cgroup_within, environment_names, parse_status, Process, ProcessView, Unreadable};
use super::runtime::{lsm_label, LsmLabel, Namespace, RuntimeView, NAMESPACES};
use super::sensitive::{self, SensitiveFiles};
use super::{FileStat, FindFilter, Found, Probe, ProbeError, ProbeResult};
use crate::error::Error;

/// Symbolic links followed while resolving one path, as Linux's MAXSYMLINKS.
const MAX_LINKS: u32 = 40;

/// Where the probe finds the target's processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processes {
    /// A plain directory: no processes to look at.
    None,
    /// The container whose main process is `pid`; its other processes are
    /// those in its cgroup (or below it).
    MainPid {
        /// The proc filesystem to read (normally `/proc`).
        proc_dir: PathBuf,
        /// The main process.
        pid: u32,
    },
    /// The container with runtime id `id` (from the pod status): its
    /// processes are those whose cgroup names the id; the main one is the
    /// lowest PID.
    ContainerId {
        /// The proc filesystem to read (normally `/proc`).
        proc_dir: PathBuf,
        /// Container runtime id, hex, without the `containerd://` prefix.
        id: String,
    },
}

/// A probe over a local root path.
#[derive(Debug, Clone)]
pub struct LocalProbe {
    root: PathBuf,
    processes: Processes,
    target_id: String,
}

impl LocalProbe {
    /// Look at the directory `root`, with no processes.
    pub fn directory(root: impl Into<PathBuf>) -> crate::Result<Self> {
        let root = root.into();
        let meta = std::fs::metadata(&root).map_err(|e| Error::read_file(&root, e))?;
        if !meta.is_dir() {
            return Err(Error::input(format!("{} is not a directory", root.display())));
        }
        let target_id = format!("local://{}", root.display());
        Ok(LocalProbe { root, processes: Processes::None, target_id })
    }

    /// Look at the container whose processes are described by `processes`;
    /// the root is that of its main process (`<proc>/<pid>/root`).
    pub fn container(processes: Processes, target_id: impl Into<String>) -> crate::Result<Self> {
        let (proc_dir, pid) = match &processes {
            Processes::None => return Err(Error::input("a container probe needs a process source")),
            Processes::MainPid { proc_dir, pid } => (proc_dir.clone(), *pid),
            Processes::ContainerId { proc_dir, id } => (proc_dir.clone(), main_pid_of_container(proc_dir, id)?),
        };
        let root = proc_dir.join(pid.to_string()).join("root");
        std::fs::read_dir(&root).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                " (reading another process's root needs the same UID and GID as the target, or CAP_SYS_PTRACE)"
            } else {
                ""
            };
            Error::scan(format!("cannot open the root filesystem of process {pid} at {}{hint}", root.display()))
                .with_source(e)
        })?;
        Ok(LocalProbe { root, processes, target_id: target_id.into() })
    }

    /// The root path being scanned.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolve `path` inside the root, following links within it.
    pub fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        resolve_in_root(&self.root, path)
    }
}

/// Resolve `path` as if `root` were `/`: `..` stops at the root, absolute
/// link targets restart at the root. The last component is followed too.
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut pending: VecDeque<PathBuf> = components(Path::new(path)).collect();
    let mut resolved: Vec<PathBuf> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part.as_os_str() == OsStr::new("..") {
            resolved.pop();
            continue;
        }
        let candidate = resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!("too many levels of symbolic links resolving {path}")));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, c) in components(&target).enumerate() {
                    pending.insert(i, c);
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

fn components(path: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(PathBuf::from(n)),
        Component::ParentDir => Some(PathBuf::from("..")),
        _ => None,
    })
}

fn denied(what: &str, err: &io::Error) -> ProbeError {
    ProbeError::Denied(format!("{what}: {err}"))
}

#[async_trait]
impl Probe for LocalProbe {
    fn target_id(&self) -> String {
        self.target_id.clone()
    }

    async fn read(&self, path: &str, limit: usize) -> ProbeResult<Option<Vec<u8>>> {
        let real = self.resolve(path).map_err(|e| denied(path, &e))?;
        match std::fs::File::open(&real) {
            Ok(f) => {
                let mut buf = Vec::new();
                f.take(limit as u64).read_to_end(&mut buf).map_err(|e| denied(path, &e))?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(denied(path, &e)),
        }
    }

    async fn stat(&self, path: &str) -> ProbeResult<Option<FileStat>> {
        let real = self.resolve(path).map_err(|e| denied(path, &e))?;
        match std::fs::metadata(&real) {
            Ok(m) => Ok(Some(FileStat::from_raw(m.mode(), m.uid(), m.gid(), m.size()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(denied(path, &e)),
        }
    }

    async fn find(&self, dirs: &[&str], filter: FindFilter) -> ProbeResult<Found> {
        let mut found = Found::default();
        let mut walked: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            let Ok(real) = self.resolve(dir) else { continue };
            if !real.is_dir() || walked.iter().any(|w| real.starts_with(w)) {
                continue;
            }
            walked.push(real.clone());
            for entry in walkdir::WalkDir::new(&real).same_file_system(true).follow_links(false) {
                match entry {
                    Ok(entry) => {
                        let Ok(m) = entry.metadata() else { continue };
                        let stat = FileStat::from_raw(m.mode(), m.uid(), m.gid(), m.size());
                        if filter.matches(&stat) {
                            found.matches.push(self.display_path(entry.path()));
                        }
                    }
                    Err(err) => {
                        if let Some(p) = err.path() {
                            found.unreadable.push(self.display_path(p));
                        }
                    }
                }
            }
        }
        Ok(found.sorted())
    }

    async fn processes(&self) -> ProbeResult<Option<ProcessView>> {
        match &self.processes {
            Processes::None => Ok(None),
            Processes::MainPid { proc_dir, pid } => {
                let own = std::fs::read_to_string(proc_dir.join(pid.to_string()).join("cgroup"))
                    .map_err(|e| denied(&format!("cgroup of process {pid}"), &e))?;
                let listing = read_processes(proc_dir, |p| {
                    let text = std::fs::read_to_string(proc_dir.join(p.to_string()).join("cgroup"))?;
                    Ok(cgroup_within(&own, &text))
                })
                .map_err(|e| {
                    ProbeError::Broken(Error::scan(format!("cannot list {}", proc_dir.display())).with_source(e))
                })?;
                view(listing, Some(*pid))
            }
            Processes::ContainerId { proc_dir, id } => {
                let listing = read_processes(proc_dir, |p| in_container(proc_dir, p, id)).map_err(|e| {
                    ProbeError::Broken(Error::scan(format!("cannot list {}", proc_dir.display())).with_source(e))
                })?;
                view(listing, None)
            }
        }
    }

    async fn environment_names(&self, pid: u32) -> ProbeResult<Vec<String>> {
        let proc_dir = match &self.processes {
            Processes::None => return Err(ProbeError::Denied("a directory has no processes".into())),
            Processes::MainPid { proc_dir, .. } | Processes::ContainerId { proc_dir, .. } => proc_dir,
        };
        let path = proc_dir.join(pid.to_string()).join("environ");
        let bytes = std::fs::read(&path).map_err(|e| denied(&format!("environment of process {pid}"), &e))?;
        Ok(environment_names(&bytes))
    }

    async fn runtime(&self, pid: u32) -> ProbeResult<RuntimeView> {
        let proc_dir = match &self.processes {
            Processes::None => return Err(ProbeError::Denied("a directory has no processes".into())),
            Processes::MainPid { proc_dir, .. } | Processes::ContainerId { proc_dir, .. } => proc_dir,
        };
        let dir = proc_dir.join(pid.to_string());
        let mountinfo =
            std::fs::read_to_string(dir.join("mountinfo")).map_err(|e| format!("mountinfo of process {pid}: {e}"));
        let namespaces = NAMESPACES
            .iter()
            .map(|kind| Namespace {
                kind: (*kind).to_owned(),
                id: std::fs::metadata(dir.join("ns").join(kind))
                    .map(|m| m.ino())
                    .map_err(|e| format!("namespace {kind} of process {pid}: {e}")),
            })
            .collect();
        Ok(RuntimeView {
            pid,
            mountinfo,
            attr_current: lsm_attr(&dir.join("attr/current")),
            attr_apparmor: lsm_attr(&dir.join("attr/apparmor/current")),
            namespaces,
        })
    }

    async fn sensitive_files(&self) -> ProbeResult<SensitiveFiles> {
        let mut out = SensitiveFiles::default();
        let walk = walkdir::WalkDir::new(&self.root).same_file_system(true).follow_links(false);
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    // A directory that cannot be listed: like find, say so.
                    if let Some(p) = err.path() {
                        out.unreadable.push(self.display_path(p));
                    }
                    continue;
                }
            };
            if !entry.file_type().is_file() || !entry.file_name().to_str().is_some_and(sensitive::is_candidate) {
                continue;
            }
            if entry.metadata().map_or(true, |m| m.len() > sensitive::MAX_SIZE) {
                continue;
            }
            let shown = self.display_path(entry.path());
            let mut head = Vec::new();
            match std::fs::File::open(entry.path())
                .and_then(|f| f.take(sensitive::HEADER_BYTES as u64).read_to_end(&mut head))
            {
                Ok(_) => {
                    if let Some(kind) = sensitive::classify(&head) {
                        out.found.push((shown, kind.to_owned()));
                    }
                }
                Err(_) => out.unreadable.push(shown),
            }
        }
        Ok(out.sorted())
    }
}

/// An LSM attribute file: the kernel answers EINVAL (or has no file) when
/// no LSM of that kind is active.
fn lsm_attr(path: &Path) -> LsmLabel {
    match std::fs::read(path) {
        Ok(bytes) => Ok(lsm_label(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl LocalProbe {
    fn display_path(&self, real: &Path) -> String {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        format!("/{}", rel.display())
    }
}

fn view((all, unreadable): Listing, main_pid: Option<u32>) -> ProbeResult<Option<ProcessView>> {
    let main = match main_pid {
        Some(pid) => all.iter().find(|p| p.pid == pid).cloned(),
        None => all.first().cloned(),
    };
    match main {
        Some(main) => Ok(Some(ProcessView { main, all, unreadable })),
        None => Err(ProbeError::Broken(Error::scan(
            "the target container has no visible process: it exited, or the PID namespace is not shared",
        ))),
    }
}

/// The container's processes, and those whose membership or status could
/// not be read.
type Listing = (Vec<Process>, Vec<Unreadable>);

/// Every process under `proc_dir` that `member` accepts, by PID. Processes
/// that exit while being read are passed over; any other failure to read
/// one is kept as [`Unreadable`], so that no process drops out unseen.
fn read_processes(proc_dir: &Path, member: impl Fn(u32) -> io::Result<bool>) -> io::Result<Listing> {
    let (mut out, mut unreadable) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(proc_dir)? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let gone = || !entry.path().exists();
        match member(pid) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) if gone() => continue,
            Err(e) => {
                unreadable.push(Unreadable { pid, why: format!("cgroup: {e}") });
                continue;
            }
        }
        match std::fs::read_to_string(entry.path().join("status")) {
            Ok(text) => match parse_status(pid, &text) {
                Some(p) => out.push(p),
                None if gone() => {}
                None => unreadable.push(Unreadable { pid, why: "status has no Name, Uid or CapEff line".into() }),
            },
            Err(_) if gone() => {}
            Err(e) => unreadable.push(Unreadable { pid, why: format!("status: {e}") }),
        }
    }
    out.sort_by_key(|p| p.pid);
    unreadable.sort_by_key(|u| u.pid);
    Ok((out, unreadable))
}

fn in_container(proc_dir: &Path, pid: u32, id: &str) -> io::Result<bool> {
    std::fs::read_to_string(proc_dir.join(pid.to_string()).join("cgroup")).map(|t| cgroup_mentions(&t, id))
}

/// The lowest PID whose cgroup names container `id`.
pub fn main_pid_of_container(proc_dir: &Path, id: &str) -> crate::Result<u32> {
    let pids = std::fs::read_dir(proc_dir)
        .map_err(|e| Error::scan(format!("cannot list {}", proc_dir.display())).with_source(e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| in_container(proc_dir, pid, id).unwrap_or(false));
    pids.min().ok_or_else(|| {
        Error::scan(format!(
            "no process of container {id} is visible in {}: the scanner must share the target's PID namespace \
             (ephemeral container with targetContainerName, or a pod with shareProcessNamespace: true)",
            proc_dir.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::write(r.join("usr/lib/os-release"), "ID=test\n").unwrap();
        symlink("/usr/lib/os-release", r.join("etc/os-release")).unwrap();
        symlink("../../../../etc/passwd-host", r.join("etc/escape")).unwrap();
        symlink("usr/bin", r.join("bin")).unwrap();
        std::fs::write(r.join("usr/bin/su"), "x").unwrap();
        std::fs::set_permissions(r.join("usr/bin/su"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::write(r.join("etc/ww"), "x").unwrap();
        std::fs::set_permissions(r.join("etc/ww"), std::fs::Permissions::from_mode(0o666)).unwrap();
        dir
    }

    #[tokio::test]
    async fn absolute_links_resolve_inside_the_root() {
        let dir = tree();
        let probe = LocalProbe::directory(dir.path()).unwrap();
        assert_eq!(probe.read("/etc/os-release", 1024).await.unwrap().unwrap(), b"ID=test\n");
        assert_eq!(probe.resolve("/etc/escape").unwrap(), dir.path().join("etc/passwd-host"));
        assert!(probe.read("/etc/escape", 10).await.unwrap().is_none());
        assert!(probe.stat("/nope").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn find_follows_top_level_links_once_and_reports_root_relative_paths() {
        let dir = tree();
        let probe = LocalProbe::directory(dir.path()).unwrap();
        let found = probe.find(&["/bin", "/usr/bin", "/sbin"], FindFilter::SetIdFiles).await.unwrap();
        assert_eq!(found.matches, ["/usr/bin/su"]);
        let found = probe.find(&["/etc"], FindFilter::WorldWritable).await.unwrap();
        assert_eq!(found.matches, ["/etc/ww"]);
    }

    #[tokio::test]
    async fn own_process_is_found_by_pid() {
        let me = std::process::id();
        let probe =
            LocalProbe::container(Processes::MainPid { proc_dir: "/proc".into(), pid: me }, "local://self").unwrap();
        let view = probe.processes().await.unwrap().unwrap();
        assert_eq!(view.main.pid, me);
        assert!(view.all.iter().any(|p| p.pid == me));
        let names = probe.environment_names(me).await.unwrap();
        assert!(names.iter().any(|n| n == "PATH" || n == "HOME"), "{names:?}");
    }

    #[tokio::test]
    async fn membership_is_by_cgroup_so_a_root_process_beside_a_non_root_main_is_seen() {
        use std::os::unix::process::CommandExt;
        // This test runs as root (the testbed's machine); the child is the
        // container's non-root "main process", the test process the root one.
        assert_eq!(unsafe { libc::geteuid() }, 0, "run the agent's tests as root");
        let mut child = std::process::Command::new("sleep").arg("30").uid(65534).gid(65534).spawn().unwrap();
        let probe =
            LocalProbe::container(Processes::MainPid { proc_dir: "/proc".into(), pid: child.id() }, "local://child")
                .unwrap();
        let view = probe.processes().await.unwrap().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(view.main.pid, child.id());
        assert_eq!(view.main.euid(), 65534);
        let me = view.all.iter().find(|p| p.pid == std::process::id()).expect("the root test process is a member");
        assert_eq!(me.euid(), 0);
        assert!(view.unreadable.is_empty(), "{:?}", view.unreadable);
    }

    #[tokio::test]
    async fn runtime_of_a_real_process_reads_its_namespaces_mounts_and_status() {
        let me = std::process::id();
        let probe =
            LocalProbe::container(Processes::MainPid { proc_dir: "/proc".into(), pid: me }, "local://self").unwrap();
        let runtime = probe.runtime(me).await.unwrap();
        for ns in &runtime.namespaces {
            let want = std::fs::metadata(format!("/proc/self/ns/{}", ns.kind)).unwrap().ino();
            assert_eq!(ns.id.as_ref().unwrap(), &want, "{}", ns.kind);
        }
        let mounts = super::super::runtime::parse_mountinfo(runtime.mountinfo.as_ref().unwrap());
        assert!(super::super::runtime::mount_of(&mounts, "/").is_some());
        // No LSM on the test machine reads as "no label", not as an error.
        assert!(runtime.attr_current.is_ok(), "{:?}", runtime.attr_current);
        let view = probe.processes().await.unwrap().unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_owned();
        assert_eq!(view.main.confinement.seccomp, Some(field("Seccomp:").parse().unwrap()));
        assert_eq!(view.main.confinement.cap_bnd, Some(u64::from_str_radix(&field("CapBnd:"), 16).unwrap()));
        assert_eq!(view.main.confinement.no_new_privs, Some(field("NoNewPrivs:") == "1"));
    }

    #[tokio::test]
    async fn sensitive_files_are_found_by_name_and_header_on_the_root_filesystem_only() {
        let dir = tree();
        let r = dir.path();
        std::fs::create_dir_all(r.join("app/.aws")).unwrap();
        std::fs::write(r.join("app/tls.key"), "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n").unwrap();
        std::fs::write(r.join("app/cert.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
        std::fs::write(r.join("app/.aws/credentials"), "[default]\naws_secret_access_key = s3cr3t\n").unwrap();
        std::fs::write(r.join("app/notes.txt"), "-----BEGIN RSA PRIVATE KEY-----\n").unwrap();
        let big = format!("-----BEGIN PRIVATE KEY-----\n{}", "A".repeat(sensitive::MAX_SIZE as usize));
        std::fs::write(r.join("app/big.pem"), big).unwrap();
        let probe = LocalProbe::directory(r).unwrap();
        let found = probe.sensitive_files().await.unwrap();
        assert_eq!(
            found.found,
            [
                ("/app/.aws/credentials".to_owned(), "AWS credentials".to_owned()),
                ("/app/tls.key".to_owned(), "private key (PEM)".to_owned())
            ]
        );
        assert!(!format!("{found:?}").contains("s3cr3t"));
    }
}
