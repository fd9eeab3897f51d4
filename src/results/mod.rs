//! The post-scan stage: what a run's results become. `kscan scan`, `kscan
//! report`, `kscan posture` and `kscan serve` all go through it.
//!
//! 1. [`Stage::prepare`] checks every input before anything runs: the
//!    threshold file, the templates, the report formats (with those the CI
//!    platform needs) and the platform's environment.
//! 2. [`Stage::verdict`] gates the results, once per run. The verdict
//!    ([`Gate`]) is plain data: it is stored (in the run [`manifest`], in the
//!    service's job) and every rendering — reports, CI outputs, the API's
//!    results — comes from that stored verdict, never from a threshold file
//!    read again.
//! 3. [`Stage::finish`] writes the reports, publishes for the CI platform,
//!    writes the run manifest and returns how the run ends: the gate's
//!    outcome, or — when teardown left objects — exit 4, after every report
//!    and output was written and says so.
//! 4. [`Stage::fail`] publishes a run that ended without results (exit 2 or
//!    3): the CI outputs carry the exit code, and the manifest in an existing
//!    results directory says the run has no results, so an older run's
//!    files are never taken for this one's.
//!
//! [`render`] renders one format of stored results in memory, for the API.

pub mod baseline;
pub mod manifest;

use std::path::{Path, PathBuf};

use crate::ci::publish::{Publisher, RunEnd};
use crate::ci::{self, Platform};
use crate::error::{outcome_code, Error, Result};
use crate::gate::Thresholds;
use crate::hdf::ResultSet;
use crate::report::baseline::without_unchanged;
use crate::report::coverage::Reason;
use crate::report::formats::Plan;
use crate::report::{sarif, Baseline, Coverage, Format, Gate, GateOn, GateViolation, Manifests, Report, Templates};
use crate::Outcome;
use manifest::{Manifest, ReportFile};

/// A threshold file and the name the reports give it.
#[derive(Debug, Clone)]
pub struct Threshold {
    /// The path as given, or the service's threshold name.
    pub name: String,
    /// The rules.
    pub rules: Thresholds,
}

impl Threshold {
    /// Read and check the threshold file at `path`, shown as given.
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Threshold { name: path.display().to_string(), rules: Thresholds::load(path)? })
    }
}

/// What a stage is asked to do.
#[derive(Debug, Default)]
pub struct Spec<'a> {
    /// Gate against this.
    pub threshold: Option<Threshold>,
    /// Reports to write (the platform's are added).
    pub formats: &'a [Format],
    /// Templates overriding the built-in ones.
    pub template_dir: Option<&'a Path>,
    /// The CI platform to publish for.
    pub platform: Option<Platform>,
    /// Refuse to run without any report format (`kscan report`).
    pub need_format: bool,
    /// Compare with this baseline (`--baseline`, loaded and checked).
    pub baseline: Option<Baseline>,
    /// Limit JUnit, Code Quality and the templates to new findings.
    pub only_new: bool,
    /// Which findings the gate counts.
    pub gate_on: GateOn,
    /// Fail the gate when fewer than this percentage of the targets were
    /// scanned (`--min-coverage`).
    pub min_coverage: Option<u8>,
    /// Point the findings at these manifests (`kscan scan --manifests`,
    /// read and checked).
    pub manifests: Option<Manifests>,
    /// SARIF's analysis category (`automationDetails.id` without its last
    /// segment, [`sarif::category`]); the run id, or the report's time, is
    /// added as the last. `None`: `kscan/report/<the targets' namespaces>`.
    pub automation: Option<String>,
}

/// The post-scan stage, with every input checked.
pub struct Stage {
    threshold: Option<Threshold>,
    baseline: Option<Baseline>,
    only_new: bool,
    gate_on: GateOn,
    min_coverage: Option<u8>,
    manifests: Option<Manifests>,
    automation: Option<String>,
    templates: Templates,
    plan: Option<Plan>,
    publisher: Publisher,
}

/// A run's identity, for its manifest.
#[derive(Debug, Clone)]
pub struct Record {
    /// The run id.
    pub run: String,
    /// What ran (`scan`, `scan --root`).
    pub command: &'static str,
}

/// What a run produced, for [`Stage::finish`].
pub struct Done<'a> {
    /// The results, one set per HDF file.
    pub sets: Vec<ResultSet>,
    /// The HDF files as the outputs show them.
    pub hdf: Vec<String>,
    /// Where the reports (and the manifest) go.
    pub out_dir: &'a Path,
    /// The verdict on `sets`, computed once ([`Stage::verdict`]) or stored.
    pub verdict: Option<Gate>,
    /// Why the run is not clean despite its results: teardown left objects
    /// behind (exit 4).
    pub left: Option<Error>,
    /// Write a run manifest for this run.
    pub record: Option<Record>,
    /// Which targets the run meant to scan, and which it did.
    pub coverage: Option<Coverage>,
}

