//! The container baseline as Rust checks. Each check is a pure function of
//! the [`Facts`]; the same controls exist as an InSpec profile in
//! `profiles/container-baseline/` for the `cinc` engine (the ids, titles and
//! impacts are the same, and a test keeps them so).
//!
//! Beyond the controls every container baseline has (password file owner and
//! mode, os-release, non-root main process, no remote-access daemons, no
//! dangerous capabilities), kscan checks what commonly turns a container
//! compromise into a host or cluster compromise: setuid/setgid binaries (a
//! path back to root), world-writable system files (tampering), extra UID 0
//! accounts and empty passwords (trivial privilege), a package manager or a
//! shell in a runtime image (tooling for an attacker; low impact, since many
//! images need a shell), and secrets in the main process's environment
//! (readable by anything that can read `/proc/<pid>/environ`, and kept in
//! pod specs and logs).

use super::facts::{os_release_fields, Fact, Facts};
use super::outcome::{error, fail, pass, skip, NO_PROCESSES};
use crate::hdf::TestResult;
use crate::probe::proc::{Capability, ProcessView};
use crate::probe::FileKind;

/// One control of the baseline.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Control id.
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// Impact 0.0–1.0.
    pub impact: f64,
    /// NIST SP 800-53 controls.
    pub nist: &'static [&'static str],
    /// Why it matters (HDF `default` description).
    pub desc: &'static str,
    /// How it is checked (`check`).
    pub check: &'static str,
    /// How to fix a failure (`fix`).
    pub fix: &'static str,
    /// The InSpec file with the same control, under `profiles/container-baseline/controls/`.
    pub file: &'static str,
    /// Where the control comes from, as HDF tags: `(tag, reference)` pairs
    /// such as `("cis_docker", "5.21")`; several of one tag are listed
    /// together.
    pub sources: &'static [(&'static str, &'static str)],
    /// The test.
    pub run: fn(&Facts) -> Vec<TestResult>,
}

