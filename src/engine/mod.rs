//! Engines: what produces the HDF, given how a strategy reached the target
//! ([`Reach`]).
//!
//! - `builtin` runs kscan's own checks ([`builtin`], from the agent crate)
//!   through a [`probe::Probe`] on this side (exec), or has the agent run
//!   them inside a scanner container ([`agent`]: debug, sidecar);
//! - `cinc` runs CINC Auditor / InSpec as an external program over exec.

pub mod agent;
pub mod cinc;
pub mod probe;
pub mod spec;

pub use kscan_agent::builtin;

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result, ResultExt};
use kscan_agent::protocol::platform;
use kscan_agent::spec::PodSpecFacts;

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

/// How the engine sees one target.
pub enum Via {
    /// Through a probe on this side (exec).
    Probe(Box<dyn probe::Probe>),
    /// Through the agent in a scanner container beside the target.
    Agent(Box<agent::Agent>),
}

/// How the engine reaches one target, as the strategy put it in place.
pub struct Reach {
    /// The way in.
    pub via: Via,
    /// The train target for CINC Auditor / InSpec (exec only).
    pub train_target: Option<String>,
    /// Facts about how the scan ran, merged into the HDF `platform`.
    pub platform: Map<String, Value>,
    /// What the target's pod spec asks of the kernel, for the runtime
    /// controls to compare with what it applied.
    pub spec: Option<PodSpecFacts>,
}

impl Reach {
    /// `via` as strategy `strategy` put it in place, with the reason `auto`
    /// chose it.
    pub fn new(via: Via, train_target: Option<String>, strategy: &str, reason: Option<String>) -> Self {
        let mut facts = Map::new();
        facts.insert(platform::STRATEGY.into(), json!(strategy));
        if let Some(reason) = reason {
            facts.insert(platform::STRATEGY_REASON.into(), json!(reason));
        }
        Reach { via, train_target, platform: facts, spec: None }
    }

    /// The strategy that was used.
    pub fn strategy(&self) -> &str {
        self.platform.get(platform::STRATEGY).and_then(Value::as_str).unwrap_or("?")
    }
}

impl Engine {
    /// Scan what `reach` reaches, as the identity in `kubeconfig`, with
    /// scratch space in `work_dir`. Returns exec JSON (HDF).
    pub async fn run(&self, reach: Reach, kubeconfig: &Path, work_dir: &Path) -> Result<Vec<u8>> {
        let strategy = reach.strategy().to_owned();
        match (self, reach.via) {
            (Engine::Builtin, Via::Probe(probe)) => {
                let execution = builtin::run(probe.as_ref(), reach.platform, reach.spec).await?;
                serde_json::to_vec_pretty(&execution).scan_err(|| "cannot encode the results".into())
            }
            (Engine::Builtin, Via::Agent(agent)) => {
                let json = agent.scan(reach.spec).await?;
                with_platform(&json, reach.platform)
            }
            (Engine::Cinc(cinc), _) => match &reach.train_target {
                Some(target) => cinc.run(target, kubeconfig, work_dir).await,
                None => Err(Error::input(format!(
                    "--engine cinc needs the exec strategy (CINC Auditor reaches the target over exec); \
                     this target was reached with {strategy}"
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
fn with_platform(json: &[u8], extra: Map<String, Value>) -> Result<Vec<u8>> {
    let mut doc: Value =
        serde_json::from_slice(json).scan_err(|| "the kscan agent sent results that are not JSON".into())?;
    if let Some(platform) = doc.get_mut("platform").and_then(Value::as_object_mut) {
        platform.extend(extra);
    }
    serde_json::to_vec_pretty(&doc).scan_err(|| "cannot encode the results".into())
}
