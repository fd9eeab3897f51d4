//! Reading a pod's container statuses: which container, its runtime id,
//! whether it runs.

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
