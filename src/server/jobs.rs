//! The job queue: submissions checked against the queue limit, a bounded
//! pool of workers that run [`crate::scan::run_until`] in-process, cancel
//! and retry, and recovery after a restart.
//!
//! The store is the truth; the in-process channel only wakes workers. A
//! worker claims a job by moving it from `queued` to `running` in the store
//! (a conditional update), after writing the run id it will use, so a
//! restart can always find and remove the cluster objects of a job that was
//! running.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
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
    wake: mpsc::UnboundedSender<String>,
    submit: tokio::sync::Mutex<()>,
    running: Mutex<HashMap<String, CancellationToken>>,
    shutdown: CancellationToken,
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
    /// Finished jobs older than this are pruned (`None`: kept forever).
    pub retain: Option<Duration>,
}

impl Queue {
    /// Recover what a previous process left and start the workers.
    pub async fn start(
        store: Arc<dyn Store>,
        admin: Connection,
        config: QueueConfig,
        metrics: Arc<Metrics>,
        callbacks: Callbacks,
        shutdown: CancellationToken,
    ) -> crate::Result<Arc<Queue>> {
        let (wake, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue {
            store,
            admin,
            limits: config.limits,
            limit: config.limit,
            workers: config.workers,
            wake,
            submit: tokio::sync::Mutex::new(()),
            running: Mutex::new(HashMap::new()),
            shutdown,
            metrics,
            callbacks,
            work_dir: config.work_dir,
        });
        queue.recover().await?;
        if let Some(retain) = config.retain {
            // The first pruning happens before the API answers, so a restart
            // with a shorter retention never serves what it should drop.
            queue.prune(retain).await?;
            tokio::spawn(queue.clone().prune_every(retain));
        }
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for n in 0..config.workers {
            let (queue, rx) = (queue.clone(), rx.clone());
            tokio::spawn(async move { queue.work(n, rx).await });
        }
        Ok(queue)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The request checks.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Jobs that were running are interrupted: their objects are removed by
    /// run id and they wait for a retry. Queued jobs are queued again.
    async fn recover(&self) -> crate::Result<()> {
        for mut job in self.store.with_status(JobStatus::Running).await? {
            let swept = self.sweep(&job).await.to_string();
            job.status = JobStatus::Interrupted;
            job.finished_ms = Some(now_ms());
            job.error = Some(format!(
                "the server stopped while this scan ran; {swept}; retry with POST /api/v1/scans/{}/retry",
                job.id
            ));
            self.store.update_if(&job, JobStatus::Running).await?;
            tracing::warn!("scan {}: interrupted by a restart; {swept}", job.id);
            self.metrics.finished(JobStatus::Interrupted, None);
        }
        let queued = self.store.with_status(JobStatus::Queued).await?;
        tracing::info!("{} queued scan(s) from the store", queued.len());
        for job in queued {
            let _ = self.wake.send(job.id);
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
        let _ = self.wake.send(job.id.clone());
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
        let _ = self.wake.send(job.id.clone());
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

    async fn work(self: Arc<Self>, n: usize, rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>>) {
        loop {
            let id = tokio::select! {
                id = async { rx.lock().await.recv().await } => match id { Some(id) => id, None => return },
                () = self.shutdown.cancelled() => return,
            };
            if let Err(e) = self.run_job(&id).await {
                tracing::error!("worker {n}: scan {id}: {e}");
            }
        }
    }

    async fn run_job(&self, id: &str) -> crate::Result<()> {
        let Some(mut job) = self.store.get(id).await? else { return Ok(()) };
        if job.status != JobStatus::Queued {
            return Ok(());
        }
        let run = RunId::generate();
        job.status = JobStatus::Running;
        job.run_id = Some(run.as_str().to_owned());
        job.started_ms = Some(now_ms());
        if !self.store.update_if(&job, JobStatus::Queued).await? {
            return Ok(());
        }
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
        if !ending.files.is_empty() {
            self.store.put_results(&job.id, ending.files).await?;
        }
        let points = history(&job);
        if !points.is_empty() {
            self.store.put_target_runs(points).await?;
        }
        if job.request.callback.is_some() {
            job.callback = Some(CallbackState { state: "pending".into(), attempts: 0, last_error: None });
        }
        self.store.update_if(&job, JobStatus::Running).await?;
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.id);
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
        let outcome = crate::scan::run_until(self.admin.clone(), plan, run, stop).await;
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
