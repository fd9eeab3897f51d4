//! `kscan report` against the real validators (installed by
//! `scripts/setup.d/30-report-validators.sh`): Microsoft's SARIF Multitool
//! and the official SARIF 2.1.0 schema, junitparser for JUnit, and a JSON
//! Schema written from GitLab's documented Code Quality fields. Inputs are
//! the example results, an edge-case document and a generated file.

mod support;

#[path = "../examples/generate_results.rs"]
#[allow(dead_code)]
mod generate_results;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::validators::{jsonschema, validate_sarif};

/// The committed example results.
fn examples() -> Vec<PathBuf> {
    generate_results::examples()
        .into_iter()
        .map(|(name, _)| support::root().join("examples/results").join(name))
        .collect()
}

/// Run `kscan report FILES --format all --out-dir DIR` plus `extra` args.
fn report(files: &[PathBuf], out: &Path, extra: &[&str]) -> Output {
    support::kscan()
        .arg("report")
        .args(files)
        .args(["--format", "junit,sarif,markdown,github,codequality,context", "--out-dir"])
        .arg(out)
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1767323045")
        .output()
        .expect("run kscan")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Counts of `kscan summary --format json` per profile: (tests, failures,
/// errors, skipped) as JUnit counts them, every severity included.
fn summary_counts(files: &[PathBuf]) -> BTreeMap<String, [u64; 4]> {
    let out = support::kscan().arg("summary").args(files).args(["--format", "json"]).output().expect("run kscan");
    assert!(out.status.success(), "kscan summary failed: {}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let count = |entry: &Value, status: &str| -> u64 {
        entry[status].as_object().unwrap().iter().filter(|(k, _)| *k != "total").map(|(_, v)| v.as_u64().unwrap()).sum()
    };
    doc.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let [p, f, s, n, er] = ["passed", "failed", "skipped", "no_impact", "error"].map(|k| count(e, k));
            (e["profileName"].as_str().unwrap().to_owned(), [p + f + s + n + er, f, er, s + n])
        })
        .collect()
}

/// Read the JUnit file with junitparser; its suites' declared counts must
/// match their testcases and `kscan summary`'s counts.
fn validate_junit(junit: &Path, files: &[PathBuf]) {
    let out = Command::new(support::tool("report-validators-python"))
        .arg(support::root().join("tests/report_validators/junit_counts.py"))
        .arg(junit)
        .output()
        .expect("run junitparser");
    assert!(out.status.success(), "junitparser cannot read {}:\n{}", junit.display(), text(&out.stderr));
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("junit_counts.py prints JSON");
    assert_eq!(parsed["prolog"], true, "{} has no XML prolog", junit.display());
    let mut suites = BTreeMap::new();
    for suite in parsed["suites"].as_array().unwrap() {
        assert_eq!(
            suite["declared"], suite["counted"],
            "suite {} declares counts its testcases do not have",
            suite["name"]
        );
        let c = &suite["counted"];
        let counts = ["tests", "failures", "errors", "skipped"].map(|k| c[k].as_u64().unwrap());
        suites.insert(suite["name"].as_str().unwrap().to_owned(), counts);
    }
    let sum = suites.values().fold([0; 4], |acc, c| std::array::from_fn(|i| acc[i] + c[i]));
    let top = ["tests", "failures", "errors", "skipped"].map(|k| parsed["declared"][k].as_u64().unwrap());
    assert_eq!(top, sum, "<testsuites> counts vs the sum of its suites");
    assert_eq!(suites, summary_counts(files), "JUnit suites vs kscan summary (tests, failures, errors, skipped)");
}

