//! SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer), typed.
//!
//! One run, tool `kscan`. Each finding (a Failed or Profile Error control)
//! is a result, most severe first; at most [`MAX_RESULTS`] (GitHub's limit
//! per run), the rest counted in the run's `properties.omittedResults`.
//! Every control is a rule (id = control id; a control id that several
//! profiles share is one rule, described by its first occurrence), up to
//! [`MAX_RULES`] (GitHub's limit too): rules that results refer to always
//! come first in priority, the others in input order while room is left,
//! the rest counted in `properties.omittedRules`.
//!
//! - rule: `shortDescription` = title, `fullDescription` = the default
//!   description, `help` = the check and fix texts, `properties`:
//!   `security-severity` (critical 9.5, high 8.0, medium 5.5, low 2.0,
//!   none 0.0), `tags` (`security`, `compliance`, NIST tags; at most 20);
//! - result: `level` from severity (critical/high error, medium warning,
//!   low/none note), the reason as message, `partialFingerprints`
//!   `kscanControl/v1` = [`ControlView::fingerprint`], and an
//!   `artifactLocation.uri` always: the control's `source_location`, or the
//!   synthetic `kscan/<profile>/<control id>` ([`super::Location`]).

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde::Serialize;

use super::baseline::{Finding, State};
use super::view::{ControlView, Level};
use super::Report;
use crate::error::{Error, Result};
use crate::hdf::ControlStatus;

/// GitHub code scanning accepts at most this many results per run.
pub const MAX_RESULTS: usize = 25_000;
/// GitHub code scanning accepts at most this many rules per run.
pub const MAX_RULES: usize = 25_000;
/// GitHub keeps at most this many tags per rule.
const MAX_TAGS: usize = 20;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// An analysis category for SARIF's `automationDetails.id`:
/// `kscan/<segment>/…`. The segments say what was scanned (command,
/// namespace, selection) and stay the same from run to run of the same
/// scan; `%` and `/` inside a segment are percent-encoded, so a selector
/// such as `app.kubernetes.io/name=web` stays one segment.
pub fn category(segments: &[&str]) -> String {
    let mut out = String::from("kscan");
    for segment in segments {
        out.push('/');
        out.push_str(&segment.replace('%', "%25").replace('/', "%2F"));
    }
    out
}

/// SARIF's `automationDetails.id` of a run: `<category>/<run>`. GitHub
/// takes everything before the last `/` as the analysis's category (so
/// uploads of other categories do not replace its alerts), and `run` tells
/// the runs apart.
pub fn automation_id(category: &str, run: &str) -> String {
    format!("{}/{run}", category.trim_end_matches('/'))
}

