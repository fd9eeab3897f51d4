//! The PostgreSQL store: several `kscan serve` replicas share one queue.
//!
//! It owns the connection (a small pool: workers and API handlers query at
//! once, and a transaction needs a connection of its own), the schema and
//! its migrations, claiming with `FOR UPDATE SKIP LOCKED`, and the replicas'
//! leases. The URL's password is never shown: [`redact_url`] is what
//! messages print, and error texts of the driver are scrubbed of it.
//!
//! Migrations are the numbered files of `migrations/`, embedded in the
//! binary. At start they are applied in one transaction under
//! `pg_advisory_xact_lock`, so replicas that start together apply each once;
//! a database whose schema is newer than this binary knows is refused
//! (exit 2), so an old replica never writes rows it does not understand.
//!
//! TLS is not built in yet: `sslmode=disable` and `prefer` (which then
//! connects without TLS) are accepted; `require`, `verify-ca` and
//! `verify-full` are refused rather than silently connecting in plaintext.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use tokio_postgres::{Error as PgError, NoTls, Row};

use super::{Job, ResultFile, Store, TargetRun};
use crate::error::{Error, Result};
use crate::server::api::{CallbackState, Counts, JobStatus, ScanRequest, Summary};

/// The schema versions this binary knows, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "jobs", include_str!("migrations/0001_jobs.sql")),
    (2, "history", include_str!("migrations/0002_history.sql")),
    (3, "watch", include_str!("migrations/0003_watch.sql")),
    (4, "cancel", include_str!("migrations/0004_cancel.sql")),
];

/// `pg_advisory_xact_lock` key of schema migrations ("kscan" 1).
const MIGRATION_LOCK: i64 = 0x6b73_6361_6e01;
/// `pg_try_advisory_xact_lock` key of orphan adoption ("kscan" 2).
const ADOPTION_LOCK: i64 = 0x6b73_6361_6e02;

/// Jobs, results and replica leases in a PostgreSQL database.
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
}

/// `url` as it may be shown: the password (in the user part or a
/// `password=` parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (mut authority, mut tail) = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => userinfo.to_owned(),
            };
            (format!("{user}@"), rest[at + 1..].to_owned())
        }
        None => (String::new(), rest.to_owned()),
    };
    if let Some((before, query)) = tail.split_once('?') {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        tail = format!("{before}?{}", params.join("&"));
    }
    authority.push_str(&tail);
    format!("{scheme}://{authority}")
}

/// Replaces every form of a secret in texts that may have seen it.
struct Scrub(Vec<String>);

