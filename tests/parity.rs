//! Parity with the real SAF CLI (`@mitre/saf` 1.5.3, installed by
//! `scripts/setup`): the same inputs go to `saf` and to `kscan`, and the
//! answers are compared.
//!
//! - `saf validate threshold` and `kscan gate` agree on pass/fail, and SAF's
//!   one message is kscan's first violation, word for word, for every rule
//!   family; kscan's further violations are the ones SAF reports when the
//!   earlier rules are removed one by one (SAF's order).
//! - `saf generate threshold [-e] [-c]` and `kscan threshold generate` write
//!   the same bytes.
//! - `saf summary -f json` and `kscan summary` print the same numbers on every
//!   key SAF prints.
//! - Where SAF is wrong (FORMATS.md's table), [`saf_defects`] runs both and
//!   asserts SAF's wrong answer and kscan's own one side by side, and
//!   malformed input exits 2 with a message naming the file and the key.
//!
//! The corpus is generated here, into the test target directory.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// The corpus

/// One test result of `status` (`None`: no status key at all).
fn result(status: Option<&str>) -> Value {
    let mut r = json!({"code_desc": "File /etc/passwd mode should cmp == \"0644\"", "run_time": 0.001,
                       "start_time": "2026-11-24T10:00:00+00:00"});
    if let Some(s) = status {
        r["status"] = json!(s);
    }
    if status == Some("skipped") {
        r["skip_message"] = json!("Skipped control due to only_if condition.");
    }
    if status == Some("failed") {
        r["message"] = json!("expected: \"0644\"\n     got: \"0666\"");
    }
    r
}

fn results(statuses: &[&str]) -> Value {
    Value::Array(statuses.iter().map(|s| result(Some(s))).collect())
}

/// A control with every key the exec-json schema requires.
fn control(id: &str, impact: f64, tags: Value, results: Value) -> Value {
    json!({"id": id, "title": format!("Control {id}"), "desc": "A check.", "impact": impact, "refs": [],
           "tags": tags, "code": "control ...", "source_location": {"ref": "controls/base.rb", "line": 1},
           "results": results})
}

fn plain(id: &str, impact: f64, statuses: &[&str]) -> Value {
    control(id, impact, json!({"nist": ["CM-6"]}), results(statuses))
}

fn profile(name: &str, controls: Vec<Value>) -> Value {
    json!({"name": name, "title": name, "version": "1.0.0", "sha256": format!("{:0>64}", name.len()),
           "supports": [], "attributes": [], "groups": [], "status": "loaded", "controls": controls})
}

fn execution(profiles: Vec<Value>) -> Value {
    json!({"platform": {"name": "debian", "release": "12", "target_id": "pod/app"}, "profiles": profiles,
           "statistics": {"duration": 1.5}, "version": "6.8.1"})
}

/// Every status and severity edge case inspecjs has, in one profile.
fn mixed() -> Value {
    let waived = |id: &str, impact: f64, statuses: &[&str]| {
        let mut c = plain(id, impact, statuses);
        c["waiver_data"] = json!({"skipped_due_to_waiver": true, "run": false, "justification": "accepted"});
        c
    };
    let mut backtrace = result(Some("passed"));
    backtrace["backtrace"] = json!(["controls/base.rb:3"]);
    backtrace["exception"] = json!("RuntimeError");
    let tagged = |id: &str, impact: f64, tags: Value, statuses: &[&str]| {
        let mut t = json!({"nist": ["CM-6"]});
        t.as_object_mut().unwrap().extend(tags.as_object().unwrap().clone());
        control(id, impact, t, results(statuses))
    };
    execution(vec![profile(
        "mixed",
        vec![
            plain("C1", 1.0, &["passed"]),
            plain("C2", 0.9, &["passed", "failed"]),
            plain("C3", 0.95, &["skipped"]),
            plain("H1", 0.7, &["passed"]),
            plain("H2", 0.89, &["failed"]),
            plain("H3", 0.7, &["skipped", "skipped"]),
            plain("H4", 0.8, &["error"]),
            plain("M1", 0.4, &["passed"]),
            plain("M2", 0.5, &[]),
            control("M3", 0.5, json!({}), Value::Array(vec![backtrace])),
            control("M4", 0.6, json!({}), json!([result(Some("passed")), result(None)])),
            control("M5", 0.6, json!({}), json!([result(None)])),
            plain("M6", 0.69, &["failed", "skipped"]),
            plain("L1", 0.1, &["passed"]),
            plain("L2", 0.3, &["failed"]),
            plain("L3", 0.2, &["skipped"]),
            plain("L4", 0.39, &["passed", "skipped"]),
            tagged("T1", 0.5, json!({"severity": "low"}), &["failed"]),
            tagged("T2", 0.5, json!({"severity": "low", "severityoverride": "critical"}), &["passed"]),
            tagged("T3", 0.7, json!({"severity": "CAT I"}), &["failed"]),
            tagged("T4", 0.2, json!({"severity": "medium"}), &["error"]),
            plain("N1", 0.0, &["passed"]),
            plain("N2", 0.0, &[]),
            plain("N3", 0.0, &["error"]),
            plain("N4", 0.0, &["failed"]),
            waived("W1", 0.7, &["skipped"]),
            waived("W2", 0.9, &["failed"]),
            waived("W3", 0.5, &["error"]),
            waived("W4", 0.3, &[]),
            plain("X1", 0.05, &["failed"]),
        ],
    )])
}

