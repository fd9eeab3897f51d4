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

pub mod auto;
pub mod debug;
pub mod exec;
pub mod pods;
pub mod sidecar;

use std::time::Duration;

use crate::cluster::access::{Grant, ScopedAccess};
use crate::cluster::teardown::Teardown;
use crate::cluster::RunId;
use crate::engine::Reach;
use crate::error::Result;
use crate::target::ContainerRef;

/// The scanner image the testbed builds (`tests/testbed/testbed images`):
/// the static kscan-agent and busybox. Publish your own build and pass
/// `--scanner-image` on real clusters.
pub const DEFAULT_SCANNER_IMAGE: &str = "kscan.test/scanner:dev";

/// The strategy chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// exec when the container has a usable shell, else debug.
    Auto,
    /// Run commands in the target container through the Kubernetes exec API
    /// (WebSocket). Needs `sh`, `head`, `stat`, `find` and `cat` in the image.
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
    /// UID the scanner container runs as (default: the image's, root).
    pub scanner_user: Option<i64>,
    /// Image to scan with sidecar instead of the target container's.
    pub image: Option<String>,
}

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
        match self.kind {
            Strategy::Exec => Ok(exec::reach(access, target, timeout, None)),
            Strategy::Debug => debug::reach(self, access, target, timeout, teardown, None).await,
            Strategy::Sidecar => sidecar::reach(self, access, target, index, timeout, teardown).await,
            Strategy::Auto => auto::reach(self, access, target, timeout, teardown).await,
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
