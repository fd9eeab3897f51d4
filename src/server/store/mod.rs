//! Where jobs and their results live. [`Store`] is the interface the queue
//! and the API use; [`sqlite::Sqlite`] is the default implementation, one
//! file per server; [`postgres::Postgres`] lets several replicas share one
//! queue. [`Location`] is what `--db` names.
//!
//! # Several replicas
//!
//! Each replica has an id ([`crate::server::lease::identity`], or
//! `--replica-id`) and a lease in the store that it renews
//! ([`Store::heartbeat`]). A worker takes a job with [`Store::claim`], which
//! moves the oldest queued job to `running` and names the worker's replica
//! in its `owner`, atomically: in PostgreSQL `UPDATE jobs SET status =
//! 'running' … WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued'
//! ORDER BY seq FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *`, so exactly one
//! replica takes each job. Running jobs whose owner's lease ran out are taken
//! over by whichever live replica notices first ([`Store::adopt_orphans`]:
//! one conditional update moves them to the new owner), which then removes
//! their cluster objects and marks them interrupted, as a restart does.
//! [`Store::update_if`] also requires the owner to be unchanged, so a replica
//! that lost a job to a peer cannot overwrite the peer's verdict.
//!
//! Processes that share a SQLite file are on one host: its leases also
//! record the process id, so the running jobs of a process that is gone are
//! orphans at once and a restart interrupts them at once, as it always did.

pub mod postgres;
pub mod sqlite;

use std::time::Duration;

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
    /// The replica that claimed it last; `None` until claimed.
    pub owner: Option<String>,
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
            owner: None,
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
    /// Write `job` back if its stored status is still `expected` and its
    /// stored owner is still `job.owner`; whether it was. The owner itself is
    /// never written here: only [`Store::claim`] and [`Store::adopt_orphans`]
    /// change it.
    async fn update_if(&self, job: &Job, expected: JobStatus) -> Result<bool>;
    /// Write the ended `job` as [`Store::update_if`] does and, only when that
    /// write happened, its result `files` (replacing earlier ones, unless
    /// empty) and its history points, in one transaction; whether it was
    /// written. A replica killed before it commits leaves no history behind
    /// for the job its peer then runs again, and one that lost the job to a
    /// peer writes nothing.
    async fn finish(
        &self,
        job: &Job,
        expected: JobStatus,
        files: Vec<ResultFile>,
        runs: Vec<TargetRun>,
    ) -> Result<bool>;
    /// Take the oldest queued job for `owner`: it becomes `running` with
    /// `run_id` and `started_ms`, atomically, so that no other worker of any
    /// replica takes it too. `None` when nothing is queued.
    async fn claim(&self, owner: &str, run_id: &str, started_ms: i64) -> Result<Option<Job>>;
    /// Ask the owner of running job `id` to stop it (it may run on another
    /// replica); whether the job was running.
    async fn request_cancel(&self, id: &str) -> Result<bool>;
    /// The running jobs of `owner` whose cancel was requested.
    async fn cancel_requests(&self, owner: &str) -> Result<Vec<String>>;
    /// Renew the lease of replica `replica` for `lease` from now (register it
    /// on the first call).
    async fn heartbeat(&self, replica: &str, lease: Duration) -> Result<()>;
    /// Give up the lease of `replica` (a clean stop, its jobs ended): its
    /// peers need not wait for it to run out.
    async fn leave(&self, replica: &str) -> Result<()>;
    /// Running jobs whose owner is gone (its lease ran out, or it never had
    /// one) now belong to `replica`, which is alive; they are returned for it
    /// to clean up and interrupt. Each is moved by one conditional update, so
    /// two replicas never adopt the same job.
    async fn adopt_orphans(&self, replica: &str) -> Result<Vec<Job>>;
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

/// What `--db` names: a SQLite file, or a PostgreSQL URL
/// (`postgres://` or `postgresql://`). Its `Debug` and `Display` never show
/// a password.
#[derive(Clone)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection URL (it may hold a password).
    Postgres(String),
}

impl Location {
    /// `postgres://…` and `postgresql://…` are PostgreSQL; anything else is a path.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else {
            Location::Sqlite(text.into())
        }
    }

    /// Open the store: create or migrate its schema.
    pub async fn open(&self, pool_size: usize) -> Result<std::sync::Arc<dyn Store>> {
        Ok(match self {
            Location::Sqlite(path) => std::sync::Arc::new(sqlite::Sqlite::open(path)?),
            Location::Postgres(url) => std::sync::Arc::new(postgres::Postgres::connect(url, pool_size).await?),
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&postgres::redact_url(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
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
