//! How the built-in engine looks at a target: read a file, stat it, find
//! files by permission bits, list the target's processes and read what the
//! kernel applied to the main one, search for secrets left in files.
//!
//! [`local::LocalProbe`] reads a root path on this machine (a directory, or
//! `/proc/<pid>/root` of a process whose PID namespace we share); `kscan`
//! implements [`Probe`] a second time over the Kubernetes exec API, parsing
//! what it reads with [`proc`]'s functions so that both see the same facts.
//! Paths are the engine's own constants and are always passed as separate
//! arguments, never spliced into a shell string.
//!
//! Before asking, the engine hands the probe its whole [`Plan`]
//! ([`Probe::prefetch`]): a probe for which each question is a round trip
//! (exec) answers the plan at once and the questions from what it fetched.

use async_trait::async_trait;

pub mod local;
pub mod proc;
pub mod runtime;
pub mod sensitive;

pub use proc::{Process, ProcessView};
pub use runtime::RuntimeView;
pub use sensitive::SensitiveFiles;

/// Why the probe could not answer.
#[derive(Debug)]
pub enum ProbeError {
    /// The target refused (permission denied, unreadable): recorded as an
    /// error result of the control that needed it; the scan goes on.
    Denied(String),
    /// The probe itself broke (exec channel lost, pod gone): the scan stops.
    Broken(crate::Error),
}

impl ProbeError {
    /// A short text for an HDF error result.
    pub fn message(&self) -> String {
        match self {
            ProbeError::Denied(m) => m.clone(),
            ProbeError::Broken(e) => e.to_string(),
        }
    }
}

/// Result of one probe call.
pub type ProbeResult<T> = Result<T, ProbeError>;

/// File type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link (only from `find`, which does not follow links).
    Symlink,
    /// Anything else (device, fifo, socket).
    Other,
}

/// Owner, mode and size of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// File type.
    pub kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask).
    pub mode: u32,
    /// Owner UID.
    pub uid: u32,
    /// Owner GID.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
}

impl FileStat {
    /// From a raw `st_mode` (type and permission bits).
    pub fn from_raw(raw_mode: u32, uid: u32, gid: u32, size: u64) -> Self {
        let kind = match raw_mode & 0o170000 {
            0o100000 => FileKind::File,
            0o040000 => FileKind::Dir,
            0o120000 => FileKind::Symlink,
            _ => FileKind::Other,
        };
        FileStat { kind, mode: raw_mode & 0o7777, uid, gid, size }
    }
}

/// Which files `find` looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindFilter {
    /// Regular files with the setuid or setgid bit.
    SetIdFiles,
    /// World-writable regular files, and world-writable directories without
    /// the sticky bit.
    WorldWritable,
}

impl FindFilter {
    /// Whether a file with `stat` matches.
    pub fn matches(self, stat: &FileStat) -> bool {
        match self {
            FindFilter::SetIdFiles => stat.kind == FileKind::File && stat.mode & 0o6000 != 0,
            FindFilter::WorldWritable => match stat.kind {
                FileKind::File => stat.mode & 0o002 != 0,
                FileKind::Dir => stat.mode & 0o002 != 0 && stat.mode & 0o1000 == 0,
                _ => false,
            },
        }
    }
}

/// What `find` saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Matching paths, sorted, without duplicates.
    pub matches: Vec<String>,
    /// Directories that could not be read, so the search is incomplete there.
    pub unreadable: Vec<String>,
}

impl Found {
    /// Both lists sorted and without duplicates, as every probe returns them.
    pub fn sorted(mut self) -> Self {
        for list in [&mut self.matches, &mut self.unreadable] {
            list.sort();
            list.dedup();
        }
        self
    }
}

/// One question the engine will ask a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`Probe::read`] of `path`, at most `limit` bytes.
    Read {
        /// Path in the target.
        path: &'static str,
        /// Byte limit.
        limit: usize,
    },
    /// [`Probe::stat`] of `path`.
    Stat {
        /// Path in the target.
        path: &'static str,
    },
    /// [`Probe::find`].
    Find {
        /// Directories searched.
        dirs: &'static [&'static str],
        /// What is looked for.
        filter: FindFilter,
    },
    /// [`Probe::processes`].
    Processes,
    /// [`Probe::environment_names`] of the main process.
    MainEnvironment,
    /// [`Probe::runtime`] of the main process.
    MainRuntime,
    /// [`Probe::sensitive_files`].
    SensitiveFiles,
}

/// Every question of one scan, in the order they will be asked.
pub type Plan = [Op];

/// A way to look at the target's filesystem and processes.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Where the probe looks, for the HDF `target_id`, e.g.
    /// `k8s-container://ns/pod/container` or `local:///tmp/rootfs`.
    fn target_id(&self) -> String;

    /// The contents of `path` (at most `limit` bytes), or `None` if it does not exist.
    async fn read(&self, path: &str, limit: usize) -> ProbeResult<Option<Vec<u8>>>;

    /// Owner and mode of `path`, following symbolic links inside the
    /// target, or `None` if it does not exist.
    async fn stat(&self, path: &str) -> ProbeResult<Option<FileStat>>;

    /// Paths under `dirs` (not crossing into other filesystems, not following
    /// links) that match `filter`. Directories that do not exist are passed
    /// over; directories that cannot be read are listed in the outcome.
    async fn find(&self, dirs: &[&str], filter: FindFilter) -> ProbeResult<Found>;

    /// The target's processes, or `None` when the probe cannot see any (a
    /// directory scan).
    async fn processes(&self) -> ProbeResult<Option<ProcessView>>;

    /// Names of the non-empty environment variables of process `pid`. Values
    /// never leave the probe.
    async fn environment_names(&self, pid: u32) -> ProbeResult<Vec<String>>;

    /// What the kernel applied to process `pid`: mounts, namespaces, LSM
    /// label. Parts that cannot be read are errors inside the view.
    async fn runtime(&self, pid: u32) -> ProbeResult<RuntimeView>;

    /// Files on the target's root filesystem (not crossing into other
    /// mounts) that hold a private key or cloud credentials, by the tables
    /// of [`sensitive`]; what was found, never the contents.
    async fn sensitive_files(&self) -> ProbeResult<SensitiveFiles>;

    /// Fetch the answers to `plan` ahead of the questions, where that saves
    /// round trips. Probes that answer each question cheaply do nothing.
    async fn prefetch(&self, _plan: &Plan) -> ProbeResult<()> {
        Ok(())
    }
}