impl Scrub {
    fn text(&self, text: impl Into<String>) -> String {
        let mut text = text.into();
        for secret in self.0.iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

/// An error and its causes, one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// The value of `sslmode` in the URL's query, if given.
fn sslmode(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == "sslmode").map(|(_, v)| v.to_owned())
}

impl Postgres {
    /// Connect to `url` (`postgres://` or `postgresql://`), with at most
    /// `pool_size` connections, and bring the schema up to date.
    ///
    /// A malformed URL, an unsupported `sslmode`, refused credentials, a
    /// missing database and a newer schema are input errors (exit 2); a
    /// server that cannot be reached is exit 3.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self> {
        let shown = redact_url(url);
        let mut scrub = Scrub(Vec::new());
        if let Some((_, rest)) = url.split_once("://") {
            if let Some((userinfo, _)) = rest.rsplit_once('@') {
                if let Some((_, password)) = userinfo.split_once(':') {
                    scrub.0.push(password.to_owned());
                }
            }
        }
        match sslmode(url).as_deref() {
            None | Some("disable" | "prefer") => {}
            Some(mode @ ("require" | "verify-ca" | "verify-full")) => {
                return Err(Error::input(format!(
                    "--db {shown}: sslmode={mode} needs TLS, which this kscan does not support for PostgreSQL yet; \
                     use sslmode=disable on a network you trust (or a TLS proxy beside kscan)"
                )))
            }
            Some(mode) => {
                return Err(Error::input(format!(
                    "--db {shown}: sslmode={} is not one of disable, prefer (without TLS)",
                    scrub.text(mode)
                )))
            }
        }
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            Error::input(format!("--db {shown}: not a usable PostgreSQL URL: {}", scrub.text(chain(&e))))
        })?;
        if let Some(password) = config.get_password() {
            scrub.0.push(String::from_utf8_lossy(password).into_owned());
        }
        if config.get_password().is_none() {
            // The password may come from the environment (a Secret) instead of the URL.
            if let Some(password) = std::env::var_os("PGPASSWORD") {
                let password = password.to_string_lossy().into_owned();
                config.password(password.clone());
                scrub.0.push(password);
            }
        }
        if config.get_user().is_none() {
            return Err(Error::input(format!("--db {shown}: the URL names no user (postgres://USER@HOST/DB)")));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("kscan serve");
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(15)))
            .wait_timeout(Some(Duration::from_secs(60)))
            .build()
            .map_err(|e| Error::input(format!("--db {shown}: cannot set up connections: {e}")))?;
        let mut client = pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => connect_error(&shown, &scrub, &e),
            other => Error::scan(format!("--db {shown}: cannot connect to PostgreSQL: {}", scrub.text(chain(&other)))),
        })?;
        migrate(&mut client).await.map_err(|e| match e {
            Migration::Newer(found) => Error::input(format!(
                "--db {shown}: the database's schema is version {found}, newer than this kscan knows ({}); \
                 run a kscan at least as new as the one that migrated it",
                MIGRATIONS.last().map_or(0, |m| m.0)
            )),
            Migration::Failed(e) => {
                Error::scan(format!("--db {shown}: cannot migrate the schema: {}", scrub.text(chain(&e))))
            }
        })?;
        Ok(Postgres { pool })
    }

    async fn client(&self, what: &str) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| Error::scan(format!("store: {what}: no connection")).with_source(e))
    }
}

/// Refused credentials and a missing database are the URL's fault (exit 2);
/// anything else is the server's or the network's (exit 3).
fn connect_error(shown: &str, scrub: &Scrub, e: &tokio_postgres::Error) -> Error {
    let detail = scrub.text(chain(e));
    match e.code() {
        Some(c) if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            Error::input(format!("--db {shown}: PostgreSQL refused the credentials: {detail}"))
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => {
            Error::input(format!("--db {shown}: no such database: {detail}"))
        }
        _ => Error::scan(format!("--db {shown}: cannot connect to PostgreSQL: {detail}")),
    }
}

/// Why the schema could not be brought up to date.
enum Migration {
    /// The database is at this version, above the newest known.
    Newer(i32),
    /// A statement failed.
    Failed(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Migration {
    fn from(e: tokio_postgres::Error) -> Self {
        Migration::Failed(e)
    }
}

/// Apply the migrations the database lacks, in one transaction, under an
/// advisory lock that replicas starting together wait on.
async fn migrate(client: &mut deadpool_postgres::Object) -> std::result::Result<(), Migration> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(Migration::Newer(current));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[version, name]).await?;
        tracing::info!("store: applied schema migration {version} ({name})");
    }
    tx.commit().await?;
    Ok(())
}

fn bad_row(what: String) -> Error {
    Error::scan(format!("store: a stored job is not readable: {what}"))
}

