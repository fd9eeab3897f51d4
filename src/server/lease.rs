//! Leader election on a `coordination.k8s.io/v1` Lease, so that with several
//! replicas the triggers (`--watch`, `--schedule`) run on exactly one: the
//! replica that holds the Lease. It renews every third of the lease time;
//! another replica takes the Lease over once a whole lease time has passed
//! without a renewal (a killed leader), or at once when the leader releases
//! it on shutdown.
//!
//! Every write is a replace carrying the `resourceVersion` that was read, so
//! two replicas that see the same expired Lease cannot both take it: the
//! API server accepts the first replace and answers 409 to the second.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio_util::sync::CancellationToken;

use crate::cluster::MANAGED_BY;

/// Which Lease, and who this replica is.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the service's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (pod name and a random suffix).
    pub identity: String,
    /// How long a Lease holds without renewal.
    pub duration: Duration,
}

/// What one look at the Lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// This replica holds it (acquired or renewed now).
    Held,
    /// Another replica holds it and its renewal is recent.
    Taken,
}

/// Whether a Lease renewed at `renewed_ms` for `seconds` has run out at `now_ms`.
fn expired(renewed_ms: Option<i64>, seconds: Option<i32>, now_ms: i64) -> bool {
    match (renewed_ms, seconds) {
        (Some(at), Some(s)) => at + i64::from(s.max(1)) * 1000 < now_ms,
        // A Lease without a renewal time or duration was released or never held.
        _ => true,
    }
}

impl LeaseConfig {
    fn spec(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)),
            acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: transitions,
            ..LeaseSpec::default()
        }
    }

    /// Acquire, renew, or find the Lease held by another replica.
    async fn look(&self, api: &Api<Lease>) -> kube::Result<Look> {
        let now = Timestamp::now();
        let Some(mut lease) = api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    labels: Some([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned())].into()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None, Some(0))),
            };
            return match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Look::Held),
                // Another replica created it first.
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(Look::Taken),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let renewed = spec.renew_time.as_ref().map(|t| t.0.as_millisecond());
        if !mine && !expired(renewed, spec.lease_duration_seconds, now.as_millisecond()) {
            return Ok(Look::Taken);
        }
        lease.spec = Some(if mine {
            self.spec(now, spec.acquire_time, spec.lease_transitions)
        } else {
            self.spec(now, None, Some(spec.lease_transitions.unwrap_or(0) + 1))
        });
        match api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(Look::Held),
            // Someone wrote it since we read it: they won this round.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Look::Taken),
            Err(e) => Err(e),
        }
    }

    /// Give the Lease up (on shutdown), so another replica takes over now
    /// instead of after the lease time.
    async fn release(&self, api: &Api<Lease>) {
        let Ok(Some(mut lease)) = api.get_opt(&self.name).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!("released Lease {}/{}", self.namespace, self.name),
            Err(e) => tracing::warn!("could not release Lease {}/{}: {e}", self.namespace, self.name),
        }
    }
}

/// Run `lead` while this replica holds the Lease: it is called with a token
/// that is cancelled when the leadership ends (lost, or `stop`). Returns
/// when `stop` is cancelled, after releasing the Lease.
pub async fn elect<F>(client: kube::Client, config: LeaseConfig, stop: CancellationToken, lead: F)
where
    F: Fn(CancellationToken),
{
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let every = (config.duration / 3).max(Duration::from_millis(200));
    let mut leading: Option<CancellationToken> = None;
    // The last successful renewal: a leader that cannot reach the API server
    // steps down before its Lease can have passed to another replica.
    let mut renewed = tokio::time::Instant::now();
    tracing::info!(
        "replica {} competes for Lease {}/{} (lease time {}s)",
        config.identity,
        config.namespace,
        config.name,
        config.duration.as_secs()
    );
    loop {
        let look = config.look(&api).await;
        match (&look, leading.is_some()) {
            (Ok(Look::Held), false) => {
                tracing::info!("replica {} leads: triggers start", config.identity);
                let token = stop.child_token();
                lead(token.clone());
                leading = Some(token);
                renewed = tokio::time::Instant::now();
            }
            (Ok(Look::Held), true) => renewed = tokio::time::Instant::now(),
            (Ok(Look::Taken), true) => {
                tracing::warn!("replica {} lost the Lease: triggers stop", config.identity);
                if let Some(t) = leading.take() {
                    t.cancel();
                }
            }
            (Err(e), true) if renewed.elapsed() + every >= config.duration => {
                tracing::warn!("replica {} cannot renew the Lease ({e}): triggers stop", config.identity);
                if let Some(t) = leading.take() {
                    t.cancel();
                }
            }
            (Err(e), _) => tracing::warn!("Lease {}/{}: {e}", config.namespace, config.name),
            (Ok(Look::Taken), false) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => break,
        }
    }
    if let Some(token) = leading.take() {
        token.cancel();
        config.release(&api).await;
    }
}

/// `kscan-serve-<suffix>`, or the pod's name with a suffix: unique per
/// process, readable in `kubectl get lease -o yaml`.
pub fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kscan-serve".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_runs_out_a_whole_lease_time_after_its_renewal() {
        assert!(!expired(Some(10_000), Some(15), 24_000));
        assert!(!expired(Some(10_000), Some(15), 25_000));
        assert!(expired(Some(10_000), Some(15), 25_001));
        assert!(expired(None, Some(15), 0), "released");
        assert!(expired(Some(10_000), None, 10_001), "no duration");
    }

    #[test]
    fn identities_differ_per_process_start() {
        assert_ne!(identity(), identity());
    }
}
