//! Everything that talks to the Kubernetes API: the client, resolving a
//! request to running containers, ephemeral least-privilege access, exec,
//! and the teardown guard.

pub mod access;
pub mod cleanup;
pub mod client;
pub mod exec;
pub mod pod;
pub mod resolve;
pub mod retry;
pub mod teardown;

use std::collections::BTreeMap;

use crate::error::Error;

/// Label every object kscan creates carries: `app.kubernetes.io/managed-by=kscan`.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kscan");
/// Label naming the run that created an object.
pub const RUN_LABEL: &str = "kscan.dev/run";
/// Annotation with the RFC 3339 time after which the object is an orphan.
pub const EXPIRES_ANNOTATION: &str = "kscan.dev/expires-at";

/// A run's identity: 10 random lower-case hex digits. Objects of the run are
/// named `kscan-<id>` and labelled `kscan.dev/run=<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId(String);

impl RunId {
    /// A new random id.
    pub fn generate() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        RunId(id[..10].to_owned())
    }

    /// Parse an id given on the command line (`kscan cleanup --run`).
    pub fn parse(s: &str) -> crate::Result<Self> {
        let s = s.strip_prefix("kscan-").unwrap_or(s);
        if !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(RunId(s.to_owned()))
        } else {
            Err(Error::input(format!("{s:?} is not a kscan run id (lower-case hex, as printed by kscan scan)")))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Name of the run's ServiceAccount, token Secret, Role and RoleBinding.
    pub fn object_name(&self) -> String {
        format!("kscan-{}", self.0)
    }

    /// Label selector for the run's objects.
    pub fn selector(&self) -> String {
        format!("{}={},{RUN_LABEL}={}", MANAGED_BY.0, MANAGED_BY.1, self.0)
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The labels of every object of `run`.
pub fn labels(run: &RunId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (RUN_LABEL.to_owned(), run.as_str().to_owned()),
    ])
}

/// Turn a kube error into a could-not-scan error (exit 3) that says what was
/// being done and, for the common API answers, what to do.
pub fn api_error(err: kube::Error, what: &str) -> Error {
    let hint = match &err {
        kube::Error::Api(status) => match status.code {
            401 => " (unauthorized: the credentials are invalid or expired)",
            403 => " (forbidden: the identity in use lacks this permission)",
            404 => " (not found)",
            409 => " (conflict: it already exists or changed meanwhile)",
            422 => " (rejected as invalid)",
            _ => "",
        },
        _ => "",
    };
    Error::scan(format!("{what} failed{hint}")).with_source(err)
}

/// An API error in one line for a person: the API server's message and
/// its code (`... is forbidden: User ... cannot delete ... (403 Forbidden)`),
/// without the debug dump of the whole `Status` object; other errors as
/// they display.
pub fn brief(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => format!("{} ({} {})", status.message, status.code, status.reason),
        other => other.to_string(),
    }
}

/// The HTTP status code of an API error, if it is one.
pub fn api_status(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}
