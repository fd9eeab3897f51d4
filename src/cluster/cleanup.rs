//! Finding and removing what earlier runs left: every object labelled
//! `app.kubernetes.io/managed-by=kscan`, of one run (`--run`) or past its
//! `kscan.dev/expires-at` time (`--all-expired`).
//!
//! Secrets are never listed (listing Secrets is reading them): the Secret a
//! run's token is bound to has the name of the run's ServiceAccount, so it is
//! removed with each ServiceAccount found, and by name for `--run`.

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams};
use serde::de::DeserializeOwned;

use super::access::kubeconfig_dir_prefix;
use super::client::Connection;
use super::retry::Backoff;
use super::teardown::{Owned, Teardown, TeardownReport};
use super::{api_error, api_status, RunId, EXPIRES_ANNOTATION, MANAGED_BY};
use crate::error::Result;
use crate::target::Label;

/// Which objects to remove.
#[derive(Debug, Clone)]
pub enum Which {
    /// Everything of one run.
    Run(RunId),
    /// Everything whose expiry time has passed.
    Expired,
}

/// Where to look: one namespace, or all (needs cluster-wide list).
pub type Scope = Option<Label>;

/// Delete the objects `which` selects in `scope`, with `admin`.
pub async fn cleanup(admin: &Connection, scope: &Scope, which: &Which) -> Result<TeardownReport> {
    let selector = match which {
        Which::Run(run) => run.selector(),
        Which::Expired => format!("{}={}", MANAGED_BY.0, MANAGED_BY.1),
    };
    let now = Utc::now();
    let teardown = Teardown::new(admin.client.clone());
    // Bindings before roles and accounts: teardown deletes newest first.
    let mut found = Vec::new();
    found.extend(list::<ServiceAccount>(admin, scope, &selector).await?.into_iter().map(|m| owned(m, Kind::Sa)));
    found.extend(list::<Role>(admin, scope, &selector).await?.into_iter().map(|m| owned(m, Kind::Role)));
    found.extend(list::<RoleBinding>(admin, scope, &selector).await?.into_iter().map(|m| owned(m, Kind::Binding)));
    found.extend(list::<Pod>(admin, scope, &selector).await?.into_iter().map(|m| owned(m, Kind::Pod)));
    // Jobs last: teardown deletes newest first, so a Job (and with it its
    // pods) goes before the access its pods run with.
    let jobs = match list_metadata::<Job>(admin, scope, &selector).await {
        Ok(jobs) => jobs,
        // Creating a Job (--dispatch jobs) needs more than listing them: an
        // identity that may not list Jobs (the service's: it scans in its own
        // process) cannot have left one. Said in the report, not an error.
        Err(kube::Error::Api(status)) if status.code == 403 => {
            teardown.note(format!("Jobs were not looked for: this identity may not list them ({})", status.message));
            Vec::new()
        }
        Err(e) => return Err(api_error(e, &format!("listing Jobs labelled {selector}"))),
    };
    found.extend(jobs.into_iter().map(|m| owned(m, Kind::Job)));
    let mut accounts = 0;
    for (meta, object) in found {
        if matches!(which, Which::Expired) && !expired(&meta, now) {
            continue;
        }
        if let Owned::ServiceAccount { namespace, name } = &object {
            accounts += 1;
            teardown.own(Owned::Secret { namespace: namespace.clone(), name: name.clone() });
        }
        teardown.own(object);
    }
    let mut report = teardown.finish().await;
    if let (Which::Run(run), Some(ns), 0) = (which, scope, accounts) {
        report.deleted.extend(orphan_secret(admin, ns, run).await?);
    }
    Ok(report)
}

/// The run's Secret when its ServiceAccount is gone already (a teardown
/// that could delete the account but not the Secret): deleted by name, and
/// returned when it was there.
async fn orphan_secret(admin: &Connection, ns: &Label, run: &RunId) -> Result<Option<Owned>> {
    let secrets: Api<Secret> = Api::namespaced(admin.client.clone(), ns.as_str());
    let name = run.object_name();
    let params = DeleteParams::default();
    match Backoff::API.retry("deleting the run's secret", || secrets.delete(&name, &params)).await {
        Ok(_) => Ok(Some(Owned::Secret { namespace: ns.to_string(), name })),
        Err(e) if matches!(api_status(&e), Some(404)) => Ok(None),
        Err(e) => Err(api_error(e, &format!("deleting secret {name} in namespace {ns}"))),
    }
}

/// Remove the run's private directories (kubeconfig, work files) from the
/// system temporary directory: all are named `kscan-<run id>-…`.
pub fn remove_local_dirs(run: &RunId) {
    let prefix = format!("{}-", kubeconfig_dir_prefix(run));
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!("could not remove {}: {e}", entry.path().display());
            }
        }
    }
}

enum Kind {
    Sa,
    Role,
    Binding,
    Pod,
    Job,
}

fn owned(meta: ObjectMeta, kind: Kind) -> (ObjectMeta, Owned) {
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let object = match kind {
        Kind::Sa => Owned::ServiceAccount { namespace, name },
        Kind::Role => Owned::Role { namespace, name },
        Kind::Binding => Owned::RoleBinding { namespace, name },
        Kind::Pod => Owned::Pod { namespace, name },
        Kind::Job => Owned::Job { namespace, name },
    };
    (meta, object)
}

/// Past its expiry annotation; objects without a readable one are kept.
fn expired(meta: &ObjectMeta, now: DateTime<Utc>) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(EXPIRES_ANNOTATION))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t < now)
}

async fn list<K>(admin: &Connection, scope: &Scope, selector: &str) -> Result<Vec<ObjectMeta>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let kind = K::kind(&Default::default()).to_string();
    list_metadata::<K>(admin, scope, selector)
        .await
        .map_err(|e| api_error(e, &format!("listing {kind}s labelled {selector}")))
}

async fn list_metadata<K>(admin: &Connection, scope: &Scope, selector: &str) -> kube::Result<Vec<ObjectMeta>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = match scope {
        Some(ns) => Api::namespaced(admin.client.clone(), ns.as_str()),
        None => Api::all(admin.client.clone()),
    };
    let list = api.list_metadata(&ListParams::default().labels(selector)).await?;
    Ok(list.items.into_iter().map(|o| o.metadata).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn expiry_is_read_from_the_annotation() {
        let now = Utc::now();
        let meta = |t: Option<&str>| ObjectMeta {
            annotations: t.map(|t| BTreeMap::from([(EXPIRES_ANNOTATION.to_owned(), t.to_owned())])),
            ..Default::default()
        };
        assert!(expired(&meta(Some("2000-01-01T00:00:00Z")), now));
        assert!(!expired(&meta(Some("2999-01-01T00:00:00Z")), now));
        assert!(!expired(&meta(Some("garbage")), now));
        assert!(!expired(&meta(None), now));
    }
}
