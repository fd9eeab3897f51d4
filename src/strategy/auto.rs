//! The auto strategy: exec when the target container has a usable shell,
//! else an ephemeral debug container. The choice and its reason are logged
//! and written into the HDF `platform` (`kscan_strategy`,
//! `kscan_strategy_reason`).
//!
//! Sidecar is never chosen automatically: it needs `create` on pods, which
//! RBAC cannot narrow to one name; ask for it with `--strategy sidecar`.

use std::time::Duration;

use super::{debug, exec, StrategyConfig};
use crate::cluster::access::ScopedAccess;
use crate::cluster::exec::Exec;
use crate::cluster::teardown::Teardown;
use crate::engine::Reach;
use crate::error::Result;
use crate::target::ContainerRef;

/// The tools the exec probe uses, checked with the shell's `command -v`.
const CHECK_TOOLS: &str =
    r#"for t in head stat find cat tr; do command -v "$t" >/dev/null || { echo "$t"; exit 3; }; done"#;

/// Choose and put in place.
pub async fn reach(
    config: &StrategyConfig,
    access: &ScopedAccess,
    target: &ContainerRef,
    timeout: Duration,
    teardown: &Teardown,
) -> Result<Reach> {
    let probe = Exec::new(access.connection.client.clone(), target.clone(), timeout.min(Duration::from_secs(30)));
    let reason = match probe.run(&["sh", "-c", CHECK_TOOLS]).await {
        Ok(out) if out.code == 0 => {
            let reason = "auto: the container has sh, head, stat, find, cat and tr".to_owned();
            tracing::info!("{target}: strategy exec ({reason})");
            return Ok(exec::reach(access, target, timeout, Some(reason)));
        }
        Ok(out) => format!("auto: the container's shell lacks `{}`", String::from_utf8_lossy(&out.stdout).trim()),
        Err(e) if no_shell(e.message()) => format!("auto: the container has no usable shell ({})", e.message()),
        Err(e) => return Err(e),
    };
    tracing::info!("{target}: strategy debug ({reason})");
    debug::reach(config, access, target, timeout, teardown, Some(reason)).await
}

/// Whether an exec failure means "there is no `sh`" (and not, say, 403).
fn no_shell(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not found") || m.contains("no such file") || m.contains("exit code 127") || m.contains("exit code 126")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_shell_is_told_from_other_failures() {
        assert!(super::no_shell(
            "exec `sh` in a/b/c failed: failed to exec in container: exec: \"sh\": executable file not found in $PATH"
        ));
        assert!(!super::no_shell("exec `sh` in a/b/c failed (forbidden: the identity in use lacks this permission)"));
    }
}
