//! Working on the testbed cluster from tests: the admin client, a namespace
//! per test (deleted afterwards, also when the test panics), pods from the
//! testbed's images, and what kscan left behind.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

/// The testbed's images for this checkout, as `tests/testbed/testbed up`
/// pushed them to its registry: `{"NAME": {"ref": "...@sha256:...", "rootfs":
/// "..."}}` in the checkout's `target/testbed-images.json` (or the file
/// `KSCAN_TESTBED_IMAGES` names).
static IMAGES: LazyLock<serde_json::Value> = LazyLock::new(|| {
    let path = std::env::var_os("KSCAN_TESTBED_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/testbed-images.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading the testbed's image references {}: {e}: run `tests/testbed/testbed up` from this checkout \
             (it builds and pushes the images and writes that file)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
});

fn image_entry(name: &str) -> &'static serde_json::Value {
    let entry = &IMAGES[name];
    assert!(
        entry.is_object(),
        "no image '{name}' in the testbed's image references: run `tests/testbed/testbed up` (or `testbed images \
         {name}`) from this checkout"
    );
    entry
}

/// The registry reference (by digest) of one of the testbed's images.
pub fn image(name: &str) -> &'static str {
    image_entry(name)["ref"].as_str().unwrap_or_else(|| panic!("image '{name}' has no reference"))
}

/// The root filesystem the testbed built image `name` from (the Debian
/// targets): tests derive what to expect of a scan from it.
pub fn rootfs(name: &str) -> &'static Path {
    let path = image_entry(name)["rootfs"].as_str().unwrap_or_else(|| panic!("image '{name}' records no rootfs"));
    let path = Path::new(path);
    assert!(path.is_dir(), "{}: the root filesystem of {name} is gone: run `tests/testbed/testbed up`", path.display());
    path
}

/// The testbed's conventional target: busybox shell, users, runs as root.
pub fn standard() -> &'static str {
    image("standard")
}
/// One static binary, no shell, a planted file.
pub fn distroless() -> &'static str {
    image("distroless")
}
/// Runs as UID 65532.
pub fn nonroot() -> &'static str {
    image("nonroot")
}
/// A minbase Debian root filesystem (mmdebstrap): dash, bash, setuid helpers.
pub fn debian_standard() -> &'static str {
    image("debian-standard")
}
/// Debian packages unpacked the distroless way: libc, certificates, time
/// zones, one static program, no shell; runs as 65532.
pub fn debian_distroless() -> &'static str {
    image("debian-distroless")
}
/// The scanner image built from this checkout (`scripts/scanner-image`).
pub fn scanner() -> &'static str {
    image("scanner")
}
/// A command that keeps a container running and stops at once on SIGTERM.
pub const KEEP_RUNNING: [&str; 3] = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"];
/// What `kscan access create` (and every scan) makes: ServiceAccount,
/// Secret (the token's bound object), Role, RoleBinding.
pub const ACCESS_OBJECTS: usize = 4;
/// How long a pod may take to start.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// A client for the testbed's admin (system:masters) kubeconfig.
pub async fn admin_client() -> Client {
    let path = super::testbed_kubeconfig();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    client_for(kubeconfig).await
}

/// A client for `kubeconfig`.
pub async fn client_for(kubeconfig: Kubeconfig) -> Client {
    let config =
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("a usable kubeconfig");
    Client::try_from(config).expect("a client")
}

/// A unique RFC 1123 name: tests may run concurrently, also from other suites.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("kscan-t-{prefix}-{}-{}-{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
}

