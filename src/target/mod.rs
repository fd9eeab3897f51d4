//! Target: what to scan. Names are validated here, before any API call, so a
//! bad name is an input error (exit 2) and never reaches the cluster. A
//! [`Request`] names the pods; `cluster::resolve` finds its running
//! containers with the caller's identity. Nothing here talks to the API.

use std::fmt;

use crate::error::{Error, Result};

/// A validated RFC 1123 DNS label (namespace, container name): at most 63
/// lower-case alphanumerics or `-`, starting and ending alphanumeric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(String);

/// A validated RFC 1123 DNS subdomain (pod name): at most 253 characters,
/// dot-separated labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subdomain(String);

fn label_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("is empty");
    }
    if s.len() > 63 {
        return Some("is longer than 63 characters");
    }
    if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Some("may contain only lower-case letters, digits and '-'");
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("must start and end with a letter or digit");
    }
    None
}

impl Label {
    /// Validate `value` as the `what` (e.g. "namespace") of a target.
    pub fn parse(what: &str, value: &str) -> Result<Self> {
        match label_problem(value) {
            None => Ok(Label(value.to_owned())),
            Some(problem) => Err(Error::input(format!("{what} {value:?} is not a valid RFC 1123 label: it {problem}"))),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Subdomain {
    /// Validate `value` as the `what` (e.g. "pod") of a target.
    pub fn parse(what: &str, value: &str) -> Result<Self> {
        let problem = if value.is_empty() {
            Some("is empty".to_owned())
        } else if value.len() > 253 {
            Some("is longer than 253 characters".to_owned())
        } else {
            value.split('.').find_map(|part| label_problem(part).map(|p| format!("has a part {part:?} that {p}")))
        };
        match problem {
            None => Ok(Subdomain(value.to_owned())),
            Some(problem) => {
                Err(Error::input(format!("{what} {value:?} is not a valid RFC 1123 subdomain: it {problem}")))
            }
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Subdomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which pods to scan.
#[derive(Debug, Clone)]
pub enum Selection {
    /// One pod by name.
    Pod(Subdomain),
    /// Every running pod matching a label selector.
    Selector(String),
}

/// A request: a namespace, the pods, and optionally a container name (else
/// each pod's default container, or its only one).
#[derive(Debug, Clone)]
pub struct Request {
    /// The namespace.
    pub namespace: Label,
    /// The pods.
    pub pods: Selection,
    /// The container.
    pub container: Option<Label>,
}

/// One container of one pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerRef {
    /// Namespace.
    pub namespace: Label,
    /// Pod name.
    pub pod: Subdomain,
    /// Container name.
    pub container: Label,
}

impl ContainerRef {
    /// The `k8s-container://` URI InSpec and CINC Auditor take with `-t`.
    pub fn uri(&self) -> String {
        format!("k8s-container://{}/{}/{}", self.namespace, self.pod, self.container)
    }
}

impl fmt::Display for ContainerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.pod, self.container)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_rfc_1123() {
        for ok in ["a", "kscan-test", "0abc", &"a".repeat(63)] {
            assert!(Label::parse("namespace", ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("Upper", "lower-case"),
            ("-x", "start and end"),
            ("x-", "start and end"),
            ("a.b", "lower-case letters, digits and '-'"),
            ("a;rm -rf", "lower-case"),
            (&"a".repeat(64), "longer than 63"),
        ] {
            let err = Label::parse("namespace", bad).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn subdomains_allow_dots_but_check_each_part() {
        assert!(Subdomain::parse("pod", "web-0.shard").is_ok());
        let err = Subdomain::parse("pod", "web..x").unwrap_err();
        assert!(err.to_string().contains("part \"\" that is empty"), "{err}");
        assert!(Subdomain::parse("pod", "$(id)").is_err());
    }
}