fn job_from_row(row: &Row) -> Result<Job> {
    let get = |e: tokio_postgres::Error| bad_row(e.to_string());
    let status: String = row.try_get("status").map_err(get)?;
    let status = JobStatus::parse(&status).ok_or_else(|| bad_row(format!("unknown job status {status:?}")))?;
    let attempts: i32 = row.try_get("attempts").map_err(get)?;
    Ok(Job {
        id: row.try_get("id").map_err(get)?,
        status,
        request: row.try_get::<_, Json<ScanRequest>>("request").map_err(get)?.0,
        run_id: row.try_get("run_id").map_err(get)?,
        created_ms: row.try_get("created_ms").map_err(get)?,
        started_ms: row.try_get("started_ms").map_err(get)?,
        finished_ms: row.try_get("finished_ms").map_err(get)?,
        error: row.try_get("error").map_err(get)?,
        summary: row.try_get::<_, Option<Json<Summary>>>("summary").map_err(get)?.map(|j| j.0),
        attempts: u32::try_from(attempts).map_err(|_| bad_row(format!("attempts {attempts}")))?,
        callback: row.try_get::<_, Option<Json<CallbackState>>>("callback").map_err(get)?.map(|j| j.0),
        owner: row.try_get("owner").map_err(get)?,
    })
}

fn jobs_from_rows(rows: &[Row]) -> Result<Vec<Job>> {
    rows.iter().map(job_from_row).collect()
}

fn target_run_from_row(row: &Row) -> Result<TargetRun> {
    let get = |e: tokio_postgres::Error| Error::scan(format!("store: a history point is not readable: {e}"));
    let count = |name: &str| -> Result<u64> {
        let n: i64 = row.try_get(name).map_err(get)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let status: String = row.try_get("status").map_err(get)?;
    Ok(TargetRun {
        seq: row.try_get("seq").map_err(get)?,
        job_id: row.try_get("job_id").map_err(get)?,
        namespace: row.try_get("namespace").map_err(get)?,
        workload: row.try_get("workload").map_err(get)?,
        container: row.try_get("container").map_err(get)?,
        pod: row.try_get("pod").map_err(get)?,
        finished_ms: row.try_get("finished_ms").map_err(get)?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| Error::scan(format!("store: a history point has unknown status {status:?}")))?,
        counts: Counts {
            passed: count("passed")?,
            failed: count("failed")?,
            skipped: count("skipped")?,
            error: count("error")?,
            no_impact: count("no_impact")?,
            compliance: count("compliance")?,
        },
    })
}

fn failed(what: &str) -> impl FnOnce(tokio_postgres::Error) -> Error + '_ {
    move |e| Error::scan(format!("store: {what} failed")).with_source(e)
}

fn attempts(job: &Job) -> i32 {
    i32::try_from(job.attempts).unwrap_or(i32::MAX)
}

