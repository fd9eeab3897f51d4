//! Findings over time on the testbed: a scan compared with an earlier one
//! (`--baseline`) marks a planted defect new and, once it is removed, fixed;
//! a pod its Deployment replaced keeps its findings unchanged; `--gate-on
//! new` fails only for what is new; a selector run where one pod cannot be
//! scanned (no shell for exec; Pod Security refusing a root scanner)
//! reports the other and accounts for the missing one; with `--manifests`
//! the findings point at the manifest that deploys what was scanned.

mod support;

use std::path::Path;
use std::process::Output;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{json, Value};
use support::cluster::{self, distroless, nonroot, scanner, standard, KEEP_RUNNING};

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `kscan ARGS` as the testbed admin.
fn kscan_admin(args: &[&str]) -> Output {
    support::kscan().env("KSCAN_KUBECONFIG", support::testbed_kubeconfig()).args(args).output().expect("running kscan")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// (ruleId, baselineState) of every SARIF result in `dir`, sorted.
fn states(dir: &Path) -> Vec<(String, String)> {
    let log = read_json(&dir.join("kscan.sarif"));
    let mut out: Vec<(String, String)> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap().to_owned(), r["baselineState"].as_str().unwrap_or("").to_owned()))
        .collect();
    out.sort();
    out
}

/// The one running pod of the Deployment `app=web`, waiting for it (and for
/// any other to be gone).
async fn the_pod(pods: &Api<Pod>) -> String {
    let deadline = std::time::Instant::now() + cluster::TIMEOUT;
    loop {
        let list = pods.list(&ListParams::default().labels("app=web")).await.unwrap();
        let live: Vec<&Pod> = list.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        if list.items.len() == 1 && live.len() == 1 {
            let name = live[0].metadata.name.clone().unwrap();
            cluster::wait_running(pods, &name).await;
            return name;
        }
        assert!(std::time::Instant::now() < deadline, "the Deployment's pod did not settle: {:?}", list.items.len());
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_planted_defect_is_new_then_fixed_and_a_restarted_pod_keeps_its_findings() {
    cluster::in_namespace("baseline", |client, ns| async move {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                    "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": false,
                    "containers": [{"name": "app", "image": standard(), "command": KEEP_RUNNING}]}}}
        }))
        .unwrap();
        deployments.create(&PostParams::default(), &deployment).await.expect("creating the Deployment");
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let first_pod = the_pod(&pods).await;
        let work = tempfile::tempdir().unwrap();
        let dir = |name: &str| work.path().join(name).display().to_string();
        let gate = work.path().join("none-failed.yml");
        std::fs::write(&gate, "failed:\n  total:\n    max: 0\n").unwrap();
        let gate = gate.display().to_string();
        let scan = |out: &str, baseline: Option<&str>| {
            let mut args = vec!["scan", "-n", &ns, "-l", "app=web", "--strategy", "exec", "--format", "sarif"];
            let out = dir(out);
            args.extend(["--out-dir", out.as_str()]);
            let baseline = baseline.map(dir);
            if let Some(b) = &baseline {
                args.extend(["--baseline", b.as_str(), "-t", gate.as_str(), "--gate-on", "new"]);
            }
            kscan_admin(&args)
        };

        let first = scan("first", None);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        let hdf = read_json(&work.path().join(format!("first/{first_pod}.app.hdf.json")));
        assert_eq!(hdf["platform"]["workload"], format!("{ns}/Deployment/web/app"));
        let before = states(&work.path().join("first"));

        // The Deployment replaces its pod: another name, the same workload.
        pods.delete(&first_pod, &DeleteParams::default()).await.unwrap();
        let pod = loop {
            let pod = the_pod(&pods).await;
            if pod != first_pod {
                break pod;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        let restarted = scan("restarted", Some("first"));
        assert_eq!(restarted.status.code(), Some(0), "nothing new after a restart: {}", text(&restarted));
        let after = states(&work.path().join("restarted"));
        assert_eq!(after.len(), before.len(), "{after:?} against {before:?}");
        assert!(after.iter().all(|(_, s)| s == "unchanged"), "{after:?}");
        assert_eq!(read_json(&work.path().join("restarted/kscan-run.json"))["baseline"]["warnings"], json!([]));

        // Plant a defect: /etc/passwd group-writable.
        cluster::exec_ok(&pods, &pod, "app", &["chmod", "0664", "/etc/passwd"]).await;
        let planted = scan("planted", Some("first"));
        assert_eq!(planted.status.code(), Some(1), "the new finding fails the gate: {}", text(&planted));
        let new: Vec<_> = states(&work.path().join("planted")).into_iter().filter(|(_, s)| s == "new").collect();
        assert_eq!(new, [("kscan-passwd-owner-mode".to_owned(), "new".to_owned())]);
        let m = read_json(&work.path().join("planted/kscan-run.json"));
        assert_eq!(m["baseline"]["new"], 1, "{m:#}");
        assert_eq!(m["exit_code"], 1);

        // Remove it: fixed against the run that had it.
        cluster::exec_ok(&pods, &pod, "app", &["chmod", "0644", "/etc/passwd"]).await;
        let removed = scan("removed", Some("planted"));
        assert_eq!(removed.status.code(), Some(0), "{}", text(&removed));
        let absent: Vec<_> =
            states(&work.path().join("removed")).into_iter().filter(|(_, s)| s != "unchanged").collect();
        assert_eq!(absent, [("kscan-passwd-owner-mode".to_owned(), "absent".to_owned())]);
        assert_eq!(read_json(&work.path().join("removed/kscan-run.json"))["baseline"]["fixed"], 1);
    })
    .await;
}

