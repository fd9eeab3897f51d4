//! Ephemeral least-privilege access for one run.
//!
//! With the caller's credentials kscan creates a ServiceAccount, a Role that
//! grants only what the strategy needs on the target pod(s) by name, and a
//! RoleBinding, all named `kscan-<run id>`, labelled
//! `app.kubernetes.io/managed-by=kscan` and `kscan.dev/run=<run id>`, and
//! annotated with `kscan.dev/expires-at`. It then creates an empty Secret of
//! the same name, the object the token is bound to, and requests a token for
//! the ServiceAccount (TokenRequest, 600–3600 s, default 900 s,
//! `boundObjectRef` that Secret): the API server refuses the token as soon
//! as the Secret is gone, and teardown deletes the Secret first. It writes a
//! kubeconfig with it — server and CA from the caller's configuration — at
//! mode 0600 in a private (0700) temporary directory. Everything after setup
//! (exec, the engine) runs with that kubeconfig only.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::config::{AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};

use super::client::Connection;
use super::retry::Backoff;
use super::teardown::{Owned, Teardown};
use super::{api_error, api_status, labels, RunId, EXPIRES_ANNOTATION};
use crate::error::{Error, Result};
use crate::target::Label;

/// Type of the Secret a run's token is bound to. It holds no data: its only
/// job is to exist while the run does.
pub const TOKEN_BINDING_TYPE: &str = "kscan.dev/token-binding";

/// How long RBAC changes may take to reach the authorizer.
const RBAC_SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// A token lifetime kscan accepts: 600–3600 seconds (the API server's
/// minimum is 600).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTtl(u32);

impl TokenTtl {
    /// The default, 15 minutes.
    pub const DEFAULT: TokenTtl = TokenTtl(900);

    /// Validate a lifetime in seconds.
    pub fn new(seconds: u32) -> Result<Self> {
        if (600..=3600).contains(&seconds) {
            Ok(TokenTtl(seconds))
        } else {
            Err(Error::input(format!("--token-ttl {seconds} is out of range: use 600 to 3600 seconds")))
        }
    }

    /// Seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl std::str::FromStr for TokenTtl {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let n: u32 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
        TokenTtl::new(n).map_err(|e| e.to_string())
    }
}

/// One grant of the Role: verbs on a resource (or subresource) of the core
/// API group, limited to the named objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `pods`, `pods/exec`, `pods/ephemeralcontainers`.
    pub resource: &'static str,
    /// The verbs.
    pub verbs: &'static [&'static str],
    /// The objects, by name. Empty only for `create`, which RBAC cannot
    /// narrow by name.
    pub names: Vec<String>,
}

impl Grant {
    fn rule(&self) -> PolicyRule {
        PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec![self.resource.to_owned()]),
            resource_names: (!self.names.is_empty()).then(|| self.names.clone()),
            verbs: self.verbs.iter().map(|v| (*v).to_owned()).collect(),
            ..Default::default()
        }
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct AccessSpec {
    /// Namespace of the targets (and of the objects kscan creates).
    pub namespace: Label,
    /// The Role's grants.
    pub grants: Vec<Grant>,
    /// Token lifetime.
    pub ttl: TokenTtl,
}

/// Access for one run: the scoped kubeconfig and a client built from it.
pub struct ScopedAccess {
    /// The ServiceAccount (and Role, RoleBinding) name.
    pub name: String,
    /// The namespace.
    pub namespace: Label,
    /// The kubeconfig file (0600, in a private directory).
    pub kubeconfig: PathBuf,
    /// A client that uses only the scoped token.
    pub connection: Connection,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// The expiry every object of the run carries in its
    /// `kscan.dev/expires-at` annotation (a little after the token's).
    pub objects_expire_at: DateTime<Utc>,
}

/// `kscan.dev/expires-at` as the objects of a run carry it.
pub fn expiry_annotation(at: DateTime<Utc>) -> (String, String) {
    (EXPIRES_ANNOTATION.to_owned(), at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn metadata(name: &str, namespace: &Label, run: &RunId, expires_at: DateTime<Utc>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.as_str().to_owned()),
        labels: Some(labels(run)),
        annotations: Some(BTreeMap::from([expiry_annotation(expires_at)])),
        ..Default::default()
    }
}

