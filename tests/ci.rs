//! The CI platforms: `kscan report --ci …` publishing where each platform
//! shows results, and the wrappers (GitHub Action, …) run as their platform
//! would run them, against the kscan binary under test.

#[path = "ci/github_server.rs"]
mod github_server;
#[path = "ci/runner.rs"]
mod runner;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use support::cluster::{standard, KEEP_RUNNING};

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

/// A directory with only `kscan` (the binary under test) in it.
fn kscan_on_path(dir: &Path) -> PathBuf {
    let bin = dir.join("path-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("kscan");
    if link.symlink_metadata().is_err() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kscan"), link).unwrap();
    }
    bin
}

/// A release of the binary under test in `dir`, as a `file://` URL.
fn local_release(dir: &Path) -> String {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_kscan")).unwrap();
    format!("file://{}", releases(dir, &binary).display())
}

/// Nothing may fail: the testbed's root container fails it.
fn strict_threshold() -> PathBuf {
    support::root().join("examples/thresholds/strict.yml")
}

/// A running pod `web` (container `app`) of the testbed's standard image.
async fn web_pod(client: &kube::Client, ns: &str) {
    let containers = json!([{"name": "app", "image": standard(), "command": KEEP_RUNNING}]);
    support::cluster::running_pod(client, ns, "web", containers).await;
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
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_SHA",
        "GITHUB_REF",
        "GITHUB_API_URL",
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
        "KSCAN_VERDICT=failed\nKSCAN_COMPLIANCE=4\nKSCAN_FAILED=43\nKSCAN_JUNIT=out/kscan-junit.xml\n\
         KSCAN_HDF=web.hdf.json db.hdf.json\nKSCAN_EXIT_CODE=1\n"
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
    use super::releases;
    use super::*;
    use runner::Runner;
    use support::cluster::{self, kscan_objects};

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
            web_pod(&client, &ns).await;
            let dir = tempfile::tempdir().unwrap();
            let bin = kscan_on_path(dir.path());
            let mut r = runner(dir.path(), &format!("{}:/usr/bin:/bin", bin.display()));
            let kubeconfig = support::testbed_kubeconfig();
            let strict = strict_threshold();
            r.input("namespace", &ns)
                .input("pod", "web")
                .input("threshold", strict.to_str().unwrap())
                .input("formats", "markdown,codequality")
                .input("kubeconfig", kubeconfig.to_str().unwrap())
                .input("version", "path");
            let runs = r.run();
            let log = show(&runs);
            assert!(!log.contains("eyJ"), "a token was printed:\n{log}");

            // The cache step is skipped for version path; install keeps kscan on PATH.
            let (uses, cond) = runs[0].uses.clone().expect("the cache step");
            assert!(uses.starts_with("actions/cache@") && cond.contains("inputs.version != 'path'"), "{uses} {cond}");
            assert_eq!(runs[1].code, Some(0), "{log}");
            assert_eq!(r.added_path(), std::slice::from_ref(&bin));

            // Scan, gate and report: the root container fails the strict gate.
            let scan = &runs[2];
            assert_eq!(scan.code, Some(1), "{log}");
            assert!(scan.stdout.lines().any(|l| l.starts_with("::error ") || l.starts_with("::warning ")), "{log}");
            let outputs = r.outputs();
            assert_eq!(outputs["verdict"], "failed", "{outputs:?}");
            assert_eq!(outputs["exit-code"], "1");
            assert_eq!(outputs["manifest"], "kscan-results/kscan-run.json");
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
            let (uses, cond) = runs[3].uses.clone().expect("a uses: step");
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
        r.input("version", "path");
        let runs = r.run();
        let log = show(&runs);
        assert_eq!(runs[2].code, Some(2), "{log}");
        assert!(runs[2].stderr.contains("web; touch pwned #"), "the name is quoted back: {log}");
        assert!(!r.workspace.join("pwned").exists(), "the name was run as a command");
        assert_eq!(r.outputs()["exit-code"], "2");
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
            assert_eq!(runs[1].code, Some(0), "{log}");
            assert!(runs[1].stdout.contains(": OK"), "sha256sum checked it: {log}");
            let bin = r.temp.join("tool-cache/kscan").join(version).join(std::env::consts::ARCH);
            assert_eq!(std::fs::read(bin.join("kscan")).unwrap(), binary);
            assert!(runs[1].stdout.contains(&format!("kscan {}", env!("CARGO_PKG_VERSION"))), "{log}");
            assert_eq!(r.added_path(), std::slice::from_ref(&bin));
            if version == "v0.1.0" {
                // The next job finds it in the tool cache (restored by the cache step) and checks it again.
                let mut again = runner(dir.path(), "/usr/bin:/bin");
                again.temp = r.temp.clone();
                again.input("namespace", "shop").input("version", version).input("releases-url", "file:///nonexistent");
                let runs = again.run();
                assert_eq!(runs[1].code, Some(0), "{}", show(&runs));
                assert!(runs[1].stdout.contains("using the cached kscan v0.1.0") && runs[1].stdout.contains(": OK"));
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", releases(dir.path(), b"some other binary").display());
        let mut r = runner(dir.path(), "/usr/bin:/bin");
        r.input("namespace", "shop").input("version", "v0.1.0").input("releases-url", &url);
        let runs = r.run();
        let log = show(&runs);
        assert_eq!(runs[1].code, Some(2), "{log}");
        assert!(runs[1].stdout.contains("does not match its SHA-256"), "{log}");
        let dir_of = r.temp.join("tool-cache/kscan/v0.1.0").join(std::env::consts::ARCH);
        assert!(!dir_of.exists(), "a mismatching binary was installed");
        assert_eq!(runs[2].code, None, "the scan does not run after a failed install");

        let mut r = runner(dir.path(), "/usr/bin:/bin");
        r.input("namespace", "shop").input("version", "v9.9.9").input("releases-url", &url);
        let runs = r.run();
        assert_eq!(runs[1].code, Some(2), "{}", show(&runs));
        assert!(runs[1].stdout.contains("kscan v9.9.9 could not be downloaded"), "{}", show(&runs));
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = runner(dir.path(), "/usr/bin:/bin");
        r.input("namespace", "shop").input("version", "newest");
        let runs = r.run();
        assert_eq!(runs[1].code, Some(2));
        assert!(runs[1].stdout.contains("version must be vX.Y.Z, latest, path or source"), "{}", show(&runs));
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
    validate("shellcheck", &["action/install.sh", "action/run.sh", "jenkins/resources/kscan/install.sh"]);
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

// ---------------------------------------------------------------------------
// The GitLab CI/CD component (gitlab/templates/kscan.yml)
// ---------------------------------------------------------------------------

mod gitlab_component {
    use super::*;
    use serde_yaml::Value;
    use support::cluster::{self, kscan_objects};

    fn template() -> String {
        std::fs::read_to_string(support::root().join("gitlab/templates/kscan.yml")).unwrap()
    }

    /// The `spec:` header and the job, split at the document marker.
    fn documents() -> (String, String) {
        let text = template();
        let (spec, job) = text.split_once("\n---\n").expect("a spec header, then ---, then the job");
        (format!("{spec}\n"), job.to_owned())
    }

    #[test]
    fn the_spec_header_and_the_job_are_each_valid_gitlab_ci() {
        let (spec, job) = documents();
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("spec.yml", &spec), ("job.yml", &job)] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            validate("check-jsonschema", &["--builtin-schema", "vendor.gitlab-ci", path.to_str().unwrap()]);
        }
        // Every input is documented, and the README lists it.
        let spec: Value = serde_yaml::from_str(&spec).unwrap();
        let readme = std::fs::read_to_string(support::root().join("gitlab/README.md")).unwrap();
        for (name, input) in spec["spec"]["inputs"].as_mapping().unwrap() {
            let name = name.as_str().unwrap();
            assert!(input["description"].as_str().is_some_and(|d| !d.is_empty()), "input {name} has no description");
            assert!(readme.contains(&format!("| `{name}` |")), "gitlab/README.md does not document {name}");
        }
    }

    /// Interpolate `$[[ inputs.NAME ]]` in every key and string of the job,
    /// after YAML parsing, as GitLab does; inputs without a default are
    /// required and `options` are enforced.
    pub(super) fn interpolate(given: &[(&str, &str)]) -> Value {
        let (spec, job) = documents();
        let spec: Value = serde_yaml::from_str(&spec).unwrap();
        let mut inputs = BTreeMap::new();
        for (name, meta) in spec["spec"]["inputs"].as_mapping().unwrap() {
            let name = name.as_str().unwrap().to_owned();
            let value = match given.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => (*v).to_owned(),
                None => meta["default"].as_str().unwrap_or_else(|| panic!("input {name} is required")).to_owned(),
            };
            if let Some(options) = meta["options"].as_sequence() {
                assert!(options.iter().any(|o| o.as_str() == Some(&value)), "{name}: {value} is not an option");
            }
            inputs.insert(name, value);
        }
        for (n, _) in given {
            assert!(inputs.contains_key(*n), "the component has no input {n}");
        }
        fn expand(s: &str, inputs: &BTreeMap<String, String>) -> String {
            let mut out = String::new();
            let mut rest = s;
            while let Some(start) = rest.find("$[[") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find("]]").unwrap() + start;
                let name = rest[start + 3..end].trim().strip_prefix("inputs.").expect("only inputs are interpolated");
                out.push_str(inputs.get(name).unwrap_or_else(|| panic!("unknown input {name}")));
                rest = &rest[end + 2..];
            }
            out.push_str(rest);
            out
        }
        fn walk(v: &Value, inputs: &BTreeMap<String, String>) -> Value {
            match v {
                Value::String(s) => Value::String(expand(s, inputs)),
                Value::Sequence(items) => Value::Sequence(items.iter().map(|i| walk(i, inputs)).collect()),
                Value::Mapping(m) => {
                    Value::Mapping(m.iter().map(|(k, v)| (walk(k, inputs), walk(v, inputs))).collect())
                }
                other => other.clone(),
            }
        }
        walk(&serde_yaml::from_str(&job).unwrap(), &inputs)
    }

    pub(super) struct JobRun {
        pub(super) code: Option<i32>,
        pub(super) log: String,
    }

    /// Run `script:` entries `entries` of the job in one bash session, as a
    /// GitLab runner's shell executor does, with the job's variables.
    pub(super) fn run_job(job: &Value, dir: &Path, path: &str, entries: std::ops::Range<usize>) -> JobRun {
        let script = job["script"].as_sequence().unwrap();
        let mut body = String::from("set -eo pipefail\n");
        for entry in &script[entries] {
            body.push_str(entry.as_str().unwrap());
            body.push('\n');
        }
        let file = dir.join(".job-script.sh");
        std::fs::write(&file, body).unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(&file).current_dir(dir).env_clear().env("PATH", path).env("HOME", std::env::var("HOME").unwrap());
        cmd.env("CI", "true").env("GITLAB_CI", "true").env("CI_PROJECT_DIR", dir);
        for (k, v) in job["variables"].as_mapping().unwrap() {
            let v = if v.is_mapping() { &v["value"] } else { v };
            cmd.env(k.as_str().unwrap(), v.as_str().unwrap());
        }
        let out = cmd.output().unwrap();
        let (stdout, stderr) = text(&out);
        JobRun { code: out.status.code(), log: format!("{stdout}{stderr}") }
    }

    fn the_job(doc: &Value, name: &str) -> Value {
        doc.get(name).unwrap_or_else(|| panic!("no job {name} in {doc:?}")).clone()
    }

    #[tokio::test]
    async fn the_job_scans_the_testbed_and_leaves_gitlabs_reports() {
        cluster::in_namespace("gitlab", |client, ns| async move {
            web_pod(&client, &ns).await;
            let strict = strict_threshold();
            let kubeconfig = support::testbed_kubeconfig();
            let doc = interpolate(&[
                ("namespace", &ns),
                ("pod", "web"),
                ("threshold", strict.to_str().unwrap()),
                ("kubeconfig", kubeconfig.to_str().unwrap()),
                ("job-prefix", "cluster-"),
                ("version", "path"),
            ]);
            let job = the_job(&doc, "cluster-kscan");
            assert_eq!(job["stage"].as_str(), Some("test"));
            let dir = tempfile::tempdir().unwrap();
            let bin = kscan_on_path(dir.path());
            let work = dir.path().join("project");
            std::fs::create_dir_all(&work).unwrap();
            let run = run_job(&job, &work, &format!("{}:/usr/bin:/bin", bin.display()), 0..2);
            assert!(!run.log.contains("eyJ"), "a token was printed:\n{}", run.log);
            assert_eq!(run.code, Some(1), "the root container fails the strict gate:\n{}", run.log);

            // What artifacts:reports points at exists and is what GitLab reads.
            let reports = &job["artifacts"]["reports"];
            let junit = work.join(reports["junit"].as_str().unwrap());
            let codequality = work.join(reports["codequality"].as_str().unwrap());
            let dotenv = work.join(reports["dotenv"].as_str().unwrap());
            assert!(std::fs::read_to_string(&junit).unwrap().starts_with("<?xml"), "{}", run.log);
            let cq: serde_json::Value = serde_json::from_slice(&std::fs::read(&codequality).unwrap()).unwrap();
            assert!(!cq.as_array().unwrap().is_empty());
            let env = std::fs::read_to_string(&dotenv).unwrap();
            assert!(env.contains("KSCAN_VERDICT=failed\n"), "{env}");
            assert!(env.contains("KSCAN_HDF=kscan-results/web.app.hdf.json\n"), "{env}");
            assert_eq!(job["artifacts"]["when"].as_str(), Some("always"));
            assert!(work.join("kscan-results/kscan-summary.md").is_file(), "formats default to markdown");
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
        })
        .await;
    }

    #[test]
    fn the_install_uses_a_release_only_when_its_sha256_matches() {
        let binary = std::fs::read(env!("CARGO_BIN_EXE_kscan")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let good = format!("file://{}", releases(&dir.path().join("good"), &binary).display());
        let bad = format!("file://{}", releases(&dir.path().join("bad"), b"tampered").display());
        for (url, version, code) in [(&good, "v0.1.0", 0), (&good, "latest", 0), (&bad, "v0.1.0", 2)] {
            let job =
                the_job(&interpolate(&[("namespace", "shop"), ("version", version), ("releases-url", url)]), "kscan");
            let work = tempfile::tempdir().unwrap();
            let run = run_job(&job, work.path(), "/usr/bin:/bin", 0..1);
            assert_eq!(run.code, Some(code), "{url} {version}:\n{}", run.log);
            if code == 0 {
                assert!(run.log.contains(&format!("kscan {}", env!("CARGO_PKG_VERSION"))), "{}", run.log);
            } else {
                assert!(run.log.contains("does not match its SHA-256"), "{}", run.log);
                assert!(!work.path().join(".kscan-bin").join(version).exists());
            }
        }
        let job = the_job(&interpolate(&[("namespace", "shop"), ("releases-url", "file:///nonexistent")]), "kscan");
        let run = run_job(&job, dir.path(), "/usr/bin:/bin", 0..1);
        assert_eq!(run.code, Some(2), "{}", run.log);
        assert!(run.log.contains("kscan v0.1.0 could not be downloaded"), "{}", run.log);
    }
}

