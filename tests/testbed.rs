//! What kscan relies on, proven on the real testbed cluster (a real API
//! server, kubelet, containerd and runc; `tests/testbed/testbed up`):
//!
//! 1. a pod from each of the testbed's images reaches Running;
//! 2. exec returns stdout, stderr and the exit code, a non-zero one included;
//! 3. an ephemeral container targeting the distroless container sees its
//!    processes and reads its files through `/proc/<pid>/root`;
//! 4. in a pod with `shareProcessNamespace`, one container reads another's
//!    root filesystem through `/proc/<pid>/root`;
//! 5. RBAC is enforced for TokenRequest tokens, and exec over WebSocket needs
//!    `get` and `create` on `pods/exec` (from Kubernetes 1.35 on).
//!
//! Every test works in a namespace of its own with a unique name and deletes
//! it afterwards, also when the test fails, so tests may run in parallel with
//! each other and with other suites on the same cluster.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use kube::Client;
use serde_json::json;
use support::cluster::{
    client_for, create_pod_with, debian_distroless, debian_standard, distroless, in_namespace, is_forbidden, nonroot,
    scanner, standard, wait_running, wait_until, KEEP_RUNNING, TIMEOUT,
};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The distroless image's only process.
const DISTROLESS_APP: &str = "/usr/local/bin/app -P";
const PLANTED: &str = "kscan planted file: distroless target\n";

// ---------------------------------------------------------------------------
// The five claims
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_pod_from_each_image_reaches_running() {
    in_namespace("images", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let images = [
            ("standard", standard()),
            ("distroless", distroless()),
            ("nonroot", nonroot()),
            ("debian-standard", debian_standard()),
            ("debian-distroless", debian_distroless()),
            ("scanner", scanner()),
        ];
        for (name, image) in images {
            let mut container = json!({"name": "main", "image": image});
            if name == "debian-standard" {
                container["command"] = json!(KEEP_RUNNING);
            }
            if name == "scanner" {
                container["command"] = json!(["/usr/local/bin/kscan-agent", "hold", "--seconds", "600"]);
            }
            create_pod(&pods, name, json!([container])).await;
        }
        for (name, image) in images {
            let pod = wait_running(&pods, name).await;
            // Pulled from the testbed's registry, as the reference says: the
            // runtime reports the image by the registry's repository digest.
            let status = &pod.status.unwrap().container_statuses.unwrap()[0];
            let (repository, digest) = image.split_once('@').unwrap();
            let repository = repository.rsplit_once(':').unwrap().0;
            assert_eq!(status.image_id, format!("{repository}@{digest}"), "{name}: {status:?}");
        }
        // Each image is what it claims to be.
        let os = exec(&pods, "standard", "main", &["cat", "/etc/os-release"]).await.unwrap();
        assert!(os.stdout.contains("\nID=kscan-standard\n"), "{os:?}");
        let os = exec(&pods, "debian-standard", "main", &["cat", "/etc/os-release"]).await.unwrap();
        assert!(os.stdout.contains("\nID=debian\n"), "{os:?}");
        let id = exec(&pods, "nonroot", "main", &["id", "-u"]).await.unwrap();
        assert_eq!((id.stdout.as_str(), id.exit), ("65532\n", Exit::Code(0)));
        // The distroless images and the scanner have no shell to exec: the
        // runtime cannot start it.
        for name in ["distroless", "debian-distroless", "scanner"] {
            let no_shell = exec(&pods, name, "main", &["/bin/sh", "-c", "true"]).await.unwrap();
            assert_not_started(&no_shell, "/bin/sh");
        }
    })
    .await;
}

#[tokio::test]
async fn exec_returns_stdout_stderr_and_exit_code() {
    in_namespace("exec", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        create_pod(&pods, "target", json!([{"name": "main", "image": standard()}])).await;
        wait_running(&pods, "target").await;

        let ok = exec(&pods, "target", "main", &["sh", "-c", "echo to-stdout; echo to-stderr >&2"]).await.unwrap();
        assert_eq!(ok, ExecOutput { stdout: "to-stdout\n".into(), stderr: "to-stderr\n".into(), exit: Exit::Code(0) });

        let failed =
            exec(&pods, "target", "main", &["sh", "-c", "echo partial; echo broken >&2; exit 42"]).await.unwrap();
        assert_eq!(failed, ExecOutput { stdout: "partial\n".into(), stderr: "broken\n".into(), exit: Exit::Code(42) });

        // A command that does not exist is the runtime's error (a Failure
        // status with reason InternalError), not an exit code.
        let missing = exec(&pods, "target", "main", &["/no/such/binary"]).await.unwrap();
        assert_not_started(&missing, "/no/such/binary");
    })
    .await;
}