/// Every format of `files`, validated.
fn check_all_formats(files: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = report(files, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "kscan report failed:\n{}", text(&out.stderr));
    validate_sarif(&out_dir.join("kscan.sarif"), dir.path());
    jsonschema(
        &support::root().join("tests/report_validators/gitlab-codequality.schema.json"),
        &out_dir.join("kscan-codequality.json"),
    );
    validate_junit(&out_dir.join("kscan-junit.xml"), files);

    // SARIF and Code Quality hold one entry per finding; JUnit's failures and
    // errors are the same controls.
    let findings: u64 = summary_counts(files).values().map(|c| c[1] + c[2]).sum();
    let sarif = read_json(&out_dir.join("kscan.sarif"));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len() as u64, findings);
    for r in results {
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.is_empty());
        assert!(r["partialFingerprints"]["kscanControl/v1"].as_str().is_some_and(|f| f.len() == 64));
    }
    assert_eq!(read_json(&out_dir.join("kscan-codequality.json")).as_array().unwrap().len() as u64, findings);

    // GitHub: one workflow command per line, at most 10 per level, the rest
    // counted on a last plain line.
    let annotations = std::fs::read_to_string(out_dir.join("kscan-github-annotations.txt")).unwrap();
    let mut per_level: BTreeMap<&str, u64> = BTreeMap::new();
    let mut omitted = 0;
    for line in annotations.lines() {
        if let Some(rest) = line.strip_prefix("kscan: ") {
            omitted = rest.split(' ').next().unwrap().parse().unwrap();
            continue;
        }
        let level = ["error", "warning", "notice"]
            .into_iter()
            .find(|l| line.starts_with(&format!("::{l} ")))
            .unwrap_or_else(|| panic!("not a workflow command: {line:?}"));
        assert!(line.contains("title="), "{line}");
        *per_level.entry(level).or_default() += 1;
    }
    assert!(per_level.values().all(|&n| n <= 10), "{per_level:?}");
    assert_eq!(per_level.values().sum::<u64>() + omitted, findings, "annotated + omitted = findings");

    let markdown = std::fs::read_to_string(out_dir.join("kscan-summary.md")).unwrap();
    for name in summary_counts(files).keys() {
        assert!(markdown.contains(name.as_str()), "the Markdown summary does not name {name}");
    }
    let step = std::fs::read_to_string(out_dir.join("kscan-github-summary.md")).unwrap();
    assert!(step.starts_with(&markdown), "the step summary starts with the Markdown summary");
    dir
}

#[test]
fn examples_are_what_the_generator_writes() {
    for (name, doc) in generate_results::examples() {
        let path = support::root().join("examples/results").join(name);
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == generate_results::render(name, doc),
            "{} differs from the generator's output: run `cargo run --example generate_results`",
            path.display()
        );
    }
}

#[test]
fn the_examples_pass_every_validator() {
    check_all_formats(&examples());
}

/// Controls that are hard on every format: no source location, an absolute
/// one, ids and messages with XML, Markdown, URI and workflow-command
/// characters, a backtrace, an empty result list, waivers, impact 0.
fn edge_document() -> Value {
    let control = |id: &str, impact: f64, source: Value, results: Value| {
        json!({"id": id, "title": format!("Title <&> of {id} | 100%"), "impact": impact, "refs": [], "tags": {"nist": ["AC-3"]},
               "descriptions": [{"label": "default", "data": "Desc with <xml> & \"quotes\""}, {"label": "fix", "data": "Fix:\nline two"}],
               "source_location": source, "results": results})
    };
    let failed = |msg: &str| json!([{"status": "failed", "code_desc": "check <a> & b", "message": msg, "start_time": "2026-01-01T00:00:00Z"}]);
    json!({
        "platform": {"name": "kubernetes", "release": "1.35", "target_id": "ns/pod-a/c,1"},
        "version": "6.8.1", "statistics": {"duration": 1.5},
        "profiles": [{
            "name": "edge profile", "sha256": "0", "supports": [], "attributes": [], "groups": [],
            "controls": [
                control("no-source", 0.9, json!({}), failed("got: 50%\r\nexpected: ::error::")),
                control("abs source", 0.7, json!({"ref": "/opt/profiles/edge/controls/a b.rb", "line": 12}), failed("tab\there")),
                control("V-1/2 ü", 0.5, json!({"ref": "./controls/x.rb", "line": 0}), json!([{"status": "passed", "code_desc": "x", "backtrace": ["a.rb:1"], "exception": "RuntimeError", "start_time": ""}])),
                control("empty", 0.3, json!({"ref": "controls/e.rb", "line": 3}), json!([])),
                control("waived", 0.9, json!({"ref": "controls/w.rb", "line": 1}), failed("x")),
                control("impact0", 0.0, json!({"ref": "controls/z.rb", "line": 1}), failed("x")),
                control("skip", 0.5, json!({"ref": "controls/s.rb", "line": 1}), json!([{"status": "skipped", "code_desc": "s", "skip_message": "n/a <here>", "start_time": ""}])),
                control("ok", 0.1, json!({"ref": "controls/o.rb", "line": 1}), json!([{"status": "passed", "code_desc": "o", "start_time": ""}]))
            ]
        }]
    })
}