// ---------------------------------------------------------------------------
// The CircleCI orb (circleci/)
// ---------------------------------------------------------------------------

mod circleci_orb {
    use super::*;
    use serde_yaml::{Mapping, Value};
    use support::cluster::{self, kscan_objects};

    fn orb_dir() -> PathBuf {
        support::root().join("circleci")
    }

    /// Pack the orb as `circleci orb pack` does: `@orb.yml` is the root,
    /// every directory becomes a key whose entries are its YAML files by
    /// name, and `<<include(PATH)>>` is replaced by the file's text.
    pub(super) fn pack() -> Value {
        let dir = orb_dir();
        let include = |text: &str| -> String {
            let mut out = String::new();
            let mut rest = text;
            while let Some(start) = rest.find("<<include(") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find(")>>").unwrap() + start;
                let path = dir.join(&rest[start + 10..end]);
                let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                // As a YAML literal block at the key's indentation.
                let indent =
                    out.rsplit('\n').next().unwrap().len() - out.rsplit('\n').next().unwrap().trim_start().len();
                let pad = " ".repeat(indent + 2);
                out.push('|');
                for line in body.lines() {
                    out.push('\n');
                    if !line.is_empty() {
                        out.push_str(&pad);
                    }
                    out.push_str(line);
                }
                rest = &rest[end + 3..];
            }
            out.push_str(rest);
            out
        };
        let mut orb: Value = serde_yaml::from_str(&std::fs::read_to_string(dir.join("@orb.yml")).unwrap()).unwrap();
        for key in ["commands", "jobs", "executors", "examples"] {
            let mut entries = Mapping::new();
            let mut files: Vec<_> = std::fs::read_dir(dir.join(key)).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            for file in files {
                let name = file.file_stem().unwrap().to_string_lossy().into_owned();
                let text = include(&std::fs::read_to_string(&file).unwrap());
                let value: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                entries.insert(Value::String(name), value);
            }
            orb[key] = Value::Mapping(entries);
        }
        orb
    }

    #[test]
    fn the_packed_orb_and_its_examples_are_valid_circleci_config() {
        let orb = pack();
        let dir = tempfile::tempdir().unwrap();
        let packed = dir.path().join("orb.yml");
        std::fs::write(&packed, serde_yaml::to_string(&orb).unwrap()).unwrap();
        let mut files = vec![packed];
        for (name, example) in orb["examples"].as_mapping().unwrap() {
            let path = dir.path().join(format!("example-{}.yml", name.as_str().unwrap()));
            std::fs::write(&path, serde_yaml::to_string(&example["usage"]).unwrap()).unwrap();
            files.push(path);
        }
        assert!(files.len() >= 3);
        let mut args = vec!["--builtin-schema".to_owned(), "vendor.circle-ci".to_owned()];
        args.extend(files.iter().map(|f| f.display().to_string()));
        validate("check-jsonschema", &args.iter().map(String::as_str).collect::<Vec<_>>());
        for key in ["install", "scan", "report"] {
            assert!(orb["commands"][key].is_mapping(), "command {key}");
        }
        assert!(orb["jobs"]["scan"].is_mapping());
        validate(
            "shellcheck",
            &["circleci/scripts/install.sh", "circleci/scripts/scan.sh", "circleci/scripts/report.sh"],
        );
    }

    /// Expand `<< parameters.NAME >>` with `params`.
    fn expand(v: &Value, params: &BTreeMap<String, String>) -> Value {
        match v {
            Value::String(s) => {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(start) = rest.find("<<") {
                    let end = rest[start..].find(">>").unwrap() + start;
                    let expr = rest[start + 2..end].trim();
                    let Some(name) = expr.strip_prefix("parameters.") else {
                        panic!("unexpanded {expr} (packing includes first)")
                    };
                    out.push_str(&rest[..start]);
                    out.push_str(params.get(name).unwrap_or_else(|| panic!("undeclared parameter {name}")));
                    rest = &rest[end + 2..];
                }
                out.push_str(rest);
                Value::String(out)
            }
            Value::Sequence(items) => Value::Sequence(items.iter().map(|i| expand(i, params)).collect()),
            Value::Mapping(m) => Value::Mapping(m.iter().map(|(k, v)| (k.clone(), expand(v, params))).collect()),
            other => other.clone(),
        }
    }

    /// Bind `given` to the declared parameters of `def` (defaults, required).
    fn bind(def: &Value, given: &Mapping) -> BTreeMap<String, String> {
        let mut params = BTreeMap::new();
        for (name, meta) in def["parameters"].as_mapping().cloned().unwrap_or_default() {
            let name = name.as_str().unwrap().to_owned();
            let value = match given.get(name.as_str()) {
                Some(v) => v.as_str().unwrap().to_owned(),
                None => meta["default"].as_str().unwrap_or_else(|| panic!("parameter {name} is required")).to_owned(),
            };
            if let Some(options) = meta["enum"].as_sequence() {
                assert!(options.iter().any(|o| o.as_str() == Some(&value)), "{name}: {value} not in enum");
            }
            params.insert(name, value);
        }
        for k in given.keys() {
            assert!(params.contains_key(k.as_str().unwrap()), "undeclared parameter {k:?}");
        }
        params
    }

    #[derive(Debug, Default)]
    pub(super) struct JobRun {
        pub(super) steps: Vec<(String, Option<i32>)>,
        pub(super) stored: Vec<(String, String)>,
        pub(super) log: String,
    }

    /// Run job `job` of the packed orb with `given` parameters as CircleCI
    /// does: orb commands expanded, each `run:` in `/bin/bash -eo pipefail`
    /// with its environment and `$BASH_ENV`, later steps skipped after a
    /// failure unless `when: always`.
    pub(super) fn run_job(orb: &Value, job: &str, given: &Mapping, work: &Path, path: &str) -> JobRun {
        let def = &orb["jobs"][job];
        let params = bind(def, given);
        let bash_env = work.join(".bash_env");
        std::fs::write(&bash_env, "").unwrap();
        let mut run = JobRun::default();
        let mut failed = false;
        let mut steps = Vec::new();
        for step in expand(&def["steps"], &params).as_sequence().unwrap() {
            let (name, args) = match step {
                Value::String(s) => (s.clone(), Mapping::new()),
                Value::Mapping(m) => {
                    let (k, v) = m.iter().next().unwrap();
                    (k.as_str().unwrap().to_owned(), v.as_mapping().cloned().unwrap_or_default())
                }
                _ => panic!("bad step {step:?}"),
            };
            match orb["commands"].get(name.as_str()) {
                Some(command) => {
                    let p = bind(command, &args);
                    steps.extend(expand(&command["steps"], &p).as_sequence().unwrap().iter().cloned());
                }
                None => steps.push(step.clone()),
            }
        }
        for step in steps {
            if step.as_str() == Some("checkout") {
                continue;
            }
            let (kind, body) = step
                .as_mapping()
                .unwrap()
                .iter()
                .next()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
                .unwrap();
            match kind.as_str() {
                "run" => {
                    let always = body["when"].as_str() == Some("always");
                    let name = body["name"].as_str().unwrap().to_owned();
                    if failed && !always {
                        run.steps.push((name, None));
                        continue;
                    }
                    let mut cmd = Command::new("/bin/bash");
                    cmd.args(["-eo", "pipefail", "-c", body["command"].as_str().unwrap()])
                        .current_dir(work)
                        .env_clear()
                        .env("PATH", path)
                        .env("HOME", work.join("home"))
                        .env("BASH_ENV", &bash_env)
                        .env("CI", "true")
                        .env("CIRCLECI", "true");
                    for (k, v) in body["environment"].as_mapping().cloned().unwrap_or_default() {
                        cmd.env(k.as_str().unwrap(), v.as_str().unwrap());
                    }
                    let out = cmd.output().unwrap();
                    let (stdout, stderr) = text(&out);
                    run.log.push_str(&format!("--- {name} ({:?})\n{stdout}{stderr}", out.status.code()));
                    failed |= !out.status.success();
                    run.steps.push((name, out.status.code()));
                }
                "store_test_results" | "store_artifacts" => {
                    run.stored.push((kind.clone(), body["path"].as_str().unwrap().to_owned()));
                }
                other => panic!("this runner does not know the step {other}"),
            }
        }
        run
    }

    pub(super) fn mapping(pairs: &[(&str, &str)]) -> Mapping {
        pairs.iter().map(|(k, v)| (Value::String((*k).into()), Value::String((*v).into()))).collect()
    }

    #[tokio::test]
    async fn the_scan_job_scans_the_testbed_and_stores_junit_and_artifacts() {
        cluster::in_namespace("orb", |client, ns| async move {
            web_pod(&client, &ns).await;
            let dir = tempfile::tempdir().unwrap();
            let work = dir.path().join("project");
            std::fs::create_dir_all(work.join("home")).unwrap();
            let url = local_release(dir.path());
            let strict = strict_threshold();
            let kubeconfig = support::testbed_kubeconfig();
            let run = run_job(
                &pack(),
                "scan",
                &mapping(&[
                    ("namespace", &ns),
                    ("pod", "web"),
                    ("threshold", strict.to_str().unwrap()),
                    ("kubeconfig", kubeconfig.to_str().unwrap()),
                    ("releases_url", &url),
                    ("version", "v0.1.0"),
                ]),
                &work,
                "/usr/bin:/bin",
            );
            assert!(!run.log.contains("eyJ"), "a token was printed:\n{}", run.log);
            // Installed from the release (no kscan on PATH), scanned, gate failed.
            assert_eq!(run.steps, [("Install kscan".into(), Some(0)), ("kscan scan".into(), Some(1))], "{}", run.log);
            assert!(run.log.contains("circleci: junit kscan-results/kscan-junit.xml"), "{}", run.log);
            assert_eq!(
                run.stored,
                [
                    ("store_test_results".into(), "kscan-results/kscan-junit.xml".into()),
                    ("store_artifacts".into(), "kscan-results".into())
                ]
            );
            for file in ["kscan-junit.xml", "kscan-summary.md", "kscan.sarif", "web.app.hdf.json"] {
                assert!(work.join("kscan-results").join(file).is_file(), "{file}\n{}", run.log);
            }
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
        })
        .await;
    }

    #[test]
    fn a_failed_scan_still_reports_what_is_there_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("project");
        std::fs::create_dir_all(work.join("home")).unwrap();
        let bin = kscan_on_path(dir.path());
        let run = run_job(
            &pack(),
            "scan",
            &mapping(&[("namespace", "shop"), ("pod", "Not_A_Name"), ("version", "path")]),
            &work,
            &format!("{}:/usr/bin:/bin", bin.display()),
        );
        assert_eq!(run.steps, [("Install kscan".into(), Some(0)), ("kscan scan".into(), Some(2))], "{}", run.log);
        assert!(run.log.contains("is not a valid RFC 1123 subdomain"), "{}", run.log);
        // The test results and artifacts are stored whatever the scan's exit code.
        assert_eq!(run.stored.len(), 2, "{:?}", run.stored);
    }
}

