//! Evaluating rules against counts: every rule, in SAF's order, with SAF's
//! wording.

use std::collections::{BTreeMap, HashSet};

use super::rules::{Bound, Rule, RuleKey, Scope};
use super::Violation;
use crate::hdf::{total_counts, ControlStatus, Counts, ResultSet, Severity};

/// What the rules are checked against: merged counts over every top
/// profile of every set, and (when a `controls` rule needs them) the ids in
/// each (status, severity) bucket.
struct Tally<'a> {
    counts: Counts,
    /// `ids[status][severity]`: distinct ids in document order.
    ids: Option<[[Vec<&'a str>; 5]; 5]>,
}

impl<'a> Tally<'a> {
    fn new(sets: &'a [ResultSet], need_ids: bool) -> Self {
        let ids = need_ids.then(|| {
            let mut ids: [[Vec<&str>; 5]; 5] = Default::default();
            let mut seen: [[HashSet<&str>; 5]; 5] = Default::default();
            for set in sets {
                for c in set.controls() {
                    let id = set.control(c).id.as_str();
                    let (s, sev) = (c.status.index(), c.severity.index());
                    if seen[s][sev].insert(id) {
                        ids[s][sev].push(id);
                    }
                }
            }
            ids
        });
        Tally { counts: total_counts(sets), ids }
    }

    fn count(&self, status: ControlStatus, scope: Scope) -> u64 {
        match scope {
            Scope::Total => self.counts.total(status),
            Scope::Severity(sev) => self.counts.get(status, sev),
        }
    }

    fn ids(&self, status: ControlStatus, severity: Severity) -> &[&'a str] {
        self.ids.as_ref().map_or(&[], |ids| &ids[status.index()][severity.index()])
    }
}

/// Every violated rule, in SAF's order.
pub fn violations(rules: &BTreeMap<RuleKey, Rule>, sets: &[ResultSet]) -> Vec<Violation> {
    let need_ids = rules.values().any(|r| matches!(r, Rule::Controls(..)));
    let tally = Tally::new(sets, need_ids);
    rules.values().filter_map(|rule| violation(rule, &tally)).collect()
}

fn violation(rule: &Rule, tally: &Tally<'_>) -> Option<Violation> {
    let key = rule.key().to_string();
    match rule {
        Rule::Compliance(bound, limit) => {
            let actual = u64::from(tally.counts.compliance());
            let (broken, word, relation) = match bound {
                Bound::Min => (actual < *limit, "minimum", "below"),
                Bound::Max => (actual > *limit, "maximum", "above"),
            };
            broken.then(|| Violation {
                rule: key,
                message: format!("Overall compliance {word} was not satisfied"),
                detail: Some(format!("compliance is {actual}%, {relation} the {word} of {limit}%")),
                actual: Some(actual),
                limit: Some(*limit),
            })
        }
        Rule::ExactTotal(status, limit) => {
            let actual = tally.count(*status, Scope::Total);
            (actual != *limit).then(|| count_violation(key, *status, actual, *limit, "is not equal to"))
        }
        Rule::Count(status, scope, bound, limit) => {
            let actual = tally.count(*status, *scope);
            let (broken, relation) = match bound {
                Bound::Min => (actual < *limit, "is less than"),
                Bound::Max => (actual > *limit, "is greater than"),
            };
            broken.then(|| count_violation(key, *status, actual, *limit, relation))
        }
        Rule::Controls(status, severity, expected) => {
            let actual = tally.ids(*status, *severity);
            let missing: Vec<&str> = expected.iter().map(String::as_str).filter(|id| !actual.contains(id)).collect();
            let unexpected: Vec<&str> = actual.iter().copied().filter(|id| !expected.iter().any(|e| e == id)).collect();
            if missing.is_empty() && unexpected.is_empty() {
                return None;
            }
            let message = match missing.first() {
                Some(first) => {
                    format!("Expected {key} to contain {first} controls but it only contained [{}]", actual.join(", "))
                }
                None => {
                    format!("Expected {key} to contain {} controls but it contained {}", expected.len(), actual.len())
                }
            };
            let mut detail = Vec::new();
            if !missing.is_empty() {
                detail.push(format!("missing {}", missing.join(", ")));
            }
            if !unexpected.is_empty() {
                detail.push(format!("not listed {}", unexpected.join(", ")));
            }
            Some(Violation {
                rule: key,
                message,
                detail: Some(detail.join("; ")),
                actual: Some(actual.len() as u64),
                limit: Some(expected.len() as u64),
            })
        }
    }
}

/// SAF's wording for a count rule; `relation` is "is less than", "is greater
/// than" or "is not equal to".
fn count_violation(key: String, status: ControlStatus, actual: u64, limit: u64, relation: &str) -> Violation {
    let name = status.key();
    Violation {
        message: format!(
            "{key}: Threshold not met. Number of received total {name} controls ({actual}) {relation} your set threshold for the number of {name} controls ({limit})"
        ),
        rule: key,
        detail: None,
        actual: Some(actual),
        limit: Some(limit),
    }
}