/// Every check, in report order.
pub const CHECKS: &[Check] = &[
    Check {
        id: "kscan-os-release",
        title: "The image identifies its distribution in /etc/os-release",
        impact: 0.3,
        nist: &["CM-8", "SI-2"],
        desc: "Without /etc/os-release the image's distribution and release cannot be inventoried or matched against advisories.",
        check: "/etc/os-release exists and has an ID field.",
        fix: "Base the image on a distribution that ships /etc/os-release, or add one naming the image's base.",
        file: "image.rb",
        sources: &[],
        run: os_release,
    },
    Check {
        id: "kscan-passwd-owner-mode",
        title: "/etc/passwd is owned by root and not writable by group or others",
        impact: 0.7,
        nist: &["AC-3", "AC-6"],
        desc: "A writable /etc/passwd lets any process add accounts or change UIDs, including to 0.",
        check: "/etc/passwd is owned by UID 0 and GID 0 with mode 0644 or stricter.",
        fix: "chown root:root /etc/passwd && chmod 0644 /etc/passwd in the image build.",
        file: "accounts.rb",
        sources: &[],
        run: passwd_owner_mode,
    },
    Check {
        id: "kscan-shadow-owner-mode",
        title: "/etc/shadow is owned by root and not readable by others",
        impact: 0.7,
        nist: &["AC-3", "IA-5"],
        desc: "Password hashes readable by other users can be cracked offline.",
        check: "If /etc/shadow exists, it is owned by UID 0 with mode 0640 or stricter.",
        fix: "chown root /etc/shadow && chmod 0640 /etc/shadow (or remove it if the image needs no local accounts).",
        file: "accounts.rb",
        sources: &[],
        run: shadow_owner_mode,
    },
    Check {
        id: "kscan-shadow-no-empty-passwords",
        title: "No account in /etc/shadow has an empty password",
        impact: 0.7,
        nist: &["IA-5"],
        desc: "An account with an empty password can be used without any secret.",
        check: "No /etc/shadow entry has an empty second field.",
        fix: "Lock the account (passwd -l NAME) or set a password hash in the image build.",
        file: "accounts.rb",
        sources: &[],
        run: shadow_no_empty_passwords,
    },
    Check {
        id: "kscan-passwd-single-uid0",
        title: "Only root has UID 0",
        impact: 0.7,
        nist: &["AC-6", "IA-2"],
        desc: "Any account with UID 0 is root under another name.",
        check: "The only /etc/passwd entry with UID 0 is named root.",
        fix: "Remove the extra UID 0 accounts from /etc/passwd or give them their own UIDs.",
        file: "accounts.rb",
        sources: &[],
        run: passwd_single_uid0,
    },
    Check {
        id: "kscan-main-process-not-root",
        title: "The container's main process does not run as root",
        impact: 0.7,
        nist: &["AC-6", "CM-7"],
        desc: "A process running as root inside the container is one kernel or runtime bug away from root on the node.",
        check: "The real UID of the container's main process (its entrypoint) is not 0.",
        fix: "Set USER in the image and runAsNonRoot: true with a runAsUser in the pod's securityContext.",
        file: "processes.rb",
        sources: &[],
        run: main_process_not_root,
    },
    Check {
        id: "kscan-no-root-processes",
        title: "No process in the container has effective UID 0",
        impact: 0.5,
        nist: &["AC-6"],
        desc: "Processes that gain effective root (setuid helpers, su, sudo) carry root's privileges.",
        check: "Every process of the container has a non-zero effective UID.",
        fix: "Run as a non-root user and set allowPrivilegeEscalation: false so no process can regain root.",
        file: "processes.rb",
        sources: &[],
        run: no_root_processes,
    },
    Check {
        id: "kscan-no-remote-access-daemons",
        title: "No sshd, httpd, nginx or apache2 process runs in the container",
        impact: 0.5,
        nist: &["CM-7", "AC-17"],
        desc: "Remote-access and general web daemons widen the attack surface; containers should run one purpose-built process.",
        check: "No process of the container is named sshd, httpd, nginx, apache2, telnetd, vsftpd or dropbear.",
        fix: "Remove the daemon from the image; use kubectl exec for access and a dedicated ingress for HTTP.",
        file: "processes.rb",
        sources: &[],
        run: no_remote_access_daemons,
    },
    Check {
        id: "kscan-no-dangerous-capabilities",
        title: "The main process has no CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE or CAP_SYS_MODULE",
        impact: 0.9,
        nist: &["AC-6", "CM-7"],
        desc: "These capabilities allow mounting filesystems, reconfiguring the network, reading other processes and loading kernel modules: near-root on the node.",
        check: "None of these bits is set in the main process's effective capability set (CapEff).",
        fix: "Drop ALL capabilities in the container's securityContext and add back only what the workload needs.",
        file: "processes.rb",
        sources: &[],
        run: no_dangerous_capabilities,
    },
    Check {
        id: "kscan-no-world-writable-system-files",
        title: "No world-writable files or non-sticky world-writable directories in system paths",
        impact: 0.5,
        nist: &["AC-3", "CM-6"],
        desc: "World-writable binaries, libraries or configuration let any user change what root runs.",
        check: "No regular file under /bin, /sbin, /usr, /lib, /lib64, /etc, /opt, /boot is writable by others, and no directory there is writable by others without the sticky bit.",
        fix: "chmod o-w the listed paths in the image build.",
        file: "filesystem.rb",
        sources: &[],
        run: no_world_writable,
    },
    Check {
        id: "kscan-no-setid-binaries",
        title: "No setuid or setgid binaries in system paths",
        impact: 0.5,
        nist: &["AC-6", "CM-7"],
        desc: "Setuid and setgid binaries are the usual way back to root from a non-root process.",
        check: "No regular file under the system paths has the setuid or setgid bit.",
        fix: "Remove the binaries or their setuid/setgid bits (chmod ug-s) in the image build, and set allowPrivilegeEscalation: false.",
        file: "filesystem.rb",
        sources: &[],
        run: no_setid_binaries,
    },
    Check {
        id: "kscan-no-package-manager",
        title: "The runtime image has no package manager",
        impact: 0.3,
        nist: &["CM-7", "CM-11"],
        desc: "A package manager lets an intruder install tooling; runtime images should be built, not mutated.",
        check: "None of apt, apt-get, dpkg, apk, yum, dnf, microdnf, rpm, zypper, pip, pip3 exists at its usual path.",
        fix: "Use a multi-stage build and copy only the application into a minimal or distroless base.",
        file: "image.rb",
        sources: &[],
        run: no_package_manager,
    },
    Check {
        id: "kscan-no-shell",
        title: "The runtime image has no shell",
        impact: 0.3,
        nist: &["CM-7"],
        desc: "A shell makes command injection and interactive intrusion easy; many images need one, so this is low impact.",
        check: "None of sh, bash, ash, dash, zsh exists in /bin or /usr/bin.",
        fix: "Use a distroless base; scan it with --strategy debug or sidecar.",
        file: "image.rb",
        sources: &[],
        run: no_shell,
    },
    Check {
        id: "kscan-no-secrets-in-environment",
        title: "The main process's environment holds no secrets",
        impact: 0.7,
        nist: &["IA-5", "SC-28"],
        desc: "Environment variables are visible in the pod spec, to anything that reads /proc/<pid>/environ, and often in crash logs.",
        check: "No non-empty variable of the main process has a name containing PASSWORD, PASSWD, SECRET, TOKEN, API_KEY, APIKEY, PRIVATE_KEY, ACCESS_KEY or CREDENTIAL (names ending in _FILE or _PATH, which point at files, are allowed). Only names are read into the report, never values.",
        fix: "Mount secrets as files (a Secret volume) and pass the path instead.",
        file: "processes.rb",
        sources: &[],
        run: no_secrets_in_environment,
    },
];

