//! Coverage: every target a run meant to scan, scanned or not — and why
//! not. Plain data, stored in the run manifest and shown by the reports, so
//! that what could not be scanned never disappears from a result that
//! looks clean.

use serde::{Deserialize, Serialize};

/// Why a target was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The API refused the scan's identity (403).
    RbacRefused,
    /// The namespace's Pod Security admission refused the scanner.
    PodSecurityRefused,
    /// `--strategy exec` found no shell (or tools) in the container.
    NoShell,
    /// The scanner's image could not be pulled.
    ImagePullFailed,
    /// A step did not finish in time.
    Timeout,
    /// The pod went away during the run.
    PodGone,
    /// Anything else; the message says what.
    Other,
}

impl Reason {
    /// How the reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Reason::RbacRefused => "RBAC refused",
            Reason::PodSecurityRefused => "Pod Security refused",
            Reason::NoShell => "no shell for exec",
            Reason::ImagePullFailed => "image pull failed",
            Reason::Timeout => "timeout",
            Reason::PodGone => "pod gone",
            Reason::Other => "scan failed",
        }
    }

    /// The reason an error `message` of one target's scan gives.
    ///
    /// Messages carry names and ids (pods, exec ids in hex), so single words
    /// and status codes match whole words only: an exec id holding `403` or a
    /// pod named `pull-worker` must not decide the reason. Phrases with
    /// spaces cannot come from an RFC 1123 name and match as substrings.
    pub fn of(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        let word = |w: &str| m.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).any(|t| t == w);
        if m.contains("executable file not found") || m.contains("shell lacks") {
            // The runtime's own words for a missing shell, whatever wraps them.
            Reason::NoShell
        } else if m.contains("pod security") || word("podsecurity") {
            Reason::PodSecurityRefused
        } else if ["errimagepull", "imagepullbackoff", "errimageneverpull", "invalidimagename"].iter().any(|w| word(w))
        {
            Reason::ImagePullFailed
        } else if word("403") || word("forbidden") {
            Reason::RbacRefused
        } else if word("404") || m.contains("not found in namespace") || m.contains("is not running") {
            Reason::PodGone
        } else if m.contains("did not finish within") || m.contains("timed out") || word("timeout") {
            Reason::Timeout
        } else if m.contains("exec `sh`")
            && (m.contains("not found") || m.contains("no such file") || m.contains("exit code 127"))
        {
            Reason::NoShell
        } else {
            Reason::Other
        }
    }
}

/// One target of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// `namespace/pod/container`.
    pub target: String,
    /// `namespace/Kind/name/container` of its workload, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Whether it was scanned.
    pub scanned: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// What went wrong, as the scan said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Every target a run meant to scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// In target order.
    pub targets: Vec<Target>,
}

impl Coverage {
    /// How many were scanned.
    pub fn scanned(&self) -> usize {
        self.targets.iter().filter(|t| t.scanned).count()
    }

    /// How many the run meant to scan.
    pub fn total(&self) -> usize {
        self.targets.len()
    }

    /// Scanned of total, percent, rounded down (so that 100 means all); 0
    /// for a run without targets.
    pub fn percent(&self) -> u32 {
        match self.total() {
            0 => 0,
            n => (self.scanned() * 100 / n) as u32,
        }
    }

    /// The targets that were not scanned.
    pub fn missing(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| !t.scanned)
    }

    /// Whether at least `min` percent were scanned (exactly: `scanned × 100
    /// ≥ min × total`), and a run without scanned targets never is.
    pub fn reaches(&self, min: u8) -> bool {
        self.scanned() > 0 && self.scanned() * 100 >= usize::from(min) * self.total()
    }

    /// `a, b (reason), …` of the missing targets, for one line.
    pub fn missing_line(&self) -> String {
        self.missing()
            .map(|t| format!("{} ({})", t.target, t.reason.map_or("not scanned", Reason::label)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_told_from_the_scans_messages() {
        for (message, reason) in [
            (
                "the debug container was refused by the namespace's Pod Security admission: violates PodSecurity",
                Reason::PodSecurityRefused,
            ),
            ("exec `sh` in a/b/c failed: exec: \"sh\": executable file not found in $PATH", Reason::NoShell),
            ("container kscan (image x) in pod p cannot start: ErrImagePull", Reason::ImagePullFailed),
            ("patching pods/ephemeralcontainers was refused (403): forbidden", Reason::RbacRefused),
            ("`sh` in a/b/c did not finish within 30s", Reason::Timeout),
            ("reading pod ns/web (404)", Reason::PodGone),
            ("the engine wrote invalid JSON", Reason::Other),
            // Ids and names hold digits and words of other reasons.
            (
                "exec `sh` in ns/web-1/app failed: Internal error occurred: failed to start exec \"00f3f302d9b4d356a05e93a\": \
                 OCI runtime exec failed: exec: \"sh\": executable file not found in $PATH: unknown",
                Reason::NoShell,
            ),
            ("exec `sh` in ns/pull-404-forbidden/app failed: exit code 127", Reason::NoShell),
            ("the engine in ns/timeout-403/app wrote invalid JSON", Reason::Other),
            ("container kscan in pod p cannot start: ImagePullBackOff", Reason::ImagePullFailed),
        ] {
            assert_eq!(Reason::of(message), reason, "{message}");
        }
    }

    #[test]
    fn coverage_counts_exactly_and_nothing_scanned_never_reaches() {
        let t = |name: &str, scanned: bool| Target {
            target: name.into(),
            workload: None,
            scanned,
            reason: (!scanned).then_some(Reason::NoShell),
            message: None,
        };
        let c = Coverage { targets: vec![t("a", true), t("b", true), t("c", false)] };
        assert_eq!((c.scanned(), c.total(), c.percent()), (2, 3, 66));
        assert!(c.reaches(66) && !c.reaches(67) && !c.reaches(100));
        assert_eq!(c.missing_line(), "c (no shell for exec)");
        assert!(!Coverage { targets: vec![t("a", false)] }.reaches(0));
        assert!(!Coverage::default().reaches(0));
    }
}
