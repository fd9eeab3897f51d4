//! Strategies: how the engine reaches the target container.
//!
//! A strategy decides two things: which permissions the run's Role must grant
//! ([`Strategy::grants`], before anything is created), and — once the scoped
//! access exists — how the engines see the container ([`StrategyConfig::reach`]):
//!
//! - `exec` runs commands in the target container itself through the
//!   Kubernetes exec API; it needs a shell and a few tools there.
//! - `debug` adds an ephemeral scanner container to the target pod that
//!   shares the target's PID namespace; kscan runs inside it on
//!   `/proc/<pid>/root` of the target's main process (distroless images).
//! - `sidecar` starts a new pod with the target's image and a scanner
//!   container, `shareProcessNamespace: true`, and scans the same way.
//! - `auto` uses exec when the container has a usable shell, else debug.

pub mod admission;
pub mod auto;
pub mod debug;
pub mod exec;
pub mod pods;
pub mod sidecar;

use std::time::Duration;

use k8s_openapi::api::core::v1::PodSpec;
use serde_json::{json, Value};

use crate::cluster::access::{Grant, ScopedAccess};
use crate::cluster::teardown::Teardown;
use crate::cluster::RunId;
use crate::engine::Reach;
use crate::error::Result;
use crate::target::ContainerRef;

/// The scanner image of this kscan's own release: the static `kscan-agent`
/// and nothing else, published beside the binaries. A release build pins it
/// by digest; forks and mirrors set `KSCAN_DEFAULT_SCANNER_IMAGE` when they
/// build kscan, users pass `--scanner-image` (or `KSCAN_SCANNER_IMAGE`).
pub const DEFAULT_SCANNER_IMAGE: &str = match option_env!("KSCAN_DEFAULT_SCANNER_IMAGE") {
    Some(image) => image,
    None => concat!("ghcr.io/kscan/kscan-scanner:", env!("CARGO_PKG_VERSION")),
};

/// The strategy chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// exec when the container has a usable shell, else debug.
    Auto,
    /// Run commands in the target container through the Kubernetes exec API
    /// (WebSocket). Needs `sh`, `head`, `stat`, `find`, `cat` and `tr` in the image.
    Exec,
    /// Add an ephemeral scanner container to the target pod (distroless images).
    Debug,
    /// Start a pod with the target's image and a scanner sidecar sharing its
    /// process namespace; the pod is deleted at the end.
    Sidecar,
}

/// A strategy with its settings.
#[derive(Debug, Clone)]
pub struct StrategyConfig {
    /// Which one.
    pub kind: Strategy,
    /// Image of the scanner container (debug, sidecar).
    pub scanner_image: String,
    /// UID the scanner container runs as (default: the target's UID when its
    /// pod spec names one, else root; see [`Self::scanner_security_context`]).
    pub scanner_user: Option<i64>,
    /// Image to scan with sidecar instead of the target container's.
    pub image: Option<String>,
    /// Refuse a debug scan of a pod that already holds this many kscan
    /// scanner containers (they can never be removed from it).
    pub max_ephemeral: u32,
}

/// The default `--max-ephemeral`: a few scans of one pod between restarts
/// are fine; a scheduled scan of a pod that never restarts is stopped
/// before its spec fills with stopped scanner containers.
pub const DEFAULT_MAX_EPHEMERAL: u32 = 5;

impl Strategy {
    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Exec => "exec",
            Strategy::Debug => "debug",
            Strategy::Sidecar => "sidecar",
        }
    }

    /// The Role grants the strategy needs for `pods` (all in one namespace)
    /// in run `run`.
    pub fn grants(self, run: &RunId, pods: &[String]) -> Vec<Grant> {
        match self {
            Strategy::Exec => exec::grants(pods),
            // auto may fall back to debug: it needs debug's grants up front.
            Strategy::Debug | Strategy::Auto => debug::grants(pods),
            Strategy::Sidecar => sidecar::grants(run, pods),
        }
    }

    /// Whether CINC Auditor can run through this strategy (it needs exec;
    /// `auto` then means exec).
    pub fn supports_cinc(self) -> bool {
        matches!(self, Strategy::Exec | Strategy::Auto)
    }
}

