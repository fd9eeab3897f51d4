//! `kscan scan`: scan running containers with ephemeral least-privilege
//! access, write HDF per target, and tear down — then the post-scan stage
//! (`crate::results`): gate, reports, CI outputs and the run manifest, with
//! one exit code.

use std::path::PathBuf;
use std::time::Duration;

use crate::ci::CiArgs;
use crate::cluster::access::TokenTtl;
use crate::cluster::client::ClusterArgs;
use crate::cluster::RunId;
use crate::engine::builtin;
use crate::engine::probe::local::LocalProbe;
use crate::engine::probe::Probe;
use crate::engine::EngineKind;
use crate::error::{Error, ResultExt};
use crate::hdf::{ControlStatus, ResultSet, Source};
use crate::report::coverage::{self, Coverage, Reason};
use crate::report::{sarif, Format, Manifests};
use crate::results::baseline::BaselineArgs;
use crate::results::{Done, Record, Spec, Stage, Threshold};
use crate::scan::dispatch::{Dispatch, DEFAULT_DISPATCH_IMAGE};
use crate::scan::plan::{Asked, Field};
use crate::scan::{self, parse_duration, Plan};
use crate::strategy::{Strategy, DEFAULT_MAX_EPHEMERAL, DEFAULT_SCANNER_IMAGE};
use crate::target::ContainerRef;
use crate::{Outcome, Result};

/// Arguments of `kscan scan`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  kscan scan -n shop --pod web-0
  kscan scan -n shop --pod web-0 --threshold thresholds/moderate.yml
  kscan scan -n shop -l app=web --container app --out-dir results
  kscan scan -n shop --pod web-0 --engine cinc --profile ./my-profile
  kscan scan -n shop -l app=web -t gate.yml --baseline main-results --gate-on new -f sarif
  kscan scan -n shop -l app=web --manifests deploy/ -f sarif,github
  kscan scan -n shop -l app=web --dispatch jobs --shards 4 --parallelism 2

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

With --dispatch jobs the scans run in the pods of one Kubernetes Indexed
Job, as the run's ServiceAccount; you also need create/get/delete on jobs,
get/list on pods and get on pods/log (docs/scan.md, \"Scans as Kubernetes
Jobs\").

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
    /// the built-in checks (`--engine builtin`); no cluster is involved.
    /// Results go to `--out-dir/root.hdf.json`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["pod", "selector", "container", "profile"])]
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

    /// With debug (and auto when it chooses debug): refuse a pod that
    /// already holds N scanner containers from earlier runs. Kubernetes
    /// cannot remove ephemeral containers; each debug scan adds one until
    /// the pod is restarted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_EPHEMERAL)]
    pub max_ephemeral: u32,

    /// What runs the checks.
    #[arg(long, value_enum, default_value_t = EngineKind::Builtin)]
    pub engine: EngineKind,

    /// InSpec profile directory for `--engine cinc`.
    #[arg(long, value_name = "DIR")]
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

    /// Comparison with earlier results.
    #[command(flatten)]
    pub baseline: BaselineArgs,

    /// Directory for the results: one `POD.CONTAINER.hdf.json` per target,
    /// the reports, and the run manifest `kscan-run.json` (what belongs to
    /// this run, its verdict and exit code).
    #[arg(short, long, value_name = "DIR", default_value = "kscan-results")]
    pub out_dir: PathBuf,

    /// Time limit for the whole scan (e.g. 90s, 10m, 1h); teardown runs after it.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Lifetime of the scoped token in seconds (600–3600).
    #[arg(long, value_name = "SECONDS", default_value = "900")]
    pub token_ttl: TokenTtl,

    /// Fail the gate (exit 1) when fewer than PCT percent of the targets
    /// were scanned; the targets that were not are listed with the reason
    /// either way. A run that scanned nothing is exit 3.
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_coverage: Option<u8>,

    /// How many containers are scanned at once with --selector.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub concurrency: u16,

    /// Point the findings at the manifests that deploy the scanned pods:
    /// your Kubernetes YAML, `helm template` output or a Kustomize build
    /// (files or directories of *.yaml, *.yml, *.json; several allowed;
    /// multi-document YAML). Each target is mapped through its owner chain
    /// (Pod → ReplicaSet → Deployment; Pod → StatefulSet, DaemonSet, or Job
    /// → CronJob; a bare Pod) to the object of that kind, namespace (none in
    /// the manifest = --namespace) and name; SARIF, GitHub annotations and
    /// Code Quality then point at its container's securityContext or image
    /// line (else the container's). Paths are shown relative to the current
    /// directory: run kscan from the repository's root. Targets no manifest
    /// deploys keep the profile's location and are counted in the output.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with = "root")]
    pub manifests: Vec<String>,

    /// The code scanning category of the SARIF report: its
    /// `automationDetails.id` is CATEGORY/<run id>. Default:
    /// kscan/scan/<namespace>/pod=<pod> (or selector=<labels>, and
    /// /container=<name> when given), the same from run to run, so that
    /// uploads for other targets do not replace this scan's alerts.
    #[arg(long, value_name = "CATEGORY", value_parser = parse_category)]
    pub sarif_category: Option<String>,
    /// Where the targets are scanned: `in-process` (here), or `jobs` (one
    /// Kubernetes Indexed Job whose pods scan their share of the targets
    /// inside the cluster, as the run's scoped ServiceAccount; needs
    /// --selector). See docs/scan.md, "Scans as Kubernetes Jobs".
    #[arg(long, value_enum, default_value_t = DispatchMode::InProcess)]
    pub dispatch: DispatchMode,

    /// Shards, parallelism, image and API server of the Job.
    #[command(flatten)]
    pub jobs: JobArgs,

    /// Cluster connection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Where `kscan scan` scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DispatchMode {
    /// In this process.
    InProcess,
    /// In the pods of one Kubernetes Indexed Job.
    Jobs,
}

