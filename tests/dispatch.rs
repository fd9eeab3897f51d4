//! `kscan scan --dispatch jobs`, end to end on the testbed: the targets of a
//! selector scanned by the shards of one Indexed Job give the results an
//! in-process run gives, whatever the shard count (6 targets in 3 shards
//! and in 1; 50 targets in 10); no more shard pods exist at once than
//! asked, as a watch of them for the whole run sees; nothing of the run is
//! left afterwards.
//!
//! The shards run this test binary's kscan in an image built from it
//! (`support::cluster::dispatch_image`). The testbed has no kube-proxy: the
//! shards reach the API server at the address the admin kubeconfig names
//! (`--dispatch-api-server`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::{json, Value};
use support::cluster::{self, kscan_objects, standard, KEEP_RUNNING};
use tokio::sync::oneshot;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `kscan ARGS` as the testbed admin.
fn kscan_admin(args: &[&str]) -> Output {
    support::kscan().env("KSCAN_KUBECONFIG", support::testbed_kubeconfig()).args(args).output().expect("running kscan")
}

/// Per HDF file in `dir`: control id → the statuses of its results.
fn results(dir: &Path) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".hdf.json") {
            continue;
        }
        let doc: Value = serde_json::from_slice(&std::fs::read(dir.join(&name)).unwrap()).unwrap();
        let mut controls = BTreeMap::new();
        for c in doc["profiles"][0]["controls"].as_array().expect("HDF controls") {
            let statuses = c["results"].as_array().unwrap().iter().map(|r| r["status"].to_string()).collect();
            controls.insert(c["id"].as_str().unwrap().to_owned(), statuses);
        }
        all.insert(name, controls);
    }
    all
}

/// Per HDF file in `dir`: the whole document without what changes from run
/// to run (times, durations, the run's identity).
fn documents(dir: &Path) -> BTreeMap<String, Value> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| !(k.contains("time") || k.contains("duration") || k == "run" || k == "run_id"));
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".hdf.json") {
            let mut doc: Value = serde_json::from_slice(&std::fs::read(dir.join(&name)).unwrap()).unwrap();
            strip(&mut doc);
            all.insert(name, doc);
        }
    }
    all
}

/// The files beside the HDF documents in `dir` — the reports of `--ci
/// jenkins` (JUnit, Markdown, SARIF) and the run manifest — by name, with
/// what changes from run to run replaced: times, JUnit's durations and the
/// run id.
fn reports(dir: &Path) -> BTreeMap<String, String> {
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("kscan-run.json")).unwrap()).unwrap();
    let run = manifest["run"].as_str().expect("the manifest names the run").to_owned();
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".hdf.json") {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            all.insert(name, without_durations(&without_times(&text)).replace(&run, "<run>"));
        }
    }
    all
}

/// `text` with the value of every XML attribute `time="SECONDS"` (JUnit's
/// durations) replaced by `<duration>`.
fn without_durations(text: &str) -> String {
    let mut parts = text.split(" time=\"");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        out.push_str(" time=\"");
        match part.split_once('"') {
            Some((value, rest)) if value.bytes().all(|c| c.is_ascii_digit() || c == b'.') => {
                out.push_str("<duration>\"");
                out.push_str(rest);
            }
            _ => out.push_str(part),
        }
    }
    out
}

/// `text` with every ISO 8601 time (`2026-01-02T03:04:05`, with its
/// fraction and zone) replaced by `<time>`.
fn without_times(text: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let b = text.as_bytes();
    let (mut out, mut i, mut copied) = (String::with_capacity(text.len()), 0, 0);
    while i + SHAPE.len() <= b.len() {
        let fits = SHAPE.iter().zip(&b[i..]).all(|(s, c)| if *s == b'd' { c.is_ascii_digit() } else { s == c });
        if !fits {
            i += 1;
            continue;
        }
        let mut j = i + SHAPE.len();
        while j < b.len() && (b[j] == b'.' || b[j].is_ascii_digit()) {
            j += 1;
        }
        if j < b.len() && b[j] == b'Z' {
            j += 1;
        } else if j + 6 <= b.len() && matches!(b[j], b'+' | b'-') && b[j + 3] == b':' {
            j += 6;
        }
        out.push_str(&text[copied..i]);
        out.push_str("<time>");
        (i, copied) = (j, j);
    }
    out.push_str(&text[copied..]);
    out
}

