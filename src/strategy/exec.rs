//! The exec strategy: commands run in the target container itself, through
//! the Kubernetes exec API over WebSocket, with the scoped credentials.

use std::time::Duration;

use crate::cluster::access::{Grant, ScopedAccess};
use crate::cluster::exec::Exec;
use crate::engine::probe::exec::ExecProbe;
use crate::engine::{Reach, Via};
use crate::target::ContainerRef;

/// `get` on the pods (to find the container) and `get` + `create` on
/// `pods/exec`: exec over WebSocket is a GET upgrade, and from Kubernetes
/// 1.35 the API server also checks `create`.
pub fn grants(pods: &[String]) -> Vec<Grant> {
    vec![
        Grant { resource: "pods", verbs: &["get"], names: pods.to_vec() },
        Grant { resource: "pods/exec", verbs: &["get", "create"], names: pods.to_vec() },
    ]
}

/// A probe over exec in `target`, as the scoped identity.
pub fn reach(access: &ScopedAccess, target: &ContainerRef, timeout: Duration, reason: Option<String>) -> Reach {
    let exec = Exec::new(access.connection.client.clone(), target.clone(), timeout);
    Reach::new(Via::Probe(Box::new(ExecProbe::new(exec))), Some(target.uri()), "exec", reason)
}
