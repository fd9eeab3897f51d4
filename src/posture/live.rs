//! Read pods from a live cluster: namespace by namespace, LIST with
//! pagination (`limit`/`continue`), each page handed on as it arrives.
//!
//! Workers fetch pages and send them through a bounded channel to the one
//! consumer that runs the checks, so at most `concurrency + channel` pages
//! are in memory whatever the size of the cluster. A forbidden namespace is
//! recorded and the scan goes on; transient API errors (429, 5xx, connection)
//! are retried with exponential backoff.
//!
//! Permissions: `list pods` in the namespaces to scan. Without
//! `--namespace`, kscan lists namespaces (`list namespaces`, cluster-wide) to
//! scan them in parallel; when that is forbidden it falls back to one
//! cluster-wide pod list (`list pods` cluster-wide).

use std::path::Path;
use std::time::Duration;

use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::{Client, Config};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::spec::RawObject;
use super::workload::{extract, Workload};
use crate::error::{Error, ResultExt};
use crate::Result;

/// Objects per LIST page unless the selection says otherwise.
pub const PAGE_SIZE: u32 = 250;
/// Attempts per request before a transient error counts as a failure.
const ATTEMPTS: u32 = 5;

/// What to read from the cluster.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Namespaces to scan; empty means every namespace.
    pub namespaces: Vec<String>,
    /// Namespaces to leave out.
    pub exclude: Vec<String>,
    /// Namespaces read at once (at least 1).
    pub concurrency: usize,
    /// Objects per LIST page (`limit`).
    pub page_size: u32,
}

/// What a worker reports.
#[derive(Debug)]
pub enum Event {
    /// A page of pods.
    Page(Vec<RawObject>),
    /// A namespace was read to the end.
    Done(String),
    /// A namespace could not be read.
    Failed {
        /// The namespace.
        namespace: String,
        /// `forbidden`, `not-found` or `error`.
        reason: &'static str,
        /// What the API server or the client said.
        message: String,
    },
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<RawObject>,
}

/// A client: in-cluster configuration, else the kubeconfig (`path`, else
/// `$KUBECONFIG` or `~/.kube/config`).
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .input_err(|| format!("--kubeconfig {}: cannot read the kubeconfig", path.display()))?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .input_err(|| format!("--kubeconfig {}: unusable kubeconfig", path.display()))?
        }
        None => match Config::incluster() {
            Ok(c) => c,
            Err(_) => Config::infer().await.scan_err(|| {
                "no cluster configuration: not in a pod, and no kubeconfig (set --kubeconfig or KUBECONFIG)".into()
            })?,
        },
    };
    Client::try_from(config).scan_err(|| "cannot build the Kubernetes client".into())
}

/// A failed request, classified.
enum Failure {
    Status { code: u16, message: String },
    Other(String),
}

impl Failure {
    fn transient(&self) -> bool {
        match self {
            Failure::Status { code, .. } => *code == 429 || *code >= 500,
            Failure::Other(_) => true,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Failure::Status { code: 401 | 403, .. } => "forbidden",
            Failure::Status { code: 404, .. } => "not-found",
            _ => "error",
        }
    }

    fn message(self) -> String {
        match self {
            Failure::Status { code, message } => format!("HTTP {code}: {message}"),
            Failure::Other(m) => m,
        }
    }
}

async fn get_page(client: &Client, url: &str, limit: u32, token: Option<String>) -> std::result::Result<Page, Failure> {
    let mut params = ListParams::default().limit(limit.max(1));
    params.continue_token = token;
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        let request = Request::new(url).list(&params).map_err(|e| Failure::Other(e.to_string()))?;
        let failure = match client.request::<Page>(request).await {
            Ok(page) => return Ok(page),
            Err(kube::Error::Api(status)) => Failure::Status { code: status.code, message: status.message.clone() },
            Err(e) => Failure::Other(e.to_string()),
        };
        if !failure.transient() || attempt == ATTEMPTS {
            return Err(failure);
        }
        tracing::info!("{url}: attempt {attempt} failed ({}); retrying in {delay:?}", failure_text(&failure));
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    unreachable!("the last attempt returns")
}

fn failure_text(f: &Failure) -> String {
    match f {
        Failure::Status { code, message } => format!("HTTP {code}: {message}"),
        Failure::Other(m) => m.clone(),
    }
}

