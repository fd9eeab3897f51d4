//! Engines: what produces the HDF. `builtin` runs kscan's own checks through
//! a [`probe::Probe`]; `cinc` runs CINC Auditor / InSpec as an external program.

// Two constructors of builtin::facts lack docs; the module moves to the
// kscan-agent crate, which states its own lints.
#[allow(missing_docs)]
pub mod builtin;
pub mod cinc;
pub mod probe;

use std::path::Path;

use crate::error::{Error, Result, ResultExt};
use crate::strategy::{Reach, Via};

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
        match (self, reach.via) {
            (Engine::Builtin, Via::Probe(probe)) => {
                let execution = builtin::run(probe.as_ref(), reach.platform).await?;
                serde_json::to_vec_pretty(&execution).scan_err(|| "cannot encode the results".into())
            }
            (Engine::Builtin, Via::Agent(agent)) => {
                let json = agent.scan().await?;
                with_platform(&json, reach.platform)
            }
            (Engine::Cinc(cinc), _) => match &reach.train_target {
                Some(target) => cinc.run(target, kubeconfig, work_dir).await,
                None => Err(Error::input(format!(
                    "--engine cinc needs the exec strategy (CINC Auditor reaches the target over exec); \
                     this target was reached with {}",
                    reach.platform.get("kscan_strategy").and_then(|v| v.as_str()).unwrap_or("another strategy")
                ))),
            },
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

/// `json` (exec JSON) with `extra` merged into its `platform`: what the
/// strategy knows (its choice and reason, the sidecar pod) and the agent
/// inside the scanner does not.
fn with_platform(json: &[u8], extra: serde_json::Map<String, serde_json::Value>) -> Result<Vec<u8>> {
    let mut doc: serde_json::Value =
        serde_json::from_slice(json).scan_err(|| "the kscan agent sent results that are not JSON".into())?;
    if let Some(platform) = doc.get_mut("platform").and_then(serde_json::Value::as_object_mut) {
        platform.extend(extra);
    }
    serde_json::to_vec_pretty(&doc).scan_err(|| "cannot encode the results".into())
}
