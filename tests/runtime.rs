//! The runtime-observed controls on the testbed's real kubelet, containerd
//! and runc: for each control a pod that passes and one that fails, each
//! scanned with exec and with debug, and the two strategies agree; the
//! whole exec scan is one exec round trip; a setuid-root process in a
//! non-root container fails `kscan-no-root-processes` under exec.

mod support;

use std::process::Output;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::{json, Value};
use support::cluster::{self, debian_standard, nonroot, scanner, standard};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `kscan scan` of `pod` (container `app`) as the testbed admin with
/// `strategy`, debug logs on; the output and the HDF.
fn scan(ns: &str, pod: &str, strategy: &str) -> (Output, Value) {
    let out = tempfile::tempdir().unwrap();
    let output = support::kscan()
        .env("KSCAN_KUBECONFIG", support::testbed_kubeconfig())
        .env("KSCAN_LOG", "kscan=debug")
        .args(["scan", "-n", ns, "--pod", pod, "--container", "app", "--strategy", strategy])
        .args(["--scanner-image", scanner(), "--out-dir"])
        .arg(out.path())
        .output()
        .expect("running kscan");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{pod} with {strategy}: exit {:?}\n{}",
        output.status.code(),
        text(&output.stderr)
    );
    let file = out.path().join(format!("{pod}.app.hdf.json"));
    let doc = serde_json::from_slice(
        &std::fs::read(&file)
            .unwrap_or_else(|e| panic!("{pod} with {strategy}: no results ({e}):\n{}", text(&output.stderr))),
    )
    .unwrap();
    (output, doc)
}

/// `(status, code_desc + message)` of each result of control `id`.
fn results(doc: &Value, id: &str) -> Vec<(String, String)> {
    let control = doc["profiles"][0]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id}"));
    control["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let message = r["message"].as_str().or(r["skip_message"].as_str()).unwrap_or("");
            (r["status"].as_str().unwrap().to_owned(), format!("{} — {message}", r["code_desc"].as_str().unwrap()))
        })
        .collect()
}

fn statuses(doc: &Value, id: &str) -> Vec<String> {
    results(doc, id).into_iter().map(|(s, _)| s).collect()
}

/// The control as a whole: failed if any result failed, error if any erred
/// (and none failed), passed if all passed, else skipped.
fn verdict(doc: &Value, id: &str) -> &'static str {
    let s = statuses(doc, id);
    if s.iter().any(|s| s == "failed") {
        "failed"
    } else if s.iter().any(|s| s == "error") {
        "error"
    } else if s.iter().all(|s| s == "passed") {
        "passed"
    } else {
        "skipped"
    }
}

const RUNTIME_CONTROLS: &[&str] = &[
    "kscan-seccomp-applied",
    "kscan-no-new-privileges",
    "kscan-capabilities-restricted",
    "kscan-root-filesystem-read-only",
    "kscan-kernel-interfaces-read-only",
    "kscan-no-host-namespaces",
    "kscan-lsm-profile-applied",
    "kscan-no-service-account-token",
    "kscan-no-private-keys-in-filesystem",
];

/// Keeps running; first plants a private key in the container's own root
/// filesystem when `/srv` is writable.
const PLANT_AND_RUN: &str = "mkdir -p /srv 2>/dev/null && printf -- '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n' \
    > /srv/tls.key 2>/dev/null; trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done";

fn container(image: &str, security_context: Value) -> Value {
    json!([{"name": "app", "image": image, "command": ["/bin/sh", "-c", PLANT_AND_RUN],
            "securityContext": security_context}])
}

/// A test pod: its name, its containers, the rest of its spec, and the
/// controls it must pass (`passed`) or fail (`failed`).
type TestPod = (&'static str, Value, Value, &'static [(&'static str, &'static str)]);

