//! The job queue: submissions checked against the queue limit, a bounded
//! pool of workers that run [`crate::scan::run_dispatched`] (in-process, or
//! as one Kubernetes Job per scan with `--executor jobs`), cancel
//! and retry, this replica's lease, and recovery of the jobs of a previous
//! process or of a replica that died.
//!
//! The store is the truth, shared by every replica. A worker claims the
//! oldest queued job with [`Store::claim`] (atomic: no other worker of any
//! replica takes it too), which writes the run id it will use and names this
//! replica as the owner, so the cluster objects of every running job can be
//! found by run id. Workers look for work whenever a local submission wakes
//! one and every poll interval (jobs submitted to other replicas, jobs left
//! queued by a restart).
//!
//! Recovery: a lease task renews this replica's lease and adopts the running
//! jobs of owners whose lease ran out (at start: those of the previous
//! process); each adopted job's objects are removed by run id and it is
//! marked `interrupted`, to be retried.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::api::{CallbackState, Counts, GateSummary, JobStatus, Limits, ScanRequest, Summary, TargetSummary};
use super::callback::Callbacks;
use super::error::ApiError;
use super::metrics::{Gauges, Metrics};
use super::store::{now_ms, Job, ResultFile, Store, TargetRun};
use crate::cluster::cleanup::{cleanup, Which};
use crate::cluster::client::Connection;
use crate::cluster::RunId;
use crate::hdf::{ControlStatus, ResultSet, Source};
use crate::results::{Spec, Stage, Threshold};
use crate::target::Label;

/// Shared by the API handlers and the workers.
pub struct Queue {
    store: Arc<dyn Store>,
    admin: Connection,
    limits: Limits,
    limit: usize,
    workers: usize,
    wake: Notify,
    replica: String,
    lease: Lease,
    submit: tokio::sync::Mutex<()>,
    running: Mutex<HashMap<String, CancellationToken>>,
    shutdown: CancellationToken,
    leasing: CancellationToken,
    metrics: Arc<Metrics>,
    callbacks: Callbacks,
    work_dir: PathBuf,
}

/// What a sweep by run id found.
enum Swept {
    /// This many objects were found and removed.
    Removed(usize, String),
    /// The cleanup failed (objects may be left).
    Failed(String),
}

impl std::fmt::Display for Swept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Swept::Removed(_, note) | Swept::Failed(note) => f.write_str(note),
        }
    }
}

/// How a run ended, before it is written down.
struct Ending {
    status: JobStatus,
    error: Option<String>,
    summary: Option<Summary>,
    files: Vec<ResultFile>,
}

impl Ending {
    fn error(status: JobStatus, message: impl Into<String>) -> Self {
        Ending { status, error: Some(message.into()), summary: None, files: Vec::new() }
    }
}

/// Settings of the queue.
pub struct QueueConfig {
    /// Workers running scans at once.
    pub workers: usize,
    /// Jobs that may wait.
    pub limit: usize,
    /// What requests are checked against.
    pub limits: Limits,
    /// Private directory for results in flight.
    pub work_dir: PathBuf,
    /// This replica's id (the owner of the jobs it claims).
    pub replica: String,
    /// Its lease and how often workers look for queued jobs.
    pub lease: Lease,
    /// Finished jobs older than this are pruned (`None`: kept forever).
    pub retain: Option<Duration>,
}

/// Lease and polling times.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    /// How long a replica's jobs stay its own without a renewal.
    pub duration: Duration,
    /// How often the lease is renewed and orphans looked for.
    pub renew: Duration,
    /// How often an idle worker looks for queued jobs.
    pub poll: Duration,
}

impl Lease {
    /// Renewed every quarter of `duration`; idle workers poll every `poll`.
    pub fn new(duration: Duration, poll: Duration) -> Self {
        Lease { duration, renew: (duration / 4).max(Duration::from_millis(50)), poll }
    }
}

