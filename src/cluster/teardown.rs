//! Teardown: a guard that owns every object a run creates and deletes all of
//! them at the end — after success, gate failure, scan error, timeout, panic,
//! SIGINT or SIGTERM alike. The caller runs the scan as a task and calls
//! [`Teardown::finish`] whatever became of the task (see `cli::scan`).
//!
//! Objects are registered *before* they are created, so an object whose
//! creation succeeded but whose answer was lost is still deleted; deleting
//! what does not exist counts as done. Creates and deletes are retried on
//! transient answers ([`super::retry`]); only a definite refusal (a 4xx)
//! means an object was not created.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kscan_agent::protocol::Command;
use kube::api::{Api, AttachParams, DeleteParams, PostParams};
use kube::ResourceExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cluster::pod::{container_status, start_failure, Kind};
use crate::cluster::retry::{is_refusal, Backoff};
use crate::cluster::{api_status, brief, RUN_LABEL};
use crate::error::{Error, Result};

/// How long a deleted pod may take to disappear.
const POD_GONE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a stopped ephemeral container may take to be reported ended.
const EPHEMERAL_STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// An object a run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    /// A ServiceAccount (its tokens die with it).
    ServiceAccount {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A Role.
    Role {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A Secret: the object the run's token is bound to (deleting it
    /// revokes the token at once).
    Secret {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A RoleBinding.
    RoleBinding {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A pod (the sidecar strategy's scan pod).
    Pod {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A Job (`--dispatch jobs`): deleted with its pods, waited for until
    /// they are gone.
    Job {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// An ephemeral container (the debug strategy's scanner). Kubernetes
    /// cannot remove one: teardown stops its process and waits until it ends.
    EphemeralContainer {
        /// Namespace.
        namespace: String,
        /// The pod it was added to.
        pod: String,
        /// Its name.
        name: String,
    },
}

impl std::fmt::Display for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, ns, name) = match self {
            Owned::ServiceAccount { namespace, name } => ("serviceaccount", namespace, name),
            Owned::Role { namespace, name } => ("role", namespace, name),
            Owned::RoleBinding { namespace, name } => ("rolebinding", namespace, name),
            Owned::Secret { namespace, name } => ("secret", namespace, name),
            Owned::Pod { namespace, name } => ("pod", namespace, name),
            Owned::Job { namespace, name } => ("job", namespace, name),
            Owned::EphemeralContainer { namespace, pod, name } => {
                return write!(f, "ephemeral container {name} of pod {pod} in namespace {namespace}");
            }
        };
        write!(f, "{kind}/{name} in namespace {ns}")
    }
}

/// What teardown did.
#[derive(Debug, Clone, Default)]
pub struct TeardownReport {
    /// Objects deleted (or already gone).
    pub deleted: Vec<Owned>,
    /// Objects that could not be deleted, with why.
    pub left: Vec<(Owned, String)>,
    /// Things that cannot be undone and were only stopped (ephemeral containers).
    pub notes: Vec<String>,
}

impl TeardownReport {
    /// `Ok` when nothing was left behind, else a teardown error (exit 4)
    /// listing what is left and how to remove it.
    pub fn into_result(self, run_id: &str) -> Result<TeardownReport> {
        if self.left.is_empty() {
            return Ok(self);
        }
        let list: Vec<String> = self.left.iter().map(|(o, why)| format!("  {o}: {why}")).collect();
        Err(Error::teardown(format!(
            "teardown left {} object(s) behind:\n{}\nremove them with: kscan cleanup --run {run_id}",
            self.left.len(),
            list.join("\n")
        )))
    }
}

struct Inner {
    objects: Vec<Owned>,
    dirs: Vec<tempfile::TempDir>,
    notes: Vec<String>,
    finished: bool,
}

/// The guard. Cheap to clone; clones share the same list.
#[derive(Clone)]
pub struct Teardown {
    client: kube::Client,
    backoff: Backoff,
    inner: Arc<Mutex<Inner>>,
}

impl Teardown {
    /// A guard that deletes with `client` (the caller's identity, which
    /// created the objects).
    pub fn new(client: kube::Client) -> Self {
        Teardown {
            client,
            backoff: Backoff::API,
            inner: Arc::new(Mutex::new(Inner {
                objects: Vec::new(),
                dirs: Vec::new(),
                notes: Vec::new(),
                finished: false,
            })),
        }
    }

    /// The same guard retrying with `backoff` instead of [`Backoff::API`].
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How creates and deletes are retried.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Take ownership of `object` before creating it.
    pub fn own(&self, object: Owned) {
        self.lock().objects.push(object);
    }

    /// Give up `object` after the API server refused to create it: it does
    /// not exist, and deleting it may be refused too. (A lost answer is not
    /// a refusal: then the object stays owned.)
    pub fn disown(&self, object: &Owned) {
        self.lock().objects.retain(|o| o != object);
    }

    /// Bring `object` into being with `op` (retried on transient answers),
    /// owning it first. A definite refusal (a 4xx) disowns it again; any
    /// other failure keeps it owned, since the server may have carried the
    /// request out before its answer was lost.
    pub async fn create<T, F, Fut>(&self, object: Owned, op: F) -> kube::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = kube::Result<T>>,
    {
        self.own(object.clone());
        let result = self.backoff.retry(&format!("creating {object}"), op).await;
        if result.as_ref().is_err_and(is_refusal) {
            self.disown(&object);
        }
        result
    }

    /// Create `value` (labelled with its run) as `object` through `api`,
    /// like [`Self::create`]. A conflict means the name is taken: when the
    /// object there carries the same run label it is this run's own, made
    /// by an attempt whose answer was lost, and is taken as created;
    /// anything else is not the run's and is never deleted by it.
    pub async fn create_object<K>(&self, object: Owned, api: &Api<K>, value: &K) -> kube::Result<K>
    where
        K: kube::Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
    {
        self.own(object.clone());
        let post = PostParams::default();
        let name = value.name_any();
        let result = self.backoff.retry(&format!("creating {object}"), || api.create(&post, value)).await;
        let result = match result {
            Err(e) if api_status(&e) == Some(409) => {
                match self.backoff.retry("reading it", || api.get_opt(&name)).await {
                    Ok(Some(existing)) if same_run(&existing, value) => {
                        tracing::info!(
                            "{object} already exists from an earlier attempt of this run: taking it as created"
                        );
                        Ok(existing)
                    }
                    _ => Err(e),
                }
            }
            other => other,
        };
        if result.as_ref().is_err_and(is_refusal) {
            self.disown(&object);
        }
        result
    }

    /// A new private (0700) temporary directory named `prefix…`, removed at
    /// the end of the run.
    pub fn private_dir(&self, prefix: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| Error::scan("cannot create a private temporary directory").with_source(e))?;
        Ok(self.own_dir(dir))
    }

    /// Take ownership of a private temporary directory (kubeconfig, results).
    pub fn own_dir(&self, dir: tempfile::TempDir) -> PathBuf {
        let path = dir.path().to_path_buf();
        self.lock().dirs.push(dir);
        path
    }

    /// Record something that cannot be deleted and was only stopped.
    pub fn note(&self, note: impl Into<String>) {
        self.lock().notes.push(note.into());
    }

    /// The objects currently owned.
    pub fn objects(&self) -> Vec<Owned> {
        self.lock().objects.clone()
    }

    /// Hand everything over to the caller instead of deleting it (`kscan
    /// access create`, whose user deletes later): the objects stay and the
    /// directories are kept. Returns the kept directories.
    pub fn release(&self) -> Vec<PathBuf> {
        let mut inner = self.lock();
        inner.finished = true;
        inner.objects.clear();
        std::mem::take(&mut inner.dirs).into_iter().map(tempfile::TempDir::keep).collect()
    }

    /// Delete everything owned — the Secrets that tokens are bound to first,
    /// so that the run's token dies before anything else goes, then the rest
    /// newest first — and remove the directories. Safe to call more than once.
    pub async fn finish(&self) -> TeardownReport {
        let (objects, dirs, notes) = {
            let mut inner = self.lock();
            inner.finished = true;
            (std::mem::take(&mut inner.objects), std::mem::take(&mut inner.dirs), inner.notes.clone())
        };
        let mut report = TeardownReport { notes, ..Default::default() };
        let mut order: Vec<Owned> = objects.into_iter().rev().collect();
        order.sort_by_key(|o| !matches!(o, Owned::Secret { .. }));
        for object in order {
            match self.delete(&object).await {
                Ok(note) => {
                    report.notes.extend(note);
                    report.deleted.push(object)
                }
                Err(why) => report.left.push((object, why)),
            }
        }
        for dir in dirs {
            let path = dir.path().display().to_string();
            if let Err(e) = dir.close() {
                tracing::warn!("could not remove {path}: {e}");
            }
        }
        report
    }

    /// Delete `object`, or for what cannot be deleted, end it; returns a
    /// note for the report when the object could only be ended.
    async fn delete(&self, object: &Owned) -> std::result::Result<Option<String>, String> {
        let (client, backoff) = (&self.client, &self.backoff);
        let deleted = match object {
            Owned::ServiceAccount { namespace, name } => {
                delete::<ServiceAccount>(client, backoff, namespace, name).await
            }
            Owned::Role { namespace, name } => delete::<Role>(client, backoff, namespace, name).await,
            Owned::RoleBinding { namespace, name } => delete::<RoleBinding>(client, backoff, namespace, name).await,
            Owned::Secret { namespace, name } => delete::<Secret>(client, backoff, namespace, name).await,
            Owned::EphemeralContainer { namespace, pod, name } => {
                return stop_ephemeral(&self.client, namespace, pod, name).await.map(Some)
            }
            Owned::Pod { namespace, name } => delete_pod(client, backoff, namespace, name).await,
            Owned::Job { namespace, name } => delete_job(client, backoff, namespace, name).await,
        };
        deleted.map(|()| None)
    }
}

/// Delete a pod and wait until it is gone.
async fn delete_pod(
    client: &kube::Client,
    backoff: &Backoff,
    namespace: &str,
    name: &str,
) -> std::result::Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = DeleteParams { grace_period_seconds: Some(1), ..Default::default() };
    let what = format!("pod {name} in namespace {namespace}");
    delete_and_wait(backoff, &pods, name, &params, &what, "still terminating").await
}

/// Delete a Job in the foreground — its pods first — and wait until it is
/// gone: the garbage collector removes the Job only after its pods, so no
/// shard runs on once it is.
async fn delete_job(
    client: &kube::Client,
    backoff: &Backoff,
    namespace: &str,
    name: &str,
) -> std::result::Result<(), String> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let what = format!("job {name} in namespace {namespace}");
    delete_and_wait(backoff, &jobs, name, &DeleteParams::foreground(), &what, "its pods are still terminating").await
}

