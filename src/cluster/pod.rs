//! Reading a pod's container statuses: which container, its runtime id,
//! whether it runs, and whether it cannot start.

use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};

/// Which container statuses of a pod to look at.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `status.containerStatuses`.
    Regular,
    /// `status.ephemeralContainerStatuses`.
    Ephemeral,
}

/// The status of `container`, if the kubelet reported one.
pub fn container_status<'a>(pod: &'a Pod, kind: Kind, container: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    let list = match kind {
        Kind::Regular => status.container_statuses.as_ref(),
        Kind::Ephemeral => status.ephemeral_container_statuses.as_ref(),
    };
    list?.iter().find(|s| s.name == container)
}

/// The reported state of `container`, if any.
pub fn container_state<'a>(pod: &'a Pod, kind: Kind, container: &str) -> Option<&'a ContainerState> {
    container_status(pod, kind, container)?.state.as_ref()
}

/// Whether `container` is reported running.
pub fn is_running(pod: &Pod, kind: Kind, container: &str) -> bool {
    container_state(pod, kind, container).is_some_and(|s| s.running.is_some())
}

/// The runtime id of `container` (without the `containerd://` prefix).
pub fn container_id(pod: &Pod, kind: Kind, container: &str) -> Option<String> {
    let id = container_status(pod, kind, container)?.container_id.as_deref()?;
    Some(id.rsplit("://").next().unwrap_or(id).to_owned())
}

/// Waiting reasons that will not resolve by waiting: the image cannot be
/// had, or the container cannot be created or started.
const HOPELESS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerError",
    "CreateContainerConfigError",
    "RunContainerError",
    "StartError",
    "CrashLoopBackOff",
];

/// Why `container` cannot start, `"REASON: message"`, when the kubelet
/// reports it waiting for a reason that waiting will not resolve, or
/// terminated without ever having run (a start error).
pub fn start_failure(pod: &Pod, kind: Kind, container: &str) -> Option<String> {
    let status = container_status(pod, kind, container)?;
    let state = status.state.as_ref()?;
    let (reason, message) = if let Some(w) = &state.waiting {
        (w.reason.clone().unwrap_or_default(), w.message.clone().unwrap_or_default())
    } else if let Some(t) = &state.terminated {
        // A process that ran has a start time; one that never ran does not,
        // or carries the runtime's StartError.
        let never_ran = t.started_at.is_none() || t.reason.as_deref() == Some("StartError");
        if !never_ran {
            return None;
        }
        (t.reason.clone().unwrap_or_else(|| "StartError".into()), t.message.clone().unwrap_or_default())
    } else {
        return None;
    };
    if !HOPELESS.contains(&reason.as_str()) && state.terminated.is_none() {
        return None;
    }
    Some(if message.is_empty() { reason } else { format!("{reason}: {message}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(state: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"ephemeralContainerStatuses": [
                {"name": "s", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": state}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn a_container_that_cannot_start_is_told_from_one_that_is_starting_or_ran() {
        let broken = pod(json!({"waiting": {"reason": "RunContainerError", "message": "stat /x: no such file"}}));
        assert_eq!(start_failure(&broken, Kind::Ephemeral, "s").unwrap(), "RunContainerError: stat /x: no such file");
        let pulling = pod(json!({"waiting": {"reason": "ContainerCreating"}}));
        assert_eq!(start_failure(&pulling, Kind::Ephemeral, "s"), None);
        let start_error = pod(json!({"terminated": {"exitCode": 128, "reason": "StartError", "message": "exec failed",
            "startedAt": "1970-01-01T00:00:00Z"}}));
        assert_eq!(start_failure(&start_error, Kind::Ephemeral, "s").unwrap(), "StartError: exec failed");
        let ran =
            pod(json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-01-01T00:00:00Z"}}));
        assert_eq!(start_failure(&ran, Kind::Ephemeral, "s"), None);
        assert_eq!(start_failure(&ran, Kind::Ephemeral, "other"), None);
    }
}