/// Six running pods labelled `app=web`.
async fn six_pods(client: &kube::Client, ns: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let names: Vec<String> = (0..6).map(|i| format!("web-{i}")).collect();
    for name in &names {
        let containers = json!([{"name": "app", "image": standard(), "command": KEEP_RUNNING}]);
        cluster::create_pod_with(&pods, name, containers, json!({})).await;
        let patch = json!({"metadata": {"labels": {"app": "web"}}});
        pods.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }
    for name in &names {
        cluster::wait_running(&pods, name).await;
    }
    names
}

/// The shard pods of a namespace: pods of kscan's Jobs.
const SHARD_PODS: &str = "app.kubernetes.io/managed-by=kscan,batch.kubernetes.io/job-name";

/// What a watch of the shard pods saw during a run.
#[derive(Debug, Default)]
struct ShardPods {
    /// The most that existed at once not yet terminated (Pending or
    /// Running), after any event.
    most: usize,
    /// Every shard pod seen.
    names: BTreeSet<String>,
}

/// Whether `pod` has not terminated yet (Pending, Running, or no phase so far).
fn not_terminated(pod: &Pod) -> bool {
    !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Watches the shard pods of `pods`' namespace, counting after every event
/// those not terminated; `listed` fires once the watch has its initial list
/// (events from then on are not missed). Once `stop` fires (the run ended),
/// it goes on until it saw the last shard pod deleted, so that no event of
/// the run is left unread — or for 30 s at most, when pods remain.
async fn watch_shard_pods(pods: Api<Pod>, listed: oneshot::Sender<()>, mut stop: oneshot::Receiver<()>) -> ShardPods {
    let stream = watcher::watcher(pods, watcher::Config::default().labels(SHARD_PODS)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut listed = Some(listed);
    let mut seen = ShardPods::default();
    // Pod name → not terminated; `relist` fills while the watch (re)lists.
    let (mut live, mut relist) = (BTreeMap::<String, bool>::new(), BTreeMap::new());
    let mut until = None;
    loop {
        let event = tokio::select! {
            event = stream.try_next() => event,
            _ = &mut stop, if until.is_none() => {
                until = Some(tokio::time::Instant::now() + Duration::from_secs(30));
                if live.is_empty() {
                    return seen;
                }
                continue;
            }
            () = tokio::time::sleep_until(until.unwrap_or_else(tokio::time::Instant::now)), if until.is_some() => {
                eprintln!("shard pods still there 30 s after the run: {:?}", live.keys());
                return seen;
            }
        };
        let name = |pod: &Pod| pod.metadata.name.clone().unwrap_or_default();
        match event {
            Ok(Some(Event::Init)) => relist.clear(),
            Ok(Some(Event::InitApply(pod))) => {
                seen.names.insert(name(&pod));
                relist.insert(name(&pod), not_terminated(&pod));
            }
            Ok(Some(Event::InitDone)) => {
                live = std::mem::take(&mut relist);
                if let Some(listed) = listed.take() {
                    let _ = listed.send(());
                }
            }
            Ok(Some(Event::Apply(pod))) => {
                seen.names.insert(name(&pod));
                live.insert(name(&pod), not_terminated(&pod));
            }
            Ok(Some(Event::Delete(pod))) => {
                live.remove(&name(&pod));
            }
            Ok(None) => panic!("the watch of shard pods ended"),
            // The watcher lists again after an error: `Init` follows.
            Err(e) => eprintln!("watch of shard pods: {e}"),
        }
        seen.most = seen.most.max(live.values().filter(|alive| **alive).count());
        if until.is_some() && live.is_empty() {
            return seen;
        }
    }
}

/// Run `kscan scan --dispatch jobs` with `extra` flags into `dir`, while a
/// watch counts the shard pods; returns the output and what it saw.
async fn dispatched(client: &kube::Client, ns: &str, dir: &Path, extra: &[&str]) -> (Output, ShardPods) {
    let image = cluster::dispatch_image();
    let mut args: Vec<String> = ["scan", "-n", ns, "-l", "app=web", "--dispatch", "jobs", "--dispatch-image", image]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--dispatch-api-server".to_owned(), cluster::api_server(), "--out-dir".to_owned()]);
    args.push(dir.to_str().unwrap().to_owned());
    args.extend(extra.iter().map(|s| s.to_string()));
    let (listed, is_listed) = oneshot::channel();
    let (stop, stopped) = oneshot::channel();
    let watch = tokio::spawn(watch_shard_pods(Api::namespaced(client.clone(), ns), listed, stopped));
    is_listed.await.expect("the watch of shard pods listed them");
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kscan_admin(&args)
    })
    .await
    .unwrap();
    let _ = stop.send(());
    (output, watch.await.unwrap())
}

