//! A probe that looks at a container through the Kubernetes exec API.
//!
//! It needs a POSIX shell and a few tools (`head`, `stat`, `find`, `cat`,
//! `tr`) in the container — the exec strategy is chosen only when they are
//! there. Everything runs through one fixed script, [`SURVEY`], as
//! `sh -c SURVEY kscan BOUNDARY PROC OP ARG... OP ARG...`: the paths, PIDs
//! and patterns it works on are positional arguments, never text spliced
//! into the script.
//!
//! **One round trip.** [`Probe::prefetch`] sends the engine's whole plan in
//! one exec; the script answers every question in one framed output (each
//! answer's standard output, exit code and standard error between lines
//! that start with a random boundary), and the probe then answers the
//! engine's questions from it. A question the plan did not hold — or one
//! about another process than the script took for the main one — costs one
//! more exec. [`ExecProbe::round_trips`] counts them.
//!
//! **Which processes are the container's.** Every PID in the container's
//! `/proc` is in its PID namespace; with a shared PID namespace (or
//! `hostPID`) it also sees the pod's sandbox, other containers or the
//! node. The script lists every process with only shell built-ins (so it
//! starts no process of its own while listing) and sends each one's
//! `status` and `cgroup` — both readable by any user — and the probe keeps
//! those in the script's own cgroup or below ([`cgroup_within`]). A process
//! whose status cannot be read is reported as such, never dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use super::proc::{cgroup_within, parse_status, Process, ProcessView, Unreadable};
use super::runtime::{lsm_label, LsmLabel, Namespace, RuntimeView, NAMESPACES};
use super::sensitive::{self, SensitiveFiles};
use super::{FileStat, FindFilter, Found, Op, Plan, Probe, ProbeError, ProbeResult};
use crate::cluster::exec::{Exec, ExecOutput};
use crate::error::{Error, Result};

/// Exit code the script uses for "no such file".
const MISSING: i32 = 3;

/// The one script. `$1` is the frame boundary, `$2` the proc filesystem
/// (`/proc`; another path only in tests), then operations with their
/// arguments:
///
/// | op | arguments | answers (one frame pair each) |
/// |---|---|---|
/// | `read` | PATH LIMIT | the first LIMIT bytes; exit 3 if missing |
/// | `stat` | PATH | `%f %u %g %s` following links; exit 3 if missing |
/// | `find` | `setid`/`ww` DIRS (colon-separated) | `MODE PATH` lines; denials on stderr |
/// | `procs` | — | every process: status and cgroup; the main PID the script chose |
/// | `environ` | PID or `main` | names of non-empty variables (values stay in the container) |
/// | `runtime` | PID or `main` | four pairs: mountinfo, attr/current, attr/apparmor/current, ns inode numbers |
/// | `secrets` | NAMES MARKERS LINES BYTES SIZE (lists newline-separated) | `k MARKER-INDEX PATH` per match, `u PATH` per unreadable candidate |
///
/// Each answer is a frame `\nBOUNDARY N\n` (N counts answers) holding its
/// standard output, then a frame `\nBOUNDARY = CODE\n` holding its standard
/// error; the output ends with `\nBOUNDARY end\n`. `procs` runs in the
/// script's own shell, without a subshell, so that the listing holds no
/// process of the script but the shell itself.
pub const SURVEY: &str = r#"B=$1 P=$2; shift 2
exec 4>&1
i=0 m=
f() { printf '\n%s %s\n' "$B" "$1"; }
run() { f "$i"; e=$("$@" 2>&1 >&4); c=$?; f "= $c"; printf '%s' "$e"; i=$((i+1)); }
rd() { [ -e "$1" ] || return 3; head -c "$2" "$1"; }
st() { [ -e "$1" ] || return 3; stat -L -c '%f %u %g %s' "$1"; }
xc() { [ -e "$1" ] || return 3; cat "$1"; }
fnd() {
  flt=$1; set -f; IFS=:; set -- $2; unset IFS; set +f
  n=$#
  for d in "$@"; do [ -d "$d" ] && [ ! -L "$d" ] && set -- "$@" "$d"; done
  shift $n
  [ $# -gt 0 ] || return 0
  case $flt in
    setid) find "$@" -xdev -type f -perm -4000 -exec stat -c '%f %n' {} +
           find "$@" -xdev -type f -perm -2000 -exec stat -c '%f %n' {} + ;;
    ww)    find "$@" -xdev -type f -perm -0002 -exec stat -c '%f %n' {} +
           find "$@" -xdev -type d -perm -0002 -exec stat -c '%f %n' {} + ;;
  esac
}
procs() {
  own=; while IFS= read -r l; do own="$own$l
"; done < "$P/self/cgroup"
  printf '\036O %s\n%s' "$$" "$own"
  for d in "$P"/[0-9]*; do
    p=${d##*/}
    [ "$p" = "$$" ] && continue
    s=; { while IFS= read -r l; do s="$s$l
"; done; } 2>/dev/null < "$d/status" || { [ -d "$d" ] && printf '\036U %s status\n' "$p"; continue; }
    c=; { while IFS= read -r l; do c="$c$l
"; done; } 2>/dev/null < "$d/cgroup" || { [ -d "$d" ] && printf '\036U %s cgroup\n' "$p"; continue; }
    [ -d "$d" ] || continue
    printf '\036S %s\n%s\036C\n%s' "$p" "$s" "$c"
    if [ "$c" = "$own" ] && { [ -z "$m" ] || [ "$p" -lt "$m" ]; }; then m=$p; fi
  done
  printf '\036M %s\n' "$m"
}
en() {
  [ -n "$1" ] || return 4
  { tr '\0' '\n' | while IFS= read -r l; do case $l in ?*=?*) printf '%s\n' "${l%%=*}";; esac; done; } < "$P/$1/environ"
}
nsid() { [ -n "$1" ] || return 4; shift; stat -L -c '%i %n' "$@"; }
cls() {
  { :; } 2>/dev/null < "$1" || { printf 'u %s\n' "$1"; return 0; }
  head -c "$hb" "$1" | {
    j=0 k=
    while [ $j -lt "$hl" ] && { IFS= read -r l || [ -n "$l" ]; }; do
      x=0; IFS='
'; for mm in $mk; do case $l in *"$mm"*) k=$x; break;; esac; x=$((x+1)); done; unset IFS
      [ -n "$k" ] && break
      j=$((j+1)); l=
    done
    [ -z "$k" ] || printf 'k %s %s\n' "$k" "$1"
  }
}
sec() {
  mk=$2 hl=$3 hb=$4 sz=$5; set -f; IFS='
'; set -- $1; unset IFS
  n=$#; for nm in "$@"; do set -- "$@" -o -name "$nm"; done; shift $n; shift
  find / -xdev -type f -size "$sz" \( "$@" \) | while IFS= read -r p; do cls "$p"; done
}
while [ $# -gt 0 ]; do
  op=$1; shift
  case $op in
    read) run rd "$1" "$2"; shift 2 ;;
    stat) run st "$1"; shift ;;
    find) run fnd "$1" "$2"; shift 2 ;;
    procs) f "$i"; procs; f "= 0"; i=$((i+1)) ;;
    environ|runtime)
      q=$1; shift; [ "$q" = main ] && q=$m
      if [ $op = environ ]; then run en "$q"; else
        run xc "$P/${q:-none}/mountinfo"; run xc "$P/${q:-none}/attr/current"
        run xc "$P/${q:-none}/attr/apparmor/current"
        run nsid "$q" "$P/${q:-none}/ns/pid" "$P/${q:-none}/ns/net" "$P/${q:-none}/ns/ipc" "$P/${q:-none}/ns/uts" "$P/${q:-none}/ns/user" "$P/${q:-none}/ns/cgroup" "$P/${q:-none}/ns/mnt"
      fi ;;
    secrets) run sec "$1" "$2" "$3" "$4" "$5"; shift 5 ;;
    *) printf 'kscan: unknown operation %s\n' "$op" >&2; exit 2 ;;
  esac