/// The last segment of an id for a run without a run id: its time
/// (RFC 3339) without separators, `20260102T030405Z`.
pub fn time_stamp(generated_at: &str) -> String {
    generated_at.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// The id of a report whose run set none ([`Report::with_automation`]):
/// `kscan/report/<namespaces>/<time>`, the namespaces of its targets
/// (comma-separated, sorted) when they name any.
fn default_automation_id(report: &Report) -> String {
    let namespaces: std::collections::BTreeSet<&str> = report
        .sets()
        .iter()
        .zip(report.inputs())
        .filter_map(|(set, input)| {
            let identity = super::view::workload(set).unwrap_or(&input.target);
            // `k8s-container://<namespace>/<pod>/<container>`, as kscan's engines write it.
            let identity = identity.split_once("://").map_or(identity, |(_, rest)| rest);
            let mut parts = identity.split('/');
            let namespace = parts.next().filter(|n| !n.is_empty())?;
            (parts.count() >= 2).then_some(namespace)
        })
        .collect();
    let namespaces = namespaces.into_iter().collect::<Vec<_>>().join(",");
    let time = time_stamp(report.generated_at());
    let mut segments = vec!["report"];
    if !namespaces.is_empty() {
        segments.push(&namespaces);
    }
    automation_id(&category(&segments), &time)
}

/// Write the SARIF log of `report` to `out`.
pub fn write(report: &Report, out: &mut dyn Write) -> Result<()> {
    write_capped(report, out, MAX_RESULTS, MAX_RULES)
}

/// [`write`] with other caps (tests use small ones).
pub fn write_capped(report: &Report, out: &mut dyn Write, max_results: usize, max_rules: usize) -> Result<()> {
    let findings: Vec<ControlView<'_>> = report.findings().take(max_results).collect();

    // Rules: those results refer to always, the others while room is left,
    // in input order either way.
    let needed: HashSet<&str> = findings.iter().map(|v| v.id()).collect();
    let mut room = max_rules.saturating_sub(needed.len());
    let mut seen: HashSet<&str> = HashSet::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut rules: Vec<Rule<'_>> = Vec::new();
    for view in report.controls() {
        let id = view.id();
        if !seen.insert(id) {
            continue;
        }
        if !needed.contains(id) {
            if room == 0 {
                continue;
            }
            room -= 1;
        }
        index.insert(id, rules.len());
        rules.push(Rule::new(&view));
    }
    let omitted_rules = seen.len() - rules.len();

    let mut results: Vec<SarifResult<'_>> = findings.iter().map(|v| SarifResult::new(v, index[v.id()])).collect();
    // Fixed since the baseline: `absent` results, in the room left.
    let fixed = report.diff().map_or(&[][..], |d| d.fixed.as_slice());
    let room = max_results.saturating_sub(results.len());
    results.extend(fixed.iter().take(room).map(|f| SarifResult::absent(f, index.get(f.id.as_str()).copied())));
    let omitted_fixed = fixed.len() - fixed.len().min(room);
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            automation_details: AutomationDetails {
                id: report.automation().map_or_else(|| default_automation_id(report), str::to_owned),
            },
            tool: Tool {
                driver: Driver {
                    name: "kscan",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            invocations: [Invocation {
                execution_successful: report.coverage().is_none_or(|c| c.missing().next().is_none()),
                end_time_utc: report.generated_at(),
                tool_execution_notifications: report
                    .coverage()
                    .into_iter()
                    .flat_map(|c| c.missing())
                    .map(|t| Notification {
                        level: "error",
                        message: Text {
                            text: format!(
                                "{} was not scanned ({}): {}",
                                t.target,
                                t.reason.map_or("not scanned", crate::report::coverage::Reason::label),
                                t.message.as_deref().unwrap_or("no reason recorded")
                            ),
                        },
                    })
                    .collect(),
            }],
            results,
            properties: RunProperties {
                findings: report.findings_len(),
                omitted_results: report.findings_len() - findings.len(),
                omitted_rules,
                compliance: report.totals().compliance(),
                manifests: report.placement().map(|p| ManifestProperties {
                    mapped: p.mapped,
                    unmapped: p.unmapped.len(),
                    unmapped_targets: &p.unmapped,
                }),
                coverage: report.coverage().map(|c| CoverageProperties {
                    scanned: c.scanned(),
                    total: c.total(),
                    percent: c.percent(),
                }),
                baseline: report.diff().map(|d| BaselineProperties {
                    origin: &d.origin,
                    new: d.new,
                    unchanged: d.unchanged,
                    fixed: d.fixed_len(),
                    omitted_fixed,
                    not_compared: d.not_compared,
                    warnings: &d.warnings,
                }),
            },
        }],
    };
    let mut w = std::io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &log)
        .map_err(std::io::Error::from)
        .and_then(|_| w.write_all(b"\n"))
        .and_then(|_| w.flush())
        .map_err(|e| Error::input("cannot write the SARIF report").with_source(e))
}

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    automation_details: AutomationDetails,
    tool: Tool<'a>,
    invocations: [Invocation<'a>; 1],
    results: Vec<SarifResult<'a>>,
    properties: RunProperties<'a>,
}

