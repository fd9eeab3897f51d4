//! What the agent does for each [`Command`] of the protocol, inside the
//! scanner container of the debug and sidecar strategies.
//!
//! - `hold` is the scanner container's main process: it keeps the container
//!   running until SIGTERM, never longer than the run's token lives.
//! - `stop` ends the `hold` processes of its own container at teardown.
//! - `scan` finds the target container's processes in the shared PID
//!   namespace by the container id in their cgroup, takes the lowest PID as
//!   the main process, runs the built-in checks on `/proc/<pid>/root` and
//!   writes HDF to standard output.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Map};

use crate::builtin;
use crate::error::{Error, Result, ResultExt};
use crate::probe::local::{main_pid_of_container, LocalProbe, Processes};
use crate::protocol::{platform, Command, ScanRequest};

/// Carry out `command`; `out` receives what the command prints (HDF for
/// `scan`), diagnostics go to standard error.
pub fn run(command: Command, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::Hold { seconds } => hold(Duration::from_secs(seconds)),
        Command::Stop => {
            let stopped = stop_holders()?;
            eprintln!("kscan-agent: stopped {stopped} process(es)");
            Ok(())
        }
        Command::Scan(request) => {
            let text = scan(&request)?;
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .scan_err(|| "cannot write the results to standard output".into())
        }
    }
}

/// Run the built-in checks on the target of `request`; returns exec JSON.
pub fn scan(request: &ScanRequest) -> Result<String> {
    let ScanRequest { container_id: id, strategy, target_id, proc_dir, spec } = request;
    let processes = Processes::ContainerId { proc_dir: proc_dir.clone(), id: id.clone() };
    let probe = match LocalProbe::container(processes.clone(), target_id.clone()) {
        Ok(probe) => probe,
        // Root without CAP_SYS_PTRACE may not open the root of a process of
        // another user; that user may.
        // SAFETY: geteuid(2) has no preconditions.
        Err(e) if unsafe { libc::geteuid() } == 0 => {
            let pid = main_pid_of_container(proc_dir, id)?;
            become_owner_of(proc_dir, pid).map_err(|why| e.context(why))?;
            LocalProbe::container(processes, target_id.clone())?
        }
        Err(e) => return Err(e),
    };
    let mut extra = Map::new();
    extra.insert(platform::STRATEGY.into(), json!(strategy));
    let execution = crate::block_on(builtin::run(&probe, extra, spec.as_deref().cloned()))?;
    serde_json::to_string(&execution).scan_err(|| "cannot encode the results".into())
}

/// Wait for SIGTERM (or SIGINT), at most `limit`.
///
/// The signals are blocked and then waited for with `sigtimedwait`, so that
/// this works as a container's PID 1 too: the kernel ignores a signal sent
/// to PID 1 that has no handler, but a blocked one stays pending to be read.
fn hold(limit: Duration) -> Result<()> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use;
    // the calls take valid pointers to it and report failure by return value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(Error::scan("cannot block SIGTERM to wait for it"));
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            let timeout = libc::timespec {
                tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
            };
            if libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) > 0 {
                return Ok(());
            }
            // EAGAIN: the time is up (checked at the top); EINTR: another
            // signal interrupted the wait; wait on.
        }
    }
}

/// Take the user and group of process `pid` (dropping root), so that the
/// kernel lets this process open `/proc/<pid>/root` as its owner would.
fn become_owner_of(proc_dir: &Path, pid: u32) -> std::result::Result<(), String> {
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
        eprintln!("kscan-agent: reading the target as its owner, uid {uid} gid {gid}");
        Ok(())
    } else {
        Err(format!(
            "cannot switch to uid {uid} of the target ({}); run the scanner with --scanner-user {uid}",
            std::io::Error::last_os_error()
        ))
    }
}

/// SIGTERM every `kscan-agent hold` process of this container: same
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
        if matches!(Command::parse(cmdline_args(&cmdline)), Ok(Command::Hold { .. })) {
            // SAFETY: kill(2) with a PID read from /proc and a valid signal.
            if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } == 0 {
                stopped += 1;
            }
        }
    }
    Ok(stopped)
}

/// The arguments after the program name in a `/proc/<pid>/cmdline`: each
/// argument ends in a NUL, the last one too.
fn cmdline_args(cmdline: &[u8]) -> Vec<String> {
    let mut args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if cmdline.last() == Some(&0) {
        args.pop();
    }
    args.into_iter().skip(1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_process_is_recognised_from_its_cmdline() {
        let argv = Command::Hold { seconds: 1020 }.argv();
        let mut cmdline = argv.join("\0").into_bytes();
        cmdline.push(0);
        assert_eq!(cmdline_args(&cmdline), argv[1..]);
        assert_eq!(Command::parse(cmdline_args(&cmdline)).unwrap(), Command::Hold { seconds: 1020 });
        let me = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(cmdline_args(&me), std::env::args().skip(1).collect::<Vec<_>>());
    }

    #[test]
    fn hold_returns_at_its_limit() {
        let start = Instant::now();
        hold(Duration::from_millis(50)).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
