//! Processes as `/proc` describes them, parsed the same way whether the
//! text was read locally or through exec.

/// One process of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// PID in the namespace it was read from.
    pub pid: u32,
    /// Parent PID.
    pub ppid: u32,
    /// `Name:` from `/proc/<pid>/status` (the command name, at most 15 bytes).
    pub name: String,
    /// Real, effective, saved and filesystem UID.
    pub uids: [u32; 4],
    /// Effective capability set (`CapEff`).
    pub cap_eff: u64,
    /// What the kernel applied to the process beyond its identity:
    /// seccomp, no_new_privs and the other capability sets.
    pub confinement: Confinement,
}

/// The confinement `/proc/<pid>/status` reports for a process. Fields a
/// kernel does not report (`NoNewPrivs` before 4.10) are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confinement {
    /// `Seccomp:` 0 disabled, 1 strict, 2 filter.
    pub seccomp: Option<u32>,
    /// `NoNewPrivs:` 1 when execve can no longer grant privileges.
    pub no_new_privs: Option<bool>,
    /// Permitted capability set (`CapPrm`).
    pub cap_prm: Option<u64>,
    /// Bounding set (`CapBnd`): what the process could ever gain.
    pub cap_bnd: Option<u64>,
    /// Ambient set (`CapAmb`).
    pub cap_amb: Option<u64>,
}

impl Process {
    /// Real UID.
    pub fn uid(&self) -> u32 {
        self.uids[0]
    }

    /// Effective UID.
    pub fn euid(&self) -> u32 {
        self.uids[1]
    }

    /// Whether the effective capability set holds capability number `cap`.
    pub fn has_capability(&self, cap: Capability) -> bool {
        self.cap_eff & (1u64 << cap.bit()) != 0
    }
}

/// The processes of the target container and which one is its main process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessView {
    /// The container's main process (its entrypoint).
    pub main: Process,
    /// Every process of the container, the main one included, by PID.
    pub all: Vec<Process>,
    /// Processes visible to the probe whose membership or status could not
    /// be read (they did not exit): the checks over processes report them as
    /// errors, never as passes.
    pub unreadable: Vec<Unreadable>,
}

/// A process the probe saw but could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Its PID.
    pub pid: u32,
    /// What could not be read, and why.
    pub why: String,
}

/// Capabilities the engine looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// CAP_NET_ADMIN (12)
    NetAdmin,
    /// CAP_SYS_MODULE (16)
    SysModule,
    /// CAP_SYS_PTRACE (19)
    SysPtrace,
    /// CAP_SYS_ADMIN (21)
    SysAdmin,
}

impl Capability {
    /// Every capability the engine checks.
    pub const ALL: [Capability; 4] =
        [Capability::SysAdmin, Capability::NetAdmin, Capability::SysPtrace, Capability::SysModule];

    /// Bit number in the capability sets.
    pub fn bit(self) -> u32 {
        match self {
            Capability::NetAdmin => 12,
            Capability::SysModule => 16,
            Capability::SysPtrace => 19,
            Capability::SysAdmin => 21,
        }
    }

    /// The name as in capabilities(7).
    pub fn name(self) -> &'static str {
        match self {
            Capability::NetAdmin => "CAP_NET_ADMIN",
            Capability::SysModule => "CAP_SYS_MODULE",
            Capability::SysPtrace => "CAP_SYS_PTRACE",
            Capability::SysAdmin => "CAP_SYS_ADMIN",
        }
    }
}

/// Parse the text of `/proc/<pid>/status`. `None` if a required line is
/// missing or malformed.
pub fn parse_status(pid: u32, text: &str) -> Option<Process> {
    let mut name = None;
    let mut ppid = 0;
    let mut uids = None;
    let mut cap_eff = None;
    let mut confinement = Confinement::default();
    let hex = |v: &str| u64::from_str_radix(v, 16).ok();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key {
            "Name" => name = Some(value.to_owned()),
            "PPid" => ppid = value.parse().unwrap_or(0),
            "Uid" => {
                let parsed: Vec<u32> = value.split_whitespace().filter_map(|v| v.parse().ok()).collect();
                uids = <[u32; 4]>::try_from(parsed).ok();
            }
            "CapEff" => cap_eff = hex(value),
            "CapPrm" => confinement.cap_prm = hex(value),
            "CapBnd" => confinement.cap_bnd = hex(value),
            "CapAmb" => confinement.cap_amb = hex(value),
            "Seccomp" => confinement.seccomp = value.parse().ok(),
            "NoNewPrivs" => confinement.no_new_privs = value.parse::<u32>().ok().map(|v| v != 0),
            _ => {}
        }
    }
    Some(Process { pid, ppid, name: name?, uids: uids?, cap_eff: cap_eff?, confinement })
}

