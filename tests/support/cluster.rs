//! Working on the testbed cluster from tests: the admin client, a namespace
//! per test (deleted afterwards, also when the test panics), pods from the
//! testbed's images, and what kscan left behind.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

/// The testbed's conventional target: busybox shell, users, runs as root.
pub const STANDARD: &str = "kscan.test/standard:1";
/// One static binary, no shell, a planted file.
pub const DISTROLESS: &str = "kscan.test/distroless:1";
/// Runs as UID 65532.
pub const NONROOT: &str = "kscan.test/nonroot:1";
/// The kscan static binary and busybox, built from this checkout.
pub const SCANNER: &str = "kscan.test/scanner:dev";
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

/// Creates a pod whose containers use the local images (never pulled);
/// `extra` is merged into its spec.
pub async fn create_pod_with(pods: &Api<Pod>, name: &str, mut containers: serde_json::Value, extra: serde_json::Value) {
    for c in containers.as_array_mut().unwrap() {
        c["imagePullPolicy"] = json!("Never");
    }
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

/// Polls the pod until `ready` returns `Some`, failing early when a container
/// cannot start.
pub async fn wait_until<T>(pods: &Api<Pod>, name: &str, what: &str, ready: impl Fn(&Pod) -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let pod = pods.get(name).await.unwrap_or_else(|e| panic!("reading pod {name}: {e}"));
        if let Some(value) = ready(&pod) {
            return value;
        }
        let status = pod.status.clone().unwrap_or_default();
        let all =
            status.container_statuses.iter().flatten().chain(status.ephemeral_container_statuses.iter().flatten());
        for c in all {
            let reason = c.state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref());
            if let Some(
                r @ ("ErrImageNeverPull"
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
    found
}

/// Whether `result` is a 403.
pub fn is_forbidden<T>(result: &Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(status)) if status.code == 403)
}