/// A clean scan: compliance 100.
fn passing() -> Value {
    execution(vec![profile(
        "baseline",
        vec![
            plain("B1", 0.7, &["passed"]),
            plain("B2", 0.5, &["passed", "passed"]),
            plain("B3", 0.3, &["passed"]),
            plain("B4", 1.0, &["passed"]),
            plain("B5", 0.0, &["skipped"]),
        ],
    )])
}

/// Mostly failures, every severity.
fn failing() -> Value {
    execution(vec![profile(
        "baseline",
        vec![
            plain("B1", 0.7, &["failed"]),
            plain("B2", 0.5, &["failed"]),
            plain("B3", 0.3, &["failed"]),
            plain("B4", 1.0, &["failed"]),
            plain("B5", 0.7, &["passed"]),
            plain("B6", 0.5, &["skipped"]),
        ],
    )])
}

/// A profile without controls: compliance 0, every count 0.
fn empty() -> Value {
    execution(vec![profile("empty", vec![])])
}

/// An overlay: the wrapper lists the base's controls, InSpec writes the base
/// as a second profile with `parent_profile`. Each control counts once.
fn overlay() -> Value {
    let mut base = profile(
        "base",
        vec![plain("O1", 0.7, &["passed"]), plain("O2", 0.5, &["failed"]), plain("O3", 0.3, &["skipped"])],
    );
    base["parent_profile"] = json!("wrapper");
    let wrapper = profile(
        "wrapper",
        vec![plain("O1", 0.7, &["passed"]), plain("O2", 0.5, &["failed"]), plain("O3", 0.3, &["skipped"])],
    );
    execution(vec![wrapper, base])
}

/// Two independent profiles: SAF counts only the first.
fn two_profiles() -> Value {
    execution(vec![
        profile("first", vec![plain("A1", 0.7, &["passed"]), plain("S1", 0.7, &["passed"])]),
        profile("second", vec![plain("B1", 0.9, &["failed"]), plain("S1", 0.7, &["failed"])]),
    ])
}

/// A severity tag in capitals: SAF makes `HIGH` a bucket no rule reads.
fn upper_case_tag() -> Value {
    execution(vec![profile(
        "casing",
        vec![control("U1", 0.5, json!({"severity": "HIGH"}), results(&["failed"])), plain("U2", 0.7, &["passed"])],
    )])
}

/// The corpus files SAF and kscan count alike, by name.
const AGREED: [&str; 5] = ["mixed", "passing", "failing", "empty", "overlay"];

/// Where the corpus lives; written once per test run.
fn corpus() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("parity");
        std::fs::create_dir_all(&dir).unwrap();
        let files: [(&str, Value); 7] = [
            ("mixed", mixed()),
            ("passing", passing()),
            ("failing", failing()),
            ("empty", empty()),
            ("overlay", overlay()),
            ("two-profiles", two_profiles()),
            ("upper-case-tag", upper_case_tag()),
        ];
        for (name, doc) in files {
            std::fs::write(dir.join(format!("{name}.json")), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        }
        std::fs::write(dir.join("not-json.json"), "{\"profiles\": [").unwrap();
        dir
    })
}

fn hdf(name: &str) -> PathBuf {
    corpus().join(format!("{name}.json"))
}

