//! `kscan scan`, `kscan access` and `kscan cleanup`, end to end.
//!
//! The engine tests run the `cinc` engine's contract against a stand-in for
//! the external CINC Auditor program (`tests/standins/cinc-auditor-standin`,
//! which records what it was given). The rest run against the testbed's real
//! API server and kubelet, each in a namespace of its own, and check after
//! every run — passed, failed, timed out or terminated — that nothing kscan
//! created is left.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::api::{Api, AttachParams, DeleteParams, ListParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::{json, Value};
use support::cluster::{
    self, distroless, is_forbidden, kscan_objects, nonroot, running_pod, scanner, standard, ACCESS_OBJECTS,
    KEEP_RUNNING,
};

fn standin() -> PathBuf {
    support::root().join("tests/standins/cinc-auditor-standin")
}

fn profile() -> PathBuf {
    support::root().join("profiles/container-baseline")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `kscan ARGS` as the testbed admin.
fn kscan_admin(args: &[&str]) -> Output {
    support::kscan().env("KSCAN_KUBECONFIG", support::testbed_kubeconfig()).args(args).output().expect("running kscan")
}

fn assert_no_token(output: &Output) {
    for stream in [&output.stdout, &output.stderr] {
        assert!(!text(stream).contains("eyJ"), "a token was printed:\n{}", text(stream));
    }
}

fn web() -> Value {
    json!([{"name": "app", "image": standard(), "command": KEEP_RUNNING}])
}

// ---------------------------------------------------------------------------
// The cinc engine's contract, with the stand-in program
// ---------------------------------------------------------------------------

mod cinc_engine {
    use super::*;
    use kscan::engine::cinc::Cinc;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, "contexts:\n- name: kscan\n  context:\n    user: kscan-abc\nusers:\n- name: kscan-abc\n  user:\n    token: not-printed\n").unwrap();
        std::fs::set_permissions(&kubeconfig, std::fs::Permissions::from_mode(0o600)).unwrap();
        (dir, kubeconfig)
    }

    async fn run(mode: &str, timeout: Duration) -> (kscan::Result<Vec<u8>>, Option<Value>) {
        let (dir, kubeconfig) = setup();
        let record = dir.path().join("record.json");
        // The stand-in reads its behaviour from the environment it inherits.
        std::env::set_var("STANDIN_MODE", mode);
        std::env::set_var("STANDIN_RECORD", &record);
        let cinc = Cinc::new(Some(&standin()), &profile(), timeout).unwrap();
        let result = cinc.run("k8s-container://ns/web/app", &kubeconfig, dir.path()).await;
        let record = std::fs::read(&record).ok().map(|b| serde_json::from_slice(&b).unwrap());
        (result, record)
    }

    // One test runs the modes in turn: they share the process environment.
    #[tokio::test]
    async fn results_are_read_and_failures_are_exit_3_with_the_programs_message() {
        let (result, record) = run("ok", Duration::from_secs(30)).await;
        let json = result.expect("exit 100 comes with results");
        let doc: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(doc["profiles"][0]["controls"].as_array().unwrap().len(), 2);
        let record = record.expect("the stand-in ran");
        let argv: Vec<&str> = record["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert_eq!(argv[0], "exec");
        assert_eq!(argv[1], profile().display().to_string());
        assert_eq!(&argv[2..4], ["-t", "k8s-container://ns/web/app"]);
        assert_eq!(argv[4], "--reporter");
        assert!(argv[5].starts_with("json:") && argv[5].ends_with("cinc-results.json"), "{argv:?}");
        assert_eq!(record["kubeconfig_mode"], "0o600");
        assert_eq!(record["kubeconfig_users"], json!(["kscan-abc"]));

        for (mode, expect) in [
            ("fail", "train-kubernetes plugin is missing"),
            ("nojson", "wrote no results"),
            ("badjson", "results kscan cannot read"),
        ] {
            let err = run(mode, Duration::from_secs(30)).await.0.unwrap_err();
            assert_eq!(err.exit_code(), 3, "{mode}: {err}");
            assert!(err.to_string().contains(expect), "{mode}: {err}");
        }
        let clock = Instant::now();
        let err = run("hang", Duration::from_secs(2)).await.0.unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("did not finish within"), "{err}");
        assert!(clock.elapsed() < Duration::from_secs(60), "the hung program was not stopped");
        std::env::remove_var("STANDIN_MODE");
    }
}

