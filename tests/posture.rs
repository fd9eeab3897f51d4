//! `kscan posture` end to end: parity of the Pod Security Standards checks
//! with the official admission library (through `psa-oracle`, built by
//! `scripts/setup`), the CLI on manifests, and the live cluster on the testbed.

mod support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::Command;

use kscan::posture::manifest::read_stream;
use kscan::posture::pss::{allowed, Level, CHECKS};
use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*), so a failing corpus can be rebuilt.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn tri(&mut self) -> Value {
        match self.next() % 4 {
            0 => json!(true),
            1 => json!(false),
            2 => Value::Null,
            _ => json!("absent"),
        }
    }
}

/// Insert `key: value` unless the value is the "absent" marker.
fn set(map: &mut serde_json::Map<String, Value>, key: &str, value: Value) {
    if value != json!("absent") {
        map.insert(key.to_owned(), value);
    }
}

fn profile(rng: &mut Rng, types: &[&str]) -> Value {
    json!({"type": rng.pick(types)})
}

fn container(rng: &mut Rng, name: String, hardened: bool) -> Value {
    let mut c = serde_json::Map::new();
    c.insert("name".into(), json!(name));
    c.insert("image".into(), json!(rng.pick(&["nginx", "nginx:1.27", "host:5000/app", "app@sha256:00"])));
    let mut sc = serde_json::Map::new();
    if hardened {
        sc.insert("runAsNonRoot".into(), json!(true));
        sc.insert("allowPrivilegeEscalation".into(), json!(false));
        sc.insert("capabilities".into(), json!({"drop": ["ALL"]}));
        sc.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
    }
    let flip = if hardened { 8 } else { 35 };
    if rng.chance(flip) {
        set(&mut sc, "privileged", rng.tri());
    }
    if rng.chance(flip) {
        set(&mut sc, "allowPrivilegeEscalation", rng.tri());
    }
    if rng.chance(flip) {
        set(&mut sc, "runAsNonRoot", rng.tri());
    }
    if rng.chance(flip) {
        sc.insert("runAsUser".into(), json!(rng.pick(&["0", "1000"]).parse::<i64>().unwrap()));
    }
    if rng.chance(flip) {
        let add: Vec<&str> =
            (0..rng.next() % 3).map(|_| rng.pick(&["NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN", "NET_RAW"])).collect();
        let drop: Vec<&str> = (0..rng.next() % 2).map(|_| rng.pick(&["ALL", "NET_RAW"])).collect();
        sc.insert("capabilities".into(), json!({"add": add, "drop": drop}));
    }
    if rng.chance(flip) {
        sc.insert("seccompProfile".into(), profile(rng, &["RuntimeDefault", "Localhost", "Unconfined"]));
    }
    if rng.chance(flip / 2) {
        sc.insert("appArmorProfile".into(), profile(rng, &["RuntimeDefault", "Localhost", "Unconfined"]));
    }
    if rng.chance(flip / 2) {
        let t = rng.pick(&["", "container_t", "container_engine_t", "spc_t"]);
        let mut o = json!({"type": t});
        if rng.chance(20) {
            o["user"] = json!("u");
        }
        if rng.chance(20) {
            o["role"] = json!("r");
        }
        sc.insert("seLinuxOptions".into(), o);
    }
    if rng.chance(flip / 2) {
        sc.insert("procMount".into(), json!(rng.pick(&["Default", "Unmasked"])));
    }
    if rng.chance(flip / 4) {
        sc.insert("windowsOptions".into(), json!({"hostProcess": rng.chance(50)}));
    }
    if !sc.is_empty() || rng.chance(50) {
        c.insert("securityContext".into(), Value::Object(sc));
    }
    if rng.chance(flip / 2) {
        c.insert(
            "ports".into(),
            json!([{"containerPort": 80, "hostPort": rng.pick(&["0", "8080"]).parse::<i64>().unwrap()}]),
        );
    }
    if rng.chance(flip / 3) {
        c.insert("livenessProbe".into(), json!({"httpGet": {"port": 80, "host": rng.pick(&["", "10.0.0.1"])}}));
    }
    if rng.chance(flip / 4) {
        c.insert("lifecycle".into(), json!({"preStop": {"tcpSocket": {"port": 80, "host": "example.com"}}}));
    }
    Value::Object(c)
}

