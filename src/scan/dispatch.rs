//! Scans as Kubernetes Jobs (`kscan scan --dispatch jobs`): the run's
//! targets are scanned inside the cluster by the shards of one Indexed Job
//! instead of in this process.
//!
//! The coordinator ([`scan_jobs`]) runs where `kscan scan` runs, with the
//! caller's identity: the targets were resolved and set aside as for any
//! run, and it creates the run's scoped access exactly as an in-process run
//! does (one ServiceAccount, a Role limited by `resourceNames` to the
//! target pods). It sorts the targets, splits them into N shards and
//! creates one Job (`completionMode: Indexed`, `completions: N`,
//! `parallelism: P`, `backoffLimitPerIndex: 1`) whose pods run as that
//! ServiceAccount and nothing else, each running `kscan shard` ([`shard`])
//! on its share. It waits with progress lines, reads each shard's results
//! from the log of the pod that completed its index — a pod of this Job,
//! checked by owner UID — verifies their digest, and writes the HDF files
//! as an in-process run names them. The Job is owned by the run's teardown
//! like every other object of the run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures::{stream, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    none_scanned, scan_target, scoped_access, workload_id, write_result, How, Owners, Plan, Scanned, Unscanned,
};
use crate::cluster::access::{expiry_annotation, ScopedAccess};
use crate::cluster::client::{ClusterArgs, Connection};
use crate::cluster::pod::{start_failure, Kind};
use crate::cluster::teardown::{Owned, Teardown};
use crate::cluster::{api_error, api_status, labels, RunId};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::strategy::{Strategy, StrategyConfig};
use crate::target::{ContainerRef, Label, Subdomain};

/// The image the shards run: this kscan release's own image, the one the
/// Helm chart in `deploy/helm/kscan` runs the service from. Forks and
/// mirrors set `KSCAN_DEFAULT_IMAGE` when they build kscan; users pass
/// `--dispatch-image`.
pub const DEFAULT_DISPATCH_IMAGE: &str = match option_env!("KSCAN_DEFAULT_IMAGE") {
    Some(image) => image,
    None => concat!("ghcr.io/kscan/kscan:", env!("CARGO_PKG_VERSION")),
};

/// The environment variable that carries the shard plan to the shards.
pub const PLAN_ENV: &str = "KSCAN_SHARD_PLAN";
/// The environment variable the Job controller sets to a pod's index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The annotation of a pod of an Indexed Job that holds its index.
const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The line before a shard's framed results in its log.
const BEGIN: &str = "-----BEGIN KSCAN SHARD RESULTS-----";
/// The start of the line after them; the SHA-256 of the payload follows.
const END: &str = "-----END KSCAN SHARD RESULTS sha256:";
/// The longest line of the framed payload.
const LINE: usize = 76;
/// The UID and GID the shards run as.
const SHARD_UID: i64 = 65532;
/// How long a finished Job stays for inspection when teardown could not
/// delete it.
const TTL_AFTER_FINISHED: i32 = 600;
/// How often the coordinator reads the Job's status.
const POLL: Duration = Duration::from_secs(2);

/// How a run is dispatched to a Job.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// Number of shards (Job completions); default: one per target, at most
    /// [`Dispatch::DEFAULT_SHARDS`]. Never more than the targets.
    pub shards: Option<usize>,
    /// Shards running at once (the Job's `parallelism`).
    pub parallelism: usize,
    /// The image the shards run (`/usr/local/bin/kscan shard`).
    pub image: String,
    /// `HOST:PORT` of the API server as the shards reach it, where pods
    /// cannot reach the `kubernetes` Service (a cluster without
    /// kube-proxy); default: the in-cluster configuration.
    pub api_server: Option<String>,
}

impl Dispatch {
    /// The number of shards when `--shards` is not given, at most.
    pub const DEFAULT_SHARDS: usize = 8;

    fn shard_count(&self, targets: usize) -> usize {
        self.shards.unwrap_or(Self::DEFAULT_SHARDS).clamp(1, targets.max(1))
    }
}

