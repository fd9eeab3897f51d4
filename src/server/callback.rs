//! Callbacks: POST a job's final status and summary to the URL the request
//! named, with its bearer token. Delivery runs on its own task (workers
//! never wait for it), retries with exponential backoff and full jitter, and
//! a circuit breaker per host stops hammering a receiver that keeps failing:
//! after [`Policy::breaker_threshold`] failures in a row the host is skipped
//! for [`Policy::breaker_cooldown`], then one attempt is let through.
//!
//! Every connection goes through [`super::destination`]: the host is
//! resolved, each address checked against the operator's rules, and only a
//! checked address is connected to. A failure to connect is recorded as
//! one message whatever its cause (refused, reset, timed out), so a
//! callback cannot be used to learn whether a port is open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{CallbackState, JobStatus, Summary};
use super::destination::{ConnectError, Connector, Destinations};
use super::metrics::Metrics;
use super::store::{rfc3339, Job, Store};
use crate::cluster::retry::jitter;

/// Retry settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Attempts before giving up.
    pub attempts: u32,
    /// Delay before the first retry; doubled each time, with full jitter.
    pub backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
    /// Time limit of one attempt.
    pub timeout: Duration,
    /// Failures in a row that open a host's breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker skips its host.
    pub breaker_cooldown: Duration,
    /// Where callbacks may go.
    pub destinations: Destinations,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            attempts: 6,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            destinations: Destinations::default(),
        }
    }
}

/// The body POSTed to the callback URL.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackBody {
    /// The job id.
    pub id: String,
    /// Its final status.
    pub status: JobStatus,
    /// When it ended (RFC 3339).
    pub finished_at: Option<String>,
    /// Why it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Counts per target and the gate's verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// The job's path on the server.
    pub location: String,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<Connector>, Full<Bytes>>;

/// What a failed connection is recorded as, whatever its cause.
const UNREACHABLE: &str = "could not connect to the receiver, or it did not answer in time";

/// The delivery service (cheap to clone).
#[derive(Clone)]
pub struct Callbacks {
    client: HttpsClient,
    policy: Policy,
    breakers: Arc<Mutex<HashMap<String, Breaker>>>,
    metrics: Arc<Metrics>,
}

impl Callbacks {
    /// A delivery service with `policy`.
    pub fn new(policy: Policy, metrics: Arc<Metrics>) -> crate::Result<Self> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| crate::Error::scan("cannot load the system's CA certificates for callbacks").with_source(e))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(policy.destinations.connector());
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Callbacks { client, policy, breakers: Arc::default(), metrics })
    }

    /// Deliver `job`'s final status in the background, if it asked for a
    /// callback; progress is written to the store.
    pub fn deliver(&self, store: Arc<dyn Store>, job: Job) {
        if job.request.callback.is_none() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move { this.run(store, job).await });
    }

    async fn run(&self, store: Arc<dyn Store>, mut job: Job) {
        let Some(spec) = job.request.callback.clone() else { return };
        let host = host_of(&spec.url);
        let body = CallbackBody {
            id: job.id.clone(),
            status: job.status,
            finished_at: job.finished_ms.map(rfc3339),
            error: job.error.clone(),
            summary: job.summary.clone(),
            location: format!("/api/v1/scans/{}", job.id),
        };
        let body = Bytes::from(serde_json::to_vec(&body).expect("the callback body serializes"));
        let token = spec.authentication.as_ref().map(|a| a.token.clone());
        let mut state = CallbackState { state: "pending".into(), attempts: 0, last_error: None };
        let mut delay = self.policy.backoff;
        loop {
            self.wait_for_breaker(&host).await;
            state.attempts += 1;
            let result = self.attempt(&spec.url, token.as_deref(), body.clone()).await;
            self.record(&host, result.is_ok());
            match result {
                Ok(()) => {
                    state.state = "delivered".into();
                    state.last_error = None;
                }
                Err(e) => {
                    tracing::warn!("scan {}: callback attempt {} failed: {e}", job.id, state.attempts);
                    state.last_error = Some(e);
                    if state.attempts >= self.policy.attempts {
                        state.state = "failed".into();
                        self.metrics.callback_failed();
                    }
                }
            }
            job.callback = Some(state.clone());
            if let Err(e) = store.update_if(&job, job.status).await {
                tracing::error!("scan {}: cannot record the callback state: {e}", job.id);
            }
            if state.state != "pending" {
                return;
            }
            tokio::time::sleep(jitter(delay)).await;
            delay = (delay * 2).min(self.policy.max_backoff);
        }
    }

    async fn attempt(&self, url: &str, token: Option<&str>, body: Bytes) -> Result<(), String> {
        let mut request = hyper::Request::post(url).header(CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let request = request.body(Full::new(body)).map_err(|e| format!("cannot build the request: {e}"))?;
        match tokio::time::timeout(self.policy.timeout, self.client.request(request)).await {
            Err(_) => {
                tracing::debug!("callback to {url}: no answer within {:?}", self.policy.timeout);
                Err(UNREACHABLE.into())
            }
            Ok(Err(e)) => Err(refusal(&e).unwrap_or_else(|| {
                tracing::debug!("callback to {url}: {e:?}");
                UNREACHABLE.into()
            })),
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(format!("the receiver answered {}", response.status())),
        }
    }

    async fn wait_for_breaker(&self, host: &str) {
        loop {
            let open_until =
                self.breakers.lock().unwrap_or_else(|p| p.into_inner()).get(host).and_then(|b| b.open_until);
            match open_until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => return,
            }
        }
    }

    fn record(&self, host: &str, ok: bool) {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let b = breakers.entry(host.to_owned()).or_default();
        if ok {
            *b = Breaker::default();
            return;
        }
        b.failures += 1;
        if b.failures >= self.policy.breaker_threshold {
            tracing::warn!(
                "callbacks to {host}: {} failures in a row, pausing for {:?}",
                b.failures,
                self.policy.breaker_cooldown
            );
            b.open_until = Some(Instant::now() + self.policy.breaker_cooldown);
            b.failures = self.policy.breaker_threshold - 1;
        }
    }

    /// Whether the breaker of `host` is open now (for tests and logs).
    pub fn is_open(&self, host: &str) -> bool {
        self.breakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .and_then(|b| b.open_until)
            .is_some_and(|t| t > Instant::now())
    }
}

/// The reason when the destination broke a rule (safe to show: nothing
/// was connected to).
fn refusal(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(ConnectError::Refused(why)) = e.downcast_ref::<ConnectError>() {
            return Some(format!("refused: {why}"));
        }
        cause = e.source();
    }
    None
}

/// `host[:port]` of a URL (the breaker's key).
fn host_of(url: &str) -> String {
    url.parse::<hyper::Uri>().ok().and_then(|u| u.authority().map(|a| a.as_str().to_owned())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_breaker_opens_after_failures_in_a_row_and_a_success_closes_it() {
        let policy = Policy { breaker_threshold: 3, breaker_cooldown: Duration::from_secs(60), ..Policy::default() };
        let c = Callbacks::new(policy, Arc::default()).unwrap();
        c.record("a:1", false);
        c.record("a:1", false);
        assert!(!c.is_open("a:1"));
        c.record("a:1", false);
        assert!(c.is_open("a:1"));
        assert!(!c.is_open("b:1"), "breakers are per host");
        c.record("a:1", true);
        assert!(!c.is_open("a:1"));
    }

    #[test]
    fn hosts_include_the_port() {
        assert_eq!(host_of("http://127.0.0.1:8080/hook?x=1"), "127.0.0.1:8080");
        assert_eq!(host_of("https://example.org/hook"), "example.org");
    }
}