/// Names of the capabilities, by bit number, as in capabilities(7).
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The names of the capabilities in the set `bits` (unknown bits as `CAP_<n>`).
pub fn capability_names(bits: u64) -> Vec<String> {
    (0..64)
        .filter(|b| bits & (1u64 << b) != 0)
        .map(|b| CAPABILITY_NAMES.get(b).map_or_else(|| format!("CAP_{b}"), |n| (*n).to_owned()))
        .collect()
}

/// The bit of capability `name` (`NET_BIND_SERVICE` or `CAP_NET_BIND_SERVICE`,
/// any case), as the pod spec names them.
pub fn capability_bit(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    CAPABILITY_NAMES.iter().position(|n| *n == full).map(|b| b as u32)
}

/// Names of the non-empty variables in the text of `/proc/<pid>/environ`
/// (NUL-separated `NAME=value`).
pub fn environment_names(environ: &[u8]) -> Vec<String> {
    environ
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let eq = entry.iter().position(|&b| b == b'=')?;
            let (name, value) = (&entry[..eq], &entry[eq + 1..]);
            (!name.is_empty() && !value.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
        })
        .collect()
}

/// Whether a process whose `/proc/<pid>/cgroup` reads `other` is in the
/// cgroup of the process that reads `own` there, or below it.
///
/// This is how a probe running *inside* the container (exec) tells the
/// container's processes from others it can see (the pod's sandbox and
/// other containers when the pod shares its PID namespace, the node's with
/// `hostPID`), using only what any user may read: every hierarchy line of
/// `other` must name the same hierarchy as one of `own` with the same path
/// or a path below it. A path with a `..` component lies outside (a private
/// cgroup namespace shows other containers as `/../<id>`).
pub fn cgroup_within(own: &str, other: &str) -> bool {
    let lines = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| {
                let (id, rest) = l.split_once(':')?;
                let (controllers, path) = rest.split_once(':')?;
                Some((format!("{id}:{controllers}"), path.to_owned()))
            })
            .collect()
    };
    let (own, other) = (lines(own), lines(other));
    if own.is_empty() || other.is_empty() {
        return false;
    }
    other.iter().all(|(hierarchy, path)| {
        own.iter().any(|(h, base)| {
            h == hierarchy
                && !path.split('/').any(|c| c == "..")
                && (path == base || base == "/" || path.strip_prefix(base.as_str()).is_some_and(|r| r.starts_with('/')))
        })
    })
}

/// Whether `/proc/<pid>/cgroup` text places the process in the container
/// with runtime id `container_id` (the hex id from the pod status, without
/// the `containerd://` prefix). The kubelet names each container's cgroup
/// after this id with both cgroup drivers, and on cgroup v1 and v2.
pub fn cgroup_mentions(cgroup_text: &str, container_id: &str) -> bool {
    !container_id.is_empty() && cgroup_text.lines().any(|line| line.contains(container_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t7\nPPid:\t1\n\
        Uid:\t0\t101\t101\t101\nGid:\t0\t0\t0\t0\nCapEff:\t00000000a80425fb\n";

    #[test]
    fn status_is_parsed() {
        let p = parse_status(7, STATUS).unwrap();
        assert_eq!(p.name, "nginx");
        assert_eq!(p.ppid, 1);
        assert_eq!(p.uid(), 0);
        assert_eq!(p.euid(), 101);
        assert!(p.has_capability(Capability::NetAdmin) == (0xa80425fb_u64 & (1 << 12) != 0));
        assert!(!p.has_capability(Capability::SysAdmin));
        assert!(parse_status(7, "Name:\tx\n").is_none());
    }

    #[test]
    fn environment_keeps_names_of_non_empty_values_only() {
        let env = b"PATH=/bin\0DB_PASSWORD=hunter2\0EMPTY=\0=weird\0NOEQ\0";
        assert_eq!(environment_names(env), ["PATH", "DB_PASSWORD"]);
    }

    #[test]
    fn cgroup_lines_are_matched_by_container_id() {
        let v1 =
            "12:pids:/kubepods/besteffort/pod1234/abcdef0123\n1:name=systemd:/kubepods/besteffort/pod1234/abcdef0123\n";
        assert!(cgroup_mentions(v1, "abcdef0123"));
        assert!(!cgroup_mentions(v1, "fedcba"));
        assert!(!cgroup_mentions(v1, ""));
    }
}