fn os_release(f: &Facts) -> Vec<TestResult> {
    let desc = "File /etc/os-release names the distribution";
    let file = known_or_return!(&f.os_release, desc);
    let Some(text) = &file.contents else {
        return vec![fail(&f.os_release, desc, "/etc/os-release does not exist")];
    };
    let fields = os_release_fields(&String::from_utf8_lossy(text));
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    match get("ID") {
        Some(id) if !id.is_empty() => vec![pass(
            &f.os_release,
            format!(
                "File /etc/os-release names the distribution: ID={id} VERSION_ID={}",
                get("VERSION_ID").unwrap_or("")
            ),
        )],
        _ => vec![fail(&f.os_release, desc, "/etc/os-release has no ID field")],
    }
}

fn owner_mode(
    fact: &Fact<impl Sized>,
    path: &str,
    stat: &crate::probe::FileStat,
    want_gid0: bool,
    max_mode: u32,
) -> Vec<TestResult> {
    let owner_desc = if want_gid0 {
        format!("File {path} is owned by uid 0 and gid 0")
    } else {
        format!("File {path} is owned by uid 0")
    };
    let owner_ok = stat.uid == 0 && (!want_gid0 || stat.gid == 0);
    let owner = if owner_ok {
        pass(fact, owner_desc)
    } else {
        fail(fact, owner_desc, format!("{path} is owned by uid {} gid {}", stat.uid, stat.gid))
    };
    let mode_desc = format!("File {path} mode is {max_mode:04o} or stricter");
    let extra = stat.mode & !max_mode;
    let mode = if stat.kind != FileKind::File {
        fail(fact, mode_desc, format!("{path} is not a regular file"))
    } else if extra == 0 {
        pass(fact, mode_desc)
    } else {
        fail(fact, mode_desc, format!("{path} has mode {:04o}; bits {extra:04o} are too permissive", stat.mode))
    };
    vec![owner, mode]
}

fn passwd_owner_mode(f: &Facts) -> Vec<TestResult> {
    let file = known_or_return!(&f.passwd, "File /etc/passwd owner and mode");
    match &file.stat {
        Some(stat) => owner_mode(&f.passwd, "/etc/passwd", stat, true, 0o644),
        None => vec![fail(&f.passwd, "File /etc/passwd exists", "/etc/passwd does not exist")],
    }
}

fn shadow_owner_mode(f: &Facts) -> Vec<TestResult> {
    let stat = known_or_return!(&f.shadow_stat, "File /etc/shadow owner and mode");
    match stat {
        Some(stat) => owner_mode(&f.shadow_stat, "/etc/shadow", stat, false, 0o640),
        None => vec![pass(&f.shadow_stat, "File /etc/shadow is absent: the image holds no local password hashes")],
    }
}

