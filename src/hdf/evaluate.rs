//! From a parsed document to evaluated controls: which profiles count, which
//! copy of an overlaid control counts, and each control's status and severity.
//!
//! # Overlays
//!
//! An overlay (wrapper) profile lists the controls of the profiles it depends
//! on; InSpec writes those dependencies as further profiles whose
//! `parent_profile` names the wrapper. inspecjs links each wrapper control to
//! the control with the same id in the dependency, recursively, and counts the
//! wrapper's control with the data of the deepest copy (the *root*).
//!
//! kscan does the same, and counts each control exactly once:
//! - profiles that some other profile of the file wraps are not counted on
//!   their own; every other profile ("top" profile) is counted, not only the
//!   first one as SAF does;
//! - a top profile's control is counted under its own id, with the status and
//!   severity of the root copy when the root has results, else of the nearest
//!   copy that has results (SAF would report Profile Error there), else of the
//!   root;
//! - two independent top profiles that share a control id each count it, once
//!   per profile.

use super::model::{Execution, Profile};
use super::status::{control_status, ControlStatus, Severity};

/// A control of a top profile, with the copy whose data counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvaluatedControl {
    /// Index of the counted profile in `profiles`.
    pub profile: usize,
    /// Index of the control in that profile (the wrapper's control, whose id is reported).
    pub control: usize,
    /// Profile index of the copy whose data counts (status, severity, results).
    pub data_profile: usize,
    /// Control index of that copy.
    pub data_control: usize,
    /// Status of the control.
    pub status: ControlStatus,
    /// Severity of the control.
    pub severity: Severity,
}

/// A profile that counts, and its controls.
#[derive(Debug, Clone)]
pub struct EvaluatedProfile {
    /// Index in `Execution::profiles`.
    pub profile: usize,
    /// The counted controls, in document order.
    pub controls: Vec<EvaluatedControl>,
}

/// Evaluate every top profile of `execution`.
pub fn evaluate(execution: &Execution) -> Vec<EvaluatedProfile> {
    let profiles = &execution.profiles;
    // extends_from[i]: the profiles that profile i wraps, in document order.
    let mut extends_from: Vec<Vec<usize>> = vec![Vec::new(); profiles.len()];
    let mut wrapped = vec![false; profiles.len()];
    for (child, p) in profiles.iter().enumerate() {
        if let Some(parent_name) = &p.parent_profile {
            if let Some(parent) = profiles.iter().position(|q| &q.name == parent_name) {
                if parent != child {
                    extends_from[parent].push(child);
                    wrapped[child] = true;
                }
            }
        }
    }

    (0..profiles.len())
        .filter(|&i| !wrapped[i])
        .map(|i| EvaluatedProfile {
            profile: i,
            controls: profiles[i]
                .controls
                .iter()
                .enumerate()
                .map(|(ci, c)| {
                    let chain = overlay_chain(profiles, &extends_from, i, &c.id);
                    let (dp, dc) = data_copy(profiles, &chain).unwrap_or((i, ci));
                    let data = &profiles[dp].controls[dc];
                    EvaluatedControl {
                        profile: i,
                        control: ci,
                        data_profile: dp,
                        data_control: dc,
                        status: control_status(data),
                        severity: Severity::of(data),
                    }
                })
                .collect(),
        })
        .collect()
}

/// The copies of control `id` below profile `top`, wrapper first, root last
/// (the wrapper itself excluded). Guards against cycles.
fn overlay_chain(profiles: &[Profile], extends_from: &[Vec<usize>], top: usize, id: &str) -> Vec<(usize, usize)> {
    let mut chain = Vec::new();
    let mut current = top;
    let mut seen = vec![false; profiles.len()];
    seen[top] = true;
    'walk: loop {
        for &dep in &extends_from[current] {
            if seen[dep] {
                continue;
            }
            if let Some(ci) = profiles[dep].controls.iter().position(|c| c.id == id) {
                seen[dep] = true;
                chain.push((dep, ci));
                current = dep;
                continue 'walk;
            }
        }
        break;
    }
    chain
}

/// The copy whose data counts: the root when it has results, else the copy
/// nearest the root that has results, else the root. `None` without overlay.
fn data_copy(profiles: &[Profile], chain: &[(usize, usize)]) -> Option<(usize, usize)> {
    let root = *chain.last()?;
    let has_results = |&(p, c): &(usize, usize)| !profiles[p].controls[c].results().is_empty();
    Some(chain.iter().rev().copied().find(has_results).unwrap_or(root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exec(v: serde_json::Value) -> Execution {
        serde_json::from_value(v).unwrap()
    }

    fn passed() -> serde_json::Value {
        json!([{"status": "passed", "code_desc": "ok", "start_time": ""}])
    }

    #[test]
    fn overlay_counts_each_control_once_with_root_data() {
        let e = exec(json!({
            "platform": {"name": "x", "release": "1"},
            "profiles": [
                {"name": "wrapper", "controls": [
                    {"id": "C1", "impact": 0.0, "results": []},
                    {"id": "C2", "impact": 0.5, "results": []},
                    {"id": "W1", "impact": 0.5, "results": passed()}
                ]},
                {"name": "base", "parent_profile": "wrapper", "controls": [
                    {"id": "C1", "impact": 0.7, "results": passed()},
                    {"id": "C2", "impact": 0.5, "results": [
                        {"status": "failed", "code_desc": "bad", "start_time": ""}]}
                ]}
            ]
        }));
        let ev = evaluate(&e);
        assert_eq!(ev.len(), 1, "the wrapped profile is not counted on its own");
        let statuses: Vec<_> =
            ev[0].controls.iter().map(|c| (e.profiles[c.profile].controls[c.control].id.as_str(), c.status)).collect();
        assert_eq!(
            statuses,
            [("C1", ControlStatus::Passed), ("C2", ControlStatus::Failed), ("W1", ControlStatus::Passed)]
        );
        assert_eq!(ev[0].controls[0].severity, Severity::High, "root data: impact 0.7");
    }

    #[test]
    fn independent_profiles_are_all_counted() {
        let e = exec(json!({
            "platform": {"name": "x", "release": "1"},
            "profiles": [
                {"name": "a", "controls": [{"id": "C1", "impact": 0.5, "results": passed()}]},
                {"name": "b", "controls": [{"id": "C1", "impact": 0.5, "results": passed()}]}
            ]
        }));
        let ev = evaluate(&e);
        assert_eq!(ev.iter().map(|p| p.controls.len()).sum::<usize>(), 2);
    }
}