done
f end"#;

/// A question as the cache knows it: runtime questions name the process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Read(String, usize),
    Stat(String),
    Find(FindFilter, Vec<String>),
    Processes,
    Environ(u32),
    Runtime(u32),
    Sensitive,
}

/// An answer the script gave; refusals are kept as their message.
#[derive(Debug, Clone)]
enum Answer {
    Read(Result<Option<Vec<u8>>, String>),
    Stat(Result<Option<FileStat>, String>),
    Find(Result<Found, String>),
    Processes(Result<ProcessView, String>),
    Environ(Result<Vec<String>, String>),
    Runtime(RuntimeView),
    Sensitive(Result<SensitiveFiles, String>),
}

/// Which process a runtime question is about.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// The one the script takes for the main process.
    Main,
    /// This PID.
    Pid(u32),
}

/// One operation for the script.
#[derive(Debug, Clone)]
enum Step {
    Read(String, usize),
    Stat(String),
    Find(FindFilter, Vec<String>),
    Processes,
    Environ(Who),
    Runtime(Who),
    Sensitive,
}

impl From<&Op> for Step {
    fn from(op: &Op) -> Self {
        match *op {
            Op::Read { path, limit } => Step::Read(path.into(), limit),
            Op::Stat { path } => Step::Stat(path.into()),
            Op::Find { dirs, filter } => Step::Find(filter, dirs.iter().map(|d| (*d).to_owned()).collect()),
            Op::Processes => Step::Processes,
            Op::MainEnvironment => Step::Environ(Who::Main),
            Op::MainRuntime => Step::Runtime(Who::Main),
            Op::SensitiveFiles => Step::Sensitive,
        }
    }
}

/// Runs one argument vector in the target: Kubernetes exec, or a local
/// stand-in in tests.
#[async_trait]
pub trait Runner: Send + Sync {
    /// Run `argv` to completion.
    async fn run(&self, argv: &[String]) -> Result<ExecOutput>;
    /// The target, for the HDF `target_id` and messages.
    fn target_uri(&self) -> String;
}

#[async_trait]
impl Runner for Exec {
    async fn run(&self, argv: &[String]) -> Result<ExecOutput> {
        Exec::run(self, argv).await
    }

