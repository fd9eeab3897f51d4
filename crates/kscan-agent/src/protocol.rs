//! The agent protocol: the commands `kscan` sends to `kscan-agent` in a
//! scanner container, as argument vectors (never a shell string), and the
//! keys both sides write into the HDF `platform`.
//!
//! Both directions live here — [`Command::argv`] for the sender and
//! [`Command::parse`] for the agent — so that they cannot drift apart.
//!
//! | command | what the agent does |
//! |---|---|
//! | `hold --seconds N` | the scanner container's main process: wait for SIGTERM, at most N seconds |
//! | `stop` | SIGTERM the `hold` processes of its own container (teardown) |
//! | `scan --container-id ID --strategy S --target-id T [--pod-spec JSON]` | find the target's processes, run the built-in checks on its root filesystem (comparing the runtime with what the pod spec asks, when given), write HDF to standard output |

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::spec::PodSpecFacts;

/// Where the scanner image keeps the agent.
pub const AGENT_PATH: &str = "/usr/local/bin/kscan-agent";

/// Seconds a holding scanner outlives its token, so that a slow teardown
/// still finds it running and can stop it itself.
pub const HOLD_MARGIN_SECONDS: u64 = 120;

/// Keys kscan adds to the HDF `platform` object.
pub mod platform {
    /// The strategy that reached the target (`exec`, `debug`, `sidecar`).
    pub const STRATEGY: &str = "kscan_strategy";
    /// Why `auto` chose that strategy.
    pub const STRATEGY_REASON: &str = "kscan_strategy_reason";
    /// The engine that produced the results (`builtin`, `cinc`).
    pub const ENGINE: &str = "kscan_engine";
    /// The sidecar strategy's pod, which held the copy that was scanned.
    pub const SIDECAR_POD: &str = "kscan_sidecar_pod";
    /// The image that was scanned (sidecar).
    pub const IMAGE: &str = "kscan_image";
    /// The pod (`namespace/name`) whose copy was scanned (sidecar): the
    /// results are of the copy, not of that pod's running container.
    pub const COPY_OF: &str = "kscan_copy_of";
    /// What the copy lacks of the original container (sidecar): volumes
    /// not carried, each with why.
    pub const NOT_CARRIED: &str = "kscan_not_carried";
    /// The scanner container's `securityContext` (debug, sidecar): the
    /// privileges the results were read with.
    pub const SCANNER_SECURITY_CONTEXT: &str = "kscan_scanner_security_context";
    /// How many kscan scanner containers the pod held before this run
    /// added its own (debug): they can never be removed.
    pub const EPHEMERAL_BEFORE: &str = "kscan_ephemeral_containers_before";
}

/// One command for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Keep the scanner container running until stopped, at most `seconds`.
    Hold {
        /// Upper limit, so that a lost run never leaves a process behind.
        seconds: u64,
    },
    /// Stop the `hold` processes of this container.
    Stop,
    /// Scan a container whose PID namespace the scanner shares.
    Scan(ScanRequest),
}

/// What `scan` needs to find and name its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRequest {
    /// The target's container runtime id: hex, without the `containerd://`
    /// prefix (which [`Command::parse`] accepts and removes).
    pub container_id: String,
    /// The strategy that started the agent, recorded in the HDF.
    pub strategy: String,
    /// The target's name in the results (`k8s-container://ns/pod/container`).
    pub target_id: String,
    /// The proc filesystem to read (`/proc`; another path only in tests).
    pub proc_dir: PathBuf,
    /// What the target's pod spec asks for (`--pod-spec`, JSON), when kscan
    /// read the pod.
    pub spec: Option<Box<PodSpecFacts>>,
}

/// The agent's usage text.
pub const USAGE: &str = "\
kscan-agent: the part of kscan that runs inside a scanner container (the
debug and sidecar strategies). kscan starts it with an argument vector over
the Kubernetes exec API; it is not meant to be run by hand.

usage:
  kscan-agent hold [--seconds N]      keep running until SIGTERM, at most N seconds (default 3600)
  kscan-agent stop                    SIGTERM the hold processes of this container
  kscan-agent scan --container-id ID --strategy NAME --target-id URI [--pod-spec JSON]
                                      run the built-in checks on the container with runtime
                                      id ID (shared PID namespace) and print HDF; JSON is what
                                      its pod spec asks for, compared with what the kernel applied
  kscan-agent --version | --help

exit codes: 0 done, 2 usage error, 3 the scan could not run";

impl Command {
    /// `hold` for a scanner whose token lives `token_seconds` more.
    pub fn hold_for(token_seconds: u32) -> Command {
        Command::Hold { seconds: u64::from(token_seconds) + HOLD_MARGIN_SECONDS }
    }

