//! Findings against a baseline: which of this run's findings are new, which
//! were there already (unchanged), and which the baseline had and this run
//! no longer has (fixed).
//!
//! Findings are matched by [`ControlView::fingerprint`] — control, profile
//! and the target's identity, the workload rather than the pod — so a pod
//! restarted between the runs keeps its findings unchanged. A baseline
//! finding of a target this run did not scan is not called fixed: it was
//! not looked at. A baseline made with other profile versions or of other
//! targets is compared all the same, and every such difference is a
//! warning the reports and the run manifest carry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::view::{ControlView, Location};
use super::{is_finding, target_of};
use crate::hdf::{ResultSet, Severity};

/// Where a finding stands against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not in the baseline.
    New,
    /// In the baseline too.
    Unchanged,
}

impl State {
    /// `new` or `unchanged`, as SARIF's `baselineState` says it.
    pub fn key(self) -> &'static str {
        match self {
            State::New => "new",
            State::Unchanged => "unchanged",
        }
    }
}

/// Which findings count toward the gate (`--gate-on`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GateOn {
    /// Every finding.
    #[default]
    All,
    /// Only findings the baseline does not have.
    New,
}

/// One finding of the baseline, kept after its results are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The fingerprint.
    pub fingerprint: String,
    /// The control id.
    pub id: String,
    /// The title, if any.
    pub title: Option<String>,
    /// The profile name.
    pub profile: String,
    /// The target as the baseline names it.
    pub target: String,
    /// The target's identity (the workload).
    pub identity: String,
    /// Severity.
    pub severity: Severity,
    /// Where it pointed to.
    pub location: Location,
}

/// A baseline: the findings of earlier results, by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// What was given (`--baseline` paths, space-separated).
    pub origin: String,
    findings: HashMap<String, Finding>,
    /// Profile name → versions seen.
    profiles: BTreeMap<String, BTreeSet<String>>,
    /// Target identities scanned.
    identities: BTreeSet<String>,
}

impl Baseline {
    /// The baseline of `sets`, given as `origin`.
    pub fn of(origin: String, sets: &[ResultSet]) -> Self {
        let mut b = Baseline { origin, ..Baseline::default() };
        b.profiles = profiles(sets);
        for set in sets {
            let target = target_of(set);
            for control in set.controls() {
                let view = ControlView::new(set, &target, control);
                b.identities.insert(view.identity().to_owned());
                if is_finding(view.status()) {
                    let f = Finding {
                        fingerprint: view.fingerprint(),
                        id: view.id().to_owned(),
                        title: view.title().map(|t| t.trim().to_owned()),
                        profile: view.profile().to_owned(),
                        target: target.clone(),
                        identity: view.identity().to_owned(),
                        severity: view.severity(),
                        location: view.location(),
                    };
                    b.findings.insert(f.fingerprint.clone(), f);
                }
            }
        }
        b
    }

    /// Whether the baseline has the finding with `fingerprint`.
    pub fn has(&self, fingerprint: &str) -> bool {
        self.findings.contains_key(fingerprint)
    }

    /// How many findings the baseline has.
    pub fn len(&self) -> usize {
        self.findings.len()
    }

    /// Whether the baseline has no findings.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }

    /// The comparison of this run's `sets` with the baseline.
    pub fn compare(&self, sets: &[ResultSet]) -> Diff {
        let mut diff = Diff { origin: self.origin.clone(), ..Diff::default() };
        let mut identities = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for set in sets {
            let target = target_of(set);
            for control in set.controls() {
                let view = ControlView::new(set, &target, control);
                identities.insert(view.identity().to_owned());
                if !is_finding(view.status()) {
                    continue;
                }
                let fp = view.fingerprint();
                if self.has(&fp) {
                    diff.unchanged += 1;
                } else {
                    diff.new += 1;
                }
                seen.insert(fp);
            }
        }
        let mut gone: Vec<&Finding> = self.findings.values().filter(|f| !seen.contains(&f.fingerprint)).collect();
        gone.sort_by(|a, b| worst_first(a, b));
        for f in gone {
            if identities.contains(&f.identity) {
                diff.fixed.push(f.clone());
            } else {
                diff.not_compared += 1;
            }
        }
        diff.warnings = self.mismatches(&profiles(sets), &identities, diff.not_compared);
        diff
    }