fn shadow_no_empty_passwords(f: &Facts) -> Vec<TestResult> {
    let desc = "No /etc/shadow entry has an empty password";
    let contents = known_or_return!(&f.shadow, desc);
    let Some(text) = contents else {
        return vec![pass(&f.shadow, "File /etc/shadow is absent: no account has a password")];
    };
    let empty: Vec<&str> = std::str::from_utf8(text)
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(':');
            let name = parts.next()?;
            parts.next()?.is_empty().then_some(name)
        })
        .collect();
    if empty.is_empty() {
        vec![pass(&f.shadow, desc)]
    } else {
        vec![fail(&f.shadow, desc, format!("accounts with an empty password: {}", empty.join(", ")))]
    }
}

fn passwd_single_uid0(f: &Facts) -> Vec<TestResult> {
    let desc = "Only root has uid 0 in /etc/passwd";
    let file = known_or_return!(&f.passwd, desc);
    let Some(text) = &file.contents else {
        return vec![fail(&f.passwd, desc, "/etc/passwd does not exist")];
    };
    let others: Vec<String> = String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == "0" && f[0] != "root").then(|| f[0].to_owned())
        })
        .collect();
    if others.is_empty() {
        vec![pass(&f.passwd, desc)]
    } else {
        vec![fail(&f.passwd, desc, format!("other accounts with uid 0: {}", others.join(", ")))]
    }
}

fn main_process_not_root(f: &Facts) -> Vec<TestResult> {
    let desc = "Main process runs as a non-root user";
    let Some(view) = known_or_return!(&f.processes, desc) else {
        return vec![skip(&f.processes, desc, NO_PROCESSES)];
    };
    let m = &view.main;
    let desc = format!("Main process {} (pid {}) runs as a non-root user", m.name, m.pid);
    if m.uid() == 0 {
        vec![fail(&f.processes, desc, format!("process {} (pid {}) has uid 0", m.name, m.pid))]
    } else {
        vec![pass(&f.processes, format!("{desc}: uid {}", m.uid()))]
    }
}

fn no_root_processes(f: &Facts) -> Vec<TestResult> {
    let desc = "No process of the container has effective uid 0";
    let Some(view) = known_or_return!(&f.processes, desc) else {
        return vec![skip(&f.processes, desc, NO_PROCESSES)];
    };
    let root: Vec<String> =
        view.all.iter().filter(|p| p.euid() == 0).map(|p| format!("{} (pid {})", p.name, p.pid)).collect();
    let mut results = vec![if root.is_empty() {
        pass(&f.processes, format!("{desc} ({} processes)", view.all.len()))
    } else {
        fail(&f.processes, desc, format!("effective uid 0: {}", root.join(", ")))
    }];
    results.extend(unreadable_processes(&f.processes, view, desc));
    results
}

/// An error result naming the processes of the container whose status or
/// membership could not be read: a check over every process cannot pass
/// for them.
pub(super) fn unreadable_processes(
    fact: &Fact<Option<ProcessView>>,
    view: &ProcessView,
    desc: &str,
) -> Option<TestResult> {
    (!view.unreadable.is_empty()).then(|| {
        let list: Vec<String> = view.unreadable.iter().map(|u| format!("pid {} ({})", u.pid, u.why)).collect();
        error(fact, format!("{desc} (every process read)"), format!("could not read process {}", list.join(", ")))
    })
}

const REMOTE_DAEMONS: &[&str] = &["sshd", "httpd", "nginx", "apache2", "telnetd", "vsftpd", "dropbear"];

fn no_remote_access_daemons(f: &Facts) -> Vec<TestResult> {
    let Some(view) = known_or_return!(&f.processes, "No remote-access daemon runs") else {
        return vec![skip(&f.processes, "No remote-access daemon runs", NO_PROCESSES)];
    };
    let mut results: Vec<TestResult> = REMOTE_DAEMONS
        .iter()
        .map(|daemon| {
            let desc = format!("No {daemon} process runs");
            let running: Vec<String> =
                view.all.iter().filter(|p| p.name == *daemon).map(|p| p.pid.to_string()).collect();
            if running.is_empty() {
                pass(&f.processes, desc)
            } else {
                fail(&f.processes, desc, format!("{daemon} runs as pid {}", running.join(", ")))
            }
        })
        .collect();
    results.extend(unreadable_processes(&f.processes, view, "No remote-access daemon runs"));
    results
}

