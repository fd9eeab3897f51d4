//! `kscan gate`: check results against a SAF threshold file.

use std::path::PathBuf;

use clap::ValueEnum;
use serde::Serialize;

use super::summary::write_output;
use crate::error::ResultExt;
use crate::gate::{self, Thresholds, Verdict};
use crate::hdf::{ResultSet, Source};
use crate::report::Gate;
use crate::{Outcome, Result};

/// Arguments of `kscan gate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads threshold files of `saf validate threshold` (nested or flat keys, see
thresholds/*.yml) and reports EVERY violated rule, one line each, in SAF's
order: `FAIL [rule] SAF's message (details)`, then a verdict line. Counts are
merged over all files and every top profile. Exit 0 when every rule holds, 1
when one does not, 2 when a results or threshold file is missing or malformed
(unknown keys included).

Examples:
  kscan gate results.json --threshold thresholds/strict.yml
  kscan gate node1.json node2.json -t gate.yml --format json > verdict.json
  inspec exec profile --reporter json | kscan gate - -t thresholds/moderate.yml

Exit codes:
  0  every rule held
  1  the gate failed: at least one rule was violated
  2  usage or input error: a results or threshold file is missing, unreadable
     or malformed (unknown keys, null or quoted values, …)")]
pub struct Args {
    /// HDF (InSpec exec JSON) files to check; `-` reads standard input.
    /// Counts are merged over all of them.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,

    /// Threshold file (YAML, the format of `saf validate threshold -T`),
    /// e.g. `--threshold thresholds/strict.yml`.
    #[arg(short = 't', long, short_alias = 'T', value_name = "T.yml")]
    pub threshold: PathBuf,

    /// `text`: one line per violation and a verdict line; `json`: the verdict
    /// as one JSON object (`passed`, `threshold`, `rules`, `violations`).
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Verdict output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people and CI logs.
    Text,
    /// One JSON object for programs.
    Json,
}

/// Run `kscan gate`.
pub fn run(args: Args) -> Result<Outcome> {
    let thresholds = Thresholds::load(&args.threshold)?;
    let sets = ResultSet::load_all(args.files.iter().map(|f| Source::parse(f)))?;
    let verdict = gate::check(&thresholds, &sets);
    let text = match args.format {
        Format::Text => Gate::of(thresholds.origin().to_owned(), &verdict).text(sets.len()),
        Format::Json => {
            let doc = JsonVerdict { passed: verdict.passed(), threshold: thresholds.origin(), verdict: &verdict };
            let mut s = serde_json::to_string_pretty(&doc).scan_err(|| "cannot encode the verdict".into())?;
            s.push('\n');
            s
        }
    };
    write_output(None, &text)?;
    Ok(verdict.outcome())
}

#[derive(Serialize)]
struct JsonVerdict<'a> {
    passed: bool,
    threshold: &'a str,
    #[serde(flatten)]
    verdict: &'a Verdict,
}
