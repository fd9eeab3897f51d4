//! One scan run, end to end: resolve the targets, create scoped access, put
//! the strategy in place, run the engine on each target with bounded
//! concurrency, write one HDF file per target — and tear down whatever the
//! run created, also when a step fails, the time limit passes, or the run is
//! interrupted (SIGINT, SIGTERM).
//!
//! [`plan`] turns a request, from the command line or the API, into the
//! validated [`Plan`] a run takes. A run whose teardown leaves objects behind
//! still returns its results ([`Finished::left`]): the post-scan stage
//! (`crate::results`) reports and gates them, and the exit code is 4.

pub mod dispatch;
pub mod plan;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{stream, StreamExt};

use crate::cluster::access::{self, AccessSpec, ScopedAccess, TokenTtl};
use crate::cluster::client::Connection;
use crate::cluster::resolve::resolve_owned;
use crate::cluster::teardown::{Teardown, TeardownReport};
use crate::cluster::RunId;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::strategy::StrategyConfig;
use crate::target::ContainerRef;
use crate::target::Request;

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What to scan.
    pub request: Request,
    /// How to reach it.
    pub strategy: StrategyConfig,
    /// What produces the results.
    pub engine: Engine,
    /// Lifetime of the scoped token.
    pub ttl: TokenTtl,
    /// Limit for the whole run, setup included (teardown is extra).
    pub timeout: Duration,
    /// Limit for each command the probe runs in a target.
    pub command_timeout: Duration,
    /// How many targets are scanned at once.
    pub concurrency: usize,
    /// Where the HDF files go.
    pub out_dir: PathBuf,
}

/// The results of one target.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The container.
    pub target: ContainerRef,
    /// Its HDF file.
    pub file: PathBuf,
    /// `namespace/Kind/name/container` of the workload that owns the pod
    /// (see [`workload_id`]), also in the HDF's `platform.workload`.
    pub workload: String,
}

/// A target that could not be scanned.
#[derive(Debug)]
pub struct Unscanned {
    /// The container.
    pub target: ContainerRef,
    /// Its workload (see [`workload_id`]).
    pub workload: String,
    /// Why.
    pub error: Error,
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    /// The run id (names and labels of what it created).
    pub run: RunId,
    /// One entry per target scanned, in target order.
    pub results: Vec<Scanned>,
    /// The targets that could not be scanned, in target order (the run
    /// goes on without them; when none was scanned, the run is an error).
    pub unscanned: Vec<Unscanned>,
    /// What teardown removed.
    pub teardown: TeardownReport,
    /// The teardown error (exit 4) when objects were left behind; the
    /// results are complete all the same.
    pub left: Option<Error>,
}

/// Run `plan` with `admin` (the caller's identity, used only to resolve the
/// targets, create and delete the scoped access). SIGINT and SIGTERM stop
/// the scan; teardown still runs.
pub async fn run(admin: Connection, plan: Plan) -> Result<Finished> {
    run_until(admin, plan, RunId::generate(), interrupted()).await
}

/// [`run`] with a given run id, stopped when `stop` completes (it says why).
/// Stopping aborts the scan and then tears down, as a timeout does. The
/// scan and its teardown run on a task of their own: if the caller drops
/// this future instead (a cancelled job), the scan is aborted and teardown
/// still runs, in the background.
pub async fn run_until(
    admin: Connection,
    plan: Plan,
    run: RunId,
    stop: impl std::future::Future<Output = &'static str>,
) -> Result<Finished> {
    run_dispatched(admin, plan, run, stop, None).await
}

