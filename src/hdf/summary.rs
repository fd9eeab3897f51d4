//! The summary `kscan summary` prints: the structure and numbers of
//! `saf summary -f json`, one entry per profile name.
//!
//! Differences from SAF 1.5.3, on purpose:
//! - every top profile of a file is summarised, not only `profiles[0]`;
//! - with several files of one profile, `compliance` is computed from the
//!   merged counts (SAF averages each file's rounded compliance);
//! - severity tags are lower-cased (SAF makes `HIGH` a bucket of its own that
//!   no key shows);
//! - a control of severity `none` with a status other than `no_impact` is
//!   missing from SAF's totals; kscan keeps SAF's `total` and adds a `none`
//!   key to that status, so no control vanishes.

use serde::Serialize;

use super::counts::Counts;
use super::load::ResultSet;
use super::status::{ControlStatus, Severity};

/// Summary of one profile name across all input files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    /// The profile name.
    pub profile_name: String,
    /// Base names of the files it came from, in input order.
    pub result_sets: Vec<String>,
    /// Counts over those files.
    pub counts: Counts,
}

/// Group every top profile of every set by profile name, in first-seen order.
pub fn summarize(sets: &[ResultSet]) -> Vec<ProfileSummary> {
    let mut out: Vec<ProfileSummary> = Vec::new();
    for set in sets {
        for profile in &set.profiles {
            let name = &set.profile(profile).name;
            let counts = Counts::of(&profile.controls);
            let file = set.source.base_name();
            match out.iter_mut().find(|s| &s.profile_name == name) {
                Some(s) => {
                    s.counts.merge(&counts);
                    if !s.result_sets.contains(&file) {
                        s.result_sets.push(file);
                    }
                }
                None => out.push(ProfileSummary { profile_name: name.clone(), result_sets: vec![file], counts }),
            }
        }
    }
    out
}

/// The JSON/YAML shape of one summary entry, keys in SAF's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryDocument {
    profile_name: String,
    result_sets: Vec<String>,
    compliance: u32,
    passed: StatusCounts,
    failed: StatusCounts,
    skipped: StatusCounts,
    error: StatusCounts,
    #[serde(rename = "no_impact")]
    no_impact: NoImpactCounts,
}

/// Counts of one status other than `no_impact`.
#[derive(Debug, Serialize)]
struct StatusCounts {
    critical: u64,
    high: u64,
    medium: u64,
    low: u64,
    total: u64,
    #[serde(skip_serializing_if = "is_zero")]
    none: u64,
}

/// Counts of `no_impact`, which SAF lists with `none`.
#[derive(Debug, Serialize)]
struct NoImpactCounts {
    critical: u64,
    high: u64,
    medium: u64,
    low: u64,
    none: u64,
    total: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<&ProfileSummary> for SummaryDocument {
    fn from(s: &ProfileSummary) -> Self {
        let c = &s.counts;
        let status = |st: ControlStatus| StatusCounts {
            critical: c.get(st, Severity::Critical),
            high: c.get(st, Severity::High),
            medium: c.get(st, Severity::Medium),
            low: c.get(st, Severity::Low),
            total: c.saf_total(st),
            none: c.get(st, Severity::None),
        };
        let na = ControlStatus::NotApplicable;
        SummaryDocument {
            profile_name: s.profile_name.clone(),
            result_sets: s.result_sets.clone(),
            compliance: c.compliance(),
            passed: status(ControlStatus::Passed),
            failed: status(ControlStatus::Failed),
            skipped: status(ControlStatus::NotReviewed),
            error: status(ControlStatus::ProfileError),
            no_impact: NoImpactCounts {
                critical: c.get(na, Severity::Critical),
                high: c.get(na, Severity::High),
                medium: c.get(na, Severity::Medium),
                low: c.get(na, Severity::Low),
                none: c.get(na, Severity::None),
                total: c.saf_total(na),
            },
        }
    }
}

/// The documents for a list of summaries.
pub fn documents(summaries: &[ProfileSummary]) -> Vec<SummaryDocument> {
    summaries.iter().map(SummaryDocument::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdf::load::Source;

    fn set(name: &str, file: &str, impacts_and_status: &[(f64, &str)]) -> ResultSet {
        let controls: Vec<_> = impacts_and_status
            .iter()
            .enumerate()
            .map(|(i, (impact, status))| {
                serde_json::json!({"id": format!("C{i}"), "impact": impact,
                    "results": [{"status": status, "code_desc": "t", "start_time": ""}]})
            })
            .collect();
        let doc = serde_json::json!({"platform": {"name": "x", "release": "1"},
            "profiles": [{"name": name, "controls": controls}]});
        ResultSet::from_slice(Source::File(file.into()), doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn same_profile_across_files_is_merged() {
        let a = set("p", "/x/a.json", &[(0.7, "passed"), (0.5, "failed")]);
        let b = set("p", "/y/b.json", &[(0.9, "passed")]);
        let c = set("q", "c.json", &[(0.0, "passed")]);
        let s = summarize(&[a, b, c]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].result_sets, ["a.json", "b.json"]);
        let doc = serde_json::to_value(documents(&s)).unwrap();
        assert_eq!(doc[0]["compliance"], 67);
        assert_eq!(doc[0]["passed"]["total"], 2);
        assert_eq!(doc[0]["passed"]["critical"], 1);
        assert_eq!(doc[1]["no_impact"]["none"], 1);
        assert_eq!(doc[1]["no_impact"]["total"], 1);
        assert!(doc[0]["passed"].get("none").is_none(), "none only where SAF would drop a control");
    }

    #[test]
    fn keys_are_in_saf_order() {
        let s = summarize(&[set("p", "a.json", &[(0.5, "passed")])]);
        let text = serde_json::to_string(&documents(&s)).unwrap();
        let order = ["profileName", "resultSets", "compliance", "passed", "failed", "skipped", "error", "no_impact"];
        let positions: Vec<_> = order.iter().map(|k| text.find(&format!("\"{k}\"")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
}