impl Stage {
    /// Check the platform's environment, the threshold, the templates and
    /// the formats.
    pub fn prepare(spec: Spec<'_>) -> Result<Self> {
        let platform = spec.platform.unwrap_or(Platform::None);
        let publisher = Publisher::prepare(platform, |k| std::env::var(k).ok())?;
        let mut templates = Templates::new(spec.template_dir)?;
        let formats = ci::with_platform_formats(spec.formats, platform);
        let plan =
            if formats.is_empty() && !spec.need_format { None } else { Some(Plan::new(&formats, &mut templates)?) };
        if spec.baseline.is_none() && (spec.only_new || spec.gate_on == GateOn::New) {
            let flag = if spec.only_new { "--only-new" } else { "--gate-on new" };
            return Err(Error::input(format!("{flag} compares with a baseline: give --baseline PATH")));
        }
        if spec.gate_on == GateOn::New && spec.threshold.is_none() {
            return Err(Error::input("--gate-on new needs a gate: give --threshold T.yml"));
        }
        Ok(Stage {
            threshold: spec.threshold,
            baseline: spec.baseline,
            only_new: spec.only_new,
            gate_on: spec.gate_on,
            min_coverage: spec.min_coverage,
            manifests: spec.manifests,
            automation: spec.automation,
            templates,
            plan,
            publisher,
        })
    }

    /// Whether a threshold (or a minimum coverage) was given.
    pub fn gates(&self) -> bool {
        self.threshold.is_some() || self.min_coverage.is_some()
    }

    /// [`Stage::verdict`] of a run that meant to scan what `coverage`
    /// lists: with `--min-coverage`, too few scanned targets is one more
    /// violated rule, `coverage.min`, naming the missing ones.
    pub fn verdict_covered(&self, sets: &[ResultSet], coverage: &Coverage) -> Option<Gate> {
        let gate = self.verdict(sets);
        let Some(min) = self.min_coverage else {
            return gate;
        };
        let mut gate = gate.unwrap_or_else(|| Gate {
            threshold: format!("--min-coverage {min}"),
            rules: 0,
            violations: Vec::new(),
        });
        gate.rules += 1;
        if !coverage.reaches(min) {
            gate.violations.push(GateViolation {
                rule: "coverage.min".into(),
                message: format!(
                    "{} of {} targets scanned ({}%), below the minimum of {min}%",
                    coverage.scanned(),
                    coverage.total(),
                    coverage.percent()
                ),
                detail: Some(format!("not scanned: {}", coverage.missing_line())),
            });
        }
        Some(gate)
    }

    /// The gate's verdict on `sets`, when a threshold was given; with
    /// `--gate-on new`, on the findings the baseline does not have (the
    /// others are left out of every count, compliance included).
    pub fn verdict(&self, sets: &[ResultSet]) -> Option<Gate> {
        let t = self.threshold.as_ref()?;
        match (&self.baseline, self.gate_on) {
            (Some(baseline), GateOn::New) => {
                let mut gate = Gate::check(t.name.clone(), &t.rules, &without_unchanged(sets, baseline));
                gate.threshold = format!("{} (new findings only)", t.name);
                Some(gate)
            }
            _ => Some(Gate::check(t.name.clone(), &t.rules, sets)),
        }
    }

    /// Write the reports of `done`, publish them, write its manifest and
    /// print what was done. Returns the gate's outcome, or the teardown
    /// error (exit 4) after everything else was written.
    pub fn finish(&self, done: Done<'_>) -> Result<Outcome> {
        let files = done.sets.len();
        let mut report = Report::compared(done.sets, done.verdict, self.baseline.as_ref(), self.only_new)?
            .with_coverage(done.coverage.clone())
            .with_manifests(self.manifests.as_ref());
        if let Some(category) = &self.automation {
            let run = done.record.as_ref().map_or_else(|| sarif::time_stamp(report.generated_at()), |r| r.run.clone());
            report = report.with_automation(sarif::automation_id(category, &run));
        }
        if let Some(diff) = report.diff() {
            for w in &diff.warnings {
                tracing::warn!("baseline {}: {w}", diff.origin);
            }
        }
        let written = match &self.plan {
            Some(plan) => plan.write(&report, &self.templates, done.out_dir)?,
            None => Vec::new(),
        };
        let exit_code = done.left.as_ref().map_or_else(|| outcome_code(report.outcome()), Error::exit_code);
        let manifest = match &done.record {
            Some(record) => {
                let mut m = Manifest::new(&record.run, record.command, exit_code);
                m.hdf = done.hdf.iter().map(|h| relative_to(done.out_dir, h)).collect();
                m.reports = written
                    .iter()
                    .map(|w| ReportFile {
                        format: w.format.clone(),
                        file: relative_to(done.out_dir, &w.path.display().to_string()),
                    })
                    .collect();
                m.verdict = report.gate().cloned();
                m.baseline = report.diff().map(manifest::BaselineRecord::from);
                m.targets = done.coverage.as_ref().map(|c| c.targets.clone()).unwrap_or_default();
                m.error = done.left.as_ref().map(ToString::to_string);
                Some(m.write(done.out_dir)?)
            }
            None => None,
        };
        let mut out = String::new();
        if self.plan.is_some() {
            out.push_str(&summary_lines(&report, &written));
        } else {
            out.push_str(&baseline_lines(&report));
            if let Some(gate) = report.gate() {
                out.push_str(&gate.text(files));
            }
        }
        let problem = done.left.as_ref().map(ToString::to_string);
        let end = RunEnd { hdf: &done.hdf, manifest: manifest.as_deref(), exit_code, problem: problem.as_deref() };
        out.push_str(&self.publisher.publish(&report, &written, done.out_dir, end)?);
        crate::output::stdout(&out)?;
        match done.left {
            Some(left) => Err(left),
            None => Ok(report.outcome()),
        }
    }