/// The pods of kscan's Jobs in `ns`, by the label the Job controller sets,
/// whoever labelled them otherwise.
async fn job_pods(client: &kube::Client, ns: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods.list_metadata(&ListParams::default().labels("batch.kubernetes.io/job-name")).await.unwrap();
    list.items.into_iter().filter_map(|p| p.metadata.name).collect()
}

#[tokio::test]
async fn shards_of_a_job_give_the_results_of_an_in_process_run() {
    cluster::in_namespace("dispatch", |client, ns| async move {
        let names = six_pods(&client, &ns).await;
        let local = tempfile::tempdir().unwrap();
        let output = kscan_admin(&["scan", "-n", &ns, "-l", "app=web", "--out-dir", local.path().to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "in-process run; stderr:\n{}", text(&output.stderr));
        let expected = results(local.path());
        let files: Vec<String> = names.iter().map(|n| format!("{n}.app.hdf.json")).collect();
        assert_eq!(expected.keys().cloned().collect::<Vec<_>>(), files);
        assert!(expected.values().all(|c| !c.is_empty()), "controls in every file");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());

        let jobs = tempfile::tempdir().unwrap();
        let (output, seen) = dispatched(&client, &ns, jobs.path(), &["--shards", "3", "--parallelism", "2"]).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "dispatched run; stderr:\n{stderr}");
        assert!(stderr.contains("3/3 shard(s) done"), "progress lines on stderr:\n{stderr}");
        assert!(seen.most <= 2, "{} shard pods at once with --parallelism 2", seen.most);
        assert!(seen.most >= 1, "the watch saw no shard pod: {seen:?}");
        assert_eq!(results(jobs.path()), expected, "3 shards vs in-process");
        let whole = documents(local.path());
        for (name, doc) in documents(jobs.path()) {
            pretty_assertions::assert_eq!(doc, whole[&name], "{name}: 3 shards vs in-process, times aside");
        }
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(jobs.path().join("kscan-run.json")).unwrap()).unwrap();
        assert_eq!(manifest["exit_code"], 0, "{manifest}");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "left after the dispatched run");

        let one = tempfile::tempdir().unwrap();
        let (output, seen) = dispatched(&client, &ns, one.path(), &["--shards", "1"]).await;
        assert_eq!(output.status.code(), Some(0), "one shard; stderr:\n{}", text(&output.stderr));
        assert!(seen.most <= 1, "{} pods of a one-shard Job at once", seen.most);
        assert_eq!(results(one.path()), expected, "1 shard vs in-process");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "left after the one-shard run");
    })
    .await;
}

/// At the size of a real selector: 50 pods of one Deployment, in 10 shards
/// of which at most 5 run at once. A watch of the shard pods for the whole
/// run sees never more than 5 not terminated, and more than one (the shards
/// ran side by side, not one after the other); the HDF documents, the
/// reports made from them (JUnit, Markdown, SARIF) and the run manifest are
/// an in-process run's, times and run ids aside; nothing of either run is
/// left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_targets_run_at_most_five_shard_pods_at_once_and_give_the_in_process_results() {
    cluster::in_namespace("dispatch-50", |client, ns| async move {
        let started = Instant::now();
        let names = cluster::deployment(&client, &ns, "web", 50).await;
        eprintln!("50 target pods running after {:.1?}", started.elapsed());

        let local = tempfile::tempdir().unwrap();
        let clock = Instant::now();
        let output = kscan_admin(&[
            "scan",
            "-n",
            &ns,
            "-l",
            "app=web",
            "--ci",
            "jenkins",
            "--out-dir",
            local.path().to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(0), "in-process run; stderr:\n{}", text(&output.stderr));
        eprintln!("in-process run of 50 targets: {:.1?}", clock.elapsed());
        let expected = results(local.path());
        let files: Vec<String> = names.iter().map(|n| format!("{n}.app.hdf.json")).collect();
        assert_eq!(expected.keys().cloned().collect::<Vec<_>>(), files, "one HDF file per target");
        assert!(expected.values().all(|c| !c.is_empty()), "controls in every file");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "left after the in-process run");

        let jobs = tempfile::tempdir().unwrap();
        let clock = Instant::now();
        let (output, seen) =
            dispatched(&client, &ns, jobs.path(), &["--shards", "10", "--parallelism", "5", "--ci", "jenkins"]).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "dispatched run; stderr:\n{stderr}");
        eprintln!("dispatched run of 50 targets (10 shards, parallelism 5): {:.1?}; {seen:?}", clock.elapsed());
        assert!(stderr.contains("10/10 shard(s) done"), "progress lines on stderr:\n{stderr}");
        assert!(seen.most <= 5, "{} shard pods not terminated at once with --parallelism 5: {seen:?}", seen.most);
        assert!(seen.most >= 2, "the shards never ran side by side (at most {} at once): {seen:?}", seen.most);
        assert!(seen.names.len() >= 10, "a pod per shard at least: {seen:?}");
        assert_eq!(results(jobs.path()), expected, "10 shards vs in-process");
        let whole = documents(local.path());
        let mut compared = 0;
        for (name, doc) in documents(jobs.path()) {
            pretty_assertions::assert_eq!(doc, whole[&name], "{name}: 10 shards vs in-process, times aside");
            compared += 1;
        }
        assert_eq!(compared, 50);
        // The reports made from them, and the manifest, are the same too.
        let (expected, got) = (reports(local.path()), reports(jobs.path()));
        let names: Vec<&str> = expected.keys().map(String::as_str).collect();
        assert_eq!(names, ["kscan-junit.xml", "kscan-run.json", "kscan-summary.md", "kscan.sarif"]);
        for (name, text) in &expected {
            pretty_assertions::assert_eq!(&got[name], text, "{name}: 10 shards vs in-process, times aside");
        }
        assert_eq!(got.len(), expected.len(), "{:?}", got.keys());
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(jobs.path().join("kscan-run.json")).unwrap()).unwrap();
        assert_eq!(manifest["exit_code"], 0, "{manifest}");

        // Nothing of the run: no Job, no shard pod, no access object.
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "left after the dispatched run");
        assert_eq!(job_pods(&client, &ns).await, Vec::<String>::new(), "Job pods left after the dispatched run");
        eprintln!("whole test: {:.1?}", started.elapsed());
    })
    .await;
}

