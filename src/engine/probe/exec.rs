//! A probe that looks at a container through the Kubernetes exec API.
//!
//! It needs a POSIX shell and the usual tools (`head`, `stat`, `find`, `cat`)
//! in the container — the exec strategy is chosen only when they are there.
//! Each operation is a fixed script run as `sh -c SCRIPT kscan ARG...`: the
//! paths and PIDs it works on are positional arguments (`"$1"`), never text
//! spliced into the script.

use async_trait::async_trait;

use super::proc::{environment_names, parse_status, Process, ProcessView};
use super::{FileStat, FindFilter, Found, Probe, ProbeError, ProbeResult};
use crate::cluster::exec::{Exec, ExecOutput};
use crate::error::Error;

/// Exit code the scripts use for "no such file".
const MISSING: i32 = 3;

const READ: &str = r#"[ -e "$1" ] || exit 3; exec head -c "$2" "$1""#;
const STAT: &str = r#"[ -e "$1" ] || exit 3; exec stat -L -c '%f %u %g %s' "$1""#;
/// `$1` is the filter; the rest are directories. Directories that are missing
/// or are symbolic links are passed over (links point into other listed
/// directories). Prints one `MODE PATH` line per match, mode in hex.
const FIND: &str = r#"filter=$1; shift; n=$#
for d in "$@"; do [ -d "$d" ] && [ ! -L "$d" ] && set -- "$@" "$d"; done
shift $n
[ $# -gt 0 ] || exit 0
case $filter in
  setid) find "$@" -xdev -type f -perm -4000 -exec stat -c '%f %n' {} +
         find "$@" -xdev -type f -perm -2000 -exec stat -c '%f %n' {} + ;;
  ww)    find "$@" -xdev -type f -perm -0002 -exec stat -c '%f %n' {} +
         find "$@" -xdev -type d -perm -0002 -exec stat -c '%f %n' {} + ;;
esac"#;
/// Prints, per process: `\x1e PID ROOT` then its status; the script's own
/// PID last as `\x1d PID ROOT`. ROOT is `dev:inode` of /proc/PID/root, or `?`.
const PROCESSES: &str = r#"for d in /proc/[0-9]*; do
  [ -r "$d/status" ] || continue
  r=$(stat -L -c '%d:%i' "$d/root" 2>/dev/null) || r='?'
  printf '\036%s %s\n' "${d#/proc/}" "$r"
  cat "$d/status" 2>/dev/null
done
printf '\035%s %s\n' "$$" "$(stat -L -c '%d:%i' / 2>/dev/null)""#;
const ENVIRON: &str = r#"exec cat "/proc/$1/environ""#;

/// A probe over Kubernetes exec.
pub struct ExecProbe {
    exec: Exec,
}

impl ExecProbe {
    /// Look at the container `exec` runs in.
    pub fn new(exec: Exec) -> Self {
        ExecProbe { exec }
    }

    async fn script(&self, script: &str, args: &[&str]) -> ProbeResult<ExecOutput> {
        let mut argv = vec!["sh", "-c", script, "kscan"];
        argv.extend_from_slice(args);
        self.exec.run(&argv).await.map_err(ProbeError::Broken)
    }
}

fn refused(what: &str, out: &ExecOutput) -> ProbeError {
    ProbeError::Denied(format!("{what}: exit {}: {}", out.code, out.stderr_text()))
}

fn broken(what: &str, detail: impl std::fmt::Display) -> ProbeError {
    ProbeError::Broken(Error::scan(format!("{what}: unexpected output from the container: {detail}")))
}

#[async_trait]
impl Probe for ExecProbe {
    fn target_id(&self) -> String {
        self.exec.target().uri()
    }

    async fn read(&self, path: &str, limit: usize) -> ProbeResult<Option<Vec<u8>>> {
        let out = self.script(READ, &[path, &limit.to_string()]).await?;
        match out.code {
            0 => Ok(Some(out.stdout)),
            MISSING => Ok(None),
            _ => Err(refused(&format!("reading {path}"), &out)),
        }
    }

    async fn stat(&self, path: &str) -> ProbeResult<Option<FileStat>> {
        let out = self.script(STAT, &[path]).await?;
        match out.code {
            0 => parse_stat_line(&String::from_utf8_lossy(&out.stdout))
                .map(Some)
                .ok_or_else(|| broken(&format!("stat {path}"), String::from_utf8_lossy(&out.stdout))),
            MISSING => Ok(None),
            _ => Err(refused(&format!("stat {path}"), &out)),
        }
    }