// ---------------------------------------------------------------------------
// AWS CodeBuild (examples/codebuild/buildspec.yml)
// ---------------------------------------------------------------------------

mod codebuild {
    use super::*;
    use serde_yaml::Value;
    use support::cluster::{self, kscan_objects};

    const PHASES: [&str; 4] = ["install", "pre_build", "build", "post_build"];

    pub(super) fn buildspec() -> Value {
        serde_yaml::from_str(
            &std::fs::read_to_string(support::root().join("examples/codebuild/buildspec.yml")).unwrap(),
        )
        .unwrap()
    }

    fn keys(v: &Value) -> Vec<String> {
        v.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect()
    }

    fn only(what: &str, v: &Value, allowed: &[&str]) {
        for k in keys(v) {
            assert!(allowed.contains(&k.as_str()), "{what}: {k} is not a CodeBuild buildspec key");
        }
    }

    /// No published schema exists: the keys are checked against the
    /// buildspec reference (version 0.2).
    #[test]
    fn the_buildspec_is_version_0_2_with_only_documented_keys() {
        let spec = buildspec();
        assert_eq!(spec["version"].as_f64(), Some(0.2));
        only(
            "top level",
            &spec,
            &["version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"],
        );
        only(
            "env",
            &spec["env"],
            &[
                "shell",
                "variables",
                "parameter-store",
                "exported-variables",
                "secrets-manager",
                "git-credential-helper",
            ],
        );
        only("phases", &spec["phases"], &PHASES);
        for (name, phase) in spec["phases"].as_mapping().unwrap() {
            only(name.as_str().unwrap(), phase, &["run-as", "on-failure", "runtime-versions", "commands", "finally"]);
        }
        for (name, group) in spec["reports"].as_mapping().unwrap() {
            only(name.as_str().unwrap(), group, &["files", "base-directory", "discard-paths", "file-format"]);
            assert_eq!(group["file-format"].as_str(), Some("JUNITXML"));
        }
        only(
            "artifacts",
            &spec["artifacts"],
            &[
                "files",
                "name",
                "discard-paths",
                "base-directory",
                "exclude-paths",
                "enable-symlinks",
                "s3-prefix",
                "secondary-artifacts",
            ],
        );
    }

