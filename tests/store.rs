//! The job stores behind the `Store` trait: one body of checks that both
//! SQLite and PostgreSQL must pass, and what only the shared PostgreSQL
//! store does — claims from several replicas at once, leases and their
//! expiry, migrations, connection errors. PostgreSQL is a real server,
//! started per test by `support::postgres`.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kscan::server::api::{Counts, JobStatus, ScanOptions, ScanRequest, ScanSpec, TargetSpec};
use kscan::server::store::postgres::{Postgres, MIGRATIONS};
use kscan::server::store::sqlite::Sqlite;
use kscan::server::store::{Job, ResultFile, Store, TargetRun};
use support::postgres::{self as pg, PASSWORD};

fn job_in(id: &str, namespace: &str) -> Job {
    Job::queued(
        id.into(),
        ScanRequest {
            target: TargetSpec { namespace: namespace.into(), pod: Some("p".into()), selector: None, container: None },
            scan: ScanSpec::default(),
            options: ScanOptions::default(),
            callback: None,
        },
    )
}

fn job(id: &str) -> Job {
    job_in(id, "ns")
}

fn ids(jobs: Vec<Job>) -> Vec<String> {
    jobs.into_iter().map(|j| j.id).collect()
}

/// What every store must do. `open` opens the same store again (a restart).
async fn conformance<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    {
        let store = open().await;
        store.insert(&job("a")).await.unwrap();
        store.insert(&job("b")).await.unwrap();
        let mut a = store.get("a").await.unwrap().unwrap();
        assert_eq!((a.status, a.attempts, a.owner.as_deref()), (JobStatus::Queued, 1, None));
        a.status = JobStatus::Running;
        a.run_id = Some("0123456789".into());
        assert!(store.update_if(&a, JobStatus::Queued).await.unwrap());
        assert!(!store.update_if(&a, JobStatus::Queued).await.unwrap(), "a second claim must fail");
        store.put_results("a", vec![ResultFile { name: "p.c.hdf.json".into(), body: b"{}".to_vec() }]).await.unwrap();
    }
    // Everything survives reopening.
    let store = open().await;
    let running = store.with_status(JobStatus::Running).await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].run_id.as_deref(), Some("0123456789"));
    assert_eq!(store.with_status(JobStatus::Queued).await.unwrap()[0].id, "b");
    assert_eq!(store.count(JobStatus::Queued).await.unwrap(), 1);
    assert_eq!(store.count(JobStatus::Passed).await.unwrap(), 0);
    assert_eq!(ids(store.recent(&["ns".into()], 10).await.unwrap()), ["b", "a"]);
    assert_eq!(ids(store.recent(&["ns".into()], 1).await.unwrap()), ["b"]);
    assert!(store.recent(&["other".into()], 10).await.unwrap().is_empty(), "only the namespaces asked for");
    assert_eq!(store.results("a").await.unwrap()[0].name, "p.c.hdf.json");
    assert!(store.results("b").await.unwrap().is_empty());
    store.ping().await.unwrap();

    // Results are replaced, in order.
    let files = ["2", "1", "3"].map(|n| ResultFile { name: n.into(), body: n.as_bytes().to_vec() });
    store.put_results("a", files.to_vec()).await.unwrap();
    let back = store.results("a").await.unwrap();
    assert_eq!(back.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["2", "1", "3"]);
    assert_eq!(back[2].body, b"3");

    // Claims take the oldest queued job, each once, and name the owner.
    store.insert(&job_in("c", "other")).await.unwrap();
    store.insert(&job("d")).await.unwrap();
    store.heartbeat("r1", Duration::from_secs(60)).await.unwrap();
    let b = store.claim("r1", "run-b", 5).await.unwrap().expect("b is queued");
    assert_eq!(b.id, "b");
    assert_eq!(
        (b.status, b.owner.as_deref(), b.run_id.as_deref(), b.started_ms),
        (JobStatus::Running, Some("r1"), Some("run-b"), Some(5))
    );
    let stored = store.get("b").await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.owner.as_deref(), stored.run_id.as_deref()),
        (JobStatus::Running, Some("r1"), Some("run-b"))
    );
    assert_eq!(store.claim("r2", "run-c", 6).await.unwrap().unwrap().id, "c");
    assert_eq!(store.claim("r1", "run-d", 7).await.unwrap().unwrap().id, "d");
    assert!(store.claim("r1", "run-x", 8).await.unwrap().is_none(), "nothing is queued any more");
    assert_eq!(ids(store.recent(&["ns".into(), "other".into()], 10).await.unwrap()), ["d", "c", "b", "a"]);

    // A cancel request reaches the owner of a running job, and a new claim clears it.
    assert!(store.request_cancel("d").await.unwrap());
    assert!(!store.request_cancel("nope").await.unwrap());
    assert_eq!(store.cancel_requests("r1").await.unwrap(), ["d"]);
    assert!(store.cancel_requests("r2").await.unwrap().is_empty());
    let mut requeued = store.get("d").await.unwrap().unwrap();
    requeued.status = JobStatus::Queued;
    assert!(store.update_if(&requeued, JobStatus::Running).await.unwrap());
    assert!(store.cancel_requests("r1").await.unwrap().is_empty(), "only running jobs");
    assert_eq!(store.claim("r1", "run-d2", 8).await.unwrap().unwrap().id, "d");
    assert!(store.cancel_requests("r1").await.unwrap().is_empty(), "a new claim starts without a request");

    // Only the owner's write lands, and it keeps the owner.
    let mut stale = b.clone();
    stale.owner = Some("r2".into());
    stale.status = JobStatus::Passed;
    assert!(!store.update_if(&stale, JobStatus::Running).await.unwrap(), "another owner's write must fail");
    let mut done = b.clone();
    done.status = JobStatus::Passed;
    done.finished_ms = Some(9);
    assert!(store.update_if(&done, JobStatus::Running).await.unwrap());
    let stored = store.get("b").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.owner.as_deref(), stored.finished_ms), (JobStatus::Passed, Some("r1"), Some(9)));

    // Running jobs of owners without a lease (none, r2) are orphans: r1
    // adopts them once; its own (d) stay its own.
    let adopted = store.adopt_orphans("r1").await.unwrap();
    assert_eq!(ids(adopted.clone()), ["a", "c"]);
    assert!(adopted.iter().all(|j| j.owner.as_deref() == Some("r1") && j.status == JobStatus::Running));
    assert!(store.adopt_orphans("r1").await.unwrap().is_empty(), "adopted once");
    let old_a = running[0].clone();
    let mut interrupted = old_a.clone();
    interrupted.status = JobStatus::Interrupted;
    assert!(!store.update_if(&interrupted, JobStatus::Running).await.unwrap(), "the previous owner lost it");
    let mut interrupted = adopted[0].clone();
    interrupted.status = JobStatus::Interrupted;
    assert!(store.update_if(&interrupted, JobStatus::Running).await.unwrap(), "the adopter writes it");

    // An ending is written with its results and history, or not at all: the
    // owner that lost c writes nothing, its adopter writes all three.
    let files = || vec![ResultFile { name: "c.hdf.json".into(), body: b"{}".to_vec() }];
    let points = || vec![point("c", "Pod/c", 10, 90)];
    let mut lost = adopted[1].clone();
    (lost.owner, lost.status) = (Some("r2".into()), JobStatus::Passed);
    assert!(!store.finish(&lost, JobStatus::Running, files(), points()).await.unwrap(), "the previous owner lost it");
    assert!(store.results("c").await.unwrap().is_empty(), "no results of a lost ending");
    assert!(store.target_runs("ns", "Pod/c", "app", None, 9).await.unwrap().is_empty(), "no history of a lost ending");
    assert_eq!(store.get("c").await.unwrap().unwrap().status, JobStatus::Running);
    let mut won = adopted[1].clone();
    won.status = JobStatus::Passed;
    assert!(store.finish(&won, JobStatus::Running, files(), points()).await.unwrap(), "the adopter ends it");
    assert_eq!(store.get("c").await.unwrap().unwrap().status, JobStatus::Passed);
    assert_eq!(store.results("c").await.unwrap()[0].name, "c.hdf.json");
    assert_eq!(store.target_runs("ns", "Pod/c", "app", None, 9).await.unwrap().len(), 1);
    assert!(!store.finish(&won, JobStatus::Running, files(), points()).await.unwrap(), "ended once");
    assert_eq!(store.target_runs("ns", "Pod/c", "app", None, 9).await.unwrap().len(), 1, "one history point");
    assert_eq!(store.get("d").await.unwrap().unwrap().owner.as_deref(), Some("r1"));
    store.leave("r1").await.unwrap();
    assert!(store.get("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn sqlite_keeps_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kscan.db");
    conformance(|| {
        let path = path.clone();
        async move { Arc::new(Sqlite::open(&path).unwrap()) as Arc<dyn Store> }
    })
    .await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn postgres_keeps_the_store_contract() {
    let server = pg::Postgres::start();
    let url = server.create_db("contract");
    conformance(|| {
        let url = url.clone();
        async move { Arc::new(Postgres::connect(&url, 4).await.unwrap()) as Arc<dyn Store> }
    })
    .await;
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

/// Per-target history, and pruning by age: the same for every store.
async fn history(store: Arc<dyn Store>) {
    for (id, finished, compliance) in [("a", 1_000, 50), ("b", 2_000, 60), ("c", 3_000, 70)] {
        let mut j = job(id);
        j.status = JobStatus::Passed;
        j.finished_ms = Some(finished);
        store.insert(&j).await.unwrap();
        store.put_results(id, vec![ResultFile { name: "p.app.hdf.json".into(), body: b"{}".to_vec() }]).await.unwrap();
        store
            .put_target_runs(vec![point(id, "Deployment/web", finished, compliance), point(id, "Pod/x", finished, 0)])
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
async fn sqlite_keeps_history_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    history(Arc::new(Sqlite::open(&dir.path().join("kscan.db")).unwrap())).await;
}

#[tokio::test]
async fn postgres_keeps_history_and_prunes() {
    let server = pg::Postgres::start();
    let url = server.create_db("history");
    history(Arc::new(Postgres::connect(&url, 4).await.unwrap())).await;
}

/// `--watch`'s memory and the shared settings, seen from two handles (two replicas).
async fn watch_and_settings(store: Arc<dyn Store>, other: Arc<dyn Store>) {
    assert!(store.first_seen("u1", "app", "sha256:a").await.unwrap());
    assert!(!other.first_seen("u1", "app", "sha256:a").await.unwrap(), "seen by the other replica");
    assert!(other.first_seen("u1", "app", "sha256:b").await.unwrap(), "a new image is new");
    assert!(store.first_seen("u1", "side", "sha256:a").await.unwrap());
    store.forget_pod("u1").await.unwrap();
    assert!(other.first_seen("u1", "app", "sha256:a").await.unwrap(), "forgotten with its pod");
    assert_eq!(store.setting_or_insert("k", "1").await.unwrap(), "1");
    assert_eq!(other.setting_or_insert("k", "2").await.unwrap(), "1", "the first writer wins");
}

#[tokio::test]
async fn sqlite_remembers_watched_containers_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kscan.db");
    watch_and_settings(Arc::new(Sqlite::open(&path).unwrap()), Arc::new(Sqlite::open(&path).unwrap())).await;
}

#[tokio::test]
async fn postgres_remembers_watched_containers_and_settings() {
    let server = pg::Postgres::start();
    let url = server.create_db("watch");
    let open = || async { Arc::new(Postgres::connect(&url, 2).await.unwrap()) as Arc<dyn Store> };
    watch_and_settings(open().await, open().await).await;
}

#[tokio::test]
async fn a_sqlite_file_of_an_earlier_release_gains_owners_and_its_running_jobs_are_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
                 request TEXT NOT NULL, run_id TEXT, created_ms INTEGER NOT NULL, started_ms INTEGER,
                 finished_ms INTEGER, error TEXT, summary TEXT, attempts INTEGER NOT NULL, callback TEXT);
             INSERT INTO jobs (id, status, request, run_id, created_ms, attempts) VALUES
                 ('old', 'running', '{\"target\":{\"namespace\":\"ns\",\"pod\":\"p\"}}', 'abcdefghij', 1, 1);",
        )
        .unwrap();
    }
    let store = Sqlite::open(&path).unwrap();
    let adopted = store.adopt_orphans("new").await.unwrap();
    assert_eq!(ids(adopted.clone()), ["old"]);
    assert_eq!(adopted[0].run_id.as_deref(), Some("abcdefghij"));
    assert!(store.adopt_orphans("new").await.unwrap().is_empty());
}

