//! `kscan serve`: the scan service (HTTP API, job queue, store, callbacks).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::scan::{DispatchMode, JobArgs};
use crate::cluster::client::ClusterArgs;
use crate::error::Error;
use crate::scan::parse_duration;
use crate::server::api::Limits;
use crate::server::api::StrategyName;
use crate::server::auth::Tokens;
use crate::server::callback::Policy;
use crate::server::destination::{Cidr, Destinations};
use crate::server::jobs::Lease;
use crate::server::lease::LeaseConfig;
use crate::server::store::Location;
use crate::server::triggers::{Schedule, TriggerConfig};
use crate::server::Config;
use crate::strategy::DEFAULT_SCANNER_IMAGE;
use crate::target::Label;
use crate::{Outcome, Result};

/// Arguments of `kscan serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  openssl rand -hex 32 > tokens && chmod 600 tokens
  kscan serve --token-file tokens --db /var/lib/kscan/kscan.db --thresholds thresholds
  curl -H \"Authorization: Bearer $(cat tokens)\" -H 'Content-Type: application/json' \\
       -d '{\"target\":{\"namespace\":\"shop\",\"pod\":\"web-0\"}}' http://127.0.0.1:8080/api/v1/scans

Every route but /healthz and /readyz needs `Authorization: Bearer <token>`.
The API is described at /openapi.json.")]
pub struct Args {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// File of accepted bearer tokens, one per line with its scopes and
    /// namespaces: `TOKEN scopes=read|scan|admin namespaces=a,b|* [name=NAME]`
    /// (see docs/serve.md).
    #[arg(long, value_name = "PATH", env = "KSCAN_TOKEN_FILE")]
    pub token_file: PathBuf,

    /// The namespaces the service may scan and read (comma-separated).
    /// Requests for any other are refused. Default: the namespace the service
    /// runs in (in a pod), else the kubeconfig context's namespace.
    #[arg(long, value_name = "NS,…", value_delimiter = ',', env = "KSCAN_NAMESPACES")]
    pub namespaces: Vec<String>,

    /// Where jobs and results live: a SQLite file (created, mode 0600; one
    /// replica), or a PostgreSQL URL `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// shared by several replicas (password also from PGPASSWORD; only
    /// sslmode=disable or prefer, without TLS, for now).
    #[arg(long, value_name = "PATH|URL", env = "KSCAN_DB", hide_env_values = true, default_value = "kscan.db",
          value_parser = parse_location)]
    pub db: Location,

    /// This replica's id, the owner named by the jobs it runs (default: the
    /// host name, i.e. the pod name, and a random suffix).
    #[arg(long, value_name = "ID")]
    pub replica_id: Option<String>,

    /// How long a replica's running jobs stay its own without a renewal
    /// (PostgreSQL); renewed every quarter of it. A replica whose lease ran
    /// out has its running jobs interrupted and cleaned up by a peer.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_millis)]
    pub replica_lease: Duration,

    /// How often an idle worker looks in the store for queued jobs
    /// (submitted to other replicas, or left by a restart).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_millis)]
    pub poll_interval: Duration,

    /// Keep finished scans, their results and their targets' history this
    /// long, then prune them (checked at start and every tenth of the
    /// period, at most hourly): `90d`, `12h`, `30m`, or `forever`.
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = parse_retention)]
    pub retain: Retention,

    /// Scans run at once by this replica (with --executor jobs: its
    /// Kubernetes Jobs at once, so that several replicas run at most
    /// replicas × N Jobs).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,

    /// Where scans run: `in-process` (in this process), or `jobs` (each scan
    /// as one Kubernetes Indexed Job whose pods scan its targets as the
    /// scan's own ServiceAccount, as `kscan scan --dispatch jobs` does;
    /// builtin engine only). With jobs the service's identity also needs
    /// create, get, list and delete on jobs and get on pods/log where it
    /// scans (deploy/kscan-serve-jobs.yaml).
    #[arg(long, value_enum, default_value_t = DispatchMode::InProcess)]
    pub executor: DispatchMode,

    /// Shards, parallelism, image and API server of each scan's Job.
    #[command(flatten)]
    pub jobs: JobArgs,

    /// Scans that may wait; more are answered 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub queue_limit: usize,

    /// Directory of InSpec profiles that requests may name (`scan.profile`).
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,

    /// Directory of threshold files that requests may name (`scan.threshold`).
    #[arg(long, value_name = "DIR")]
    pub thresholds: Option<PathBuf>,

    /// Scan time limit when a request gives none.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub scan_timeout: Duration,

    /// Longest scan time limit a request may ask for.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub max_scan_timeout: Duration,

    /// Scanner image for the debug and sidecar strategies.
    #[arg(long, value_name = "IMAGE", env = "KSCAN_SCANNER_IMAGE", default_value = DEFAULT_SCANNER_IMAGE)]
    pub scanner_image: String,

    /// The CINC Auditor / InSpec program (default: cinc-auditor, then inspec, on PATH).
    #[arg(long, value_name = "PATH")]
    pub engine_bin: Option<PathBuf>,

    /// Callback attempts before giving up.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub callback_attempts: u32,

    /// Delay before the first callback retry (doubled each time, jittered).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_millis)]
    pub callback_backoff: Duration,

    /// Accept plain http:// callback URLs (default: https:// only).
    #[arg(long)]
    pub callback_allow_http: bool,

    /// A network callbacks may reach although it is not public (loopback,
    /// private, link-local, metadata addresses are refused otherwise);
    /// repeat or separate with commas.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    pub callback_allow_cidr: Vec<Cidr>,

    /// Scan the containers of pods matching this label selector when they
    /// become Running (once per pod UID, container and image digest).
    #[arg(long, value_name = "SELECTOR")]
    pub watch: Option<String>,

    /// Rescan the running containers of pods matching --schedule-selector
    /// (default: the --watch selector) on this cron schedule ("0 */6 * * *";
    /// a sixth leading field gives seconds).
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,

    /// The pods --schedule rescans.
    #[arg(long, value_name = "SELECTOR", requires = "schedule")]
    pub schedule_selector: Option<String>,

    /// Limit --watch and --schedule to this namespace (default: every one of --namespaces).
    #[arg(long, value_name = "NS")]
    pub trigger_namespace: Option<String>,

    /// Threshold (a name from --thresholds) that --watch and --schedule scans are gated with.
    #[arg(long, value_name = "NAME")]
    pub trigger_threshold: Option<String>,

    /// With --watch or --schedule: the Lease (coordination.k8s.io) whose
    /// holder runs them, so that of several replicas exactly one does; the
    /// service's identity needs get, update (this name) and create on
    /// leases there (deploy/kscan-serve.yaml grants it).
    #[arg(long, value_name = "NAME", default_value = "kscan-triggers")]
    pub lease_name: String,

    /// Namespace of that Lease (default: the service's own namespace).
    #[arg(long, value_name = "NS")]
    pub lease_namespace: Option<String>,

    /// How long the Lease holds without renewal: a replica that dies is
    /// replaced as leader within this time (renewed every third of it).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// Cluster connection (in-cluster service account when run in a pod).
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `--db`: never fails here, so that clap never echoes a URL with its
/// password; the store checks it when it connects.
fn parse_location(s: &str) -> std::result::Result<Location, String> {
    Ok(Location::parse(s))
}