    /// Run the phases in CodeBuild's order in one bash session (variables
    /// and the working directory carry over): a failed command ends its
    /// phase and skips the next phases, except post_build, which always runs.
    pub(super) fn run(spec: &Value, vars: &[(&str, &str)], src: &Path, path: &str) -> (Vec<(String, i32)>, String) {
        let mut script = String::from(
            "results=()\nfailed=0\nrun_phase() {\n  local name=$1; shift\n  if [ \"$failed\" -ne 0 ] && [ \"$name\" != post_build ]; then return; fi\n  local rc=0\n  for c in \"$@\"; do\n    eval \"$c\"; rc=$?\n    [ \"$rc\" -eq 0 ] || break\n  done\n  echo \"PHASE $name $rc\"\n  [ \"$rc\" -eq 0 ] || failed=1\n}\n",
        );
        for phase in PHASES {
            let commands = spec["phases"][phase]["commands"].as_sequence().map(|c| c.to_vec()).unwrap_or_default();
            if commands.is_empty() {
                continue;
            }
            let quoted: Vec<String> =
                commands.iter().map(|c| format!("'{}'", c.as_str().unwrap().replace('\'', "'\\''"))).collect();
            script.push_str(&format!("run_phase {phase} {}\n", quoted.join(" ")));
        }
        let file = src.join(".codebuild.sh");
        std::fs::write(&file, script).unwrap();
        let mut cmd = Command::new("bash");
        // The build's temporary files (mktemp) stay in the test's directory,
        // also when a phase fails before the buildspec removes them.
        let tmp = src.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        cmd.arg(&file).current_dir(src).env_clear().env("PATH", path).env("HOME", src.join("home"));
        cmd.env("TMPDIR", &tmp).env("CODEBUILD_BUILD_ID", "kscan:1").env("CODEBUILD_SRC_DIR", src);
        for (k, v) in spec["env"]["variables"].as_mapping().unwrap() {
            cmd.env(k.as_str().unwrap(), v.as_str().unwrap());
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let (stdout, stderr) = text(&out);
        let phases = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("PHASE "))
            .map(|l| {
                let (name, rc) = l.split_once(' ').unwrap();
                (name.to_owned(), rc.parse().unwrap())
            })
            .collect();
        (phases, format!("{stdout}{stderr}"))
    }

    fn phases(p: &[(&str, i32)]) -> Vec<(String, i32)> {
        p.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    }

    #[tokio::test]
    async fn the_phases_scan_the_testbed_and_leave_the_report_group_files() {
        cluster::in_namespace("codebuild", |client, ns| async move {
            web_pod(&client, &ns).await;
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("src");
            std::fs::create_dir_all(src.join("home")).unwrap();
            let url = local_release(dir.path());
            let strict = strict_threshold();
            let kubeconfig = support::testbed_kubeconfig();
            let spec = buildspec();
            let (ran, log) = run(
                &spec,
                &[
                    ("KSCAN_RELEASES_URL", &url),
                    ("KSCAN_NAMESPACE", &ns),
                    ("KSCAN_POD", "web"),
                    ("KSCAN_THRESHOLD", strict.to_str().unwrap()),
                    ("KSCAN_KUBECONFIG", kubeconfig.to_str().unwrap()),
                ],
                &src,
                "/usr/bin:/bin",
            );
            assert!(!log.contains("eyJ"), "a token was printed:\n{log}");
            assert_eq!(ran, phases(&[("install", 0), ("pre_build", 0), ("build", 1)]), "{log}");
            assert!(log.contains("codebuild: junit kscan-results/kscan-junit.xml"), "{log}");
            let group = &spec["reports"]["kscan"];
            let junit = src.join(group["base-directory"].as_str().unwrap()).join(group["files"][0].as_str().unwrap());
            assert!(std::fs::read_to_string(junit).unwrap().starts_with("<?xml"));
            assert!(src.join(spec["artifacts"]["base-directory"].as_str().unwrap()).join("kscan.sarif").is_file());
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
        })
        .await;
    }

    #[test]
    fn a_tampered_release_fails_install_and_only_post_build_runs() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("home")).unwrap();
        let url = format!("file://{}", releases(dir.path(), b"tampered").display());
        let (ran, log) = run(&buildspec(), &[("KSCAN_RELEASES_URL", &url)], &src, "/usr/bin:/bin");
        assert_eq!(ran, phases(&[("install", 1)]), "{log}");
        assert!(log.contains("FAILED"), "sha256sum reports the mismatch: {log}");
        assert!(!src.join("home/.local/bin/kscan").exists());
    }
}

// ---------------------------------------------------------------------------
// The README's blocks, pasted into a fresh directory
// ---------------------------------------------------------------------------

mod readme {
    use super::*;
    use serde_yaml::Value;

    /// The README's fenced blocks of `lang`, in order.
    fn blocks(lang: &str) -> Vec<String> {
        let text = std::fs::read_to_string(support::root().join("README.md")).unwrap();
        let fence = format!("```{lang}\n");
        text.split(&fence).skip(1).map(|b| b.split("```").next().unwrap().to_owned()).collect()
    }

    fn check(schema: &str, dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        validate("check-jsonschema", &["--builtin-schema", schema, path.to_str().unwrap()]);
        path
    }