    fn target_uri(&self) -> String {
        self.target().uri()
    }
}

/// A probe over Kubernetes exec.
pub struct ExecProbe {
    exec: Box<dyn Runner>,
    boundary: String,
    proc_dir: String,
    cache: Mutex<HashMap<Key, Answer>>,
    round_trips: AtomicUsize,
}

impl ExecProbe {
    /// Look at the container `exec` runs in.
    pub fn new(exec: Exec) -> Self {
        Self::with_runner(Box::new(exec))
    }

    /// Look at a target through `runner`.
    pub fn with_runner(runner: Box<dyn Runner>) -> Self {
        ExecProbe {
            exec: runner,
            boundary: format!("kscan-{}", uuid::Uuid::new_v4().simple()),
            proc_dir: "/proc".into(),
            cache: Mutex::new(HashMap::new()),
            round_trips: AtomicUsize::new(0),
        }
    }

    /// How many execs the probe has made.
    pub fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Run `steps` in one exec and keep every answer.
    async fn survey(&self, steps: &[Step]) -> ProbeResult<()> {
        let args = arguments(&self.boundary, &self.proc_dir, steps)?;
        let mut argv: Vec<String> = ["sh", "-c", SURVEY, "kscan"].map(String::from).to_vec();
        argv.extend(args);
        let n = self.round_trips.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            "{}: exec round trip {n}: the survey script, {} operation(s)",
            self.exec.target_uri(),
            steps.len()
        );
        let out = self.exec.run(&argv).await.map_err(ProbeError::Broken)?;
        if out.code != 0 {
            return Err(ProbeError::Denied(format!(
                "the survey script exited with {}: {}",
                out.code,
                out.stderr_text()
            )));
        }
        let answers = parse_survey(&self.boundary, steps, &out.stdout)?;
        self.cache.lock().expect("the probe's cache").extend(answers);
        Ok(())
    }

    /// The cached answer to `key`, asking with `step` first when it is not there.
    async fn answer(&self, key: Key, step: Step) -> ProbeResult<Answer> {
        if let Some(a) = self.cache.lock().expect("the probe's cache").get(&key).cloned() {
            return Ok(a);
        }
        tracing::debug!("{}: {key:?} was not prefetched; asking for it alone", self.exec.target_uri());
        self.survey(&[step]).await?;
        self.cache
            .lock()
            .expect("the probe's cache")
            .get(&key)
            .cloned()
            .ok_or_else(|| broken("the survey", format!("no answer to {key:?}")))
    }
}

/// The script's arguments for `steps`.
fn arguments(boundary: &str, proc_dir: &str, steps: &[Step]) -> ProbeResult<Vec<String>> {
    let mut args = vec![boundary.to_owned(), proc_dir.to_owned()];
    let who = |w: Who| match w {
        Who::Main => "main".to_owned(),
        Who::Pid(p) => p.to_string(),
    };
    for step in steps {
        match step {
            Step::Read(path, limit) => args.extend(["read".into(), path.clone(), limit.to_string()]),
            Step::Stat(path) => args.extend(["stat".into(), path.clone()]),
            Step::Find(filter, dirs) => {
                if dirs.iter().any(|d| d.contains(':')) {
                    return Err(broken("find", "a directory name holds ':'"));
                }
                args.extend(["find".into(), filter_name(*filter).into(), dirs.join(":")]);
            }
            Step::Processes => args.push("procs".into()),
            Step::Environ(w) => args.extend(["environ".into(), who(*w)]),
            Step::Runtime(w) => args.extend(["runtime".into(), who(*w)]),
            Step::Sensitive => args.extend([
                "secrets".into(),
                sensitive::NAME_PATTERNS.join("\n"),
                sensitive::MARKERS.iter().map(|(m, _)| *m).collect::<Vec<_>>().join("\n"),
                sensitive::HEADER_LINES.to_string(),
                sensitive::HEADER_BYTES.to_string(),
                format!("-{}k", sensitive::MAX_SIZE / 1024 + 1),
            ]),
        }
    }
    Ok(args)
}

fn filter_name(filter: FindFilter) -> &'static str {
    match filter {
        FindFilter::SetIdFiles => "setid",
        FindFilter::WorldWritable => "ww",
    }
}

/// One answer of the script: standard output, exit code, standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame<'a> {
    stdout: &'a [u8],
    code: i32,
    stderr: &'a [u8],
}

impl Frame<'_> {
    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(self.stderr).trim().to_owned()
    }

    fn refused(&self, what: &str) -> String {
        format!("{what}: exit {}: {}", self.code, self.stderr_text())
    }
}