fn pod_spec(rng: &mut Rng) -> (Value, Value) {
    let hardened = rng.chance(45);
    let flip = if hardened { 5 } else { 20 };
    let mut spec = serde_json::Map::new();
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if rng.chance(flip) {
            set(&mut spec, key, rng.tri());
        }
    }
    if rng.chance(25) {
        set(&mut spec, "hostUsers", rng.tri());
    }
    if rng.chance(8) {
        spec.insert("os".into(), json!({"name": rng.pick(&["linux", "windows"])}));
    }
    let mut psc = serde_json::Map::new();
    if rng.chance(30) {
        set(&mut psc, "runAsNonRoot", rng.tri());
    }
    if rng.chance(15) {
        psc.insert("runAsUser".into(), json!(rng.pick(&["0", "1000"]).parse::<i64>().unwrap()));
    }
    if rng.chance(25) {
        psc.insert("seccompProfile".into(), profile(rng, &["RuntimeDefault", "Localhost", "Unconfined"]));
    }
    if rng.chance(flip / 2) {
        psc.insert("appArmorProfile".into(), profile(rng, &["RuntimeDefault", "Unconfined"]));
    }
    if rng.chance(flip / 2) {
        psc.insert("seLinuxOptions".into(), json!({"type": rng.pick(&["container_t", "spc_t"])}));
    }
    if rng.chance(flip / 2) {
        psc.insert(
            "sysctls".into(),
            json!([{"name": rng.pick(&["net.ipv4.tcp_syncookies", "net.ipv4.tcp_notsent_lowat", "kernel.msgmax"]), "value": "1"}]),
        );
    }
    if rng.chance(flip / 4) {
        psc.insert("windowsOptions".into(), json!({"hostProcess": true}));
    }
    if !psc.is_empty() {
        spec.insert("securityContext".into(), Value::Object(psc));
    }
    let count = 1 + rng.next() % 3;
    spec.insert("containers".into(), (0..count).map(|i| container(rng, format!("c{i}"), hardened)).collect());
    if rng.chance(25) {
        spec.insert("initContainers".into(), json!([container(rng, "init".into(), hardened)]));
    }
    if rng.chance(10) {
        spec.insert("ephemeralContainers".into(), json!([container(rng, "debug".into(), hardened)]));
    }
    if rng.chance(flip + 10) {
        let volumes: Vec<Value> = (0..1 + rng.next() % 2)
            .map(|i| {
                let kind = rng.pick(&["emptyDir", "configMap", "hostPath", "nfs", "projected", "gitRepo", "csi"]);
                let mut v = json!({"name": format!("v{i}")});
                v[kind] = match kind {
                    "hostPath" => json!({"path": "/"}),
                    "nfs" => json!({"server": "s", "path": "/"}),
                    "configMap" => json!({"name": "cm"}),
                    "gitRepo" => json!({"repository": "r"}),
                    "csi" => json!({"driver": "d"}),
                    _ => json!({}),
                };
                v
            })
            .collect();
        spec.insert("volumes".into(), Value::Array(volumes));
    }
    let mut annotations = serde_json::Map::new();
    if rng.chance(flip / 2) {
        annotations.insert(
            "container.apparmor.security.beta.kubernetes.io/c0".into(),
            json!(rng.pick(&["runtime/default", "localhost/p", "unconfined"])),
        );
    }
    (Value::Object(spec), Value::Object(annotations))
}

/// `count` objects of pod-bearing kinds, as a multi-document stream.
fn corpus(seed: u64, count: usize) -> String {
    let mut rng = Rng(seed);
    let mut out = String::new();
    for i in 0..count {
        let (spec, annotations) = pod_spec(&mut rng);
        let name = format!("w{i}");
        let template = json!({"metadata": {"annotations": annotations}, "spec": spec});
        let obj = match rng.next() % 5 {
            0 | 1 => json!({"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": name, "namespace": "ns", "annotations": annotations}, "spec": spec}),
            2 => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "ns"},
                        "spec": {"selector": {}, "template": template}}),
            3 => json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "ns"},
                        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}),
            _ => json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "ns"},
                        "spec": {"selector": {}, "serviceName": "s", "template": template}}),
        };
        writeln!(out, "---\n{obj}").unwrap();
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    name: String,
    baseline: bool,
    restricted: bool,
    failed: BTreeSet<String>,
}