/// How scans run as Kubernetes Jobs: the flags `kscan scan --dispatch jobs`
/// and `kscan serve --executor jobs` share.
#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {
    /// Scans as Jobs: the number of shards (Job completions) a run's
    /// targets are split into [default: one per target, at most 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub shards: Option<u16>,

    /// Scans as Jobs: how many shard pods of one run's Job run at once (the
    /// Job's parallelism) [default: 4].
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub parallelism: Option<u16>,

    /// Scans as Jobs: the image the shard pods run
    /// (`/usr/local/bin/kscan shard`): this release's kscan image by default,
    /// the one the Helm chart runs the service from.
    #[arg(long, value_name = "IMAGE", env = "KSCAN_DISPATCH_IMAGE", default_value = DEFAULT_DISPATCH_IMAGE)]
    pub dispatch_image: String,

    /// Scans as Jobs: HOST:PORT at which the shard pods reach the API
    /// server, for clusters where pods cannot reach the `kubernetes` Service
    /// (no kube-proxy) [default: the in-cluster configuration].
    #[arg(long, value_name = "HOST:PORT")]
    pub dispatch_api_server: Option<String>,
}

impl JobArgs {
    /// The first flag that only means something for scans as Jobs, if
    /// one was given.
    pub fn given(&self) -> Option<&'static str> {
        [
            ("--shards", self.shards.is_some()),
            ("--parallelism", self.parallelism.is_some()),
            ("--dispatch-api-server", self.dispatch_api_server.is_some()),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }

    /// The checked settings.
    pub fn dispatch(&self) -> Result<Dispatch> {
        if let Some(server) = &self.dispatch_api_server {
            let port = server.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>()));
            if !matches!(port, Some((h, Ok(p))) if !h.is_empty() && p > 0) {
                return Err(Error::input(format!("--dispatch-api-server {server:?} is not HOST:PORT")));
            }
        }
        if self.dispatch_image.trim().is_empty() {
            return Err(Error::input("--dispatch-image is empty"));
        }
        Ok(Dispatch {
            shards: self.shards.map(usize::from),
            parallelism: self.parallelism.map_or(4, usize::from),
            image: self.dispatch_image.clone(),
            api_server: self.dispatch_api_server.clone(),
        })
    }
}

impl Args {
    /// Validate everything that needs no cluster: names (RFC 1123), files.
    pub fn plan(&self) -> Result<Plan> {
        scan::check_out_dir(&self.out_dir)?;
        let asked = Asked {
            namespace: &self.namespace,
            pod: self.pod.as_deref(),
            selector: self.selector.as_deref(),
            container: self.container.as_deref(),
            strategy: self.strategy,
            engine: self.engine,
            profile: self.profile.as_deref(),
            engine_bin: self.engine_bin.as_deref(),
            scanner_image: &self.scanner_image,
            scanner_user: self.scanner_user,
            image: self.image.as_deref(),
            max_ephemeral: self.max_ephemeral,
            timeout: self.timeout,
            ttl: self.token_ttl,
            concurrency: usize::from(self.concurrency),
            out_dir: self.out_dir.clone(),
        };
        let plan = asked.plan(Field::flag).map_err(|invalid| invalid.error)?;
        self.dispatch()?;
        Ok(plan)
    }

