//! What the target pods would refuse, looked at before a run creates
//! anything: Pod Security admission, and the pile of ephemeral containers.
//!
//! The scanner container of debug and sidecar runs as the target's UID when
//! the target's pod spec names one, with everything Pod Security
//! `restricted` asks (see [`super::StrategyConfig::scanner_security_context`]);
//! else it runs as root, which `restricted` forbids. When the namespace
//! enforces `restricted` and the scanner would be root, the run stops here,
//! with the caller's identity, before any access is created — rather than
//! after, with the admission controller's terse refusal.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::Api;

use super::{Strategy, StrategyConfig};
use crate::cluster::client::Connection;
use crate::cluster::{api_error, api_status};
use crate::error::{Error, Result};
use crate::target::ContainerRef;

/// The namespace label naming the enforced Pod Security level.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// What the target pods would not take, found before anything is created:
/// a root scanner container in a namespace that enforces Pod Security
/// `restricted`, and (debug) another scanner container in a pod that holds
/// `--max-ephemeral` of them already. Returns each refused target's index
/// in `targets` with why; the caller scans the others. A caller who may not
/// read the namespace is not stopped here: admission then speaks for itself.
pub async fn check(
    admin: &Connection,
    config: &StrategyConfig,
    targets: &[ContainerRef],
) -> Result<Vec<(usize, Error)>> {
    if !matches!(config.kind, Strategy::Debug | Strategy::Sidecar) {
        return Ok(Vec::new());
    }
    let Some(first) = targets.first() else { return Ok(Vec::new()) };
    let ns = first.namespace.as_str();
    let level = match Api::<Namespace>::all(admin.client.clone()).get(ns).await {
        Ok(namespace) => namespace.metadata.labels.and_then(|l| l.get(ENFORCE_LABEL).cloned()),
        Err(e) => {
            tracing::debug!("cannot read namespace {ns} ({e}): Pod Security admission will judge the scanner");
            None
        }
    };
    let restricted = level.as_deref() == Some("restricted");
    if !restricted && config.kind != Strategy::Debug {
        return Ok(Vec::new());
    }
    let pods: Api<Pod> = Api::namespaced(admin.client.clone(), ns);
    let mut refused = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let pod = match pods.get(target.pod.as_str()).await {
            Ok(pod) => pod,
            Err(e) => {
                refused.push((
                    i,
                    match api_status(&e) {
                        Some(404) => Error::scan(format!("pod {ns}/{} is gone (404)", target.pod)),
                        _ => api_error(e, &format!("reading pod {ns}/{}", target.pod)),
                    },
                ));
                continue;
            }
        };
        if restricted && config.scanner_uid(pod.spec.as_ref(), target.container.as_str()) == 0 {
            refused.push((i, Error::scan(root_refusal(target, config.kind))));
        } else if config.kind == Strategy::Debug {
            if let Err(e) = super::debug::within_limit(&pod, config, target) {
                refused.push((i, e));
            }
        }
    }
    Ok(refused)
}

/// Why a root scanner cannot be used for `target` in a `restricted` namespace,
/// and what to change.
fn root_refusal(target: &ContainerRef, kind: Strategy) -> String {
    format!(
        "{target}: namespace {} enforces Pod Security \"restricted\" ({ENFORCE_LABEL}=restricted), which admits no \
         container running as root, and the {kind} scanner would run as root: the target's pod spec names no \
         non-root runAsUser (on the container or the pod) for kscan to run the scanner as. Nothing was created. \
         Set runAsUser in the target's spec (the scanner then runs as that UID, with the restricted securityContext), \
         pass --scanner-user UID with the UID the container runs as, or scan with --strategy exec (needs a shell)",
        target.namespace
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Label, Subdomain};

    #[test]
    fn the_refusal_says_why_and_what_to_change() {
        let target = ContainerRef {
            namespace: Label::parse("namespace", "shop").unwrap(),
            pod: Subdomain::parse("pod", "web").unwrap(),
            container: Label::parse("container", "app").unwrap(),
        };
        let m = root_refusal(&target, Strategy::Debug);
        for needle in ["restricted", "root", "runAsUser", "--scanner-user", "--strategy exec", "Nothing was created"] {
            assert!(m.contains(needle), "{needle}: {m}");
        }
    }
}