    /// Publish a run that ended with `err` before it had results, write its
    /// manifest into `out_dir` when that exists, and give `err` back (with
    /// what went wrong while publishing, if anything did).
    pub fn fail(&self, err: Error, out_dir: &Path, record: Option<&Record>) -> Error {
        let message = err.to_string();
        if let Some(record) = record.filter(|_| out_dir.is_dir()) {
            let mut m = Manifest::new(&record.run, record.command, err.exit_code());
            m.error = Some(message.clone());
            if let Err(e) = m.write(out_dir) {
                tracing::warn!("{e}");
            }
        }
        match self.publisher.fail(err.exit_code(), &message, out_dir) {
            Ok(text) => {
                if let Err(e) = crate::output::stdout(&text) {
                    tracing::warn!("{e}");
                }
            }
            Err(e) => tracing::warn!("publishing the failure: {e}"),
        }
        err
    }
}

/// `path` relative to `dir` when it is inside it, else as given.
fn relative_to(dir: &Path, path: &str) -> String {
    Path::new(path)
        .strip_prefix(dir)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| path.to_owned(), |p| p.display().to_string())
}

/// What `kscan report` prints: the files, the totals, the gate.
fn summary_lines(report: &Report, written: &[crate::report::Written]) -> String {
    let mut out = String::new();
    for w in written {
        out.push_str(&format!("wrote {} ({})\n", w.path.display(), w.format));
    }
    let totals = report.totals();
    out.push_str(&format!(
        "{} controls, {}% compliance, {} findings\n",
        totals.controls(),
        totals.compliance(),
        report.findings_len()
    ));
    out.push_str(&baseline_lines(report));
    match report.gate() {
        None => out.push_str("gate: not run (no --threshold)\n"),
        Some(g) if g.passed() => out.push_str(&format!("gate: passed ({})\n", g.threshold)),
        Some(g) => {
            out.push_str(&format!(
                "gate: FAILED ({}): {} rule{} violated\n",
                g.threshold,
                g.violations.len(),
                if g.violations.len() == 1 { "" } else { "s" }
            ));
            for v in &g.violations {
                out.push_str(&format!("  - {}: {}\n", v.rule, v.message));
            }
        }
    }
    out
}

/// The coverage, the comparison with the baseline, and each way the
/// baseline differs.
fn baseline_lines(report: &Report) -> String {
    let mut out = String::new();
    if let Some(p) = report.placement() {
        out.push_str(&p.line());
    }
    if let Some(c) = report.coverage() {
        out.push_str(&format!("coverage: {} of {} targets scanned ({}%)\n", c.scanned(), c.total(), c.percent()));
        for t in c.missing() {
            out.push_str(&format!(
                "  not scanned: {} ({}): {}\n",
                t.target,
                t.reason.map_or("not scanned", Reason::label),
                t.message.as_deref().unwrap_or("")
            ));
        }
    }
    if let Some(d) = report.diff() {
        out.push_str(&format!(
            "baseline {}: {} new, {} fixed, {} unchanged{}\n",
            d.origin,
            d.new,
            d.fixed_len(),
            d.unchanged,
            if d.not_compared > 0 { format!(", {} not compared", d.not_compared) } else { String::new() }
        ));
        for w in &d.warnings {
            out.push_str(&format!("  warning: baseline mismatch: {w}\n"));
        }
    }
    out
}

/// Render `format` of `sets` with the stored `verdict`, in memory (the
/// service's `GET …/results`).
pub fn render(sets: Vec<ResultSet>, verdict: Option<Gate>, format: Format) -> Result<Vec<u8>> {
    let report = Report::new(sets, verdict)?;
    let mut templates = Templates::new(None)?;
    let plan = Plan::new(std::slice::from_ref(&format), &mut templates)?;
    let dir = tempfile::tempdir().map_err(|e| Error::scan(format!("cannot create a temporary directory: {e}")))?;
    let written = plan.write(&report, &templates, dir.path())?;
    let file: PathBuf =
        written.first().map(|w| w.path.clone()).ok_or_else(|| Error::scan(format!("{format} wrote nothing")))?;
    std::fs::read(&file).map_err(|e| Error::read_file(&file, e))
}
