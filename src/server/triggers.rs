//! Scans the server starts by itself: `--watch SELECTOR` scans containers of
//! matching pods that become Running (the "container deployed" event), once
//! per pod UID, container and image digest; `--schedule CRON` rescans every
//! running container of matching pods on a schedule. Both go through the
//! same queue as API submissions (and wait when it is full).
//!
//! With several replicas only the one that holds the Lease runs them
//! ([`super::lease`]). What the watch already queued is remembered in the
//! store, not in memory, so a new leader neither scans a container twice
//! nor misses one that started while leadership changed hands: a container
//! that started after the watch first ran (a time kept in the store) and is
//! not remembered is scanned when the new leader lists the pods.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use tokio_util::sync::CancellationToken;

use super::api::{ScanOptions, ScanRequest, ScanSpec, StrategyName, TargetSpec};
use super::jobs::Queue;
use super::store::now_ms;
use crate::cluster::MANAGED_BY;
use crate::error::{Error, Result};

/// What triggered scans look at and how they scan.
#[derive(Debug, Clone)]
pub struct TriggerConfig {
    /// Label selector of the pods.
    pub selector: String,
    /// The namespaces to look in (those the server serves, or one of them).
    pub namespaces: Vec<String>,
    /// Strategy of the scans.
    pub strategy: StrategyName,
    /// Threshold file name for the scans' gate.
    pub threshold: Option<String>,
}

/// A parsed `--schedule` (cron: five fields, or six with seconds first).
#[derive(Debug, Clone)]
pub struct Schedule(croner::Cron);

impl Schedule {
    /// Parse a cron expression.
    pub fn parse(expr: &str) -> Result<Self> {
        croner::Cron::new(expr).with_seconds_optional().parse().map(Schedule).map_err(|e| {
            Error::input(format!(
                "--schedule {expr:?} is not a cron expression ({e}): use e.g. \"0 */6 * * *\" (every 6 hours)"
            ))
        })
    }

    /// The next time after `now`.
    pub fn next_after(&self, now: chrono::DateTime<chrono::Utc>) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.find_next_occurrence(&now, false).ok()
    }
}

/// A running container of a pod.
struct Running {
    name: String,
    digest: String,
    /// When it started (Unix milliseconds), if the kubelet said.
    started_ms: Option<i64>,
}

/// The running containers of a pod.
fn running_containers(pod: &Pod) -> Vec<Running> {
    let Some(status) = &pod.status else { return Vec::new() };
    if status.phase.as_deref() != Some("Running") {
        return Vec::new();
    }
    status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| {
            let running = c.state.as_ref()?.running.as_ref()?;
            (!c.image_id.is_empty()).then(|| Running {
                name: c.name.clone(),
                digest: c.image_id.clone(),
                started_ms: running.started_at.as_ref().map(|t| t.0.as_millisecond()),
            })
        })
        .collect()
}

/// Pods kscan created itself (the sidecar strategy's) are never targets.
fn made_by_kscan(pod: &Pod) -> bool {
    pod.metadata.labels.as_ref().and_then(|l| l.get(MANAGED_BY.0)).is_some_and(|v| v == MANAGED_BY.1)
}

fn request(config: &TriggerConfig, namespace: &str, pod: &str, container: &str) -> ScanRequest {
    ScanRequest {
        target: TargetSpec {
            namespace: namespace.to_owned(),
            pod: Some(pod.to_owned()),
            selector: None,
            container: Some(container.to_owned()),
        },
        scan: ScanSpec { strategy: config.strategy, threshold: config.threshold.clone(), ..ScanSpec::default() },
        options: ScanOptions::default(),
        callback: None,
    }
}

/// Submit, waiting while the queue is full; gives up only on `stop`.
async fn submit(queue: &Queue, request: ScanRequest, stop: &CancellationToken) {
    let what = format!(
        "{}/{}/{}",
        request.target.namespace,
        request.target.pod.as_deref().unwrap_or(""),
        request.target.container.as_deref().unwrap_or("")
    );
    loop {
        match queue.submit(request.clone()).await {
            Ok(job) => {
                tracing::info!("trigger: queued scan {} of {what}", job.id);
                return;
            }
            Err(e) if e.status() == axum::http::StatusCode::TOO_MANY_REQUESTS => {
                tracing::warn!("trigger: {what}: {}; retrying in 5s", e.message());
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = stop.cancelled() => return,
                }
            }
            Err(e) => {
                tracing::error!("trigger: {what}: {}", e.message());
                return;
            }
        }
    }
}

/// Watch for pods that become Running and queue a scan of each new
/// (pod UID, container, image digest), in each of the config's namespaces,
/// until `stop`. Containers already running when the watch first ran (on
/// any replica) are not scanned (use `--schedule` for those).
pub fn spawn_watch(queue: Arc<Queue>, client: kube::Client, config: TriggerConfig, stop: CancellationToken) {
    for ns in &config.namespaces {
        watch_namespace(queue.clone(), Api::namespaced(client.clone(), ns), config.clone(), stop.clone());
    }
}

