//! Engines: what produces the HDF. `builtin` runs kscan's own checks through
//! a [`probe::Probe`]; `cinc` runs CINC Auditor / InSpec as an external program.

pub mod builtin;
pub mod cinc;
pub mod probe;

use std::path::Path;

use crate::error::{Result, ResultExt};
use crate::strategy::Reach;

/// The engine chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// kscan's container baseline, written in Rust; needs nothing installed.
    Builtin,
    /// CINC Auditor or InSpec running `--profile` (see `--engine-bin`).
    Cinc,
}

/// A configured engine.
#[derive(Debug, Clone)]
pub enum Engine {
    /// The built-in checks.
    Builtin,
    /// An external CINC Auditor / InSpec.
    Cinc(cinc::Cinc),
}

impl Engine {
    /// Scan what `reach` reaches, as the identity in `kubeconfig`, with
    /// scratch space in `work_dir`. Returns exec JSON (HDF).
    pub async fn run(&self, reach: Reach, kubeconfig: &Path, work_dir: &Path) -> Result<Vec<u8>> {
        match self {
            Engine::Builtin => {
                let execution = builtin::run(reach.probe.as_ref(), reach.platform).await?;
                serde_json::to_vec_pretty(&execution).scan_err(|| "cannot encode the results".into())
            }
            Engine::Cinc(cinc) => cinc.run(&reach.train_target, kubeconfig, work_dir).await,
        }
    }

    /// The engine's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Builtin => "builtin",
            Engine::Cinc(_) => "cinc",
        }
    }
}
