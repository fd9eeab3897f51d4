//! The CI platforms: `kscan report --ci …` publishing where each platform
//! shows results, and the wrappers (GitHub Action, …) run as their platform
//! would run them, against the kscan binary under test.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

/// An HDF file with `n` failed controls per (severity tag, impact) and one
/// passed control.
fn hdf(path: &Path, failed: &[(&str, f64, usize)]) {
    let mut controls = vec![control("P-1", 0.5, "medium", "passed")];
    for (severity, impact, n) in failed {
        for i in 0..*n {
            controls.push(control(&format!("{severity}-{i}"), *impact, severity, "failed"));
        }
    }
    let doc = json!({
        "platform": {"name": "k8s-container", "release": "1", "target_id": "shop/web-0/app"},
        "profiles": [{
            "name": "ci-fixture", "sha256": "0".repeat(64), "supports": [], "attributes": [], "groups": [],
            "controls": controls,
        }],
        "statistics": {"duration": 1.0},
        "version": "5.22.0",
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

fn control(id: &str, impact: f64, severity: &str, status: &str) -> serde_json::Value {
    json!({
        "id": id, "title": format!("{id} holds"), "impact": impact, "refs": [], "tags": {"severity": severity},
        "source_location": {"ref": "controls/fixture.rb", "line": 3},
        "results": [{"status": status, "code_desc": format!("{id} check"), "start_time": "2026-01-01T00:00:00Z",
                     "message": if status == "failed" { "expected true, got false" } else { "" }}],
    })
}

/// A command for kscan with no CI variables inherited from the machine.
fn kscan_clean() -> Command {
    let mut cmd = support::kscan();
    for var in [
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "JENKINS_URL",
        "CIRCLECI",
        "CODEBUILD_BUILD_ID",
        "KSCAN_CI",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Parse a `$GITHUB_OUTPUT` file the way the runner does: `name=value`
/// lines and `name<<DELIMITER` blocks.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_owned(), value.to_owned());
        } else {
            panic!("not an output line: {line:?}");
        }
    }
    out
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// 25 high, 15 medium and 3 low failures, and a strict threshold.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        hdf(&dir.path().join("web.hdf.json"), &[("high", 0.7, 25), ("medium", 0.5, 15), ("low", 0.3, 3)]);
        hdf(&dir.path().join("db.hdf.json"), &[]);
        std::fs::write(dir.path().join("strict.yml"), "failed:\n  total:\n    max: 0\n").unwrap();
        Fixture { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn report(&self, extra: &[&str]) -> Command {
        let mut cmd = kscan_clean();
        cmd.current_dir(self.dir.path())
            .args(["report", "web.hdf.json", "db.hdf.json", "--threshold", "strict.yml", "--out-dir", "out"])
            .args(extra);
        cmd
    }
}

#[test]
fn github_annotations_summary_and_outputs() {
    let f = Fixture::new();
    std::fs::write(f.path("summary.md"), "## earlier step\n").unwrap();
    let out = f
        .report(&[])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", f.path("output.txt"))
        .env("GITHUB_STEP_SUMMARY", f.path("summary.md"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "gate fails: {stdout}{stderr}");

    // Annotations: GitHub shows 10 per level and step; the rest are counted.
    let count = |level: &str| stdout.lines().filter(|l| l.starts_with(&format!("::{level} "))).count();
    assert_eq!((count("error"), count("warning"), count("notice")), (10, 10, 3), "{stdout}");
    assert!(stdout.contains("kscan: 20 more findings not annotated"), "{stdout}");
    let first = stdout.lines().find(|l| l.starts_with("::error ")).unwrap();
    assert!(first.starts_with("::error file=controls/fixture.rb,line=3,title=high-0%3A high-0 holds::"), "{first}");

    // The summary is appended, not overwritten.
    let summary = std::fs::read_to_string(f.path("summary.md")).unwrap();
    assert!(summary.starts_with("## earlier step\n"), "{summary}");
    assert!(summary.contains("ci-fixture") && summary.contains("20 more are not"), "{summary}");

    let outputs = parse_github_output(&std::fs::read_to_string(f.path("output.txt")).unwrap());
    assert_eq!(outputs["verdict"], "failed");
    assert_eq!(outputs["failed"], "43");
    assert_eq!(outputs["compliance"], "4"); // 2 passed of 45
    assert_eq!(outputs["sarif"], "out/kscan.sarif");
    assert_eq!(outputs["junit"], "out/kscan-junit.xml");
    assert_eq!(outputs["hdf"], "web.hdf.json\ndb.hdf.json");
    for file in ["kscan.sarif", "kscan-junit.xml", "kscan-github-summary.md", "kscan-github-annotations.txt"] {
        assert!(f.path("out").join(file).is_file(), "{file} written");
    }
}

#[test]
fn github_detected_without_its_files_fails_before_writing() {
    let f = Fixture::new();
    let out = f.report(&["--format", "markdown"]).env("GITHUB_ACTIONS", "true").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("GITHUB_OUTPUT") && stderr.contains("--ci none"), "{stderr}");
    assert!(!f.path("out").exists(), "nothing is written");
}

#[test]
fn ci_none_turns_detection_off() {
    let f = Fixture::new();
    let out = f.report(&["--ci", "none", "--format", "markdown"]).env("GITHUB_ACTIONS", "true").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("::error"), "{stdout}");
    let written: Vec<_> = std::fs::read_dir(f.path("out")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written, ["kscan-summary.md"]);
}

#[test]
fn no_format_and_no_platform_is_a_usage_error() {
    let f = Fixture::new();
    let out = f.report(&[]).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--format") && stderr.contains("--ci"), "{stderr}");
}

#[test]
fn gitlab_writes_junit_codequality_and_a_dotenv() {
    let f = Fixture::new();
    let out = f.report(&[]).env("GITLAB_CI", "true").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("gitlab: junit out/kscan-junit.xml\n"), "{stdout}");
    assert!(stdout.contains("gitlab: codequality out/kscan-codequality.json\n"), "{stdout}");
    assert!(stdout.contains("gitlab: dotenv out/kscan.env\n"), "{stdout}");
    let dotenv = std::fs::read_to_string(f.path("out/kscan.env")).unwrap();
    assert_eq!(
        dotenv,
        "KSCAN_VERDICT=failed\nKSCAN_COMPLIANCE=4\nKSCAN_FAILED=43\nKSCAN_SARIF=\nKSCAN_JUNIT=out/kscan-junit.xml\n\
         KSCAN_HDF=web.hdf.json db.hdf.json\n"
    );
    let cq: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.path("out/kscan-codequality.json")).unwrap()).unwrap();
    assert_eq!(cq.as_array().unwrap().len(), 43);
}

#[test]
fn jenkins_circleci_and_codebuild_write_junit_and_the_summary() {
    for (var, value, name) in [
        ("JENKINS_URL", "http://jenkins:8080/", "jenkins"),
        ("CIRCLECI", "true", "circleci"),
        ("CODEBUILD_BUILD_ID", "kscan:0e4d", "codebuild"),
    ] {
        let f = Fixture::new();
        let out = f.report(&[]).env(var, value).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {stdout}{stderr}");
        assert!(
            stdout.contains(&format!("{name}: junit out/kscan-junit.xml\n{name}: summary out/kscan-summary.md\n")),
            "{name}: {stdout}"
        );
        assert!(f.path("out/kscan-junit.xml").is_file() && f.path("out/kscan-summary.md").is_file());
    }
}