/// The key under which the store keeps when the watch first ran.
const WATCH_SINCE: &str = "watch.since_ms";

fn watch_namespace(queue: Arc<Queue>, api: Api<Pod>, config: TriggerConfig, stop: CancellationToken) {
    tokio::spawn(async move {
        let since = match queue.store().setting_or_insert(WATCH_SINCE, &now_ms().to_string()).await {
            Ok(v) => v.parse::<i64>().unwrap_or_else(|_| now_ms()),
            Err(e) => {
                tracing::error!("--watch cannot read its start time from the store ({e}); the watch stops");
                return;
            }
        };
        let stream = watcher::watcher(api, watcher::Config::default().labels(&config.selector)).default_backoff();
        let mut stream = std::pin::pin!(stream);
        tracing::info!("watching pods matching {:?} for new containers", config.selector);
        loop {
            let event = tokio::select! {
                e = stream.try_next() => e,
                () = stop.cancelled() => return,
            };
            // Listed pods (at start, or after the watch lost its place) are
            // scanned only for containers that started after the watch first
            // ran; changed pods for every container not yet remembered.
            let (pod, listed) = match event {
                Ok(Some(Event::InitApply(pod))) => (pod, true),
                Ok(Some(Event::Apply(pod))) => (pod, false),
                Ok(Some(Event::Delete(pod))) => {
                    let uid = pod.metadata.uid.unwrap_or_default();
                    if let Err(e) = queue.store().forget_pod(&uid).await {
                        tracing::warn!("--watch: cannot forget pod {uid}: {e}");
                    }
                    continue;
                }
                Ok(Some(Event::Init | Event::InitDone)) => continue,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("watch of pods matching {:?}: {e}", config.selector);
                    continue;
                }
            };
            if made_by_kscan(&pod) {
                continue;
            }
            let (Some(uid), Some(ns), Some(name)) =
                (pod.metadata.uid.clone(), pod.metadata.namespace.clone(), pod.metadata.name.clone())
            else {
                continue;
            };
            for c in running_containers(&pod) {
                let new_since_watch = !listed || c.started_ms.is_some_and(|t| t >= since);
                match queue.store().first_seen(&uid, &c.name, &c.digest).await {
                    Ok(true) if new_since_watch => submit(&queue, request(&config, &ns, &name, &c.name), &stop).await,
                    Ok(_) => {}
                    Err(e) => tracing::error!("--watch: {ns}/{name}/{}: the store failed ({e}); not queued", c.name),
                }
            }
        }
    });
}

/// Rescan every running container of matching pods at each time of `schedule`.
pub fn spawn_schedule(
    queue: Arc<Queue>,
    client: kube::Client,
    schedule: Schedule,
    config: TriggerConfig,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let apis: Vec<Api<Pod>> = config.namespaces.iter().map(|ns| Api::namespaced(client.clone(), ns)).collect();
        loop {
            let now = chrono::Utc::now();
            let Some(next) = schedule.next_after(now) else {
                tracing::error!("--schedule has no next time; scheduled scans stop");
                return;
            };
            let wait = (next - now).to_std().unwrap_or_default();
            tracing::info!("next scheduled scan at {}", next.to_rfc3339());
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return,
            }
            let mut items = Vec::new();
            for (api, ns) in apis.iter().zip(&config.namespaces) {
                match api.list(&ListParams::default().labels(&config.selector)).await {
                    Ok(list) => items.extend(list.items),
                    Err(e) => {
                        tracing::error!("scheduled scan: cannot list pods matching {:?} in {ns}: {e}", config.selector)
                    }
                }
            }
            let targets: Vec<(String, String, String)> = items
                .iter()
                .filter(|p| !made_by_kscan(p))
                .flat_map(|p| {
                    let ns = p.metadata.namespace.clone().unwrap_or_default();
                    let name = p.metadata.name.clone().unwrap_or_default();
                    running_containers(p).into_iter().map(move |c| (ns.clone(), name.clone(), c.name))
                })
                .collect();
            tracing::info!("scheduled scan: {} container(s)", targets.len());
            futures::stream::iter(targets)
                .for_each(|(ns, pod, c)| {
                    let (queue, config, stop) = (queue.clone(), config.clone(), stop.clone());
                    async move { submit(&queue, request(&config, &ns, &pod, &c), &stop).await }
                })
                .await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn schedules_parse_with_or_without_seconds_and_bad_ones_say_what_to_write() {
        let s = Schedule::parse("0 */6 * * *").unwrap();
        let now = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 7, 30, 0).unwrap();
        assert_eq!(s.next_after(now).unwrap(), chrono::Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap());
        let s = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(s.next_after(now).unwrap(), chrono::Utc.with_ymd_and_hms(2026, 1, 1, 7, 30, 10).unwrap());
        let err = Schedule::parse("every hour").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--schedule"), "{err}");
    }
}