/// `250ms`, or any duration `--timeout` takes.
fn parse_millis(s: &str) -> std::result::Result<Duration, String> {
    match s.strip_suffix("ms") {
        Some(n) => n.parse().map(Duration::from_millis).map_err(|_| format!("{s:?} is not a duration")),
        None => parse_duration(s),
    }
}

/// `--retain`: how long finished scans are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Never pruned.
    Forever,
    /// Pruned this long after they ended.
    For(Duration),
}

/// `forever`, or a duration in s, m, h or d (`90d`).
fn parse_retention(s: &str) -> std::result::Result<Retention, String> {
    if s == "forever" {
        return Ok(Retention::Forever);
    }
    let days = s.strip_suffix('d').map(|n| n.parse::<u64>());
    match days {
        Some(Ok(0)) => Err("--retain must be more than 0 (or `forever`)".into()),
        Some(Ok(n)) => Ok(Retention::For(Duration::from_secs(n * 86_400))),
        Some(Err(_)) => Err(format!("{s:?} is not a duration: write e.g. 90d, 12h, 30m or forever")),
        None => parse_duration(s).map(Retention::For).map_err(|e| format!("{e}; or days (90d), or forever")),
    }
}

type Triggers = (Option<TriggerConfig>, Option<(Schedule, TriggerConfig)>);

/// `--namespaces`, checked; `own` (the service's namespace) when not given.
fn served(args: &Args, own: &str) -> Result<BTreeSet<String>> {
    let given: Vec<&str> = args.namespaces.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect();
    let names = if given.is_empty() { vec![own] } else { given };
    names.into_iter().map(|n| Ok(Label::parse("--namespaces", n)?.as_str().to_owned())).collect()
}

