//! `kscan scan`: scan running containers with ephemeral least-privilege
//! access, write HDF per target, and tear down.

use std::path::PathBuf;
use std::time::Duration;

use crate::ci::CiArgs;
use crate::cli::gate::render_text;
use crate::cli::report::Publishing;
use crate::cluster::access::TokenTtl;
use crate::cluster::client::ClusterArgs;
use crate::engine::builtin;
use crate::engine::cinc::Cinc;
use crate::engine::probe::local::LocalProbe;
use crate::engine::probe::Probe;
use crate::engine::{Engine, EngineKind};
use crate::error::Error;
use crate::error::ResultExt;
use crate::gate::{self, Thresholds};
use crate::hdf::{ControlStatus, ResultSet, Source};
use crate::report::Format;
use crate::scan::{self, parse_duration, Plan};
use crate::strategy::{Strategy, StrategyConfig, DEFAULT_SCANNER_IMAGE};
use crate::target::resolve::{Request, Selection};
use crate::target::{Label, Subdomain};
use crate::{Outcome, Result};

/// Arguments of `kscan scan`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  kscan scan -n shop --pod web-0
  kscan scan -n shop --pod web-0 --threshold thresholds/moderate.yml
  kscan scan -n shop -l app=web --container app --out-dir results
  kscan scan -n shop --pod web-0 --engine cinc --profile ./my-profile

What happens: kscan reads the target pod(s) with your credentials, creates a
ServiceAccount, a Role granting only what the strategy needs on those pods by
name, and a RoleBinding (all named kscan-<run id>), requests a token for the
ServiceAccount and writes a kubeconfig with it (mode 0600, private directory).
The scan itself runs only with that token. Everything is deleted at the end,
also after a failure, a timeout, SIGINT or SIGTERM; anything that could not
be deleted makes the exit code 4 (remove it with `kscan cleanup`).