    /// [`Baseline::compare`], with every finding of `sets` listed as new or
    /// unchanged (most severe first), for readers that show findings and
    /// not only counts (the service's scan diff).
    pub fn classify(&self, sets: &[ResultSet]) -> Classes {
        let head = Baseline::of(String::new(), sets);
        let (mut unchanged, mut new): (Vec<Finding>, Vec<Finding>) =
            head.findings.into_values().partition(|f| self.has(&f.fingerprint));
        new.sort_by(worst_first);
        unchanged.sort_by(worst_first);
        Classes { new, unchanged, diff: self.compare(sets) }
    }

    /// What makes the baseline another thing than this run: other profile
    /// versions, profiles or targets only one of them has.
    fn mismatches(
        &self,
        profiles: &BTreeMap<String, BTreeSet<String>>,
        identities: &BTreeSet<String>,
        not_compared: usize,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let list = |v: &BTreeSet<String>| v.iter().cloned().collect::<Vec<_>>().join(", ");
        for (name, versions) in profiles {
            match self.profiles.get(name) {
                Some(theirs) if theirs != versions => out.push(format!(
                    "the baseline ran profile {name} version {}, this run version {}: controls that changed \
                     between them show as new or fixed",
                    list(theirs),
                    list(versions)
                )),
                Some(_) => {}
                None => out.push(format!("the baseline has no results of profile {name}: all its findings are new")),
            }
        }
        for name in self.profiles.keys().filter(|n| !profiles.contains_key(*n)) {
            out.push(format!("this run has no results of the baseline's profile {name}"));
        }
        let only_here: Vec<&String> = identities.difference(&self.identities).collect();
        let only_there: Vec<&String> = self.identities.difference(identities).collect();
        let some = |v: &[&String]| {
            let shown: Vec<&str> = v.iter().take(5).map(|s| s.as_str()).collect();
            let more = if v.len() > 5 { format!(" and {} more", v.len() - 5) } else { String::new() };
            format!("{}{more}", shown.join(", "))
        };
        if !only_here.is_empty() {
            out.push(format!(
                "{} target{} of this run {} not in the baseline ({}): {} findings are new",
                only_here.len(),
                if only_here.len() == 1 { "" } else { "s" },
                if only_here.len() == 1 { "is" } else { "are" },
                some(&only_here),
                if only_here.len() == 1 { "its" } else { "their" }
            ));
        }
        if !only_there.is_empty() {
            out.push(format!(
                "{} target{} of the baseline {} not scanned in this run ({}): {not_compared} of {} findings \
                 {} not compared",
                only_there.len(),
                if only_there.len() == 1 { "" } else { "s" },
                if only_there.len() == 1 { "was" } else { "were" },
                some(&only_there),
                if only_there.len() == 1 { "its" } else { "their" },
                if not_compared == 1 { "is" } else { "are" }
            ));
        }
        out
    }
}

/// Most severe first, then by target and control.
fn worst_first(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    (std::cmp::Reverse(a.severity), &a.identity, &a.id).cmp(&(std::cmp::Reverse(b.severity), &b.identity, &b.id))
}

/// Every finding of a run, by class (see [`Baseline::classify`]).
#[derive(Debug, Clone, Default)]
pub struct Classes {
    /// Findings the baseline does not have.
    pub new: Vec<Finding>,
    /// Findings the baseline has too.
    pub unchanged: Vec<Finding>,
    /// The counts, the fixed findings and the warnings.
    pub diff: Diff,
}

/// Profile name → versions, over `sets`.
fn profiles(sets: &[ResultSet]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for set in sets {
        for p in &set.profiles {
            let profile = set.profile(p);
            out.entry(profile.name.clone()).or_default().insert(profile.version.clone().unwrap_or_default());
        }
    }
    out
}

