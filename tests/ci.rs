//! The CI platforms: `kscan report --ci …` publishing where each platform
//! shows results, and the wrappers (GitHub Action, …) run as their platform
//! would run them, against the kscan binary under test.

#[path = "ci/runner.rs"]
mod runner;
mod support;

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

    let outputs = runner::parse_file_commands(&std::fs::read_to_string(f.path("output.txt")).unwrap());
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

// ---------------------------------------------------------------------------
// The GitHub Action (action.yml), its composite steps run as the runner does
// ---------------------------------------------------------------------------

mod github_action {
    use super::*;
    use runner::Runner;
    use support::cluster::{self, kscan_objects, running_pod, KEEP_RUNNING, STANDARD};

    /// A directory with only `kscan` (the binary under test) in it.
    fn kscan_on_path(dir: &Path) -> PathBuf {
        let bin = dir.join("path-bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kscan"), bin.join("kscan")).unwrap();
        bin
    }

    fn runner(dir: &Path, base_path: &str) -> Runner {
        let (work, temp) = (dir.join("work"), dir.join("runner-temp"));
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&temp).unwrap();
        Runner::new(&support::root(), &work, &temp, base_path)
    }

    fn show(runs: &[runner::StepRun]) -> String {
        runs.iter().map(|r| format!("--- {} ({:?})\n{}{}", r.name, r.code, r.stdout, r.stderr)).collect()
    }

    #[tokio::test]
    async fn the_action_scans_the_testbed_and_publishes_outputs_summary_and_annotations() {
        cluster::in_namespace("action", |client, ns| async move {
            running_pod(&client, &ns, "web", json!([{"name": "app", "image": STANDARD, "command": KEEP_RUNNING}]))
                .await;
            let dir = tempfile::tempdir().unwrap();
            let bin = kscan_on_path(dir.path());
            let mut r = runner(dir.path(), &format!("{}:/usr/bin:/bin", bin.display()));
            let kubeconfig = support::testbed_kubeconfig();
            let strict = support::root().join("examples/thresholds/strict.yml");
            r.input("namespace", &ns)
                .input("pod", "web")
                .input("threshold", strict.to_str().unwrap())
                .input("formats", "markdown,codequality")
                .input("kubeconfig", kubeconfig.to_str().unwrap());
            let runs = r.run();
            let log = show(&runs);
            assert!(!log.contains("eyJ"), "a token was printed:\n{log}");

            // Install: version '' with kscan on PATH uses it.
            assert_eq!(runs[0].code, Some(0), "{log}");
            assert!(runs[0].stdout.contains(&format!("using {}", bin.join("kscan").display())), "{log}");
            assert_eq!(r.added_path(), [r.temp.join("kscan-bin")]);

            // Scan and report: the root container fails the strict gate.
            let scan = &runs[1];
            assert_eq!(scan.code, Some(1), "{log}");
            assert!(scan.stdout.lines().any(|l| l.starts_with("::error ") || l.starts_with("::warning ")), "{log}");
            let outputs = r.outputs();
            assert_eq!(outputs["verdict"], "failed", "{outputs:?}");
            assert_eq!(outputs["exit-code"], "1");
            assert_eq!(outputs["hdf"], "kscan-results/web.app.hdf.json");
            assert_eq!(outputs["sarif"], "kscan-results/kscan.sarif");
            assert_eq!(outputs["junit"], "kscan-results/kscan-junit.xml");
            let failed: u64 = outputs["failed"].parse().unwrap();
            assert!(failed >= 1, "{outputs:?}");
            let compliance: u32 = outputs["compliance"].parse().unwrap();
            assert!(compliance < 100);
            for file in ["kscan.sarif", "kscan-junit.xml", "kscan-summary.md", "kscan-codequality.json"] {
                assert!(r.workspace.join("kscan-results").join(file).is_file(), "{file}\n{log}");
            }
            assert!(r.summary.contains(&format!("{compliance}%")), "summary:\n{}", r.summary);

            // Upload SARIF is a `uses:` step, guarded by the input.
            let (uses, cond) = runs[2].uses.clone().expect("a uses: step");
            assert!(uses.starts_with("github/codeql-action/upload-sarif@"), "{uses}");
            assert!(cond.contains("inputs.upload-sarif == 'true'"), "{cond}");
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
        })
        .await;
    }

    #[test]
    fn a_hostile_pod_name_reaches_kscan_as_one_argument_and_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bin = kscan_on_path(dir.path());
        let mut r = runner(dir.path(), &format!("{}:/usr/bin:/bin", bin.display()));
        r.input("namespace", "shop").input("pod", "web; touch pwned #").input("kubeconfig", "/nonexistent");
        let runs = r.run();
        let log = show(&runs);
        assert_eq!(runs[1].code, Some(2), "{log}");
        assert!(runs[1].stderr.contains("web; touch pwned #"), "the name is quoted back: {log}");
        assert!(!r.workspace.join("pwned").exists(), "the name was run as a command");
        assert_eq!(r.outputs()["exit-code"], "2");
    }

    /// A release directory laid out as GitHub serves it:
    /// `download/<tag>/<asset>` and `latest/download/<asset>`.
    fn releases(dir: &Path, sums_for: &[u8]) -> PathBuf {
        let root = dir.join("releases");
        let asset = match std::env::consts::ARCH {
            "x86_64" => "kscan-linux-amd64",
            "aarch64" => "kscan-linux-arm64",
            other => panic!("no release asset for {other}"),
        };
        let binary = std::fs::read(env!("CARGO_BIN_EXE_kscan")).unwrap();
        let digest = {
            use sha2::Digest;
            sha2::Sha256::digest(sums_for).iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        for tag_dir in [root.join("download/v0.1.0"), root.join("latest/download")] {
            std::fs::create_dir_all(&tag_dir).unwrap();
            std::fs::write(tag_dir.join(asset), &binary).unwrap();
            std::fs::write(tag_dir.join("SHA256SUMS"), format!("{digest}  {asset}\n{}  kscan-other\n", "0".repeat(64)))
                .unwrap();
        }
        root
    }

    #[test]
    fn a_release_binary_is_installed_only_when_its_sha256_matches() {
        let binary = std::fs::read(env!("CARGO_BIN_EXE_kscan")).unwrap();
        for version in ["v0.1.0", "latest"] {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("file://{}", releases(dir.path(), &binary).display());
            let mut r = runner(dir.path(), "/usr/bin:/bin");
            r.input("namespace", "shop").input("version", version).input("releases-url", &url);
            let runs = r.run();
            let log = show(&runs);
            assert_eq!(runs[0].code, Some(0), "{log}");
            assert!(runs[0].stdout.contains(": OK"), "sha256sum checked it: {log}");
            let installed = r.temp.join("kscan-bin/kscan");
            assert_eq!(std::fs::read(&installed).unwrap(), binary);
            assert!(runs[0].stdout.contains(&format!("kscan {}", env!("CARGO_PKG_VERSION"))), "{log}");
            assert_eq!(r.added_path(), [r.temp.join("kscan-bin")]);
        }

        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", releases(dir.path(), b"some other binary").display());
        let mut r = runner(dir.path(), "/usr/bin:/bin");
        r.input("namespace", "shop").input("version", "v0.1.0").input("releases-url", &url);
        let runs = r.run();
        let log = show(&runs);
        assert_eq!(runs[0].code, Some(2), "{log}");
        assert!(runs[0].stdout.contains("does not match its SHA-256"), "{log}");
        assert!(!r.temp.join("kscan-bin/kscan").exists(), "a mismatching binary was installed");
        assert_eq!(runs[1].code, None, "the scan does not run after a failed install");

        let mut r = runner(dir.path(), "/usr/bin:/bin");
        r.input("namespace", "shop").input("version", "v9.9.9").input("releases-url", &url);
        let runs = r.run();
        assert_eq!(runs[0].code, Some(2), "{}", show(&runs));
        assert!(runs[0].stdout.contains("kscan v9.9.9 could not be downloaded"), "{}", show(&runs));
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = runner(dir.path(), "/usr/bin:/bin");
        r.input("namespace", "shop").input("version", "newest");
        let runs = r.run();
        assert_eq!(runs[0].code, Some(2));
        assert!(runs[0].stdout.contains("version must be empty, latest, vX.Y.Z, path or source"), "{}", show(&runs));
    }
}

