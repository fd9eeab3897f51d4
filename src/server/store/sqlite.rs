//! The SQLite store: one database file (mode 0600, WAL journal), a
//! connection behind a mutex, every call on the blocking pool.

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
    callback    TEXT
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
                 attempts, callback) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
        self.with("update", move |c| {
            c.execute(
                "UPDATE jobs SET status = ?2, run_id = ?3, started_ms = ?4, finished_ms = ?5, error = ?6, \
                 summary = ?7, attempts = ?8, callback = ?9 WHERE id = ?1 AND status = ?10",
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
                ],
            )
            .map(|n| n == 1)
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
            tx.execute("DELETE FROM results WHERE job_id = ?1", [&id])?;
            for (i, f) in files.iter().enumerate() {
                tx.execute(
                    "INSERT INTO results (job_id, position, name, body) VALUES (?1, ?2, ?3, ?4)",
                    params![id, i as i64, f.name, f.body],
                )?;
            }
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
            for r in &runs {
                tx.execute(
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
    use super::*;
    use crate::server::api::{ScanOptions, ScanSpec, TargetSpec};

    fn job(id: &str) -> Job {
        Job::queued(
            id.into(),
            ScanRequest {
                target: TargetSpec { namespace: "ns".into(), pod: Some("p".into()), selector: None, container: None },
                scan: ScanSpec::default(),
                options: ScanOptions::default(),
                callback: None,
            },
        )
    }

    use crate::server::api::ScanRequest;

    #[tokio::test]
    async fn jobs_survive_reopening_and_updates_are_conditional() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kscan.db");
        {
            let store = Sqlite::open(&path).unwrap();
            store.insert(&job("a")).await.unwrap();
            store.insert(&job("b")).await.unwrap();
            let mut a = store.get("a").await.unwrap().unwrap();
            a.status = JobStatus::Running;
            a.run_id = Some("0123456789".into());
            assert!(store.update_if(&a, JobStatus::Queued).await.unwrap());
            assert!(!store.update_if(&a, JobStatus::Queued).await.unwrap(), "a second claim must fail");
            store
                .put_results("a", vec![ResultFile { name: "p.c.hdf.json".into(), body: b"{}".to_vec() }])
                .await
                .unwrap();
        }
        let store = Sqlite::open(&path).unwrap();
        let running = store.with_status(JobStatus::Running).await.unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].run_id.as_deref(), Some("0123456789"));
        assert_eq!(store.with_status(JobStatus::Queued).await.unwrap()[0].id, "b");
        assert_eq!(store.count(JobStatus::Queued).await.unwrap(), 1);
        assert_eq!(store.count(JobStatus::Passed).await.unwrap(), 0);
        let ids = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
        assert_eq!(ids(store.recent(&["ns".into()], 10).await.unwrap()), ["b", "a"]);
        assert_eq!(ids(store.recent(&["ns".into()], 1).await.unwrap()), ["b"]);
        assert!(store.recent(&["other".into()], 10).await.unwrap().is_empty(), "only the namespaces asked for");
        assert_eq!(store.results("a").await.unwrap()[0].name, "p.c.hdf.json");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    fn point(job: &str, workload: &str, finished_ms: i64, compliance: u64) -> TargetRun {
        TargetRun {
            seq: 0,
            job_id: job.into(),
            namespace: "ns".into(),
            workload: workload.into(),
            container: "app".into(),
            pod: format!("{job}-pod"),
            finished_ms,
            status: JobStatus::Passed,
            counts: Counts { passed: 1, failed: 2, skipped: 3, error: 4, no_impact: 5, compliance },
        }
    }

    #[tokio::test]
    async fn history_pages_newest_first_and_pruning_drops_old_jobs_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(&dir.path().join("kscan.db")).unwrap();
        for (id, finished, compliance) in [("a", 1_000, 50), ("b", 2_000, 60), ("c", 3_000, 70)] {
            let mut j = job(id);
            j.status = JobStatus::Passed;
            j.finished_ms = Some(finished);
            store.insert(&j).await.unwrap();
            store
                .put_results(id, vec![ResultFile { name: "p.app.hdf.json".into(), body: b"{}".to_vec() }])
                .await
                .unwrap();
            store
                .put_target_runs(vec![
                    point(id, "Deployment/web", finished, compliance),
                    point(id, "Pod/x", finished, 0),
                ])
                .await
                .unwrap();
        }
        store.insert(&job("queued-long-ago")).await.unwrap();
        let page = store.target_runs("ns", "Deployment/web", "app", None, 2).await.unwrap();
        assert_eq!(page.iter().map(|r| r.counts.compliance).collect::<Vec<_>>(), [70, 60]);
        assert_eq!(page[0], TargetRun { seq: page[0].seq, ..point("c", "Deployment/web", 3_000, 70) });
        let rest = store.target_runs("ns", "Deployment/web", "app", Some(page[1].seq), 2).await.unwrap();
        assert_eq!(rest.iter().map(|r| r.job_id.as_str()).collect::<Vec<_>>(), ["a"]);
        assert!(store.target_runs("ns", "Deployment/web", "other", None, 9).await.unwrap().is_empty());
        assert!(store.target_runs("other", "Deployment/web", "app", None, 9).await.unwrap().is_empty());

        assert_eq!(store.prune(2_000).await.unwrap(), 1, "only a ended before the cutoff");
        assert!(store.get("a").await.unwrap().is_none());
        assert!(store.results("a").await.unwrap().is_empty());
        let left = store.target_runs("ns", "Deployment/web", "app", None, 9).await.unwrap();
        assert_eq!(left.iter().map(|r| r.job_id.as_str()).collect::<Vec<_>>(), ["c", "b"]);
        assert_eq!(store.target_runs("ns", "Pod/x", "app", None, 9).await.unwrap().len(), 2);
        assert_eq!(store.prune(i64::MAX).await.unwrap(), 2);
        assert!(store.get("queued-long-ago").await.unwrap().is_some(), "a queued job is never pruned");
    }

    #[tokio::test]
    async fn watched_containers_are_new_once_and_settings_keep_their_first_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kscan.db");
        let store = Sqlite::open(&path).unwrap();
        // A second handle on the same file, as a second replica on one host.
        let other = Sqlite::open(&path).unwrap();
        assert!(store.first_seen("u1", "app", "sha256:a").await.unwrap());
        assert!(!other.first_seen("u1", "app", "sha256:a").await.unwrap(), "seen by the other replica");
        assert!(other.first_seen("u1", "app", "sha256:b").await.unwrap(), "a new image is new");
        assert!(store.first_seen("u1", "side", "sha256:a").await.unwrap());
        store.forget_pod("u1").await.unwrap();
        assert!(other.first_seen("u1", "app", "sha256:a").await.unwrap(), "forgotten with its pod");
        assert_eq!(store.setting_or_insert("k", "1").await.unwrap(), "1");
        assert_eq!(other.setting_or_insert("k", "2").await.unwrap(), "1", "the first writer wins");
    }

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
