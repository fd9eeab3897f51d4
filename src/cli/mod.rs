//! The command line: one file per subcommand, each with its `Args` and `run`.
//!
//! Every `run` returns an [`Outcome`] or an [`Error`](crate::Error); `main`
//! turns those into exit codes in one place ([`crate::error`]).

use clap::{ArgAction, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::{Outcome, Result};

pub mod access;
pub mod cleanup;
pub mod gate;
pub mod github;
pub mod posture;
pub mod report;
pub mod scan;
pub mod serve;
pub mod summary;
pub mod threshold;

/// Exit codes, shown at the end of every `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  passed the gate (or no gate was given)
  1  the gate failed
  2  usage or input error (bad flags, missing or malformed files, invalid names)
  3  the scan could not run (cluster, access, engine, timeout)
  4  teardown left objects behind";

/// Scan running Kubernetes containers for compliance from CI, gate the
/// results against a threshold, and write reports CI systems show.
#[derive(Debug, Parser)]
#[command(name = "kscan", version, about, long_about = None, after_long_help = EXIT_CODES, after_help = EXIT_CODES)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace). `KSCAN_LOG` takes a
    /// tracing filter and wins over this flag.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan running containers with ephemeral least-privilege access, write
    /// HDF per container, and tear everything down.
    Scan(Box<scan::Args>),
    /// Write JUnit, SARIF, Markdown, GitHub and GitLab reports (and gate).
    Report(report::Args),
    /// Check results against a SAF threshold file; exit 1 when a rule fails.
    Gate(gate::Args),
    /// Generate threshold files from results.
    Threshold(threshold::Args),
    /// Count controls by status and severity, as `saf summary` does.
    Summary(summary::Args),
    /// Check pod specs (latest tags, root users, Pod Security Standards) in manifests or a live cluster.
    Posture(posture::Args),
    /// Post results to GitHub: a pull-request comment or a check run.
    Github(github::Args),
    /// Run the scan service: HTTP API, job queue, store, callbacks.
    Serve(Box<serve::Args>),
    /// Create or delete a scan's scoped access, to run your own engine with it.
    Access(access::Args),
    /// Remove objects earlier runs left behind.
    Cleanup(cleanup::Args),
    /// Scan one shard of a `kscan scan --dispatch jobs` run, inside the
    /// run's Job (not for use by hand: it reads its plan from the Job).
    #[command(hide = true)]
    Shard,
}

/// Parse the command line. A usage error exits 2, as clap does — after
/// publishing that exit code for the CI platform `kscan scan` or `kscan
/// report` would have published to, so that a bad input of a wrapper still
/// shows up in its outputs.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            if err.use_stderr() {
                publish_usage_error(&err);
            }
            err.exit()
        }
    }
}

fn publish_usage_error(err: &clap::Error) {
    use clap::CommandFactory;
    let Ok(matches) = Cli::command().ignore_errors(true).try_get_matches() else { return };
    let Some((name @ ("scan" | "report"), args)) = matches.subcommand() else { return };
    let env = |k: &str| std::env::var(k).ok();
    let platform = args
        .try_get_one::<crate::ci::Platform>("ci")
        .ok()
        .flatten()
        .copied()
        .unwrap_or_else(|| crate::ci::Platform::detect(env));
    let default = if name == "scan" { "kscan-results" } else { "kscan-reports" };
    let out_dir = args.try_get_one::<std::path::PathBuf>("out_dir").ok().flatten().cloned().unwrap_or(default.into());
    let rendered = err.render().to_string();
    let message = rendered.lines().next().unwrap_or("usage error").trim_start_matches("error: ");
    if let Ok(publisher) = crate::ci::publish::Publisher::prepare(platform, env) {
        match publisher.fail(2, &format!("kscan {name}: {message}"), &out_dir) {
            Ok(text) => {
                let _ = crate::output::stdout(&text);
            }
            Err(e) => eprintln!("warning: {e}"),
        }
    }
}

/// Send logs to stderr at the level the flags ask for.
pub fn init_logging(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,kscan=info",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("KSCAN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours on a terminal only: CI logs and files get plain lines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

/// Run the chosen subcommand.
pub async fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Scan(args) => scan::run(*args).await,
        Command::Access(args) => access::run(args).await,
        Command::Cleanup(args) => cleanup::run(args).await,
        Command::Shard => crate::scan::dispatch::shard().await.map(|()| Outcome::Passed),
        Command::Summary(args) => summary::run(args),
        Command::Gate(args) => gate::run(args),
        Command::Threshold(args) => threshold::run(args),
        Command::Posture(args) => posture::run(args).await,
        Command::Serve(args) => serve::run(*args).await,
        Command::Report(args) => report::run(args),
        Command::Github(args) => github::run(args).await,
    }
}