#[test]
fn edge_cases_and_a_generated_file_pass_every_validator() {
    let dir = tempfile::tempdir().unwrap();
    let mut edge = edge_document();
    edge["profiles"][0]["controls"][4]["waiver_data"] =
        json!({"skipped_due_to_waiver": true, "justification": "risk <accepted>"});
    let edge_path = dir.path().join("edge.json");
    std::fs::write(&edge_path, edge.to_string()).unwrap();
    let big_path = dir.path().join("generated.json");
    std::fs::write(&big_path, generate_results::big(1)).unwrap();
    check_all_formats(std::slice::from_ref(&edge_path));
    check_all_formats(&[big_path]);

    // The Code Quality paths: the source where there is one, else synthetic.
    let out_dir = dir.path().join("out");
    assert_eq!(report(&[edge_path], &out_dir, &[]).status.code(), Some(0));
    let issues = read_json(&out_dir.join("kscan-codequality.json"));
    let paths: BTreeMap<&str, &str> = issues
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["check_name"].as_str().unwrap(), i["location"]["path"].as_str().unwrap()))
        .collect();
    assert_eq!(paths["no-source"], "kscan/edge_profile/no-source");
    assert_eq!(paths["abs source"], "/opt/profiles/edge/controls/a b.rb");
    assert_eq!(paths["V-1/2 ü"], "controls/x.rb");
    assert_eq!(paths["empty"], "controls/e.rb");
    assert_eq!(paths.len(), 4, "findings only: {paths:?}");
}