// ---------------------------------------------------------------------------
// The platforms' own validators
// ---------------------------------------------------------------------------

/// Run an installed validator in the repository root; it must exit 0.
fn validate(tool: &str, args: &[&str]) {
    let out = Command::new(support::tool(tool)).args(args).current_dir(support::root()).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{tool} {args:?} failed:\n{stdout}{stderr}");
}

fn workflows() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(support::root().join(".github/workflows"))
        .unwrap()
        .map(|e| format!(".github/workflows/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

#[test]
fn action_yml_is_valid_github_action_metadata() {
    validate("check-jsonschema", &["--builtin-schema", "vendor.github-actions", "action.yml"]);
}

#[test]
fn workflows_are_valid_and_actionlint_clean() {
    let files = workflows();
    let mut args = vec!["--builtin-schema", "vendor.github-workflows"];
    args.extend(files.iter().map(String::as_str));
    validate("check-jsonschema", &args);
    // actionlint checks action.yml through the workflow that runs `uses: ./`,
    // and every run: script with shellcheck.
    assert!(std::fs::read_to_string(support::root().join(".github/workflows/action.yml"))
        .unwrap()
        .contains("uses: ./\n"));
    validate("actionlint", &["-shellcheck", support::tool("shellcheck").to_str().unwrap()]);
}

#[test]
fn the_wrappers_shell_scripts_are_shellcheck_clean() {
    validate("shellcheck", &["action/install.sh", "action/run.sh"]);
}

#[test]
fn actionlint_catches_a_wrong_input_to_the_action() {
    // The validator is not a rubber stamp: an input action.yml does not
    // define, in a workflow that uses it, is reported.
    let dir = tempfile::tempdir().unwrap();
    // actionlint finds the project (and `./`) by its .git directory.
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    std::fs::copy(support::root().join("action.yml"), dir.path().join("action.yml")).unwrap();
    std::fs::write(
        dir.path().join(".github/workflows/use.yml"),
        "on: push\njobs:\n  scan:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n      \
         - uses: ./\n        with:\n          namespace: shop\n          namspace: typo\n",
    )
    .unwrap();
    let out = Command::new(support::tool("actionlint")).current_dir(dir.path()).output().unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("input \"namspace\" is not defined in action"), "{stdout}");
}