    /// How the run is dispatched: `None` in process; refuses the flags of
    /// one mode given with the other.
    pub fn dispatch(&self) -> Result<Option<Dispatch>> {
        if self.dispatch == DispatchMode::InProcess {
            if let Some(flag) = self.jobs.given() {
                return Err(Error::input(format!("{flag} needs --dispatch jobs")));
            }
            return Ok(None);
        }
        if self.selector.is_none() {
            return Err(Error::input(
                "--dispatch jobs needs --selector (-l): it splits the pods a selector matches into shards",
            ));
        }
        if self.engine != EngineKind::Builtin {
            return Err(Error::input(
                "--dispatch jobs scans with --engine builtin only (the shard image holds no CINC Auditor)",
            ));
        }
        self.jobs.dispatch().map(Some)
    }

    /// The post-scan stage, every input of it checked before anything is
    /// created.
    fn stage(&self) -> Result<Stage> {
        Stage::prepare(Spec {
            threshold: self.threshold.as_deref().map(Threshold::load).transpose()?,
            formats: &self.format,
            template_dir: self.template_dir.as_deref(),
            platform: Some(self.ci.platform()),
            need_format: false,
            baseline: self.baseline.load()?,
            only_new: self.baseline.only_new,
            gate_on: self.baseline.gate_on,
            min_coverage: self.min_coverage,
            manifests: (!self.manifests.is_empty())
                .then(|| Manifests::load(&self.manifests, &self.namespace))
                .transpose()?,
            automation: self.automation(),
        })
    }

    /// SARIF's analysis category: `--sarif-category`, else what was
    /// scanned, the same from run to run (`kscan/scan/<namespace>/pod=<pod>`
    /// or `…/selector=<labels>`, `/container=<name>` when given;
    /// `kscan/scan-root/<dir>`).
    fn automation(&self) -> Option<String> {
        if let Some(category) = &self.sarif_category {
            return Some(category.clone());
        }
        if let Some(root) = &self.root {
            return Some(sarif::category(&["scan-root", &root.display().to_string()]));
        }
        let mut segments = vec!["scan".to_owned(), self.namespace.clone()];
        match (&self.pod, &self.selector) {
            (Some(pod), _) => segments.push(format!("pod={pod}")),
            (None, Some(selector)) => segments.push(format!("selector={selector}")),
            (None, None) => {}
        }
        if let Some(container) = &self.container {
            segments.push(format!("container={container}"));
        }
        Some(sarif::category(&segments.iter().map(String::as_str).collect::<Vec<_>>()))
    }
}

/// Run `kscan scan`: the whole job — scan, HDF, gate, reports, CI outputs,
/// run manifest — with one exit code.
pub async fn run(args: Args) -> Result<Outcome> {
    let stage = args.stage()?;
    let run = RunId::generate();
    let record =
        Record { run: run.as_str().to_owned(), command: if args.root.is_some() { "scan --root" } else { "scan" } };
    let scanned = match &args.root {
        Some(root) => scan_root(root, &args).await,
        None => scan_cluster(&args, run).await,
    };
    match scanned {
        Ok((scanned, coverage, left)) => {
            let files: Vec<Source> = scanned.iter().map(|(_, f)| Source::File(f.clone())).collect();
            let sets = ResultSet::load_all(files).map_err(|e| stage.fail(e, &args.out_dir, Some(&record)))?;
            let mut counts = String::new();
            for ((target, file), set) in scanned.iter().zip(&sets) {
                counts.push_str(&count_line(target, set, file));
            }
            crate::output::stdout(&counts)?;
            let verdict = stage.verdict_covered(&sets, &coverage);
            let hdf = scanned.iter().map(|(_, f)| f.display().to_string()).collect();
            let coverage = Some(coverage);
            stage.finish(Done { sets, hdf, out_dir: &args.out_dir, verdict, left, record: Some(record), coverage })
        }
        Err(e) => Err(stage.fail(e, &args.out_dir, Some(&record))),
    }
}

/// One target's name and HDF file.
type Scanned = Vec<(String, PathBuf)>;

