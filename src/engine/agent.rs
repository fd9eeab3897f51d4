//! The built-in checks run by the agent inside a scanner container (debug,
//! sidecar): kscan sends the [`protocol`](kscan_agent::protocol) command over
//! exec and reads back the HDF the agent prints.

use kscan_agent::protocol::{Command, ScanRequest};
use kscan_agent::spec::PodSpecFacts;

use crate::cluster::exec::Exec;
use crate::error::{Error, Result};
use crate::hdf::{ResultSet, Source};

/// The agent in a scanner container that shares the target's PID namespace.
pub struct Agent {
    /// Exec into the scanner container (scoped identity).
    pub exec: Exec,
    /// The target container's runtime id (from the pod status).
    pub container_id: String,
    /// The target's name in results.
    pub target_id: String,
    /// The strategy, recorded in the HDF.
    pub strategy: String,
}

impl Agent {
    /// Run the built-in checks in the scanner container, comparing the
    /// runtime with `spec` when given; returns exec JSON.
    pub async fn scan(&self, spec: Option<PodSpecFacts>) -> Result<Vec<u8>> {
        let command = Command::Scan(ScanRequest {
            container_id: self.container_id.clone(),
            strategy: self.strategy.clone(),
            target_id: self.target_id.clone(),
            proc_dir: "/proc".into(),
            spec: spec.map(Box::new),
        });
        let out = self.exec.run(&command.argv()).await?;
        if out.code != 0 {
            return Err(Error::scan(format!(
                "the kscan agent in {} exited with {}: {}",
                self.exec.target(),
                out.code,
                out.stderr_text()
            )));
        }
        ResultSet::from_slice(Source::File(format!("agent in {}", self.exec.target()).into()), &out.stdout)
            .map_err(|e| Error::scan(format!("the kscan agent sent results that cannot be read: {e}")))?;
        Ok(out.stdout)
    }
}