#[test]
fn sarif_keeps_at_most_25000_results_and_counts_the_rest() {
    let n = 25_003;
    let controls: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("C-{i}"), "impact": 0.5, "refs": [], "tags": {}, "source_location": {},
                   "results": [{"status": "failed", "code_desc": "x", "start_time": ""}]})
        })
        .collect();
    let doc = json!({"platform": {"name": "k8s", "release": "1"}, "version": "6", "statistics": {},
        "profiles": [{"name": "many", "sha256": "0", "supports": [], "attributes": [], "groups": [], "controls": controls}]});
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("many.json");
    std::fs::write(&input, doc.to_string()).unwrap();
    let out = support::kscan()
        .arg("report")
        .arg(&input)
        .args(["--format", "sarif", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // (Schema validity is shown on the smaller files: Python's jsonschema
    // takes minutes over 25,000 results.)
    let run = &read_json(&dir.path().join("kscan.sarif"))["runs"][0];
    assert_eq!(run["results"].as_array().unwrap().len(), 25_000);
    assert_eq!(run["properties"]["findings"], n);
    assert_eq!(run["properties"]["omittedResults"], 3);
}

#[test]
fn fingerprints_are_stable_across_runs_and_distinct_per_control() {
    let dir = tempfile::tempdir().unwrap();
    let fingerprints = |out: &str, epoch: &str| -> Vec<String> {
        let out_dir = dir.path().join(out);
        let run = support::kscan()
            .arg("report")
            .args(examples())
            .args(["--format", "sarif,codequality", "--out-dir"])
            .arg(&out_dir)
            .env("SOURCE_DATE_EPOCH", epoch)
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
        let sarif = read_json(&out_dir.join("kscan.sarif"));
        let from_sarif: Vec<String> = sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"]["kscanControl/v1"].as_str().unwrap().to_owned())
            .collect();
        let from_cq: Vec<String> = read_json(&out_dir.join("kscan-codequality.json"))
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["fingerprint"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(from_sarif, from_cq, "SARIF and Code Quality use the same fingerprint");
        from_sarif
    };
    let first = fingerprints("a", "1700000000");
    assert_eq!(first, fingerprints("b", "1800000000"));
    let distinct: std::collections::BTreeSet<_> = first.iter().collect();
    assert_eq!(distinct.len(), first.len(), "one fingerprint per finding");
}

#[test]
fn a_failed_gate_exits_1_and_every_report_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let threshold = dir.path().join("t.yml");
    std::fs::write(&threshold, "compliance:\n  min: 90\nfailed:\n  critical:\n    max: 0\n").unwrap();
    let out_dir = dir.path().join("out");
    let out = report(&examples(), &out_dir, &["--threshold", threshold.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("gate: FAILED") && stdout.contains("2 rules violated"), "{stdout}");
    assert!(stdout.contains("compliance.min") && stdout.contains("failed.critical.max"), "{stdout}");
    let markdown = std::fs::read_to_string(out_dir.join("kscan-summary.md")).unwrap();
    assert!(markdown.contains("gate failed") && markdown.contains("failed.critical.max"), "{markdown}");
    let context = read_json(&out_dir.join("kscan-context.json"));
    assert_eq!(context["verdict"]["passed"], false);
    assert_eq!(context["verdict"]["violations"].as_array().unwrap().len(), 2);

    std::fs::write(&threshold, "failed:\n  total:\n    max: 1000\n").unwrap();
    let out = report(&examples(), &out_dir, &["--threshold", threshold.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("gate: passed"));
}

#[test]
fn templates_can_be_overridden_by_name_and_written_by_users() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("markdown.md.j2"), "custom: {{ totals.controls }} controls\n").unwrap();
    let mine = dir.path().join("findings.csv.j2");
    std::fs::write(
        &mine,
        "id,severity,status\n{% for c in findings %}{{ c.id }},{{ c.severity }},{{ c.status.key }}\n{% endfor %}",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let format = format!("markdown,github,template:{}", mine.display());
    let out = support::kscan()
        .arg("report")
        .args(examples())
        .args(["--format", &format, "--template-dir"])
        .arg(&templates)
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let total: u64 = summary_counts(&examples()).values().map(|c| c[0]).sum();
    let findings: u64 = summary_counts(&examples()).values().map(|c| c[1] + c[2]).sum();
    assert_eq!(
        std::fs::read_to_string(out_dir.join("kscan-summary.md")).unwrap(),
        format!("custom: {total} controls\n")
    );
    let step = std::fs::read_to_string(out_dir.join("kscan-github-summary.md")).unwrap();
    assert!(step.starts_with(&format!("custom: {total} controls\n")), "the step summary includes the override: {step}");
    let csv = std::fs::read_to_string(out_dir.join("findings.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, findings + 1, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",failed") || l.ends_with(",error")), "{csv}");
}

/// Run `kscan report` with `args`: it must exit 2, name `what` on stderr
/// and leave no file behind (not even a temporary one).
fn refused(args: &[&str], what: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = support::kscan().arg("report").args(args).arg("--out-dir").arg(&out_dir).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "kscan report {args:?} should exit 2:\n{stderr}");
    for w in what {
        assert!(stderr.contains(w), "the error for {args:?} should name {w:?}:\n{stderr}");
    }
    let written: Vec<_> = std::fs::read_dir(&out_dir).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
    assert!(written.is_empty(), "kscan report {args:?} wrote {written:?} before failing");
}

#[test]
fn bad_input_exits_2_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let good = examples()[0].display().to_string();
    let missing = dir.path().join("missing.json").display().to_string();
    let broken = path("broken.json", "{\"profiles\": [");
    let not_hdf = path("not-hdf.json", "{\"controls\": []}");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    doc["profiles"][0]["controls"][0]["results"][0]["status"] = json!("exploded");
    let bad_status = path("bad-status.json", &doc.to_string());
    let bad_yaml = path("t-bad.yml", "failed: [max: {");
    let typo = path("t-typo.yml", "complience:\n  min: 80\n");
    let bad_syntax = path("bad.md.j2", "{% for c in findings %}no end");
    let undefined = path("undefined.md.j2", "{{ totalz.controls }}");

    refused(&[&missing, "--format", "junit"], &[&missing]);
    refused(&[&broken, "--format", "junit"], &[&broken, "not valid JSON"]);
    refused(&[&not_hdf, "--format", "sarif"], &[&not_hdf]);
    refused(&[&bad_status, "--format", "sarif"], &[&bad_status, "exploded"]);
    refused(&[&good, "--format", "sarf"], &["sarf", "sarif"]);
    refused(&[&good, "--format", "junit,junit"], &["junit", "twice"]);
    refused(&[&good, "--format", "junit", "--threshold", &missing], &[&missing]);
    refused(&[&good, "--format", "junit", "--threshold", &bad_yaml], &[&bad_yaml]);
    refused(&[&good, "--format", "junit", "--threshold", &typo], &[&typo, "complience"]);
    refused(&[&good, "--format", &format!("template:{missing}")], &[&missing]);
    refused(&[&good, "--format", &format!("template:{bad_syntax}")], &[&bad_syntax]);
    refused(&[&good, "--format", &format!("template:{undefined}")], &[&undefined, "totalz"]);
    refused(&[&good, "--format", "markdown", "--template-dir", &missing], &[&missing, "--template-dir"]);
}

/// One results file of workload `ns/Deployment/web/app` scanned in pod
/// `pod`, with `(id, impact, status)` controls of profile `p` `version`.
fn workload_results(path: &Path, pod: &str, version: &str, controls: &[(&str, f64, &str)]) {
    let controls: Vec<Value> = controls
        .iter()
        .map(|(id, impact, status)| {
            json!({"id": id, "title": format!("Title of {id}"), "impact": impact, "refs": [], "tags": {},
                   "source_location": {}, "results": [{"status": status, "code_desc": format!("{id} test"),
                   "message": "why", "start_time": "2026-01-01T00:00:00Z"}]})
        })
        .collect();
    let doc = json!({"platform": {"name": "k8s", "release": "1.35", "target_id": format!("k8s-container://ns/{pod}/app"),
        "workload": "ns/Deployment/web/app"}, "version": "1", "statistics": {"duration": 1},
        "profiles": [{"name": "p", "version": version, "sha256": "0", "supports": [], "attributes": [], "groups": [],
                      "controls": controls}]});
    std::fs::write(path, doc.to_string()).unwrap();
}

#[test]
fn a_baseline_marks_findings_in_every_format_and_they_pass_the_validators() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = (dir.path().join("base.json"), dir.path().join("cur.json"));
    // The pod was replaced between the runs (another name, the same Deployment).
    workload_results(
        &base,
        "web-7d4b9-aaaaa",
        "1.0",
        &[("A", 0.7, "failed"), ("B", 0.5, "failed"), ("C", 0.5, "passed")],
    );
    workload_results(
        &cur,
        "web-7d4b9-bbbbb",
        "1.0",
        &[("A", 0.7, "failed"), ("B", 0.5, "passed"), ("C", 0.5, "failed")],
    );
    let out_dir = dir.path().join("out");
    let base_arg = base.display().to_string();
    let out = report(std::slice::from_ref(&cur), &out_dir, &["--baseline", &base_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 new, 1 fixed, 1 unchanged"), "{}", text(&out.stdout));
    validate_sarif(&out_dir.join("kscan.sarif"), dir.path());
    let cq_schema = support::root().join("tests/report_validators/gitlab-codequality.schema.json");
    jsonschema(&cq_schema, &out_dir.join("kscan-codequality.json"));
    let sarif = read_json(&out_dir.join("kscan.sarif"));
    let states: Vec<(&str, &str)> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap(), r["baselineState"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("A", "unchanged"), ("C", "new"), ("B", "absent")]);
    let absent = &sarif["runs"][0]["results"][2];
    assert_eq!((absent["kind"].as_str(), absent["level"].as_str()), (Some("pass"), Some("none")));
    assert_eq!(sarif["runs"][0]["properties"]["baseline"]["warnings"], json!([]));
    let md = std::fs::read_to_string(out_dir.join("kscan-summary.md")).unwrap();
    let first_lines: String = md.lines().take(4).collect::<Vec<_>>().join("\n");
    assert!(first_lines.contains("**1 new** · **1 fixed** · 1 unchanged"), "new and fixed come first:\n{md}");
    let step = std::fs::read_to_string(out_dir.join("kscan-github-summary.md")).unwrap();
    assert!(step.lines().take(4).any(|l| l.contains("**1 new** · **1 fixed**")), "{step}");
    assert_eq!(read_json(&out_dir.join("kscan-codequality.json")).as_array().unwrap().len(), 2);

    // --only-new: Code Quality, JUnit, Markdown and the GitHub annotations show C alone.
    let only = dir.path().join("only");
    let out = report(std::slice::from_ref(&cur), &only, &["--baseline", &base_arg, "--only-new"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    jsonschema(&cq_schema, &only.join("kscan-codequality.json"));
    let issues = read_json(&only.join("kscan-codequality.json"));
    assert_eq!(issues.as_array().unwrap().len(), 1);
    assert_eq!(issues[0]["check_name"], "C");
    let junit = std::fs::read_to_string(only.join("kscan-junit.xml")).unwrap();
    assert!(junit.contains("C: Title of C") && !junit.contains("A: Title of A"), "{junit}");
    assert!(junit.contains(r#"name="unchanged_findings_left_out" value="1""#), "{junit}");
    let md = std::fs::read_to_string(only.join("kscan-summary.md")).unwrap();
    assert!(md.contains("**C**") && !md.contains("**A**"), "{md}");
    assert!(md.contains("(only new findings are listed)"), "{md}");
    let annotations = std::fs::read_to_string(only.join("kscan-github-annotations.txt")).unwrap();
    assert!(annotations.contains("title=C") && !annotations.contains("title=A"), "{annotations}");
    validate_sarif(&only.join("kscan.sarif"), dir.path());
    assert_eq!(
        read_json(&only.join("kscan.sarif"))["runs"][0]["results"].as_array().unwrap().len(),
        3,
        "SARIF has all"
    );

    // --gate-on new: the old finding A does not fail the gate, the new C does.
    let gate = dir.path().join("gate.yml");
    std::fs::write(&gate, "failed:\n  high:\n    max: 0\n  medium:\n    max: 0\n").unwrap();
    let gate_arg = gate.display().to_string();
    let out = report(
        std::slice::from_ref(&cur),
        &dir.path().join("g1"),
        &["-T", &gate_arg, "--baseline", &base_arg, "--gate-on", "new"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("failed.medium.max"), "{}", text(&out.stdout));
    assert!(!text(&out.stdout).contains("failed.high.max"), "A is old debt: {}", text(&out.stdout));
    let same = base_arg.replace("base.json", "cur.json");
    let out = report(
        std::slice::from_ref(&cur),
        &dir.path().join("g2"),
        &["-T", &gate_arg, "--baseline", &same, "--gate-on", "new"],
    );
    assert_eq!(out.status.code(), Some(0), "nothing new: {}", text(&out.stdout));

    // Another profile version is compared, and said so everywhere.
    let other = dir.path().join("other.json");
    workload_results(&other, "web-7d4b9-aaaaa", "2.0", &[("A", 0.7, "failed")]);
    let other_arg = other.display().to_string();
    let out = report(std::slice::from_ref(&cur), &dir.path().join("mis"), &["--baseline", &other_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("baseline mismatch: the baseline ran profile p version 2.0"),
        "{}",
        text(&out.stdout)
    );
    let md = std::fs::read_to_string(dir.path().join("mis/kscan-summary.md")).unwrap();
    assert!(md.contains("> Baseline mismatch: the baseline ran profile p version 2.0, this run version 1.0"), "{md}");
    validate_sarif(&dir.path().join("mis/kscan.sarif"), dir.path());
    let warnings = &read_json(&dir.path().join("mis/kscan.sarif"))["runs"][0]["properties"]["baseline"]["warnings"];
    assert_eq!(warnings.as_array().unwrap().len(), 1, "{warnings}");
}

#[test]
fn a_runs_unscanned_targets_are_in_every_report_and_pass_the_validators() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    workload_results(&run.join("web-0.app.hdf.json"), "web-0", "1.0", &[("A", 0.7, "failed"), ("B", 0.5, "passed")]);
    let manifest = json!({"kind": "kscan-run", "version": 1, "kscan": "0", "run": "abcd", "command": "scan",
        "finished_at": "2026-01-01T00:00:00Z", "hdf": ["web-0.app.hdf.json"], "reports": [], "verdict": null,
        "targets": [
            {"target": "ns/web-0/app", "workload": "ns/Pod/web-0/app", "scanned": true},
            {"target": "ns/web-1/app", "workload": "ns/Pod/web-1/app", "scanned": false, "reason": "pod-security-refused",
             "message": "the debug container was refused by the namespace's Pod Security admission: <restricted:latest>"}
        ],
        "exit_code": 0});
    std::fs::write(run.join("kscan-run.json"), manifest.to_string()).unwrap();
    let out_dir = dir.path().join("out");
    let out = report(std::slice::from_ref(&run), &out_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("coverage: 1 of 2 targets scanned (50%)"), "{}", text(&out.stdout));
    validate_sarif(&out_dir.join("kscan.sarif"), dir.path());
    jsonschema(
        &support::root().join("tests/report_validators/gitlab-codequality.schema.json"),
        &out_dir.join("kscan-codequality.json"),
    );
    let sarif = read_json(&out_dir.join("kscan.sarif"));
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let note = invocation["toolExecutionNotifications"][0]["message"]["text"].as_str().unwrap();
    assert!(note.starts_with("ns/web-1/app was not scanned (Pod Security refused)"), "{note}");
    let junit = std::fs::read_to_string(out_dir.join("kscan-junit.xml")).unwrap();
    assert!(junit.contains(r#"<testsuite name="kscan: targets not scanned" tests="1""#), "{junit}");
    assert!(junit.contains(r#"type="Pod Security refused""#), "{junit}");
    let md = std::fs::read_to_string(out_dir.join("kscan-summary.md")).unwrap();
    assert!(md.contains("| ns/web-1/app | Pod Security refused |"), "{md}");
}