/// Three replicas with four workers each claim from 200 queued jobs at once:
/// each job is claimed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_claim_each_job_exactly_once() {
    let server = pg::Postgres::start();
    let url = server.create_db("claims");
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(Arc::new(Postgres::connect(&url, 5).await.unwrap()));
    }
    for i in 0..200 {
        replicas[i % 3].insert(&job(&format!("job-{i:03}"))).await.unwrap();
    }
    let mut workers = Vec::new();
    for (r, store) in replicas.iter().enumerate() {
        for w in 0..4 {
            let store = store.clone();
            workers.push(tokio::spawn(async move {
                let owner = format!("replica-{r}");
                let mut taken = Vec::new();
                while let Some(job) = store.claim(&owner, &format!("run-{r}-{w}"), 1).await.unwrap() {
                    assert_eq!(job.owner.as_deref(), Some(owner.as_str()));
                    taken.push((job.id, owner.clone()));
                    tokio::task::yield_now().await;
                }
                taken
            }));
        }
    }
    let mut claimed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for w in workers {
        for (id, owner) in w.await.unwrap() {
            claimed.entry(id).or_default().push(owner);
        }
    }
    let twice: Vec<_> = claimed.iter().filter(|(_, o)| o.len() > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    assert_eq!(claimed.len(), 200, "every job claimed");
    let per_owner = |o: &str| claimed.values().filter(|v| v[0] == o).count();
    eprintln!("claims per replica: {} {} {}", per_owner("replica-0"), per_owner("replica-1"), per_owner("replica-2"));
    assert_eq!(replicas[0].count(JobStatus::Queued).await.unwrap(), 0);
    assert_eq!(replicas[0].count(JobStatus::Running).await.unwrap(), 200);
    for job in replicas[0].with_status(JobStatus::Running).await.unwrap() {
        assert_eq!(job.owner.as_ref(), claimed[&job.id].first(), "{}", job.id);
    }
}