Your credentials need, in the namespace: get/list on pods; create/delete on
serviceaccounts, roles, rolebindings; create on serviceaccounts/token; and
every permission the Role grants (exec: get on pods, get+create on pods/exec;
debug and auto add get+patch on pods/ephemeralcontainers; sidecar: create on
pods, get/delete and exec on the run's own pod).

Strategies: auto uses exec when the container has sh, head, stat, find and
cat, else debug. debug adds an ephemeral scanner container (it stays in the
pod's spec, stopped, after the scan); sidecar starts a copy of the container
beside a scanner in a new pod that is deleted afterwards.")]
pub struct Args {
    /// Namespace of the pods to scan.
    #[arg(short, long, value_name = "NS", required_unless_present = "root", default_value = "")]
    pub namespace: String,

    /// The pod to scan.
    #[arg(short, long, value_name = "POD", required_unless_present_any = ["selector", "root"], conflicts_with = "selector")]
    pub pod: Option<String>,

    /// Scan a directory on this machine instead (an unpacked image root) with
    /// the built-in checks; no cluster is involved. Results go to
    /// `--out-dir/root.hdf.json`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["pod", "selector", "container", "engine", "profile"])]
    pub root: Option<PathBuf>,

    /// Scan every running pod that matches this label selector (e.g. `app=web`).
    #[arg(short = 'l', long, value_name = "LABELS")]
    pub selector: Option<String>,

    /// Container to scan (default: the pod's default container, or its only one).
    #[arg(short, long, value_name = "NAME")]
    pub container: Option<String>,

    /// How to reach the container.
    #[arg(long, value_enum, default_value_t = Strategy::Auto)]
    pub strategy: Strategy,

    /// Scanner image for debug and sidecar: the static kscan-agent at
    /// /usr/local/bin/kscan-agent. The default is this kscan release's
    /// published image; pass a mirror of it where the cluster cannot pull
    /// from there (docs/strategies.md says how to build and publish one).
    #[arg(long, value_name = "IMAGE", env = "KSCAN_SCANNER_IMAGE", default_value = DEFAULT_SCANNER_IMAGE)]
    pub scanner_image: String,

    /// UID the scanner container runs as (default: the target container's
    /// UID when its pod spec names one, else 0). Use the target's UID where
    /// Pod Security forbids root.
    #[arg(long, value_name = "UID")]
    pub scanner_user: Option<u32>,

    /// With --strategy sidecar: scan this image instead of the target container's.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// What runs the checks.
    #[arg(long, value_enum, default_value_t = EngineKind::Builtin)]
    pub engine: EngineKind,

    /// InSpec profile directory for `--engine cinc`.
    #[arg(long, value_name = "DIR", required_if_eq("engine", "cinc"))]
    pub profile: Option<PathBuf>,

    /// The CINC Auditor / InSpec program (default: cinc-auditor, then inspec, on PATH).
    #[arg(long, value_name = "PATH")]
    pub engine_bin: Option<PathBuf>,

    /// Gate the results against this SAF threshold file (exit 1 when a rule
    /// fails); read and checked before anything is created.
    #[arg(short = 't', long, short_alias = 'T', value_name = "T.yml")]
    pub threshold: Option<PathBuf>,

    /// Reports to write into --out-dir beside the HDF, as `kscan report`
    /// does: junit, sarif, markdown, github, codequality, context,
    /// template:PATH (comma-separated or repeated).
    #[arg(short, long, value_delimiter = ',', value_name = "FORMAT", value_parser = crate::cli::report::parse_format)]
    pub format: Vec<Format>,

    /// Templates overriding the built-in ones by file name (see `kscan report`).
    #[arg(long, value_name = "DIR")]
    pub template_dir: Option<PathBuf>,

    /// CI platform output (see `kscan report --help`).
    #[command(flatten)]
    pub ci: CiArgs,

    /// Directory for the results: one `POD.CONTAINER.hdf.json` per target.
    #[arg(short, long, value_name = "DIR", default_value = "kscan-results")]
    pub out_dir: PathBuf,

    /// Time limit for the whole scan (e.g. 90s, 10m, 1h); teardown runs after it.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Lifetime of the scoped token in seconds (600–3600).
    #[arg(long, value_name = "SECONDS", default_value = "900")]
    pub token_ttl: TokenTtl,

    /// How many containers are scanned at once with --selector.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub concurrency: u16,

    /// Cluster connection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

impl Args {
    /// Validate everything that needs no cluster: names (RFC 1123), files.
    pub fn plan(&self) -> Result<Plan> {
        let namespace = Label::parse("namespace", &self.namespace)?;
        let pods = match (&self.pod, &self.selector) {
            (Some(pod), _) => Selection::Pod(Subdomain::parse("pod", pod)?),
            (None, Some(selector)) if !selector.trim().is_empty() => Selection::Selector(selector.clone()),
            (None, _) => return Err(Error::input("give --pod POD or a non-empty --selector LABELS")),
        };
        let container = self.container.as_deref().map(|c| Label::parse("container", c)).transpose()?;
        scan::check_out_dir(&self.out_dir)?;
        if self.image.is_some() && self.strategy != Strategy::Sidecar {
            return Err(Error::input("--image only applies to --strategy sidecar"));
        }
        let command_timeout = self.timeout.min(Duration::from_secs(300));
        let engine = match self.engine {
            EngineKind::Builtin => {
                if self.profile.is_some() {
                    return Err(Error::input("--profile needs --engine cinc (the builtin engine has its own checks)"));
                }
                Engine::Builtin
            }
            EngineKind::Cinc => {
                if !self.strategy.supports_cinc() {
                    return Err(Error::input(format!(
                        "--engine cinc runs with --strategy exec only (CINC Auditor reaches the target over \
                         exec); got --strategy {}",
                        self.strategy
                    )));
                }
                let profile = self.profile.as_deref().expect("clap requires --profile with --engine cinc");
                Engine::Cinc(Cinc::new(self.engine_bin.as_deref(), profile, self.timeout)?)
            }
        };
        Ok(Plan {
            request: Request { namespace, pods, container },
            strategy: StrategyConfig {
                // CINC reaches the target over exec: auto means exec then.
                kind: if matches!(engine, Engine::Cinc(_)) { Strategy::Exec } else { self.strategy },
                scanner_image: self.scanner_image.clone(),
                scanner_user: self.scanner_user.map(i64::from),
                image: self.image.clone(),
            },
            engine,
            ttl: self.token_ttl,
            timeout: self.timeout,
            command_timeout,
            concurrency: usize::from(self.concurrency),
            out_dir: self.out_dir.clone(),
        })
    }
}

/// Run `kscan scan`.
pub async fn run(args: Args) -> Result<Outcome> {
    if let Some(root) = &args.root {
        return scan_root(root, &args).await;
    }
    let plan = args.plan()?;
    let publishing = args.publishing()?;
    let admin = args.cluster.connect().await?;
    let finished = scan::run(admin, plan).await?;
    let files: Vec<Source> = finished.results.iter().map(|s| Source::File(s.file.clone())).collect();
    let sets = ResultSet::load_all(files)?;
    for (scanned, set) in finished.results.iter().zip(&sets) {
        print_counts(&scanned.target.to_string(), set, &scanned.file);
    }
    tracing::info!("run {}: removed {} object(s)", finished.run, finished.teardown.deleted.len());
    let files: Vec<String> = finished.results.iter().map(|s| s.file.display().to_string()).collect();
    publishing.finish(sets, &args.out_dir, &files)
}

/// `kscan scan --root DIR`: the built-in checks on a local directory.
async fn scan_root(root: &std::path::Path, args: &Args) -> Result<Outcome> {
    let publishing = args.publishing()?;
    scan::check_out_dir(&args.out_dir)?;
    let probe = LocalProbe::directory(root)?;
    let execution = builtin::run(&probe, serde_json::Map::new(), None).await?;
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| Error::input(format!("cannot create --out-dir {}", args.out_dir.display())).with_source(e))?;
    let file = args.out_dir.join("root.hdf.json");
    let json = serde_json::to_vec_pretty(&execution).scan_err(|| "cannot encode the results".into())?;
    std::fs::write(&file, json).map_err(|e| Error::scan(format!("cannot write {}", file.display())).with_source(e))?;
    let sets = ResultSet::load_all([Source::File(file.clone())])?;
    print_counts(&probe.target_id(), &sets[0], &file);
    publishing.finish(sets, &args.out_dir, &[file.display().to_string()])
}

/// What happens to the results after the scan.
enum AfterScan {
    /// Only a gate (or nothing): one verdict line per rule, as `kscan gate`.
    Gate(Option<Thresholds>),
    /// Reports and CI output, as `kscan report`.
    Report(Box<Publishing>),
}

impl Args {
    /// Check the threshold, formats and templates before anything is created.
    fn publishing(&self) -> Result<AfterScan> {
        if self.format.is_empty() && self.ci.platform() == crate::ci::Platform::None {
            return Ok(AfterScan::Gate(self.threshold.as_deref().map(Thresholds::load).transpose()?));
        }
        let publishing =
            Publishing::prepare(self.threshold.as_deref(), &self.format, self.template_dir.as_deref(), &self.ci)?;
        Ok(AfterScan::Report(Box::new(publishing)))
    }
}

impl AfterScan {
    fn finish(self, sets: Vec<ResultSet>, out_dir: &std::path::Path, files: &[String]) -> Result<Outcome> {
        match self {
            AfterScan::Gate(None) => Ok(Outcome::Passed),
            AfterScan::Gate(Some(thresholds)) => {
                let verdict = gate::check(&thresholds, &sets);
                print!("{}", render_text(&verdict, &thresholds, sets.len()));
                Ok(verdict.outcome())
            }
            AfterScan::Report(publishing) => publishing.publish(sets, out_dir, files),
        }
    }
}

/// One line per target: counts by status and compliance.
fn print_counts(target: &str, set: &ResultSet, file: &std::path::Path) {
    let counts = set.counts();
    println!(
        "{target}: {} passed, {} failed, {} not reviewed, {} not applicable, {} error; compliance {}% ({})",
        counts.total(ControlStatus::Passed),
        counts.total(ControlStatus::Failed),
        counts.total(ControlStatus::NotReviewed),
        counts.total(ControlStatus::NotApplicable),
        counts.total(ControlStatus::ProfileError),
        counts.compliance(),
        file.display()
    );
}
