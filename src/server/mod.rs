//! `kscan serve`: the scan pipeline behind HTTP. A bearer-token API accepts
//! scan jobs into a queue persisted in a [`store::Store`] (SQLite by
//! default, PostgreSQL for several replicas); a bounded pool of workers runs
//! each job with [`crate::scan::run_dispatched`], in this process or as a
//! Kubernetes Job (`--executor jobs`); callbacks report the end;
//! `GET /scan` answers with a posture scan.
//!
//! Shutdown (SIGINT, SIGTERM) stops accepting requests, stops running scans
//! (teardown runs) and marks them interrupted, so they can be retried.

pub mod api;
pub mod auth;
pub mod callback;
pub mod destination;
pub mod error;
pub mod history;
pub mod jobs;
pub mod lease;
pub mod metrics;
pub mod posture;
pub mod routes;
pub mod store;
pub mod triggers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use tokio_util::sync::CancellationToken;

use crate::cluster::client::Connection;
use crate::error::{Error, Result};
use api::Limits;
use auth::Tokens;
use callback::{Callbacks, Policy};
use jobs::{Queue, QueueConfig};
use metrics::Metrics;
use routes::AppState;

/// Largest request body accepted (413 above it).
pub const MAX_BODY: usize = 64 * 1024;

/// Everything the server needs.
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Accepted bearer tokens.
    pub tokens: Tokens,
    /// The cluster identity that scans (and reads posture).
    pub admin: Connection,
    /// The store.
    pub store: Arc<dyn store::Store>,
    /// Workers and queue limit.
    pub workers: usize,
    /// Jobs that may wait before 429.
    pub queue_limit: usize,
    /// What requests are checked against.
    pub limits: Limits,
    /// Callback retries.
    pub callbacks: Policy,
    /// Private directory for results in flight.
    pub work_dir: PathBuf,
    /// `--retain`: finished jobs older than this are pruned (`None`: kept).
    pub retain: Option<Duration>,
    /// `--watch`: scan pods that become Running.
    pub watch: Option<triggers::TriggerConfig>,
    /// `--schedule`: rescan matching pods on a schedule.
    pub schedule: Option<(triggers::Schedule, triggers::TriggerConfig)>,
    /// This replica's id (the owner of the jobs it claims; also its
    /// identity in the triggers' Lease).
    pub replica: String,
    /// Its lease, and how often idle workers poll the store.
    pub replica_lease: jobs::Lease,
    /// The Lease whose holder runs the triggers (`None`: this process runs
    /// them without asking).
    pub lease: Option<lease::LeaseConfig>,
}

/// Serve until `shutdown` completes; then stop running scans (with
/// teardown) and return.
pub async fn serve(config: Config, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    let metrics = Arc::new(Metrics::default());
    let stop = CancellationToken::new();
    let destinations = config.callbacks.destinations.clone();
    let callbacks = Callbacks::new(config.callbacks, metrics.clone())?;
    let queue = Queue::start(
        config.store,
        config.admin.clone(),
        QueueConfig {
            workers: config.workers,
            limit: config.queue_limit,
            limits: config.limits,
            work_dir: config.work_dir,
            replica: config.replica.clone(),
            lease: config.replica_lease,
            retain: config.retain,
        },
        metrics.clone(),
        callbacks,
        stop.clone(),
    )
    .await?;
    let mut elected = None;
    if config.watch.is_some() || config.schedule.is_some() {
        let (queue, client) = (queue.clone(), config.admin.client.clone());
        let (watch, schedule) = (config.watch, config.schedule);
        let start = move |until: CancellationToken| {
            if let Some(watch) = &watch {
                triggers::spawn_watch(queue.clone(), client.clone(), watch.clone(), until.clone());
            }
            if let Some((schedule, targets)) = &schedule {
                triggers::spawn_schedule(queue.clone(), client.clone(), schedule.clone(), targets.clone(), until);
            }
        };
        match config.lease {
            Some(lease) => {
                elected = Some(tokio::spawn(lease::elect(config.admin.client.clone(), lease, stop.clone(), start)));
            }
            None => start(stop.clone()),
        }
    }
    let state = AppState { queue: queue.clone(), metrics, admin: config.admin, destinations };
    let (api, mut doc) = routes::api()
        .layer(axum::middleware::from_fn_with_state(config.tokens.clone(), auth::require))
        .split_for_parts();
    let (health, health_doc) = routes::health().split_for_parts();
    doc.merge(health_doc);
    let doc = Arc::new(routes::document(&doc));
    let openapi = axum::Router::new()
        .route("/openapi.json", axum::routing::get(move || async move { axum::Json(doc.as_ref().clone()) }))
        .layer(axum::middleware::from_fn_with_state(config.tokens, auth::require));
    let app = api
        .merge(health)
        .merge(openapi)
        .fallback(|| async {
            error::ApiError::new(axum::http::StatusCode::NOT_FOUND, "no such route: see /openapi.json")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::input(format!("--listen {}: cannot listen", config.listen)).with_source(e))?;
    let local = listener.local_addr().map_err(|e| Error::scan("cannot read the listening address").with_source(e))?;
    // Tests and wrappers read this line to find an ephemeral port.
    println!("kscan serve: listening on http://{local}");
    tracing::info!("listening on http://{local} with {} worker(s)", config.workers);
    let stopping = stop.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: stopping running scans (teardown runs)");
            stopping.cancel();
        })
        .await
        .map_err(|e| Error::scan("the HTTP server failed").with_source(e))?;
    stop.cancel();
    let deadline = Instant::now() + Duration::from_secs(150);
    while queue.gauges().await.map(|g| g.running).unwrap_or(0) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    queue.close().await;
    if let Some(elected) = elected {
        // The election releases the Lease once stopped: wait for it, so
        // that the next leader need not wait for the Lease to run out.
        let _ = tokio::time::timeout(Duration::from_secs(10), elected).await;
    }
    Ok(())
}
