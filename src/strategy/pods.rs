//! Waiting for scanner containers, and naming why a pod was refused:
//! shared by the debug and sidecar strategies.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;

use crate::cluster::api_error;
use crate::cluster::pod::{container_state, start_failure, Kind};
use crate::error::{Error, Result};

/// How long a scanner container may take to start.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Wait until every container in `containers` of pod `name` runs; fail
/// early, with the kubelet's reason, when one cannot start.
pub async fn wait_running(pods: &Api<Pod>, name: &str, kind: Kind, containers: &[&str], image: &str) -> Result<Pod> {
    let start = Instant::now();
    let mut said = false;
    loop {
        let pod = pods.get(name).await.map_err(|e| api_error(e, &format!("reading pod {name}")))?;
        let mut all = true;
        for c in containers {
            let state = container_state(&pod, kind, c).cloned().unwrap_or_default();
            if state.running.is_some() {
                continue;
            }
            all = false;
            if let Some(why) = start_failure(&pod, kind, c) {
                return Err(Error::scan(format!(
                    "container {c} (image {image}) in pod {name} cannot start: {why}. Make the image available \
                     to the node (see docs/strategies.md) or pass --scanner-image"
                )));
            }
            if let Some(t) = state.terminated {
                return Err(Error::scan(format!(
                    "container {c} in pod {name} ended at once (exit {}, {}): {}",
                    t.exit_code,
                    t.reason.unwrap_or_default(),
                    t.message.unwrap_or_default()
                )));
            }
        }
        if all {
            return Ok(pod);
        }
        if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
            return Err(Error::scan(format!("pod {name} failed before its containers ran")));
        }
        if start.elapsed() > START_TIMEOUT {
            return Err(Error::scan(format!(
                "{} in pod {name} did not start within {START_TIMEOUT:?}",
                containers.join(", ")
            )));
        }
        if !said && start.elapsed() > Duration::from_secs(5) {
            tracing::info!("waiting for {} in pod {name} to start", containers.join(", "));
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A message for a refused pod or ephemeral container: names the Pod
/// Security policy when that is what refused it.
pub fn refused(err: kube::Error, what: &str) -> Error {
    if let kube::Error::Api(status) = &err {
        if status.message.contains("PodSecurity") || status.message.contains("pod security") {
            return Error::scan(format!(
                "{what} was refused by the namespace's Pod Security admission: {}. A non-root scanner gets the \
                 restricted securityContext: name the target's UID in its pod spec (runAsUser) or pass \
                 --scanner-user UID with the UID it runs as; a root target cannot be scanned this way under \
                 restricted: scan it with --strategy exec",
                status.message
            ));
        }
        if status.code == 403 || status.code == 422 {
            return Error::scan(format!("{what} was refused ({}): {}", status.code, status.message));
        }
    }
    api_error(err, what)
}