/// Runs `body` in a fresh namespace, and deletes the namespace afterwards
/// whether or not `body` panicked.
pub async fn in_namespace<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let client = admin_client().await;
    let ns = unique(test);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let object =
        serde_json::from_value(json!({"metadata": {"name": ns, "labels": {"kscan.test/owner": test}}})).unwrap();
    namespaces.create(&PostParams::default(), &object).await.expect("creating the test namespace");
    // Pods are admitted only once the controller manager made `default`.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + TIMEOUT;
    while accounts.get_opt("default").await.expect("reading ServiceAccounts").is_none() {
        assert!(Instant::now() < deadline, "no default ServiceAccount in {ns}: is kube-controller-manager running?");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let outcome = tokio::spawn(body(client, ns.clone())).await;
    if let Err(e) = namespaces.delete(&ns, &DeleteParams::background()).await {
        eprintln!("warning: could not delete test namespace {ns}: {e}");
    }
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

/// Creates a pod whose containers pull their images from the testbed's
/// registry (the default pull policy); `extra` is merged into its spec.
pub async fn create_pod_with(pods: &Api<Pod>, name: &str, containers: serde_json::Value, extra: serde_json::Value) {
    let mut spec = json!({
        "containers": containers,
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": false,
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("creating pod {name}: {e}"));
}

/// Creates pod `name` with `containers` and waits until it runs.
pub async fn running_pod(client: &Client, ns: &str, name: &str, containers: serde_json::Value) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    create_pod_with(&pods, name, containers, json!({})).await;
    wait_running(&pods, name).await
}

/// Runs `command` in `container` of `pod` as the admin and asserts that it
/// succeeded (e.g. to plant a defect in a running target).
pub async fn exec_ok(pods: &Api<Pod>, pod: &str, container: &str, command: &[&str]) {
    let params = kube::api::AttachParams::default().container(container).stdin(false).stdout(true).stderr(true);
    let mut process = pods.exec(pod, command.to_vec(), &params).await.expect("exec in the target");
    let status = process.take_status().unwrap().await;
    assert_eq!(status.and_then(|s| s.status).as_deref(), Some("Success"), "{command:?} in {pod}");
}

/// Panics, with the pod's status, when a container of `pod` waits for a
/// reason it will not get over (an image that cannot be pulled, …).
fn cannot_start(pod: &Pod, name: &str) {
    let status = pod.status.clone().unwrap_or_default();
    let all = status.container_statuses.iter().flatten().chain(status.ephemeral_container_statuses.iter().flatten());
    for c in all {
        let reason = c.state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref());
        if let Some(
            r @ ("ErrImagePull"
            | "ImagePullBackOff"
            | "CreateContainerError"
            | "CreateContainerConfigError"
            | "CrashLoopBackOff"
            | "RunContainerError"
            | "InvalidImageName"),
        ) = reason
        {
            panic!("pod {name}: container {} cannot start ({r}); status: {status:#?}", c.name);
        }
    }
}

/// Polls the pod until `ready` returns `Some`, failing early when a container
/// cannot start.
pub async fn wait_until<T>(pods: &Api<Pod>, name: &str, what: &str, ready: impl Fn(&Pod) -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let pod = pods.get(name).await.unwrap_or_else(|e| panic!("reading pod {name}: {e}"));
        if let Some(value) = ready(&pod) {
            return value;
        }
        cannot_start(&pod, name);
        let status = pod.status.clone().unwrap_or_default();
        assert!(status.phase.as_deref() != Some("Failed"), "pod {name} failed: {status:#?}");
        assert!(Instant::now() < deadline, "timed out waiting for {what} in pod {name}: {status:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until every container of the pod runs.
pub async fn wait_running(pods: &Api<Pod>, name: &str) -> Pod {
    wait_until(pods, name, "Running", |pod| {
        let status = pod.status.as_ref()?;
        let running = status.phase.as_deref() == Some("Running")
            && status
                .container_statuses
                .iter()
                .flatten()
                .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()));
        running.then(|| pod.clone())
    })
    .await
}

/// Creates Deployment `name` of `replicas` pods labelled `app=NAME`, each
/// with one container `app` of the testbed's `standard` image that keeps
/// running, and waits until every one of them runs; their names, sorted.
/// (One object for many targets: the pods start in parallel.)
pub async fn deployment(client: &Client, ns: &str, name: &str, replicas: usize) -> Vec<String> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let object = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "app", "image": standard(), "command": KEEP_RUNNING}],
                    "terminationGracePeriodSeconds": 0,
                    "automountServiceAccountToken": false,
                },
            },
        },
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &object).await.unwrap_or_else(|e| panic!("creating {name}: {e}"));
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let params = ListParams::default().labels(&format!("app={name}"));
    // Many pods on one node start more slowly than one.
    let deadline = Instant::now() + TIMEOUT * 3;
    loop {
        let list = pods.list(&params).await.expect("listing the Deployment's pods");
        let running: Vec<String> = list
            .items
            .iter()
            .filter(|p| {
                let status = p.status.as_ref();
                p.metadata.deletion_timestamp.is_none()
                    && status.and_then(|s| s.phase.as_deref()) == Some("Running")
                    && status
                        .and_then(|s| s.container_statuses.as_ref())
                        .is_some_and(|c| c.iter().all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some())))
            })
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        if running.len() == replicas && list.items.len() == replicas {
            let mut names = running;
            names.sort();
            return names;
        }
        // A pod that cannot start fails the wait at once, with its status.
        for pod in &list.items {
            cannot_start(pod, pod.metadata.name.as_deref().unwrap_or_default());
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {replicas} running pods of Deployment {name}: {} of {} run",
            running.len(),
            list.items.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Every object in `ns` labelled `app.kubernetes.io/managed-by=kscan`, as
/// `Kind/name` — what a run left behind.
pub async fn kscan_objects(client: &Client, ns: &str) -> Vec<String> {
    let params = ListParams::default().labels("app.kubernetes.io/managed-by=kscan");
    let mut found = Vec::new();
    macro_rules! collect {
        ($kind:ty, $label:literal) => {
            for o in Api::<$kind>::namespaced(client.clone(), ns).list_metadata(&params).await.expect("listing") {
                found.push(format!("{}/{}", $label, o.metadata.name.unwrap_or_default()));
            }
        };
    }
    collect!(ServiceAccount, "ServiceAccount");
    collect!(Secret, "Secret");
    collect!(Role, "Role");
    collect!(RoleBinding, "RoleBinding");
    collect!(Pod, "Pod");
    collect!(Job, "Job");
    found
}

/// Whether `result` is a 403.
pub fn is_forbidden<T>(result: &Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(status)) if status.code == 403)
}