#[test]
fn bad_dispatch_flags_are_input_errors_naming_the_flag() {
    let cases: [(&[&str], &str); 5] = [
        (&["--pod", "web-0", "--dispatch", "jobs"], "--selector"),
        (&["-l", "app=web", "--dispatch", "jobs", "--shards", "0"], "--shards"),
        (&["-l", "app=web", "--dispatch", "jobs", "--parallelism", "0"], "--parallelism"),
        (&["-l", "app=web", "--shards", "2"], "--shards needs --dispatch jobs"),
        (&["-l", "app=web", "--dispatch", "jobs", "--dispatch-api-server", "nohost"], "--dispatch-api-server"),
    ];
    for (extra, flag) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let output = support::kscan()
            .env("KSCAN_KUBECONFIG", dir.path().join("no-such-kubeconfig"))
            .args(["scan", "-n", "shop", "--out-dir", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(flag), "{extra:?} should name {flag}: {stderr}");
    }
}

#[tokio::test]
async fn a_shard_stopped_mid_run_is_retried_and_the_run_completes() {
    cluster::in_namespace("dispatch-kill", |client, ns| async move {
        let names = six_pods(&client, &ns).await;
        let local = tempfile::tempdir().unwrap();
        let output = kscan_admin(&["scan", "-n", &ns, "-l", "app=web", "--out-dir", local.path().to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "in-process run; stderr:\n{}", text(&output.stderr));
        let expected = results(local.path());

        // One shard scanning one target at a time. Once its first pod's log
        // shows it scanning the second target, and before it printed any
        // results, it gets SIGTERM — what deleting or evicting its pod sends
        // (a deletion itself reaches this testbed's kubelet later than the
        // whole shard takes). The shard must end as a failure, and its
        // index be retried.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let killer = tokio::spawn(async move {
            let params = ListParams::default().labels(SHARD_PODS);
            for _ in 0..3000 {
                let list = pods.list(&params).await.expect("listing shard pods");
                for pod in &list.items {
                    let name = pod.metadata.name.clone().unwrap();
                    let log = pods.logs(&name, &Default::default()).await.unwrap_or_default();
                    if log.contains("/web-1/app: scanning") && !log.contains("BEGIN KSCAN SHARD RESULTS") {
                        cluster::exec_ok(&pods, &name, "shard", &["/bin/sh", "-c", "kill -TERM 1"]).await;
                        return name;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("no shard pod was seen scanning");
        });
        let out = tempfile::tempdir().unwrap();
        let (output, _) = dispatched(&client, &ns, out.path(), &["--shards", "1", "--concurrency", "1"]).await;
        let killed = killer.await.unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "after stopping {killed}; stderr:\n{stderr}");
        assert!(stderr.contains("(1 pod failure(s))"), "the stopped shard counted as a pod failure:\n{stderr}");
        assert!(stderr.contains("1/1 shard(s) done"), "the retry completed the shard:\n{stderr}");
        assert_eq!(results(out.path()), expected, "the retried shard's results");
        assert_eq!(names.len(), expected.len());
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "left after the retried run");
    })
    .await;
}