/// [`run_until`], with the targets scanned in this process (`dispatch`
/// `None`) or by one Kubernetes Job ([`dispatch`]). Targets are resolved
/// and set aside, access is scoped and everything is torn down the same way
/// either way; only where the scans run differs.
pub async fn run_dispatched(
    admin: Connection,
    plan: Plan,
    run: RunId,
    stop: impl std::future::Future<Output = &'static str>,
    dispatch: Option<dispatch::Dispatch>,
) -> Result<Finished> {
    let (targets, owners) = resolve_owned(&admin, &plan.request).await?;
    // What Pod Security or the ephemeral-container limit would refuse is
    // accounted for now, before any access exists (and gets no grant).
    let refusals = crate::strategy::admission::check(&admin, &plan.strategy, &targets).await?;
    let (targets, refused) = set_aside(targets, refusals, &owners);
    if targets.is_empty() {
        return Err(none_scanned(refused));
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<&'static str>();
    let mut supervisor = tokio::spawn(supervise(admin, plan, run, targets, owners, refused, stop_rx, dispatch));
    let joined = tokio::select! {
        joined = &mut supervisor => joined,
        why = stop => {
            let _ = stop_tx.send(why);
            supervisor.await
        }
    };
    joined.unwrap_or_else(|e| Err(Error::scan(format!("the scan supervisor failed: {e}"))))
}

/// Run the scan as a task, stop it on `stop` (or when the caller is gone)
/// or at the time limit, and tear down whatever became of it.
#[allow(clippy::too_many_arguments)]
async fn supervise(
    admin: Connection,
    plan: Plan,
    run: RunId,
    targets: Vec<ContainerRef>,
    owners: Owners,
    refused: Vec<Unscanned>,
    stop: tokio::sync::oneshot::Receiver<&'static str>,
    dispatch: Option<dispatch::Dispatch>,
) -> Result<Finished> {
    let teardown = Teardown::new(admin.client.clone());
    tracing::info!(
        "run {run}: scanning {} container(s) in {} with strategy {}, engine {}",
        targets.len(),
        plan.request.namespace,
        plan.strategy.kind,
        plan.engine.name()
    );

    let task = match dispatch {
        None => tokio::spawn(scan_all(admin, plan.clone(), run.clone(), targets, owners, refused, teardown.clone())),
        Some(dispatch) => tokio::spawn(dispatch::scan_jobs(
            admin,
            plan.clone(),
            run.clone(),
            targets,
            owners,
            refused,
            teardown.clone(),
            dispatch,
        )),
    };
    let abort = task.abort_handle();
    let outcome = tokio::select! {
        joined = task => joined.unwrap_or_else(|e| Err(Error::scan(format!("the scan task failed: {e}")))),
        why = stop => {
            abort.abort();
            Err(Error::scan(format!("{}: stopped the scan", why.unwrap_or("the caller stopped waiting"))))
        }
        () = tokio::time::sleep(plan.timeout) => {
            abort.abort();
            Err(Error::scan(format!("the scan did not finish within --timeout {}", show_duration(plan.timeout))))
        }
    };
    // Give an aborted task's child processes (kill_on_drop) and streams a
    // moment to go before deleting what they use.
    tokio::task::yield_now().await;
    tracing::info!("run {run}: tearing down");
    let report = teardown.finish().await;
    for note in &report.notes {
        tracing::info!("run {run}: {note}");
    }
    let left = report.clone().into_result(run.as_str()).err();
    match (outcome, left) {
        (Ok((results, unscanned)), left) => Ok(Finished { run, results, unscanned, teardown: report, left }),
        (Err(scan), None) => Err(scan),
        (Err(scan), Some(teardown)) => Err(Error::teardown(format!("{scan}; and then {teardown}"))),
    }
}

/// Why the process is asked to stop (SIGINT or SIGTERM).
pub async fn interrupted() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
        _ = term.recv() => "terminated (SIGTERM)",
    }
}

async fn scan_all(
    admin: Connection,
    plan: Plan,
    run: RunId,
    targets: Vec<ContainerRef>,
    owners: Owners,
    refused: Vec<Unscanned>,
    teardown: Teardown,
) -> Result<(Vec<Scanned>, Vec<Unscanned>)> {
    let access = scoped_access(&admin, &plan, &run, &targets, &teardown).await?;
    let access = std::sync::Arc::new(access);
    let plan = std::sync::Arc::new(plan);
    let outcomes: Vec<(usize, Result<Scanned>)> = stream::iter(targets.iter().cloned().enumerate())
        .map(|(i, target)| {
            let (access, plan, teardown) = (access.clone(), plan.clone(), teardown.clone());
            let workload = workload_id(&target, owners.get(target.pod.as_str()).map(String::as_str));
            async move { (i, scan_one(&access, &plan, &target, workload, i, &teardown).await) }
        })
        .buffer_unordered(plan.concurrency.max(1))
        .collect()
        .await;
    let mut outcomes = outcomes;
    outcomes.sort_by_key(|(i, _)| *i);
    let mut results = Vec::new();
    let mut failures = refused;
    for (i, outcome) in outcomes {
        match outcome {
            Ok(scanned) => results.push(scanned),
            Err(error) => {
                let target = targets[i].clone();
                tracing::warn!("{target}: not scanned: {error}");
                let workload = workload_id(&target, owners.get(target.pod.as_str()).map(String::as_str));
                failures.push(Unscanned { target, workload, error });
            }
        }
    }
    // Some targets scanned: the run reports them and accounts for the
    // rest. None: nothing to report, the run failed.
    if results.is_empty() && !failures.is_empty() {
        return Err(none_scanned(failures));
    }
    Ok((results, failures))
}