fn forbidden_hint(err: kube::Error, admin: &Connection, what: &str, namespace: &Label) -> Error {
    if api_status(&err) == Some(403) {
        Error::scan(format!(
            "the identity from {} may not {what} in namespace {namespace}: kscan needs create/delete on \
             serviceaccounts, secrets, roles, rolebindings and create on serviceaccounts/token there, and must itself \
             hold every permission the scan Role grants (RBAC forbids granting more than you have)",
            admin.source
        ))
        .with_source(err)
    } else {
        api_error(err, &format!("{what} in namespace {namespace}"))
    }
}

/// Create the ServiceAccount, Role, RoleBinding, the Secret the token is
/// bound to, and the token for `run`, each registered with `teardown`
/// before it is created.
pub async fn create(admin: &Connection, run: &RunId, spec: &AccessSpec, teardown: &Teardown) -> Result<ScopedAccess> {
    let name = run.object_name();
    let ns = spec.namespace.as_str();
    // The objects outlive the token a little so that `kscan cleanup
    // --all-expired` never removes the access of a run still in progress.
    let expires_at = Utc::now() + chrono::Duration::seconds(i64::from(spec.ttl.seconds()) + 60);
    let meta = || metadata(&name, &spec.namespace, run, expires_at);
    let post = PostParams::default();

    let sas: Api<ServiceAccount> = Api::namespaced(admin.client.clone(), ns);
    let account =
        ServiceAccount { metadata: meta(), automount_service_account_token: Some(false), ..Default::default() };
    teardown
        .create_object(Owned::ServiceAccount { namespace: ns.into(), name: name.clone() }, &sas, &account)
        .await
        .map_err(|e| forbidden_hint(e, admin, "create ServiceAccounts", &spec.namespace))?;

    let roles: Api<Role> = Api::namespaced(admin.client.clone(), ns);
    let rules = spec.grants.iter().map(Grant::rule).collect();
    let role = Role { metadata: meta(), rules: Some(rules) };
    teardown
        .create_object(Owned::Role { namespace: ns.into(), name: name.clone() }, &roles, &role)
        .await
        .map_err(|e| forbidden_hint(e, admin, "create Roles", &spec.namespace))?;

    let bindings: Api<RoleBinding> = Api::namespaced(admin.client.clone(), ns);
    let binding = RoleBinding {
        metadata: meta(),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name: name.clone() },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.clone(),
            namespace: Some(ns.into()),
            ..Default::default()
        }]),
    };
    teardown
        .create_object(Owned::RoleBinding { namespace: ns.into(), name: name.clone() }, &bindings, &binding)
        .await
        .map_err(|e| forbidden_hint(e, admin, "create RoleBindings", &spec.namespace))?;

    let secrets: Api<Secret> = Api::namespaced(admin.client.clone(), ns);
    let binding_object = Secret { metadata: meta(), type_: Some(TOKEN_BINDING_TYPE.into()), ..Default::default() };
    let binding_object = teardown
        .create_object(Owned::Secret { namespace: ns.into(), name: name.clone() }, &secrets, &binding_object)
        .await
        .map_err(|e| forbidden_hint(e, admin, "create Secrets", &spec.namespace))?;

    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(i64::from(spec.ttl.seconds())),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
                name: Some(name.clone()),
                uid: binding_object.metadata.uid,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let issued = teardown
        .backoff()
        .retry("requesting a token", || sas.create_token_request(&name, &post, &request))
        .await
        .map_err(|e| forbidden_hint(e, admin, "create tokens (serviceaccounts/token)", &spec.namespace))?;
    let status = issued.status.ok_or_else(|| Error::scan("the API server answered a TokenRequest without a token"))?;
    let token_expiry = DateTime::<Utc>::from(std::time::SystemTime::from(status.expiration_timestamp.0));

    let dir = teardown.private_dir(&format!("{}-", kubeconfig_dir_prefix(run)))?;
    let kubeconfig = dir.join("kubeconfig");
    write_kubeconfig(&kubeconfig, &admin.config, &name, ns, status.token)?;

    let connection = super::client::ClusterArgs { kubeconfig: Some(kubeconfig.clone()), context: None }
        .connect()
        .await
        .map_err(|e| e.context("using the scoped kubeconfig"))?;
    wait_until_granted(&connection, ns, &spec.grants, teardown.backoff()).await?;
    Ok(ScopedAccess {
        name,
        namespace: spec.namespace.clone(),
        kubeconfig,
        connection,
        expires_at: token_expiry,
        objects_expire_at: expires_at,
    })
}

/// The start of the name of a run's private kubeconfig directory in the
/// system temporary directory (`kscan access delete` finds it by this).
pub fn kubeconfig_dir_prefix(run: &RunId) -> String {
    format!("kscan-{run}")
}

