//! The post-scan stage through the binary: the run manifest decides what
//! belongs to a run, the stored verdict is what later renderings show, a
//! closed pipe is not an error, and `--root` scans need no cluster.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// A tiny root filesystem: the builtin checks pass 9 controls, fail none
/// and leave 5 not reviewed on it (compliance 64%).
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=debian\n").unwrap();
    root
}

/// An HDF file of an older run: 3 failed controls.
fn stale_hdf(path: &Path) {
    let controls: Vec<Value> = (0..3)
        .map(|i| {
            json!({"id": format!("OLD-{i}"), "impact": 0.7, "refs": [], "tags": {}, "source_location": {},
                   "results": [{"status": "failed", "code_desc": "old", "start_time": "2026-01-01T00:00:00Z"}]})
        })
        .collect();
    let doc = json!({"platform": {"name": "x", "release": "1"}, "profiles": [{"name": "old", "sha256": "0", "supports": [],
        "attributes": [], "groups": [], "controls": controls}], "statistics": {"duration": 1}, "version": "5"});
    std::fs::write(path, doc.to_string()).unwrap();
}

fn kscan(dir: &Path, args: &[&str]) -> Output {
    support::kscan().current_dir(dir).args(args).output().unwrap()
}

fn show(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("kscan-run.json")).unwrap()).unwrap()
}