/// The scan of the cluster: the results, every target scanned or not, and
/// the teardown error if objects were left behind.
async fn scan_cluster(args: &Args, run: RunId) -> Result<(Scanned, Coverage, Option<Error>)> {
    let plan = args.plan()?;
    let dispatch = args.dispatch()?;
    let admin = args.cluster.connect().await?;
    let finished = scan::run_dispatched(admin, plan, run, scan::interrupted(), dispatch).await?;
    tracing::info!("run {}: removed {} object(s)", finished.run, finished.teardown.deleted.len());
    let scanned = finished.results.iter().map(|s| (s.target.to_string(), s.file.clone())).collect();
    let mut targets: Vec<(ContainerRef, coverage::Target)> = finished
        .results
        .iter()
        .map(|s| {
            let t = coverage::Target {
                target: s.target.to_string(),
                workload: Some(s.workload.clone()),
                scanned: true,
                reason: None,
                message: None,
            };
            (s.target.clone(), t)
        })
        .chain(finished.unscanned.iter().map(|u| {
            let message = u.error.to_string();
            let t = coverage::Target {
                target: u.target.to_string(),
                workload: Some(u.workload.clone()),
                scanned: false,
                reason: Some(Reason::of(&message)),
                message: Some(message),
            };
            (u.target.clone(), t)
        }))
        .collect();
    targets.sort_by(|a, b| a.0.cmp(&b.0));
    let coverage = Coverage { targets: targets.into_iter().map(|(_, t)| t).collect() };
    Ok((scanned, coverage, finished.left))
}

/// `kscan scan --root DIR`: the built-in checks on a local directory.
async fn scan_root(root: &std::path::Path, args: &Args) -> Result<(Scanned, Coverage, Option<Error>)> {
    if args.engine != EngineKind::Builtin {
        return Err(Error::input("--root scans with --engine builtin only (CINC Auditor needs a target to exec into)"));
    }
    scan::check_out_dir(&args.out_dir)?;
    let probe = LocalProbe::directory(root)?;
    let execution = builtin::run(&probe, serde_json::Map::new(), None).await?;
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| Error::input(format!("cannot create --out-dir {}", args.out_dir.display())).with_source(e))?;
    let file = args.out_dir.join("root.hdf.json");
    let json = serde_json::to_vec_pretty(&execution).scan_err(|| "cannot encode the results".into())?;
    std::fs::write(&file, json).map_err(|e| Error::scan(format!("cannot write {}", file.display())).with_source(e))?;
    let target =
        coverage::Target { target: probe.target_id(), workload: None, scanned: true, reason: None, message: None };
    Ok((vec![(probe.target_id(), file)], Coverage { targets: vec![target] }, None))
}

/// A `--sarif-category`: not empty, without whitespace.
fn parse_category(s: &str) -> std::result::Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err("a category is a non-empty path without spaces, e.g. kscan/shop/web".into());
    }
    Ok(s.to_owned())
}

/// One line per target: counts by status and compliance.
fn count_line(target: &str, set: &ResultSet, file: &std::path::Path) -> String {
    let counts = set.counts();
    format!(
        "{target}: {} passed, {} failed, {} not reviewed, {} not applicable, {} error; compliance {}% ({})\n",
        counts.total(ControlStatus::Passed),
        counts.total(ControlStatus::Failed),
        counts.total(ControlStatus::NotReviewed),
        counts.total(ControlStatus::NotApplicable),
        counts.total(ControlStatus::ProfileError),
        counts.compliance(),
        file.display()
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn args(argv: &[&str]) -> Box<super::Args> {
        match Cli::try_parse_from([&["kscan", "scan"], argv].concat()).unwrap().command {
            Command::Scan(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn manifests_take_several_paths_and_the_category_follows_the_selection() {
        let a = args(&[
            "-n",
            "shop",
            "-l",
            "app.kubernetes.io/name=web",
            "--manifests",
            "deploy/",
            "x.yaml",
            "-f",
            "sarif",
        ]);
        assert_eq!(a.manifests, ["deploy/", "x.yaml"]);
        assert_eq!(a.automation().as_deref(), Some("kscan/scan/shop/selector=app.kubernetes.io%2Fname=web"));
        let a = args(&["-n", "shop", "--pod", "web-0", "-c", "app"]);
        assert_eq!(a.automation().as_deref(), Some("kscan/scan/shop/pod=web-0/container=app"));
        let a = args(&["-n", "shop", "--pod", "web-0", "--sarif-category", "mine/web/"]);
        assert_eq!(a.automation().as_deref(), Some("mine/web"));
        let refused = |argv: &[&str]| Cli::try_parse_from([&["kscan", "scan"], argv].concat()).unwrap_err();
        refused(&["--root", "/r", "--manifests", "deploy"]);
        refused(&["-n", "shop", "--pod", "p", "--sarif-category", " "]);
    }
}