/// What every shard of a run is told (as JSON in [`PLAN_ENV`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardPlan {
    /// The run id.
    pub run: String,
    /// Namespace of the targets.
    pub namespace: String,
    /// The strategy (`exec`, `debug`, `sidecar`, `auto`).
    pub strategy: String,
    /// The scanner image (debug, sidecar).
    pub scanner_image: String,
    /// `--scanner-user`.
    pub scanner_user: Option<i64>,
    /// With sidecar: the image scanned instead of the target's.
    pub image: Option<String>,
    /// `--max-ephemeral`.
    pub max_ephemeral: u32,
    /// Limit for each command a probe runs, in seconds.
    pub command_timeout: u64,
    /// Targets one shard scans at once.
    pub concurrency: usize,
    /// The targets of each shard, by shard index.
    pub shards: Vec<Vec<ShardTarget>>,
}

/// One target of a shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardTarget {
    /// Its index in the run's (sorted) targets: the same for any shard
    /// count, so that what a strategy names after it does not change.
    pub index: usize,
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// Its workload id (see [`workload_id`]).
    pub workload: String,
}

/// What one shard reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShardResults {
    /// The targets scanned: index and HDF document (as the engine's JSON
    /// text, with `platform.workload` set).
    pub scanned: Vec<(usize, String)>,
    /// The targets not scanned: index and why.
    pub unscanned: Vec<(usize, String)>,
}

/// Split `n` targets into `shards` contiguous shares whose sizes differ by
/// at most one: the ranges of target indexes, by shard index.
pub fn split(n: usize, shards: usize) -> Vec<std::ops::Range<usize>> {
    let shards = shards.max(1);
    (0..shards).map(|k| k * n / shards..(k + 1) * n / shards).collect()
}

/// The targets sorted, with their workload ids, as the shards are told.
fn shard_targets(targets: &[ContainerRef], owners: &Owners) -> Vec<ShardTarget> {
    targets
        .iter()
        .enumerate()
        .map(|(index, t)| ShardTarget {
            index,
            pod: t.pod.as_str().to_owned(),
            container: t.container.as_str().to_owned(),
            workload: workload_id(t, owners.get(t.pod.as_str()).map(String::as_str)),
        })
        .collect()
}

