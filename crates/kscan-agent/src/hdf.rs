//! Serde types for InSpec exec JSON ("HDF"), the one result model of kscan.
//!
//! The shape follows `exec-json.json` from inspecjs. Fields kscan never reads
//! back are kept as raw JSON values so that a document round-trips without
//! losing them; a control's `code` is *not* read on load (it is the largest
//! field of a typical file and no report uses it), but engines may set it when
//! they write HDF.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A whole `inspec exec --reporter json` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Execution {
    /// Where the scan ran.
    pub platform: Platform,
    /// The profiles that ran, wrapper first for overlays.
    pub profiles: Vec<Profile>,
    /// Run statistics.
    #[serde(default)]
    pub statistics: Statistics,
    /// Version of the engine that wrote the document.
    #[serde(default)]
    pub version: String,
}

/// The scanned platform. kscan adds the scan target and strategy as extra
/// keys (kept in `extra`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Platform {
    /// Platform name, e.g. `debian` or `k8s-container`.
    #[serde(default)]
    pub name: String,
    /// Platform release.
    #[serde(default)]
    pub release: String,
    /// Identifier of the target, e.g. `namespace/pod/container`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// Any other keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Run statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Statistics {
    /// Seconds the run took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Any other keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One profile of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    /// Profile name; `kscan summary` groups by it.
    pub name: String,
    /// Human title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Profile version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Profile summary text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Checksum of the profile.
    #[serde(default)]
    pub sha256: String,
    /// Platform support declarations.
    #[serde(default)]
    pub supports: Vec<Value>,
    /// Inputs/attributes.
    #[serde(default)]
    pub attributes: Vec<Value>,
    /// Control groups (files).
    #[serde(default)]
    pub groups: Vec<Value>,
    /// The controls.
    pub controls: Vec<Control>,
    /// For a dependency of an overlay: the name of the profile that wraps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_profile: Option<String>,
    /// Dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<Value>,
    /// `loaded`, `skipped`, `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why the profile was skipped, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Any other keys (maintainer, license, copyright, …), preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One control and its results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Control {
    /// Control id, e.g. `V-12345` or `kscan-passwd-perms`.
    pub id: String,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description (legacy single text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Labelled descriptions (`default`, `check`, `fix`, `rationale`, …).
    #[serde(default, deserialize_with = "descriptions", skip_serializing_if = "Vec::is_empty")]
    pub descriptions: Vec<Description>,
    /// Impact 0.0–1.0. Required: severity and Not Applicable depend on it.
    pub impact: f64,
    /// References.
    #[serde(default)]
    pub refs: Vec<Value>,
    /// Tags (`nist`, `severity`, `severityoverride`, `cis`, …).
    #[serde(default)]
    pub tags: Map<String, Value>,
    /// The control's source. Not read on load (see the module docs).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Where the control is defined.
    #[serde(default)]
    pub source_location: SourceLocation,
    /// Waiver data; a truthy `skipped_due_to_waiver` makes the control Not Applicable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver_data: Option<Value>,
    /// Attestation data (manual review).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation_data: Option<Value>,
    /// The results of the control's tests. `None` when the key is absent,
    /// which marks a profile document, not a run (rejected on load).
    #[serde(default)]
    pub results: Option<Vec<TestResult>>,
}

impl Control {
    /// The results, empty when absent.
    pub fn results(&self) -> &[TestResult] {
        self.results.as_deref().unwrap_or_default()
    }

    /// The description with `label` (`default` falls back to `desc`).
    pub fn description(&self, label: &str) -> Option<&str> {
        self.descriptions.iter().find(|d| d.label == label).map(|d| d.data.as_str()).or_else(|| {
            if label == "default" {
                self.desc.as_deref()
            } else {
                None
            }
        })
    }

    /// A tag's value as a string, if it is one.
    pub fn tag_str(&self, name: &str) -> Option<&str> {
        self.tags.get(name).and_then(Value::as_str)
    }

    /// The NIST SP 800-53 tags (a string or list of strings).
    pub fn nist_tags(&self) -> Vec<&str> {
        match self.tags.get("nist") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// A labelled description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Description {
    /// Label, e.g. `default`, `check`, `fix`.
    pub label: String,
    /// Text.
    #[serde(default)]
    pub data: String,
}

/// Where a control is defined.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceLocation {
    /// File path of the control, relative to the profile.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Line in that file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// One test (a `describe` block expectation) of a control.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestResult {
    /// Status as the engine wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResultStatus>,
    /// What was tested, e.g. `File /etc/passwd mode should cmp == "0644"`.
    #[serde(default)]
    pub code_desc: String,
    /// Seconds the test took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_time: Option<f64>,
    /// When the test started (RFC 3339).
    #[serde(default)]
    pub start_time: String,
    /// Failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why the test was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_message: Option<String>,
    /// Exception class for errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// Backtrace; any truthy value makes the result an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtrace: Option<Value>,
    /// The resource tested, e.g. `File /etc/passwd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The resource's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

/// The status string of a test result. Anything else is kept as
/// [`ResultStatus::Unknown`] so that the loader can name the control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultStatus {
    /// `passed`
    Passed,
    /// `failed`
    Failed,
    /// `skipped`
    Skipped,
    /// `error`
    Error,
    /// Any other string (rejected on load).
    Unknown(String),
}

