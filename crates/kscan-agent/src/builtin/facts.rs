//! What the built-in checks look at, gathered from a [`Probe`] before any
//! check runs, each fact with when it was read and how long it took. Checks
//! are then pure functions of the facts.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::Result;
use crate::probe::{FileStat, FindFilter, Found, Probe, ProbeError, ProcessView};

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
    /// Read every fact from `probe`, one call at a time (exec round trips
    /// share one connection budget; the target is not hammered).
    pub async fn gather(probe: &dyn Probe) -> Result<Self> {
        let processes = fact(probe.processes()).await?;
        let main_pid = processes.value.as_ref().ok().and_then(|v| v.as_ref()).map(|v| v.main.pid);
        let main_environment = fact(async {
            match main_pid {
                Some(pid) => probe.environment_names(pid).await.map(Some),
                None => Ok(None),
            }
        })
        .await?;
        Ok(Facts {
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