impl Default for Lease {
    /// A 20 s lease renewed every 5 s; workers poll every second.
    fn default() -> Self {
        Lease::new(Duration::from_secs(20), Duration::from_secs(1))
    }
}

impl Queue {
    /// Take the lease, recover what a previous process (or a dead peer)
    /// left, and start the workers and the lease task. The lease is renewed
    /// until [`Queue::close`], which the server calls once its running jobs
    /// ended: `shutdown` stops the workers, not the lease.
    pub async fn start(
        store: Arc<dyn Store>,
        admin: Connection,
        config: QueueConfig,
        metrics: Arc<Metrics>,
        callbacks: Callbacks,
        shutdown: CancellationToken,
    ) -> crate::Result<Arc<Queue>> {
        store.heartbeat(&config.replica, config.lease.duration).await?;
        let queue = Arc::new(Queue {
            store,
            admin,
            limits: config.limits,
            limit: config.limit,
            workers: config.workers,
            wake: Notify::new(),
            replica: config.replica,
            lease: config.lease,
            leasing: CancellationToken::new(),
            submit: tokio::sync::Mutex::new(()),
            running: Mutex::new(HashMap::new()),
            shutdown,
            metrics,
            callbacks,
            work_dir: config.work_dir,
        });
        tracing::info!(
            "replica {}: lease {:?}, renewed every {:?}",
            queue.replica,
            queue.lease.duration,
            queue.lease.renew
        );
        queue.recover().await?;
        let queued = queue.store.count(JobStatus::Queued).await?;
        tracing::info!("{queued} queued scan(s) in the store");
        tokio::spawn(queue.clone().keep_lease());
        tokio::spawn(queue.clone().watch_cancels());
        if let Some(retain) = config.retain {
            // The first pruning happens before the API answers, so a restart
            // with a shorter retention never serves what it should drop.
            queue.prune(retain).await?;
            tokio::spawn(queue.clone().prune_every(retain));
        }
        for n in 0..config.workers {
            let queue = queue.clone();
            tokio::spawn(async move { queue.work(n).await });
        }
        Ok(queue)
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Stop renewing the lease and give it up, once this replica's jobs
    /// ended: peers then need not wait for it to run out.
    pub async fn close(&self) {
        self.leasing.cancel();
        if let Err(e) = self.store.leave(&self.replica).await {
            tracing::warn!("replica {}: could not give up the lease: {e}", self.replica);
        }
    }

    /// Every poll interval while this replica runs scans, stop those whose
    /// cancel another replica recorded in the store.
    async fn watch_cancels(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.lease.poll) => {}
                () = self.leasing.cancelled() => return,
            }
            if self.running.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                continue;
            }
            match self.store.cancel_requests(&self.replica).await {
                Ok(ids) => {
                    let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                    for id in ids {
                        if let Some(token) = running.get(&id).filter(|t| !t.is_cancelled()) {
                            tracing::info!("scan {id}: cancelled through another replica");
                            token.cancel();
                        }
                    }
                }
                Err(e) => tracing::error!("replica {}: reading cancel requests failed: {e}", self.replica),
            }
        }
    }

    /// Renew the lease, and adopt the jobs of replicas whose lease ran out,
    /// until [`Queue::close`]. A renewal that fails is retried at the next
    /// tick; if the lease runs out meanwhile, a peer may take this
    /// replica's jobs, and this replica's writes to them then fail.
    async fn keep_lease(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.lease.renew) => {}
                () = self.leasing.cancelled() => return,
            }
            if let Err(e) = self.store.heartbeat(&self.replica, self.lease.duration).await {
                tracing::error!("replica {}: renewing the lease failed: {e}", self.replica);
                continue;
            }
            if self.shutdown.is_cancelled() {
                continue;
            }
            if let Err(e) = self.recover().await {
                tracing::error!("replica {}: recovering the jobs of stopped replicas failed: {e}", self.replica);
            }
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The request checks.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Jobs that were running on a replica that is gone (this one before a
    /// restart, or a peer whose lease ran out) are adopted by this replica
    /// and interrupted: their objects are removed by run id and they wait
    /// for a retry. Queued jobs stay queued: the workers claim them.
    async fn recover(&self) -> crate::Result<()> {
        for mut job in self.store.adopt_orphans(&self.replica).await? {
            let swept = self.sweep(&job).await.to_string();
            job.status = JobStatus::Interrupted;
            job.finished_ms = Some(now_ms());
            job.error = Some(format!(
                "the server stopped while this scan ran; {swept}; retry with POST /api/v1/scans/{}/retry",
                job.id
            ));
            if self.store.update_if(&job, JobStatus::Running).await? {
                tracing::warn!("scan {}: interrupted by a restart or a stopped replica; {swept}", job.id);
                self.metrics.finished(JobStatus::Interrupted, None);
            }
        }
        Ok(())
    }

    /// Drop the jobs that ended more than `retain` ago; how many.
    async fn prune(&self, retain: Duration) -> crate::Result<usize> {
        let cutoff = now_ms().saturating_sub(i64::try_from(retain.as_millis()).unwrap_or(i64::MAX));
        let n = self.store.prune(cutoff).await?;
        if n > 0 {
            tracing::info!(
                "pruned {n} scan(s) that ended more than {} ago (--retain)",
                crate::scan::show_duration(retain)
            );
        }
        Ok(n)
    }

    /// Prune every tenth of `retain` (at least every second, at most every
    /// hour): nothing is kept much longer than asked, and a long retention
    /// does not wake the store often.
    async fn prune_every(self: Arc<Self>, retain: Duration) {
        let every = (retain / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.shutdown.cancelled() => return,
            }
            if let Err(e) = self.prune(retain).await {
                tracing::warn!("pruning old scans failed (tried again in {}): {e}", crate::scan::show_duration(every));
            }
        }
    }

    /// Remove whatever the job's run left in the cluster.
    async fn sweep(&self, job: &Job) -> Swept {
        let Some(run) = job.run_id.as_deref().and_then(|r| RunId::parse(r).ok()) else {
            return Swept::Removed(0, "it had created nothing yet".into());
        };
        let Ok(ns) = Label::parse("namespace", &job.request.target.namespace) else {
            return Swept::Removed(0, "its namespace is not valid, so it created nothing".into());
        };
        match cleanup(&self.admin, &Some(ns), &Which::Run(run.clone())).await {
            Ok(report) => {
                let found = report.deleted.len() + report.left.len();
                self.metrics.leaked(found as u64);
                match report.into_result(run.as_str()) {
                    Ok(r) => Swept::Removed(found, format!("removed {} object(s) of run {run}", r.deleted.len())),
                    Err(e) => Swept::Failed(format!("cleanup of run {run} failed: {e}")),
                }
            }
            Err(e) => Swept::Failed(format!("cleanup of run {run} failed: {e}")),
        }
    }

    /// Accept a new job or answer 429.
    pub async fn submit(&self, request: ScanRequest) -> Result<Job, ApiError> {
        let _one_at_a_time = self.submit.lock().await;
        self.check_room().await?;
        let job = Job::queued(uuid::Uuid::new_v4().to_string(), request);
        self.store.insert(&job).await?;
        self.wake.notify_one();
        Ok(job)
    }

    async fn check_room(&self) -> Result<(), ApiError> {
        let waiting = self.store.count(JobStatus::Queued).await?;
        if waiting >= self.limit {
            let retry_after = self.retry_after(waiting);
            return Err(ApiError::busy(
                format!("the queue is full ({waiting} scans waiting, limit {}): retry later", self.limit),
                retry_after,
            ));
        }
        Ok(())
    }

    /// Seconds until a slot is likely free: the default scan time per
    /// waiting job and worker, at least 1.
    fn retry_after(&self, waiting: usize) -> u64 {
        let per_job = 30u64;
        (per_job * (waiting as u64 + 1) / self.workers.max(1) as u64).clamp(1, 600)
    }

    /// Queue an ended job again (interrupted, error or cancelled).
    pub async fn retry(&self, id: &str) -> Result<Job, ApiError> {
        let _one_at_a_time = self.submit.lock().await;
        let mut job = self.store.get(id).await?.ok_or_else(|| ApiError::no_job(id))?;
        let before = job.status;
        if !matches!(before, JobStatus::Interrupted | JobStatus::Error | JobStatus::Cancelled) {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                format!("scan {id} is {}: only interrupted, error or cancelled scans can be retried", before.as_str()),
            ));
        }
        self.check_room().await?;
        job.status = JobStatus::Queued;
        job.attempts += 1;
        job.run_id = None;
        job.started_ms = None;
        job.finished_ms = None;
        job.error = None;
        job.summary = None;
        job.callback = None;
        if !self.store.update_if(&job, before).await? {
            return Err(ApiError::new(axum::http::StatusCode::CONFLICT, format!("scan {id} changed meanwhile")));
        }
        self.wake.notify_one();
        Ok(job)
    }

    /// Cancel a job: a queued one never runs; a running one is stopped and
    /// torn down (this waits for teardown, up to `wait`).
    pub async fn cancel(&self, id: &str, wait: Duration) -> Result<Job, ApiError> {
        let mut job = self.store.get(id).await?.ok_or_else(|| ApiError::no_job(id))?;
        match job.status {
            JobStatus::Queued => {
                job.status = JobStatus::Cancelled;
                job.finished_ms = Some(now_ms());
                job.error = Some("cancelled before it ran".into());
                if self.store.update_if(&job, JobStatus::Queued).await? {
                    self.metrics.finished(JobStatus::Cancelled, None);
                    self.callbacks.deliver(self.store.clone(), job.clone());
                    return Ok(job);
                }
                // A worker took it meanwhile: cancel it as a running job.
            }
            JobStatus::Running => {}
            done => {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    format!("scan {id} already ended ({})", done.as_str()),
                ))
            }
        }
        let deadline = Instant::now() + wait;
        let local = self.running.lock().unwrap_or_else(|p| p.into_inner()).contains_key(id);
        if !local {
            // Another replica runs it (or is about to): it reads the request
            // every poll interval.
            self.store.request_cancel(id).await?;
        }
        loop {
            if let Some(token) = self.running.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
                token.cancel();
            }
            let job = self.store.get(id).await?.ok_or_else(|| ApiError::no_job(id))?;
            if job.status.is_final() || Instant::now() >= deadline {
                return Ok(job);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Gauges for `/metrics`.
    pub async fn gauges(&self) -> crate::Result<Gauges> {
        Ok(Gauges {
            queued: self.store.count(JobStatus::Queued).await?,
            running: self.running.lock().unwrap_or_else(|p| p.into_inner()).len(),
        })
    }

    /// Claim and run queued jobs one after the other; when there is none,
    /// wait for a local submission or the poll interval.
    async fn work(self: Arc<Self>, n: usize) {
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            match self.run_next().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!("worker {n}: {e}"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.lease.poll) => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }

    /// Claim the oldest queued job and run it; whether there was one.
    async fn run_next(&self) -> crate::Result<bool> {
        let run = RunId::generate();
        let Some(mut job) = self.store.claim(&self.replica, run.as_str(), now_ms()).await? else {
            return Ok(false);
        };
        if self.shutdown.is_cancelled() {
            // Claimed as the server stops: it never started, so it waits for
            // another replica (or this one after its restart).
            job.status = JobStatus::Queued;
            job.run_id = None;
            job.started_ms = None;
            self.store.update_if(&job, JobStatus::Running).await?;
            return Ok(false);
        }
        self.run_claimed(job, run).await.map_err(|e| e.context("scan"))?;
        Ok(true)
    }

    async fn run_claimed(&self, mut job: Job, run: RunId) -> crate::Result<()> {
        let token = self.shutdown.child_token();
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id.clone(), token.clone());
        tracing::info!("scan {}: running as run {run}", job.id);
        let started = Instant::now();
        let ending = self.execute(&job, run, &token).await;
        let seconds = started.elapsed().as_secs_f64();
        let swept = if ending.status == JobStatus::Interrupted {
            // The server is stopping: teardown ran; a sweep would race the exit.
            String::new()
        } else {
            self.leftovers(&job).await
        };
        job.status = ending.status;
        job.error = match (ending.error, swept.is_empty()) {
            (Some(e), true) => Some(e),
            (Some(e), false) => Some(format!("{e}; {swept}")),
            (None, true) => None,
            (None, false) => Some(swept),
        };
        job.summary = ending.summary;
        job.finished_ms = Some(now_ms());
        if job.request.callback.is_some() {
            job.callback = Some(CallbackState { state: "pending".into(), attempts: 0, last_error: None });
        }
        // The ending, results and history are written together or not at
        // all: a replica killed in between would otherwise leave history
        // points for a scan its peer then runs again.
        let points = history(&job);
        let written = self.store.finish(&job, JobStatus::Running, ending.files, points).await;
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.id);
        if !written? {
            tracing::warn!(
                "scan {}: a peer took it over while it ran (this replica's lease ran out): its {} is not recorded",
                job.id,
                job.status.as_str()
            );
            return Ok(());
        }
        self.metrics.finished(job.status, Some(seconds));
        tracing::info!("scan {}: {}", job.id, job.status.as_str());
        if job.status != JobStatus::Interrupted {
            self.callbacks.deliver(self.store.clone(), job);
        }
        Ok(())
    }

    /// Objects of the run still in the cluster after its teardown are
    /// counted as leaked and removed; empty when there were none.
    async fn leftovers(&self, job: &Job) -> String {
        match self.sweep(job).await {
            Swept::Removed(0, _) => String::new(),
            Swept::Removed(_, note) => format!("objects were left after teardown: {note}"),
            Swept::Failed(why) => why,
        }
    }

    async fn execute(&self, job: &Job, run: RunId, token: &CancellationToken) -> Ending {
        let out = match tempfile::Builder::new().prefix("kscan-job-").tempdir_in(&self.work_dir) {
            Ok(dir) => dir,
            Err(e) => return Ending::error(JobStatus::Error, format!("cannot create a work directory: {e}")),
        };
        let plan = match job.request.plan(&self.limits, out.path().join("results")) {
            Ok(plan) => plan,
            Err(e) => {
                return Ending::error(JobStatus::Error, format!("the request is no longer valid: {}", e.message()))
            }
        };
        let stop = {
            let token = token.clone();
            async move {
                token.cancelled().await;
                "stopped"
            }
        };
        let dispatch = self.limits.dispatch.clone();
        let outcome = crate::scan::run_dispatched(self.admin.clone(), plan, run, stop, dispatch).await;
        let finished = match outcome {
            Ok(finished) => finished,
            Err(e) if token.is_cancelled() && self.shutdown.is_cancelled() => {
                return Ending::error(
                    JobStatus::Interrupted,
                    format!(
                    "the server stopped during the scan; teardown ran ({e}); retry with POST /api/v1/scans/{}/retry",
                    job.id
                ),
                )
            }
            Err(e) if token.is_cancelled() => {
                return Ending::error(JobStatus::Cancelled, format!("cancelled during the scan; teardown ran ({e})"))
            }
            Err(e) => return Ending::error(JobStatus::Error, e.to_string()),
        };
        match summarize(job, &self.limits, &finished) {
            // Teardown left objects: the results and the verdict stand, the job is an error.
            Ok((_, summary, files)) if finished.left.is_some() => Ending {
                status: JobStatus::Error,
                error: finished.left.as_ref().map(ToString::to_string),
                summary: Some(summary),
                files,
            },
            Ok((status, summary, files)) => Ending { status, error: None, summary: Some(summary), files },
            Err(e) => Ending::error(JobStatus::Error, e.to_string()),
        }
    }
}