impl ResultStatus {
    /// The string as written in HDF.
    pub fn as_str(&self) -> &str {
        match self {
            ResultStatus::Passed => "passed",
            ResultStatus::Failed => "failed",
            ResultStatus::Skipped => "skipped",
            ResultStatus::Error => "error",
            ResultStatus::Unknown(s) => s,
        }
    }
}

impl Serialize for ResultStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResultStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(match &*s {
            "passed" => ResultStatus::Passed,
            "failed" => ResultStatus::Failed,
            "skipped" => ResultStatus::Skipped,
            "error" => ResultStatus::Error,
            _ => ResultStatus::Unknown(s.into_owned()),
        })
    }
}

/// Exec JSON writes descriptions as `[{label, data}]`; profile JSON and some
/// converters write `{label: data}`. Accept both.
fn descriptions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Description>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<Description>),
        Map(Map<String, Value>),
        Null(()),
    }
    Ok(match Form::deserialize(d)? {
        Form::List(list) => list,
        Form::Map(map) => map
            .into_iter()
            .filter_map(|(label, v)| v.as_str().map(|data| Description { label, data: data.to_owned() }))
            .collect(),
        Form::Null(()) => Vec::new(),
    })
}

/// JavaScript truthiness, which inspecjs applies to `backtrace` and
/// `skipped_due_to_waiver`.
pub fn js_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness_matches_javascript() {
        for v in [json!(true), json!("false"), json!(1), json!([]), json!({})] {
            assert!(js_truthy(&v), "{v} is truthy in JS");
        }
        for v in [json!(null), json!(false), json!(0), json!(""), json!(0.0)] {
            assert!(!js_truthy(&v), "{v} is falsy in JS");
        }
    }

    #[test]
    fn descriptions_accept_list_and_map() {
        let c: Control = serde_json::from_value(json!({
            "id": "a", "impact": 0.5, "results": [],
            "descriptions": {"default": "d", "fix": "f"}
        }))
        .unwrap();
        assert_eq!(c.description("fix"), Some("f"));
        let c: Control = serde_json::from_value(json!({
            "id": "a", "impact": 0.5, "results": [], "desc": "legacy",
            "descriptions": [{"label": "check", "data": "c"}]
        }))
        .unwrap();
        assert_eq!(c.description("check"), Some("c"));
        assert_eq!(c.description("default"), Some("legacy"));
    }

    #[test]
    fn code_is_not_kept_on_load_but_is_written() {
        let mut c: Control =
            serde_json::from_value(json!({"id": "a", "impact": 0.5, "results": [], "code": "x" })).unwrap();
        assert!(c.code.is_none());
        c.code = Some("control 'a'".into());
        assert_eq!(serde_json::to_value(&c).unwrap()["code"], "control 'a'");
    }
}

/// Severity of a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// impact < 0.1
    None,
    /// impact < 0.4
    Low,
    /// impact < 0.7
    Medium,
    /// impact < 0.9
    High,
    /// impact ≥ 0.9
    Critical,
}

impl Severity {
    /// Most severe first, the order SAF lists them.
    pub const ALL: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::None];

    /// The lower-case name.
    pub fn key(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Index into [`Severity::ALL`].
    pub fn index(self) -> usize {
        match self {
            Severity::Critical => 0,
            Severity::High => 1,
            Severity::Medium => 2,
            Severity::Low => 3,
            Severity::None => 4,
        }
    }

    /// Parse a severity name, ignoring case (`HIGH`, `high`).
    pub fn parse(name: &str) -> Option<Self> {
        Severity::ALL.into_iter().find(|s| s.key().eq_ignore_ascii_case(name))
    }

    /// inspecjs `convertImpactToSeverity`: exact at the boundaries.
    pub fn from_impact(impact: f64) -> Self {
        if impact < 0.1 {
            Severity::None
        } else if impact < 0.4 {
            Severity::Low
        } else if impact < 0.7 {
            Severity::Medium
        } else if impact < 0.9 {
            Severity::High
        } else {
            Severity::Critical
        }
    }

    /// The severity of a control: `tags.severityoverride`, else
    /// `tags.severity`, when the tag names a severity (any case); else from
    /// impact. SAF keeps the tag's casing as its own bucket; kscan lower-cases.
    pub fn of(control: &Control) -> Self {
        ["severityoverride", "severity"]
            .into_iter()
            .find_map(|tag| control.tag_str(tag).and_then(Severity::parse))
            .unwrap_or_else(|| Severity::from_impact(control.impact))
    }

    /// GitHub's `security-severity` score for this severity.
    pub fn security_severity(self) -> &'static str {
        match self {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "2.0",
            Severity::None => "0.0",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
