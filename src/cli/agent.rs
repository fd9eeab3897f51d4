//! `kscan agent`: the part of kscan that runs *inside* the scanner container
//! of the debug and sidecar strategies (hidden from `--help`; the outer kscan
//! calls it over exec with an argument vector).
//!
//! - `agent hold --seconds N` is the scanner container's main process: it
//!   keeps the container running for at most N seconds, or until
//!   `agent stop` ends it at teardown.
//! - `agent scan --container-id ID` finds the target container's processes
//!   in the shared PID namespace by the container id in their cgroup, takes
//!   the lowest PID as the main process, runs the built-in checks on
//!   `/proc/<pid>/root` and writes HDF to standard output.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map};

use crate::engine::builtin;
use crate::engine::probe::local::{main_pid_of_container, LocalProbe, Processes};
use crate::error::{Error, ResultExt};
use crate::{Outcome, Result};

/// Arguments of `kscan agent`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// The agent's actions.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Keep running until stopped or for at most `--seconds`.
    Hold {
        /// Upper limit, so a lost run never leaves a process behind.
        #[arg(long, default_value_t = 3600)]
        seconds: u64,
    },
    /// Stop the `agent hold` processes of this container.
    Stop,
    /// Scan the container with runtime id `--container-id` and print HDF.
    Scan {
        /// The target's container id (hex, `containerd://` prefix allowed).
        #[arg(long)]
        container_id: String,
        /// The strategy that started this agent, recorded in the HDF.
        #[arg(long)]
        strategy: String,
        /// The target's name in the results (`k8s-container://ns/pod/container`).
        #[arg(long)]
        target_id: String,
        /// The proc filesystem.
        #[arg(long, default_value = "/proc", hide = true)]
        proc_dir: PathBuf,
    },
}

/// Run `kscan agent`.
pub async fn run(args: Args) -> Result<Outcome> {
    match args.action {
        Action::Hold { seconds } => {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .scan_err(|| "cannot listen for SIGTERM".into())?;
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            Ok(Outcome::Passed)
        }
        Action::Stop => {
            let stopped = stop_holders()?;
            eprintln!("kscan agent: stopped {stopped} process(es)");
            Ok(Outcome::Passed)
        }
        Action::Scan { container_id, strategy, target_id, proc_dir } => {
            let id = container_id.rsplit("://").next().unwrap_or(&container_id).to_owned();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::input(format!("--container-id {container_id:?} is not a container id")));
            }
            let processes = Processes::ContainerId { proc_dir: proc_dir.clone(), id: id.clone() };
            let probe = match LocalProbe::container(processes.clone(), target_id.clone()) {
                Ok(probe) => probe,
                // Root without CAP_SYS_PTRACE may not open the root of a
                // process of another user; that user may.
                Err(e) if unsafe { libc::geteuid() } == 0 => {
                    let pid = main_pid_of_container(&proc_dir, &id)?;
                    become_owner_of(&proc_dir, pid).map_err(|why| e.context(why))?;
                    LocalProbe::container(processes, target_id)?
                }
                Err(e) => return Err(e),
            };
            let mut platform = Map::new();
            platform.insert("kscan_strategy".into(), json!(strategy));
            let execution = builtin::run(&probe, platform).await?;
            let text = serde_json::to_string(&execution).scan_err(|| "cannot encode the results".into())?;
            crate::cli::summary::write_output(None, &text)?;
            Ok(Outcome::Passed)
        }
    }
}

/// Take the user and group of process `pid` (dropping root), so that the
/// kernel lets this process open `/proc/<pid>/root` as its owner would.
fn become_owner_of(proc_dir: &std::path::Path, pid: u32) -> std::result::Result<(), String> {
    let status = std::fs::read_to_string(proc_dir.join(pid.to_string()).join("status"))
        .map_err(|e| format!("cannot read the status of process {pid}: {e}"))?;
    let field = |key: &str| -> Option<u32> {
        status.lines().find_map(|l| l.strip_prefix(key)).and_then(|rest| rest.split_whitespace().next()?.parse().ok())
    };
    let (uid, gid) = match (field("Uid:"), field("Gid:")) {
        (Some(u), Some(g)) => (u, g),
        _ => return Err(format!("process {pid} has no readable Uid/Gid")),
    };
    if uid == 0 {
        return Err(format!("process {pid} runs as root, and root here may not read its root filesystem"));
    }
    // SAFETY: plain system calls with integer arguments; failures are checked.
    let ok = unsafe { libc::setgroups(0, std::ptr::null()) == 0 && libc::setgid(gid) == 0 && libc::setuid(uid) == 0 };
    if ok {
        eprintln!("kscan agent: reading the target as its owner, uid {uid} gid {gid}");
        Ok(())
    } else {
        Err(format!(
            "cannot switch to uid {uid} of the target ({}); run the scanner with --scanner-user {uid}",
            std::io::Error::last_os_error()
        ))
    }
}

/// SIGTERM every `kscan agent hold` process of this container: same
/// executable and same root filesystem as this process.
fn stop_holders() -> Result<usize> {
    use std::os::unix::fs::MetadataExt;
    let me = std::process::id();
    let identity = |pid: &str| -> Option<(u64, u64, u64, u64)> {
        let exe = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
        let root = std::fs::metadata(format!("/proc/{pid}/root")).ok()?;
        Some((exe.dev(), exe.ino(), root.dev(), root.ino()))
    };
    let mine = identity("self").ok_or_else(|| Error::scan("cannot read /proc/self"))?;
    let mut stopped = 0;
    for entry in std::fs::read_dir("/proc").scan_err(|| "cannot list /proc".into())?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else { continue };
        if pid == me || identity(&name) != Some(mine) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.len() >= 3 && args[1] == b"agent" && args[2] == b"hold" {
            // SAFETY: kill(2) with a PID read from /proc and a valid signal.
            if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } == 0 {
                stopped += 1;
            }
        }
    }
    Ok(stopped)
}