fn no_dangerous_capabilities(f: &Facts) -> Vec<TestResult> {
    let Some(view) = known_or_return!(&f.processes, "Main process capabilities") else {
        return vec![skip(&f.processes, "Main process capabilities", NO_PROCESSES)];
    };
    Capability::ALL
        .iter()
        .map(|cap| {
            let desc = format!("Main process (pid {}) does not hold {}", view.main.pid, cap.name());
            if view.main.has_capability(*cap) {
                fail(&f.processes, desc, format!("{} is in CapEff {:016x}", cap.name(), view.main.cap_eff))
            } else {
                pass(&f.processes, desc)
            }
        })
        .collect()
}

fn found_paths(fact: &Fact<crate::probe::Found>, desc: &str, what: &str) -> Vec<TestResult> {
    let found = known_or_return!(fact, desc);
    let mut results = Vec::new();
    if found.matches.is_empty() {
        results.push(pass(fact, desc));
    } else {
        let shown: Vec<&str> = found.matches.iter().take(50).map(String::as_str).collect();
        let more = found.matches.len().saturating_sub(shown.len());
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        results.push(fail(fact, desc, format!("{} {what}: {}{tail}", found.matches.len(), shown.join(", "))));
    }
    if !found.unreadable.is_empty() {
        results.push(error(
            fact,
            format!("{desc} (search complete)"),
            format!("could not read {}: the search is incomplete there", found.unreadable.join(", ")),
        ));
    }
    results
}

fn no_world_writable(f: &Facts) -> Vec<TestResult> {
    found_paths(&f.world_writable, "No world-writable files in system paths", "world-writable")
}

fn no_setid_binaries(f: &Facts) -> Vec<TestResult> {
    found_paths(&f.setid_files, "No setuid or setgid files in system paths", "setuid/setgid")
}

fn absent(fact: &Fact<Vec<String>>, desc: &str, what: &str) -> Vec<TestResult> {
    let present = known_or_return!(fact, desc);
    if present.is_empty() {
        vec![pass(fact, desc)]
    } else {
        vec![fail(fact, desc, format!("{what} present: {}", present.join(", ")))]
    }
}

fn no_package_manager(f: &Facts) -> Vec<TestResult> {
    absent(&f.package_managers, "No package manager in the image", "package manager")
}

fn no_shell(f: &Facts) -> Vec<TestResult> {
    absent(&f.shells, "No shell in the image", "shell")
}

const SECRET_WORDS: &[&str] =
    &["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"];

/// Whether an environment variable name suggests it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !upper.ends_with("_FILE") && !upper.ends_with("_PATH") && SECRET_WORDS.iter().any(|w| upper.contains(w))
}