/// Write a kubeconfig that carries `token` for `user`, with the server and
/// CA of `base`, at mode 0600. The token is moved in and never printed.
pub fn write_kubeconfig(path: &Path, base: &kube::Config, user: &str, namespace: &str, token: String) -> Result<()> {
    let ca = base.root_cert.as_ref().map(|certs| {
        let pem: String = certs
            .iter()
            .map(|der| {
                let b64 = base64::engine::general_purpose::STANDARD.encode(der);
                let lines: Vec<&str> =
                    b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("base64 is ASCII")).collect();
                format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
            })
            .collect();
        base64::engine::general_purpose::STANDARD.encode(pem)
    });
    let config = Kubeconfig {
        clusters: vec![NamedCluster {
            name: "kscan".into(),
            cluster: Some(Cluster {
                server: Some(base.cluster_url.to_string().trim_end_matches('/').to_owned()),
                certificate_authority_data: ca,
                insecure_skip_tls_verify: base.accept_invalid_certs.then_some(true),
                tls_server_name: base.tls_server_name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.into(),
            auth_info: Some(AuthInfo { token: Some(token.into()), ..Default::default() }),
            ..Default::default()
        }],
        contexts: vec![NamedContext {
            name: "kscan".into(),
            context: Some(Context {
                cluster: "kscan".into(),
                user: Some(user.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        current_context: Some("kscan".into()),
        ..Default::default()
    };
    let text =
        serde_yaml::to_string(&config).map_err(|e| Error::scan("cannot encode the kubeconfig").with_source(e))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::scan(format!("cannot create {}", path.display())).with_source(e))?;
    file.write_all(text.as_bytes()).map_err(|e| Error::scan(format!("cannot write {}", path.display())).with_source(e))
}

/// RBAC changes reach the authorizer after a moment: ask, as the scoped
/// identity, until every grant is allowed (this also proves the Role works).
async fn wait_until_granted(scoped: &Connection, namespace: &str, grants: &[Grant], backoff: Backoff) -> Result<()> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(scoped.client.clone());
    let post = PostParams::default();
    let start = Instant::now();
    for grant in grants {
        let (resource, subresource) = match grant.resource.split_once('/') {
            Some((r, s)) => (r, Some(s.to_owned())),
            None => (grant.resource, None),
        };
        for verb in grant.verbs {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        namespace: Some(namespace.into()),
                        verb: Some((*verb).into()),
                        resource: Some(resource.into()),
                        subresource: subresource.clone(),
                        name: grant.names.first().cloned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            loop {
                let answer = backoff
                    .retry("asking whether the scoped access works", || reviews.create(&post, &review))
                    .await
                    .map_err(|e| api_error(e, "asking the API server whether the scoped access works"))?;
                if answer.status.is_some_and(|s| s.allowed) {
                    break;
                }
                if start.elapsed() > RBAC_SETTLE_TIMEOUT {
                    return Err(Error::scan(format!(
                        "the scoped identity is still not allowed to {verb} {} after {RBAC_SETTLE_TIMEOUT:?}",
                        grant.resource
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bounds() {
        assert!(TokenTtl::new(599).is_err());
        assert!(TokenTtl::new(3601).is_err());
        assert_eq!(TokenTtl::new(600).unwrap().seconds(), 600);
        assert_eq!("900".parse::<TokenTtl>().unwrap(), TokenTtl::DEFAULT);
        assert!("x".parse::<TokenTtl>().is_err());
    }

    #[test]
    fn grants_narrow_by_name() {
        let g = Grant { resource: "pods/exec", verbs: &["get", "create"], names: vec!["web-0".into()] };
        let rule = g.rule();
        assert_eq!(rule.resources.unwrap(), ["pods/exec"]);
        assert_eq!(rule.resource_names.unwrap(), ["web-0"]);
        assert_eq!(rule.verbs, ["get", "create"]);
        assert_eq!(rule.api_groups.unwrap(), [""]);
    }

    #[test]
    fn kubeconfig_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        let mut base = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        base.root_cert = Some(vec![vec![1, 2, 3]]);
        write_kubeconfig(&path, &base, "kscan-x", "ns", "secret-token".into()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("secret-token") && text.contains("certificate-authority-data"));
        let parsed = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(parsed.current_context.as_deref(), Some("kscan"));
        assert!(write_kubeconfig(&path, &base, "kscan-x", "ns", "t".into()).is_err(), "never overwrites");
    }
}