/// Split the script's output into its frames, checking the end marker.
fn frames<'a>(boundary: &str, out: &'a [u8]) -> ProbeResult<Vec<Frame<'a>>> {
    let sep = format!("\n{boundary} ");
    let sep = sep.as_bytes();
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut rest = out;
    loop {
        match find(rest, sep) {
            Some(at) => {
                parts.push(&rest[..at]);
                rest = &rest[at + sep.len()..];
            }
            None => {
                parts.push(rest);
                break;
            }
        }
    }
    // parts[0] precedes the first frame (empty); then header+payload chunks.
    let chunks: Vec<(&str, &[u8])> = parts
        .iter()
        .skip(1)
        .map(|chunk| {
            let nl = chunk.iter().position(|&b| b == b'\n').unwrap_or(chunk.len());
            (std::str::from_utf8(&chunk[..nl]).unwrap_or(""), chunk.get(nl + 1..).unwrap_or(&[]))
        })
        .collect();
    match chunks.last() {
        Some(("end", _)) => {}
        _ => return Err(broken("the survey", "its output ends early (no end marker)")),
    }
    let mut frames = Vec::new();
    let mut it = chunks[..chunks.len() - 1].iter();
    while let Some((head, stdout)) = it.next() {
        let Some((status, stderr)) = it.next() else {
            return Err(broken("the survey", format!("answer {head} has no exit status")));
        };
        let code = status
            .strip_prefix("= ")
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| broken("the survey", format!("answer {head}: status line {status:?}")))?;
        frames.push(Frame { stdout, code, stderr });
    }
    Ok(frames)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The answers in the script's output for `steps`, by question.
fn parse_survey(boundary: &str, steps: &[Step], out: &[u8]) -> ProbeResult<Vec<(Key, Answer)>> {
    let frames = frames(boundary, out)?;
    let mut frames = frames.into_iter();
    let mut next = |what: &str| frames.next().ok_or_else(|| broken("the survey", format!("no answer for {what}")));
    let mut answers = Vec::new();
    let mut script_main: Option<u32> = None;
    for step in steps {
        match step {
            Step::Read(path, limit) => {
                let f = next(path)?;
                let answer = match f.code {
                    0 => Ok(Some(f.stdout.to_vec())),
                    MISSING => Ok(None),
                    _ => Err(f.refused(&format!("reading {path}"))),
                };
                answers.push((Key::Read(path.clone(), *limit), Answer::Read(answer)));
            }
            Step::Stat(path) => {
                let f = next(path)?;
                let answer = match f.code {
                    0 => Ok(Some(
                        parse_stat_line(&String::from_utf8_lossy(f.stdout))
                            .ok_or_else(|| broken(&format!("stat {path}"), String::from_utf8_lossy(f.stdout)))?,
                    )),
                    MISSING => Ok(None),
                    _ => Err(f.refused(&format!("stat {path}"))),
                };
                answers.push((Key::Stat(path.clone()), Answer::Stat(answer)));
            }
            Step::Find(filter, dirs) => {
                let f = next("find")?;
                answers.push((Key::Find(*filter, dirs.clone()), Answer::Find(parse_find(*filter, &f))));
            }
            Step::Processes => {
                let f = next("procs")?;
                let (listing, main) = parse_process_listing(&String::from_utf8_lossy(f.stdout))?;
                script_main = main;
                answers.push((Key::Processes, Answer::Processes(Ok(listing))));
            }
            Step::Environ(who) => {
                let f = next("environ")?;
                let pid = match who {
                    Who::Pid(p) => Some(*p),
                    Who::Main => script_main,
                };
                let answer = match f.code {
                    0 => Ok(String::from_utf8_lossy(f.stdout)
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect()),
                    _ => Err(f.refused(&format!("reading the environment of process {}", show(pid)))),
                };
                if let Some(pid) = pid {
                    answers.push((Key::Environ(pid), Answer::Environ(answer)));
                }
            }
            Step::Runtime(who) => {
                let parts = [next("mountinfo")?, next("attr/current")?, next("attr/apparmor/current")?, next("ns")?];
                let pid = match who {
                    Who::Pid(p) => Some(*p),
                    Who::Main => script_main,
                };
                if let Some(pid) = pid {
                    answers.push((Key::Runtime(pid), Answer::Runtime(runtime_view(pid, &parts))));
                }
            }
            Step::Sensitive => {
                let f = next("secrets")?;
                answers.push((Key::Sensitive, Answer::Sensitive(parse_secrets(&f))));
            }
        }
    }
    Ok(answers)
}

fn show(pid: Option<u32>) -> String {
    pid.map_or_else(|| "(none)".into(), |p| p.to_string())
}