/// Create the run's scoped access: one ServiceAccount, and a Role that
/// grants what the strategy needs on the pods of `targets` by name.
async fn scoped_access(
    admin: &Connection,
    plan: &Plan,
    run: &RunId,
    targets: &[ContainerRef],
    teardown: &Teardown,
) -> Result<ScopedAccess> {
    let mut pods: Vec<String> = targets.iter().map(|t| t.pod.as_str().to_owned()).collect();
    pods.sort();
    pods.dedup();
    let spec = AccessSpec {
        namespace: plan.request.namespace.clone(),
        grants: plan.strategy.kind.grants(run, &pods),
        ttl: plan.ttl,
    };
    tracing::info!("run {run}: creating ServiceAccount, token Secret, Role and RoleBinding {}", run.object_name());
    let access = access::create(admin, run, &spec, teardown).await?;
    tracing::info!("run {run}: scoped access ready (token expires {})", access.expires_at.to_rfc3339());
    Ok(access)
}

/// Split off the targets `refusals` names (by index) as not scanned.
fn set_aside(
    targets: Vec<ContainerRef>,
    refusals: Vec<(usize, Error)>,
    owners: &Owners,
) -> (Vec<ContainerRef>, Vec<Unscanned>) {
    let mut refusals: std::collections::BTreeMap<usize, Error> = refusals.into_iter().collect();
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for (i, target) in targets.into_iter().enumerate() {
        match refusals.remove(&i) {
            None => kept.push(target),
            Some(error) => {
                tracing::warn!("{target}: not scanned: {error}");
                let workload = workload_id(&target, owners.get(target.pod.as_str()).map(String::as_str));
                refused.push(Unscanned { target, workload, error });
            }
        }
    }
    (kept, refused)
}

/// The error of a run that scanned nothing: the one target's own, or all of them.
fn none_scanned(mut failures: Vec<Unscanned>) -> Error {
    match failures.len() {
        1 => failures.remove(0).error,
        n => Error::scan(format!(
            "none of the {n} targets could be scanned: {}",
            failures.iter().map(|f| f.error.to_string()).collect::<Vec<_>>().join("; ")
        )),
    }
}

async fn scan_one(
    access: &ScopedAccess,
    plan: &Plan,
    target: &ContainerRef,
    workload: String,
    index: usize,
    teardown: &Teardown,
) -> Result<Scanned> {
    let how = How { strategy: &plan.strategy, engine: &plan.engine, command_timeout: plan.command_timeout };
    let json = scan_target(access, &how, target, &workload, index, teardown).await?;
    let file = write_result(&plan.out_dir, target, &json)?;
    Ok(Scanned { target: target.clone(), file, workload })
}

/// How each target is scanned: the parts of a [`Plan`] a scan of one target
/// takes (a `kscan shard` gets them from its Job rather than from a plan).
#[derive(Clone, Copy)]
pub struct How<'a> {
    /// How to reach it.
    pub strategy: &'a StrategyConfig,
    /// What produces the results.
    pub engine: &'a Engine,
    /// Limit for each command the probe runs in a target.
    pub command_timeout: Duration,
}

/// Scan the `index`-th `target` of a run with `access`: put the strategy
/// in place, run the engine, and return its HDF document with
/// `platform.workload` set. Whatever the strategy creates is registered
/// with `teardown`. In-process runs and `kscan shard` both scan through
/// this one function.
pub async fn scan_target(
    access: &ScopedAccess,
    how: &How<'_>,
    target: &ContainerRef,
    workload: &str,
    index: usize,
    teardown: &Teardown,
) -> Result<Vec<u8>> {
    tracing::info!("{target}: scanning");
    let work = teardown.private_dir(&format!("{}-work-", access.name))?;
    let reach = how.strategy.reach(access, target, index, how.command_timeout, teardown).await?;
    let json =
        how.engine.run(reach, &access.kubeconfig, &work).await.map_err(|e| e.context(format!("scanning {target}")))?;
    with_workload(&json, workload).map_err(|e| e.context(format!("scanning {target}")))
}