    async fn find(&self, dirs: &[&str], filter: FindFilter) -> ProbeResult<Found> {
        let name = match filter {
            FindFilter::SetIdFiles => "setid",
            FindFilter::WorldWritable => "ww",
        };
        let mut args = vec![name];
        args.extend_from_slice(dirs);
        let out = self.script(FIND, &args).await?;
        let mut found = Found::default();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((mode, path)) = line.split_once(' ') else { continue };
            let Ok(raw) = u32::from_str_radix(mode, 16) else { continue };
            if filter.matches(&FileStat::from_raw(raw, 0, 0, 0)) {
                found.matches.push(path.to_owned());
            }
        }
        // find reports directories it cannot read on stderr and exits 1.
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            if line.contains("Permission denied") {
                if let Some(path) = line.split(['‘', '\'', '’']).nth(1) {
                    found.unreadable.push(path.to_owned());
                } else {
                    found.unreadable.push(line.to_owned());
                }
            } else if !line.trim().is_empty() {
                return Err(ProbeError::Denied(format!("find: {line}")));
            }
        }
        Ok(found.sorted())
    }

    async fn processes(&self) -> ProbeResult<Option<ProcessView>> {
        let out = self.script(PROCESSES, &[]).await?;
        if out.code != 0 {
            return Err(refused("listing processes", &out));
        }
        parse_process_listing(&String::from_utf8_lossy(&out.stdout)).map(Some)
    }

    async fn environment_names(&self, pid: u32) -> ProbeResult<Vec<String>> {
        let out = self.script(ENVIRON, &[&pid.to_string()]).await?;
        if out.code != 0 {
            return Err(refused(&format!("reading the environment of process {pid}"), &out));
        }
        Ok(environment_names(&out.stdout))
    }
}

/// `stat -c '%f %u %g %s'` output.
fn parse_stat_line(line: &str) -> Option<FileStat> {
    let mut f = line.split_whitespace();
    let raw = u32::from_str_radix(f.next()?, 16).ok()?;
    Some(FileStat::from_raw(raw, f.next()?.parse().ok()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// The container's processes from the PROCESSES script: those sharing the
/// script's root filesystem (with a shared PID namespace, the pause process
/// and other containers have other roots), minus the script itself and its
/// children. The main process is the lowest such PID; when no root could be
/// read, PID 1.
fn parse_process_listing(text: &str) -> ProbeResult<ProcessView> {
    let (body, trailer) = text.rsplit_once('\u{1d}').ok_or_else(|| broken("listing processes", "no trailer"))?;
    let mut t = trailer.split_whitespace();
    let own_pid: u32 = t.next().and_then(|p| p.parse().ok()).ok_or_else(|| broken("listing processes", trailer))?;
    let own_root = t.next().unwrap_or("?");
    let mut all: Vec<(Process, String)> = Vec::new();
    for record in body.split('\u{1e}').skip(1) {
        let (head, status) = record.split_once('\n').unwrap_or((record, ""));
        let mut h = head.split_whitespace();
        let (Some(pid), Some(root)) = (h.next().and_then(|p| p.parse().ok()), h.next()) else { continue };
        if let Some(p) = parse_status(pid, status) {
            all.push((p, root.to_owned()));
        }
    }
    let ours = |p: &Process| p.pid == own_pid || p.ppid == own_pid;
    let same_root = |r: &str| r != "?" && r == own_root;
    let mut members: Vec<Process> =
        all.iter().filter(|(p, r)| !ours(p) && same_root(r)).map(|(p, _)| p.clone()).collect();
    if members.is_empty() {
        members = all.iter().filter(|(p, _)| !ours(p) && p.pid == 1).map(|(p, _)| p.clone()).collect();
    }
    members.sort_by_key(|p| p.pid);
    let main = members.first().cloned().ok_or_else(|| broken("listing processes", "no process of the container"))?;
    Ok(ProcessView { main, all: members })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, pid: u32, ppid: u32, uid: u32) -> String {
        format!(
            "Name:\t{name}\nPid:\t{pid}\nPPid:\t{ppid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nCapEff:\t0000000000000000\n"
        )
    }

    #[test]
    fn listing_keeps_the_containers_processes_and_drops_the_scripts() {
        let text = format!(
            "\u{1e}1 8:1\n{}\u{1e}7 9:9\n{}\u{1e}12 9:9\n{}\u{1e}40 9:9\n{}\u{1e}41 9:9\n{}\u{1d}40 9:9\n",
            status("pause", 1, 0, 65535),
            status("nginx", 7, 0, 0),
            status("nginx", 12, 7, 101),
            status("sh", 40, 0, 0),
            status("stat", 41, 40, 0),
        );
        let view = parse_process_listing(&text).unwrap();
        assert_eq!(view.main.pid, 7);
        assert_eq!(view.all.iter().map(|p| p.pid).collect::<Vec<_>>(), [7, 12]);
    }

    #[test]
    fn unreadable_roots_fall_back_to_pid_1() {
        let text =
            format!("\u{1e}1 ?\n{}\u{1e}9 ?\n{}\u{1d}9 5:5\n", status("app", 1, 0, 1000), status("sh", 9, 0, 1000));
        let view = parse_process_listing(&text).unwrap();
        assert_eq!(view.main.pid, 1);
    }

    #[test]
    fn stat_lines_parse() {
        let s = parse_stat_line("81a4 0 42 1234\n").unwrap();
        assert_eq!((s.mode, s.uid, s.gid, s.size), (0o644, 0, 42, 1234));
        assert!(parse_stat_line("garbage").is_none());
    }
}