/// A replica that stops renewing loses its running jobs to a live one,
/// once, after its lease ran out; a live replica's jobs are never taken;
/// a replica that leaves gives them up at once. `open` gives another handle
/// on the same store (another replica).
async fn leases<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let live = open().await;
    let dying = open().await;
    live.heartbeat("live", Duration::from_secs(60)).await.unwrap();
    dying.heartbeat("dying", Duration::from_millis(800)).await.unwrap();
    for i in 0..10 {
        live.insert(&job(&format!("j{i}"))).await.unwrap();
    }
    for _ in 0..3 {
        live.claim("live", "run", 1).await.unwrap().unwrap();
    }
    for _ in 0..5 {
        dying.claim("dying", "run", 1).await.unwrap().unwrap();
    }
    assert!(live.adopt_orphans("live").await.unwrap().is_empty(), "the dying replica's lease still holds");
    assert!(dying.adopt_orphans("dying").await.unwrap().is_empty(), "the live replica's lease holds");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Three replicas notice at once: the five jobs are adopted once in all.
    let third = open().await;
    third.heartbeat("third", Duration::from_secs(60)).await.unwrap();
    let (a, b, c) = tokio::join!(live.adopt_orphans("live"), third.adopt_orphans("third"), live.adopt_orphans("live"));
    let mut all = ids(a.unwrap());
    all.extend(ids(b.unwrap()));
    all.extend(ids(c.unwrap()));
    all.sort();
    assert_eq!(all, ["j3", "j4", "j5", "j6", "j7"], "each orphan adopted once");
    assert!(live.adopt_orphans("live").await.unwrap().is_empty());
    assert!(third.adopt_orphans("third").await.unwrap().is_empty(), "live and third both hold leases");
    // A renewal after expiry does not give the jobs back.
    dying.heartbeat("dying", Duration::from_secs(60)).await.unwrap();
    let j3 = live.get("j3").await.unwrap().unwrap();
    assert_ne!(j3.owner.as_deref(), Some("dying"), "adopted jobs stay adopted");
    // Leaving hands the jobs over at once.
    dying.claim("dying", "run", 1).await.unwrap().unwrap();
    assert!(live.adopt_orphans("live").await.unwrap().is_empty());
    dying.leave("dying").await.unwrap();
    assert_eq!(ids(live.adopt_orphans("live").await.unwrap()), ["j8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_leases_decide_which_running_jobs_are_orphans() {
    let server = pg::Postgres::start();
    let url = server.create_db("leases");
    leases(|| async { Arc::new(Postgres::connect(&url, 4).await.unwrap()) as Arc<dyn Store> }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_leases_decide_which_running_jobs_are_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kscan.db");
    leases(|| async { Arc::new(Sqlite::open(&path).unwrap()) as Arc<dyn Store> }).await;
}

/// Processes sharing a SQLite file are on one host: the jobs of one that is
/// gone are orphans at once, however long its lease.
#[tokio::test]
async fn sqlite_adopts_the_jobs_of_a_process_that_is_gone_without_waiting_for_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kscan.db");
    let store = Sqlite::open(&path).unwrap();
    store.insert(&job("x")).await.unwrap();
    store.claim("gone", "run", 1).await.unwrap().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO replicas (id, pid, expires_ms) VALUES ('gone', ?1, ?2)",
            rusqlite::params![dead, i64::MAX],
        )
        .unwrap();
    }
    store.heartbeat("me", Duration::from_secs(60)).await.unwrap();
    assert_eq!(ids(store.adopt_orphans("me").await.unwrap()), ["x"]);
}