#[derive(Serialize)]
struct AutomationDetails {
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    #[serde(rename = "endTimeUtc")]
    end_time_utc: &'a str,
    /// One per target the run meant to scan and could not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Text,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunProperties<'a> {
    /// Findings in all (Failed and Profile Error controls).
    findings: usize,
    /// Findings left out to stay within the results cap.
    omitted_results: usize,
    /// Controls with no rule, to stay within the rules cap.
    omitted_rules: usize,
    /// Overall compliance, percent.
    compliance: u32,
    /// With `--manifests`: how many targets' findings point at a manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    manifests: Option<ManifestProperties<'a>>,
    /// Which targets a scan scanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<CoverageProperties>,
    /// This run against the baseline, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<BaselineProperties<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestProperties<'a> {
    mapped: usize,
    unmapped: usize,
    unmapped_targets: &'a [String],
}

#[derive(Serialize)]
struct CoverageProperties {
    scanned: usize,
    total: usize,
    percent: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BaselineProperties<'a> {
    origin: &'a str,
    new: usize,
    unchanged: usize,
    fixed: usize,
    /// Fixed findings left out (no `absent` result) to stay within the cap.
    omitted_fixed: usize,
    not_compared: usize,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    rules: Vec<Rule<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule<'a> {
    id: &'a str,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Help,
    default_configuration: Configuration,
    properties: RuleProperties<'a>,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties<'a> {
    #[serde(rename = "security-severity")]
    security_severity: &'static str,
    tags: Vec<&'a str>,
    severity: &'static str,
    impact: f64,
}

impl<'a> Rule<'a> {
    fn new(view: &ControlView<'a>) -> Self {
        let title = view.title().map(str::trim).unwrap_or(view.id()).to_owned();
        let full = view.description("default").map(str::trim).map(str::to_owned).unwrap_or_else(|| title.clone());
        let mut text = full.clone();
        let mut markdown = full.clone();
        for (label, heading) in [("check", "Check"), ("fix", "Fix")] {
            if let Some(d) = view.description(label) {
                text.push_str(&format!("\n\n{heading}: {}", d.trim()));
                markdown.push_str(&format!("\n\n**{heading}:** {}", d.trim()));
            }
        }
        let mut tags = vec!["security", "compliance"];
        tags.extend(view.nist().into_iter().take(MAX_TAGS - 2));
        Rule {
            id: view.id(),
            name: rule_name(view.id()),
            short_description: Text { text: title },
            full_description: Text { text: full },
            help: Help { text, markdown },
            default_configuration: Configuration { level: Level::of(view.severity()).sarif() },
            properties: RuleProperties {
                security_severity: view.severity().security_severity(),
                tags,
                severity: view.severity().key(),
                impact: view.impact(),
            },
        }
    }
}

/// SARIF wants rule names as identifiers: `V-12345` → `V12345`,
/// `kscan-passwd-perms` → `KscanPasswdPerms`.
fn rule_name(id: &str) -> String {
    let mut name = String::new();
    for word in id.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.push_str(chars.as_str());
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "Control");
    }
    name
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    /// `pass` for a finding fixed since the baseline; else the default, `fail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    level: &'static str,
    message: Text,
    locations: [ResultLocation; 1],
    partial_fingerprints: Fingerprints,
    /// `new`, `unchanged` or `absent` (fixed), with a baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_state: Option<&'static str>,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultLocation {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u64,
}

#[derive(Serialize)]
struct Fingerprints {
    #[serde(rename = "kscanControl/v1")]
    control: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties<'a> {
    status: &'static str,
    severity: &'static str,
    profile: &'a str,
    target: &'a str,
}