/// The Job of `run`: one pod per shard index, `parallelism` at once, each
/// running `kscan shard` as the run's ServiceAccount.
fn job(run: &RunId, access: &ScopedAccess, plan: &Plan, dispatch: &Dispatch, shard_plan: &ShardPlan) -> Result<Job> {
    let name = run.object_name();
    let (key, value) = expiry_annotation(access.objects_expire_at);
    let text =
        serde_json::to_string(shard_plan).map_err(|e| Error::scan(format!("cannot encode the shard plan: {e}")))?;
    let mut env = vec![json!({"name": PLAN_ENV, "value": text})];
    if let Some(server) = &dispatch.api_server {
        let (host, port) = server.rsplit_once(':').unwrap_or((server.as_str(), "443"));
        env.push(json!({"name": "KUBERNETES_SERVICE_HOST", "value": host}));
        env.push(json!({"name": "KUBERNETES_SERVICE_PORT", "value": port}));
    }
    let completions = shard_plan.shards.len();
    let value = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": access.namespace.as_str(),
            "labels": labels(run),
            "annotations": {key.clone(): value.clone()},
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": completions,
            "parallelism": dispatch.parallelism.clamp(1, completions),
            "backoffLimitPerIndex": 1,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "activeDeadlineSeconds": plan.timeout.as_secs().max(1),
            "template": {
                "metadata": {"labels": labels(run), "annotations": {key: value}},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": true,
                    "enableServiceLinks": false,
                    "restartPolicy": "Never",
                    // Time for a stopped shard to tear down what its
                    // strategy created.
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": SHARD_UID,
                        "runAsGroup": SHARD_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [{
                        "name": "shard",
                        "image": dispatch.image,
                        "command": ["/usr/local/bin/kscan", "shard"],
                        "env": env,
                        "securityContext": {
                            "runAsNonRoot": true,
                            "runAsUser": SHARD_UID,
                            "readOnlyRootFilesystem": true,
                            "allowPrivilegeEscalation": false,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    });
    serde_json::from_value(value).map_err(|e| Error::scan(format!("cannot build the Job: {e}")))
}

/// What the caller must be allowed to do for `--dispatch jobs`.
const RBAC_NEEDED: &str = "kscan --dispatch jobs needs, in the namespace: create, get and delete on jobs \
                           (batch), get and list on pods, and get on pods/log — besides what every scan needs";

fn refused(err: kube::Error, admin: &Connection, what: &str, namespace: &Label) -> Error {
    if api_status(&err) == Some(403) {
        Error::scan(format!(
            "the identity from {} may not {what} in namespace {namespace}: {RBAC_NEEDED}",
            admin.source
        ))
        .with_source(err)
    } else {
        api_error(err, &format!("{what} in namespace {namespace}"))
    }
}

/// Scan `targets` with one Indexed Job (see the module head): create the
/// run's scoped access and the Job, both owned by `teardown`, wait for it,
/// and collect each shard's results into `plan.out_dir`.
#[allow(clippy::too_many_arguments)]
pub async fn scan_jobs(
    admin: Connection,
    plan: Plan,
    run: RunId,
    targets: Vec<ContainerRef>,
    owners: Owners,
    refused_targets: Vec<Unscanned>,
    teardown: Teardown,
    dispatch: Dispatch,
) -> Result<(Vec<Scanned>, Vec<Unscanned>)> {
    let mut targets = targets;
    targets.sort();
    let access = scoped_access(&admin, &plan, &run, &targets, &teardown).await?;
    let all = shard_targets(&targets, &owners);
    let ranges = split(all.len(), dispatch.shard_count(all.len()));
    let shard_plan = ShardPlan {
        run: run.as_str().to_owned(),
        namespace: plan.request.namespace.as_str().to_owned(),
        strategy: plan.strategy.kind.name().to_owned(),
        scanner_image: plan.strategy.scanner_image.clone(),
        scanner_user: plan.strategy.scanner_user,
        image: plan.strategy.image.clone(),
        max_ephemeral: plan.strategy.max_ephemeral,
        command_timeout: plan.command_timeout.as_secs(),
        concurrency: plan.concurrency,
        shards: ranges.iter().map(|r| all[r.clone()].to_vec()).collect(),
    };
    let ns = plan.request.namespace.clone();
    let jobs: Api<Job> = Api::namespaced(admin.client.clone(), ns.as_str());
    let value = job(&run, &access, &plan, &dispatch, &shard_plan)?;
    let name = run.object_name();
    tracing::info!(
        "run {run}: Job {name}: {} target(s) in {} shard(s), {} at once, image {}",
        all.len(),
        ranges.len(),
        dispatch.parallelism.clamp(1, ranges.len()),
        dispatch.image
    );
    let created = teardown
        .create_object(Owned::Job { namespace: ns.to_string(), name: name.clone() }, &jobs, &value)
        .await
        .map_err(|e| refused(e, &admin, "create Jobs", &ns))?;
    let uid = created.metadata.uid.clone().ok_or_else(|| Error::scan("the API server returned a Job without a uid"))?;
    let pods: Api<Pod> = Api::namespaced(admin.client.clone(), ns.as_str());
    let mut collected = BTreeMap::new();
    let finished = wait(&jobs, &name, &pods, &uid, &mut collected, &admin, &ns).await;
    // What a shard's strategy created and the shard could not remove (its
    // pod killed mid-scan: sidecar pods carry the run's labels) is the
    // run's to delete.
    own_leftovers(&pods, &run, &teardown).await;
    let finished = finished?;
    let own = list_own_pods(&pods, &uid, &admin, &ns).await?;
    let completed = finished.status.as_ref().and_then(|s| s.completed_indexes.as_deref()).map(parse_indexes);
    let completed = completed.unwrap_or_default();
    // Why shards that never ended did not: the Job's failure (its deadline).
    let unfinished = finished
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .find(|c| c.type_ == "Failed" && c.status == "True")
        .map(|c| format!("Job {name} failed: {}", c.message.clone().or(c.reason.clone()).unwrap_or_default()))
        .unwrap_or_else(|| format!("Job {name} ended without it"));
    let mut outcomes: BTreeMap<usize, std::result::Result<String, String>> = BTreeMap::new();
    for (k, range) in ranges.iter().enumerate() {
        let report = match collected.remove(&k) {
            Some(results) => Ok(results),
            None => shard_report(&pods, &own, k, completed.contains(&k), &unfinished, &admin, &ns).await,
        };
        match report {
            Ok(results) => {
                for (i, hdf) in results.scanned {
                    outcomes.insert(i, Ok(hdf));
                }
                for (i, why) in results.unscanned {
                    outcomes.insert(i, Err(why));
                }
            }
            Err(why) => {
                for i in range.clone() {
                    outcomes.insert(i, Err(why.clone()));
                }
            }
        }
    }
    let mut results = Vec::new();
    let mut failures = refused_targets;
    for (i, target) in targets.iter().enumerate() {
        let workload = all[i].workload.clone();
        let outcome = outcomes.remove(&i).unwrap_or_else(|| Err(format!("its shard reported nothing for {target}")));
        match outcome.and_then(|hdf| write_result(&plan.out_dir, target, hdf.as_bytes()).map_err(|e| e.to_string())) {
            Ok(file) => results.push(Scanned { target: target.clone(), file, workload }),
            Err(why) => {
                tracing::warn!("{target}: not scanned: {why}");
                failures.push(Unscanned { target: target.clone(), workload, error: Error::scan(why) });
            }
        }
    }
    if results.is_empty() && !failures.is_empty() {
        return Err(none_scanned(failures));
    }
    Ok((results, failures))
}

/// Wait until the Job is complete or failed, with a progress line whenever
/// its counts change; returns it as it ended. Meanwhile the results of each
/// shard pod that succeeded are read into `collected` (by shard index) at
/// once: a pod that is deleted later takes its log with it.
async fn wait(
    jobs: &Api<Job>,
    name: &str,
    pods: &Api<Pod>,
    uid: &str,
    collected: &mut BTreeMap<usize, ShardResults>,
    admin: &Connection,
    ns: &Label,
) -> Result<Job> {
    let mut last = None;
    loop {
        let job = jobs.get(name).await.map_err(|e| refused(e, admin, &format!("read Job {name}"), ns))?;
        for pod in list_own_pods(pods, uid, admin, ns).await? {
            // A shard that cannot start (its image cannot be pulled) would
            // wait for the Job's deadline: say so now.
            if let Some(why) = start_failure(&pod, Kind::Regular, "shard") {
                let image = pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone());
                return Err(Error::scan(format!(
                    "shard pod {} of Job {name} cannot start: {why} (image {}: pass one the cluster can pull with \
                     --dispatch-image)",
                    pod.metadata.name.clone().unwrap_or_default(),
                    image.unwrap_or_default()
                )));
            }
            let index = pod.metadata.annotations.as_ref().and_then(|a| a.get(INDEX_ANNOTATION));
            let Some(k) = index.and_then(|i| i.parse::<usize>().ok()) else { continue };
            let succeeded = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded");
            if succeeded && !collected.contains_key(&k) {
                if let Ok(results) = read_log(pods, &pod, admin, ns).await.and_then(|log| unframe(&log)) {
                    collected.insert(k, results);
                }
            }
        }
        let status = job.status.clone().unwrap_or_default();
        let total = job.spec.as_ref().and_then(|s| s.completions).unwrap_or(0);
        let done = status.completed_indexes.as_deref().map(parse_indexes).unwrap_or_default().len();
        let failed = status.failed_indexes.as_deref().map(parse_indexes).unwrap_or_default().len();
        let counts = (done, failed, status.active.unwrap_or(0), status.failed.unwrap_or(0));
        if last != Some(counts) {
            tracing::info!(
                "Job {name}: {done}/{total} shard(s) done, {failed} failed, {} running ({} pod failure(s))",
                counts.2,
                counts.3
            );
            last = Some(counts);
        }
        let ended = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.status == "True" && matches!(c.type_.as_str(), "Complete" | "Failed"));
        if ended {
            return Ok(job);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Own, for `teardown`, the pods labelled with `run` that no Job controls
/// (sidecar pods a killed shard left).
async fn own_leftovers(pods: &Api<Pod>, run: &RunId, teardown: &Teardown) {
    let Ok(list) = pods.list_metadata(&ListParams::default().labels(&run.selector())).await else { return };
    for pod in list.items {
        let controlled = pod.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true));
        if let (false, Some(namespace), Some(name)) = (controlled, pod.metadata.namespace, pod.metadata.name) {
            teardown.own(Owned::Pod { namespace, name });
        }
    }
}

/// The pods the Job with `uid` owns (its controller, by owner UID: a pod
/// of anything else is never read, whatever its labels say).
async fn list_own_pods(pods: &Api<Pod>, uid: &str, admin: &Connection, ns: &Label) -> Result<Vec<Pod>> {
    let params = ListParams::default().labels(&format!("batch.kubernetes.io/controller-uid={uid}"));
    let list = pods.list(&params).await.map_err(|e| refused(e, admin, "list pods", ns))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.kind == "Job" && o.controller == Some(true))
        })
        .collect())
}