/// List every page of `url`, sending each on. `namespace` names the source in errors.
async fn list_all(client: Client, url: String, limit: u32, namespace: String, tx: mpsc::Sender<Event>) {
    let mut token = None;
    loop {
        match get_page(&client, &url, limit, token.take()).await {
            Ok(page) => {
                token = page.metadata.continue_token.filter(|t| !t.is_empty());
                if tx.send(Event::Page(page.items)).await.is_err() {
                    return;
                }
                if token.is_none() {
                    let _ = tx.send(Event::Done(namespace)).await;
                    return;
                }
            }
            Err(f) => {
                let _ = tx.send(Event::Failed { namespace, reason: f.reason(), message: f.message() }).await;
                return;
            }
        }
    }
}

/// The namespaces to scan: the selection's, else every namespace the
/// identity may list. `Ok(None)` means listing namespaces is forbidden.
async fn namespaces(client: &Client, sel: &Selection) -> Result<Option<Vec<String>>> {
    let names = if sel.namespaces.is_empty() {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            match get_page(client, "/api/v1/namespaces", sel.page_size, token.take()).await {
                Ok(page) => {
                    names.extend(page.items.into_iter().map(|o| o.metadata.name));
                    token = page.metadata.continue_token.filter(|t| !t.is_empty());
                    if token.is_none() {
                        break;
                    }
                }
                Err(f) if f.reason() == "forbidden" => return Ok(None),
                Err(f) => {
                    return Err(Error::scan(format!("cannot list namespaces: {}", f.message())));
                }
            }
        }
        names
    } else {
        sel.namespaces.clone()
    };
    Ok(Some(names.into_iter().filter(|n| !sel.exclude.contains(n)).collect()))
}

/// Totals of a live read.
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveTotals {
    /// Namespaces read to the end.
    pub namespaces: usize,
}

/// Read the selected pods, calling `on_pod` for each and `on_error` for each
/// namespace that could not be read. Fails (exit 3) when nothing at all
/// could be read.
pub async fn read(
    client: Client,
    sel: &Selection,
    on_pod: &mut impl FnMut(Workload),
    on_error: &mut impl FnMut(String, &'static str, String),
) -> Result<LiveTotals> {
    let concurrency = sel.concurrency.max(1);
    let limit = sel.page_size;
    let (tx, mut rx) = mpsc::channel::<Event>(concurrency);
    let targets = namespaces(&client, sel).await?;
    let mut cluster_wide = false;
    let producer = {
        let client = client.clone();
        let tx = tx.clone();
        match targets {
            Some(names) => tokio::spawn(async move {
                let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
                let mut tasks = tokio::task::JoinSet::new();
                for ns in names {
                    let permit = slots.clone().acquire_owned().await.expect("semaphore open");
                    let (client, tx) = (client.clone(), tx.clone());
                    tasks.spawn(async move {
                        let url = format!("/api/v1/namespaces/{ns}/pods");
                        list_all(client, url, limit, ns, tx).await;
                        drop(permit);
                    });
                }
                while tasks.join_next().await.is_some() {}
            }),
            None => {
                cluster_wide = true;
                tracing::info!("listing namespaces is forbidden: reading pods with one cluster-wide list");
                tokio::spawn(list_all(client, "/api/v1/pods".into(), limit, String::new(), tx))
            }
        }
    };
    drop(tx);
    let mut totals = LiveTotals::default();
    let mut failures = 0usize;
    let mut first_failure = None;
    while let Some(event) = rx.recv().await {
        match event {
            Event::Page(items) => {
                for mut item in items {
                    // Items of a PodList carry no kind of their own.
                    if item.kind.is_empty() {
                        item.kind = "Pod".to_owned();
                    }
                    if cluster_wide && sel.exclude.contains(&item.metadata.namespace) {
                        continue;
                    }
                    extract(item, &mut |w| on_pod(w));
                }
            }
            Event::Done(_) => totals.namespaces += 1,
            Event::Failed { namespace, reason, message } => {
                failures += 1;
                if cluster_wide {
                    return Err(Error::scan(format!(
                        "cannot list pods cluster-wide ({message}); grant `list` on pods and namespaces \
                         (deploy/posture-rbac.yaml) or pass --namespace"
                    )));
                }
                first_failure.get_or_insert_with(|| format!("{namespace}: {message}"));
                on_error(namespace, reason, message);
            }
        }
    }
    producer.await.scan_err(|| "a namespace reader crashed".into())?;
    if totals.namespaces == 0 && failures > 0 {
        return Err(Error::scan(format!(
            "no namespace could be read (first: {}); check the identity's RBAC (deploy/posture-rbac.yaml)",
            first_failure.unwrap_or_default()
        )));
    }
    Ok(totals)
}