impl<'a> SarifResult<'a> {
    fn new(view: &ControlView<'a>, rule_index: usize) -> Self {
        let location = view.location();
        let what = match view.status() {
            ControlStatus::ProfileError => "could not be checked",
            _ => "failed",
        };
        let title = view.title().map(str::trim).unwrap_or(view.id());
        let message = format!("{title} {what} on {}: {}", view.target(), view.reason());
        SarifResult {
            rule_id: view.id(),
            rule_index: Some(rule_index),
            kind: None,
            level: Level::of(view.severity()).sarif(),
            message: Text { text: message },
            locations: [ResultLocation {
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation { uri: location.uri() },
                    region: Region { start_line: location.line },
                },
            }],
            partial_fingerprints: Fingerprints { control: view.fingerprint() },
            baseline_state: view.state().map(State::key),
            properties: ResultProperties {
                status: view.status().label(),
                severity: view.severity().key(),
                profile: view.profile(),
                target: view.target(),
            },
        }
    }

    /// A finding of the baseline this run no longer has: `baselineState`
    /// `absent`, kind `pass` (its control was checked and holds), level
    /// `none` as SARIF requires for a kind other than `fail`.
    fn absent(f: &'a Finding, rule_index: Option<usize>) -> Self {
        let title = f.title.as_deref().unwrap_or(&f.id);
        SarifResult {
            rule_id: &f.id,
            rule_index,
            kind: Some("pass"),
            level: "none",
            message: Text { text: format!("{title} no longer fails on {}: fixed since the baseline", f.target) },
            locations: [ResultLocation {
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation { uri: f.location.uri() },
                    region: Region { start_line: f.location.line },
                },
            }],
            partial_fingerprints: Fingerprints { control: f.fingerprint.clone() },
            baseline_state: Some("absent"),
            properties: ResultProperties {
                status: "Fixed",
                severity: f.severity.key(),
                profile: &f.profile,
                target: &f.target,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{report, set};
    use serde_json::Value;

    fn sarif(r: &Report, max_results: usize, max_rules: usize) -> Value {
        let mut out = Vec::new();
        write_capped(r, &mut out, max_results, max_rules).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn results_are_capped_most_severe_first_and_the_overflow_is_counted() {
        let r = report(vec![set(
            "a.json",
            "p",
            None,
            &[("low", 0.3, "failed"), ("ok", 0.5, "passed"), ("crit", 0.95, "failed"), ("high", 0.7, "")],
        )]);
        let log = sarif(&r, 2, 3);
        let run = &log["runs"][0];
        let ids: Vec<_> = run["results"].as_array().unwrap().iter().map(|r| r["ruleId"].as_str().unwrap()).collect();
        assert_eq!(ids, ["crit", "high"]);
        assert_eq!(run["properties"]["findings"], 3);
        assert_eq!(run["properties"]["omittedResults"], 1);
        let rules: Vec<_> =
            run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(rules, ["low", "crit", "high"], "referenced rules always, others while room is left");
        assert_eq!(run["properties"]["omittedRules"], 1);
        for result in run["results"].as_array().unwrap() {
            let i = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i], result["ruleId"]);
            assert_eq!(
                result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                format!("kscan/p/{}", result["ruleId"].as_str().unwrap())
            );
        }
        assert_eq!(run["tool"]["driver"]["rules"][1]["properties"]["security-severity"], "9.5");
    }

    #[test]
    fn automation_ids_keep_the_category_stable_and_segments_whole() {
        assert_eq!(
            automation_id(&category(&["scan", "shop", "selector=app.kubernetes.io/name=web"]), "r1"),
            "kscan/scan/shop/selector=app.kubernetes.io%2Fname=web/r1"
        );
        assert_eq!(automation_id("my/category/", "r1"), "my/category/r1");
        let r = report(vec![
            set("a.json", "p", Some("k8s-container://shop/web-0/app"), &[("f", 0.5, "failed")]),
            set("b.json", "p", Some("data/db-0/db"), &[]),
            set("c.json", "p", Some("/images/root"), &[]),
        ]);
        assert_eq!(sarif(&r, 10, 10)["runs"][0]["automationDetails"]["id"], "kscan/report/data,shop/20260102T030405Z");
        let r = r.with_automation(automation_id(&category(&["scan", "shop", "pod=web-0"]), "abcd"));
        assert_eq!(sarif(&r, 10, 10)["runs"][0]["automationDetails"]["id"], "kscan/scan/shop/pod=web-0/abcd");
    }

    #[test]
    fn rule_names_are_identifiers() {
        assert_eq!(rule_name("V-12345"), "V12345");
        assert_eq!(rule_name("kscan-passwd-perms"), "KscanPasswdPerms");
        assert_eq!(rule_name("1.2.3"), "Control123");
        assert_eq!(rule_name("--"), "Control");
    }
}
