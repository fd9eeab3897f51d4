//! Counts of controls by status and severity, and compliance.

use super::evaluate::EvaluatedControl;
use super::status::{ControlStatus, Severity};

/// Number of controls per (status, severity).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([[u64; 5]; 5]);

impl Counts {
    /// Count `controls`.
    pub fn of<'a>(controls: impl IntoIterator<Item = &'a EvaluatedControl>) -> Self {
        let mut counts = Counts::default();
        for c in controls {
            counts.add(c.status, c.severity);
        }
        counts
    }

    /// Count one control.
    pub fn add(&mut self, status: ControlStatus, severity: Severity) {
        self.0[status.index()][severity.index()] += 1;
    }

    /// Add all of `other`.
    pub fn merge(&mut self, other: &Counts) {
        for (row, other_row) in self.0.iter_mut().zip(other.0.iter()) {
            for (cell, o) in row.iter_mut().zip(other_row.iter()) {
                *cell += o;
            }
        }
    }

    /// Controls with `status` and `severity`.
    pub fn get(&self, status: ControlStatus, severity: Severity) -> u64 {
        self.0[status.index()][severity.index()]
    }

    /// Controls with `status`, every severity included.
    pub fn total(&self, status: ControlStatus) -> u64 {
        self.0[status.index()].iter().sum()
    }

    /// Every control counted.
    pub fn controls(&self) -> u64 {
        ControlStatus::ALL.iter().map(|&s| self.total(s)).sum()
    }

    /// SAF's `total` for a status: the sum of the severities SAF lists for it
    /// (critical–low, plus none for `no_impact` only). A control of severity
    /// none with another status is missing from SAF's totals.
    pub fn saf_total(&self, status: ControlStatus) -> u64 {
        let listed = if status == ControlStatus::NotApplicable { 5 } else { 4 };
        Severity::ALL[..listed].iter().map(|&sev| self.get(status, sev)).sum()
    }

    /// `round(100 × Passed / (Passed + Failed + Not Reviewed + Profile Error))`,
    /// halves up; Not Applicable excluded; 0 when nothing counts.
    pub fn compliance(&self) -> u32 {
        let passed = self.total(ControlStatus::Passed);
        let denominator = passed
            + self.total(ControlStatus::Failed)
            + self.total(ControlStatus::NotReviewed)
            + self.total(ControlStatus::ProfileError);
        if denominator == 0 {
            return 0;
        }
        // f64::round rounds halves away from zero, which for these
        // non-negative values is JavaScript's Math.round.
        ((100 * passed) as f64 / denominator as f64).round() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(p: u64, f: u64, nr: u64, pe: u64, na: u64) -> Counts {
        let mut c = Counts::default();
        for (status, n) in [
            (ControlStatus::Passed, p),
            (ControlStatus::Failed, f),
            (ControlStatus::NotReviewed, nr),
            (ControlStatus::ProfileError, pe),
            (ControlStatus::NotApplicable, na),
        ] {
            for _ in 0..n {
                c.add(status, Severity::Medium);
            }
        }
        c
    }

    #[test]
    fn compliance_matches_the_documented_example() {
        assert_eq!(counts(213, 5, 3, 2, 40).compliance(), 96);
    }

    #[test]
    fn compliance_rounds_halves_up_and_handles_zero() {
        assert_eq!(counts(1, 1, 0, 0, 0).compliance(), 50);
        assert_eq!(counts(1, 7, 0, 0, 0).compliance(), 13, "12.5 rounds up");
        assert_eq!(counts(1, 199, 0, 0, 0).compliance(), 1, "0.5 rounds up");
        assert_eq!(counts(0, 0, 0, 0, 9).compliance(), 0);
        assert_eq!(counts(0, 0, 0, 0, 0).compliance(), 0);
    }

    #[test]
    fn saf_total_drops_severity_none_outside_no_impact() {
        let mut c = Counts::default();
        c.add(ControlStatus::ProfileError, Severity::None);
        c.add(ControlStatus::ProfileError, Severity::High);
        c.add(ControlStatus::NotApplicable, Severity::None);
        assert_eq!(c.saf_total(ControlStatus::ProfileError), 1);
        assert_eq!(c.total(ControlStatus::ProfileError), 2);
        assert_eq!(c.saf_total(ControlStatus::NotApplicable), 1);
    }
}