/// The pods of the runtime tests.
fn test_pods() -> Vec<TestPod> {
    let hardened = json!({
        "runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
    });
    vec![
        (
            "hardened",
            container(nonroot(), hardened),
            json!({"automountServiceAccountToken": false}),
            &[
                ("kscan-seccomp-applied", "passed"),
                ("kscan-no-new-privileges", "passed"),
                ("kscan-capabilities-restricted", "passed"),
                ("kscan-root-filesystem-read-only", "passed"),
                ("kscan-kernel-interfaces-read-only", "passed"),
                ("kscan-no-host-namespaces", "passed"),
                ("kscan-no-service-account-token", "passed"),
                ("kscan-no-private-keys-in-filesystem", "passed"),
            ],
        ),
        (
            "loose",
            container(standard(), json!({})),
            json!({"automountServiceAccountToken": true}),
            &[
                ("kscan-seccomp-applied", "failed"),
                ("kscan-no-new-privileges", "failed"),
                ("kscan-capabilities-restricted", "failed"),
                ("kscan-root-filesystem-read-only", "failed"),
                ("kscan-no-service-account-token", "failed"),
                ("kscan-no-private-keys-in-filesystem", "failed"),
            ],
        ),
        (
            // Privileged: the runtime ignores the seccomp profile and the
            // dropped capabilities the spec asks for, and leaves the kernel
            // interfaces writable.
            "privileged",
            container(
                standard(),
                json!({"privileged": true, "readOnlyRootFilesystem": true,
                       "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}),
            ),
            json!({}),
            &[
                ("kscan-kernel-interfaces-read-only", "failed"),
                ("kscan-seccomp-applied", "failed"),
                ("kscan-capabilities-restricted", "failed"),
                ("kscan-root-filesystem-read-only", "passed"),
            ],
        ),
        (
            "host",
            container(standard(), json!({})),
            json!({"hostNetwork": true, "hostPID": true, "hostIPC": true}),
            &[("kscan-no-host-namespaces", "failed")],
        ),
    ]
}

#[tokio::test]
async fn runtime_controls_pass_and_fail_alike_with_exec_and_debug() {
    cluster::in_namespace("runtime", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let all = test_pods();
        for (name, containers, extra, _) in &all {
            cluster::create_pod_with(&pods, name, containers.clone(), extra.clone()).await;
        }
        for (name, ..) in &all {
            cluster::wait_running(&pods, name).await;
        }
        for (name, _, _, expected) in &all {
            let (exec_out, exec) = scan(&ns, name, "exec");
            let (_, debug) = scan(&ns, name, "debug");
            assert_eq!(exec["platform"]["kscan_strategy"], "exec");
            assert_eq!(debug["platform"]["kscan_strategy"], "debug");
            // One exec round trip for the whole builtin scan.
            let trips = text(&exec_out.stderr).matches("exec round trip").count();
            assert_eq!(trips, 1, "{name}: {trips} exec round trips:\n{}", text(&exec_out.stderr));
            for (id, want) in expected.iter() {
                assert_eq!(verdict(&exec, id), *want, "{name} / exec / {id}: {:#?}", results(&exec, id));
            }
            for id in RUNTIME_CONTROLS {
                assert_eq!(
                    statuses(&exec, id),
                    statuses(&debug, id),
                    "{name} / {id}: exec and debug disagree:\nexec {:#?}\ndebug {:#?}",
                    results(&exec, id),
                    results(&debug, id)
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn asked_but_not_applied_is_a_failure_naming_the_spec_and_the_kernel() {
    cluster::in_namespace("runtime-spec", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let (_, containers, extra, _) = test_pods().into_iter().find(|p| p.0 == "privileged").unwrap();
        cluster::create_pod_with(&pods, "privileged", containers, extra).await;
        cluster::wait_running(&pods, "privileged").await;
        for strategy in ["exec", "debug"] {
            let (_, doc) = scan(&ns, "privileged", strategy);
            let seccomp = results(&doc, "kscan-seccomp-applied");
            let asked = seccomp.iter().find(|(_, d)| d.contains("from the pod spec")).expect("a spec result");
            assert_eq!(asked.0, "failed", "{strategy}: {seccomp:#?}");
            assert!(asked.1.contains("seccompProfile RuntimeDefault") && asked.1.contains("Seccomp: 0"), "{asked:?}");
            assert!(asked.1.contains(&format!("{ns}/privileged")), "names the pod: {asked:?}");
            let caps = results(&doc, "kscan-capabilities-restricted");
            let asked = caps.iter().find(|(_, d)| d.contains("capabilities.drop [ALL]")).expect("a spec result");
            assert_eq!(asked.0, "failed", "{strategy}: {caps:#?}");
            assert!(asked.1.contains("CAP_SYS_ADMIN"), "{asked:?}");
            // What the runtime did apply passes as such.
            let ro = results(&doc, "kscan-root-filesystem-read-only");
            assert!(ro.iter().any(|(s, d)| s == "passed" && d.contains("readOnlyRootFilesystem: true")), "{ro:#?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_setuid_root_process_in_a_non_root_container_fails_no_root_processes_under_exec() {
    cluster::in_namespace("runtime-suid", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        // An init container (root) leaves a setuid-root copy of GNU sleep
        // (which keeps the privilege it was given) in a shared volume; the
        // container, UID 65532, starts it, so it runs with effective UID 0
        // beside the non-root main process.
        let init = json!([{"name": "setuid", "image": debian_standard(),
            "command": ["/bin/sh", "-c", "cp /bin/sleep /shared/helper && chmod 4755 /shared/helper"],
            "securityContext": {"runAsUser": 0}, "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}]);
        let app = json!([{"name": "app", "image": debian_standard(),
            "command": ["/bin/sh", "-c",
                "/shared/helper 3600 & trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"],
            "securityContext": {"runAsUser": 65532, "runAsGroup": 65532},
            "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}]);
        let extra = json!({"initContainers": init, "volumes": [{"name": "shared", "emptyDir": {}}]});
        cluster::create_pod_with(&pods, "suid", app, extra).await;
        cluster::wait_running(&pods, "suid").await;
        let (_, doc) = scan(&ns, "suid", "exec");
        assert_eq!(
            statuses(&doc, "kscan-main-process-not-root"),
            ["passed"],
            "{:#?}",
            results(&doc, "kscan-main-process-not-root")
        );
        let root = results(&doc, "kscan-no-root-processes");
        assert_eq!(root[0].0, "failed", "{root:#?}");
        assert!(root[0].1.contains("helper"), "names the process: {root:#?}");
    })
    .await;
}
