//! Strategies: how the engine reaches the target container.
//!
//! A strategy decides two things before anything is created: which
//! permissions the run's Role must grant ([`Strategy::grants`]), and — once the
//! scoped access exists — how the engines look at the container
//! ([`Strategy::reach`]): a [`Probe`] for the built-in engine and a train
//! target for CINC Auditor / InSpec.
//!
//! `exec` runs commands in the container itself through the Kubernetes exec
//! API and needs a shell there. Strategies for images without a shell (an
//! ephemeral debug container, a sidecar sharing the process namespace) plug in
//! here with their own grants and reach.

pub mod exec;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::cluster::access::{Grant, ScopedAccess};
use crate::cluster::teardown::Teardown;
use crate::engine::probe::Probe;
use crate::error::Result;
use crate::target::ContainerRef;

/// The strategy chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// Run commands in the target container through the Kubernetes exec API
    /// (WebSocket). Needs `sh` and coreutils-like tools in the image.
    Exec,
}

/// How the engines reach one target once the strategy is in place.
pub struct Reach {
    /// What the built-in engine reads the target through.
    pub probe: Box<dyn Probe>,
    /// The `-t` target for CINC Auditor / InSpec.
    pub train_target: String,
    /// Facts about how the scan ran, merged into the HDF `platform`.
    pub platform: Map<String, Value>,
}

impl Strategy {
    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Exec => "exec",
        }
    }

    /// The Role grants the strategy needs on `pods` (all in one namespace).
    pub fn grants(self, pods: &[String]) -> Vec<Grant> {
        match self {
            Strategy::Exec => exec::grants(pods),
        }
    }

    /// Put the strategy in place for `target` with the scoped credentials.
    /// Anything it creates is registered with `teardown` first.
    pub async fn reach(
        self,
        access: &ScopedAccess,
        target: &ContainerRef,
        timeout: Duration,
        _teardown: &Teardown,
    ) -> Result<Reach> {
        match self {
            Strategy::Exec => exec::reach(access, target, timeout).await,
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