#[test]
fn pss_verdicts_match_the_admission_library() {
    const PODS: usize = 3000;
    let text = corpus(0x5eed_cafe, PODS);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("corpus.yaml");
    std::fs::write(&file, &text).unwrap();

    let out = Command::new(support::tool("psa-oracle")).arg(&file).output().unwrap();
    assert!(out.status.success(), "psa-oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let oracle: Vec<Verdict> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Verdict {
                name: v["name"].as_str().unwrap().to_owned(),
                baseline: v["baseline"].as_bool().unwrap(),
                restricted: v["restricted"].as_bool().unwrap(),
                failed: v["failed_checks"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
            }
        })
        .collect();

    let mut ours = Vec::new();
    read_stream("corpus.yaml", text.as_bytes(), &mut |w, _| {
        let view = w.view();
        let failed = CHECKS
            .iter()
            .filter(|c| {
                let mut v = Vec::new();
                (c.eval)(&view, &mut v);
                !v.is_empty()
            })
            .map(|c| c.id.to_owned())
            .collect();
        ours.push(Verdict {
            name: w.name.clone(),
            baseline: allowed(&view, Level::Baseline),
            restricted: allowed(&view, Level::Restricted),
            failed,
        });
    })
    .unwrap();

    assert_eq!(ours.len(), PODS);
    assert_eq!(oracle.len(), PODS);
    let mismatches: Vec<String> =
        ours.iter().zip(&oracle).filter(|(a, b)| a != b).map(|(a, b)| format!("kscan {a:?}\noracle {b:?}")).collect();
    let count = |f: &dyn Fn(&Verdict) -> bool| oracle.iter().filter(|v| f(v)).count();
    let (restricted_ok, baseline_only, baseline_denied) =
        (count(&|v| v.restricted), count(&|v| v.baseline && !v.restricted), count(&|v| !v.baseline));
    eprintln!(
        "parity over {PODS} objects: {} mismatches; oracle: {restricted_ok} restricted, {baseline_only} baseline only, {baseline_denied} denied at baseline",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {PODS} differ; first:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );
    // The corpus must exercise every outcome and every check, or parity means little.
    for n in [restricted_ok, baseline_only, baseline_denied] {
        assert!(n >= PODS / 20, "corpus too one-sided: {restricted_ok}/{baseline_only}/{baseline_denied}");
    }
    for check in CHECKS {
        assert!(oracle.iter().any(|v| v.failed.contains(check.id)), "no pod in the corpus fails {}", check.id);
    }
}