/// The results of shard `k` from the log of the pod that completed it, or
/// why there are none (its last failed pod's reason).
async fn shard_report(
    pods: &Api<Pod>,
    own: &[Pod],
    k: usize,
    completed: bool,
    unfinished: &str,
    admin: &Connection,
    ns: &Label,
) -> std::result::Result<ShardResults, String> {
    let of_index: Vec<&Pod> = own
        .iter()
        .filter(|p| p.metadata.annotations.as_ref().and_then(|a| a.get(INDEX_ANNOTATION)) == Some(&k.to_string()))
        .collect();
    let phase = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    if completed {
        let pod = of_index
            .iter()
            .find(|p| phase(p) == "Succeeded")
            .ok_or_else(|| format!("shard {k} completed, but its pod was deleted before its results were read"))?;
        let log = read_log(pods, pod, admin, ns).await?;
        return unframe(&log).map_err(|e| format!("shard {k}: {e}"));
    }
    // A failed shard may still have reported what it could not scan.
    let failed = of_index.iter().filter(|p| phase(p) == "Failed").max_by_key(|p| p.metadata.creation_timestamp.clone());
    let Some(pod) = failed else {
        return Err(format!("shard {k} did not finish: {unfinished}"));
    };
    let log = read_log(pods, pod, admin, ns).await.unwrap_or_default();
    if let Ok(results) = unframe(&log) {
        return Ok(results);
    }
    let attempts = of_index.iter().filter(|p| phase(p) == "Failed").count();
    let state = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| format!("{} (exit code {})", t.reason.clone().unwrap_or_else(|| "terminated".into()), t.exit_code))
        .or_else(|| pod.status.as_ref().and_then(|s| s.reason.clone()))
        .unwrap_or_else(|| "deleted".into());
    let said = log.lines().rev().find(|l| l.starts_with("error: ")).map(|l| format!(": {l}")).unwrap_or_default();
    Err(format!(
        "shard {k} failed {attempts} time(s), last pod {}: {state}{said}",
        pod.metadata.name.clone().unwrap_or_default()
    ))
}

