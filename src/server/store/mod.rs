//! Where jobs and their results live. [`Store`] is the interface the queue
//! and the API use; [`sqlite::Sqlite`] is the default implementation, one
//! file per server.
//!
//! # Several replicas
//!
//! A PostgreSQL implementation of the same trait lets several replicas
//! share one queue: `claim` becomes `UPDATE jobs SET status = 'running' …
//! WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq
//! FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *` so that exactly one replica
//! takes each job, every replica polls for queued jobs instead of relying on
//! its in-process channel, and `recover` only touches jobs whose `owner`
//! column names the replica that restarts (each replica writes its id and a
//! heartbeat; a job whose owner's heartbeat stopped is interrupted by
//! whichever replica notices). Nothing else changes: the API and workers
//! see only this trait.

pub mod sqlite;

use async_trait::async_trait;

use super::api::{CallbackState, Counts, JobStatus, ScanRequest, Summary};
use crate::Result;

/// One job as stored.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id (a UUID).
    pub id: String,
    /// Where it stands.
    pub status: JobStatus,
    /// The request, callback token included (the store is private to the server).
    pub request: ScanRequest,
    /// The run id of its cluster objects, set before they are created.
    pub run_id: Option<String>,
    /// Unix milliseconds.
    pub created_ms: i64,
    /// When a worker took it.
    pub started_ms: Option<i64>,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// Why it could not run.
    pub error: Option<String>,
    /// Counts, once scanned.
    pub summary: Option<Summary>,
    /// 1 + retries.
    pub attempts: u32,
    /// Callback delivery.
    pub callback: Option<CallbackState>,
}

impl Job {
    /// A new job with id `id`, queued now, not yet tried.
    pub fn queued(id: String, request: ScanRequest) -> Self {
        Job {
            id,
            status: JobStatus::Queued,
            request,
            run_id: None,
            created_ms: now_ms(),
            started_ms: None,
            finished_ms: None,
            error: None,
            summary: None,
            attempts: 1,
            callback: None,
        }
    }
}

/// One result file of a job.
#[derive(Debug, Clone)]
pub struct ResultFile {
    /// `POD.CONTAINER.hdf.json`.
    pub name: String,
    /// The HDF document.
    pub body: Vec<u8>,
}

/// One container's part of one finished job: a point of its history.
///
/// A target is its workload, not its pod (`namespace`, `Kind/name` of the
/// owner, container; see [`crate::scan::workload_id`]), so the history of a
/// Deployment's container goes on across pod restarts and rollouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRun {
    /// Position in the store, newest highest (the paging cursor); 0 before
    /// it is stored.
    pub seq: i64,
    /// The job.
    pub job_id: String,
    /// The workload's namespace.
    pub namespace: String,
    /// `Kind/name` of the workload (`Pod/<pod>` for a bare pod).
    pub workload: String,
    /// The container.
    pub container: String,
    /// The pod that was scanned.
    pub pod: String,
    /// When the job ended (Unix milliseconds).
    pub finished_ms: i64,
    /// The job's verdict (`passed`, `failed`, or `error` when teardown left
    /// objects; the gate judges the job as a whole).
    pub status: JobStatus,
    /// Its controls by status, and compliance.
    pub counts: Counts,
}

/// The persistent store of jobs and results.
#[async_trait]
pub trait Store: Send + Sync {
    /// Add a new job.
    async fn insert(&self, job: &Job) -> Result<()>;
    /// One job.
    async fn get(&self, id: &str) -> Result<Option<Job>>;
    /// Write `job` back if its stored status is still `expected`; whether it was.
    async fn update_if(&self, job: &Job, expected: JobStatus) -> Result<bool>;
    /// Jobs with `status`, oldest first.
    async fn with_status(&self, status: JobStatus) -> Result<Vec<Job>>;
    /// How many jobs have `status`.
    async fn count(&self, status: JobStatus) -> Result<usize>;
    /// The latest `limit` jobs whose target is in one of `namespaces`, newest first.
    async fn recent(&self, namespaces: &[String], limit: usize) -> Result<Vec<Job>>;
    /// Store the result files of a job (replacing earlier ones).
    async fn put_results(&self, id: &str, files: Vec<ResultFile>) -> Result<()>;
    /// The result files of a job, in target order.
    async fn results(&self, id: &str) -> Result<Vec<ResultFile>>;
    /// Record the per-target points of a finished job.
    async fn put_target_runs(&self, runs: Vec<TargetRun>) -> Result<()>;
    /// The history of one target (`namespace`, `Kind/name`, container),
    /// newest first: at most `limit` points older than `before` (a
    /// [`TargetRun::seq`]), or the newest without it.
    async fn target_runs(
        &self,
        namespace: &str,
        workload: &str,
        container: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TargetRun>>;
    /// Remove the jobs that ended before `cutoff_ms`, with their results and
    /// history points; how many jobs were removed. Queued and running jobs
    /// stay, however old.
    async fn prune(&self, cutoff_ms: i64) -> Result<usize>;
    /// Remember that `--watch` queued a scan of (`uid`, `container`,
    /// `digest`); whether it was new. Atomic across replicas, so a
    /// container is scanned once even while leadership changes hands.
    async fn first_seen(&self, uid: &str, container: &str, digest: &str) -> Result<bool>;
    /// Forget the containers of a deleted pod.
    async fn forget_pod(&self, uid: &str) -> Result<()>;
    /// The value stored under `key`, storing `value` first when there is
    /// none (the first writer wins; every replica reads the same).
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 for stored milliseconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