impl StrategyConfig {
    /// The scanner container's `securityContext`: its UID is
    /// `--scanner-user`, else the target container's when its pod spec names
    /// one (opening another process's root filesystem takes the same UID, or
    /// CAP_SYS_PTRACE, which Pod Security forbids), else root. Root is asked
    /// for explicitly because the scanner image runs as a non-root user by
    /// default; the agent then takes the target's UID itself when it must.
    pub fn scanner_security_context(&self, pod: Option<&PodSpec>, container: &str) -> Value {
        let pod_context = pod.and_then(|p| p.security_context.as_ref());
        let own = pod
            .and_then(|p| p.containers.iter().find(|c| c.name == container))
            .and_then(|c| c.security_context.as_ref());
        let uid = self
            .scanner_user
            .or_else(|| own.and_then(|c| c.run_as_user))
            .or_else(|| pod_context.and_then(|p| p.run_as_user))
            .unwrap_or(0);
        // Whatever the user: the agent writes nothing to its own filesystem,
        // never needs a setuid binary, and makes only ordinary system calls.
        let mut context = json!({
            "runAsUser": uid,
            "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault"},
        });
        if uid == 0 {
            context["capabilities"] = root_capabilities(own);
        } else {
            // Everything Pod Security `restricted` asks of a container: a
            // non-root scanner reads its target as that user and needs no
            // capability, no privilege escalation and no unusual system call.
            context["runAsNonRoot"] = json!(true);
            context["capabilities"] = json!({"drop": ["ALL"]});
            let gid = own.and_then(|c| c.run_as_group).or_else(|| pod_context.and_then(|p| p.run_as_group));
            if let (Some(gid), None) = (gid, self.scanner_user) {
                context["runAsGroup"] = json!(gid);
            }
        }
        context
    }

    /// The UID the scanner container runs as for `container` of `pod`
    /// (see [`Self::scanner_security_context`]).
    pub fn scanner_uid(&self, pod: Option<&PodSpec>, container: &str) -> i64 {
        self.scanner_security_context(pod, container)["runAsUser"].as_i64().unwrap_or(0)
    }

    /// Put the strategy in place for the `index`-th `target` with the scoped
    /// credentials; whatever it creates is registered with `teardown` first.
    pub async fn reach(
        &self,
        access: &ScopedAccess,
        target: &ContainerRef,
        index: usize,
        timeout: Duration,
        teardown: &Teardown,
    ) -> Result<Reach> {
        let mut reach = match self.kind {
            Strategy::Exec => exec::reach(access, target, timeout, None),
            Strategy::Debug => debug::reach(self, access, target, timeout, teardown, None).await?,
            Strategy::Sidecar => sidecar::reach(self, access, target, index, timeout, teardown).await?,
            Strategy::Auto => auto::reach(self, access, target, timeout, teardown).await?,
        };
        reach.spec = Some(target_spec(access, target).await?);
        Ok(reach)
    }
}

/// The capabilities of a root scanner: those of the target container, and
/// SETUID and SETGID. Opening `/proc/<pid>/root` of a root target takes
/// every capability the target holds (the kernel's ptrace check: the
/// caller's permitted set must contain the target's), so the scanner drops
/// what the target drops and adds what it adds — the same set on any
/// runtime, never more — and SETUID and SETGID, with which the agent takes
/// the user of a non-root target whose UID the spec does not name (which
/// then leaves it no capability at all). A privileged target holds every
/// capability whatever its list says: the scanner then adds ALL (but is not
/// privileged itself: no devices, no writable kernel interfaces). Measured
/// on the testbed: see docs/strategies.md.
fn root_capabilities(target: Option<&k8s_openapi::api::core::v1::SecurityContext>) -> Value {
    if target.and_then(|c| c.privileged) == Some(true) {
        return json!({"add": ["ALL"]});
    }
    let target = target.and_then(|c| c.capabilities.as_ref());
    let drop: Vec<String> = target.and_then(|c| c.drop.clone()).unwrap_or_default();
    let mut add: Vec<String> = target.and_then(|c| c.add.clone()).unwrap_or_default();
    add.extend(["SETGID".to_owned(), "SETUID".to_owned()]);
    add.sort();
    add.dedup();
    let mut capabilities = json!({"add": add});
    if !drop.is_empty() {
        capabilities["drop"] = json!(drop);
    }
    capabilities
}

