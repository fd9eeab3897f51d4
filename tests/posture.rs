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
