//! `kscan report`: write the reports CI systems read, and gate.

use std::path::{Path, PathBuf};

use crate::ci::publish::Publisher;
use crate::ci::{self, CiArgs};
use crate::gate::Thresholds;
use crate::hdf::{ResultSet, Source};
use crate::report::formats::Plan;
use crate::report::{Format, Gate, Report, Templates};
use crate::{Outcome, Result};

/// Arguments of `kscan report`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Files written to --out-dir:
  junit        kscan-junit.xml
  sarif        kscan.sarif
  markdown     kscan-summary.md
  github       kscan-github-annotations.txt, kscan-github-summary.md
  codequality  kscan-codequality.json
  context      kscan-context.json (what templates see)
  template:P   P's file name without .j2 (template:report.html.j2 -> report.html)

Examples:
  kscan report results.json --format junit,sarif,markdown
  kscan report results.json --threshold thresholds/moderate.yml --format github,codequality --out-dir reports
  kscan report a.json b.json --format markdown --template-dir my-templates
  kscan report results.json --format template:report.html.j2")]
pub struct Args {
    /// HDF (InSpec exec JSON) files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,

    /// Gate the results against this SAF threshold file; without it the run
    /// passes.
    #[arg(short = 'T', long, value_name = "FILE")]
    pub threshold: Option<PathBuf>,

    /// Formats to write, comma-separated or repeated: junit, sarif, markdown,
    /// github, codequality, context, template:PATH (e.g. --format
    /// junit,sarif --format template:report.html.j2).
    /// --ci adds the formats its platform publishes.
    #[arg(short, long, value_delimiter = ',', value_name = "FORMAT", value_parser = parse_format)]
    pub format: Vec<Format>,

    /// Directory to write the reports into (created if missing).
    #[arg(short, long, value_name = "DIR", default_value = "kscan-reports")]
    pub out_dir: PathBuf,

    /// Directory whose templates override the built-in ones by file name
    /// (markdown.md.j2, github-annotations.txt.j2, github-summary.md.j2);
    /// `include` looks here first too.
    #[arg(long, value_name = "DIR")]
    pub template_dir: Option<PathBuf>,

    /// CI platform to publish for.
    #[command(flatten)]
    pub ci: CiArgs,
}

/// Parse one `--format` value.
pub fn parse_format(s: &str) -> std::result::Result<Format, String> {
    s.parse::<Format>()
}

/// The gate's verdict on `sets` as the reports show it, when a threshold
/// file (`path`, loaded as `thresholds`) was given.
pub fn gate_of(path: Option<&Path>, thresholds: Option<&Thresholds>, sets: &[ResultSet]) -> Option<Gate> {
    let (path, t) = (path?, thresholds?);
    Some(Gate::check(path.display().to_string(), t, sets))
}

/// Run `kscan report`.
pub fn run(args: Args) -> Result<Outcome> {
    // Every input is checked before the results are read and before anything
    // is written.
    let publishing =
        Publishing::prepare(args.threshold.as_deref(), &args.format, args.template_dir.as_deref(), &args.ci)?;
    let sets = ResultSet::load_all(args.files.iter().map(|f| Source::parse(f)))?;
    publishing.publish(sets, &args.out_dir, &args.files)
}

/// Reports, gate and CI output, with every input checked up front (`kscan
/// report`, and `kscan scan --format`).
pub struct Publishing {
    threshold: Option<PathBuf>,
    thresholds: Option<Thresholds>,
    templates: Templates,
    plan: Plan,
    publisher: Publisher,
}

impl Publishing {
    /// Check the threshold file, the templates and the formats (plus those
    /// the CI platform needs).
    pub fn prepare(
        threshold: Option<&Path>,
        formats: &[Format],
        template_dir: Option<&Path>,
        ci: &CiArgs,
    ) -> Result<Self> {
        let thresholds = threshold.map(Thresholds::load).transpose()?;
        let mut templates = Templates::new(template_dir)?;
        let platform = ci.platform();
        let publisher = Publisher::prepare(platform, |k| std::env::var(k).ok())?;
        let plan = Plan::new(&ci::with_platform_formats(formats, platform), &mut templates)?;
        Ok(Publishing { threshold: threshold.map(Path::to_path_buf), thresholds, templates, plan, publisher })
    }

    /// Gate `sets` (read from `files`), write the reports into `out_dir`,
    /// publish to the CI platform, print what was done; the outcome is the
    /// gate's.
    pub fn publish(&self, sets: Vec<ResultSet>, out_dir: &Path, files: &[String]) -> Result<Outcome> {
        let gate = gate_of(self.threshold.as_deref(), self.thresholds.as_ref(), &sets);
        let report = Report::new(sets, gate)?;
        let written = self.plan.write(&report, &self.templates, out_dir)?;
        let mut out = String::new();
        for w in &written {
            out.push_str(&format!("wrote {} ({})\n", w.path.display(), w.format));
        }
        let totals = report.totals();
        out.push_str(&format!(
            "{} controls, {}% compliance, {} findings\n",
            totals.controls(),
            totals.compliance(),
            report.findings_len()
        ));
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
        out.push_str(&self.publisher.publish(&report, &written, out_dir, files)?);
        super::summary::write_output(None, &out)?;
        Ok(report.outcome())
    }
}