/// Write a threshold file named `name` into the corpus directory.
fn threshold(name: &str, text: &str) -> PathBuf {
    let path = corpus().join(format!("{name}.yml"));
    std::fs::write(&path, text).unwrap();
    path
}

// ---------------------------------------------------------------------------
// Running the two tools

/// A `Command` for the SAF CLI. It runs in the corpus directory because it
/// writes `saf-cli.log` into its working directory.
fn saf() -> Command {
    let mut cmd = Command::new(support::tool("saf"));
    cmd.current_dir(corpus());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What `saf validate threshold` concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Saf {
    /// Exit 0 and `All validation tests passed`.
    Passed,
    /// Exit 1 and `Error: <message>`.
    Failed(String),
}

fn saf_validate(results: &Path, thresholds: &Path) -> Saf {
    let out = run(saf().args(["validate", "threshold", "-i"]).arg(results).arg("-T").arg(thresholds));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    match out.status.code() {
        Some(0) if stdout.contains("All validation tests passed") => Saf::Passed,
        Some(1) => {
            let line = stderr.lines().find_map(|l| l.strip_prefix("Error: "));
            Saf::Failed(line.unwrap_or_else(|| panic!("saf exit 1 without `Error:`: {stderr}")).to_owned())
        }
        _ => {
            panic!("saf validate threshold {}: {:?}\nstdout: {stdout}\nstderr: {stderr}", results.display(), out.status)
        }
    }
}

/// `saf validate threshold` with the raw outcome, for the defect table.
fn saf_validate_raw(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = run(saf().args(["validate", "threshold"]).args(args));
    (out.status.code().unwrap_or(-1), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

/// What `kscan gate --format json` concluded.
#[derive(Debug)]
struct Kscan {
    code: i32,
    /// `(rule, message)` of every violation, in order.
    violations: Vec<(String, String)>,
}

impl Kscan {
    fn messages(&self) -> Vec<&str> {
        self.violations.iter().map(|(_, m)| m.as_str()).collect()
    }

    fn rules(&self) -> Vec<&str> {
        self.violations.iter().map(|(r, _)| r.as_str()).collect()
    }
}

fn kscan_gate(results: &[&Path], thresholds: &Path) -> Kscan {
    let out = run(support::kscan().arg("gate").args(results).arg("--threshold").arg(thresholds).args(["-f", "json"]));
    let code = out.status.code().unwrap();
    assert!(code == 0 || code == 1, "kscan gate exit {code}: {}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("kscan gate -f json prints JSON");
    assert_eq!(doc["passed"], json!(code == 0), "`passed` agrees with the exit code: {doc}");
    let violations = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["rule"].as_str().unwrap().to_owned(), v["message"].as_str().unwrap().to_owned()))
        .collect();
    Kscan { code, violations }
}

/// Both tools on one pair: the same verdict, and SAF's message is kscan's first.
fn assert_agree(results: &Path, thresholds: &Path) -> (Saf, Kscan) {
    let saf = saf_validate(results, thresholds);
    let kscan = kscan_gate(&[results], thresholds);
    let what = format!("{} against {}", results.display(), thresholds.display());
    match &saf {
        Saf::Passed => assert_eq!(kscan.code, 0, "{what}: SAF passed, kscan found {:?}", kscan.violations),
        Saf::Failed(message) => {
            assert_eq!(kscan.code, 1, "{what}: SAF failed with {message:?}, kscan passed");
            assert_eq!(kscan.messages().first().copied(), Some(message.as_str()), "{what}: first violation");
        }
    }
    (saf, kscan)
}

// ---------------------------------------------------------------------------
// Agreement

#[test]
fn generated_thresholds_are_byte_identical_and_pass_in_both() {
    for name in AGREED {
        let input = hdf(name);
        for opts in [&[][..], &["-e"], &["-c"], &["-e", "-c"]] {
            let saf_out = corpus().join(format!("{name}{}.saf.yml", opts.concat()));
            let kscan_out = corpus().join(format!("{name}{}.kscan.yml", opts.concat()));
            let out = run(saf().args(["generate", "threshold", "-i"]).arg(&input).args(opts).arg("-o").arg(&saf_out));
            assert!(out.status.success(), "saf generate threshold {name} {opts:?}: {}", text(&out.stderr));
            let out =
                run(support::kscan().args(["threshold", "generate"]).arg(&input).args(opts).arg("-o").arg(&kscan_out));
            assert!(out.status.success(), "kscan threshold generate {name} {opts:?}: {}", text(&out.stderr));
            let (saf_text, kscan_text) =
                (std::fs::read_to_string(&saf_out).unwrap(), std::fs::read_to_string(&kscan_out).unwrap());
            pretty_assertions::assert_eq!(saf_text, kscan_text, "{name} {opts:?}");
        }
        // The tightest form holds on its own results in both tools. (SAF
        // fails `controls: []`, but generate lists only non-empty buckets.)
        let exact = corpus().join(format!("{name}-e-c.saf.yml"));
        let (saf, kscan) = assert_agree(&input, &exact);
        assert_eq!(saf, Saf::Passed, "{name}");
        assert!(kscan.violations.is_empty());
    }
}

#[test]
fn shipped_thresholds_agree() {
    for file in ["strict", "moderate", "lenient"] {
        let t = support::root().join("thresholds").join(format!("{file}.yml"));
        for name in AGREED {
            assert_agree(&hdf(name), &t);
        }
    }
    // Each shipped file both passes and fails something.
    let strict = support::root().join("thresholds/strict.yml");
    assert_eq!(kscan_gate(&[&hdf("passing")], &strict).code, 0);
    assert_eq!(kscan_gate(&[&hdf("failing")], &support::root().join("thresholds/lenient.yml")).code, 1);
}

/// Counts of mixed.json (SAF's numbers; the rules below hold or break
/// against them):
///
/// | status | critical | high | medium | low | none | total |
/// |---|---|---|---|---|---|---|
/// | passed | C1 T2 | H1 | M1 M4 | L1 L4 | | 7 |
/// | failed | C2 | H2 T3 | M6 | L2 T1 | X1 | 7 |
/// | skipped | C3 | H3 | | L3 | | 3 |
/// | error | | H4 | M2 M3 M5 T4 W3 | | N3 | 7 |
/// | no_impact | W2 | W1 | | W4 | N1 N2 N4 | 6 |
///
/// Compliance: round(100 × 7 / 24) = 29%.
const MIXED_FAILURES: [(&str, &str); 27] = [
    ("compliance.min", "compliance: {min: 30}"),
    ("compliance.max", "compliance: {max: 28}"),
    ("passed.total", "passed: {total: 5}"),
    ("failed.total", "failed: {total: 8}"),
    ("skipped.total", "skipped: {total: 0}"),
    ("no_impact.total", "no_impact: {total: 5}"),
    ("error.total", "error: {total: 6}"),
    ("passed.total.min", "passed.total.min: 8"),
    ("failed.total.min", "failed: {total: {min: 8}}"),
    ("skipped.total.max", "skipped: {total: {max: 2}}"),
    ("error.total.max", "error.total.max: 0"),
    ("passed.critical.min", "passed: {critical: {min: 3}}"),
    ("failed.critical.max", "failed.critical.max: 0"),
    ("skipped.critical.min", "skipped.critical.min: 2"),
    ("no_impact.critical.max", "no_impact: {critical: {max: 0}}"),
    ("failed.high.max", "failed: {high: {max: 1}}"),
    ("error.high.min", "error: {high: {min: 2}}"),
    ("passed.medium.max", "passed.medium.max: 1"),
    ("error.medium.max", "error: {medium: {max: 3}}"),
    ("failed.low.min", "failed.low.min: 3"),
    ("skipped.low.max", "skipped: {low: {max: 0}}"),
    ("no_impact.low.min", "no_impact.low.min: 2"),
    ("no_impact.none.max", "no_impact: {none: {max: 2}}"),
    ("no_impact.none.min", "no_impact.none.min: 4"),
    ("passed.high.controls", "passed: {high: {controls: [H1, H2]}}"),
    ("failed.low.controls", "failed: {low: {controls: [L2]}}"),
    ("no_impact.none.controls", "no_impact.none.controls: [N1, N2]"),
];

#[test]
fn every_rule_family_fails_alike() {
    let mixed = hdf("mixed");
    for (i, (rule, rules)) in MIXED_FAILURES.iter().enumerate() {
        let t = threshold(&format!("family-{i}"), rules);
        let (saf, kscan) = assert_agree(&mixed, &t);
        assert!(matches!(saf, Saf::Failed(_)), "{rules}: SAF must fail it");
        assert_eq!(kscan.rules(), [*rule], "{rules}");
    }
}

#[test]
fn every_rule_family_passes_alike() {
    // The same families at the limits mixed.json meets exactly.
    let t = threshold(
        "families-pass",
        "compliance: {min: 29, max: 29}
passed: {total: 7, critical: {min: 2, max: 2, controls: [T2, C1]}, medium: {controls: [M1, M4]}}
failed: {total: {min: 7, max: 7}, high: {min: 2, max: 2, controls: [H2, T3]}, low: {max: 2}}
skipped: {total: 3, low: {min: 1, controls: [L3]}}
error: {total: {min: 7, max: 7}, medium: {min: 5, max: 5}}
no_impact: {total: 6, none: {min: 3, max: 3, controls: [N1, N2, N4]}, critical: {controls: [W2]}}
",
    );
    let (saf, kscan) = assert_agree(&hdf("mixed"), &t);
    assert_eq!(saf, Saf::Passed);
    assert_eq!(kscan.code, 0);
}

/// Nested YAML (JSON is YAML) from flat keys: SAF drops flat `compliance.*`
/// beside nested keys, so tests that compare with SAF write nested files.
fn nested(rules: &[(&str, Value)]) -> String {
    let mut doc = json!({});
    for (key, value) in rules {
        let mut node = &mut doc;
        for part in key.split('.') {
            node = node.as_object_mut().unwrap().entry(part).or_insert_with(|| json!({}));
        }
        *node = value.clone();
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

#[test]
fn violations_come_in_safs_order() {
    // Eight violated rules, written in an order unlike SAF's. SAF reports one
    // at a time: drop it from the file and run again, and the sequence of
    // SAF's messages must be kscan's list.
    let mut rules: Vec<(&str, Value)> = vec![
        ("passed.high.controls", json!(["H1", "X9"])),
        ("no_impact.none.max", json!(1)),
        ("failed.low.max", json!(0)),
        ("error.total.max", json!(1)),
        ("failed.critical.min", json!(2)),
        ("skipped.total.min", json!(5)),
        ("passed.total", json!(2)),
        ("compliance.max", json!(10)),
    ];
    let mixed = hdf("mixed");
    let kscan = kscan_gate(&[&mixed], &threshold("order-all", &nested(&rules)));
    assert_eq!(kscan.violations.len(), rules.len(), "{:?}", kscan.violations);
    let mut saf_messages = Vec::new();
    for step in 0..rules.len() {
        let t = threshold(&format!("order-{step}"), &nested(&rules));
        let Saf::Failed(message) = saf_validate(&mixed, &t) else { panic!("SAF passed {rules:?}") };
        saf_messages.push(message);
        let first = kscan.violations[step].0.as_str();
        let before = rules.len();
        rules.retain(|(key, _)| *key != first);
        assert_eq!(rules.len(), before - 1, "kscan's rule {first} is in the file");
    }
    assert_eq!(kscan.messages(), saf_messages);
    assert_eq!(
        kscan.rules(),
        [
            "compliance.max",
            "passed.total",
            "skipped.total.min",
            "error.total.max",
            "failed.critical.min",
            "failed.low.max",
            "no_impact.none.max",
            "passed.high.controls"
        ]
    );
}

#[test]
fn summary_numbers_match() {
    for name in AGREED {
        let input = hdf(name);
        let saf = run(saf().args(["summary", "-f", "json", "-i"]).arg(&input).arg("--stdout"));
        assert!(saf.status.success(), "saf summary {name}: {}", text(&saf.stderr));
        let saf: Value = serde_json::from_slice(&saf.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&saf.stdout)));
        let kscan = run(support::kscan().args(["summary", "-f", "json"]).arg(&input));
        assert!(kscan.status.success(), "kscan summary {name}: {}", text(&kscan.stderr));
        let kscan: Value = serde_json::from_slice(&kscan.stdout).unwrap();
        assert_subset(&saf, &kscan, name);
    }
}

/// Every key SAF prints, kscan prints with the same value (kscan may add keys).
fn assert_subset(saf: &Value, kscan: &Value, at: &str) {
    match (saf, kscan) {
        (Value::Object(s), Value::Object(k)) => {
            for (key, value) in s {
                let sub = format!("{at}.{key}");
                assert_subset(value, k.get(key).unwrap_or_else(|| panic!("kscan lacks {sub}")), &sub);
            }
        }
        (Value::Array(s), Value::Array(k)) => {
            assert_eq!(s.len(), k.len(), "{at}: lengths");
            for (i, (a, b)) in s.iter().zip(k).enumerate() {
                assert_subset(a, b, &format!("{at}[{i}]"));
            }
        }
        (s, k) => assert_eq!(s, k, "{at}"),
    }
}

// ---------------------------------------------------------------------------
// SAF's defects: both answers asserted

/// The answer a tool gave on one (results, threshold) pair.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Exit 0.
    Pass,
    /// Exit 1, with kscan's violated rules (empty for SAF).
    Fail(Vec<String>),
}

fn kscan_answer(results: &Path, thresholds: &Path) -> Answer {
    let k = kscan_gate(&[results], thresholds);
    match k.code {
        0 => Answer::Pass,
        _ => Answer::Fail(k.rules().into_iter().map(str::to_owned).collect()),
    }
}

fn saf_answer(results: &Path, thresholds: &Path) -> Answer {
    match saf_validate(results, thresholds) {
        Saf::Passed => Answer::Pass,
        Saf::Failed(_) => Answer::Fail(vec![]),
    }
}

fn fail(rules: &[&str]) -> Answer {
    Answer::Fail(rules.iter().map(|r| r.to_string()).collect())
}

#[test]
fn saf_defects() {
    // (FORMATS.md row, results, threshold, SAF's answer, kscan's answer)
    let cases: Vec<(&str, &str, &str, Answer, Answer)> = vec![
        (
            "stops at the first violation",
            "failing",
            "failed: {total: {max: 0}, critical: {max: 0}}",
            fail(&[]),
            fail(&["failed.total.max", "failed.critical.max"]),
        ),
        (
            "no_impact.total.max ignored",
            "mixed",
            "no_impact: {total: {max: 0}}",
            Answer::Pass,
            fail(&["no_impact.total.max"]),
        ),
        (
            "no_impact.total.min ignored",
            "mixed",
            "no_impact.total.min: 9",
            Answer::Pass,
            fail(&["no_impact.total.min"]),
        ),
        ("compliance max 0 ignored", "mixed", "compliance: {max: 0}", Answer::Pass, fail(&["compliance.max"])),
        (
            "flat min and max: only the last survives",
            "mixed",
            "failed.total.max: 6\nfailed.total.min: 1",
            Answer::Pass,
            fail(&["failed.total.max"]),
        ),
        (
            "mixed flat and nested drops flat compliance",
            "mixed",
            "compliance.min: 90\nfailed: {critical: {max: 5}}",
            Answer::Pass,
            fail(&["compliance.min"]),
        ),
        (
            "duplicate ids pass against a larger bucket",
            "mixed",
            "passed: {critical: {controls: [C1, C1]}}",
            Answer::Pass,
            Answer::Fail(vec!["input error".into()]),
        ),
        (
            "controls: [] on an empty bucket fails",
            "mixed",
            "skipped: {medium: {controls: []}}",
            fail(&[]),
            Answer::Pass,
        ),
        (
            "only profiles[0] counted",
            "two-profiles",
            "failed: {total: {max: 0}}",
            Answer::Pass,
            fail(&["failed.total.max"]),
        ),
        (
            "upper-case severity tag is its own bucket",
            "upper-case-tag",
            "failed: {high: {max: 0}}",
            Answer::Pass,
            fail(&["failed.high.max"]),
        ),
    ];
    let mut rows = Vec::new();
    for (i, (row, file, rules, saf_wants, kscan_wants)) in cases.into_iter().enumerate() {
        let t = threshold(&format!("defect-{i}"), rules);
        let results = hdf(file);
        let saf = saf_answer(&results, &t);
        assert_eq!(saf, saf_wants, "SAF 1.5.3 no longer shows `{row}`: update FORMATS.md and this table");
        if kscan_wants == Answer::Fail(vec!["input error".into()]) {
            let out = run(support::kscan().arg("gate").arg(&results).arg("-t").arg(&t));
            assert_eq!(out.status.code(), Some(2), "{row}");
            assert!(text(&out.stderr).contains("lists \"C1\" twice"), "{row}: {}", text(&out.stderr));
        } else {
            assert_eq!(kscan_answer(&results, &t), kscan_wants, "{row}");
        }
        rows.push(row);
    }
    assert_eq!(rows.len(), 10);
    // The wording differs only where SAF prints `undefined` for an empty bucket.
    let t = threshold("defect-undefined", "skipped: {medium: {controls: [M9]}}");
    assert_eq!(
        saf_validate(&hdf("mixed"), &t),
        Saf::Failed("Expected skipped.medium.controls to contain M9 controls but it only contained [undefined]".into())
    );
    assert_eq!(
        kscan_gate(&[&hdf("mixed")], &t).messages(),
        ["Expected skipped.medium.controls to contain M9 controls but it only contained []"]
    );
}

/// A malformed input and what each tool does with it.
struct Malformed {
    what: &'static str,
    /// The threshold file's text; `None` uses a good one (a results-file case).
    threshold: Option<&'static str>,
    /// The results file's name in the corpus.
    results: &'static str,
    /// What kscan's message must contain, besides the file name.
    says: &'static [&'static str],
    /// SAF's exit: 0 = silently passed, 1 = the value was coerced and compared.
    saf_exit: i32,
}