    #[test]
    fn the_github_block_is_a_valid_workflow_using_the_actions_inputs() {
        let yaml = blocks("yaml");
        let block = yaml.iter().find(|b| b.contains("uses: kscan/kscan@")).expect("a GitHub block");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        // As the user's repository would use it: here through `uses: ./`
        // so that actionlint checks the inputs against action.yml.
        std::fs::copy(support::root().join("action.yml"), dir.path().join("action.yml")).unwrap();
        let local = block.replace("uses: kscan/kscan@v0.1.0", "uses: ./");
        check("vendor.github-workflows", dir.path(), ".github/workflows/compliance.yml", &local);
        let out = Command::new(support::tool("actionlint")).current_dir(dir.path()).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "actionlint:\n{stdout}{stderr}");
    }

    #[test]
    fn the_gitlab_block_is_valid_and_names_only_the_components_inputs() {
        let yaml = blocks("yaml");
        let block = yaml.iter().find(|b| b.contains("gitlab/templates/kscan.yml")).expect("a GitLab block");
        let dir = tempfile::tempdir().unwrap();
        check("vendor.gitlab-ci", dir.path(), ".gitlab-ci.yml", block);
        let spec_text = std::fs::read_to_string(support::root().join("gitlab/templates/kscan.yml")).unwrap();
        let spec: Value = serde_yaml::from_str(spec_text.split("\n---\n").next().unwrap()).unwrap();
        let doc: Value = serde_yaml::from_str(block).unwrap();
        for (name, _) in doc["include"][0]["inputs"].as_mapping().unwrap() {
            assert!(!spec["spec"]["inputs"][name.as_str().unwrap()].is_null(), "no input {name:?}");
        }
    }

    #[test]
    fn the_circleci_block_is_valid_and_names_only_the_jobs_parameters() {
        let yaml = blocks("yaml");
        let block = yaml.iter().find(|b| b.contains("kscan/scan:")).expect("a CircleCI block");
        let dir = tempfile::tempdir().unwrap();
        check("vendor.circle-ci", dir.path(), ".circleci/config.yml", block);
        let job: Value =
            serde_yaml::from_str(&std::fs::read_to_string(support::root().join("circleci/jobs/scan.yml")).unwrap())
                .unwrap();
        let doc: Value = serde_yaml::from_str(block).unwrap();
        let params = &doc["workflows"]["compliance"]["jobs"][0]["kscan/scan"];
        for (name, _) in params.as_mapping().unwrap() {
            assert!(!job["parameters"][name.as_str().unwrap()].is_null(), "no parameter {name:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// kscan github comment / check-run against a local recording API server
// ---------------------------------------------------------------------------

mod github_api {
    use super::*;
    use github_server::Server;

    const TOKEN: &str = "ghs_kscanTestToken0123456789";

    fn github(f: &Fixture, server: &Server, args: &[&str]) -> Output {
        let mut cmd = kscan_clean();
        cmd.current_dir(f.dir.path())
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", &server.base)
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_REF", "refs/pull/7/merge")
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .arg("github")
            .args(args);
        let out = cmd.output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "the token was printed:\n{stdout}{stderr}");
        out
    }

    #[test]
    fn a_second_run_updates_the_same_comment() {
        let f = Fixture::new();
        let server = Server::start();
        let args = ["comment", "web.hdf.json", "db.hdf.json", "--threshold", "strict.yml"];

        let out = github(&f, &server, &args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "the gate fails:\n{stdout}{stderr}");
        assert_eq!(stdout, "created comment 1001 on pull request #7\n");
        let first = server.take();
        let routes: Vec<(String, String)> = first.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
        assert_eq!(
            routes,
            [
                ("GET".into(), "/api/v3/repos/acme/shop/issues/7/comments?per_page=100&page=1".into()),
                ("POST".into(), "/api/v3/repos/acme/shop/issues/7/comments".into()),
            ]
        );
        for r in &first {
            assert!(r.authorization.as_deref().is_some_and(|a| a.ends_with(TOKEN)), "{:?}", r.authorization);
        }
        let body = first[1].body["body"].as_str().unwrap();
        assert!(body.starts_with("<!-- kscan:comment:kscan -->\n"), "{body}");
        assert!(body.contains("ci-fixture"), "the Markdown summary: {body}");

        let out = github(&f, &server, &args);
        assert_eq!(text(&out).0, "updated comment 1001 on pull request #7\n");
        let second = server.take();
        let routes: Vec<(&str, &str)> = second.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
        assert_eq!(
            routes,
            [
                ("GET", "/api/v3/repos/acme/shop/issues/7/comments?per_page=100&page=1"),
                ("PATCH", "/api/v3/repos/acme/shop/issues/comments/1001"),
            ]
        );
        assert_eq!(server.comments().len(), 1, "one comment, edited");

        // Another marker is another comment.
        let mut other = args.to_vec();
        other.extend(["--marker", "nightly"]);
        assert_eq!(text(&github(&f, &server, &other)).0, "created comment 1002 on pull request #7\n");
        assert_eq!(server.comments().len(), 2);
    }

    #[test]
    fn a_check_run_with_120_annotations_takes_three_requests_of_50_50_and_20() {
        let f = Fixture::new();
        hdf(&f.path("many.hdf.json"), &[("high", 0.7, 70), ("medium", 0.5, 40), ("low", 0.3, 10)]);
        let server = Server::start();
        let out = github(&f, &server, &["check-run", "many.hdf.json", "--threshold", "strict.yml"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert_eq!(stdout, "check run 555 (failure) with 120 annotations in 3 requests\n");
        let requests = server.take();
        let shape: Vec<(&str, &str, usize, &str)> = requests
            .iter()
            .map(|r| {
                (
                    r.method.as_str(),
                    r.path.as_str(),
                    r.body["output"]["annotations"].as_array().unwrap().len(),
                    r.body["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("POST", "/api/v3/repos/acme/shop/check-runs", 50, "in_progress"),
                ("PATCH", "/api/v3/repos/acme/shop/check-runs/555", 50, "in_progress"),
                ("PATCH", "/api/v3/repos/acme/shop/check-runs/555", 20, "completed"),
            ]
        );
        let create = &requests[0].body;
        assert_eq!(create["name"], "kscan");
        assert_eq!(create["head_sha"], "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(requests[2].body["conclusion"], "failure");
        assert!(requests[..2].iter().all(|r| r.body.get("conclusion").is_none()));
        // Most severe first: 50 high, then 20 high + 30 medium, then 10 medium + 10 low.
        let levels = |i: usize| -> Vec<String> {
            requests[i].body["output"]["annotations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["annotation_level"].as_str().unwrap().to_owned())
                .collect()
        };
        assert!(levels(0).iter().all(|l| l == "failure"));
        assert_eq!(levels(2).iter().filter(|l| *l == "notice").count(), 10);
        let a = &create["output"]["annotations"][0];
        assert_eq!(a["path"], "controls/fixture.rb");
        assert_eq!((a["start_line"].as_u64(), a["end_line"].as_u64()), (Some(3), Some(3)));
        assert_eq!(a["title"], "high-0: high-0 holds");
        assert!(create["output"]["summary"].as_str().unwrap().contains("ci-fixture"));
    }

    #[test]
    fn api_errors_are_exit_3_and_name_the_call() {
        let f = Fixture::new();
        let server = Server::start();
        server.fail_with(401);
        let out = github(&f, &server, &["comment", "web.hdf.json"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("GitHub API: listing the pull request's comments failed: Bad credentials"), "{stderr}");
    }

    #[test]
    fn without_a_token_nothing_is_sent() {
        let f = Fixture::new();
        let server = Server::start();
        let out = kscan_clean()
            .current_dir(f.dir.path())
            .env_remove("GITHUB_TOKEN")
            .env("GITHUB_API_URL", &server.base)
            .args(["github", "check-run", "web.hdf.json", "--repo", "acme/shop", "--sha", "0123456"])
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("GITHUB_TOKEN is not set"), "{stderr}");
        assert!(server.take().is_empty());
    }
}

// ---------------------------------------------------------------------------
// Exit codes 2 and 3 on every platform (no cluster needed: a bad name, and
// a cluster that does not answer)
// ---------------------------------------------------------------------------

/// A kubeconfig for an API server that refuses connections.
fn unreachable_kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("unreachable.kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    \
         insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: not-a-token\ncontexts:\n- name: c\n  \
         context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
    )
    .unwrap();
    path
}

/// (pod, kubeconfig, expected exit code) for a bad name and an unreachable cluster.
fn failing_cases(dir: &Path) -> Vec<(&'static str, PathBuf, i32)> {
    vec![("Not_A_Name", PathBuf::from("/nonexistent"), 2), ("web", unreachable_kubeconfig(dir), 3)]
}

mod exit_codes {
    use super::*;

    #[test]
    fn the_action_exits_2_and_3_with_the_code_in_its_outputs_and_one_annotation() {
        let dir = tempfile::tempdir().unwrap();
        let bin = kscan_on_path(dir.path());
        for (pod, kubeconfig, code) in failing_cases(dir.path()) {
            let work = tempfile::tempdir().unwrap();
            let (w, temp) = (work.path().join("work"), work.path().join("temp"));
            std::fs::create_dir_all(&w).unwrap();
            std::fs::create_dir_all(&temp).unwrap();
            let mut r = runner::Runner::new(&support::root(), &w, &temp, &format!("{}:/usr/bin:/bin", bin.display()));
            r.input("namespace", "shop").input("pod", pod).input("kubeconfig", kubeconfig.to_str().unwrap());
            r.input("version", "path");
            let runs = r.run();
            let scan = &runs[2];
            assert_eq!(scan.code, Some(code), "{}{}", scan.stdout, scan.stderr);
            let outputs = r.outputs();
            assert_eq!(
                (outputs["exit-code"].as_str(), outputs["verdict"].as_str()),
                (code.to_string().as_str(), "error")
            );
            assert_eq!(scan.stdout.lines().filter(|l| l.starts_with("::error ")).count(), 1, "{}", scan.stdout);
            assert_eq!(r.summary.matches(&format!("kscan: exit {code}")).count(), 1, "{}", r.summary);
        }
    }

    #[test]
    fn the_gitlab_job_exits_2_and_3() {
        let dir = tempfile::tempdir().unwrap();
        let bin = kscan_on_path(dir.path());
        for (pod, kubeconfig, code) in failing_cases(dir.path()) {
            let doc = gitlab_component::interpolate(&[
                ("namespace", "shop"),
                ("pod", pod),
                ("kubeconfig", kubeconfig.to_str().unwrap()),
                ("version", "path"),
            ]);
            let work = tempfile::tempdir().unwrap();
            let run = gitlab_component::run_job(
                &doc["kscan"],
                work.path(),
                &format!("{}:/usr/bin:/bin", bin.display()),
                0..2,
            );
            assert_eq!(run.code, Some(code), "{}", run.log);
        }
    }

    #[test]
    fn the_orb_job_exits_2_and_3() {
        let dir = tempfile::tempdir().unwrap();
        let bin = kscan_on_path(dir.path());
        for (pod, kubeconfig, code) in failing_cases(dir.path()) {
            let work = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(work.path().join("home")).unwrap();
            let given = circleci_orb::mapping(&[
                ("namespace", "shop"),
                ("pod", pod),
                ("kubeconfig", kubeconfig.to_str().unwrap()),
                ("version", "path"),
            ]);
            let run = circleci_orb::run_job(
                &circleci_orb::pack(),
                "scan",
                &given,
                work.path(),
                &format!("{}:/usr/bin:/bin", bin.display()),
            );
            assert_eq!(
                run.steps,
                [("Install kscan".into(), Some(0)), ("kscan scan".into(), Some(code))],
                "{}",
                run.log
            );
        }
    }

    #[test]
    fn the_codebuild_build_phase_exits_2_and_3() {
        let dir = tempfile::tempdir().unwrap();
        let url = local_release(dir.path());
        for (pod, kubeconfig, code) in failing_cases(dir.path()) {
            let src = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(src.path().join("home")).unwrap();
            let vars = [
                ("KSCAN_RELEASES_URL", url.as_str()),
                ("KSCAN_POD", pod),
                ("KSCAN_KUBECONFIG", kubeconfig.to_str().unwrap()),
                ("KSCAN_THRESHOLD", ""),
            ];
            let (ran, log) = codebuild::run(&codebuild::buildspec(), &vars, src.path(), "/usr/bin:/bin");
            assert_eq!(ran.last(), Some(&("build".to_owned(), code)), "{log}");
        }
    }
}

// ---------------------------------------------------------------------------
// The Action under a real GitHub Actions runner: nektos/act, the job on this
// host (`-P ubuntu-24.04=-self-hosted`), no Docker, remote actions offline
// ---------------------------------------------------------------------------

mod act {
    use super::*;
    use support::cluster::{self, kscan_objects};

    /// What one act run showed.
    struct ActRun {
        code: Option<i32>,
        log: String,
    }

    impl ActRun {
        /// The `OUT name=value` lines the last step printed.
        fn out(&self, name: &str) -> String {
            let prefix = format!("| OUT {name}=");
            self.log.lines().find_map(|l| l.split_once(&prefix).map(|(_, v)| v.trim().to_owned())).unwrap_or_default()
        }

        /// How many annotations of `level` act saw.
        fn annotations(&self, level: &str) -> usize {
            self.log.lines().filter(|l| l.contains(&format!("❗  ::{level} "))).count()
        }

        /// How many kscan summaries (`## … kscan: …` headings) the step
        /// summary holds. act shows a composite action's summary twice, for
        /// its inner step and again for the `uses: ./` step: both must be
        /// the same text.
        fn summaries(&self) -> usize {
            let mut blocks: Vec<String> = Vec::new();
            let mut lines = self.log.lines().peekable();
            while let Some(line) = lines.next() {
                if let Some((_, first)) = line.split_once("⚙  Summary - ") {
                    let mut block = vec![first.to_owned()];
                    while let Some(next) = lines.peek() {
                        if next.starts_with('[') {
                            break;
                        }
                        block.push(lines.next().unwrap().to_owned());
                    }
                    blocks.push(block.join("\n"));
                }
            }
            assert!(blocks.windows(2).all(|w| w[0] == w[1]), "different summaries: {blocks:#?}");
            blocks.first().map_or(0, |b| b.lines().filter(|l| l.starts_with("## ") && l.contains("kscan")).count())
        }
    }

    /// A workflow that copies the action (`action.yml`, `action/`) of this
    /// checkout into act's (empty) workspace,
    /// runs the Action with `with`, and prints its outputs.
    fn workflow(with: &[(&str, &str)]) -> String {
        let mut inputs = String::new();
        for (k, v) in with.iter().chain(&[("version", "path"), ("cache", "false"), ("upload-sarif", "false")]) {
            inputs.push_str(&format!("          {k}: '{}'\n", v.replace('\'', "''")));
        }
        let outputs = ["verdict", "compliance", "failed", "exit-code", "sarif", "junit", "manifest"];
        let env: String = outputs
            .iter()
            .map(|o| {
                format!("          OUT_{}: ${{{{ steps.kscan.outputs.{o} }}}}\n", o.replace('-', "_").to_uppercase())
            })
            .collect();
        let print: String = outputs
            .iter()
            .map(|o| format!("          echo \"OUT {o}=$OUT_{}\"\n", o.replace('-', "_").to_uppercase()))
            .collect();
        format!(
            "name: kscan-under-act\non: push\njobs:\n  scan:\n    runs-on: ubuntu-24.04\n    steps:\n      \
             - name: Check out the action\n        run: cp -a \"$KSCAN_CHECKOUT/action.yml\" \"$KSCAN_CHECKOUT/action\" .\n      - id: kscan\n        \
             continue-on-error: true\n        uses: ./\n        with:\n{inputs}      - name: Outputs\n        env:\n{env}          \
             OUT_OUTCOME: ${{{{ steps.kscan.outcome }}}}\n        run: |\n{print}          echo \"OUT outcome=$OUT_OUTCOME\"\n"
        )
    }

    /// A local folder for each third-party action `action.yml` uses
    /// (`owner/repo@ref`, with the action in a subfolder for `owner/repo/path@ref`).
    /// act fetches every action of a composite before it runs, even those
    /// whose `if` is false, and GitHub cannot be reached from here: each
    /// stands in with a step that says what it was given. (They are skipped
    /// by the tests' inputs: cache: false, upload-sarif: false.)
    fn third_party_stand_ins(dir: &Path) -> Vec<(String, PathBuf)> {
        let action = std::fs::read_to_string(support::root().join("action.yml")).unwrap();
        let mut stand_ins = Vec::new();
        for uses in action.lines().filter_map(|l| l.trim().strip_prefix("uses: ")) {
            let uses = uses.split_whitespace().next().unwrap();
            let (name, git_ref) = uses.split_once('@').unwrap();
            let mut parts = name.splitn(3, '/');
            let repository = format!("{}/{}", parts.next().unwrap(), parts.next().unwrap());
            let folder = dir.join("stand-ins").join(repository.replace('/', "_"));
            let action_dir = parts.next().map_or(folder.clone(), |sub| folder.join(sub));
            std::fs::create_dir_all(&action_dir).unwrap();
            std::fs::write(
                action_dir.join("action.yml"),
                format!(
                    "name: stand-in\ndescription: stands in for {uses}\nruns:\n  using: composite\n  steps:\n    \
                     - shell: bash\n      run: echo 'stand-in for {uses}'\n"
                ),
            )
            .unwrap();
            stand_ins.push((format!("{repository}@{git_ref}"), folder));
        }
        assert!(!stand_ins.is_empty(), "action.yml uses no third-party action: drop the stand-ins");
        stand_ins
    }

    /// A `kscan` for act's PATH that waits two seconds after the binary
    /// under test exits before passing its status on. act's host executor
    /// returns as soon as a step's process exits non-zero and closes the
    /// step's terminal before it has been drained (nektos/act v0.2.89,
    /// pkg/container/host_environment.go: `err = cmd.Run(); if err != nil
    /// { return err }` comes before `<-logctx.Done()`), so on a loaded
    /// machine the last lines a failing step prints (kscan's teardown
    /// annotation among them) went missing from its log: a step printing 40
    /// lines and exiting 4 showed 13 of them in 2 of 12 runs beside four
    /// busy loops, and all 40 in 12 of 12 with a one-second wait. GitHub's
    /// runner reads a step's output to the end; the wait gives act's reader
    /// the time to do the same.
    fn kscan_draining_act(dir: &Path) -> PathBuf {
        let bin = dir.join("act-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let shim = bin.join("kscan");
        std::fs::write(
            &shim,
            format!("#!/bin/sh\n'{}' \"$@\"\nstatus=$?\nsleep 2\nexit $status\n", env!("CARGO_BIN_EXE_kscan")),
        )
        .unwrap();
        std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        bin
    }

    fn act(with: &[(&str, &str)]) -> ActRun {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(".github/workflows")).unwrap();
        std::fs::write(repo.join(".github/workflows/kscan.yml"), workflow(with)).unwrap();
        let git = Command::new("git").args(["init", "-q"]).current_dir(&repo).status().unwrap();
        assert!(git.success());
        let bin = kscan_draining_act(dir.path());
        let mut cmd = Command::new(support::tool("act"));
        cmd.args(["push", "-P", "ubuntu-24.04=-self-hosted", "--action-offline-mode"]);
        for (repository, folder) in third_party_stand_ins(dir.path()) {
            cmd.arg("--local-repository").arg(format!("{repository}={}", folder.display()));
        }
        let out = cmd
            .arg("--env")
            .arg(format!("KSCAN_CHECKOUT={}", support::root().display()))
            .current_dir(&repo)
            .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()))
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        ActRun { code: out.status.code(), log: format!("{stdout}{stderr}") }
    }

    #[test]
    fn bad_input_and_an_unreachable_cluster_are_exit_2_and_3_with_one_annotation_and_one_summary() {
        let dir = tempfile::tempdir().unwrap();
        for (pod, kubeconfig, code) in failing_cases(dir.path()) {
            let run = act(&[("namespace", "shop"), ("pod", pod), ("kubeconfig", kubeconfig.to_str().unwrap())]);
            assert_eq!(run.code, Some(0), "the job continues on error:\n{}", run.log);
            assert_eq!(run.out("outcome"), "failure", "{}", run.log);
            assert_eq!(run.out("exit-code"), code.to_string(), "{}", run.log);
            assert_eq!(run.out("verdict"), "error", "{}", run.log);
            assert_eq!(run.annotations("error"), 1, "{}", run.log);
            assert_eq!(run.summaries(), 1, "{}", run.log);
        }
    }

    #[tokio::test]
    async fn a_failing_a_passing_gate_and_a_teardown_that_leaves_objects_give_their_outputs_once() {
        cluster::in_namespace("act", |client, ns| async move {
            web_pod(&client, &ns).await;
            let kubeconfig = support::testbed_kubeconfig();
            let strict = strict_threshold();
            let lenient = support::root().join("thresholds/lenient.yml");
            let base = [("namespace", ns.as_str()), ("pod", "web"), ("kubeconfig", kubeconfig.to_str().unwrap())];

            let failing = act(&[&base[..], &[("threshold", strict.to_str().unwrap())]].concat());
            assert!(!failing.log.contains("eyJ"), "a token was printed:\n{}", failing.log);
            assert_eq!(
                (failing.out("exit-code"), failing.out("verdict")),
                ("1".into(), "failed".into()),
                "{}",
                failing.log
            );
            assert_eq!(failing.out("outcome"), "failure");
            let failed: usize = failing.out("failed").parse().unwrap();
            assert!(failed >= 1);
            // One annotation per failed control (at most 10 per level), and one summary.
            let annotated =
                failing.annotations("error") + failing.annotations("warning") + failing.annotations("notice");
            assert!((1..=30).contains(&annotated), "{}", failing.log);
            for line in failing.log.lines().filter(|l| l.contains("❗  ::")) {
                let text = line.split_once("❗  ").unwrap().1;
                assert_eq!(failing.log.matches(text).count(), 1, "annotated twice: {text}");
            }
            assert_eq!(failing.summaries(), 1, "{}", failing.log);

            let passing = act(&[&base[..], &[("threshold", lenient.to_str().unwrap())]].concat());
            assert_eq!(
                (passing.out("exit-code"), passing.out("verdict")),
                ("0".into(), "passed".into()),
                "{}",
                passing.log
            );
            assert_eq!(passing.out("outcome"), "success", "{}", passing.log);
            assert_eq!(passing.summaries(), 1, "{}", passing.log);
            assert!(passing.out("compliance").parse::<u32>().unwrap() <= 100);
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());

            // A caller that may not delete: teardown leaves the run's objects, exit 4.
            let dir = tempfile::tempdir().unwrap();
            let no_delete = support::cluster::no_delete_kubeconfig(&client, &ns, dir.path()).await;
            let left = act(&[("namespace", ns.as_str()), ("pod", "web"), ("kubeconfig", no_delete.to_str().unwrap())]);
            assert_eq!((left.out("exit-code"), left.out("verdict")), ("4".into(), "not-gated".into()), "{}", left.log);
            assert_eq!(left.log.matches("❗  ::error title=kscan teardown::").count(), 1, "{}", left.log);
            assert_eq!(left.summaries(), 1, "{}", left.log);
        })
        .await;
    }
}

// ---------------------------------------------------------------------------
// The GitLab component under a real GitLab CI runner: gitlab-ci-local
// ---------------------------------------------------------------------------

mod gitlab_ci_local {
    use super::*;

    /// Run the component's job with `inputs` in a fresh project that
    /// includes it locally; returns the job's exit code as the runner
    /// reports it, and the log.
    fn run(inputs: &[(&str, &str)]) -> (Option<i32>, String) {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("templates")).unwrap();
        std::fs::copy(support::root().join("gitlab/templates/kscan.yml"), project.join("templates/kscan.yml")).unwrap();
        let mut ci = String::from("include:\n  - local: templates/kscan.yml\n    inputs:\n");
        for (k, v) in inputs.iter().chain(&[("version", "path")]) {
            ci.push_str(&format!("      {k}: '{}'\n", v.replace('\'', "''")));
        }
        std::fs::write(project.join(".gitlab-ci.yml"), ci).unwrap();
        for args in [
            &["init", "-q"][..],
            &["add", "-A"],
            &["-c", "user.email=t@kscan", "-c", "user.name=t", "commit", "-qm", "t"],
        ] {
            assert!(Command::new("git").args(args).current_dir(&project).status().unwrap().success());
        }
        let bin = kscan_on_path(dir.path());
        let out = Command::new(support::tool("gitlab-ci-local"))
            .args(["--force-shell-executor", "kscan"])
            .current_dir(&project)
            .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        let log = format!("{stdout}{stderr}");
        let code = log.lines().find_map(|l| l.split_once("kscan finished in ").map(|(_, r)| r)).map(|r| {
            if r.contains(" PASS ") {
                0
            } else {
                r.split(" FAIL ").nth(1).and_then(|c| c.trim().parse().ok()).unwrap_or(-1)
            }
        });
        (code, log)
    }

    #[test]
    fn the_job_exits_2_for_a_bad_name_and_3_for_a_cluster_that_does_not_answer() {
        let dir = tempfile::tempdir().unwrap();
        for (pod, kubeconfig, code) in failing_cases(dir.path()) {
            let (got, log) = run(&[("namespace", "shop"), ("pod", pod), ("kubeconfig", kubeconfig.to_str().unwrap())]);
            assert_eq!(got, Some(code), "{log}");
        }
    }
}

// ---------------------------------------------------------------------------
// Exit 4 on every platform: a caller that may create the run's RBAC objects
// but not delete them (on the testbed)
// ---------------------------------------------------------------------------

mod exit_4 {
    use super::*;
    use support::cluster::{self, no_delete_kubeconfig};

    /// Each wrapper's exit code for a scan of `ns/web` as `kubeconfig`,
    /// gated on `threshold` (empty: no gate); each must have written its
    /// JUnit file and, on GitHub, say so in `exit-code`.
    fn each_wrapper(ns: &str, kubeconfig: &str, threshold: &str, dir: &Path) -> Vec<(&'static str, Option<i32>)> {
        let bin = kscan_on_path(dir);
        let path = format!("{}:/usr/bin:/bin", bin.display());
        let mut codes = Vec::new();

        // GitHub: the composite steps as the runner runs them.
        let work = tempfile::tempdir().unwrap();
        let (w, temp) = (work.path().join("work"), work.path().join("temp"));
        std::fs::create_dir_all(&w).unwrap();
        std::fs::create_dir_all(&temp).unwrap();
        let mut r = runner::Runner::new(&support::root(), &w, &temp, &path);
        r.input("namespace", ns).input("pod", "web").input("kubeconfig", kubeconfig).input("version", "path");
        r.input("threshold", threshold);
        let runs = r.run();
        assert_eq!(r.outputs()["exit-code"], runs[2].code.unwrap().to_string());
        if runs[2].code == Some(4) {
            assert!(runs[2].stdout.contains("::error title=kscan teardown::"), "{}", runs[2].stdout);
        }
        assert!(w.join("kscan-results/kscan.sarif").is_file() && w.join("kscan-results/kscan-junit.xml").is_file());
        codes.push(("github", runs[2].code));

        // GitLab.
        let doc = gitlab_component::interpolate(&[
            ("namespace", ns),
            ("pod", "web"),
            ("kubeconfig", kubeconfig),
            ("threshold", threshold),
            ("version", "path"),
        ]);
        let work = tempfile::tempdir().unwrap();
        let run = gitlab_component::run_job(&doc["kscan"], work.path(), &path, 0..2);
        let env = std::fs::read_to_string(work.path().join("kscan-results/kscan.env")).unwrap();
        assert!(env.contains(&format!("KSCAN_EXIT_CODE={}\n", run.code.unwrap())), "{env}");
        codes.push(("gitlab", run.code));

        // CircleCI.
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(work.path().join("home")).unwrap();
        let given = circleci_orb::mapping(&[
            ("namespace", ns),
            ("pod", "web"),
            ("kubeconfig", kubeconfig),
            ("threshold", threshold),
            ("version", "path"),
        ]);
        let run = circleci_orb::run_job(&circleci_orb::pack(), "scan", &given, work.path(), &path);
        assert!(work.path().join("kscan-results/kscan-junit.xml").is_file(), "{}", run.log);
        codes.push(("circleci", run.steps.last().and_then(|(_, c)| *c)));

        // CodeBuild.
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("home")).unwrap();
        let url = local_release(dir);
        let vars = [
            ("KSCAN_RELEASES_URL", url.as_str()),
            ("KSCAN_NAMESPACE", ns),
            ("KSCAN_POD", "web"),
            ("KSCAN_KUBECONFIG", kubeconfig),
            ("KSCAN_THRESHOLD", threshold),
        ];
        let (ran, log) = codebuild::run(&codebuild::buildspec(), &vars, src.path(), "/usr/bin:/bin");
        assert!(src.path().join("kscan-results/kscan-junit.xml").is_file(), "{log}");
        codes.push(("codebuild", ran.last().filter(|(p, _)| p == "build").map(|(_, c)| *c)));
        codes
    }

    #[tokio::test]
    async fn every_wrapper_exits_0_for_a_passing_gate_and_4_when_teardown_leaves_objects() {
        cluster::in_namespace("exit-0-4", |client, ns| async move {
            web_pod(&client, &ns).await;
            let dir = tempfile::tempdir().unwrap();
            let pass = dir.path().join("pass.yml");
            std::fs::write(&pass, "compliance:\n  min: 0\n").unwrap();
            let admin = support::testbed_kubeconfig();
            let codes = each_wrapper(&ns, admin.to_str().unwrap(), pass.to_str().unwrap(), dir.path());
            assert_eq!(
                codes,
                [("github", Some(0)), ("gitlab", Some(0)), ("circleci", Some(0)), ("codebuild", Some(0))]
            );

            let no_delete = no_delete_kubeconfig(&client, &ns, dir.path()).await;
            let codes = each_wrapper(&ns, no_delete.to_str().unwrap(), "", dir.path());
            assert_eq!(
                codes,
                [("github", Some(4)), ("gitlab", Some(4)), ("circleci", Some(4)), ("codebuild", Some(4))]
            );
        })
        .await;
    }
}

// ---------------------------------------------------------------------------
// Published layouts and review rules
// ---------------------------------------------------------------------------

mod published {
    use super::*;
    use serde_yaml::Value;

    fn yaml(path: &Path) -> Value {
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `gitlab/` is what a release copies to the root of the catalog
    /// project: `templates/<name>.yml` for `include: component:`, the
    /// README, and the pipeline that tests and releases it.
    #[test]
    fn gitlab_is_a_ci_cd_component_project_root() {
        let dir = support::root().join("gitlab");
        let mut entries: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        entries.sort();
        assert_eq!(entries, [".gitlab-ci.yml", "README.md", "templates"]);
        let components: Vec<String> = std::fs::read_dir(dir.join("templates"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                assert_eq!(p.extension().and_then(|e| e.to_str()), Some("yml"), "{}", p.display());
                p.file_stem().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        assert_eq!(components, ["kscan"]);
        validate("check-jsonschema", &["--builtin-schema", "vendor.gitlab-ci", "gitlab/.gitlab-ci.yml"]);
        // The project's pipeline includes its own component from its own commit,
        // with inputs the component has.
        let ci = yaml(&dir.join(".gitlab-ci.yml"));
        let include = &ci["include"][0];
        assert_eq!(include["component"].as_str(), Some("$CI_SERVER_FQDN/$CI_PROJECT_PATH/kscan@$CI_COMMIT_SHA"));
        let text = std::fs::read_to_string(dir.join("templates/kscan.yml")).unwrap();
        let spec: Value = serde_yaml::from_str(text.split("\n---\n").next().unwrap()).unwrap();
        for (name, _) in include["inputs"].as_mapping().unwrap() {
            assert!(!spec["spec"]["inputs"][name.as_str().unwrap()].is_null(), "no input {name:?}");
        }
        assert!(ci["create-release"]["release"]["tag_name"].as_str().is_some());
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(readme.contains("component: $CI_SERVER_FQDN/<group>/kscan-component/kscan@"), "{readme}");
    }

    /// The orb-tools review rules the orb follows.
    #[test]
    fn the_orb_follows_the_orb_tools_review_rules() {
        let orb = circleci_orb::pack();
        let snake =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        for key in ["home_url", "source_url"] {
            assert!(
                orb["display"][key].as_str().is_some_and(|u| u.starts_with("https://github.com/kscan/kscan")),
                "{key}"
            );
        }
        assert!(orb["executors"].as_mapping().is_some_and(|e| !e.is_empty()), "an executor");
        let examples = orb["examples"].as_mapping().unwrap();
        assert!(!examples.is_empty());
        for (name, e) in examples {
            assert!(e["description"].as_str().is_some() && e["usage"].is_mapping(), "example {name:?}");
        }
        for kind in ["commands", "jobs", "executors"] {
            for (name, def) in orb[kind].as_mapping().unwrap() {
                let name = name.as_str().unwrap();
                assert!(snake(name), "{kind} {name} is not snake_case");
                assert!(def["description"].as_str().is_some_and(|d| !d.trim().is_empty()), "{kind} {name}");
                for (p, meta) in def["parameters"].as_mapping().cloned().unwrap_or_default() {
                    let p = p.as_str().unwrap();
                    assert!(snake(p), "{kind} {name}: parameter {p} is not snake_case");
                    assert!(meta["description"].as_str().is_some_and(|d| !d.is_empty()), "{kind} {name}: {p}");
                }
            }
        }
        // Run steps are named and their scripts are included, not inline.
        for file in ["commands/install.yml", "commands/scan.yml", "commands/report.yml"] {
            let def = yaml(&support::root().join("circleci").join(file));
            for step in def["steps"].as_sequence().unwrap() {
                if let Some(run) = step.get("run") {
                    assert!(run["name"].as_str().is_some(), "{file}: a run step without a name");
                    assert!(
                        run["command"].as_str().unwrap().starts_with("<<include(scripts/"),
                        "{file}: inline script"
                    );
                }
            }
        }
        let scan = &orb["commands"]["scan"];
        assert!(!scan["parameters"]["no_output_timeout"].is_null());
        assert_eq!(scan["steps"][0]["run"]["no_output_timeout"].as_str(), Some("<< parameters.no_output_timeout >>"));
    }

    /// Files as they are in the checkout, copied into `dir`.
    fn checkout_copy(dir: &Path) {
        let files = Command::new("git")
            .args(["ls-files", "-co", "--exclude-standard"])
            .current_dir(support::root())
            .output()
            .unwrap();
        for file in String::from_utf8(files.stdout).unwrap().lines() {
            let from = support::root().join(file);
            if from.is_file() {
                let to = dir.join(file);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&from, &to).unwrap();
            }
        }
    }

    fn stamp(dir: &Path, tag: &str) -> Output {
        Command::new(dir.join("scripts/release/stamp-wrappers")).arg(tag).output().unwrap()
    }

    #[test]
    fn the_wrappers_default_to_this_release_and_the_stamp_script_moves_them_all() {
        let dir = tempfile::tempdir().unwrap();
        checkout_copy(dir.path());
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        let wrappers = [
            "action.yml",
            "gitlab/templates/kscan.yml",
            "circleci/commands/install.yml",
            "circleci/jobs/scan.yml",
            "jenkins/vars/kscanScan.groovy",
            "examples/codebuild/buildspec.yml",
        ];
        let before: Vec<String> = wrappers.iter().map(|f| read(f)).collect();
        // This checkout is stamped for its own version: stamping again changes nothing.
        let out = stamp(dir.path(), &format!("v{}", env!("CARGO_PKG_VERSION")));
        assert!(out.status.success(), "{}", text(&out).1);
        assert_eq!(
            wrappers.iter().map(|f| read(f)).collect::<Vec<_>>(),
            before,
            "the wrappers default to another release"
        );
        // Another release moves every default, and nothing else.
        let out = stamp(dir.path(), "v9.8.7");
        assert!(out.status.success(), "{}", text(&out).1);
        for (f, old) in wrappers.iter().zip(&before) {
            let new = read(f);
            assert!(new.contains("v9.8.7") && !new.contains(&format!("v{}", env!("CARGO_PKG_VERSION"))), "{f}:\n{new}");
            assert_eq!(new.lines().count(), old.lines().count(), "{f}");
        }
        assert!(read("README.md").contains("kscan/kscan@v9.8.7") && read("README.md").contains("kscan/kscan@9.8.7"));
        assert!(read("circleci/examples/scan-a-pod.yml").contains("kscan/kscan@9.8.7"));
        let out = stamp(dir.path(), "9.8");
        assert_eq!(out.status.code(), Some(2), "a tag that is not vX.Y.Z is refused");
    }
}