#[tokio::test]
async fn ephemeral_container_reads_the_distroless_root_through_proc() {
    in_namespace("debug", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        create_pod(&pods, "target", json!([{"name": "app", "image": distroless()}])).await;
        wait_running(&pods, "target").await;

        let debugger = json!({"spec": {"ephemeralContainers": [{
            "name": "debugger",
            "image": standard(),
            "command": KEEP_RUNNING,
            "targetContainerName": "app",
        }]}});
        pods.patch_ephemeral_containers("target", &PatchParams::default(), &Patch::Strategic(debugger))
            .await
            .expect("adding an ephemeral container");
        wait_until(&pods, "target", "the ephemeral container to run", |pod| {
            let statuses = pod.status.as_ref()?.ephemeral_container_statuses.as_ref()?;
            let debugger = statuses.iter().find(|s| s.name == "debugger")?;
            debugger.state.as_ref()?.running.as_ref().map(|_| ())
        })
        .await;

        let pid = pid_of(&pods, "target", "debugger", DISTROLESS_APP).await;
        assert_reads_distroless_root(&pods, "target", "debugger", pid).await;
    })
    .await;
}

#[tokio::test]
async fn shared_process_namespace_exposes_the_other_containers_root() {
    in_namespace("sharedpid", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let containers = json!([
            {"name": "app", "image": distroless()},
            {"name": "inspector", "image": standard()},
        ]);
        create_pod_with(&pods, "target", containers, json!({"shareProcessNamespace": true})).await;
        wait_running(&pods, "target").await;

        let pid = pid_of(&pods, "target", "inspector", DISTROLESS_APP).await;
        assert_reads_distroless_root(&pods, "target", "inspector", pid).await;
    })
    .await;
}

#[tokio::test]
async fn rbac_is_enforced_for_service_account_tokens() {
    in_namespace("rbac", |admin, ns| async move {
        let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
        create_pod(&pods, "target", json!([{"name": "main", "image": standard()}])).await;
        wait_running(&pods, "target").await;

        // A bare ServiceAccount: its token authenticates but grants nothing.
        let bare = service_account_client(&admin, &ns, "bare").await;
        let denied = Api::<Pod>::namespaced(bare.clone(), &ns).get("target").await;
        assert!(is_forbidden(&denied), "a ServiceAccount without a Role must get 403 on get pods: {denied:?}");

        grant(&admin, &ns, "bare", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])).await;
        let allowed = eventually_allowed(&bare, &ns).await;
        assert_eq!(allowed.metadata.name.as_deref(), Some("target"));
        // Granting `get pods` grants nothing else.
        let list = Api::<Pod>::namespaced(bare, &ns).list(&Default::default()).await;
        assert!(is_forbidden(&list), "get does not imply list: {list:?}");
    })
    .await;
}