/// Write `job` if its stored status is `expected` and its owner unchanged
/// ([`Store::update_if`]); whether it was.
async fn update_job(c: &impl GenericClient, job: &Job, expected: JobStatus) -> std::result::Result<bool, PgError> {
    let n = c
        .execute(
            "UPDATE jobs SET status = $2, run_id = $3, started_ms = $4, finished_ms = $5, error = $6, \
             summary = $7, attempts = $8, callback = $9 \
             WHERE id = $1 AND status = $10 AND owner IS NOT DISTINCT FROM $11",
            &[
                &job.id,
                &job.status.as_str(),
                &job.run_id,
                &job.started_ms,
                &job.finished_ms,
                &job.error,
                &job.summary.as_ref().map(Json),
                &attempts(job),
                &job.callback.as_ref().map(Json),
                &expected.as_str(),
                &job.owner,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// The result files of job `id` become `files`, in order.
async fn replace_results(c: &impl GenericClient, id: &str, files: &[ResultFile]) -> std::result::Result<(), PgError> {
    c.execute("DELETE FROM results WHERE job_id = $1", &[&id]).await?;
    for (i, f) in files.iter().enumerate() {
        let position = i32::try_from(i).unwrap_or(i32::MAX);
        c.execute(
            "INSERT INTO results (job_id, position, name, body) VALUES ($1, $2, $3, $4)",
            &[&id, &position, &f.name, &f.body],
        )
        .await?;
    }
    Ok(())
}

/// Add history points.
async fn insert_target_runs(c: &impl GenericClient, runs: &[TargetRun]) -> std::result::Result<(), PgError> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    for r in runs {
        c.execute(
            "INSERT INTO target_runs (job_id, namespace, workload, container, pod, finished_ms, status, \
             passed, failed, skipped, error, no_impact, compliance) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &r.job_id,
                &r.namespace,
                &r.workload,
                &r.container,
                &r.pod,
                &r.finished_ms,
                &r.status.as_str(),
                &n(r.counts.passed),
                &n(r.counts.failed),
                &n(r.counts.skipped),
                &n(r.counts.error),
                &n(r.counts.no_impact),
                &n(r.counts.compliance),
            ],
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Store for Postgres {
    async fn insert(&self, job: &Job) -> Result<()> {
        let client = self.client("insert").await?;
        client
            .execute(
                "INSERT INTO jobs (id, status, request, run_id, created_ms, started_ms, finished_ms, error, summary, \
                 attempts, callback, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &job.id,
                    &job.status.as_str(),
                    &Json(&job.request),
                    &job.run_id,
                    &job.created_ms,
                    &job.started_ms,
                    &job.finished_ms,
                    &job.error,
                    &job.summary.as_ref().map(Json),
                    &attempts(job),
                    &job.callback.as_ref().map(Json),
                    &job.owner,
                ],
            )
            .await
            .map_err(failed("insert"))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Job>> {
        let client = self.client("get").await?;
        let row = client.query_opt("SELECT * FROM jobs WHERE id = $1", &[&id]).await.map_err(failed("get"))?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn update_if(&self, job: &Job, expected: JobStatus) -> Result<bool> {
        let client = self.client("update").await?;
        update_job(&client, job, expected).await.map_err(failed("update"))
    }

    async fn finish(
        &self,
        job: &Job,
        expected: JobStatus,
        files: Vec<ResultFile>,
        runs: Vec<TargetRun>,
    ) -> Result<bool> {
        let mut client = self.client("finish").await?;
        let tx = client.transaction().await.map_err(failed("finish"))?;
        // Dropping the transaction rolls it back: nothing of a job this
        // replica no longer owns is written.
        if !update_job(&tx, job, expected).await.map_err(failed("finish"))? {
            return Ok(false);
        }
        if !files.is_empty() {
            replace_results(&tx, &job.id, &files).await.map_err(failed("finish"))?;
        }
        insert_target_runs(&tx, &runs).await.map_err(failed("finish"))?;
        tx.commit().await.map_err(failed("finish"))?;
        Ok(true)
    }

    async fn claim(&self, owner: &str, run_id: &str, started_ms: i64) -> Result<Option<Job>> {
        let client = self.client("claim").await?;
        let row = client
            .query_opt(
                "UPDATE jobs SET status = 'running', owner = $1, run_id = $2, started_ms = $3, cancel_requested = false \
                 WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq \
                              FOR UPDATE SKIP LOCKED LIMIT 1) \
                 RETURNING *",
                &[&owner, &run_id, &started_ms],
            )
            .await
            .map_err(failed("claim"))?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn request_cancel(&self, id: &str) -> Result<bool> {
        let client = self.client("request a cancel").await?;
        let n = client
            .execute("UPDATE jobs SET cancel_requested = true WHERE id = $1 AND status = 'running'", &[&id])
            .await
            .map_err(failed("request a cancel"))?;
        Ok(n == 1)
    }

    async fn cancel_requests(&self, owner: &str) -> Result<Vec<String>> {
        let client = self.client("read cancel requests").await?;
        let rows = client
            .query(
                "SELECT id FROM jobs WHERE owner = $1 AND status = 'running' AND cancel_requested ORDER BY seq",
                &[&owner],
            )
            .await
            .map_err(failed("read cancel requests"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn heartbeat(&self, replica: &str, lease: Duration) -> Result<()> {
        let client = self.client("heartbeat").await?;
        let ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        client
            .execute(
                "INSERT INTO replicas (id, heartbeat_at, expires_at) \
                 VALUES ($1, now(), now() + $2::bigint * interval '1 millisecond') \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at, expires_at = EXCLUDED.expires_at",
                &[&replica, &ms],
            )
            .await
            .map_err(failed("heartbeat"))?;
        Ok(())
    }

    async fn leave(&self, replica: &str) -> Result<()> {
        let client = self.client("leave").await?;
        client.execute("DELETE FROM replicas WHERE id = $1", &[&replica]).await.map_err(failed("leave"))?;
        Ok(())
    }

    async fn adopt_orphans(&self, replica: &str) -> Result<Vec<Job>> {
        let mut client = self.client("adopt").await?;
        let tx = client.transaction().await.map_err(failed("adopt"))?;
        // One replica adopts at a time; a replica that finds the lock taken
        // leaves this round to the one holding it. Each statement after the
        // lock sees what the previous holder committed.
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&ADOPTION_LOCK])
            .await
            .map_err(failed("adopt"))?
            .get(0);
        if !locked {
            return Ok(Vec::new());
        }
        let rows = tx
            .query(
                "UPDATE jobs SET owner = $1 \
                 WHERE status = 'running' AND owner IS DISTINCT FROM $1 \
                   AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = jobs.owner AND r.expires_at > now()) \
                 RETURNING *",
                &[&replica],
            )
            .await
            .map_err(failed("adopt"))?;
        // Leases long gone own nothing any more.
        tx.execute(
            "DELETE FROM replicas r WHERE r.expires_at < now() - interval '1 hour' \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.owner = r.id AND j.status = 'running')",
            &[],
        )
        .await
        .map_err(failed("adopt"))?;
        tx.commit().await.map_err(failed("adopt"))?;
        let mut jobs = jobs_from_rows(&rows)?;
        jobs.sort_by_key(|j| j.created_ms);
        Ok(jobs)
    }

    async fn with_status(&self, status: JobStatus) -> Result<Vec<Job>> {
        let client = self.client("list").await?;
        let rows = client
            .query("SELECT * FROM jobs WHERE status = $1 ORDER BY seq", &[&status.as_str()])
            .await
            .map_err(failed("list"))?;
        jobs_from_rows(&rows)
    }

    async fn count(&self, status: JobStatus) -> Result<usize> {
        let client = self.client("count").await?;
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM jobs WHERE status = $1", &[&status.as_str()])
            .await
            .map_err(failed("count"))?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn recent(&self, namespaces: &[String], limit: usize) -> Result<Vec<Job>> {
        let client = self.client("list").await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT * FROM jobs WHERE request -> 'target' ->> 'namespace' = ANY($1) ORDER BY seq DESC LIMIT $2",
                &[&namespaces, &limit],
            )
            .await
            .map_err(failed("list"))?;
        jobs_from_rows(&rows)
    }

    async fn put_results(&self, id: &str, files: Vec<ResultFile>) -> Result<()> {
        let mut client = self.client("store results").await?;
        let tx = client.transaction().await.map_err(failed("store results"))?;
        replace_results(&tx, id, &files).await.map_err(failed("store results"))?;
        tx.commit().await.map_err(failed("store results"))
    }

    async fn results(&self, id: &str) -> Result<Vec<ResultFile>> {
        let client = self.client("read results").await?;
        let rows = client
            .query("SELECT name, body FROM results WHERE job_id = $1 ORDER BY position", &[&id])
            .await
            .map_err(failed("read results"))?;
        rows.iter()
            .map(|r| {
                Ok(ResultFile {
                    name: r.try_get(0).map_err(failed("read results"))?,
                    body: r.try_get(1).map_err(failed("read results"))?,
                })
            })
            .collect()
    }

    async fn put_target_runs(&self, runs: Vec<TargetRun>) -> Result<()> {
        let mut client = self.client("store history").await?;
        let tx = client.transaction().await.map_err(failed("store history"))?;
        insert_target_runs(&tx, &runs).await.map_err(failed("store history"))?;
        tx.commit().await.map_err(failed("store history"))
    }

    async fn target_runs(
        &self,
        namespace: &str,
        workload: &str,
        container: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TargetRun>> {
        let client = self.client("read history").await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT * FROM target_runs WHERE namespace = $1 AND workload = $2 AND container = $3 \
                 AND seq < $4 ORDER BY seq DESC LIMIT $5",
                &[&namespace, &workload, &container, &before.unwrap_or(i64::MAX), &limit],
            )
            .await
            .map_err(failed("read history"))?;
        rows.iter().map(target_run_from_row).collect()
    }

    async fn prune(&self, cutoff_ms: i64) -> Result<usize> {
        let done: Vec<&'static str> =
            JobStatus::ALL.into_iter().filter(|s| s.is_final()).map(JobStatus::as_str).collect();
        let mut client = self.client("prune").await?;
        // One transaction: a job and its results and history go together.
        let tx = client.transaction().await.map_err(failed("prune"))?;
        let ids: Vec<String> = tx
            .query("DELETE FROM jobs WHERE finished_ms < $1 AND status = ANY($2) RETURNING id", &[&cutoff_ms, &done])
            .await
            .map_err(failed("prune"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.execute("DELETE FROM target_runs WHERE job_id = ANY($1)", &[&ids]).await.map_err(failed("prune"))?;
        tx.execute("DELETE FROM results WHERE job_id = ANY($1)", &[&ids]).await.map_err(failed("prune"))?;
        tx.commit().await.map_err(failed("prune"))?;
        Ok(ids.len())
    }

    async fn first_seen(&self, uid: &str, container: &str, digest: &str) -> Result<bool> {
        let client = self.client("remember a watched container").await?;
        let n = client
            .execute(
                "INSERT INTO watch_seen (uid, container, digest, seen_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
                &[&uid, &container, &digest, &super::now_ms()],
            )
            .await
            .map_err(failed("remember a watched container"))?;
        Ok(n == 1)
    }

    async fn forget_pod(&self, uid: &str) -> Result<()> {
        let client = self.client("forget a pod").await?;
        client.execute("DELETE FROM watch_seen WHERE uid = $1", &[&uid]).await.map_err(failed("forget a pod"))?;
        Ok(())
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let client = self.client("read a setting").await?;
        client
            .execute("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&key, &value])
            .await
            .map_err(failed("read a setting"))?;
        let row = client
            .query_one("SELECT value FROM settings WHERE key = $1", &[&key])
            .await
            .map_err(failed("read a setting"))?;
        Ok(row.get(0))
    }

    async fn ping(&self) -> Result<()> {
        let client = self.client("ping").await?;
        client.execute("SELECT 1", &[]).await.map_err(failed("ping"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_the_url_holds_them() {
        assert_eq!(redact_url("postgres://kscan:s3cr%40t@db:5432/kscan"), "postgres://kscan:***@db:5432/kscan");
        assert_eq!(
            redact_url("postgresql://kscan@db/kscan?sslmode=disable"),
            "postgresql://kscan@db/kscan?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://db/kscan?user=k&password=hunter2&sslmode=disable"),
            "postgres://db/kscan?user=k&password=***&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://u:p@ss@db/x"), "postgres://u:***@db/x");
        assert_eq!(sslmode("postgres://db/x?a=b&sslmode=require").as_deref(), Some("require"));
        assert_eq!(sslmode("postgres://db/x"), None);
    }

    #[tokio::test]
    async fn sslmodes_that_need_tls_are_refused_without_connecting() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = format!("postgres://kscan:hunter2@127.0.0.1:1/kscan?sslmode={mode}");
            let err = Postgres::connect(&url, 2).await.err().expect("refused");
            assert_eq!(err.exit_code(), 2, "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("sslmode={mode} needs TLS")), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    }
}