/// `stat -c '%f %u %g %s'` output.
fn parse_stat_line(line: &str) -> Option<FileStat> {
    let mut f = line.split_whitespace();
    let raw = u32::from_str_radix(f.next()?, 16).ok()?;
    Some(FileStat::from_raw(raw, f.next()?.parse().ok()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// The path in a `find: PATH: Permission denied` line (GNU quotes it,
/// busybox does not).
fn denied_path(line: &str) -> Option<String> {
    let rest = line.strip_prefix("find: ")?.strip_suffix(": Permission denied")?;
    Some(rest.trim_matches(['‘', '’', '\'']).to_owned())
}

fn parse_find(filter: FindFilter, f: &Frame) -> Result<Found, String> {
    let mut found = Found::default();
    for line in String::from_utf8_lossy(f.stdout).lines() {
        let Some((mode, path)) = line.split_once(' ') else { continue };
        let Ok(raw) = u32::from_str_radix(mode, 16) else { continue };
        if filter.matches(&FileStat::from_raw(raw, 0, 0, 0)) {
            found.matches.push(path.to_owned());
        }
    }
    found.unreadable = denied_directories(f, "find")?;
    Ok(found.sorted())
}

/// The directories `find` could not read, from its standard error (it
/// exits 1 then); any other complaint is a refusal.
fn denied_directories(f: &Frame, what: &str) -> Result<Vec<String>, String> {
    let mut denied = Vec::new();
    for line in String::from_utf8_lossy(f.stderr).lines() {
        if line.contains("Permission denied") {
            denied.push(denied_path(line).unwrap_or_else(|| line.to_owned()));
        } else if !line.trim().is_empty() {
            return Err(format!("{what}: {line}"));
        }
    }
    Ok(denied)
}

fn parse_secrets(f: &Frame) -> Result<SensitiveFiles, String> {
    let mut out = SensitiveFiles::default();
    for line in String::from_utf8_lossy(f.stdout).lines() {
        if let Some(path) = line.strip_prefix("u ") {
            out.unreadable.push(path.to_owned());
        } else if let Some(rest) = line.strip_prefix("k ") {
            let (index, path) = rest.split_once(' ').ok_or_else(|| format!("secrets: unexpected line {line:?}"))?;
            let kind = index
                .parse::<usize>()
                .ok()
                .and_then(|i| sensitive::MARKERS.get(i))
                .map(|(_, kind)| *kind)
                .ok_or_else(|| format!("secrets: unknown marker {index}"))?;
            out.found.push((path.to_owned(), kind.to_owned()));
        }
    }
    out.unreadable.extend(denied_directories(f, "searching for keys")?);
    Ok(out.sorted())
}

fn lsm_answer(f: &Frame, what: &str) -> LsmLabel {
    match f.code {
        0 => Ok(lsm_label(f.stdout)),
        MISSING => Ok(None),
        // The kernel answers EINVAL when no LSM of that kind is active.
        _ if f.stderr_text().contains("Invalid argument") => Ok(None),
        _ => Err(f.refused(what)),
    }
}

fn runtime_view(pid: u32, [mountinfo, current, apparmor, ns]: &[Frame; 4]) -> RuntimeView {
    let ids: HashMap<String, u64> = String::from_utf8_lossy(ns.stdout)
        .lines()
        .filter_map(|l| {
            let (ino, path) = l.split_once(' ')?;
            Some((path.rsplit('/').next()?.to_owned(), ino.parse().ok()?))
        })
        .collect();
    let errors = ns.stderr_text();
    let namespaces = NAMESPACES
        .iter()
        .map(|kind| Namespace {
            kind: (*kind).to_owned(),
            id: ids.get(*kind).copied().ok_or_else(|| {
                let line = errors.lines().find(|l| l.contains(&format!("/ns/{kind}"))).unwrap_or(&errors);
                format!("namespace {kind} of process {pid}: {line}")
            }),
        })
        .collect();
    RuntimeView {
        pid,
        mountinfo: match mountinfo.code {
            0 => Ok(String::from_utf8_lossy(mountinfo.stdout).into_owned()),
            _ => Err(mountinfo.refused(&format!("mountinfo of process {pid}"))),
        },
        attr_current: lsm_answer(current, &format!("attr/current of process {pid}")),
        attr_apparmor: lsm_answer(apparmor, &format!("attr/apparmor/current of process {pid}")),
        namespaces,
    }
}

/// The container's processes from the `procs` answer, and the main PID the
/// script chose: those in the script's cgroup or below, minus the script
/// and its children. The main process is the lowest such PID.
fn parse_process_listing(text: &str) -> ProbeResult<(ProcessView, Option<u32>)> {
    let mut own_pid = None;
    let mut own_cgroup = String::new();
    let mut script_main = None;
    let mut listed: Vec<(Process, String)> = Vec::new();
    let mut unreadable = Vec::new();
    for record in text.split('\u{1e}').skip(1) {
        let (head, body) = record.split_once('\n').unwrap_or((record, ""));
        let mut h = head.split_whitespace();
        let tag = h.next().unwrap_or("");
        let pid: Option<u32> = h.next().and_then(|p| p.parse().ok());
        match tag {
            "O" => {
                own_pid = pid;
                own_cgroup = body.to_owned();
            }
            "M" => script_main = pid,
            "U" => {
                let pid = pid.ok_or_else(|| broken("listing processes", head))?;
                unreadable
                    .push(Unreadable { pid, why: format!("{} could not be read", h.collect::<Vec<_>>().join(" ")) });
            }
            "S" => {
                let pid = pid.ok_or_else(|| broken("listing processes", head))?;
                // The cgroup follows as a record of its own, tagged C.
                match parse_status(pid, body) {
                    Some(p) => listed.push((p, String::new())),
                    None => unreadable.push(Unreadable { pid, why: "status has no Name, Uid or CapEff line".into() }),
                }
            }
            "C" => {
                if let Some(last) = listed.last_mut() {
                    last.1 = body.to_owned();
                }
            }
            _ => return Err(broken("listing processes", head)),
        }
    }
    let own_pid = own_pid.ok_or_else(|| broken("listing processes", "no own process"))?;
    if own_cgroup.trim().is_empty() {
        return Err(broken("listing processes", "the script's own cgroup is empty"));
    }
    let ours = |p: &Process| p.pid == own_pid || p.ppid == own_pid;
    let mut members: Vec<Process> = listed
        .into_iter()
        .filter(|(p, cgroup)| !ours(p) && cgroup_within(&own_cgroup, cgroup))
        .map(|(p, _)| p)
        .collect();
    members.sort_by_key(|p| p.pid);
    let main = members.first().cloned().ok_or_else(|| broken("listing processes", "no process of the container"))?;
    Ok((ProcessView { main, all: members, unreadable }, script_main))
}

fn broken(what: &str, detail: impl std::fmt::Display) -> ProbeError {
    ProbeError::Broken(Error::scan(format!("{what}: unexpected output from the container: {detail}")))
}

#[async_trait]
impl Probe for ExecProbe {
    fn target_id(&self) -> String {
        self.exec.target_uri()
    }

    async fn prefetch(&self, plan: &Plan) -> ProbeResult<()> {
        let steps: Vec<Step> = plan.iter().map(Step::from).collect();
        self.survey(&steps).await
    }

    async fn read(&self, path: &str, limit: usize) -> ProbeResult<Option<Vec<u8>>> {
        match self.answer(Key::Read(path.into(), limit), Step::Read(path.into(), limit)).await? {
            Answer::Read(a) => a.map_err(ProbeError::Denied),
            other => Err(broken("read", format!("{other:?}"))),
        }
    }

    async fn stat(&self, path: &str) -> ProbeResult<Option<FileStat>> {
        match self.answer(Key::Stat(path.into()), Step::Stat(path.into())).await? {
            Answer::Stat(a) => a.map_err(ProbeError::Denied),
            other => Err(broken("stat", format!("{other:?}"))),
        }
    }

    async fn find(&self, dirs: &[&str], filter: FindFilter) -> ProbeResult<Found> {
        let dirs: Vec<String> = dirs.iter().map(|d| (*d).to_owned()).collect();
        match self.answer(Key::Find(filter, dirs.clone()), Step::Find(filter, dirs)).await? {
            Answer::Find(a) => a.map_err(ProbeError::Denied),
            other => Err(broken("find", format!("{other:?}"))),
        }
    }

    async fn processes(&self) -> ProbeResult<Option<ProcessView>> {
        match self.answer(Key::Processes, Step::Processes).await? {
            Answer::Processes(a) => a.map(Some).map_err(ProbeError::Denied),
            other => Err(broken("procs", format!("{other:?}"))),
        }
    }

    async fn environment_names(&self, pid: u32) -> ProbeResult<Vec<String>> {
        match self.answer(Key::Environ(pid), Step::Environ(Who::Pid(pid))).await? {
            Answer::Environ(a) => a.map_err(ProbeError::Denied),
            other => Err(broken("environ", format!("{other:?}"))),
        }
    }

    async fn runtime(&self, pid: u32) -> ProbeResult<RuntimeView> {
        match self.answer(Key::Runtime(pid), Step::Runtime(Who::Pid(pid))).await? {
            Answer::Runtime(view) => Ok(view),
            other => Err(broken("runtime", format!("{other:?}"))),
        }
    }

    async fn sensitive_files(&self) -> ProbeResult<SensitiveFiles> {
        match self.answer(Key::Sensitive, Step::Sensitive).await? {
            Answer::Sensitive(a) => a.map_err(ProbeError::Denied),
            other => Err(broken("secrets", format!("{other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The survey script runs here in real shells (busybox `sh`, Debian's
    //! `dash` and `bash`), chrooted into a small container-like tree in a
    //! PID namespace of its own, the way a container's exec runs it; its
    //! answers are compared with the agent's local probe over the same tree.
    use super::*;
    use kscan_agent::probe::local::LocalProbe;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::{Path, PathBuf};

    /// Copy `bin` (a host path) and the libraries `ldd` names into `tree`.
    fn install(tree: &Path, bin: &str, at: &str) {
        let copy = |from: &str, to: &str| {
            let dest = tree.join(to.trim_start_matches('/'));
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(from, &dest).unwrap_or_else(|e| panic!("copying {from}: {e}"));
        };
        copy(bin, at);
        let ldd = std::process::Command::new("ldd").arg(bin).output().unwrap();
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let lib = line.split_whitespace().find(|w| w.starts_with('/'));
            if let Some(lib) = lib {
                copy(lib, lib);
            }
        }
    }

    /// A container-like root: busybox tools, dash and bash, a setuid-root
    /// helper, /dev/null, and planted files.
    fn tree() -> tempfile::TempDir {
        assert_eq!(unsafe { libc::geteuid() }, 0, "these tests chroot: run them as root");
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        std::fs::set_permissions(t, std::fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["bin", "proc", "dev", "etc", "usr/bin", "usr/lib", "app/.aws", "tmp"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", t.join("bin/busybox")).unwrap();
        for applet in ["sh", "head", "stat", "find", "cat", "tr", "sleep", "mount"] {
            symlink("busybox", t.join("bin").join(applet)).unwrap();
        }
        install(t, "/usr/bin/dash", "/usr/bin/dash");
        install(t, "/usr/bin/bash", "/usr/bin/bash");
        install(t, "/usr/bin/sleep", "/usr/bin/suid-sleep");
        std::fs::set_permissions(t.join("usr/bin/suid-sleep"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        let null = std::ffi::CString::new(t.join("dev/null").to_str().unwrap()).unwrap();
        // SAFETY: mknod(2) with a valid path; the result is checked.
        assert_eq!(unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) }, 0);
        std::fs::set_permissions(t.join("dev/null"), std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::write(t.join("usr/lib/os-release"), "ID=kscan-tree\nVERSION_ID=1\n").unwrap();
        symlink("../usr/lib/os-release", t.join("etc/os-release")).unwrap();
        std::fs::write(t.join("etc/passwd"), "root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n").unwrap();
        std::fs::write(t.join("etc/shadow"), "root:*:1::::::\n").unwrap();
        std::fs::set_permissions(t.join("etc/shadow"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::write(t.join("etc/open"), "x").unwrap();
        std::fs::set_permissions(t.join("etc/open"), std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::write(t.join("app/tls.key"), "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n").unwrap();
        std::fs::write(t.join("app/cert.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
        std::fs::write(t.join("app/.aws/credentials"), "[default]\naws_secret_access_key = s3cr3t\n").unwrap();
        std::fs::write(t.join("app/root.key"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(t.join("app/root.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        dir
    }

    /// Runs the survey in `tree` with `shell`, as `user`, in a PID namespace
    /// whose PID 1 is the "main process"; with `helper`, a setuid-root
    /// process runs beside it.
    struct Chroot {
        tree: PathBuf,
        shell: &'static str,
        user: Option<u32>,
        helper: bool,
    }

    /// Host side, in the new namespaces: mount the tree and its proc, enter it.
    const SETUP: &str = r#"t=$1 u=$2; shift 2
mount --bind "$t" "$t" && mount -o remount,bind,ro "$t" && mount -t proc proc "$t/proc" || exit 125
exec chroot "$u" "$t" "$@""#;

    /// PID 1 of the namespace: starts the helper, then runs the survey as
    /// a child, as an exec into a container would.
    const WRAP: &str = r#"h=$1 sh=$2; shift 2
[ "$h" = 1 ] && /usr/bin/suid-sleep 30 &
/bin/sleep 0.3
"$sh" "$@"; r=$?
exit $r"#;

    #[async_trait]
    impl Runner for Chroot {
        async fn run(&self, argv: &[String]) -> Result<ExecOutput> {
            // The tree becomes the root mount of a mount namespace (read-only,
            // as readOnlyRootFilesystem makes it) with a proc of its own.
            let user = self.user.map(|uid| format!("--userspec={uid}:{uid}")).unwrap_or_else(|| "--".into());
            let mut cmd = tokio::process::Command::new("unshare");
            cmd.args(["--pid", "--fork", "--mount", "/bin/sh", "-c", SETUP, "setup"]).arg(&self.tree).arg(user);
            cmd.args(["/bin/sh", "-c", WRAP, "wrap", if self.helper { "1" } else { "0" }, self.shell]);
            cmd.args(&argv[1..]);
            let out = cmd.output().await.unwrap();
            Ok(ExecOutput { stdout: out.stdout, stderr: out.stderr, code: out.status.code().unwrap_or(-1) })
        }

        fn target_uri(&self) -> String {
            format!("chroot://{}", self.tree.display())
        }
    }

    const SHELLS: [&str; 3] = ["/bin/sh", "/usr/bin/dash", "/usr/bin/bash"];

    fn controls(execution: &kscan_agent::hdf::Execution) -> Vec<(String, Vec<(String, String)>)> {
        execution.profiles[0]
            .controls
            .iter()
            .map(|c| {
                let results = c.results.as_ref().unwrap().iter();
                let shown = results
                    .map(|r| (format!("{:?}", r.status), r.code_desc.clone() + r.message.as_deref().unwrap_or("")));
                (c.id.clone(), shown.collect())
            })
            .collect()
    }

    #[tokio::test]
    async fn every_shell_answers_the_file_questions_as_the_local_probe_does() {
        let dir = tree();
        let local = LocalProbe::directory(dir.path()).unwrap();
        for shell in SHELLS {
            let probe =
                ExecProbe::with_runner(Box::new(Chroot { tree: dir.path().into(), shell, user: None, helper: false }));
            let plan = kscan_agent::builtin::facts::plan();
            probe.prefetch(&plan).await.unwrap();
            for op in &plan {
                match *op {
                    Op::Read { path, limit } => assert_eq!(
                        probe.read(path, limit).await.map_err(|e| e.message()),
                        local.read(path, limit).await.map_err(|e| e.message()),
                        "{shell}: read {path}"
                    ),
                    // The kernel's interfaces are the host's inside the chroot, absent from the tree.
                    Op::Stat { path } if kscan_agent::builtin::runtime::KERNEL_INTERFACES.contains(&path) => {}
                    Op::Stat { path } => assert_eq!(
                        probe.stat(path).await.unwrap(),
                        local.stat(path).await.unwrap(),
                        "{shell}: stat {path}"
                    ),
                    Op::Find { dirs, filter } => assert_eq!(
                        probe.find(dirs, filter).await.unwrap(),
                        local.find(dirs, filter).await.unwrap(),
                        "{shell}: find {filter:?}"
                    ),
                    Op::SensitiveFiles => {
                        let found = probe.sensitive_files().await.unwrap();
                        let want = local.sensitive_files().await.unwrap();
                        assert_eq!(found.found, want.found, "{shell}: keys");
                        assert_eq!(found.found.len(), 3, "{shell}: {found:?}");
                    }
                    Op::Processes | Op::MainEnvironment | Op::MainRuntime => {}
                }
            }
            assert_eq!(probe.round_trips(), 1, "{shell}: the plan took one exec");
        }
    }

    #[tokio::test]
    async fn a_setuid_root_process_beside_a_non_root_main_fails_no_root_processes_in_one_round_trip() {
        let dir = tree();
        for shell in SHELLS {
            let runner = Chroot { tree: dir.path().into(), shell, user: Some(65534), helper: true };
            let probe = ExecProbe::with_runner(Box::new(runner));
            let execution = kscan_agent::builtin::run(&probe, serde_json::Map::new(), None).await.unwrap();
            assert_eq!(probe.round_trips(), 1, "{shell}: the whole scan in one exec");
            let all = controls(&execution);
            let get = |id: &str| all.iter().find(|(c, _)| c == id).unwrap().1.clone();
            let root = get("kscan-no-root-processes");
            assert_eq!(root[0].0, "Some(Failed)", "{shell}: {root:?}");
            assert!(root[0].1.contains("suid-sleep"), "{shell}: {root:?}");
            assert!(get("kscan-main-process-not-root").iter().all(|(s, _)| s == "Some(Passed)"), "{shell}");
            // Facts of the main process come through: the runtime controls
            // judge them instead of erroring.
            for id in ["kscan-no-host-namespaces", "kscan-root-filesystem-read-only", "kscan-seccomp-applied"] {
                assert!(get(id).iter().all(|(s, _)| s != "Some(Error)"), "{shell}: {id}: {:?}", get(id));
            }
            // Read as nobody: the 0600 key is a candidate it cannot read, and
            // no secret value is in the results.
            let keys = get("kscan-no-private-keys-in-filesystem");
            assert!(keys[0].1.contains("/app/tls.key") && keys[0].1.contains("cannot read: /app/root.key"), "{keys:?}");
            let text = serde_json::to_string(&execution).unwrap();
            assert!(!text.contains("s3cr3t") && !text.contains("MHcCAQEE"), "a secret leaked");
        }
    }

    #[test]
    fn the_listing_keeps_the_containers_cgroup_and_names_what_it_could_not_read() {
        let status = |name: &str, pid: u32, ppid: u32, uid: u32| {
            format!("Name:\t{name}\nPid:\t{pid}\nPPid:\t{ppid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nCapEff:\t0\n")
        };
        let own = "0::/\n";
        let text = format!(
            "\u{1e}O 40\n{own}\u{1e}S 1\n{}\u{1e}C\n0::/../pause\n\u{1e}S 7\n{}\u{1e}C\n{own}\u{1e}S 12\n{}\u{1e}C\n0::/sub\n\
             \u{1e}S 20\n{}\u{1e}C\n0::/../other\n\u{1e}U 30 status\n\u{1e}S 41\n{}\u{1e}C\n{own}\u{1e}M 7\n",
            status("pause", 1, 0, 65535),
            status("app", 7, 0, 1000),
            status("helper", 12, 7, 0),
            status("other", 20, 0, 0),
            status("stat", 41, 40, 1000),
        );
        let (view, main) = parse_process_listing(&text).unwrap();
        assert_eq!(main, Some(7));
        assert_eq!(view.main.pid, 7);
        assert_eq!(view.all.iter().map(|p| p.pid).collect::<Vec<_>>(), [7, 12]);
        assert_eq!(view.unreadable.len(), 1);
        assert_eq!(view.unreadable[0].pid, 30);
    }

    #[test]
    fn truncated_output_is_a_broken_probe() {
        let steps = [Step::Stat("/x".into())];
        let ok = "\nB 0\n81a4 0 0 1\n\nB = 0\n\nB end\n";
        assert!(parse_survey("B", &steps, ok.as_bytes()).is_ok());
        let cut = "\nB 0\n81a4 0 0 1\n\nB = 0\n";
        assert!(matches!(parse_survey("B", &steps, cut.as_bytes()), Err(ProbeError::Broken(_))));
        assert!(matches!(parse_survey("B", &steps, b"\nB end\n"), Err(ProbeError::Broken(_))));
    }

    #[test]
    fn stat_lines_parse() {
        let s = parse_stat_line("81a4 0 42 1234\n").unwrap();
        assert_eq!((s.mode, s.uid, s.gid, s.size), (0o644, 0, 42, 1234));
        assert!(parse_stat_line("garbage").is_none());
        assert_eq!(denied_path("find: ‘/root’: Permission denied").as_deref(), Some("/root"));
        assert_eq!(denied_path("find: /root: Permission denied").as_deref(), Some("/root"));
    }
}