/// A kubeconfig for a caller in `ns` that may set up a scan — create the
/// ServiceAccount, Role, RoleBinding and token, and holds what the Role
/// grants — but may delete nothing: its scans end with teardown leaving
/// the run's objects behind (exit 4). Written into `dir`.
pub async fn no_delete_kubeconfig(client: &Client, ns: &str, dir: &std::path::Path) -> std::path::PathBuf {
    caller_kubeconfig(client, ns, dir, "kscan-test-no-delete", in_process_scan_rules(false)).await
}

/// The rules of a caller that may run an in-process scan of the exec,
/// debug or auto strategy: read pods, hold what the run's Role grants, and
/// create the run's ServiceAccount, Secret, Role, RoleBinding and token;
/// with `delete`, delete those again. Nothing on Jobs.
pub fn in_process_scan_rules(delete: bool) -> serde_json::Value {
    let made: &[&str] = if delete { &["get", "create", "delete"] } else { &["get", "create"] };
    json!([
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["serviceaccounts", "secrets"], "verbs": made},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": made},
    ])
}

/// A kubeconfig, written into `dir`, for a caller `name` in `ns` that holds
/// exactly the RBAC `rules` there.
pub async fn caller_kubeconfig(
    client: &Client,
    ns: &str,
    dir: &std::path::Path,
    name: &str,
    rules: serde_json::Value,
) -> std::path::PathBuf {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.expect("creating the caller's ServiceAccount");
    let role = serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).unwrap();
    Api::<Role>::namespaced(client.clone(), ns).create(&PostParams::default(), &role).await.expect("creating the Role");
    let binding = serde_json::from_value(json!({"metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("creating the RoleBinding");
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() },
        ..Default::default()
    };
    let token = sas.create_token_request(name, &PostParams::default(), &request).await.unwrap().status.unwrap().token;
    let mut kubeconfig = Kubeconfig::read_from(super::testbed_kubeconfig()).unwrap();
    kubeconfig.auth_infos = vec![serde_json::from_value(json!({"name": name, "user": {"token": token}})).unwrap()];
    for context in &mut kubeconfig.contexts {
        if let Some(c) = context.context.as_mut() {
            c.user = Some(name.into());
        }
    }
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

/// `HOST:PORT` of the API server, as the admin kubeconfig names it: what
/// `--dispatch-api-server` gives shard pods, which cannot reach the
/// testbed's `kubernetes` Service (it has no kube-proxy).
pub fn api_server() -> String {
    let kubeconfig = Kubeconfig::read_from(super::testbed_kubeconfig()).unwrap();
    let server = kubeconfig.clusters[0].cluster.as_ref().unwrap().server.clone().unwrap();
    server.trim_start_matches("https://").trim_end_matches('/').to_owned()
}

/// An image that runs this test binary's kscan at `/usr/local/bin/kscan`,
/// for `kscan scan --dispatch jobs --dispatch-image`: the testbed has no
/// kscan image, so one is built once per test binary from the testbed's
/// `debian-standard` image (the glibc and libgcc a debug build links) and
/// the binary (without its debug sections), and pushed to the testbed's
/// registry under a tag named after the binary's digest.
pub fn dispatch_image() -> &'static str {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE.get_or_init(build_dispatch_image)
}

fn build_dispatch_image() -> String {
    use sha2::{Digest, Sha256};
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e} (scripts/setup installs it)"));
        assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let binary = dir.path().join("kscan");
    run(std::process::Command::new("objcopy").arg("--strip-debug").arg(env!("CARGO_BIN_EXE_kscan")).arg(&binary));
    let digest: String = Sha256::digest(std::fs::read(&binary).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    let layout = dir.path().join("oci");
    let base = format!("oci:{}:image", layout.display());
    // skopeo takes a tag or a digest, not both.
    let (named, digest_part) = debian_standard().split_once('@').expect("the image is referenced by digest");
    let repository = match named.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => named,
    };
    run(std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{repository}@{digest_part}"))
        .arg(&base));
    run(std::process::Command::new("umoci")
        .args(["insert", "--image"])
        .arg(format!("{}:image", layout.display()))
        .arg(&binary)
        .arg("/usr/local/bin/kscan"));
    let registry = image("debian-standard").split('/').next().expect("a registry host").to_owned();
    let reference = format!("{registry}/kscan/kscan-dispatch:test-{}", &digest[..16]);
    run(std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(&base)
        .arg(format!("docker://{reference}")));
    reference
}
