//! Retrying the API calls that create and delete a run's objects.
//!
//! An API server under load answers 429, 5xx or drops the connection; none
//! of those says whether a create took effect. kscan retries them with
//! exponential backoff and jitter, within a bound on attempts and on time,
//! and never reads such an answer as "not created" (see
//! [`super::teardown::Teardown::create`]). Definite answers (4xx other than
//! 408 and 429) are not retried.
//!
//! kube's client also retries 429, 503 and 504 by itself; this policy sits
//! above it, so its deadline bounds both.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubled after each, with jitter.
    pub first: Duration,
    /// Longest delay between attempts.
    pub max: Duration,
    /// No retry starts later than this after the first attempt.
    pub deadline: Duration,
}

impl Backoff {
    /// The policy for creating and deleting a run's objects: 6 attempts,
    /// 250 ms doubling to at most 4 s, none after 30 s.
    pub const API: Backoff = Backoff {
        attempts: 6,
        first: Duration::from_millis(250),
        max: Duration::from_secs(4),
        deadline: Duration::from_secs(30),
    };

    /// Run `op` until it succeeds, fails for good, or the policy is spent;
    /// `what` names the call in the log. The last error is returned.
    pub async fn retry<T, F, Fut>(&self, what: &str, mut op: F) -> kube::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = kube::Result<T>>,
    {
        let start = Instant::now();
        let mut delay = self.first;
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if is_transient(&e) && attempt < self.attempts && start.elapsed() < self.deadline => {
                    let wait = jitter(delay);
                    tracing::warn!(
                        "{what}: {} (attempt {attempt} of {}); retrying in {wait:?}",
                        brief(&e),
                        self.attempts
                    );
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(self.max);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Whether `err` may go away by itself: 408, 429 and 5xx answers, and
/// failures of the connection (refused, reset, closed mid-answer, timed out).
pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => matches!(status.code, 408 | 429 | 500..=599),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Whether `err` is a definite refusal: the server understood the request
/// and did not carry it out (4xx other than 408 and 429).
pub fn is_refusal(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if (400..500).contains(&status.code) && !matches!(status.code, 408 | 429))
}

/// A random delay in `[d/2, d]` ("equal jitter": never zero, never above d),
/// so that clients that failed together do not retry together.
pub fn jitter(d: Duration) -> Duration {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    let half = d.as_millis() as u64 / 2;
    Duration::from_millis(half + if half == 0 { 0 } else { random % (half + 1) })
}

fn brief(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => format!("the API server answered {} {}", status.code, status.reason),
        other => format!("the connection failed ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("x", "y").with_code(code).boxed())
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        for _ in 0..200 {
            let j = jitter(Duration::from_millis(1000));
            assert!(j >= Duration::from_millis(500) && j <= Duration::from_millis(1000), "{j:?}");
        }
        let values: std::collections::BTreeSet<_> = (0..50).map(|_| jitter(Duration::from_secs(10))).collect();
        assert!(values.len() > 1, "jitter must vary");
    }

    #[test]
    fn transient_and_refused_answers() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient(&api(code)), "{code}");
            assert!(!is_refusal(&api(code)), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!is_transient(&api(code)), "{code}");
            assert!(is_refusal(&api(code)), "{code}");
        }
    }

    #[tokio::test]
    async fn retries_are_bounded_by_attempts_and_stop_at_a_refusal() {
        let policy =
            Backoff { attempts: 3, first: Duration::from_millis(1), max: Duration::from_millis(2), ..Backoff::API };
        let calls = AtomicU32::new(0);
        let out: kube::Result<()> = policy
            .retry("test", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(api(500)) }
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        calls.store(0, Ordering::SeqCst);
        let out: kube::Result<()> = policy
            .retry("test", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(api(403)) }
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is final");
    }

    #[tokio::test]
    async fn no_retry_starts_after_the_deadline() {
        let policy = Backoff {
            attempts: 100,
            first: Duration::from_millis(20),
            max: Duration::from_millis(20),
            deadline: Duration::from_millis(50),
        };
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let _: kube::Result<()> = policy
            .retry("test", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(api(503)) }
            })
            .await;
        assert!(calls.load(Ordering::SeqCst) < 10, "{}", calls.load(Ordering::SeqCst));
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