/// `--watch` and `--schedule`, checked; they look in `served` only.
fn triggers(args: &Args, served: &BTreeSet<String>) -> Result<Triggers> {
    let namespaces: Vec<String> = match &args.trigger_namespace {
        None => served.iter().cloned().collect(),
        Some(ns) => {
            Label::parse("--trigger-namespace", ns)?;
            if !served.contains(ns) {
                return Err(Error::input(format!(
                    "--trigger-namespace {ns} is not one of --namespaces ({})",
                    served.iter().cloned().collect::<Vec<_>>().join(",")
                )));
            }
            vec![ns.clone()]
        }
    };
    if let Some(name) = &args.trigger_threshold {
        let Some(dir) = &args.thresholds else {
            return Err(Error::input("--trigger-threshold needs --thresholds DIR"));
        };
        crate::gate::Thresholds::load(&dir.join(format!("{name}.yml")))
            .map_err(|e| e.context("--trigger-threshold"))?;
    }
    let config = |selector: &str| -> Result<TriggerConfig> {
        if selector.trim().is_empty() {
            return Err(Error::input("--watch / --schedule-selector: the label selector is empty"));
        }
        Ok(TriggerConfig {
            selector: selector.to_owned(),
            namespaces: namespaces.clone(),
            strategy: StrategyName::Auto,
            threshold: args.trigger_threshold.clone(),
        })
    };
    let watch = args.watch.as_deref().map(config).transpose()?;
    let schedule = match &args.schedule {
        None => None,
        Some(expr) => {
            let selector = args.schedule_selector.as_deref().or(args.watch.as_deref()).ok_or_else(|| {
                Error::input("--schedule needs the pods to rescan: give --schedule-selector SELECTOR (or --watch)")
            })?;
            Some((Schedule::parse(expr)?, config(selector)?))
        }
    };
    Ok((watch, schedule))
}

/// Run `kscan serve` until SIGINT or SIGTERM.
pub async fn run(args: Args) -> Result<Outcome> {
    let dispatch = match args.executor {
        DispatchMode::Jobs => Some(args.jobs.dispatch()?),
        DispatchMode::InProcess => match args.jobs.given() {
            Some(flag) => return Err(Error::input(format!("{flag} needs --executor jobs"))),
            None => None,
        },
    };
    let admin = args.cluster.connect().await?;
    let served = served(&args, &admin.config.default_namespace)?;
    let tokens = Tokens::load(&args.token_file, served.clone())?;
    if args.scan_timeout > args.max_scan_timeout {
        return Err(Error::input("--scan-timeout is longer than --max-scan-timeout"));
    }
    for (flag, dir) in [("--profiles", &args.profiles), ("--thresholds", &args.thresholds)] {
        if let Some(d) = dir.as_ref().filter(|d| !d.is_dir()) {
            return Err(Error::input(format!("{flag} {}: not a directory", d.display())));
        }
    }
    let (watch, schedule) = triggers(&args, &served)?;
    if args.replica_lease < Duration::from_millis(200) || args.poll_interval.is_zero() {
        return Err(Error::input("--replica-lease must be at least 200ms and --poll-interval above 0"));
    }
    let replica = match &args.replica_id {
        Some(id) if id.trim().is_empty() || id.len() > 200 => {
            return Err(Error::input("--replica-id: give 1 to 200 characters"))
        }
        Some(id) => id.clone(),
        None => crate::server::lease::identity(),
    };
    let lease = if watch.is_some() || schedule.is_some() {
        let namespace = args.lease_namespace.clone().unwrap_or_else(|| admin.config.default_namespace.clone());
        Label::parse("--lease-namespace", &namespace)?;
        crate::target::Subdomain::parse("--lease-name", &args.lease_name)?;
        Some(LeaseConfig {
            namespace,
            name: args.lease_name.clone(),
            identity: replica.clone(),
            duration: args.lease_duration,
        })
    } else {
        None
    };
    let store = args.db.open(usize::from(args.workers) + 4).await?;
    tracing::info!("store: {} (replica {replica})", args.db);
    tracing::info!("serving namespaces {}", served.iter().cloned().collect::<Vec<_>>().join(","));
    let work = tempfile::Builder::new()
        .prefix("kscan-serve-")
        .tempdir()
        .map_err(|e| Error::scan("cannot create a private work directory").with_source(e))?;
    let config = Config {
        listen: args.listen,
        tokens,
        admin,
        store,
        workers: usize::from(args.workers),
        queue_limit: args.queue_limit,
        limits: Limits {
            profiles: args.profiles,
            thresholds: args.thresholds,
            scan_timeout: args.scan_timeout,
            max_timeout: args.max_scan_timeout,
            scanner_image: args.scanner_image,
            engine_bin: args.engine_bin,
            dispatch,
        },
        callbacks: Policy {
            attempts: args.callback_attempts,
            backoff: args.callback_backoff,
            destinations: Destinations {
                allow_http: args.callback_allow_http,
                allowed: args.callback_allow_cidr,
                ..Destinations::default()
            },
            ..Policy::default()
        },
        work_dir: work.path().to_owned(),
        retain: match args.retain {
            Retention::Forever => None,
            Retention::For(d) => Some(d),
        },
        watch,
        schedule,
        replica,
        replica_lease: Lease::new(args.replica_lease, args.poll_interval),
        lease,
    };
    crate::server::serve(config, async {
        let why = crate::scan::interrupted().await;
        tracing::info!("{why}");
    })
    .await?;
    Ok(Outcome::Passed)
}
