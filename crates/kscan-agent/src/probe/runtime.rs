//! What the kernel applied to a process beyond `/proc/<pid>/status`: its
//! mounts (`mountinfo`), its namespaces (`ns/*`) and its LSM label
//! (`attr/current`), parsed the same way whether the text was read locally
//! or through exec.

/// Namespaces whose ids the probes read from `/proc/<pid>/ns/`.
pub const NAMESPACES: &[&str] = &["pid", "net", "ipc", "uts", "user", "cgroup", "mnt"];

/// Inode numbers the kernel gives its *initial* namespaces — those of the
/// node itself when the node is not in a container — fixed in
/// `include/linux/proc_ns.h` (`PROC_*_INIT_INO`). `net` and `mnt` are fixed
/// from Linux 6.18 on; earlier kernels number them at boot, so an older
/// kernel simply never matches them here.
pub const INITIAL_NAMESPACE_IDS: &[(&str, u64)] = &[
    ("ipc", 0xEFFF_FFFF),
    ("uts", 0xEFFF_FFFE),
    ("user", 0xEFFF_FFFD),
    ("pid", 0xEFFF_FFFC),
    ("cgroup", 0xEFFF_FFFB),
    ("net", 0xEFFF_FFF9),
    ("mnt", 0xEFFF_FFF8),
];

/// Whether `id` is the initial (host) namespace of `kind`.
pub fn is_initial_namespace(kind: &str, id: u64) -> bool {
    INITIAL_NAMESPACE_IDS.iter().any(|(k, i)| *k == kind && *i == id)
}

/// One namespace of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// `pid`, `net`, ...
    pub kind: String,
    /// The namespace's inode number, or why it could not be read (opening
    /// `ns/*` of another process is a ptrace-read access).
    pub id: Result<u64, String>,
}

/// An LSM attribute of a process (`attr/current`, `attr/apparmor/current`).
pub type LsmLabel = Result<Option<String>, String>;

/// The raw runtime state of one process, as a probe read it. Each part can
/// fail on its own; the checks turn a failure into an error result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeView {
    /// The process.
    pub pid: u32,
    /// The text of `mountinfo`, or why it could not be read.
    pub mountinfo: Result<String, String>,
    /// `attr/current`: the label of the major LSM (SELinux, or AppArmor on
    /// older kernels); `None` when the kernel has no such LSM (the read
    /// fails with EINVAL, or the file does not exist).
    pub attr_current: LsmLabel,
    /// `attr/apparmor/current` (Linux 5.8+), `None` without AppArmor.
    pub attr_apparmor: LsmLabel,
    /// The namespaces in [`NAMESPACES`] order.
    pub namespaces: Vec<Namespace>,
}

impl RuntimeView {
    /// The id of namespace `kind`, if it was read.
    pub fn namespace(&self, kind: &str) -> Option<&Result<u64, String>> {
        self.namespaces.iter().find(|n| n.kind == kind).map(|n| &n.id)
    }
}

/// An LSM attribute's text as a label: trailing NULs and newlines dropped;
/// empty means none.
pub fn lsm_label(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let label = text.trim_end_matches(['\0', '\n']).trim();
    (!label.is_empty()).then(|| label.to_owned())
}

/// One line of `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted (octal escapes such as `\040` decoded).
    pub mount_point: String,
    /// Per-mount options (`ro`, `nosuid`, ...).
    pub options: Vec<String>,
    /// Filesystem type.
    pub fs_type: String,
    /// Superblock options.
    pub super_options: Vec<String>,
}

impl Mount {
    /// Whether writes through this mount are refused: the mount or its
    /// superblock is read-only.
    pub fn read_only(&self) -> bool {
        self.options.iter().chain(&self.super_options).any(|o| o == "ro")
    }
}

/// Parse `mountinfo` text; malformed lines are passed over.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let mut tail = right.split(' ');
            let fs_type = tail.next()?.to_owned();
            let _source = tail.next();
            let super_options = tail.next().unwrap_or("").split(',').map(str::to_owned).collect();
            Some(Mount {
                mount_point: unescape(fields.get(4)?),
                options: fields.get(5)?.split(',').map(str::to_owned).collect(),
                fs_type,
                super_options,
            })
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let code = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount that `path` resolves through: the last-mounted one whose mount
/// point is `path` or its longest parent.
pub fn mount_of<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let covers = |m: &Mount| {
        let mp = m.mount_point.as_str();
        mp == path || mp == "/" || path.strip_prefix(mp).is_some_and(|rest| rest.starts_with('/'))
    };
    let best = mounts.iter().filter(|m| covers(m)).map(|m| m.mount_point.len()).max()?;
    mounts.iter().rev().find(|m| covers(m) && m.mount_point.len() == best)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
1486 1410 0:219 / / ro,relatime master:447 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
1487 1486 0:222 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1494 1486 0:226 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
1495 1494 0:29 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw
1411 1487 0:222 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
1420 1486 0:230 / /var/run/secrets/kubernetes.io/serviceaccount ro,relatime - tmpfs tmpfs rw,size=1024k
1500 1486 0:231 / /my\\040data rw,relatime - tmpfs tmpfs rw
";

    #[test]
    fn mountinfo_is_parsed_and_paths_find_their_mount() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 7);
        assert!(mount_of(&mounts, "/").unwrap().read_only());
        assert!(mount_of(&mounts, "/proc/sys").unwrap().read_only());
        assert!(!mount_of(&mounts, "/proc/sysrq-trigger").unwrap().read_only(), "falls back to /proc, rw");
        assert_eq!(mount_of(&mounts, "/proc/sysrq-trigger").unwrap().mount_point, "/proc");
        assert_eq!(mount_of(&mounts, "/sys/fs/cgroup/x").unwrap().fs_type, "cgroup2");
        assert_eq!(mount_of(&mounts, "/etc/passwd").unwrap().mount_point, "/");
        assert_eq!(mount_of(&mounts, "/my data/f").unwrap().mount_point, "/my data");
        assert!(mount_of(&[], "/").is_none());
    }

    #[test]
    fn an_overmount_hides_what_is_below() {
        let text = "1 0 0:1 / / ro - overlay o rw\n2 1 0:2 / / rw - tmpfs t rw\n";
        assert!(!mount_of(&parse_mountinfo(text), "/x").unwrap().read_only());
    }

    #[test]
    fn initial_namespaces_are_known_by_inode() {
        assert!(is_initial_namespace("pid", 4026531836));
        assert!(is_initial_namespace("net", 4026531833));
        assert!(!is_initial_namespace("net", 4026531836));
        assert!(!is_initial_namespace("pid", 4026532200));
    }

    #[test]
    fn labels_lose_their_terminators() {
        assert_eq!(
            lsm_label(b"cri-containerd.apparmor.d (enforce)\n").as_deref(),
            Some("cri-containerd.apparmor.d (enforce)")
        );
        assert_eq!(
            lsm_label(b"system_u:system_r:container_t:s0:c1,c2\0").as_deref(),
            Some("system_u:system_r:container_t:s0:c1,c2")
        );
        assert_eq!(lsm_label(b"\n"), None);
    }
}