/// Write the HDF document `json` of `target` into `out_dir` (created only
/// now: a run that scans nothing leaves no directory behind) as
/// [`result_file_name`]; returns the file.
pub fn write_result(out_dir: &Path, target: &ContainerRef, json: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::scan(format!("cannot create --out-dir {}", out_dir.display())).with_source(e))?;
    let file = out_dir.join(result_file_name(target));
    std::fs::write(&file, json).map_err(|e| Error::scan(format!("cannot write {}", file.display())).with_source(e))?;
    tracing::info!("{target}: results in {}", file.display());
    Ok(file)
}

/// Pod name → `Kind/name` of the workload owning it.
pub type Owners = std::collections::BTreeMap<String, String>;

/// `namespace/Kind/name/container`: what a target is across pod restarts
/// (`owner` is `Kind/name` from the owner chain; a pod without one is
/// `Pod/<pod>`).
pub fn workload_id(target: &ContainerRef, owner: Option<&str>) -> String {
    let owner = owner.map_or_else(|| format!("Pod/{}", target.pod), str::to_owned);
    format!("{}/{owner}/{}", target.namespace, target.container)
}

/// The parts of a [`workload_id`]: namespace, `Kind/name`, container.
pub fn split_workload_id(id: &str) -> Option<(&str, &str, &str)> {
    let (namespace, rest) = id.split_once('/')?;
    let (owner, container) = rest.rsplit_once('/')?;
    owner.contains('/').then_some((namespace, owner, container))
}

/// The HDF document `json` with `platform.workload` set, so that reports of
/// the file alone identify its findings by workload, not by pod.
fn with_workload(json: &[u8], workload: &str) -> Result<Vec<u8>> {
    let mut doc: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| Error::scan(format!("the engine wrote invalid JSON: {e}")))?;
    let platform = doc
        .as_object_mut()
        .map(|d| d.entry("platform").or_insert_with(|| serde_json::json!({})))
        .and_then(serde_json::Value::as_object_mut)
        .ok_or_else(|| Error::scan("the engine's results have no platform object"))?;
    platform.insert("workload".into(), workload.into());
    serde_json::to_vec_pretty(&doc).map_err(|e| Error::scan(format!("cannot encode the results: {e}")))
}

/// `POD.CONTAINER.hdf.json` (pod names may hold dots; container names may not).
pub fn result_file_name(target: &ContainerRef) -> String {
    format!("{}.{}.hdf.json", target.pod, target.container)
}

/// A duration as the user would write it.
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s % 3600 == 0 && s > 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 && s > 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Parse `90`, `90s`, `10m` or `1h` (what `--timeout` takes).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a duration: write e.g. 90s, 10m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use s, m or h")),
    };
    if secs == 0 {
        return Err("a duration must be more than 0".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Check that `dir` can hold results before anything is created.
pub fn check_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::input(format!("--out-dir {} exists and is not a directory", dir.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_goes_into_the_platform() {
        let target = ContainerRef {
            namespace: crate::target::Label::parse("n", "shop").unwrap(),
            pod: crate::target::Subdomain::parse("p", "web-7d4b9-x2kqp").unwrap(),
            container: crate::target::Label::parse("c", "app").unwrap(),
        };
        assert_eq!(workload_id(&target, Some("Deployment/web")), "shop/Deployment/web/app");
        assert_eq!(workload_id(&target, None), "shop/Pod/web-7d4b9-x2kqp/app");
        assert_eq!(split_workload_id("shop/Deployment/web/app"), Some(("shop", "Deployment/web", "app")));
        assert_eq!(split_workload_id("shop/web/app"), None, "no kind");
        let out = with_workload(br#"{"platform": {"name": "k8s", "target_id": "x"}, "profiles": []}"#, "w").unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["platform"]["workload"], "w");
        assert_eq!(doc["platform"]["target_id"], "x");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("m").is_err());
        assert_eq!(show_duration(Duration::from_secs(600)), "10m");
        assert_eq!(show_duration(Duration::from_secs(90)), "90s");
    }
}
