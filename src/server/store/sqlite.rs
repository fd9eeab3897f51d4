//! The SQLite store: one database file (mode 0600, WAL journal), a
//! connection behind a mutex, every call on the blocking pool. Processes
//! that share the file are on one host: a replica's lease also names its
//! process id, so the jobs of a process that is gone (a restart) are
//! orphans at once, without waiting for its lease to run out.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{Job, ResultFile, Store, TargetRun};
use crate::error::{Error, Result};
use crate::server::api::{Counts, JobStatus};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL,
    request     TEXT NOT NULL,
    run_id      TEXT,
    created_ms  INTEGER NOT NULL,
    started_ms  INTEGER,
    finished_ms INTEGER,
    error       TEXT,
    summary     TEXT,
    attempts    INTEGER NOT NULL,
    callback    TEXT,
    owner       TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS results (
    job_id   TEXT NOT NULL,
    position INTEGER NOT NULL,
    name     TEXT NOT NULL,
    body     BLOB NOT NULL,
    PRIMARY KEY (job_id, position)
);
CREATE TABLE IF NOT EXISTS target_runs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    workload    TEXT NOT NULL,
    container   TEXT NOT NULL,
    pod         TEXT NOT NULL,
    finished_ms INTEGER NOT NULL,
    status      TEXT NOT NULL,
    passed      INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    error       INTEGER NOT NULL,
    no_impact   INTEGER NOT NULL,
    compliance  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS target_runs_target ON target_runs (namespace, workload, container, seq);
CREATE INDEX IF NOT EXISTS target_runs_job ON target_runs (job_id);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_ms);
CREATE TABLE IF NOT EXISTS watch_seen (
    uid       TEXT NOT NULL,
    container TEXT NOT NULL,
    digest    TEXT NOT NULL,
    seen_ms   INTEGER NOT NULL,
    PRIMARY KEY (uid, container, digest)
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replicas (
    id         TEXT PRIMARY KEY,
    pid        INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
";

/// Jobs and results in one SQLite file.
#[derive(Clone)]
pub struct Sqlite {
    conn: Arc<Mutex<Connection>>,
}

impl Sqlite {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::input(format!("--db: cannot create {}", dir.display())).with_source(e))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| Error::input(format!("--db {}: cannot open the database", path.display())).with_source(e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            Error::input(format!("--db {}: cannot make it private (0600)", path.display())).with_source(e)
        })?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "busy_timeout", 5000))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .and_then(|()| add_columns(&conn))
            .map_err(|e| {
                Error::input(format!("--db {}: not a usable kscan database", path.display())).with_source(e)
            })?;
        Ok(Sqlite { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::scan(format!("store: {what}: the task failed: {e}")))?
        .map_err(|e| Error::scan(format!("store: {what} failed")).with_source(e))
    }
}

/// Write `job` if its stored status is `expected` and its owner unchanged
/// ([`Store::update_if`]); whether it was.
fn update_job(c: &Connection, job: &Job, expected: JobStatus) -> rusqlite::Result<bool> {
    c.execute(
        "UPDATE jobs SET status = ?2, run_id = ?3, started_ms = ?4, finished_ms = ?5, error = ?6, \
         summary = ?7, attempts = ?8, callback = ?9 WHERE id = ?1 AND status = ?10 AND owner IS ?11",
        params![
            job.id,
            job.status.as_str(),
            job.run_id,
            job.started_ms,
            job.finished_ms,
            job.error,
            job.summary.as_ref().map(json),
            job.attempts,
            job.callback.as_ref().map(json),
            expected.as_str(),
            job.owner,
        ],
    )
    .map(|n| n == 1)
}

/// The result files of job `id` become `files`, in order.
fn replace_results(c: &Connection, id: &str, files: &[ResultFile]) -> rusqlite::Result<()> {
    c.execute("DELETE FROM results WHERE job_id = ?1", [id])?;
    for (i, f) in files.iter().enumerate() {
        c.execute(
            "INSERT INTO results (job_id, position, name, body) VALUES (?1, ?2, ?3, ?4)",
            params![id, i as i64, f.name, f.body],
        )?;
    }
    Ok(())
}