#[test]
fn malformed_input_exits_2_naming_the_file_and_key() {
    let mixed = hdf("mixed");
    let good = threshold("good", "compliance: {min: 10}");
    let case = |what, threshold, results, says, saf_exit| Malformed { what, threshold, results, says, saf_exit };
    let cases = [
        case(
            "typo at the top",
            Some("complience: {min: 80}"),
            "mixed",
            &["complience", "did you mean `compliance`"],
            0,
        ),
        case(
            "typo below a status",
            Some("failed: {totl: {max: 0}}"),
            "mixed",
            &["failed.totl", "did you mean `total`"],
            0,
        ),
        case("typo in a flat key", Some("failed.critical.maxx: 0"), "mixed", &["failed.critical.maxx"], 0),
        case("null limit", Some("failed: {total: {max: null}}"), "mixed", &["failed.total.max", "null"], 1),
        case(
            "quoted number",
            Some("failed: {total: {max: \"0\"}}"),
            "mixed",
            &["failed.total.max", "without quotes"],
            1,
        ),
        case("scalar compliance", Some("compliance: 80"), "mixed", &["`compliance` must be a mapping"], 0),
        case("not YAML", Some("failed: {total: [1,"), "mixed", &["is not valid YAML"], 0),
        case("no rules", Some("# nothing\n"), "mixed", &["is empty"], 0),
        case("missing results file", None, "missing", &["missing.json", "no such file"], 0),
        case("unparsable results file", None, "not-json", &["not-json.json"], 0),
    ];
    for (i, Malformed { what, threshold: rules, results, says: want, saf_exit: saf_code }) in
        cases.into_iter().enumerate()
    {
        let results = hdf(results);
        let t = match rules {
            Some(text) => threshold(&format!("malformed-{i}"), text),
            None => good.clone(),
        };
        let out = run(support::kscan().arg("gate").arg(&results).arg("--threshold").arg(&t));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(out.stdout.is_empty(), "{what}: no verdict on bad input");
        let named = if rules.is_some() { t.file_name() } else { results.file_name() };
        assert!(stderr.contains(named.unwrap().to_str().unwrap()), "{what}: names the file: {stderr}");
        for w in want {
            assert!(stderr.contains(w), "{what}: {w:?} in {stderr}");
        }
        // SAF: FORMATS.md's defect table (exit 0 on bad files and unknown
        // keys; null and quoted limits compared as numbers).
        let (code, output) = saf_validate_raw(&["-i".as_ref(), results.as_os_str(), "-T".as_ref(), t.as_os_str()]);
        assert_eq!(code, saf_code, "SAF 1.5.3 exit on `{what}` changed: {output}");
    }
    // A missing threshold file.
    let out = run(support::kscan().arg("gate").arg(&mixed).args(["-t", "no-such-threshold.yml"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no-such-threshold.yml"), "{}", text(&out.stderr));
    // No threshold at all is a usage error for kscan; SAF passes.
    let out = run(support::kscan().arg("gate").arg(&mixed));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--threshold"), "{}", text(&out.stderr));
    assert_eq!(saf_validate_raw(&["-i".as_ref(), mixed.as_os_str()]).0, 0);
}