#[test]
fn root_scans_take_the_builtin_engine_and_refuse_cinc() {
    let dir = tempfile::tempdir().unwrap();
    rootfs(dir.path());
    let out = kscan(dir.path(), &["scan", "--root", "root", "--engine", "builtin", "--out-dir", "out"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(manifest(&dir.path().join("out"))["hdf"], json!(["root.hdf.json"]));
    let out = kscan(dir.path(), &["scan", "--root", "root", "--engine", "cinc", "--out-dir", "out2"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(show(&out).contains("--root scans with --engine builtin only"), "{}", show(&out));
}

#[test]
fn an_older_runs_hdf_in_the_results_directory_does_not_change_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    rootfs(dir.path());
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(dir.path().join("none-failed.yml"), "failed:\n  total:\n    max: 0\n").unwrap();
    // An older run's manifest and HDF, and an HDF no manifest lists.
    stale_hdf(&out_dir.join("web.app.hdf.json"));
    stale_hdf(&out_dir.join("stray.app.hdf.json"));
    let older = json!({"kind": "kscan-run", "version": 1, "kscan": "0.0.9", "run": "0123456789", "command": "scan",
        "finished_at": "2026-01-01T00:00:00Z", "hdf": ["web.app.hdf.json"], "reports": [], "verdict": null, "exit_code": 1});
    std::fs::write(out_dir.join("kscan-run.json"), older.to_string()).unwrap();

    let out = kscan(dir.path(), &["scan", "--root", "root", "--out-dir", "out", "--threshold", "none-failed.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let m = manifest(&out_dir);
    assert_eq!(m["hdf"], json!(["root.hdf.json"]));
    assert_eq!((m["exit_code"].as_u64(), m["verdict"]["violations"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert!(!out_dir.join("web.app.hdf.json").exists(), "the older run's listed HDF is removed");

    // kscan report DIR reads the manifest: the stray file does not count...
    let out = kscan(dir.path(), &["report", "out", "--threshold", "none-failed.yml", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // ...while globbing the directory would have gated it too.
    let out = kscan(
        dir.path(),
        &[
            "report",
            "out/root.hdf.json",
            "out/stray.app.hdf.json",
            "--threshold",
            "none-failed.yml",
            "--format",
            "junit",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn reports_of_a_run_show_the_verdict_it_was_gated_with() {
    let dir = tempfile::tempdir().unwrap();
    rootfs(dir.path());
    let threshold = dir.path().join("gate.yml");
    std::fs::write(&threshold, "compliance:\n  min: 90\n").unwrap();
    let out = kscan(dir.path(), &["scan", "--root", "root", "--out-dir", "out", "--threshold", "gate.yml"]);
    assert_eq!(out.status.code(), Some(1), "compliance 64% fails: {}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL [compliance.min]"), "{}", show(&out));

    // The threshold file changes afterwards: the run's reports still show its verdict.
    std::fs::write(&threshold, "compliance:\n  min: 10\n").unwrap();
    let out = kscan(dir.path(), &["report", "out", "--format", "markdown", "--out-dir", "reports"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("gate: FAILED (gate.yml): 1 rule violated"),
        "{}",
        show(&out)
    );
    let md = std::fs::read_to_string(dir.path().join("reports/kscan-summary.md")).unwrap();
    assert!(md.contains("gate failed"), "{md}");
    // Gating again is asked for explicitly, with --threshold.
    let out = kscan(dir.path(), &["report", "out", "--format", "markdown", "--threshold", "gate.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn a_run_that_could_not_scan_replaces_the_manifest_and_report_dir_says_why() {
    let dir = tempfile::tempdir().unwrap();
    rootfs(dir.path());
    let out = kscan(dir.path(), &["scan", "--root", "root", "--out-dir", "out", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(dir.path().join("out/kscan-junit.xml").is_file());
    // The next run into the same directory fails before it has results.
    let out = kscan(dir.path(), &["scan", "--root", "no-such-root", "--out-dir", "out", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let m = manifest(&dir.path().join("out"));
    assert_eq!((m["exit_code"].as_u64(), m["hdf"].clone()), (Some(2), json!([])));
    assert!(!dir.path().join("out/kscan-junit.xml").exists(), "the older run's report is gone");
    let out = kscan(dir.path(), &["report", "out", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(show(&out).contains("ended with exit 2: cannot read no-such-root"), "{}", show(&out));
    // A directory without a manifest is refused, never globbed.
    std::fs::create_dir_all(dir.path().join("bare")).unwrap();
    stale_hdf(&dir.path().join("bare/a.hdf.json"));
    let out = kscan(dir.path(), &["report", "bare", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(show(&out).contains("without a run manifest"), "{}", show(&out));
}

#[test]
fn a_reader_that_stops_early_does_not_make_kscan_fail() {
    let dir = tempfile::tempdir().unwrap();
    // 200 profiles of their own: the summary is far more than a pipe holds.
    let mut files = Vec::new();
    for i in 0..200 {
        let path = dir.path().join(format!("r{i}.json"));
        stale_hdf(&path);
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        doc["profiles"][0]["name"] = json!(format!("profile-{i}"));
        std::fs::write(&path, doc.to_string()).unwrap();
        files.push(path.display().to_string());
    }
    {
        let command = "summary";
        let mut cmd = support::kscan();
        cmd.arg(command).args(&files).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // Read one line, then close the pipe, as `| head -1` does.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "kscan {command}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("error"), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // `kscan summary … | head -1` in a shell with pipefail.
    let script =
        format!("set -o pipefail; '{}' summary {} | head -1 >/dev/null", env!("CARGO_BIN_EXE_kscan"), files.join(" "));
    let status = Command::new("bash").arg("-c").arg(script).status().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_scan_whose_teardown_fails_still_writes_junit_sarif_and_the_gate_and_exits_4() {
    use support::cluster::{self, kscan_objects, no_delete_kubeconfig, running_pod, standard, KEEP_RUNNING};
    cluster::in_namespace("teardown-4", |client, ns| async move {
        let containers = json!([{"name": "app", "image": standard(), "command": KEEP_RUNNING}]);
        running_pod(&client, &ns, "web", containers).await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = no_delete_kubeconfig(&client, &ns, dir.path()).await;
        let strict = support::root().join("examples/thresholds/strict.yml");
        let out = support::kscan()
            .current_dir(dir.path())
            .args(["scan", "-n", &ns, "--pod", "web", "--out-dir", "out", "--format", "junit,sarif"])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--threshold")
            .arg(&strict)
            .output()
            .unwrap();
        let log = show(&out);
        assert_eq!(out.status.code(), Some(4), "{log}");
        assert!(log.contains("teardown left") && log.contains("kscan cleanup --run"), "{log}");
        assert!(log.contains("FAIL [") || log.contains("gate: FAILED"), "the gate ran: {log}");
        let out_dir = dir.path().join("out");
        assert!(std::fs::read_to_string(out_dir.join("kscan-junit.xml")).unwrap().starts_with("<?xml"));
        let sarif: Value = serde_json::from_slice(&std::fs::read(out_dir.join("kscan.sarif")).unwrap()).unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        let m = manifest(&out_dir);
        assert_eq!(m["exit_code"], 4, "{m:#}");
        assert!(m["verdict"]["violations"].as_array().is_some_and(|v| !v.is_empty()), "{m:#}");
        assert!(m["error"].as_str().unwrap().contains("teardown left"), "{m:#}");
        // kscan report on the directory carries the exit code on.
        let out = kscan(dir.path(), &["report", "out", "--format", "markdown", "--out-dir", "again"]);
        assert_eq!(out.status.code(), Some(4), "{}", show(&out));
        assert!(dir.path().join("again/kscan-summary.md").is_file());
        assert!(!kscan_objects(&client, &ns).await.is_empty(), "the caller could not delete the run's objects");
    })
    .await;
}

/// The SARIF results of `dir/kscan.sarif` as (ruleId, baselineState).
fn baseline_states(dir: &Path) -> Vec<(String, String)> {
    let log: Value = serde_json::from_slice(&std::fs::read(dir.join("kscan.sarif")).unwrap()).unwrap();
    let mut states: Vec<(String, String)> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap().to_owned(), r["baselineState"].as_str().unwrap_or("").to_owned()))
        .collect();
    states.sort();
    states
}

#[test]
fn a_planted_defect_is_new_against_the_baseline_and_fixed_once_removed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = rootfs(dir.path());
    std::fs::write(dir.path().join("none-failed.yml"), "failed:\n  total:\n    max: 0\n").unwrap();
    let scan = |out: &str, baseline: Option<&str>| {
        let mut args = vec!["scan", "--root", "root", "--out-dir", out, "--format", "sarif,markdown"];
        args.extend(["--threshold", "none-failed.yml"]);
        if let Some(b) = baseline {
            args.extend(["--baseline", b, "--gate-on", "new"]);
        }
        kscan(dir.path(), &args)
    };
    let passwd = root.join("etc/passwd");
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let first = scan("first", None);
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));

    // Group-writable: one control fails (world-writable would fail two).
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o664)).unwrap();
    let second = scan("second", Some("first"));
    assert_eq!(second.status.code(), Some(1), "the new finding fails the gate: {}", show(&second));
    let states = baseline_states(&dir.path().join("second"));
    assert_eq!(states, [("kscan-passwd-owner-mode".to_owned(), "new".to_owned())]);
    let m = manifest(&dir.path().join("second"));
    assert_eq!((m["baseline"]["new"].clone(), m["baseline"]["fixed"].clone()), (json!(1), json!(0)), "{m:#}");
    assert_eq!(m["baseline"]["warnings"], json!([]));
    let md = std::fs::read_to_string(dir.path().join("second/kscan-summary.md")).unwrap();
    assert!(md.contains("**1 new** · **0 fixed** · 0 unchanged"), "{md}");
    assert!(show(&second).contains("1 new, 0 fixed, 0 unchanged"), "{}", show(&second));

    // The same defect again: unchanged, and the gate on new findings passes.
    let again = scan("again", Some("second"));
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    assert_eq!(baseline_states(&dir.path().join("again"))[0].1, "unchanged");

    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let third = scan("third", Some("second/kscan-run.json"));
    assert_eq!(third.status.code(), Some(0), "{}", show(&third));
    let states = baseline_states(&dir.path().join("third"));
    assert_eq!(states, [(states[0].0.clone(), "absent".to_owned())], "the fixed finding is absent");
    assert_eq!(states[0].0, baseline_states(&dir.path().join("second"))[0].0);
    assert_eq!(manifest(&dir.path().join("third"))["baseline"]["fixed"], 1);
    let md = std::fs::read_to_string(dir.path().join("third/kscan-summary.md")).unwrap();
    assert!(md.contains("### Fixed since the baseline"), "{md}");
}

#[test]
fn a_baseline_that_is_missing_malformed_or_misused_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    rootfs(dir.path());
    std::fs::write(dir.path().join("bad.json"), "{\"profiles\": 3}").unwrap();
    for (args, says) in [
        (vec!["--baseline", "nowhere"], "--baseline nowhere does not exist"),
        (vec!["--baseline", "bad.json"], "bad.json"),
        (vec!["--baseline", "."], "without a run manifest"),
        (vec!["--only-new"], "--only-new compares with a baseline"),
        (vec!["--baseline", "bad.json", "--gate-on", "new"], "bad.json"),
    ] {
        let mut all = vec!["scan", "--root", "root", "--out-dir", "out"];
        all.extend(args.iter().copied());
        let out = kscan(dir.path(), &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(show(&out).contains(says), "{args:?}: {}", show(&out));
        assert!(!dir.path().join("out").exists(), "{args:?}: nothing is scanned before the baseline is read");
    }
    let ok = kscan(dir.path(), &["scan", "--root", "root", "--out-dir", "base"]);
    assert_eq!(ok.status.code(), Some(0), "{}", show(&ok));
    let out =
        kscan(dir.path(), &["scan", "--root", "root", "--out-dir", "out", "--baseline", "base", "--gate-on", "new"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(show(&out).contains("--gate-on new needs a gate"), "{}", show(&out));
}

#[test]
fn posture_compares_with_a_baseline_too() {
    let dir = tempfile::tempdir().unwrap();
    let pod = |image: &str, privileged: bool| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web, namespace: shop}}\nspec:\n  containers:\n  - name: app\n    \
             image: {image}\n    securityContext: {{privileged: {privileged}}}\n"
        )
    };
    std::fs::write(dir.path().join("pod.yaml"), pod("nginx", false)).unwrap();
    let first = kscan(dir.path(), &["posture", "--manifests", "pod.yaml", "--output-dir", "one", "--format", "hdf"]);
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    std::fs::write(dir.path().join("pod.yaml"), pod("nginx", true)).unwrap();
    let args = ["posture", "--manifests", "pod.yaml", "--output-dir", "two", "--format", "sarif,markdown"];
    let second = kscan(dir.path(), &[&args[..], &["--baseline", "one/posture.hdf.json"]].concat());
    assert_eq!(second.status.code(), Some(0), "{}", show(&second));
    let states = baseline_states(&dir.path().join("two"));
    assert!(states.iter().any(|(_, s)| s == "new"), "privileged is new: {states:?}");
    assert!(states.iter().any(|(_, s)| s == "unchanged"), "{states:?}");
    let missing = kscan(dir.path(), &[&args[..], &["--baseline", "nowhere.json"]].concat());
    assert_eq!(missing.status.code(), Some(2), "{}", show(&missing));
}