/// What the target's pod spec asks of the kernel, read with the scoped
/// identity (every strategy's Role may `get` the target pod).
async fn target_spec(access: &ScopedAccess, target: &ContainerRef) -> Result<kscan_agent::spec::PodSpecFacts> {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(access.connection.client.clone(), target.namespace.as_str());
    let pod = pods
        .get(target.pod.as_str())
        .await
        .map_err(|e| crate::cluster::api_error(e, &format!("reading pod {}/{}", target.namespace, target.pod)))?;
    Ok(crate::engine::spec::spec_facts(&pod, target.container.as_str()))
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(scanner_user: Option<i64>) -> StrategyConfig {
        StrategyConfig {
            kind: Strategy::Debug,
            scanner_image: "i".into(),
            scanner_user,
            image: None,
            max_ephemeral: DEFAULT_MAX_EPHEMERAL,
        }
    }

    fn spec(value: Value) -> PodSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_scanner_takes_the_targets_uid_when_the_spec_names_it_else_asks_for_root() {
        let none = spec(json!({"containers": [{"name": "app"}]}));
        let root = json!({"runAsUser": 0, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault"}, "capabilities": {"add": ["SETGID", "SETUID"]}});
        assert_eq!(config(None).scanner_security_context(Some(&none), "app"), root);
        assert_eq!(config(None).scanner_security_context(None, "app"), root);
        // A root scanner holds the target's capabilities and SETUID/SETGID, no more.
        let dropped = spec(json!({"containers": [{"name": "app",
            "securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SETUID"]}}}]}));
        assert_eq!(
            config(None).scanner_security_context(Some(&dropped), "app")["capabilities"],
            json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SETGID", "SETUID"]})
        );
        // A privileged target holds them all, whatever it drops.
        let privileged = spec(json!({"containers": [{"name": "app",
            "securityContext": {"privileged": true, "capabilities": {"drop": ["ALL"]}}}]}));
        assert_eq!(
            config(None).scanner_security_context(Some(&privileged), "app")["capabilities"],
            json!({"add": ["ALL"]})
        );

        let pod_level = spec(json!({"securityContext": {"runAsUser": 1000, "runAsGroup": 2000},
            "containers": [{"name": "app"}]}));
        assert_eq!(
            config(None).scanner_security_context(Some(&pod_level), "app"),
            json!({"runAsUser": 1000, "runAsNonRoot": true, "runAsGroup": 2000, "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
                "readOnlyRootFilesystem": true})
        );
        let container_level = spec(json!({"securityContext": {"runAsUser": 1000},
            "containers": [{"name": "app", "securityContext": {"runAsUser": 65532}}, {"name": "other"}]}));
        assert_eq!(config(None).scanner_security_context(Some(&container_level), "app")["runAsUser"], 65532);
        assert_eq!(config(None).scanner_security_context(Some(&container_level), "other")["runAsUser"], 1000);
        // --scanner-user wins, and then the target's group is not borrowed.
        let seven = config(Some(7)).scanner_security_context(Some(&pod_level), "app");
        assert_eq!(
            (&seven["runAsUser"], &seven["runAsNonRoot"], &seven["runAsGroup"]),
            (&json!(7), &json!(true), &Value::Null)
        );
        assert_eq!(config(Some(7)).scanner_uid(Some(&pod_level), "app"), 7);
        assert_eq!(config(None).scanner_uid(Some(&none), "app"), 0);
    }

    #[test]
    fn the_default_scanner_image_is_a_published_one() {
        assert!(!DEFAULT_SCANNER_IMAGE.contains("kscan.test"), "{DEFAULT_SCANNER_IMAGE}");
        assert!(DEFAULT_SCANNER_IMAGE.contains("kscan-scanner"), "{DEFAULT_SCANNER_IMAGE}");
    }
}