/// Add history points.
fn insert_target_runs(c: &Connection, runs: &[TargetRun]) -> rusqlite::Result<()> {
    for r in runs {
        c.execute(
            "INSERT INTO target_runs (job_id, namespace, workload, container, pod, finished_ms, status, \
             passed, failed, skipped, error, no_impact, compliance) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                r.job_id,
                r.namespace,
                r.workload,
                r.container,
                r.pod,
                r.finished_ms,
                r.status.as_str(),
                r.counts.passed as i64,
                r.counts.failed as i64,
                r.counts.skipped as i64,
                r.counts.error as i64,
                r.counts.no_impact as i64,
                r.counts.compliance as i64,
            ],
        )?;
    }
    Ok(())
}

/// Whether process `pid` on this host still runs (a process of another
/// user counts: it exists).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Files of earlier releases lack the `owner` and `cancel_requested` columns: add them.
fn add_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (column, ddl) in [
        ("owner", "ALTER TABLE jobs ADD COLUMN owner TEXT"),
        ("cancel_requested", "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0"),
    ] {
        let has: bool =
            conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('jobs') WHERE name = ?1", [column], |r| {
                r.get(0)
            })?;
        if !has {
            conn.execute_batch(ddl)?;
        }
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("API types serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, index: usize) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e)))
}

/// The job status in column `status` of `row`.
fn status_of(row: &Row<'_>) -> rusqlite::Result<JobStatus> {
    let status: String = row.get("status")?;
    let index = row.as_ref().column_index("status")?;
    JobStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown job status {status:?}").into(),
        )
    })
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let status = status_of(row)?;
    let request: String = row.get("request")?;
    let summary: Option<String> = row.get("summary")?;
    let callback: Option<String> = row.get("callback")?;
    Ok(Job {
        id: row.get("id")?,
        status,
        request: from_json(&request, 3)?,
        run_id: row.get("run_id")?,
        created_ms: row.get("created_ms")?,
        started_ms: row.get("started_ms")?,
        finished_ms: row.get("finished_ms")?,
        error: row.get("error")?,
        summary: summary.as_deref().map(|s| from_json(s, 9)).transpose()?,
        attempts: row.get("attempts")?,
        callback: callback.as_deref().map(|s| from_json(s, 11)).transpose()?,
        owner: row.get("owner")?,
    })
}