async fn read_log(pods: &Api<Pod>, pod: &Pod, admin: &Connection, ns: &Label) -> std::result::Result<String, String> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    pods.logs(&name, &LogParams { container: Some("shard".into()), ..Default::default() })
        .await
        .map_err(|e| refused(e, admin, &format!("read the log of pod {name}"), ns).to_string())
}

/// The set of indexes in the Job status's `completedIndexes` /
/// `failedIndexes` form: `1,3-5,7`.
pub fn parse_indexes(text: &str) -> BTreeSet<usize> {
    let mut set = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            set.extend(a..=b);
        }
    }
    set
}

/// `results` framed for a log: [`BEGIN`], the base64 of their JSON in
/// lines of at most [`LINE`] characters, and an end line with the SHA-256
/// of that JSON.
pub fn frame(results: &ShardResults) -> Result<String> {
    let payload = serde_json::to_vec(results).map_err(|e| Error::scan(format!("cannot encode the results: {e}")))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
    let mut out = format!("{BEGIN}\n");
    for chunk in b64.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("{END}{}-----\n", hex(&Sha256::digest(&payload))));
    Ok(out)
}

/// The results framed in `log` (the last frame, other lines ignored),
/// their digest verified.
pub fn unframe(log: &str) -> std::result::Result<ShardResults, String> {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.iter().rposition(|l| *l == BEGIN).ok_or("its log holds no results")?;
    let mut b64 = String::new();
    let mut digest = None;
    for line in &lines[start + 1..] {
        if let Some(rest) = line.strip_prefix(END) {
            digest = Some(rest.trim_end_matches('-').to_owned());
            break;
        }
        if line.len() > LINE || !line.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) {
            return Err("its results are interrupted by other output".into());
        }
        b64.push_str(line);
    }
    let digest = digest.ok_or("its results end before their end line")?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("its results are not base64: {e}"))?;
    if hex(&Sha256::digest(&payload)) != digest {
        return Err("the digest of its results does not match".into());
    }
    serde_json::from_slice(&payload).map_err(|e| format!("its results are not valid: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The service account files every pod with a mounted token has.
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// `kscan shard`: scan the share of the targets that [`INDEX_ENV`] names
/// from the plan in [`PLAN_ENV`], as the pod's own (the run's scoped)
/// identity, creating no access, and print the results framed on stdout.
/// Fails when it scanned nothing.
pub async fn shard() -> Result<()> {
    let index: usize = std::env::var(INDEX_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::input(format!("kscan shard runs in a pod of an Indexed Job: {INDEX_ENV} is not set")))?;
    let text = std::env::var(PLAN_ENV).map_err(|_| Error::input(format!("{PLAN_ENV} is not set")))?;
    let plan: ShardPlan =
        serde_json::from_str(&text).map_err(|e| Error::input(format!("{PLAN_ENV} is not a shard plan: {e}")))?;
    let mine = plan.shards.get(index).ok_or_else(|| Error::input(format!("the plan has no shard {index}")))?;
    let run = RunId::parse(&plan.run)?;
    let namespace = Label::parse("namespace", &plan.namespace)?;
    let kind = <Strategy as clap::ValueEnum>::from_str(&plan.strategy, false)
        .map_err(|_| Error::input(format!("unknown strategy {:?} in the plan", plan.strategy)))?;
    let strategy = StrategyConfig {
        kind,
        scanner_image: plan.scanner_image.clone(),
        scanner_user: plan.scanner_user,
        image: plan.image.clone(),
        max_ephemeral: plan.max_ephemeral,
    };
    let engine = Engine::Builtin;
    let how = How { strategy: &strategy, engine: &engine, command_timeout: Duration::from_secs(plan.command_timeout) };

    let config = kube::Config::incluster()
        .map_err(|e| Error::scan("cannot read the in-cluster service account configuration").with_source(e))?;
    let client = kube::Client::try_from(config.clone())
        .map_err(|e| Error::scan("cannot build the in-cluster client").with_source(e))?;
    let teardown = Teardown::new(client);
    let access = incluster_access(&run, &namespace, &config, &teardown).await?;
    tracing::info!("run {run}: shard {index}: scanning {} target(s)", mine.len());

    let access = Arc::new(access);
    let scans = stream::iter(mine.iter().cloned())
        .map(|t| {
            let (access, teardown, namespace) = (access.clone(), teardown.clone(), namespace.clone());
            async move {
                let target = match (Subdomain::parse("pod", &t.pod), Label::parse("container", &t.container)) {
                    (Ok(pod), Ok(container)) => ContainerRef { namespace, pod, container },
                    _ => return (t.index, Err(format!("the plan names an invalid target {}/{}", t.pod, t.container))),
                };
                let outcome = scan_target(&access, &how, &target, &t.workload, t.index, &teardown).await;
                (t.index, outcome.map_err(|e| e.to_string()))
            }
        })
        .buffer_unordered(plan.concurrency.max(1))
        .collect::<Vec<(usize, std::result::Result<Vec<u8>, String>)>>();
    // Asked to stop (its pod deleted, the Job's deadline): the shard ends
    // without results, as a failure, so that its index is retried.
    let outcomes = tokio::select! {
        outcomes = scans => outcomes,
        why = super::interrupted() => {
            let report = teardown.finish().await;
            for (object, left) in &report.left {
                tracing::warn!("run {run}: shard {index}: {object} left: {left}");
            }
            return Err(Error::scan(format!("shard {index}: {why}: stopped the scan")));
        }
    };
    let report = teardown.finish().await;
    for note in &report.notes {
        tracing::info!("run {run}: shard {index}: {note}");
    }
    for (object, why) in &report.left {
        tracing::warn!("run {run}: shard {index}: {object} left: {why}");
    }
    let mut results = ShardResults::default();
    for (i, outcome) in outcomes {
        match outcome {
            Ok(json) => results.scanned.push((i, String::from_utf8_lossy(&json).into_owned())),
            Err(why) => results.unscanned.push((i, why)),
        }
    }
    results.scanned.sort();
    results.unscanned.sort();
    let framed = frame(&results)?;
    let mut out = std::io::stdout().lock();
    out.write_all(framed.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::scan("cannot write the results").with_source(e))?;
    if results.scanned.is_empty() {
        return Err(Error::scan(format!("shard {index} scanned none of its {} target(s)", mine.len())));
    }
    Ok(())
}

/// The run's scoped access as a shard has it: the pod's own token (the
/// run's ServiceAccount), in a 0600 kubeconfig in a private directory for
/// engines that take a path. Nothing is created in the cluster.
async fn incluster_access(
    run: &RunId,
    namespace: &Label,
    config: &kube::Config,
    teardown: &Teardown,
) -> Result<ScopedAccess> {
    let token = std::fs::read_to_string(format!("{SA_DIR}/token"))
        .map_err(|e| Error::scan(format!("cannot read the pod's service account token in {SA_DIR}")).with_source(e))?;
    let name = run.object_name();
    let dir = teardown.private_dir(&format!("{}-shard-", crate::cluster::access::kubeconfig_dir_prefix(run)))?;
    let kubeconfig: PathBuf = dir.join("kubeconfig");
    crate::cluster::access::write_kubeconfig(&kubeconfig, config, &name, namespace.as_str(), token.trim().to_owned())?;
    let connection = ClusterArgs { kubeconfig: Some(kubeconfig.clone()), context: None }
        .connect()
        .await
        .map_err(|e| e.context("using the shard's kubeconfig"))?;
    // The projected token lives as long as the pod (and is refreshed by the
    // kubelet); the run's objects expire with the Job's deadline.
    let expires_at = chrono::Utc::now() + chrono::Duration::hours(1);
    Ok(ScopedAccess {
        name,
        namespace: namespace.clone(),
        kubeconfig,
        connection,
        expires_at,
        objects_expire_at: expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_job_runs_indexed_restricted_shards_as_the_run_account() {
        let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        let client = kube::Client::try_from(config.clone()).unwrap();
        let connection = Connection { client, config, source: "test".into() };
        let namespace = Label::parse("namespace", "shop").unwrap();
        let run = RunId::parse("0123456789").unwrap();
        let at = chrono::Utc::now();
        let access = ScopedAccess {
            name: run.object_name(),
            namespace: namespace.clone(),
            kubeconfig: "kubeconfig".into(),
            connection,
            expires_at: at,
            objects_expire_at: at,
        };
        let asked = crate::scan::plan::Asked {
            namespace: "shop",
            pod: None,
            selector: Some("app=web"),
            container: None,
            strategy: Strategy::Exec,
            engine: crate::engine::EngineKind::Builtin,
            profile: None,
            engine_bin: None,
            scanner_image: "scanner:1",
            scanner_user: None,
            image: None,
            max_ephemeral: 5,
            timeout: Duration::from_secs(600),
            ttl: crate::cluster::access::TokenTtl::DEFAULT,
            concurrency: 2,
            out_dir: "out".into(),
        };
        let plan = asked.plan(crate::scan::plan::Field::flag).unwrap();
        let dispatch = Dispatch { shards: Some(3), parallelism: 5, image: "kscan:1".into(), api_server: None };
        let target =
            |i: usize| ShardTarget { index: i, pod: format!("web-{i}"), container: "app".into(), workload: "w".into() };
        let shard_plan = ShardPlan {
            run: run.to_string(),
            namespace: "shop".into(),
            strategy: "exec".into(),
            scanner_image: "scanner:1".into(),
            scanner_user: None,
            image: None,
            max_ephemeral: 5,
            command_timeout: 300,
            concurrency: 2,
            shards: vec![vec![target(0)], vec![target(1)], vec![target(2)]],
        };
        let job = serde_json::to_value(job(&run, &access, &plan, &dispatch, &shard_plan).unwrap()).unwrap();
        let spec = &job["spec"];
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(spec["completions"], 3);
        assert_eq!(spec["parallelism"], 3, "never more than the shards");
        assert_eq!(spec["backoffLimitPerIndex"], 1);
        assert_eq!(spec["activeDeadlineSeconds"], 600);
        assert_eq!(job["metadata"]["labels"]["kscan.dev/run"], "0123456789");
        assert!(job["metadata"]["annotations"]["kscan.dev/expires-at"].is_string());
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "kscan-0123456789");
        assert_eq!(pod["automountServiceAccountToken"], true);
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let container = &pod["containers"][0];
        assert_eq!(container["command"], serde_json::json!(["/usr/local/bin/kscan", "shard"]));
        let context = &container["securityContext"];
        assert_eq!(context["runAsUser"], 65532);
        assert_eq!(context["readOnlyRootFilesystem"], true);
        assert_eq!(context["allowPrivilegeEscalation"], false);
        assert_eq!(context["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert_eq!(context["seccompProfile"]["type"], "RuntimeDefault");
        assert_eq!(container["volumeMounts"][0]["mountPath"], "/tmp");
        let env = container["env"][0]["value"].as_str().unwrap();
        let back: ShardPlan = serde_json::from_str(env).unwrap();
        assert_eq!(back.shards.len(), 3);
        assert_eq!(back.shards[2][0].pod, "web-2");
    }

    #[test]
    fn shares_are_contiguous_and_even() {
        assert_eq!(split(6, 3), vec![0..2, 2..4, 4..6]);
        assert_eq!(split(7, 3), vec![0..2, 2..4, 4..7]);
        assert_eq!(split(2, 1), vec![0..2]);
        let ranges = split(100, 7);
        assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), 100);
        assert!(ranges.iter().all(|r| r.len() == 14 || r.len() == 15));
    }

    #[test]
    fn indexes_parse_as_the_job_status_writes_them() {
        assert_eq!(parse_indexes("0-2,4"), BTreeSet::from([0, 1, 2, 4]));
        assert_eq!(parse_indexes(""), BTreeSet::new());
        assert_eq!(parse_indexes("7"), BTreeSet::from([7]));
    }

    #[test]
    fn frames_survive_a_log_and_are_checked() {
        let results = ShardResults { scanned: vec![(3, "{\"a\": 1}".repeat(40))], unscanned: vec![(4, "no".into())] };
        let framed = frame(&results).unwrap();
        assert!(framed.lines().all(|l| l.len() <= LINE || l.starts_with("-----")));
        let log = format!("INFO scanning\n{framed}INFO done\n");
        let back = unframe(&log).unwrap();
        assert_eq!(back.scanned, results.scanned);
        assert_eq!(back.unscanned, results.unscanned);
        let tampered = log.replacen("eyJ", "eyK", 1);
        assert!(unframe(&tampered).is_err());
        let cut: String = framed.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert_eq!(unframe(&cut).unwrap_err(), "its results end before their end line");
        assert_eq!(unframe("nothing").unwrap_err(), "its log holds no results");
    }
}