// ---------------------------------------------------------------------------
// On the testbed
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scan_of_the_standard_target_writes_hdf_and_leaves_nothing() {
    cluster::in_namespace("scan-std", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let out = tempfile::tempdir().unwrap();
        // A gate no root container passes: exit 1, with the rule named.
        let threshold = out.path().join("gate.yml");
        std::fs::write(&threshold, "failed.total.max: 0\n").unwrap();
        let dir = out.path().to_str().unwrap();
        let output = kscan_admin(&[
            "scan",
            "-n",
            &ns,
            "--pod",
            "web",
            "--out-dir",
            dir,
            "--threshold",
            threshold.to_str().unwrap(),
        ]);
        assert_no_token(&output);
        assert_eq!(output.status.code(), Some(1), "stderr:\n{}", text(&output.stderr));
        assert!(text(&output.stdout).contains("FAIL [failed.total.max]"), "{}", text(&output.stdout));
        let file = out.path().join("web.app.hdf.json");
        let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        // Read from *this* container: the testbed image's os-release.
        assert_eq!(doc["platform"]["name"], "kscan-standard");
        assert_eq!(doc["platform"]["target_id"], format!("k8s-container://{ns}/web/app"));
        // auto chose exec, and says why.
        assert_eq!(doc["platform"]["kscan_strategy"], "exec");
        assert!(doc["platform"]["kscan_strategy_reason"].as_str().unwrap().contains("has sh"), "{}", doc["platform"]);
        let controls = doc["profiles"][0]["controls"].as_array().unwrap();
        assert!(controls.len() >= 8, "{} controls", controls.len());
        // The standard image runs as root: the run-as-root control must fail.
        let statuses: Vec<(String, Vec<String>)> = controls
            .iter()
            .map(|c| {
                let s = c["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap().to_owned());
                (c["id"].as_str().unwrap().to_owned(), s.collect())
            })
            .collect();
        assert!(
            statuses.iter().any(|(_, s)| s.iter().any(|s| s == "failed")),
            "a root container passes everything? {statuses:?}"
        );
        assert!(text(&output.stdout).contains(&format!("{ns}/web/app: ")), "{}", text(&output.stdout));
        let summary = support::kscan().arg("summary").arg(&file).output().unwrap();
        assert_eq!(summary.status.code(), Some(0), "{}", text(&summary.stderr));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_selector_scans_every_matching_pod_into_one_run() {
    cluster::in_namespace("scan-sel", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        for name in ["web-0", "web-1"] {
            cluster::create_pod_with(&pods, name, web(), json!({})).await;
            // Labels on the pod, not in the spec.
            let patch = json!({"metadata": {"labels": {"app": "web"}}});
            pods.patch(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
        }
        for name in ["web-0", "web-1"] {
            cluster::wait_running(&pods, name).await;
        }
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_str().unwrap();
        let output = kscan_admin(&["scan", "-n", &ns, "-l", "app=web", "--out-dir", dir, "--format", "junit,sarif"]);
        assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
        let mut controls = 0;
        for name in ["web-0", "web-1"] {
            let doc: Value =
                serde_json::from_slice(&std::fs::read(out.path().join(format!("{name}.app.hdf.json"))).unwrap())
                    .unwrap();
            controls += doc["profiles"][0]["controls"].as_array().unwrap().len();
        }
        // One report over both targets: a test case per control of each.
        let junit = std::fs::read_to_string(out.path().join("kscan-junit.xml")).unwrap();
        assert_eq!(junit.matches("<testcase").count(), controls, "{junit}");
        let sarif: Value = serde_json::from_slice(&std::fs::read(out.path().join("kscan.sarif")).unwrap()).unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        let none = kscan_admin(&["scan", "-n", &ns, "-l", "app=nothing"]);
        assert_eq!(none.status.code(), Some(2), "{}", text(&none.stderr));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn an_unknown_pod_is_an_input_error_and_nothing_is_created() {
    cluster::in_namespace("scan-404", |client, ns| async move {
        let cwd = tempfile::tempdir().unwrap();
        let output = support::kscan()
            .env("KSCAN_KUBECONFIG", support::testbed_kubeconfig())
            .current_dir(cwd.path())
            .args(["scan", "-n", &ns, "--pod", "no-such-pod"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(
            std::fs::read_dir(cwd.path()).unwrap().count(),
            0,
            "no results directory for a run that scanned nothing"
        );
        assert!(text(&output.stderr).contains("pod no-such-pod not found"), "{}", text(&output.stderr));
        let output = kscan_admin(&["scan", "-n", &ns, "--pod", "Bad_Name"]);
        assert_eq!(output.status.code(), Some(2));
        assert!(text(&output.stderr).contains("RFC 1123"), "{}", text(&output.stderr));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

/// The claims of the token's payload, decoded (never printed whole).
fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_scoped_token_can_exec_into_its_pod_and_do_nothing_else() {
    cluster::in_namespace("scan-rbac", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        running_pod(&client, &ns, "other", web()).await;
        let output = kscan_admin(&["access", "create", "-n", &ns, "--pod", "web"]);
        assert_no_token(&output);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        let value = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key} in {stdout}"))
        };
        let (run, path) = (value("KSCAN_RUN").to_owned(), PathBuf::from(value("KUBECONFIG")));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(
            kscan_objects(&client, &ns).await.len(),
            ACCESS_OBJECTS,
            "ServiceAccount, Secret, Role, RoleBinding"
        );

        let kubeconfig = Kubeconfig::read_from(&path).unwrap();
        let token = kubeconfig.auth_infos[0].auth_info.as_ref().unwrap().token.as_ref().unwrap();
        let claims = jwt_claims(secrecy::ExposeSecret::expose_secret(token));
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!((600..=900).contains(&lifetime), "token lifetime {lifetime}s");
        assert_eq!(claims["kubernetes.io"]["secret"]["name"], format!("kscan-{run}"), "bound to the run's Secret");

        let scoped = cluster::client_for(kubeconfig).await;
        let pods: Api<Pod> = Api::namespaced(scoped.clone(), &ns);
        // What the scan needs: read its pod and exec in it over WebSocket.
        pods.get("web").await.expect("get pods/web");
        let params = AttachParams::default().container("app").stdin(false).stdout(true).stderr(false);
        let mut process = pods.exec("web", ["cat", "/etc/os-release"], &params).await.expect("exec in web");
        let mut stdout = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut process.stdout().unwrap(), &mut stdout).await.unwrap();
        assert!(stdout.contains("ID=kscan-standard"), "{stdout}");
        // What it must not do.
        assert!(is_forbidden(&pods.get("other").await), "get another pod");
        assert!(is_forbidden(&pods.list(&ListParams::default()).await), "list pods");
        assert!(is_forbidden(&pods.exec("other", ["true"], &params).await.map(|_| ())), "exec in another pod");
        assert!(is_forbidden(&pods.delete("web", &DeleteParams::default()).await.map(|_| ())), "delete its pod");
        let pod: Pod = serde_json::from_value(
            json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": standard()}]}}),
        )
        .unwrap();
        assert!(is_forbidden(&pods.create(&PostParams::default(), &pod).await), "create pods");
        assert!(
            is_forbidden(&Api::<Secret>::namespaced(scoped.clone(), &ns).list(&ListParams::default()).await),
            "list secrets"
        );
        let sas: Api<ServiceAccount> = Api::namespaced(scoped.clone(), &ns);
        assert!(is_forbidden(&sas.list(&ListParams::default()).await), "list serviceaccounts");
        let other_ns: Api<Pod> = Api::namespaced(scoped.clone(), "default");
        assert!(is_forbidden(&other_ns.list(&ListParams::default()).await), "pods of another namespace");

        let deleted = kscan_admin(&["access", "delete", "-n", &ns, "--run", &run]);
        assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted.stderr));
        assert!(!path.exists(), "the kubeconfig is removed with the access");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
        // The token died with its Secret and ServiceAccount.
        let pods_after = pods.get("web").await;
        assert!(matches!(&pods_after, Err(kube::Error::Api(s)) if s.code == 401 || s.code == 403), "{pods_after:?}");
    })
    .await;
}

/// The token of a kubeconfig kscan wrote (read, never printed).
fn token_of(kubeconfig: &Path) -> String {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).unwrap();
    let token = kubeconfig.auth_infos[0].auth_info.as_ref().unwrap().token.as_ref().unwrap();
    secrecy::ExposeSecret::expose_secret(token).to_owned()
}

/// A client that presents `token` to the testbed's API server.
async fn client_with_token(token: &str) -> kube::Client {
    let mut kubeconfig = Kubeconfig::read_from(support::testbed_kubeconfig()).unwrap();
    kubeconfig.auth_infos = vec![serde_json::from_value(json!({"name": "t", "user": {"token": token}})).unwrap()];
    for context in &mut kubeconfig.contexts {
        if let Some(c) = context.context.as_mut() {
            c.user = Some("t".into());
        }
    }
    cluster::client_for(kubeconfig).await
}

/// Polls until the API server refuses `client` as unauthenticated (401);
/// returns how long that took. Fails after 15 s: the kube-apiserver keeps a
/// token it has authenticated in a cache for 10 s (`TokenSuccessCacheTTL`),
/// so a revoked token may be accepted that long, never longer.
async fn refused_within(client: &kube::Client, ns: &str) -> Duration {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    loop {
        match pods.get("web").await {
            Err(kube::Error::Api(s)) if s.code == 401 => return start.elapsed(),
            other => {
                assert!(start.elapsed() < Duration::from_secs(15), "the token still works: {:?}", other.map(|_| ()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn the_token_is_bound_to_the_runs_secret_and_dies_with_it() {
    cluster::in_namespace("scan-bound", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let output = kscan_admin(&["access", "create", "-n", &ns, "--pod", "web"]);
        assert_no_token(&output);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        let find = |key: &str| stdout.lines().find_map(|l| l.strip_prefix(key)).unwrap().to_owned();
        let (run, path) = (find("KSCAN_RUN="), PathBuf::from(find("KUBECONFIG=")));
        let token = token_of(&path);
        let claims = jwt_claims(&token);
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let secret = secrets.get(&format!("kscan-{run}")).await.expect("the run's Secret");
        assert_eq!(secret.type_.as_deref(), Some("kscan.dev/token-binding"));
        assert!(secret.data.unwrap_or_default().is_empty(), "it holds nothing");
        assert_eq!(claims["kubernetes.io"]["secret"]["uid"], json!(secret.metadata.uid), "bound by UID");
        let scoped = client_with_token(&token).await;
        Api::<Pod>::namespaced(scoped.clone(), &ns).get("web").await.expect("the token works while the Secret exists");
        // The Secret alone goes (as when a teardown got only that far): the token is refused (within the API server's 10 s cache),
        // though its ServiceAccount, Role and RoleBinding are still there.
        secrets.delete(&format!("kscan-{run}"), &DeleteParams::default()).await.unwrap();
        let took = refused_within(&scoped, &ns).await;
        eprintln!("token refused {took:?} after its Secret was deleted");
        assert_eq!(kscan_objects(&client, &ns).await.len(), ACCESS_OBJECTS - 1);
        let deleted = kscan_admin(&["access", "delete", "-n", &ns, "--run", &run]);
        assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted.stderr));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn the_scan_token_is_refused_right_after_teardown() {
    cluster::in_namespace("scan-revoke", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let work = tempfile::tempdir().unwrap();
        let record = work.path().join("record.json");
        let child = hanging_scan(&client, &ns, &[], &record).await;
        let record: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
        let token = token_of(Path::new(record["kubeconfig"].as_str().unwrap()));
        let scoped = client_with_token(&token).await;
        Api::<Pod>::namespaced(scoped.clone(), &ns).get("web").await.expect("the token works during the scan");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
        let took = refused_within(&scoped, &ns).await;
        eprintln!("token refused {took:?} after the scan's teardown");
        // Bounded by the API server's 10 s authentication cache, not by the token's 15 minutes.
        assert!(took < Duration::from_secs(12), "refused right after teardown, not {took:?} later");
    })
    .await;
}

#[tokio::test]
async fn the_cinc_engine_runs_with_the_scoped_kubeconfig_only() {
    cluster::in_namespace("scan-cinc", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let work = tempfile::tempdir().unwrap();
        let record = work.path().join("record.json");
        let out = work.path().join("out");
        let output = cinc_scan(&ns).arg("--out-dir").arg(&out).env("STANDIN_RECORD", &record).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
        let record: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
        assert_eq!(record["argv"][3], format!("k8s-container://{ns}/web/app"));
        assert_eq!(record["kubeconfig_mode"], "0o600");
        assert_eq!(record["kubeconfig_dir_mode"], "0o700");
        let users = record["kubeconfig_users"].as_array().unwrap();
        assert!(users.len() == 1 && users[0].as_str().unwrap().starts_with("kscan-"), "{users:?}");
        let kubeconfig = record["kubeconfig"].as_str().unwrap();
        assert_ne!(Path::new(kubeconfig), support::testbed_kubeconfig());
        assert!(!Path::new(kubeconfig).exists(), "the scoped kubeconfig is removed at teardown");
        assert!(out.join("web.app.hdf.json").is_file());
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

/// Starts `kscan scan` with the hanging stand-in and waits until the engine
/// runs (so the access objects exist).
/// `kscan scan` of pod `web` in `ns` as the testbed admin, with the cinc
/// engine played by the stand-in program.
fn cinc_scan(ns: &str) -> Command {
    let mut cmd = support::kscan();
    cmd.env("KSCAN_KUBECONFIG", support::testbed_kubeconfig());
    cmd.args(["scan", "-n", ns, "--pod", "web", "--engine", "cinc", "--engine-bin"]);
    cmd.arg(standin()).arg("--profile").arg(profile());
    cmd
}

async fn hanging_scan(client: &kube::Client, ns: &str, extra: &[&str], record: &Path) -> std::process::Child {
    let mut cmd = cinc_scan(ns);
    cmd.args(extra);
    cmd.env("STANDIN_MODE", "hang").env("STANDIN_RECORD", record).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !record.exists() {
        assert!(Instant::now() < deadline, "the engine never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kscan_objects(client, ns).await.len(), ACCESS_OBJECTS, "the run's access exists while the engine runs");
    child
}

#[tokio::test]
async fn sigterm_and_sigint_during_the_scan_still_tear_down() {
    cluster::in_namespace("scan-term", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        for (signal, name) in [("-TERM", "SIGTERM"), ("-INT", "SIGINT")] {
            let work = tempfile::tempdir().unwrap();
            let record = work.path().join("record.json");
            let child = hanging_scan(&client, &ns, &[], &record).await;
            let status = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
            assert!(status.success());
            let output = child.wait_with_output().unwrap();
            assert_eq!(output.status.code(), Some(3), "{name}: stderr:\n{}", text(&output.stderr));
            assert!(text(&output.stderr).contains(name), "{}", text(&output.stderr));
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "after {name}");
        }
    })
    .await;
}

#[tokio::test]
async fn after_kill_9_cleanup_removes_everything() {
    cluster::in_namespace("scan-kill", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let work = tempfile::tempdir().unwrap();
        let record = work.path().join("record.json");
        let mut child = hanging_scan(&client, &ns, &[], &record).await;
        child.kill().unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(kscan_objects(&client, &ns).await.len(), ACCESS_OBJECTS, "SIGKILL leaves the access behind");
        let stderr = text(&output.stderr);
        let run = stderr
            .split("run ")
            .filter_map(|rest| rest.split(':').next())
            .find(|id| id.len() == 10 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .unwrap_or_else(|| panic!("no run id in:\n{stderr}"))
            .to_owned();
        let record: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
        // SIGKILL gave kscan no chance to stop its engine: do it here.
        let _ = Command::new("kill").args(["-KILL", &record["pid"].to_string()]).status();
        let kubeconfig = PathBuf::from(record["kubeconfig"].as_str().unwrap());
        assert!(kubeconfig.exists());
        let cleaned = kscan_admin(&["cleanup", "-n", &ns, "--run", &run]);
        assert_eq!(cleaned.status.code(), Some(0), "{}", text(&cleaned.stderr));
        assert_eq!(
            text(&cleaned.stdout).lines().filter(|l| l.starts_with("deleted ")).count(),
            ACCESS_OBJECTS,
            "{}",
            text(&cleaned.stdout)
        );
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
        assert!(!kubeconfig.exists(), "cleanup --run removes the run's kubeconfig directory");
    })
    .await;
}

#[tokio::test]
async fn an_engine_that_crashes_is_exit_3_with_its_message_and_nothing_is_left() {
    cluster::in_namespace("scan-crash", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let output = cinc_scan(&ns).env("STANDIN_MODE", "fail").output().unwrap();
        assert_eq!(output.status.code(), Some(3), "stderr:\n{}", text(&output.stderr));
        assert!(text(&output.stderr).contains("train-kubernetes plugin is missing"), "{}", text(&output.stderr));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_timeout_still_tears_down() {
    cluster::in_namespace("scan-timeout", |client, ns| async move {
        let work = tempfile::tempdir().unwrap();
        let record = work.path().join("record.json");
        running_pod(&client, &ns, "web", web()).await;
        let child = hanging_scan(&client, &ns, &["--timeout", "20s"], &record).await;
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(3), "stderr:\n{}", text(&output.stderr));
        assert!(text(&output.stderr).contains("--timeout 20s"), "{}", text(&output.stderr));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_caller_who_may_not_create_access_gets_exit_3_and_nothing_is_left() {
    cluster::in_namespace("scan-weak", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        // A caller that may read pods but create nothing.
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
        let sa = serde_json::from_value(json!({"metadata": {"name": "weak"}})).unwrap();
        sas.create(&PostParams::default(), &sa).await.unwrap();
        let role = serde_json::from_value(json!({"metadata": {"name": "weak"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}))
        .unwrap();
        Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &role)
            .await
            .unwrap();
        let binding = serde_json::from_value(json!({"metadata": {"name": "weak"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "weak"},
            "subjects": [{"kind": "ServiceAccount", "name": "weak", "namespace": ns}]}))
        .unwrap();
        Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &binding)
            .await
            .unwrap();
        let request = k8s_openapi::api::authentication::v1::TokenRequest {
            spec: k8s_openapi::api::authentication::v1::TokenRequestSpec {
                expiration_seconds: Some(600),
                ..Default::default()
            },
            ..Default::default()
        };
        let token =
            sas.create_token_request("weak", &PostParams::default(), &request).await.unwrap().status.unwrap().token;
        let mut kubeconfig = Kubeconfig::read_from(support::testbed_kubeconfig()).unwrap();
        kubeconfig.auth_infos =
            vec![serde_json::from_value(json!({"name": "weak", "user": {"token": token}})).unwrap()];
        for context in &mut kubeconfig.contexts {
            if let Some(c) = context.context.as_mut() {
                c.user = Some("weak".into());
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weak.kubeconfig");
        std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();

        let output =
            support::kscan().env("KSCAN_KUBECONFIG", &path).args(["scan", "-n", &ns, "--pod", "web"]).output().unwrap();
        assert_eq!(output.status.code(), Some(3), "stderr:\n{}", text(&output.stderr));
        assert!(text(&output.stderr).contains("may not create ServiceAccounts"), "{}", text(&output.stderr));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

// ---------------------------------------------------------------------------
// Strategies for images without a shell
// ---------------------------------------------------------------------------

/// Runs `kscan scan` as admin with `args` into a fresh directory; returns the
/// output and the HDF of `pod`'s container `container`, if written.
fn scan_into(ns: &str, pod: &str, container: &str, args: &[&str]) -> (Output, Option<Value>) {
    scan_with_scanner(ns, pod, container, Some(scanner()), args)
}

/// [`scan_into`] with the scanner image `scanner_image` (None: kscan's default).
fn scan_with_scanner(
    ns: &str,
    pod: &str,
    container: &str,
    scanner_image: Option<&str>,
    args: &[&str],
) -> (Output, Option<Value>) {
    let out = tempfile::tempdir().unwrap();
    let mut all = vec!["scan", "-n", ns, "--pod", pod];
    if let Some(image) = scanner_image {
        all.extend(["--scanner-image", image]);
    }
    all.push("--out-dir");
    all.push(out.path().to_str().unwrap());
    all.extend_from_slice(args);
    let output = kscan_admin(&all);
    assert_no_token(&output);
    let file = out.path().join(format!("{pod}.{container}.hdf.json"));
    let doc = std::fs::read(&file).ok().map(|b| serde_json::from_slice(&b).unwrap());
    (output, doc)
}

/// The statuses of control `id`'s results, and their messages.
fn control<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["profiles"][0]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id}"))
}

fn statuses(doc: &Value, id: &str) -> Vec<String> {
    control(doc, id)["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap().to_owned()).collect()
}

fn distroless_app() -> Value {
    json!([{"name": "app", "image": distroless()}])
}

/// The ephemeral containers of `pod` have all ended.
async fn ephemeral_ended(client: &kube::Client, ns: &str, pod: &str) -> Vec<String> {
    let pod = Api::<Pod>::namespaced(client.clone(), ns).get(pod).await.unwrap();
    let statuses = pod.status.unwrap().ephemeral_container_statuses.unwrap_or_default();
    assert!(!statuses.is_empty(), "no ephemeral container was added");
    for s in &statuses {
        let state = s.state.clone().unwrap_or_default();
        assert!(state.running.is_none() && state.terminated.is_some(), "{} still runs: {state:?}", s.name);
    }
    statuses.into_iter().map(|s| s.name).collect()
}

#[tokio::test]
async fn auto_scans_the_distroless_target_through_a_debug_container() {
    cluster::in_namespace("scan-auto", |client, ns| async move {
        running_pod(&client, &ns, "dl", distroless_app()).await;
        let (output, doc) = scan_into(&ns, "dl", "app", &[]);
        assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
        let doc = doc.expect("results");
        assert_eq!(doc["platform"]["kscan_strategy"], "debug");
        assert!(doc["platform"]["kscan_strategy_reason"].as_str().unwrap().contains("no usable shell"));
        // The target's own filesystem, not the scanner image's: its
        // os-release, and no shell.
        assert_eq!(doc["platform"]["name"], "kscan-distroless");
        assert_eq!(statuses(&doc, "kscan-no-shell"), ["passed"]);
        assert_eq!(doc["platform"]["target_id"], format!("k8s-container://{ns}/dl/app"));
        let names = ephemeral_ended(&client, &ns, "dl").await;
        assert_eq!(names.len(), 1);
        assert!(
            text(&output.stderr).contains("cannot remove"),
            "the run says the container stays:\n{}",
            text(&output.stderr)
        );
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn debug_sees_a_change_to_the_planted_file() {
    cluster::in_namespace("scan-flip", |client, ns| async move {
        // A helper container in the same PID namespace changes the distroless
        // container's file between two scans.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let containers = json!([{"name": "app", "image": distroless()}, {"name": "helper", "image": standard(), "command": KEEP_RUNNING}]);
        cluster::create_pod_with(&pods, "flip", containers, json!({"shareProcessNamespace": true})).await;
        cluster::wait_running(&pods, "flip").await;
        let ww = "kscan-no-world-writable-system-files";

        let (output, doc) = scan_into(&ns, "flip", "app", &["--strategy", "debug", "--container", "app"]);
        assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
        let doc = doc.unwrap();
        assert_eq!(doc["platform"]["name"], "kscan-distroless");
        assert_eq!(statuses(&doc, ww), ["passed"], "{}", control(&doc, ww));

        let params = AttachParams::default().container("helper").stdin(false).stdout(true).stderr(true);
        let script = "pid=$(pidof app) && chmod 0646 /proc/$pid/root/etc/kscan-planted";
        let mut process = pods.exec("flip", ["sh", "-c", script], &params).await.unwrap();
        let status = process.take_status().unwrap().await.unwrap();
        assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");

        let (output, doc) = scan_into(&ns, "flip", "app", &["--strategy", "debug", "--container", "app"]);
        assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
        let doc = doc.unwrap();
        assert!(statuses(&doc, ww).contains(&"failed".to_owned()), "{}", control(&doc, ww));
        assert!(control(&doc, ww).to_string().contains("/etc/kscan-planted"), "{}", control(&doc, ww));
        assert_eq!(ephemeral_ended(&client, &ns, "flip").await.len(), 2);
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn sidecar_scans_a_copy_of_the_distroless_container_and_deletes_its_pod() {
    cluster::in_namespace("scan-sidecar", |client, ns| async move {
        running_pod(&client, &ns, "dl", distroless_app()).await;
        let (output, doc) = scan_into(&ns, "dl", "app", &["--strategy", "sidecar"]);
        assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
        let doc = doc.unwrap();
        assert_eq!(doc["platform"]["kscan_strategy"], "sidecar");
        assert_eq!(doc["platform"]["name"], "kscan-distroless");
        assert_eq!(statuses(&doc, "kscan-no-shell"), ["passed"]);
        assert_eq!(doc["platform"]["kscan_image"], distroless());
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "the sidecar pod is gone too");
        let left = Api::<Pod>::namespaced(client.clone(), &ns).list(&ListParams::default()).await.unwrap();
        assert_eq!(left.items.len(), 1, "only the target pod remains");
    })
    .await;
}

#[tokio::test]
async fn a_non_root_target_is_read_as_its_owner_and_a_wrong_scanner_user_is_told_what_to_change() {
    cluster::in_namespace("scan-nonroot", |client, ns| async move {
        running_pod(&client, &ns, "nr", json!([{"name": "app", "image": nonroot(), "command": KEEP_RUNNING}])).await;
        let (output, doc) = scan_into(&ns, "nr", "app", &["--strategy", "debug"]);
        assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
        let doc = doc.unwrap();
        assert_eq!(statuses(&doc, "kscan-main-process-not-root"), ["passed"]);
        let (output, doc) = scan_into(&ns, "nr", "app", &["--strategy", "debug", "--scanner-user", "1000"]);
        assert_eq!(output.status.code(), Some(3), "stderr:\n{}", text(&output.stderr));
        assert!(doc.is_none());
        let err = text(&output.stderr);
        assert!(err.contains("same UID as the target"), "{err}");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn the_debug_token_may_add_ephemeral_containers_to_its_pod_only() {
    cluster::in_namespace("scan-debug-rbac", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        running_pod(&client, &ns, "other", web()).await;
        let output = kscan_admin(&["access", "create", "-n", &ns, "--pod", "web", "--strategy", "debug"]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        let kubeconfig = stdout.lines().find_map(|l| l.strip_prefix("KUBECONFIG=")).unwrap();
        let run = stdout.lines().find_map(|l| l.strip_prefix("KSCAN_RUN=")).unwrap().to_owned();
        let scoped = cluster::client_for(Kubeconfig::read_from(kubeconfig).unwrap()).await;
        let pods: Api<Pod> = Api::namespaced(scoped, &ns);
        let patch = |name: &str| {
            json!({"spec": {"ephemeralContainers": [{"name": name, "image": scanner(), "command": ["true"], "targetContainerName": "app"}]}})
        };
        let params = kube::api::PatchParams::default();
        let other = pods.patch_ephemeral_containers("other", &params, &kube::api::Patch::Strategic(patch("x"))).await;
        assert!(is_forbidden(&other), "{other:?}");
        pods.patch_ephemeral_containers("web", &params, &kube::api::Patch::Strategic(patch("probe")))
            .await
            .expect("its own pod");
        let deleted = kscan_admin(&["access", "delete", "-n", &ns, "--run", &run]);
        assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted.stderr));
    })
    .await;
}

#[tokio::test]
async fn the_exec_scan_follows_the_targets_real_state() {
    cluster::in_namespace("scan-plant", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let chmod = |mode: &'static str| {
            let pods = pods.clone();
            async move {
                let params = AttachParams::default().container("app").stdin(false).stdout(true).stderr(true);
                let mut process = pods.exec("web", ["chmod", mode, "/etc/passwd"], &params).await.unwrap();
                let status = process.take_status().unwrap().await.unwrap();
                assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
            }
        };
        let id = "kscan-passwd-owner-mode";
        chmod("0666").await;
        let (output, doc) = scan_into(&ns, "web", "app", &["--strategy", "exec"]);
        assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
        let doc = doc.unwrap();
        assert!(statuses(&doc, id).contains(&"failed".to_owned()), "{}", control(&doc, id));
        chmod("0644").await;
        let (_, doc) = scan_into(&ns, "web", "app", &["--strategy", "exec"]);
        assert_eq!(statuses(&doc.unwrap(), id), ["passed", "passed"]);
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn pod_security_refusing_the_scanner_is_a_clear_error_not_a_hang() {
    cluster::in_namespace("scan-pss", |client, ns| async move {
        running_pod(&client, &ns, "dl", distroless_app()).await;
        // Enforce `restricted` from now on: the running pod stays, but a root
        // scanner container may no longer be added to it.
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let patch = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
        namespaces.patch(&ns, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
        let clock = Instant::now();
        let (output, doc) = scan_into(&ns, "dl", "app", &["--strategy", "debug"]);
        assert_eq!(output.status.code(), Some(3), "stderr:\n{}", text(&output.stderr));
        assert!(doc.is_none());
        let err = text(&output.stderr);
        assert!(err.contains("Pod Security") && err.contains("restricted"), "{err}");
        assert!(err.contains("--scanner-user"), "says what to change: {err}");
        assert!(clock.elapsed() < Duration::from_secs(60), "refused at once, not after a wait");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

// ---------------------------------------------------------------------------
// A scanner image that cannot be pulled
// ---------------------------------------------------------------------------

/// A debug scan whose scanner image cannot be pulled ends with exit 3 within
/// 60 s, naming the image and the pull error, and leaves nothing behind.
async fn assert_unpullable_scanner(client: &kube::Client, ns: &str, image: &str, error: &[&str]) {
    let clock = Instant::now();
    let (output, doc) = scan_with_scanner(ns, "dl", "app", Some(image), &["--strategy", "debug"]);
    let err = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "stderr:\n{err}");
    assert!(doc.is_none());
    assert!(clock.elapsed() < Duration::from_secs(60), "took {:?}:\n{err}", clock.elapsed());
    assert!(err.contains(image), "names the image {image}:\n{err}");
    assert!(err.contains("ErrImagePull") || err.contains("ImagePullBackOff"), "names the pull error:\n{err}");
    assert!(error.iter().any(|e| err.contains(e)), "says why the pull failed ({error:?}):\n{err}");
    assert_eq!(kscan_objects(client, ns).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_scanner_image_missing_from_the_registry_is_a_named_pull_error() {
    cluster::in_namespace("scan-nopull", |client, ns| async move {
        running_pod(&client, &ns, "dl", distroless_app()).await;
        // The testbed's own registry, a repository that it does not hold.
        let (registry, _) = scanner().split_once('/').unwrap();
        let image = format!("{registry}/kscan/no-such-scanner:0.0.0");
        assert_unpullable_scanner(&client, &ns, &image, &["not found"]).await;
    })
    .await;
}

#[tokio::test]
async fn a_registry_that_refuses_connections_is_a_named_pull_error() {
    cluster::in_namespace("scan-refused", |client, ns| async move {
        running_pod(&client, &ns, "dl", distroless_app()).await;
        // A loopback port nothing listens on: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let image = format!("127.0.0.1:{port}/kscan/kscan-scanner:0.0.0");
        assert_unpullable_scanner(&client, &ns, &image, &["connection refused"]).await;
    })
    .await;
}

#[tokio::test]
async fn a_scanner_that_cannot_start_is_exit_3_with_the_start_error_not_left_running() {
    cluster::in_namespace("scan-nostart", |client, ns| async move {
        running_pod(&client, &ns, "dl", distroless_app()).await;
        // A real image from the registry that has no agent in it: the
        // ephemeral container is created, and its entrypoint cannot start.
        let clock = Instant::now();
        let (output, doc) = scan_with_scanner(&ns, "dl", "app", Some(cluster::distroless()), &["--strategy", "debug"]);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "could not scan, not teardown left objects:\n{err}");
        assert!(doc.is_none());
        assert!(err.contains("cannot start") && err.contains("kscan-agent"), "the start error:\n{err}");
        assert!(!err.contains("still runs"), "a container that never ran is not left running:\n{err}");
        assert!(err.contains("never started"), "teardown says so:\n{err}");
        assert!(clock.elapsed() < Duration::from_secs(60), "took {:?}:\n{err}", clock.elapsed());
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn cleanup_all_expired_removes_every_kind_of_object_a_killed_sidecar_run_left() {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::api::{Patch, PatchParams};
    cluster::in_namespace("scan-expired", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let mut child = support::kscan()
            .env("KSCAN_KUBECONFIG", support::testbed_kubeconfig())
            .args(["scan", "-n", &ns, "--pod", "web", "--strategy", "sidecar", "--scanner-image", scanner()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill the run as soon as its scan pod exists: everything it made is left.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let selector = ListParams::default().labels("app.kubernetes.io/managed-by=kscan");
        let deadline = Instant::now() + Duration::from_secs(90);
        while pods.list_metadata(&selector).await.unwrap().items.is_empty() {
            assert!(Instant::now() < deadline, "the sidecar pod never appeared");
            assert!(child.try_wait().unwrap().is_none(), "the scan ended before its pod was seen");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let left = kscan_objects(&client, &ns).await;
        let kinds: Vec<&str> = left.iter().map(|o| o.split('/').next().unwrap()).collect();
        assert_eq!(kinds, ["ServiceAccount", "Secret", "Role", "RoleBinding", "Pod"], "{left:?}");

        // Each carries the expiry; none has passed: --all-expired keeps them.
        let name = |kind: &str| left.iter().find_map(|o| o.strip_prefix(&format!("{kind}/"))).unwrap().to_owned();
        macro_rules! annotations {
            ($kind:ty, $label:literal) => {{
                let api: Api<$kind> = Api::namespaced(client.clone(), &ns);
                (api.clone(), api.get(&name($label)).await.unwrap().metadata.annotations.unwrap_or_default())
            }};
        }
        let (sas, a1) = annotations!(ServiceAccount, "ServiceAccount");
        let (_, a2) = annotations!(Secret, "Secret");
        let (roles, a3) = annotations!(Role, "Role");
        let (bindings, a4) = annotations!(RoleBinding, "RoleBinding");
        let (pods, a5) = annotations!(Pod, "Pod");
        for (kind, a) in [("ServiceAccount", a1), ("Secret", a2), ("Role", a3), ("RoleBinding", a4), ("Pod", a5)] {
            let at = a.get("kscan.dev/expires-at").unwrap_or_else(|| panic!("{kind} has no expiry: {a:?}"));
            let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
            assert!(at > chrono::Utc::now(), "{kind} expires in the future");
        }
        let kept = kscan_admin(&["cleanup", "-n", &ns, "--all-expired"]);
        assert_eq!(kept.status.code(), Some(0), "{}", text(&kept.stderr));
        assert_eq!(kscan_objects(&client, &ns).await, left, "nothing has expired yet");

        // Time passes (the annotation is moved into the past): each kind goes.
        let past = json!({"metadata": {"annotations": {"kscan.dev/expires-at": "2000-01-01T00:00:00Z"}}});
        let patch = Patch::Merge(&past);
        let params = PatchParams::default();
        sas.patch(&name("ServiceAccount"), &params, &patch).await.unwrap();
        roles.patch(&name("Role"), &params, &patch).await.unwrap();
        bindings.patch(&name("RoleBinding"), &params, &patch).await.unwrap();
        pods.patch(&name("Pod"), &params, &patch).await.unwrap();
        let cleaned = kscan_admin(&["cleanup", "-n", &ns, "--all-expired"]);
        assert_eq!(cleaned.status.code(), Some(0), "{}", text(&cleaned.stderr));
        let stdout = text(&cleaned.stdout);
        let mut deleted: Vec<&str> =
            stdout.lines().filter_map(|l| l.strip_prefix("deleted ")?.split('/').next()).collect();
        deleted.sort();
        assert_eq!(deleted, ["pod", "role", "rolebinding", "secret", "serviceaccount"], "{stdout}");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

// ---------------------------------------------------------------------------
// Real Debian targets: what to expect comes from their root filesystems
// ---------------------------------------------------------------------------

mod debian {
    use super::*;
    use kscan::engine::builtin::facts::{SHELLS, SYSTEM_DIRS};
    use std::collections::BTreeSet;
    use std::os::unix::fs::MetadataExt;

    /// `path` (absolute, as inside the image) resolved in `root` the way the
    /// kernel would inside the container: symbolic links, absolute ones
    /// included, stay in `root`. None when it does not exist.
    fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
        let mut parts: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(String::from).collect();
        parts.reverse();
        let mut at = PathBuf::from("/");
        let mut hops = 0;
        while let Some(part) = parts.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    at.pop();
                    continue;
                }
                _ => {}
            }
            let next = at.join(&part);
            let meta = std::fs::symlink_metadata(root.join(next.strip_prefix("/").unwrap())).ok()?;
            if meta.file_type().is_symlink() {
                hops += 1;
                assert!(hops < 40, "symbolic link loop at {path} in {}", root.display());
                let target = std::fs::read_link(root.join(next.strip_prefix("/").unwrap())).unwrap();
                let target = target.to_str().unwrap();
                if target.starts_with('/') {
                    at = PathBuf::from("/");
                }
                parts.extend(target.split('/').filter(|p| !p.is_empty()).rev().map(String::from));
            } else {
                at = next;
            }
        }
        Some(root.join(at.strip_prefix("/").unwrap()))
    }

    /// The shells kscan looks for that the root filesystem has.
    fn shells(root: &Path) -> BTreeSet<String> {
        SHELLS.iter().filter(|s| resolve(root, s).is_some()).map(|s| s.to_string()).collect()
    }

    /// setuid/setgid regular files under the system directories, by `find`
    /// over the extracted tree (directories that are symbolic links are
    /// passed over: they point into others that are searched).
    fn setid_files(root: &Path) -> BTreeSet<String> {
        let dirs: Vec<PathBuf> = SYSTEM_DIRS
            .iter()
            .map(|d| root.join(d.trim_start_matches('/')))
            .filter(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()))
            .collect();
        let out = Command::new("find").args(&dirs).args(["-xdev", "-type", "f", "-perm", "/6000"]).output().unwrap();
        assert!(out.status.success(), "find: {}", text(&out.stderr));
        text(&out.stdout).lines().map(|l| format!("/{}", Path::new(l).strip_prefix(root).unwrap().display())).collect()
    }

    /// Whether kscan's rule for /etc/shadow (absent, or owned by root with
    /// mode 0640 or stricter) holds for the tree, by stat.
    fn shadow_passes(root: &Path) -> bool {
        match resolve(root, "/etc/shadow") {
            None => true,
            Some(path) => {
                let meta = std::fs::metadata(path).unwrap();
                meta.uid() == 0 && meta.mode() & 0o7777 & !0o640 == 0
            }
        }
    }

    /// The paths a failed result of control `id` names after "...: ".
    fn named_paths(doc: &Value, id: &str) -> BTreeSet<String> {
        let mut paths = BTreeSet::new();
        for r in control(doc, id)["results"].as_array().unwrap() {
            if r["status"] == "failed" {
                let message = r["message"].as_str().unwrap();
                let (_, list) = message.split_once(": ").unwrap_or_else(|| panic!("{id}: {message}"));
                paths.extend(list.split(", ").map(String::from));
            }
        }
        paths
    }

    /// The scan's verdicts agree with find/stat over the tree it was built from.
    fn assert_matches_rootfs(doc: &Value, root: &Path) {
        let expected_setid = setid_files(root);
        let setid = "kscan-no-setid-binaries";
        assert_eq!(named_paths(doc, setid), expected_setid, "{}", control(doc, setid));
        assert_eq!(statuses(doc, setid).contains(&"failed".to_owned()), !expected_setid.is_empty());

        let expected_shells = shells(root);
        assert_eq!(named_paths(doc, "kscan-no-shell"), expected_shells, "{}", control(doc, "kscan-no-shell"));

        let shadow = statuses(doc, "kscan-shadow-owner-mode");
        assert_eq!(
            !shadow.contains(&"failed".to_owned()),
            shadow_passes(root),
            "{}",
            control(doc, "kscan-shadow-owner-mode")
        );
        assert!(shadow.iter().all(|s| s == "passed" || s == "failed"), "{shadow:?}");
    }

    #[tokio::test]
    async fn an_exec_scan_of_the_debian_target_matches_its_root_filesystem() {
        cluster::in_namespace("scan-debian", |client, ns| async move {
            let containers = json!([{"name": "app", "image": cluster::debian_standard(), "command": KEEP_RUNNING}]);
            running_pod(&client, &ns, "deb", containers).await;
            // exec needs no scanner image.
            let (output, doc) = scan_with_scanner(&ns, "deb", "app", None, &["--strategy", "exec"]);
            assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
            let doc = doc.unwrap();
            assert_eq!(doc["platform"]["name"], "debian");
            let root = cluster::rootfs("debian-standard");
            // A real minbase Debian: setuid helpers and shells are there to find.
            assert!(!setid_files(root).is_empty() && !shells(root).is_empty(), "{}", root.display());
            assert_matches_rootfs(&doc, root);
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
        })
        .await;
    }

    #[tokio::test]
    async fn a_debug_scan_of_the_debian_distroless_target_matches_its_root_filesystem() {
        cluster::in_namespace("scan-debian-dl", |client, ns| async move {
            running_pod(&client, &ns, "dl", json!([{"name": "app", "image": cluster::debian_distroless()}])).await;
            let (output, doc) = scan_into(&ns, "dl", "app", &["--strategy", "debug"]);
            assert_eq!(output.status.code(), Some(0), "stderr:\n{}", text(&output.stderr));
            let doc = doc.unwrap();
            assert_eq!(doc["platform"]["kscan_strategy"], "debug");
            assert_eq!(doc["platform"]["name"], "debian");
            let root = cluster::rootfs("debian-distroless");
            assert_matches_rootfs(&doc, root);
            assert_eq!(statuses(&doc, "kscan-main-process-not-root"), ["passed"], "the image runs as 65532");
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
        })
        .await;
    }
}