fn target_run_from_row(row: &Row<'_>) -> rusqlite::Result<TargetRun> {
    let status = status_of(row)?;
    let count = |name: &str| row.get::<_, i64>(name).map(|n| n.max(0) as u64);
    Ok(TargetRun {
        seq: row.get("seq")?,
        job_id: row.get("job_id")?,
        namespace: row.get("namespace")?,
        workload: row.get("workload")?,
        container: row.get("container")?,
        pod: row.get("pod")?,
        finished_ms: row.get("finished_ms")?,
        status,
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

#[async_trait]
impl Store for Sqlite {
    async fn insert(&self, job: &Job) -> Result<()> {
        let job = job.clone();
        self.with("insert", move |c| {
            c.execute(
                "INSERT INTO jobs (id, status, request, run_id, created_ms, started_ms, finished_ms, error, summary, \
                 attempts, callback, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    job.id,
                    job.status.as_str(),
                    json(&job.request),
                    job.run_id,
                    job.created_ms,
                    job.started_ms,
                    job.finished_ms,
                    job.error,
                    job.summary.as_ref().map(json),
                    job.attempts,
                    job.callback.as_ref().map(json),
                    job.owner,
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<Job>> {
        let id = id.to_owned();
        self.with("get", move |c| c.query_row("SELECT * FROM jobs WHERE id = ?1", [id], job_from_row).optional()).await
    }

    async fn update_if(&self, job: &Job, expected: JobStatus) -> Result<bool> {
        let job = job.clone();
        self.with("update", move |c| update_job(c, &job, expected)).await
    }

    async fn finish(
        &self,
        job: &Job,
        expected: JobStatus,
        files: Vec<ResultFile>,
        runs: Vec<TargetRun>,
    ) -> Result<bool> {
        let job = job.clone();
        self.with("finish", move |c| {
            let tx = c.transaction()?;
            // Dropping the transaction rolls it back: nothing of a job this
            // replica no longer owns is written.
            if !update_job(&tx, &job, expected)? {
                return Ok(false);
            }
            if !files.is_empty() {
                replace_results(&tx, &job.id, &files)?;
            }
            insert_target_runs(&tx, &runs)?;
            tx.commit().map(|()| true)
        })
        .await
    }

    async fn claim(&self, owner: &str, run_id: &str, started_ms: i64) -> Result<Option<Job>> {
        let (owner, run_id) = (owner.to_owned(), run_id.to_owned());
        self.with("claim", move |c| {
            c.query_row(
                "UPDATE jobs SET status = 'running', owner = ?1, run_id = ?2, started_ms = ?3, cancel_requested = 0 \
                 WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) RETURNING *",
                params![owner, run_id, started_ms],
                job_from_row,
            )
            .optional()
        })
        .await
    }

    async fn request_cancel(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.with("request a cancel", move |c| {
            c.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND status = 'running'", [id]).map(|n| n == 1)
        })
        .await
    }

    async fn cancel_requests(&self, owner: &str) -> Result<Vec<String>> {
        let owner = owner.to_owned();
        self.with("read cancel requests", move |c| {
            let mut stmt = c.prepare(
                "SELECT id FROM jobs WHERE owner = ?1 AND status = 'running' AND cancel_requested = 1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([owner], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    async fn heartbeat(&self, replica: &str, lease: std::time::Duration) -> Result<()> {
        let replica = replica.to_owned();
        let expires = super::now_ms().saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        self.with("heartbeat", move |c| {
            c.execute(
                "INSERT INTO replicas (id, pid, expires_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, expires_ms = excluded.expires_ms",
                params![replica, std::process::id(), expires],
            )
            .map(drop)
        })
        .await
    }

    async fn leave(&self, replica: &str) -> Result<()> {
        let replica = replica.to_owned();
        self.with("leave", move |c| c.execute("DELETE FROM replicas WHERE id = ?1", [replica]).map(drop)).await
    }

    async fn adopt_orphans(&self, replica: &str) -> Result<Vec<Job>> {
        let replica = replica.to_owned();
        self.with("adopt", move |c| {
            // One transaction on the one connection: nobody adopts between
            // the look and the update.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = super::now_ms();
            let live: Vec<(String, u32)> = {
                let mut stmt = tx.prepare("SELECT id, pid FROM replicas WHERE expires_ms > ?1")?;
                let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let live: Vec<String> = live.into_iter().filter(|(_, pid)| process_alive(*pid)).map(|(id, _)| id).collect();
            let mut stmt = tx.prepare(
                "UPDATE jobs SET owner = ?1 WHERE status = 'running' AND owner IS NOT ?1 \
                 AND (owner IS NULL OR owner NOT IN (SELECT value FROM json_each(?2))) RETURNING *",
            )?;
            let live = serde_json::to_string(&live).expect("names serialize");
            let rows = stmt.query_map(params![replica, live], job_from_row)?;
            let mut jobs = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            tx.commit()?;
            jobs.sort_by_key(|j| j.created_ms);
            Ok(jobs)
        })
        .await
    }

    async fn with_status(&self, status: JobStatus) -> Result<Vec<Job>> {
        self.with("list", move |c| {
            let mut stmt = c.prepare("SELECT * FROM jobs WHERE status = ?1 ORDER BY seq")?;
            let rows = stmt.query_map([status.as_str()], job_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn count(&self, status: JobStatus) -> Result<usize> {
        self.with("count", move |c| {
            c.query_row("SELECT COUNT(*) FROM jobs WHERE status = ?1", [status.as_str()], |r| r.get::<_, i64>(0))
                .map(|n| n as usize)
        })
        .await
    }

    async fn recent(&self, namespaces: &[String], limit: usize) -> Result<Vec<Job>> {
        let namespaces = serde_json::to_string(namespaces).expect("names serialize");
        self.with("list", move |c| {
            let mut stmt = c.prepare(
                "SELECT * FROM jobs WHERE json_extract(request, '$.target.namespace') IN \
                 (SELECT value FROM json_each(?1)) ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![namespaces, limit as i64], job_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn put_results(&self, id: &str, files: Vec<ResultFile>) -> Result<()> {
        let id = id.to_owned();
        self.with("store results", move |c| {
            let tx = c.transaction()?;
            replace_results(&tx, &id, &files)?;
            tx.commit()
        })
        .await
    }

    async fn results(&self, id: &str) -> Result<Vec<ResultFile>> {
        let id = id.to_owned();
        self.with("read results", move |c| {
            let mut stmt = c.prepare("SELECT name, body FROM results WHERE job_id = ?1 ORDER BY position")?;
            let rows = stmt.query_map([id], |r| Ok(ResultFile { name: r.get(0)?, body: r.get(1)? }))?;
            rows.collect()
        })
        .await
    }

    async fn put_target_runs(&self, runs: Vec<TargetRun>) -> Result<()> {
        self.with("store history", move |c| {
            let tx = c.transaction()?;
            insert_target_runs(&tx, &runs)?;
            tx.commit()
        })
        .await
    }

    async fn target_runs(
        &self,
        namespace: &str,
        workload: &str,
        container: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TargetRun>> {
        let key = (namespace.to_owned(), workload.to_owned(), container.to_owned());
        self.with("read history", move |c| {
            let mut stmt = c.prepare(
                "SELECT * FROM target_runs WHERE namespace = ?1 AND workload = ?2 AND container = ?3 \
                 AND seq < ?4 ORDER BY seq DESC LIMIT ?5",
            )?;
            let rows = stmt.query_map(
                params![key.0, key.1, key.2, before.unwrap_or(i64::MAX), limit as i64],
                target_run_from_row,
            )?;
            rows.collect()
        })
        .await
    }

    async fn prune(&self, cutoff_ms: i64) -> Result<usize> {
        let done: Vec<&'static str> =
            JobStatus::ALL.into_iter().filter(|s| s.is_final()).map(JobStatus::as_str).collect();
        let done = serde_json::to_string(&done).expect("names serialize");
        self.with("prune", move |c| {
            // One transaction: a job and its results and history go together.
            let tx = c.transaction()?;
            let old = "SELECT id FROM jobs WHERE finished_ms < ?1 AND status IN (SELECT value FROM json_each(?2))";
            tx.execute(&format!("DELETE FROM target_runs WHERE job_id IN ({old})"), params![cutoff_ms, done])?;
            tx.execute(&format!("DELETE FROM results WHERE job_id IN ({old})"), params![cutoff_ms, done])?;
            let n = tx.execute(&format!("DELETE FROM jobs WHERE id IN ({old})"), params![cutoff_ms, done])?;
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn first_seen(&self, uid: &str, container: &str, digest: &str) -> Result<bool> {
        let key = (uid.to_owned(), container.to_owned(), digest.to_owned());
        self.with("remember a watched container", move |c| {
            c.execute(
                "INSERT OR IGNORE INTO watch_seen (uid, container, digest, seen_ms) VALUES (?1, ?2, ?3, ?4)",
                params![key.0, key.1, key.2, super::now_ms()],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn forget_pod(&self, uid: &str) -> Result<()> {
        let uid = uid.to_owned();
        self.with("forget a pod", move |c| c.execute("DELETE FROM watch_seen WHERE uid = ?1", [uid]).map(drop)).await
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.with("read a setting", move |c| {
            c.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)", params![key, value])?;
            c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.with("ping", |c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

#[cfg(test)]
mod tests {
    // The store contract both stores keep is checked in tests/store.rs.
    use super::*;

    #[test]
    fn a_file_that_is_not_a_database_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, "not sqlite at all, just text that is long enough to be read as a header").unwrap();
        let err = Sqlite::open(&path).err().expect("junk must be refused");
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains("junk.db"), "{err}");
    }
}