fn no_secrets_in_environment(f: &Facts) -> Vec<TestResult> {
    let desc = "Main process environment has no secret-looking variables";
    let Some(names) = known_or_return!(&f.main_environment, desc) else {
        return vec![skip(&f.main_environment, desc, NO_PROCESSES)];
    };
    let secret: Vec<&str> = names.iter().map(String::as_str).filter(|n| looks_secret(n)).collect();
    if secret.is_empty() {
        vec![pass(&f.main_environment, desc)]
    } else {
        vec![fail(
            &f.main_environment,
            desc,
            format!("variables that look like secrets (values not read): {}", secret.join(", ")),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::facts::testing::{facts, process, stat};
    use crate::hdf::ResultStatus;
    use crate::probe::proc::{ProcessView, Unreadable};
    use crate::probe::Found;

    fn statuses(check_id: &str, f: &Facts) -> Vec<ResultStatus> {
        let check = CHECKS.iter().find(|c| c.id == check_id).unwrap();
        (check.run)(f).into_iter().map(|r| r.status.unwrap()).collect()
    }

    #[test]
    fn a_clean_target_passes_every_check() {
        let f = facts();
        for check in CHECKS {
            let results = (check.run)(&f);
            assert!(!results.is_empty(), "{} gave no results", check.id);
            assert!(results.iter().all(|r| r.status == Some(ResultStatus::Passed)), "{}: {results:?}", check.id);
        }
    }

    #[test]
    fn planted_problems_fail_their_check() {
        use ResultStatus::*;
        let mut f = facts();
        f.passwd.value.as_mut().unwrap().stat = Some(stat(0o666, 0, 0));
        assert_eq!(statuses("kscan-passwd-owner-mode", &f), [Passed, Failed]);
        f.passwd.value.as_mut().unwrap().stat = Some(stat(0o644, 5, 0));
        assert_eq!(statuses("kscan-passwd-owner-mode", &f), [Failed, Passed]);
        f.shadow_stat = Fact::known(Some(stat(0o644, 0, 42)));
        assert_eq!(statuses("kscan-shadow-owner-mode", &f), [Passed, Failed]);
        f.shadow = Fact::known(Some(b"root:*:1::::::\nguest::1::::::\n".to_vec()));
        assert_eq!(statuses("kscan-shadow-no-empty-passwords", &f), [Failed]);
        f.passwd.value.as_mut().unwrap().contents = Some(b"root:x:0:0::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\n".to_vec());
        assert_eq!(statuses("kscan-passwd-single-uid0", &f), [Failed]);
        let root = process(1, "nginx", 0, 1 << 21);
        f.processes = Fact::known(Some(ProcessView { main: root.clone(), all: vec![root], unreadable: vec![] }));
        assert_eq!(statuses("kscan-main-process-not-root", &f), [Failed]);
        assert_eq!(statuses("kscan-no-root-processes", &f), [Failed]);
        assert!(statuses("kscan-no-remote-access-daemons", &f).contains(&Failed));
        assert_eq!(statuses("kscan-no-dangerous-capabilities", &f), [Failed, Passed, Passed, Passed]);
        f.main_environment = Fact::known(Some(vec!["DB_PASSWORD".into(), "DB_PASSWORD_FILE".into()]));
        assert_eq!(statuses("kscan-no-secrets-in-environment", &f), [Failed]);
        f.shells = Fact::known(vec!["/bin/sh".into()]);
        assert_eq!(statuses("kscan-no-shell", &f), [Failed]);
    }

    #[test]
    fn refusals_are_errors_and_directory_scans_skip_process_checks() {
        use ResultStatus::*;
        let mut f = facts();
        f.shadow = Fact::refused("Permission denied");
        assert_eq!(statuses("kscan-shadow-no-empty-passwords", &f), [Error]);
        f.processes = Fact::known(None);
        f.main_environment = Fact::known(None);
        for id in ["kscan-main-process-not-root", "kscan-no-root-processes", "kscan-no-secrets-in-environment"] {
            assert_eq!(statuses(id, &f), [Skipped], "{id}");
        }
        f.setid_files = Fact::known(Found { matches: vec![], unreadable: vec!["/usr/secret".into()] });
        assert_eq!(statuses("kscan-no-setid-binaries", &f), [Passed, Error]);
    }

    #[test]
    fn a_process_that_cannot_be_read_is_an_error_never_a_pass() {
        use ResultStatus::*;
        let mut f = facts();
        let main = process(1, "app", 1000, 0);
        let unreadable = vec![Unreadable { pid: 9, why: "status: Permission denied".into() }];
        f.processes = Fact::known(Some(ProcessView { main: main.clone(), all: vec![main], unreadable }));
        assert_eq!(statuses("kscan-no-root-processes", &f), [Passed, Error]);
        let results = (CHECKS.iter().find(|c| c.id == "kscan-no-root-processes").unwrap().run)(&f);
        assert!(results[1].message.as_deref().unwrap().contains("pid 9"), "{results:?}");
        assert!(statuses("kscan-no-remote-access-daemons", &f).ends_with(&[Error]));
    }

    #[test]
    fn ids_are_unique_and_impacts_valid() {
        let mut ids: Vec<_> = CHECKS.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len());
        assert!(CHECKS.iter().all(|c| (0.0..=1.0).contains(&c.impact) && !c.nist.is_empty()));
    }

    #[test]
    fn secret_names() {
        for yes in ["DB_PASSWORD", "github_token", "AWS_SECRET_ACCESS_KEY", "STRIPE_API_KEY"] {
            assert!(looks_secret(yes), "{yes}");
        }
        for no in ["PATH", "HOME", "DB_PASSWORD_FILE", "TOKEN_PATH", "KUBERNETES_SERVICE_HOST"] {
            assert!(!looks_secret(no), "{no}");
        }
    }
}
