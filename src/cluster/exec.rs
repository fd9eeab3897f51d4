//! Run a command in a container through the Kubernetes exec API (WebSocket),
//! with the exit code read back from the status the API server sends.
//!
//! Commands are argument vectors: nothing here joins arguments into a shell
//! string.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams};
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::target::ContainerRef;

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Exit code (0 on success).
    pub code: i32,
}

impl ExecOutput {
    /// Standard error as text, trimmed, for messages.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

/// Runs commands in one container.
#[derive(Clone)]
pub struct Exec {
    pods: Api<Pod>,
    target: ContainerRef,
    timeout: Duration,
}

impl Exec {
    /// Commands in `target`, through `client`, each limited to `timeout`.
    pub fn new(client: kube::Client, target: ContainerRef, timeout: Duration) -> Self {
        let pods = Api::namespaced(client, target.namespace.as_str());
        Exec { pods, target, timeout }
    }

    /// The container commands run in.
    pub fn target(&self) -> &ContainerRef {
        &self.target
    }

    /// Run `argv` and wait for it to finish.
    pub async fn run<S: AsRef<str>>(&self, argv: &[S]) -> Result<ExecOutput> {
        let argv: Vec<String> = argv.iter().map(|s| s.as_ref().to_owned()).collect();
        let program = argv.first().cloned().unwrap_or_default();
        match tokio::time::timeout(self.timeout, self.run_unbounded(argv)).await {
            Ok(result) => result,
            Err(_) => {
                Err(Error::scan(format!("`{program}` in {} did not finish within {:?}", self.target, self.timeout)))
            }
        }
    }

    async fn run_unbounded(&self, argv: Vec<String>) -> Result<ExecOutput> {
        let program = argv.first().cloned().unwrap_or_default();
        let params =
            AttachParams::default().container(self.target.container.as_str()).stdin(false).stdout(true).stderr(true);
        let mut process = self
            .pods
            .exec(self.target.pod.as_str(), argv, &params)
            .await
            .map_err(|e| crate::cluster::api_error(e, &format!("exec `{program}` in {}", self.target)))?;
        let status = process.take_status();
        let mut out_reader = process.stdout();
        let mut err_reader = process.stderr();
        let read_out = async {
            let mut buf = Vec::new();
            if let Some(r) = out_reader.as_mut() {
                r.read_to_end(&mut buf).await?;
            }
            Ok::<_, std::io::Error>(buf)
        };
        let read_err = async {
            let mut buf = Vec::new();
            if let Some(r) = err_reader.as_mut() {
                r.read_to_end(&mut buf).await?;
            }
            Ok::<_, std::io::Error>(buf)
        };
        let (stdout, stderr) = tokio::try_join!(read_out, read_err)
            .map_err(|e| Error::scan(format!("reading the output of `{program}` in {}", self.target)).with_source(e))?;
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        drop(out_reader);
        drop(err_reader);
        process
            .join()
            .await
            .map_err(|e| Error::scan(format!("exec `{program}` in {} ended abnormally", self.target)).with_source(e))?;
        let code = exit_code(status.as_ref())
            .map_err(|msg| Error::scan(format!("exec `{program}` in {} failed: {msg}", self.target)))?;
        Ok(ExecOutput { stdout, stderr, code })
    }
}

/// The exit code from the final status: `Success` is 0; a `Failure` with
/// reason `NonZeroExitCode` carries the code in
/// `details.causes[reason=ExitCode].message`; any other failure (the command
/// could not start, the container is gone) is an error with its message.
pub fn exit_code(status: Option<&Status>) -> std::result::Result<i32, String> {
    let Some(status) = status else {
        return Err("the API server closed the stream without an exit status".into());
    };
    match status.status.as_deref() {
        Some("Success") => Ok(0),
        _ if status.reason.as_deref() == Some("NonZeroExitCode") => status
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|causes| causes.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| {
                format!("non-zero exit without a readable code: {}", status.message.as_deref().unwrap_or(""))
            }),
        _ => Err(status.message.clone().unwrap_or_else(|| "unknown failure".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(v: serde_json::Value) -> Status {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn exit_codes_are_read_from_the_status() {
        assert_eq!(exit_code(Some(&status(json!({"status": "Success"})))), Ok(0));
        let failed = status(json!({
            "status": "Failure", "reason": "NonZeroExitCode",
            "message": "command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7",
            "details": {"causes": [{"reason": "ExitCode", "message": "7"}]}
        }));
        assert_eq!(exit_code(Some(&failed)), Ok(7));
        let not_found = status(json!({"status": "Failure", "message": "executable file not found in $PATH"}));
        assert_eq!(exit_code(Some(&not_found)), Err("executable file not found in $PATH".into()));
        assert!(exit_code(None).is_err());
    }
}