/// This run against the baseline, as the reports and the manifest show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// The baseline as given.
    pub origin: String,
    /// Findings the baseline does not have.
    pub new: usize,
    /// Findings the baseline has too.
    pub unchanged: usize,
    /// Findings of the baseline this run's targets no longer have, most
    /// severe first.
    pub fixed: Vec<Finding>,
    /// Findings of the baseline on targets this run did not scan.
    pub not_compared: usize,
    /// How the baseline differs from this run (other profile versions,
    /// other targets); empty when it is the same kind of run.
    pub warnings: Vec<String>,
}

impl Diff {
    /// How many findings were fixed.
    pub fn fixed_len(&self) -> usize {
        self.fixed.len()
    }
}

/// `sets` without the findings the baseline has: what the gate counts with
/// `--gate-on new`.
pub fn without_unchanged(sets: &[ResultSet], baseline: &Baseline) -> Vec<ResultSet> {
    sets.iter()
        .map(|set| {
            let target = target_of(set);
            let mut kept = set.clone();
            for profile in &mut kept.profiles {
                profile.controls.retain(|c| {
                    let view = ControlView::new(set, &target, c);
                    !(is_finding(view.status()) && baseline.has(&view.fingerprint()))
                });
            }
            kept
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::set;

    #[test]
    fn findings_are_new_unchanged_or_fixed() {
        let before =
            [set("a.json", "p", Some("ns/web/c"), &[("a", 0.7, "failed"), ("b", 0.5, "failed"), ("c", 0.5, "passed")])];
        let after =
            [set("a.json", "p", Some("ns/web/c"), &[("a", 0.7, "failed"), ("b", 0.5, "passed"), ("c", 0.5, "failed")])];
        let base = Baseline::of("before".into(), &before);
        assert_eq!(base.len(), 2);
        let diff = base.compare(&after);
        assert_eq!((diff.new, diff.unchanged, diff.fixed_len(), diff.not_compared), (1, 1, 1, 0));
        assert_eq!(diff.fixed[0].id, "b");
        assert!(diff.warnings.is_empty(), "{:?}", diff.warnings);
        let same = base.compare(&before);
        assert_eq!((same.new, same.unchanged, same.fixed_len()), (0, 2, 0));
        let classes = base.classify(&after);
        let ids = |f: &[Finding]| f.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
        assert_eq!((ids(&classes.new), ids(&classes.unchanged)), (vec!["c".to_owned()], vec!["a".to_owned()]));
        assert_eq!(classes.diff, diff);
    }

    #[test]
    fn other_targets_and_versions_are_warned_about_and_not_called_fixed() {
        let before = [set("a.json", "p", Some("ns/old/c"), &[("a", 0.7, "failed")])];
        let after = [set("b.json", "p", Some("ns/new/c"), &[("a", 0.7, "failed")])];
        let diff = Baseline::of("before".into(), &before).compare(&after);
        assert_eq!((diff.new, diff.unchanged, diff.fixed_len(), diff.not_compared), (1, 0, 0, 1));
        assert_eq!(diff.warnings.len(), 2, "{:?}", diff.warnings);
        assert!(diff.warnings[0].contains("ns/new/c"), "{:?}", diff.warnings);
        assert!(diff.warnings[1].contains("1 of its findings is not compared"), "{:?}", diff.warnings);

        let mut other = set("a.json", "p", Some("ns/old/c"), &[("a", 0.7, "failed")]);
        other.execution.profiles[0].version = Some("2.0".into());
        let diff = Baseline::of("before".into(), &before).compare(&[other]);
        assert_eq!(diff.warnings.len(), 1);
        assert!(diff.warnings[0].contains("version 1.0, this run version 2.0"), "{:?}", diff.warnings);
    }

    #[test]
    fn the_gate_on_new_drops_what_the_baseline_has() {
        let before = [set("a.json", "p", Some("ns/web/c"), &[("a", 0.7, "failed")])];
        let after =
            [set("a.json", "p", Some("ns/web/c"), &[("a", 0.7, "failed"), ("b", 0.7, "failed"), ("c", 0.7, "passed")])];
        let kept = without_unchanged(&after, &Baseline::of("before".into(), &before));
        let ids: Vec<&str> = kept[0].controls().map(|c| kept[0].control(c).id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }
}