/// Replicas that start together apply each migration once; a newer schema is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_migrations_apply_once_and_a_newer_schema_is_refused() {
    let server = pg::Postgres::start();
    let url = server.create_db("migrations");
    let started = futures::future::join_all((0..4).map(|_| Postgres::connect(&url, 2))).await;
    for s in started {
        s.unwrap();
    }
    let newest = MIGRATIONS.last().unwrap().0;
    assert_eq!(
        server.psql("migrations", "SELECT count(*), max(version) FROM schema_migrations"),
        format!("{}|{newest}", MIGRATIONS.len())
    );
    Postgres::connect(&url, 2).await.unwrap();
    assert_eq!(server.psql("migrations", "SELECT count(*) FROM schema_migrations"), MIGRATIONS.len().to_string());
    server.psql("migrations", "INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')");
    let err = Postgres::connect(&url, 2).await.err().expect("a newer schema must be refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    let text = err.to_string();
    assert!(text.contains("schema is version 999, newer than this kscan knows"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test]
async fn postgres_connection_errors_are_clear_and_never_show_the_password() {
    let server = pg::Postgres::start();
    let wrong =
        format!("postgres://{}:wrong-password-123@127.0.0.1:{}/postgres?sslmode=disable", pg::USER, server.port);
    let no_db = server.url("no_such_db");
    let closed = {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("postgres://{}:{PASSWORD}@127.0.0.1:{port}/postgres?sslmode=disable", pg::USER)
    };
    let bad = format!("postgres://{}:{PASSWORD}@127.0.0.1:notaport/x", pg::USER);
    let cases = [
        (wrong.as_str(), 2, "refused the credentials", "wrong-password-123"),
        (no_db.as_str(), 2, "no such database", PASSWORD),
        (closed.as_str(), 3, "cannot connect to PostgreSQL", PASSWORD),
        (bad.as_str(), 2, "not a usable PostgreSQL URL", PASSWORD),
    ];
    for (url, code, says, secret) in cases {
        let err = Postgres::connect(url, 2).await.err().unwrap_or_else(|| panic!("{url} must fail"));
        let text = err.to_string();
        assert_eq!(err.exit_code(), code, "{text}");
        assert!(text.contains(says), "{text}");
        assert!(text.contains(":***@127.0.0.1"), "the URL is shown redacted: {text}");
        assert!(!text.contains(secret), "{text}");
    }
}
