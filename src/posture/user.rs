//! Which user a container runs as, as far as the spec says.
//!
//! The container's `securityContext` overrides the pod's, field by field.
//! When neither sets `runAsUser` nor `runAsNonRoot: true`, the image's
//! `USER` decides, and the spec alone cannot tell: that is its own outcome,
//! never a pass.

use super::spec::{Container, PodSpec};

/// What the spec says about a container's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAs {
    /// `runAsUser: 0` (effective): runs as root on the host.
    Root,
    /// UID 0, but inside the pod's own user namespace (`hostUsers: false`):
    /// root in the container maps to an unprivileged host user.
    RootInUserNamespace,
    /// A non-zero `runAsUser`, or `runAsNonRoot: true` (the kubelet refuses
    /// to start the container as UID 0).
    NonRoot,
    /// Neither says: the image's user decides.
    Unknown,
}

/// The effective user of `container` in `pod`.
pub fn run_as(pod: &PodSpec, container: &Container) -> RunAs {
    let ctx = container.security_context.as_ref();
    let pod_ctx = pod.security_context.as_ref();
    let uid = ctx.and_then(|s| s.run_as_user).or_else(|| pod_ctx.and_then(|s| s.run_as_user));
    let non_root = ctx.and_then(|s| s.run_as_non_root).or_else(|| pod_ctx.and_then(|s| s.run_as_non_root));
    match (uid, non_root) {
        (Some(0), _) if pod.in_user_namespace() => RunAs::RootInUserNamespace,
        (Some(0), _) => RunAs::Root,
        (Some(_), _) | (None, Some(true)) => RunAs::NonRoot,
        (None, _) => RunAs::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::spec::RawObject;

    fn outcomes(json: &str) -> Vec<RunAs> {
        let o: RawObject = serde_json::from_str(&format!(r#"{{"kind":"Pod","spec":{json}}}"#)).unwrap();
        let spec = o.spec.unwrap();
        spec.init_containers
            .iter()
            .chain(&spec.containers)
            .chain(&spec.ephemeral_containers)
            .map(|c| run_as(&spec, c))
            .collect()
    }

    #[test]
    fn container_overrides_pod_field_by_field() {
        assert_eq!(
            outcomes(
                r#"{"securityContext":{"runAsUser":1000},
                    "initContainers":[{"name":"i","securityContext":{"runAsUser":0}}],
                    "containers":[{"name":"a"},{"name":"b","securityContext":{"runAsNonRoot":false}}],
                    "ephemeralContainers":[{"name":"e","securityContext":{"runAsUser":0}}]}"#
            ),
            [RunAs::Root, RunAs::NonRoot, RunAs::NonRoot, RunAs::Root]
        );
        assert_eq!(
            outcomes(
                r#"{"securityContext":{"runAsNonRoot":true},"containers":[{"name":"a"},{"name":"b","securityContext":{"runAsUser":0}}]}"#
            ),
            [RunAs::NonRoot, RunAs::Root]
        );
    }

    #[test]
    fn silence_is_unknown_not_a_pass() {
        assert_eq!(outcomes(r#"{"containers":[{"name":"a"}]}"#), [RunAs::Unknown]);
        assert_eq!(
            outcomes(r#"{"securityContext":{"runAsNonRoot":false},"containers":[{"name":"a"}]}"#),
            [RunAs::Unknown]
        );
    }

    #[test]
    fn host_users_false_is_root_in_a_user_namespace() {
        assert_eq!(
            outcomes(r#"{"hostUsers":false,"securityContext":{"runAsUser":0},"containers":[{"name":"a"}]}"#),
            [RunAs::RootInUserNamespace]
        );
    }
}