    /// The argument vector that runs this command in a scanner container.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![AGENT_PATH.to_owned()];
        match self {
            Command::Hold { seconds } => argv.extend(["hold".into(), "--seconds".into(), seconds.to_string()]),
            Command::Stop => argv.push("stop".into()),
            Command::Scan(r) => {
                argv.extend(["scan".into(), "--container-id".into(), r.container_id.clone()]);
                argv.extend(["--strategy".into(), r.strategy.clone(), "--target-id".into(), r.target_id.clone()]);
                if r.proc_dir != std::path::Path::new("/proc") {
                    argv.extend(["--proc-dir".into(), r.proc_dir.display().to_string()]);
                }
                if let Some(spec) = &r.spec {
                    argv.extend(["--pod-spec".into(), spec.to_json()]);
                }
            }
        }
        argv
    }

    /// Parse the arguments after the program name. `--help` and
    /// `--version` are for the caller to handle before.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command> {
        let mut args = args.into_iter();
        let verb = args.next().ok_or_else(|| usage("no command given"))?;
        let mut options = Options::read(args)?;
        let command = match verb.as_str() {
            "hold" => {
                let seconds = match options.take("--seconds") {
                    None => 3600,
                    Some(s) => s.parse().map_err(|_| usage(&format!("--seconds {s:?} is not a whole number")))?,
                };
                Command::Hold { seconds }
            }
            "stop" => Command::Stop,
            "scan" => {
                let raw = options.require("--container-id")?;
                let container_id = raw.rsplit("://").next().unwrap_or(&raw).to_owned();
                if container_id.is_empty() || !container_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::input(format!("--container-id {raw:?} is not a container id")));
                }
                Command::Scan(ScanRequest {
                    container_id,
                    strategy: options.require("--strategy")?,
                    target_id: options.require("--target-id")?,
                    proc_dir: options.take("--proc-dir").map_or_else(|| PathBuf::from("/proc"), PathBuf::from),
                    spec: match options.take("--pod-spec") {
                        None => None,
                        Some(json) => Some(Box::new(
                            PodSpecFacts::from_json(&json)
                                .map_err(|e| usage(&format!("--pod-spec is not the pod spec's JSON: {e}")))?,
                        )),
                    },
                })
            }
            other => return Err(usage(&format!("unknown command {other:?}"))),
        };
        options.finish(&verb)?;
        Ok(command)
    }
}

/// `--name value` pairs, each at most once.
struct Options(Vec<(String, String)>);

impl Options {
    fn read(mut args: impl Iterator<Item = String>) -> Result<Options> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        while let Some(name) = args.next() {
            if !name.starts_with("--") {
                return Err(usage(&format!("unexpected argument {name:?}")));
            }
            let value = args.next().ok_or_else(|| usage(&format!("{name} needs a value")))?;
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(usage(&format!("{name} given twice")));
            }
            pairs.push((name, value));
        }
        Ok(Options(pairs))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(i).1)
    }

    fn require(&mut self, name: &str) -> Result<String> {
        self.take(name).ok_or_else(|| usage(&format!("{name} is required")))
    }

    fn finish(self, verb: &str) -> Result<()> {
        match self.0.first() {
            None => Ok(()),
            Some((name, _)) => Err(usage(&format!("{verb} takes no {name}"))),
        }
    }
}

fn usage(what: &str) -> Error {
    Error::input(format!("{what}; see `kscan-agent --help`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[String]) -> Result<Command> {
        assert_eq!(argv[0], AGENT_PATH);
        Command::parse(argv[1..].iter().cloned())
    }

    #[test]
    fn every_command_parses_back_from_its_argv() {
        let scan = Command::Scan(ScanRequest {
            container_id: "abc123".into(),
            strategy: "debug".into(),
            target_id: "k8s-container://ns/pod/app".into(),
            proc_dir: "/proc".into(),
            spec: None,
        });
        let in_test = Command::Scan(ScanRequest {
            proc_dir: "/tmp/proc".into(),
            ..match &scan {
                Command::Scan(r) => r.clone(),
                _ => unreachable!(),
            }
        });
        let with_spec = Command::Scan(ScanRequest {
            spec: Some(Box::new(PodSpecFacts {
                pod: "ns/pod".into(),
                read_only_root_filesystem: Some(true),
                capabilities_drop: vec!["ALL".into()],
                ..Default::default()
            })),
            ..match &scan {
                Command::Scan(r) => r.clone(),
                _ => unreachable!(),
            }
        });
        for command in [Command::Hold { seconds: 42 }, Command::Stop, scan, in_test, with_spec] {
            assert_eq!(parse(&command.argv()).unwrap(), command);
        }
        assert_eq!(Command::hold_for(900), Command::Hold { seconds: 900 + HOLD_MARGIN_SECONDS });
    }

    #[test]
    fn the_runtime_prefix_is_dropped_and_bad_ids_refused() {
        let args = |id: &str| {
            ["scan", "--container-id", id, "--strategy", "debug", "--target-id", "t"].map(String::from).to_vec()
        };
        match Command::parse(args("containerd://00ff")).unwrap() {
            Command::Scan(r) => assert_eq!(r.container_id, "00ff"),
            other => panic!("{other:?}"),
        }
        for bad in ["", "containerd://", "12; rm -rf /", "../x"] {
            let err = Command::parse(args(bad)).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}: {err}");
        }
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        let err = |args: &[&str]| Command::parse(args.iter().map(|s| s.to_string())).unwrap_err().to_string();
        assert!(err(&[]).contains("no command"));
        assert!(err(&["dance"]).contains("unknown command \"dance\""));
        assert!(err(&["hold", "--seconds"]).contains("--seconds needs a value"));
        assert!(err(&["hold", "--seconds", "x"]).contains("not a whole number"));
        assert!(err(&["stop", "--seconds", "1"]).contains("stop takes no --seconds"));
        assert!(err(&["scan", "--strategy", "debug"]).contains("--container-id is required"));
        assert!(err(&["hold", "--seconds", "1", "--seconds", "2"]).contains("given twice"));
        assert!(err(&["hold", "now"]).contains("unexpected argument"));
        let bad_spec = ["scan", "--container-id", "ab", "--strategy", "d", "--target-id", "t", "--pod-spec", "{"];
        assert!(err(&bad_spec).contains("--pod-spec is not"));
    }
}