#[tokio::test]
async fn a_pod_that_cannot_be_scanned_is_accounted_for_and_min_coverage_fails_the_gate() {
    cluster::in_namespace("coverage", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        // One pod with a shell, one without: --strategy exec cannot reach the second.
        let shell = json!([{"name": "app", "image": standard(), "command": KEEP_RUNNING}]);
        let no_shell = json!([{"name": "app", "image": distroless()}]);
        for (name, containers) in [("web-0", shell), ("web-1", no_shell)] {
            cluster::create_pod_with(&pods, name, containers, json!({})).await;
            let patch = json!({"metadata": {"labels": {"app": "web"}}});
            pods.patch(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
        }
        for name in ["web-0", "web-1"] {
            cluster::wait_running(&pods, name).await;
        }
        let work = tempfile::tempdir().unwrap();
        let scan = |out: &str, extra: &[&str]| {
            let out = work.path().join(out).display().to_string();
            let mut args = vec!["scan", "-n", &ns, "-l", "app=web", "--strategy", "exec", "--out-dir", out.as_str()];
            args.extend(["--format", "sarif,markdown,junit"]);
            args.extend(extra);
            kscan_admin(&args)
        };
        let partial = scan("partial", &[]);
        assert_eq!(partial.status.code(), Some(0), "the scanned pod is reported: {}", text(&partial));
        assert!(text(&partial).contains("coverage: 1 of 2 targets scanned (50%)"), "{}", text(&partial));
        let dir = work.path().join("partial");
        let m = read_json(&dir.join("kscan-run.json"));
        assert_eq!(m["hdf"], json!(["web-0.app.hdf.json"]), "{m:#}");
        let targets = m["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 2, "{m:#}");
        assert_eq!(
            (targets[0]["target"].as_str(), targets[0]["scanned"].as_bool()),
            (Some(format!("{ns}/web-0/app").as_str()), Some(true))
        );
        assert_eq!(targets[1]["target"], format!("{ns}/web-1/app"));
        assert_eq!(targets[1]["scanned"], false);
        assert_eq!(targets[1]["reason"], "no-shell", "{m:#}");
        let md = std::fs::read_to_string(dir.join("kscan-summary.md")).unwrap();
        assert!(md.contains("**1 of 2 targets scanned (50%).**"), "{md}");
        assert!(md.contains(&format!("| {ns}/web-1/app | no shell for exec |")), "{md}");
        let sarif = read_json(&dir.join("kscan.sarif"));
        assert_eq!(sarif["runs"][0]["properties"]["coverage"]["percent"], 50);
        assert_eq!(sarif["runs"][0]["invocations"][0]["executionSuccessful"], false);
        let junit = std::fs::read_to_string(dir.join("kscan-junit.xml")).unwrap();
        assert!(junit.contains(&format!("scan {ns}/web-1/app")), "{junit}");

        let gated = scan("gated", &["--min-coverage", "100"]);
        assert_eq!(gated.status.code(), Some(1), "{}", text(&gated));
        assert!(
            text(&gated).contains("coverage.min: 1 of 2 targets scanned (50%), below the minimum of 100%"),
            "{}",
            text(&gated)
        );
        assert!(text(&gated).contains(&format!("not scanned: {ns}/web-1/app (no shell for exec)")), "{}", text(&gated));
        let md = std::fs::read_to_string(work.path().join("gated/kscan-summary.md")).unwrap();
        assert!(md.contains("coverage.min"), "{md}");
        let enough = scan("enough", &["--min-coverage", "50"]);
        assert_eq!(enough.status.code(), Some(0), "{}", text(&enough));

        // Nothing scanned: no results, exit 3, never a pass.
        let none = kscan_admin(&[
            "scan",
            "-n",
            &ns,
            "--pod",
            "web-1",
            "--strategy",
            "exec",
            "--min-coverage",
            "0",
            "--out-dir",
            work.path().join("none").to_str().unwrap(),
        ]);
        assert_eq!(none.status.code(), Some(3), "{}", text(&none));
    })
    .await;
}

#[tokio::test]
async fn a_pod_whose_namespace_refuses_a_root_scanner_is_accounted_for_and_the_others_are_scanned() {
    cluster::in_namespace("coverage-pss", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        // web-0 names a non-root UID (its scanner runs as that UID, restricted);
        // web-1 names none (its scanner would be root).
        let restricted = json!({"runAsUser": 65532, "runAsGroup": 65532, "runAsNonRoot": true,
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}});
        let non_root =
            json!([{"name": "app", "image": nonroot(), "command": KEEP_RUNNING, "securityContext": restricted}]);
        let root = json!([{"name": "app", "image": standard(), "command": KEEP_RUNNING}]);
        for (name, containers) in [("web-0", non_root), ("web-1", root)] {
            cluster::create_pod_with(&pods, name, containers, json!({})).await;
            let patch = json!({"metadata": {"labels": {"app": "web"}}});
            pods.patch(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
        }
        for name in ["web-0", "web-1"] {
            cluster::wait_running(&pods, name).await;
        }
        // Enforce `restricted` from now on: both pods stay.
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let patch = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
        namespaces.patch(&ns, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();

        let work = tempfile::tempdir().unwrap();
        let scan = |out: &str, extra: &[&str]| {
            let out = work.path().join(out).display().to_string();
            let mut args = vec!["scan", "-n", &ns, "-l", "app=web", "--strategy", "debug", "--out-dir", out.as_str()];
            args.extend(["--scanner-image", scanner(), "--format", "markdown"]);
            args.extend(extra);
            kscan_admin(&args)
        };
        let partial = scan("partial", &[]);
        assert!(matches!(partial.status.code(), Some(0 | 1)), "the non-root pod is scanned: {}", text(&partial));
        let m = read_json(&work.path().join("partial/kscan-run.json"));
        let targets = m["targets"].as_array().unwrap();
        assert_eq!(
            (targets[0]["target"].clone(), targets[0]["scanned"].clone()),
            (json!(format!("{ns}/web-0/app")), json!(true))
        );
        assert_eq!(
            (targets[1]["target"].clone(), targets[1]["scanned"].clone()),
            (json!(format!("{ns}/web-1/app")), json!(false))
        );
        assert_eq!(targets[1]["reason"], "pod-security-refused", "{m:#}");
        assert!(text(&partial).contains("coverage: 1 of 2 targets scanned (50%)"), "{}", text(&partial));
        // Refused before it was asked for: web-1 holds no scanner container.
        assert!(pods.get("web-1").await.unwrap().spec.unwrap().ephemeral_containers.is_none());

        let gated = scan("gated", &["--min-coverage", "100"]);
        assert_eq!(gated.status.code(), Some(1), "{}", text(&gated));
        assert!(text(&gated).contains(&format!("not scanned: {ns}/web-1/app")), "{}", text(&gated));
    })
    .await;
}

/// The 1-based line of the first line of `text` that starts with `what`
/// after its indentation.
fn line_of(text: &str, what: &str) -> u64 {
    let i = text.lines().position(|l| l.trim_start().starts_with(what)).unwrap_or_else(|| panic!("no {what}"));
    i as u64 + 1
}

#[tokio::test]
async fn a_live_scan_with_manifests_points_every_finding_at_the_users_manifest() {
    use kscan::report::placement::Field;
    cluster::in_namespace("manifests", |client, ns| async move {
        // A checkout with the Deployment's manifest (no namespace: the scan's).
        let checkout = tempfile::tempdir().unwrap();
        std::fs::create_dir(checkout.path().join("deploy")).unwrap();
        let command = serde_json::to_string(&KEEP_RUNNING).unwrap();
        let manifest = format!(
            "# the web tier\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: placed\n\
             spec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: placed\n  template:\n    metadata:\n      \
             labels:\n        app: placed\n    spec:\n      terminationGracePeriodSeconds: 0\n      \
             automountServiceAccountToken: false\n      containers:\n      - name: app\n        command: {command}\n        \
             image: {image}\n        securityContext:\n          allowPrivilegeEscalation: true\n",
            image = standard()
        );
        let file = checkout.path().join("deploy/web.yaml");
        std::fs::write(&file, &manifest).unwrap();
        let (container, image, security) =
            (line_of(&manifest, "- name: app"), line_of(&manifest, "image:"), line_of(&manifest, "securityContext:"));
        // Applied from the file, as `kubectl apply -f` would.
        let deployment: Deployment = serde_yaml::from_str(&manifest).unwrap();
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments.create(&PostParams::default(), &deployment).await.expect("creating the Deployment");
        // A pod of the same label that no manifest deploys.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let stray: Pod = serde_json::from_value(json!({
            "metadata": {"name": "stray", "labels": {"app": "placed"}},
            "spec": {"terminationGracePeriodSeconds": 0, "automountServiceAccountToken": false,
                "containers": [{"name": "app", "image": standard(), "command": KEEP_RUNNING}]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &stray).await.expect("creating the stray pod");
        cluster::wait_running(&pods, "stray").await;
        let deadline = std::time::Instant::now() + cluster::TIMEOUT;
        let web = loop {
            let list = pods.list(&ListParams::default().labels("app=placed")).await.unwrap();
            let web = list.items.iter().filter_map(|p| p.metadata.name.clone()).find(|n| n.starts_with("web-"));
            if let Some(web) = web {
                break web;
            }
            assert!(std::time::Instant::now() < deadline, "the Deployment made no pod");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        cluster::wait_running(&pods, &web).await;

        let out = checkout.path().join("out");
        let scanned = support::kscan()
            .current_dir(checkout.path())
            .env("KSCAN_KUBECONFIG", support::testbed_kubeconfig())
            .args(["scan", "-n", &ns, "-l", "app=placed", "--strategy", "exec", "--format", "sarif,github,codequality"])
            .arg("--manifests")
            .arg(checkout.path().join("deploy"))
            .arg("--out-dir")
            .arg(&out)
            .output()
            .expect("running kscan");
        assert_eq!(scanned.status.code(), Some(0), "{}", text(&scanned));
        assert!(text(&scanned).contains("manifests: 1 of 2 targets placed on --manifests"), "{}", text(&scanned));
        assert!(text(&scanned).contains(&format!("{ns}/Pod/stray/app")), "the unmapped target is named");

        let sarif_path = out.join("kscan.sarif");
        support::validators::validate_sarif(&sarif_path, checkout.path());
        let sarif = read_json(&sarif_path);
        let run_id = read_json(&out.join("kscan-run.json"))["run"].as_str().unwrap().to_owned();
        assert_eq!(sarif["runs"][0]["automationDetails"]["id"], format!("kscan/scan/{ns}/selector=app=placed/{run_id}"));
        assert_eq!(sarif["runs"][0]["properties"]["manifests"]["unmapped"], 1);
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        let (mut placed, mut kept, mut on_security) = (0, 0, 0);
        for r in results {
            let location = &r["locations"][0]["physicalLocation"];
            let uri = location["artifactLocation"]["uri"].as_str().unwrap();
            let line = location["region"]["startLine"].as_u64().unwrap();
            let rule = r["ruleId"].as_str().unwrap();
            // Targets are `k8s-container://<namespace>/<pod>/<container>`.
            if r["properties"]["target"].as_str().unwrap().ends_with(&format!("/{ns}/{web}/app")) {
                let want = match Field::of(rule) {
                    Field::SecurityContext => security,
                    Field::Image => image,
                    Field::Container => container,
                };
                assert_eq!((uri, line), ("deploy/web.yaml", want), "{rule}");
                placed += 1;
                on_security += usize::from(line == security);
            } else {
                assert_ne!(uri, "deploy/web.yaml", "{rule} of {} keeps its own location ({web})", r["properties"]["target"]);
                kept += 1;
            }
        }
        assert!(placed > 0 && kept > 0 && on_security > 0, "{placed} placed, {kept} kept, {on_security} on securityContext");

        let annotations = std::fs::read_to_string(out.join("kscan-github-annotations.txt")).unwrap();
        let wanted = format!("file=deploy/web.yaml,line={security}");
        assert!(annotations.contains(&wanted), "{annotations}");
        let issues = read_json(&out.join("kscan-codequality.json"));
        let paths: Vec<&str> = issues.as_array().unwrap().iter().map(|i| i["location"]["path"].as_str().unwrap()).collect();
        assert!(paths.contains(&"deploy/web.yaml"), "{paths:?}");
        deployments.delete("web", &DeleteParams::default()).await.unwrap();
        pods.delete("stray", &DeleteParams::default()).await.unwrap();
    })
    .await;
}

#[test]
fn a_missing_or_malformed_manifest_is_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: Deployment\nspec: [\n").unwrap();
    for path in [dir.path().join("missing.yaml"), bad] {
        let out = support::kscan()
            .args(["scan", "-n", "shop", "--pod", "web-0", "--out-dir"])
            .arg(dir.path().join("out"))
            .arg("--manifests")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(&path.display().to_string()), "{}", text(&out));
        assert!(!dir.path().join("out").exists(), "nothing is written before the inputs are checked");
    }
}

#[test]
fn helm_template_output_is_placed_on_its_containers_lines() {
    let dir = tempfile::tempdir().unwrap();
    let helm = |args: &[&str]| {
        let out =
            std::process::Command::new(support::tool("helm")).current_dir(dir.path()).args(args).output().unwrap();
        assert!(out.status.success(), "helm {args:?}: {}", text(&out));
        out.stdout
    };
    helm(&["create", "shop"]);
    let rendered = helm(&["template", "web", "./shop", "--set", "securityContext.runAsNonRoot=true"]);
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, &rendered).unwrap();
    let text = String::from_utf8(rendered).unwrap();
    // The lines in the Deployment's document, found by hand.
    let start = text.lines().position(|l| l == "kind: Deployment").expect("helm renders a Deployment");
    let after = |what: &str| {
        let i = text.lines().skip(start).position(|l| l.trim_start().starts_with(what)).unwrap();
        (start + i + 1) as u64
    };
    let m = kscan::report::Manifests::load(&[file.display().to_string()], "shop").unwrap();
    assert!(!m.is_empty(), "the chart's Deployment is indexed");
    // `helm create` names the Deployment web-shop and its container shop.
    let anchor = m.find("shop/Deployment/web-shop/shop").expect("the Deployment of the chart");
    assert_eq!(anchor.container, after("- name: shop"));
    assert_eq!(anchor.image, Some(after("image:")));
    assert_eq!(anchor.security_context, Some(after("securityContext:")));
    assert!(anchor.security_context > Some(anchor.container), "the container's, not the pod's");
}
