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

use super::proc::{cgroup_mentions, environment_names, parse_status, Process, ProcessView};
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
    /// those with the same root filesystem.
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
                " (reading another process's root needs the same UID as the target, or CAP_SYS_PTRACE)"
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
                let root_id =
                    root_identity(proc_dir, *pid).map_err(|e| denied(&format!("root of process {pid}"), &e))?;
                let all =
                    read_processes(proc_dir, |p| root_identity(proc_dir, p).ok() == Some(root_id)).map_err(|e| {
                        ProbeError::Broken(Error::scan(format!("cannot list {}", proc_dir.display())).with_source(e))
                    })?;
                view(all, Some(*pid))
            }
            Processes::ContainerId { proc_dir, id } => {
                let all = read_processes(proc_dir, |p| in_container(proc_dir, p, id)).map_err(|e| {
                    ProbeError::Broken(Error::scan(format!("cannot list {}", proc_dir.display())).with_source(e))
                })?;
                view(all, None)
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
}

impl LocalProbe {
    fn display_path(&self, real: &Path) -> String {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        format!("/{}", rel.display())
    }
}

fn view(all: Vec<Process>, main_pid: Option<u32>) -> ProbeResult<Option<ProcessView>> {
    let main = match main_pid {
        Some(pid) => all.iter().find(|p| p.pid == pid).cloned(),
        None => all.first().cloned(),
    };
    match main {
        Some(main) => Ok(Some(ProcessView { main, all })),
        None => Err(ProbeError::Broken(Error::scan(
            "the target container has no visible process: it exited, or the PID namespace is not shared",
        ))),
    }
}

/// Every process under `proc_dir` that `keep` accepts, by PID. Processes
/// that exit while being read are passed over.
fn read_processes(proc_dir: &Path, keep: impl Fn(u32) -> bool) -> io::Result<Vec<Process>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(proc_dir)? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if !keep(pid) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        if let Some(p) = parse_status(pid, &text) {
            out.push(p);
        }
    }
    out.sort_by_key(|p| p.pid);
    Ok(out)
}

/// Device and inode of a process's root directory: processes of one
/// container share them.
fn root_identity(proc_dir: &Path, pid: u32) -> io::Result<(u64, u64)> {
    let m = std::fs::metadata(proc_dir.join(pid.to_string()).join("root"))?;
    Ok((m.dev(), m.ino()))
}

fn in_container(proc_dir: &Path, pid: u32, id: &str) -> bool {
    std::fs::read_to_string(proc_dir.join(pid.to_string()).join("cgroup")).is_ok_and(|t| cgroup_mentions(&t, id))
}

/// The lowest PID whose cgroup names container `id`.
pub fn main_pid_of_container(proc_dir: &Path, id: &str) -> crate::Result<u32> {
    let pids = std::fs::read_dir(proc_dir)
        .map_err(|e| Error::scan(format!("cannot list {}", proc_dir.display())).with_source(e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| in_container(proc_dir, pid, id));
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
}
