//! `kscan report`: write the reports CI systems read, and gate.

use std::path::{Path, PathBuf};

use crate::ci::CiArgs;
use crate::error::Error;
use crate::hdf::{ResultSet, Source};
use crate::report::{Coverage, Format, Gate};
use crate::results::baseline::BaselineArgs;
use crate::results::manifest::Manifest;
use crate::results::{Done, Spec, Stage, Threshold};
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
  kscan report results.json --format template:report.html.j2
  kscan report kscan-results --format sarif     # the run in kscan-results, with its verdict
  kscan report pr-results --baseline main-results --threshold gate.yml --gate-on new --format github

Exit codes: 0 passed (or no gate), 1 the gate failed, 2 bad input, 3 a run read
from a directory could not scan, 4 a run read from a directory left objects
behind (its reports are written all the same).")]
pub struct Args {
    /// HDF (InSpec exec JSON) files; `-` reads standard input. A directory
    /// is a `kscan scan --out-dir`: the HDF files its run manifest
    /// (`kscan-run.json`) lists, and nothing else in it.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub files: Vec<String>,

    /// Gate the results against this SAF threshold file. Without it, the
    /// results of one scan's directory show the verdict that scan was gated
    /// with, and other results pass.
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

    /// Comparison with earlier results.
    #[command(flatten)]
    pub baseline: BaselineArgs,
}

/// Parse one `--format` value.
pub fn parse_format(s: &str) -> std::result::Result<Format, String> {
    s.parse::<Format>()
}

/// Run `kscan report`.
pub fn run(args: Args) -> Result<Outcome> {
    // Every input is checked before the results are read and before anything
    // is written.
    let threshold = args.threshold.as_deref().map(Threshold::load).transpose()?;
    let stage = Stage::prepare(Spec {
        threshold,
        formats: &args.format,
        template_dir: args.template_dir.as_deref(),
        platform: Some(args.ci.platform()),
        need_format: true,
        baseline: args.baseline.load()?,
        only_new: args.baseline.only_new,
        gate_on: args.baseline.gate_on,
        min_coverage: None,
        manifests: None,
        automation: None,
    })?;
    let inputs = Inputs::read(&args.files)?;
    let sets = ResultSet::load_all(inputs.sources)?;
    let verdict = if stage.gates() { stage.verdict(&sets) } else { inputs.stored.into_single(&args.files)? };
    stage.finish(Done {
        sets,
        hdf: inputs.shown,
        out_dir: &args.out_dir,
        verdict,
        left: inputs.left,
        record: None,
        coverage: inputs.coverage,
    })
}

/// The results `kscan report` reads: files as given, and for a directory the
/// files its run manifest lists (never whatever else lies there).
struct Inputs {
    sources: Vec<Source>,
    shown: Vec<String>,
    stored: Stored,
    left: Option<Error>,
    /// The targets of the one run read, as its manifest lists them.
    coverage: Option<Coverage>,
}

/// The verdicts the runs read were gated with.
enum Stored {
    /// Only results files were given.
    None,
    /// One run and nothing else: its verdict (none when it was not gated).
    One(Option<Gate>),
    /// Several inputs of which at least one run was gated.
    Mixed,
}

impl Stored {
    /// The verdict to show without --threshold.
    fn into_single(self, files: &[String]) -> Result<Option<Gate>> {
        match self {
            Stored::None => Ok(None),
            Stored::One(gate) => Ok(gate),
            Stored::Mixed => Err(Error::input(format!(
                "{} include a gated run among other results: one verdict cannot cover them, so gate them together \
                 with --threshold",
                files.join(" ")
            ))),
        }
    }
}

impl Inputs {
    fn read(args: &[String]) -> Result<Self> {
        let mut inputs =
            Inputs { sources: Vec::new(), shown: Vec::new(), stored: Stored::None, left: None, coverage: None };
        let mut coverages = Vec::new();
        let (mut runs, mut plain) = (Vec::new(), 0);
        let mut lefts = Vec::new();
        for arg in args {
            let dir = Path::new(arg);
            if arg == "-" || !dir.is_dir() {
                inputs.sources.push(Source::parse(arg));
                inputs.shown.push(arg.clone());
                plain += 1;
                continue;
            }
            let manifest = Manifest::read(dir)?;
            match manifest.ended_badly(dir) {
                Some(err) if manifest.hdf.is_empty() => return Err(err),
                Some(err) => lefts.push(err),
                None => {}
            }
            for file in &manifest.hdf {
                let path = dir.join(file);
                inputs.shown.push(path.display().to_string());
                inputs.sources.push(Source::File(path));
            }
            if !manifest.targets.is_empty() {
                coverages.push(Coverage { targets: manifest.targets });
            }
            runs.push(manifest.verdict);
        }
        if runs.len() == 1 && plain == 0 {
            inputs.coverage = coverages.pop();
        }
        inputs.stored = match (runs.len(), plain) {
            (1, 0) => Stored::One(runs.pop().flatten()),
            _ if runs.iter().any(Option::is_some) => Stored::Mixed,
            _ => Stored::None,
        };
        inputs.left = match lefts.len() {
            0 => None,
            1 => lefts.pop(),
            _ => Some(Error::teardown(lefts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))),
        };
        Ok(inputs)
    }
}