#[tokio::test]
async fn after_kill_9_cleanup_removes_the_job_and_its_pods_too() {
    cluster::in_namespace("dispatch-kill9", |client, ns| async move {
        six_pods(&client, &ns).await;
        let out = tempfile::tempdir().unwrap();
        let mut child = support::kscan()
            .env("KSCAN_KUBECONFIG", support::testbed_kubeconfig())
            .args(["scan", "-n", &ns, "-l", "app=web", "--dispatch", "jobs", "--shards", "2"])
            .args(["--dispatch-image", cluster::dispatch_image(), "--dispatch-api-server", &cluster::api_server()])
            .arg("--out-dir")
            .arg(out.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client.clone(), &ns);
        let params = ListParams::default().labels("app.kubernetes.io/managed-by=kscan");
        let deadline = std::time::Instant::now() + cluster::TIMEOUT;
        let job = loop {
            if let Some(job) = jobs.list(&params).await.unwrap().items.into_iter().next() {
                break job;
            }
            assert!(std::time::Instant::now() < deadline, "no Job appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        child.kill().unwrap();
        child.wait().unwrap();
        // The shard pod as the Job makes it is admitted by Pod Security
        // `restricted`, enforced by the API server (a dry run, with the
        // run's ServiceAccount still there); one on the host's network is not.
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let label = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
        namespaces.patch(&ns, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let dry = kube::api::PostParams { dry_run: true, ..Default::default() };
        let template = job.spec.clone().unwrap().template;
        let mut pod = Pod { spec: template.spec, ..Default::default() };
        pod.metadata.generate_name = Some("psa-check-".into());
        let mut on_host = pod.clone();
        on_host.spec.as_mut().unwrap().host_network = Some(true);
        // The API server sees the namespace's new label after a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !cluster::is_forbidden(&pods.create(&dry, &on_host).await) {
            assert!(std::time::Instant::now() < deadline, "Pod Security restricted is not enforced in {ns}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        pods.create(&dry, &pod).await.expect("Pod Security restricted admits the shard pod");
        let run = job.metadata.labels.unwrap()["kscan.dev/run"].clone();
        let left = kscan_objects(&client, &ns).await;
        assert!(left.contains(&format!("Job/kscan-{run}")), "SIGKILL leaves the Job behind: {left:?}");
        let cleaned = kscan_admin(&["cleanup", "-n", &ns, "--run", &run]);
        assert_eq!(cleaned.status.code(), Some(0), "{}", text(&cleaned.stderr));
        let stdout = text(&cleaned.stdout);
        assert!(stdout.lines().any(|l| l.starts_with("deleted job/kscan-")), "{stdout}");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "left after cleanup");
    })
    .await;
}

#[tokio::test]
async fn a_caller_who_may_not_create_jobs_gets_exit_3_naming_the_grants_and_nothing_is_left() {
    cluster::in_namespace("dispatch-rbac", |client, ns| async move {
        six_pods(&client, &ns).await;
        // Everything an in-process scan needs, with deletes; nothing on jobs.
        let rules = cluster::in_process_scan_rules(true);
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = cluster::caller_kubeconfig(&client, &ns, dir.path(), "kscan-test-no-jobs", rules).await;
        let output = support::kscan()
            .env("KSCAN_KUBECONFIG", &kubeconfig)
            .args(["scan", "-n", &ns, "-l", "app=web", "--dispatch", "jobs", "--dispatch-image", "unused:1"])
            .arg("--out-dir")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("may not create Jobs"), "{stderr}");
        assert!(stderr.contains("create, get and delete on jobs"), "the error names the grants: {stderr}");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_shard_image_that_cannot_be_pulled_fails_fast_naming_the_flag_and_nothing_is_left() {
    cluster::in_namespace("dispatch-pull", |client, ns| async move {
        six_pods(&client, &ns).await;
        let registry = standard().split('/').next().unwrap().to_owned();
        let missing = format!("{registry}/kscan/no-such-image:1");
        let out = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let output = kscan_admin(&[
            "scan",
            "-n",
            &ns,
            "-l",
            "app=web",
            "--dispatch",
            "jobs",
            "--dispatch-image",
            &missing,
            "--dispatch-api-server",
            &cluster::api_server(),
            "--out-dir",
            out.path().to_str().unwrap(),
        ]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("cannot start") && stderr.contains("--dispatch-image"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(120), "not the 10m deadline: {:?}", started.elapsed());
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}
