//! Everything that talks to the Kubernetes API: the client, ephemeral
//! least-privilege access, exec, and the teardown guard.

pub mod exec;

use crate::error::Error;

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

/// The HTTP status code of an API error, if it is one.
pub fn api_status(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}