/// The history points of a finished job: one per scanned container whose
/// workload is known.
fn history(job: &Job) -> Vec<TargetRun> {
    let (Some(summary), Some(finished_ms)) = (&job.summary, job.finished_ms) else { return Vec::new() };
    summary
        .targets
        .iter()
        .filter(|t| !t.workload.is_empty())
        .map(|t| TargetRun {
            seq: 0,
            job_id: job.id.clone(),
            namespace: job.request.target.namespace.clone(),
            workload: t.workload.clone(),
            container: t.container.clone(),
            pod: t.pod.clone(),
            finished_ms,
            status: job.status,
            counts: t.counts,
        })
        .collect()
}

/// Counts per target, the gate's verdict, and the files to store.
fn summarize(
    job: &Job,
    limits: &Limits,
    finished: &crate::scan::Finished,
) -> crate::Result<(JobStatus, Summary, Vec<ResultFile>)> {
    // The service's summaries have no place for a target that was not
    // scanned yet: such a run is a failed job, as it always was.
    if !finished.unscanned.is_empty() {
        return Err(crate::Error::scan(format!(
            "{} of {} targets could not be scanned: {}",
            finished.unscanned.len(),
            finished.unscanned.len() + finished.results.len(),
            finished.unscanned.iter().map(|u| u.error.to_string()).collect::<Vec<_>>().join("; ")
        )));
    }
    let mut files = Vec::new();
    let mut sets = Vec::new();
    let mut targets = Vec::new();
    for scanned in &finished.results {
        let body = std::fs::read(&scanned.file).map_err(|e| crate::Error::read_file(&scanned.file, e))?;
        let set = ResultSet::from_slice(Source::File(scanned.file.clone()), &body)?;
        let counts = set.counts();
        let strategy_used = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["platform"]["kscan_strategy"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into());
        let workload = crate::scan::split_workload_id(&scanned.workload).map(|(_, owner, _)| owner.to_owned());
        targets.push(TargetSummary {
            pod: scanned.target.pod.to_string(),
            workload: workload.unwrap_or_default(),
            container: scanned.target.container.to_string(),
            strategy_used,
            counts: Counts {
                passed: counts.total(ControlStatus::Passed),
                failed: counts.total(ControlStatus::Failed),
                skipped: counts.total(ControlStatus::NotReviewed),
                error: counts.total(ControlStatus::ProfileError),
                no_impact: counts.total(ControlStatus::NotApplicable),
                compliance: u64::from(counts.compliance()),
            },
        });
        files.push(ResultFile { name: crate::scan::result_file_name(&scanned.target), body });
        sets.push(set);
    }
    // The verdict is computed here, once, and stored with the job.
    let gate = match job.request.threshold_path(limits) {
        Ok(None) => None,
        Ok(Some(path)) => {
            let name = job.request.scan.threshold.clone().unwrap_or_default();
            let threshold = Threshold { name, rules: crate::gate::Thresholds::load(&path)? };
            let stage = Stage::prepare(Spec { threshold: Some(threshold), ..Spec::default() })?;
            stage.verdict(&sets).as_ref().map(GateSummary::of)
        }
        Err(e) => return Err(crate::Error::input(format!("the threshold is no longer usable: {}", e.message()))),
    };
    let status = if gate.as_ref().is_some_and(|g| !g.passed) { JobStatus::Failed } else { JobStatus::Passed };
    Ok((status, Summary { targets, gate }, files))
}