#[tokio::test]
async fn websocket_exec_needs_get_and_create_on_pods_exec() {
    in_namespace("execrbac", |admin, ns| async move {
        let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
        create_pod(&pods, "target", json!([{"name": "main", "image": standard()}])).await;
        wait_running(&pods, "target").await;

        // One ServiceAccount per combination of verbs on pods/exec. Each Role
        // also grants `get pods`: once that works, the authorizer has seen the
        // whole Role, so a 403 on exec is the verdict and not a stale cache.
        let mut clients = Vec::new();
        for (sa, verbs) in [
            ("none", json!([])),
            ("get", json!(["get"])),
            ("create", json!(["create"])),
            ("both", json!(["get", "create"])),
        ] {
            let client = service_account_client(&admin, &ns, sa).await;
            let mut rules = vec![json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})];
            if verbs != json!([]) {
                rules.push(json!({"apiGroups": [""], "resources": ["pods/exec"], "verbs": verbs}));
            }
            grant(&admin, &ns, sa, json!(rules)).await;
            eventually_allowed(&client, &ns).await;
            clients.push((sa, client));
        }

        let version = admin.apiserver_version().await.expect("server version");
        let minor: u32 = version.minor.trim_end_matches('+').parse().expect("numeric minor version");
        // KEP-5311 (on by default from 1.35): a WebSocket upgrade is a GET, and
        // the API server now also requires `create` for it.
        let needs_create = version.major == "1" && minor >= 35;
        for (sa, client) in clients {
            let sa_pods: Api<Pod> = Api::namespaced(client, &ns);
            let result = exec(&sa_pods, "target", "main", &["echo", "exec-ok"]).await;
            let expect_allowed = match sa {
                "both" => true,
                "get" => !needs_create,
                _ => false,
            };
            if expect_allowed {
                let out = result
                    .unwrap_or_else(|e| panic!("exec with pods/exec verbs `{sa}` on {}: {e}", version.git_version));
                assert_eq!((out.stdout.as_str(), out.exit), ("exec-ok\n", Exit::Code(0)));
            } else {
                assert!(
                    is_forbidden(&result),
                    "exec with pods/exec verbs `{sa}` on {} must get 403: {result:?}",
                    version.git_version
                );
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

async fn create_pod(pods: &Api<Pod>, name: &str, containers: serde_json::Value) {
    create_pod_with(pods, name, containers, json!({})).await
}

/// What an exec returned.
#[derive(Debug, PartialEq)]
struct ExecOutput {
    stdout: String,
    stderr: String,
    exit: Exit,
}

/// How an exec ended.
#[derive(Debug, PartialEq)]
enum Exit {
    /// The command ran and exited with this code.
    Code(i32),
    /// The runtime could not start the command; the API server's message.
    NotStarted(String),
}

/// Runs `argv` in a container over the API server's WebSocket exec.
async fn exec(pods: &Api<Pod>, pod: &str, container: &str, argv: &[&str]) -> Result<ExecOutput, kube::Error> {
    let params = AttachParams::default().container(container).stdin(false).stdout(true).stderr(true);
    let run = async {
        let mut process = pods.exec(pod, argv.to_vec(), &params).await?;
        let stdout = process.stdout().expect("stdout requested");
        let stderr = process.stderr().expect("stderr requested");
        let status = process.take_status().expect("status taken once");
        let (stdout, stderr) = tokio::join!(read_all(stdout), read_all(stderr));
        let status = status.await;
        let _ = process.join().await;
        Ok(ExecOutput { stdout, stderr, exit: exit_of(status, argv) })
    };
    tokio::time::timeout(TIMEOUT, run).await.unwrap_or_else(|_| panic!("exec {argv:?} in {pod}/{container} timed out"))
}

async fn read_all(mut reader: impl AsyncRead + Unpin) -> String {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).await.expect("reading an exec stream");
    String::from_utf8(bytes).expect("UTF-8 output")
}

/// How the exec ended, from its final Status: `Success`; `NonZeroExitCode`
/// with the code as the `ExitCode` cause; or `InternalError` when the runtime
/// could not start the command at all.
fn exit_of(status: Option<Status>, argv: &[&str]) -> Exit {
    let status = status.unwrap_or_else(|| panic!("exec {argv:?}: the API server sent no final status"));
    if status.status.as_deref() == Some("Success") {
        return Exit::Code(0);
    }
    if status.reason.as_deref() == Some("InternalError") {
        return Exit::NotStarted(status.message.unwrap_or_default());
    }
    let causes = status.details.as_ref().and_then(|d| d.causes.as_ref());
    let code = causes.and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")));
    match (status.reason.as_deref(), code.and_then(|c| c.message.as_deref())) {
        (Some("NonZeroExitCode"), Some(code)) => Exit::Code(code.parse().expect("a numeric exit code")),
        _ => panic!("exec {argv:?}: unexpected final status {status:?}"),
    }
}

/// Asserts the runtime refused to start `binary` because it does not exist.
fn assert_not_started(output: &ExecOutput, binary: &str) {
    match &output.exit {
        Exit::NotStarted(message) => assert!(
            message.contains(&format!("stat {binary}: no such file or directory")),
            "unexpected runtime error for {binary}: {message}"
        ),
        Exit::Code(code) => panic!("{binary} is not in the image, yet the exec exited with {code}: {output:?}"),
    }
}

/// The PID (as the container sees it) of the process whose full command line
/// is `args`.
async fn pid_of(pods: &Api<Pod>, pod: &str, container: &str, args: &str) -> u32 {
    let ps = exec(pods, pod, container, &["ps", "-o", "pid,args"]).await.expect("ps");
    assert_eq!(ps.exit, Exit::Code(0), "{ps:?}");
    let pids: Vec<u32> = ps
        .stdout
        .lines()
        .filter_map(|line| line.trim().split_once(' '))
        .filter(|(_, command)| command.trim() == args)
        .map(|(pid, _)| pid.parse().expect("numeric PID"))
        .collect();
    assert_eq!(pids.len(), 1, "expected one `{args}` process visible from {container}:\n{}", ps.stdout);
    pids[0]
}

/// From `container`, reads the distroless container's files through
/// `/proc/<pid>/root` and checks they are that container's and not its own.
async fn assert_reads_distroless_root(pods: &Api<Pod>, pod: &str, container: &str, pid: u32) {
    let root = format!("/proc/{pid}/root");
    let own = exec(pods, pod, container, &["cat", "/etc/os-release"]).await.unwrap();
    assert!(own.stdout.contains("\nID=kscan-standard\n"), "{own:?}");
    let theirs = exec(pods, pod, container, &["cat", &format!("{root}/etc/os-release")]).await.unwrap();
    assert!(theirs.stdout.contains("\nID=kscan-distroless\n"), "{theirs:?}");

    let planted = format!("{root}/etc/kscan-planted");
    let meta = exec(pods, pod, container, &["stat", "-c", "%u:%g %a %s", &planted]).await.unwrap();
    assert_eq!(meta.stdout, format!("1234:1234 640 {}\n", PLANTED.len()), "{meta:?}");
    let content = exec(pods, pod, container, &["cat", &planted]).await.unwrap();
    assert_eq!((content.stdout.as_str(), content.exit), (PLANTED, Exit::Code(0)));
    // The distroless root has no shell: this is not the debugger's filesystem.
    let shell = exec(pods, pod, container, &["test", "-e", &format!("{root}/bin/sh")]).await.unwrap();
    assert_eq!(shell.exit, Exit::Code(1), "{shell:?}");
}

/// Creates ServiceAccount `name` and returns a client that authenticates with
/// a fresh TokenRequest token of it (the token is never printed).
async fn service_account_client(admin: &Client, ns: &str, name: &str) -> Client {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    let account = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    accounts.create(&PostParams::default(), &account).await.expect("creating a ServiceAccount");
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(600), ..Default::default() },
        ..Default::default()
    };
    let token = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("a TokenRequest")
        .status
        .expect("a TokenRequest status")
        .token;

    let mut kubeconfig = Kubeconfig::read_from(support::testbed_kubeconfig()).expect("admin kubeconfig");
    let user = json!({"name": name, "user": {"token": token}});
    kubeconfig.auth_infos = vec![serde_json::from_value(user).expect("a token user")];
    for context in &mut kubeconfig.contexts {
        if let Some(c) = context.context.as_mut() {
            c.user = Some(name.to_string());
        }
    }
    client_for(kubeconfig).await
}

/// A Role with `rules` bound to ServiceAccount `account`.
async fn grant(admin: &Client, ns: &str, account: &str, rules: serde_json::Value) {
    let name = format!("{account}-role");
    let role: Role = serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).unwrap();
    Api::<Role>::namespaced(admin.clone(), ns).create(&PostParams::default(), &role).await.expect("creating a Role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("creating a RoleBinding");
}

/// `get pods/target` as `client`, retried while the authorizer's cache has
/// not yet seen a new Role (a 403 then); any other error fails.
async fn eventually_allowed(client: &Client, ns: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match pods.get("target").await {
            Ok(pod) => return pod,
            Err(kube::Error::Api(status)) if status.code == 403 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("get pods/target after granting it: {e}"),
        }
    }
}
