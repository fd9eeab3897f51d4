//! The vocabulary of threshold files: which rules exist, how each is keyed,
//! and the order SAF checks them in.

use std::fmt;

use crate::hdf::{ControlStatus, Severity};

/// A lower or an upper limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    /// `min`: at least this many.
    Min,
    /// `max`: at most this many.
    Max,
}

impl Bound {
    /// The key in threshold files.
    pub fn key(self) -> &'static str {
        match self {
            Bound::Min => "min",
            Bound::Max => "max",
        }
    }
}

/// What a count rule counts: every control of a status, or those of one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `<status>.total`
    Total,
    /// `<status>.<severity>`
    Severity(Severity),
}

impl Scope {
    /// The key in threshold files.
    pub fn key(self) -> &'static str {
        match self {
            Scope::Total => "total",
            Scope::Severity(s) => s.key(),
        }
    }
}

/// Which rule a threshold entry is: everything but its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKey {
    /// `compliance.min` / `compliance.max`
    Compliance(Bound),
    /// `<status>.total: N`, exactly N controls.
    ExactTotal(ControlStatus),
    /// `<status>.total.min`, `<status>.<severity>.max`, …
    Count(ControlStatus, Scope, Bound),
    /// `<status>.<severity>.controls: [ids]`, exactly these controls.
    Controls(ControlStatus, Severity),
}

impl RuleKey {
    /// The position of the rule in SAF's checking order:
    /// compliance min, max; scalar totals (passed, failed, skipped,
    /// no_impact, error); `total.min` per status; `total.max` per status;
    /// per severity (critical … none) × status: min, max; then `controls`
    /// in the same severity × status order. `no_impact.total.min/max`, which
    /// SAF ignores, come after the other statuses' total limits.
    pub fn order(self) -> (u8, usize, usize, usize) {
        match self {
            RuleKey::Compliance(b) => (0, b as usize, 0, 0),
            RuleKey::ExactTotal(s) => {
                let pos = [
                    ControlStatus::Passed,
                    ControlStatus::Failed,
                    ControlStatus::NotReviewed,
                    ControlStatus::NotApplicable,
                    ControlStatus::ProfileError,
                ]
                .iter()
                .position(|&x| x == s)
                .unwrap_or(0);
                (1, pos, 0, 0)
            }
            RuleKey::Count(s, Scope::Total, Bound::Min) => (2, s.index(), 0, 0),
            RuleKey::Count(s, Scope::Total, Bound::Max) => (3, s.index(), 0, 0),
            RuleKey::Count(s, Scope::Severity(sev), b) => (4, sev.index(), s.index(), b as usize),
            RuleKey::Controls(s, sev) => (5, sev.index(), s.index(), 0),
        }
    }
}

impl PartialOrd for RuleKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RuleKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

impl fmt::Display for RuleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleKey::Compliance(b) => write!(f, "compliance.{}", b.key()),
            RuleKey::ExactTotal(s) => write!(f, "{}.total", s.key()),
            RuleKey::Count(s, scope, b) => write!(f, "{}.{}.{}", s.key(), scope.key(), b.key()),
            RuleKey::Controls(s, sev) => write!(f, "{}.{}.controls", s.key(), sev.key()),
        }
    }
}

/// One rule of a threshold file: its key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `compliance.min/max`: a percentage, 0–100.
    Compliance(Bound, u64),
    /// `<status>.total: N`.
    ExactTotal(ControlStatus, u64),
    /// `<status>.<total|severity>.<min|max>`: a number of controls.
    Count(ControlStatus, Scope, Bound, u64),
    /// `<status>.<severity>.controls`: the exact set of ids, unique, in file order.
    Controls(ControlStatus, Severity, Vec<String>),
}

impl Rule {
    /// The rule's key.
    pub fn key(&self) -> RuleKey {
        match *self {
            Rule::Compliance(b, _) => RuleKey::Compliance(b),
            Rule::ExactTotal(s, _) => RuleKey::ExactTotal(s),
            Rule::Count(s, scope, b, _) => RuleKey::Count(s, scope, b),
            Rule::Controls(s, sev, _) => RuleKey::Controls(s, sev),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_as_in_threshold_files() {
        let cases = [
            (RuleKey::Compliance(Bound::Min), "compliance.min"),
            (RuleKey::ExactTotal(ControlStatus::NotApplicable), "no_impact.total"),
            (RuleKey::Count(ControlStatus::NotReviewed, Scope::Total, Bound::Max), "skipped.total.max"),
            (
                RuleKey::Count(ControlStatus::Failed, Scope::Severity(Severity::Critical), Bound::Max),
                "failed.critical.max",
            ),
            (RuleKey::Controls(ControlStatus::Passed, Severity::High), "passed.high.controls"),
        ];
        for (key, text) in cases {
            assert_eq!(key.to_string(), text);
        }
    }

    #[test]
    fn order_is_safs() {
        use ControlStatus::*;
        let mut keys = vec![
            RuleKey::Controls(Passed, Severity::Critical),
            RuleKey::Count(NotApplicable, Scope::Severity(Severity::None), Bound::Min),
            RuleKey::Count(Failed, Scope::Severity(Severity::High), Bound::Max),
            RuleKey::Count(Passed, Scope::Severity(Severity::High), Bound::Min),
            RuleKey::Count(Passed, Scope::Severity(Severity::Critical), Bound::Max),
            RuleKey::Count(NotApplicable, Scope::Total, Bound::Max),
            RuleKey::Count(ProfileError, Scope::Total, Bound::Max),
            RuleKey::Count(Passed, Scope::Total, Bound::Max),
            RuleKey::Count(Failed, Scope::Total, Bound::Min),
            RuleKey::ExactTotal(ProfileError),
            RuleKey::ExactTotal(NotApplicable),
            RuleKey::Compliance(Bound::Max),
            RuleKey::Compliance(Bound::Min),
        ];
        keys.sort();
        let text: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "compliance.min",
                "compliance.max",
                "no_impact.total",
                "error.total",
                "failed.total.min",
                "passed.total.max",
                "error.total.max",
                "no_impact.total.max",
                "passed.critical.max",
                "passed.high.min",
                "failed.high.max",
                "no_impact.none.min",
                "passed.critical.controls",
            ]
        );
    }
}
