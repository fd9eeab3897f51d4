//! Running kscan's own agent in a scanner container (debug, sidecar) and
//! reading the HDF it streams back over the exec channel.

use crate::cluster::exec::Exec;
use crate::error::{Error, Result};
use crate::hdf::{ResultSet, Source};

/// Where the scanner image keeps kscan.
pub const AGENT_PATH: &str = "/usr/local/bin/kscan";

/// kscan in a scanner container that shares the target's PID namespace.
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
    /// Run the built-in checks in the scanner container; returns exec JSON.
    pub async fn scan(&self) -> Result<Vec<u8>> {
        let argv = [
            AGENT_PATH,
            "agent",
            "scan",
            "--container-id",
            &self.container_id,
            "--strategy",
            &self.strategy,
            "--target-id",
            &self.target_id,
        ];
        let out = self.exec.run(&argv).await?;
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

/// The scanner container's main process: hold until stopped, never longer
/// than the token lives (plus a margin).
pub fn hold_command(seconds: u32) -> Vec<String> {
    vec![AGENT_PATH.into(), "agent".into(), "hold".into(), "--seconds".into(), (seconds + 120).to_string()]
}

/// The command that ends [`hold_command`] at teardown.
pub const STOP_COMMAND: [&str; 3] = [AGENT_PATH, "agent", "stop"];