/// The CLI on manifest files: seed JSON names each offender, HDF results
/// point to the file and line, bad input exits 2 naming the file.
#[test]
fn cli_on_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    std::fs::write(
        &file,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n    spec:\n\
         \x20     initContainers: [{name: setup, image: 'host:5000/tools', securityContext: {runAsUser: 0}}]\n\
         \x20     containers: [{name: app, image: 'shop/web@sha256:00', securityContext: {runAsNonRoot: true}}]\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
    )
    .unwrap();
    let out =
        support::kscan().args(["posture", "--format", "seed-json", "--manifests"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let seed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = json!({"namespace": "shop", "kind": "Deployment", "pod": "web", "container": "setup", "image": "host:5000/tools"});
    assert_eq!(seed["latest_tag_containers"], json!([row]));
    assert_eq!(seed["root_containers"], json!([row]));
    assert_eq!(seed["summary"]["containers"], 2);

    let out = support::kscan().args(["posture", "--standard", "baseline", "--manifests"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let hdf: Value = serde_json::from_slice(&out.stdout).unwrap();
    let controls = hdf["profiles"][0]["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 3 + 12, "three posture controls and the 12 baseline checks");
    let root = controls.iter().find(|c| c["id"] == "posture-run-as-root").unwrap();
    assert_eq!(root["results"][0]["resource"], format!("{}:1", file.display()));
    assert_eq!(root["results"][0]["status"], "failed");
    // The HDF is what the SAF CLI reads: kscan summary loads it.
    let hdf_file = dir.path().join("out.json");
    std::fs::write(&hdf_file, &out.stdout).unwrap();
    let summary = support::kscan().arg("summary").arg(&hdf_file).output().unwrap();
    assert_eq!(summary.status.code(), Some(0), "{}", String::from_utf8_lossy(&summary.stderr));

    std::fs::write(dir.path().join("bad.yaml"), "kind: Pod\nspec:\n  hostNetwork: yes please\n").unwrap();
    let out = support::kscan().args(["posture", "--manifests"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml: the document starting at line 1"), "{err}");

    let out = support::kscan().args(["posture", "--namespace", "Bad/Name"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out =
        support::kscan().args(["posture", "--format", "hdf,seed-json", "--manifests"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "several formats need --output-dir");
}

#[test]
fn reports_and_the_gate_work_on_posture_results() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("pods.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers:\n  - name: app\n    image: nginx:latest\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut cmd = support::kscan();
        cmd.arg("posture").arg("--manifests").arg(&manifest).args(extra);
        cmd.output().unwrap()
    };
    let threshold = support::root().join("thresholds/moderate.yml");
    let out_dir = out.to_str().unwrap();
    let output = run(&["--format", "junit,sarif", "--output-dir", out_dir, "--threshold", threshold.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("gate: FAILED"), "{stdout}");
    let hdf: Value = serde_json::from_slice(&std::fs::read(out.join("posture.hdf.json")).unwrap()).unwrap();
    let controls = hdf["profiles"][0]["controls"].as_array().unwrap().len();
    let junit = std::fs::read_to_string(out.join("kscan-junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), controls);
    // SARIF points at the manifest and line of the offence.
    let sarif: Value = serde_json::from_slice(&std::fs::read(out.join("kscan.sarif")).unwrap()).unwrap();
    let uri = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert!(uri.as_str().unwrap().ends_with("pods.yaml"), "{uri}");
    // Reports need a directory to read the HDF from: an input error, before any work.
    let output = run(&["--format", "sarif"]);
    assert_eq!(output.status.code(), Some(2));
}

mod live {
    //! Against the testbed's real API server (namespace `kscan-test`).

    use super::*;
    use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use kube::api::{Api, DeleteParams, PostParams};
    use kube::config::{KubeConfigOptions, Kubeconfig};
    use kube::Client;
    use serde::Deserialize;

    const NS: &str = "kscan-test";

    async fn admin() -> Client {
        let kc = Kubeconfig::read_from(support::testbed_kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap();
        Client::try_from(config).unwrap()
    }

    /// Create `obj` in `NS`, replacing an object of the same name left by an earlier run.
    async fn recreate<K>(api: &Api<K>, obj: Value)
    where
        K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
    {
        let obj: K = serde_json::from_value(obj).unwrap();
        let name = obj.meta().name.clone().unwrap();
        let _ = api.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
        for _ in 0..50 {
            if api.get_opt(&name).await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        api.create(&PostParams::default(), &obj).await.unwrap();
    }

    fn pod(name: &str, init: Value, containers: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
               "spec": {"automountServiceAccountToken": false, "initContainers": init, "containers": containers}})
    }

    async fn deploy_violations(client: &Client) {
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        // The testbed's standard image by tag and digest, and its repository
        // without a tag (implicitly `latest`: only its spec matters here).
        let image = support::cluster::standard();
        let untagged = image.split('@').next().unwrap().rsplit_once(':').unwrap().0;
        recreate(
            &pods,
            pod(
                "posture-latest",
                json!([]),
                json!([
                    {"name": "app", "image": untagged, "securityContext": {"runAsUser": 1000}}
                ]),
            ),
        )
        .await;
        recreate(
            &pods,
            pod(
                "posture-root",
                json!([
                    {"name": "setup", "image": image, "securityContext": {"runAsUser": 0}}
                ]),
                json!([
                    {"name": "app", "image": image, "securityContext": {"runAsNonRoot": true, "runAsUser": 1000}}
                ]),
            ),
        )
        .await;
        recreate(&pods, pod("posture-privileged", json!([]), json!([
            {"name": "app", "image": image,
             "securityContext": {"privileged": true, "runAsUser": 1000}, "ports": [{"containerPort": 80, "hostPort": 18080}]}
        ]))).await;
    }

    fn rows(seed: &Value, key: &str) -> BTreeSet<(String, String, String)> {
        seed[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["namespace"].as_str().unwrap().into(),
                    r["pod"].as_str().unwrap().into(),
                    r["container"].as_str().unwrap().into(),
                )
            })
            .collect()
    }

    fn t(ns: &str, pod: &str, c: &str) -> (String, String, String) {
        (ns.into(), pod.into(), c.into())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn finds_each_violation_and_records_forbidden_namespaces() {
        let client = admin().await;
        deploy_violations(&client).await;

        // As admin: every violation with the right namespace/pod/container.
        let out = support::kscan()
            .args(["posture", "--namespace", NS, "--format", "seed-json", "--kubeconfig"])
            .arg(support::testbed_kubeconfig())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let seed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(rows(&seed, "latest_tag_containers").contains(&t(NS, "posture-latest", "app")));
        let root = rows(&seed, "root_containers");
        assert!(root.contains(&t(NS, "posture-root", "setup")));
        assert!(!root.contains(&t(NS, "posture-root", "app")));
        assert_eq!(seed["errors"], json!([]));
        // One pod per page: pagination (limit/continue) gives the same findings.
        let paged = support::kscan()
            .args(["posture", "--namespace", NS, "--format", "seed-json", "--page-size", "1", "--kubeconfig"])
            .arg(support::testbed_kubeconfig())
            .output()
            .unwrap();
        assert_eq!(paged.status.code(), Some(0), "{}", String::from_utf8_lossy(&paged.stderr));
        let paged: Value = serde_json::from_slice(&paged.stdout).unwrap();
        assert_eq!(paged["summary"], seed["summary"]);
        assert!(seed["summary"]["objects"].as_u64().unwrap() >= 3);

        let dir = tempfile::tempdir().unwrap();
        let out = support::kscan()
            .args(["posture", "--namespace", NS, "--standard", "baseline", "--format", "hdf,seed-json", "--output-dir"])
            .arg(dir.path())
            .arg("--kubeconfig")
            .arg(support::testbed_kubeconfig())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let hdf: Value = serde_json::from_slice(&std::fs::read(dir.path().join("posture.hdf.json")).unwrap()).unwrap();
        let controls = hdf["profiles"][0]["controls"].as_array().unwrap();
        let results = |id: &str| -> Vec<Value> {
            controls.iter().find(|c| c["id"] == id).unwrap()["results"].as_array().unwrap().clone()
        };
        let privileged = results("pss-privileged");
        assert!(privileged.iter().any(|r| r["resource"] == format!("k8s/{NS}/Pod/posture-privileged")
            && r["code_desc"].as_str().unwrap().starts_with(&format!("container app of {NS}/Pod/posture-privileged"))));
        assert!(results("pss-hostPorts")
            .iter()
            .any(|r| r["resource_id"] == format!("{NS}/Pod/posture-privileged/app")));

        // A ServiceAccount that may list pods only in NS.
        let sa_kubeconfig = reader_kubeconfig(&client, dir.path()).await;
        let out = support::kscan()
            .args(["posture", "--namespace", NS, "--namespace", "kube-system", "--format", "seed-json", "--kubeconfig"])
            .arg(&sa_kubeconfig)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let seed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(rows(&seed, "root_containers").contains(&t(NS, "posture-root", "setup")));
        let errors = seed["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0]["source"], "kube-system");
        assert_eq!(errors[0]["reason"], "forbidden");
        let out = support::kscan()
            .args(["posture", "--namespace", NS, "--namespace", "kube-system", "--kubeconfig"])
            .arg(&sa_kubeconfig)
            .output()
            .unwrap();
        let hdf: Value = serde_json::from_slice(&out.stdout).unwrap();
        let sources = hdf["profiles"][0]["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "posture-sources-readable")
            .unwrap()
            .clone();
        assert_eq!(sources["results"][0]["status"], "skipped");
        assert_eq!(sources["results"][0]["code_desc"], "kube-system: forbidden");

        // Without --namespace it may list neither namespaces nor pods cluster-wide: could not scan.
        let out = support::kscan().args(["posture", "--kubeconfig"]).arg(&sa_kubeconfig).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));

        // With the shipped ClusterRole (list pods, nothing else) bound to it:
        // one cluster-wide paginated list, every namespace, exit 0.
        let shipped = std::fs::read_to_string(support::root().join("deploy/posture-rbac.yaml")).unwrap();
        let role = serde_yaml::Deserializer::from_str(&shipped)
            .map(|d| serde_json::to_value(serde_yaml::Value::deserialize(d).unwrap()).unwrap())
            .find(|d| d["kind"] == "ClusterRole")
            .unwrap();
        assert_eq!(role["rules"], json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]));
        let mut role = role;
        role["metadata"]["name"] = json!("kscan-posture-test");
        let roles: Api<ClusterRole> = Api::all(client.clone());
        recreate(&roles, role).await;
        let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
        recreate(
            &bindings,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "kscan-posture-test"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kscan-posture-test"},
            "subjects": [{"kind": "ServiceAccount", "name": "kscan-posture-reader", "namespace": NS}]}),
        )
        .await;
        // The authorizer learns of the new binding through a watch: allow it a few seconds.
        let mut out = None;
        for _ in 0..40 {
            let o = support::kscan()
                .args(["posture", "--format", "seed-json", "--page-size", "2", "--kubeconfig"])
                .arg(&sa_kubeconfig)
                .output()
                .unwrap();
            let forbidden = o.status.code() == Some(3) && String::from_utf8_lossy(&o.stderr).contains("forbidden");
            out = Some(o);
            if !forbidden {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        let out = out.unwrap();
        let _ = bindings.delete("kscan-posture-test", &DeleteParams::default()).await;
        let _ = roles.delete("kscan-posture-test", &DeleteParams::default()).await;
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let seed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(rows(&seed, "root_containers").contains(&t(NS, "posture-root", "setup")));
        assert_eq!(seed["errors"], json!([]));

        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        for name in ["posture-latest", "posture-root", "posture-privileged"] {
            pods.delete(name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
        }
        let reader = "kscan-posture-reader";
        Api::<RoleBinding>::namespaced(client.clone(), NS).delete(reader, &DeleteParams::default()).await.unwrap();
        Api::<Role>::namespaced(client.clone(), NS).delete(reader, &DeleteParams::default()).await.unwrap();
        Api::<ServiceAccount>::namespaced(client.clone(), NS).delete(reader, &DeleteParams::default()).await.unwrap();
    }

    /// A 0600 kubeconfig for a ServiceAccount bound to `list pods` in NS only.
    async fn reader_kubeconfig(client: &Client, dir: &std::path::Path) -> std::path::PathBuf {
        let name = "kscan-posture-reader";
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
        recreate(
            &sas,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NS}}),
        )
        .await;
        let roles: Api<Role> = Api::namespaced(client.clone(), NS);
        recreate(
            &roles,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": NS},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}),
        )
        .await;
        let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), NS);
        recreate(
            &bindings,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": NS},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}]}),
        )
        .await;
        let request = serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 900}})).unwrap();
        let token = sas.create_token_request(name, &PostParams::default(), &request).await.unwrap();
        let token = token.status.unwrap().token;

        let admin: serde_yaml::Value =
            serde_yaml::from_slice(&std::fs::read(support::testbed_kubeconfig()).unwrap()).unwrap();
        let cluster = admin["clusters"][0]["cluster"].clone();
        let kubeconfig = json!({"apiVersion": "v1", "kind": "Config", "current-context": "reader",
            "clusters": [{"name": "testbed", "cluster": cluster}],
            "users": [{"name": "reader", "user": {"token": token}}],
            "contexts": [{"name": "reader", "context": {"cluster": "testbed", "user": "reader", "namespace": NS}}]});
        let path = dir.join("reader.kubeconfig");
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).unwrap();
        std::io::Write::write_all(&mut f, serde_json::to_string(&kubeconfig).unwrap().as_bytes()).unwrap();
        path
    }
}