/// Delete `name` with `params` (gone already is fine) and poll until the
/// API server no longer has it, for at most [`POD_GONE_TIMEOUT`]; `still`
/// says what is going on when it takes longer.
async fn delete_and_wait<K>(
    backoff: &Backoff,
    api: &Api<K>,
    name: &str,
    params: &DeleteParams,
    what: &str,
    still: &str,
) -> std::result::Result<(), String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match backoff.retry(&format!("deleting {what}"), || api.delete(name, params)).await {
        Ok(_) => {}
        Err(e) if api_status(&e) == Some(404) => return Ok(()),
        Err(e) => return Err(brief(&e)),
    }
    let start = Instant::now();
    loop {
        match backoff.retry(&format!("reading {what}"), || api.get_opt(name)).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) if start.elapsed() < POD_GONE_TIMEOUT => tokio::time::sleep(Duration::from_millis(250)).await,
            Ok(Some(_)) => return Err(format!("{still} after {POD_GONE_TIMEOUT:?}")),
            Err(e) => return Err(brief(&e)),
        }
    }
}

/// End an ephemeral scanner container: run the agent's stop command in it
/// and wait until the kubelet reports it terminated. Returns the note for
/// the report: the container stays in the pod's spec either way.
async fn stop_ephemeral(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    name: &str,
) -> std::result::Result<String, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let stays = format!(
        "ephemeral container {name} stays in the spec of pod {pod} (Kubernetes cannot remove ephemeral containers)"
    );
    let start = Instant::now();
    let mut asked = false;
    loop {
        let current = match pods.get_opt(pod).await {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(format!("pod {pod}, which held ephemeral container {name}, is gone")),
            Err(e) => return Err(brief(&e)),
        };
        // A container that cannot start never ran a process: nothing to
        // stop, and nothing left running (the scan already failed on it).
        if let Some(why) = start_failure(&current, Kind::Ephemeral, name) {
            return Ok(format!("{stays}; it never started ({why})"));
        }
        let state = container_status(&current, Kind::Ephemeral, name).and_then(|s| s.state.clone());
        match &state {
            Some(st) if st.terminated.is_some() => {
                let how = if asked { "its process was stopped" } else { "its process had ended" };
                return Ok(format!("{stays}; {how}"));
            }
            Some(st) if st.running.is_some() && !asked => {
                asked = true;
                let params = AttachParams::default().container(name).stdin(false).stdout(false).stderr(true);
                match pods.exec(pod, Command::Stop.argv(), &params).await {
                    Ok(process) => {
                        let _ = tokio::time::timeout(Duration::from_secs(20), process.join()).await;
                    }
                    Err(e) => return Err(format!("cannot stop its process: {e}")),
                }
            }
            _ => {}
        }
        if start.elapsed() > EPHEMERAL_STOP_TIMEOUT {
            return Err(match state {
                Some(st) if st.running.is_some() => {
                    format!("its process still runs after {EPHEMERAL_STOP_TIMEOUT:?}")
                }
                Some(st) => format!(
                    "it has not started after {EPHEMERAL_STOP_TIMEOUT:?} ({}); should it start, it stops by itself \
                     when the run's token expires",
                    st.waiting.and_then(|w| w.reason).unwrap_or_else(|| "waiting".into())
                ),
                None => format!("the kubelet reported no state for it within {EPHEMERAL_STOP_TIMEOUT:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether `existing` carries the run label of `ours`.
fn same_run<K: kube::Resource>(existing: &K, ours: &K) -> bool {
    let run = |k: &K| k.meta().labels.as_ref().and_then(|l| l.get(RUN_LABEL)).cloned();
    run(ours).is_some() && run(existing) == run(ours)
}

async fn delete<K>(
    client: &kube::Client,
    backoff: &Backoff,
    namespace: &str,
    name: &str,
) -> std::result::Result<(), String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let what = format!("deleting {} {name} in namespace {namespace}", K::kind(&Default::default()));
    let params = DeleteParams::default();
    match backoff.retry(&what, || api.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(e) if api_status(&e) == Some(404) => Ok(()),
        Err(e) => Err(brief(&e)),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.finished && !self.objects.is_empty() {
            let list: Vec<String> = self.objects.iter().map(ToString::to_string).collect();
            eprintln!(
                "kscan: exiting without teardown; these objects may be left: {}. Remove them with `kscan cleanup`.",
                list.join(", ")
            );
        }
    }
}
