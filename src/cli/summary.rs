//! `kscan summary`: counts by status and severity, in SAF's shape.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::error::{Error, ResultExt};
use crate::hdf::{summary, ResultSet, Source};
use crate::{Outcome, Result};

/// Arguments of `kscan summary`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  kscan summary results.json
  kscan summary --format markdown a.json b.json >> \"$GITHUB_STEP_SUMMARY\"
  inspec exec profile --reporter json | kscan summary -")]
pub struct Args {
    /// HDF (InSpec exec JSON) files to summarise; `-` reads standard input.
    /// Files of the same profile are merged into one entry.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,

    /// Output format: `json` has the keys and numbers of `saf summary -f json`.
    #[arg(short, long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Summary output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A JSON array, one entry per profile.
    Json,
    /// The same as YAML.
    Yaml,
}

/// Run `kscan summary`.
pub fn run(args: Args) -> Result<Outcome> {
    let sets = ResultSet::load_all(args.files.iter().map(|f| Source::parse(f)))?;
    let summaries = summary::summarize(&sets);
    let docs = summary::documents(&summaries);
    let mut text = match args.format {
        Format::Json => serde_json::to_string_pretty(&docs).scan_err(|| "cannot encode the summary".into())?,
        Format::Yaml => serde_yaml::to_string(&docs).scan_err(|| "cannot encode the summary".into())?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    write_output(args.output.as_deref(), &text)?;
    Ok(Outcome::Passed)
}

/// Write `text` to `path`, or to standard output when `None`.
pub fn write_output(path: Option<&std::path::Path>, text: &str) -> Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| Error::input(format!("cannot write {}", p.display())).with_source(e))
        }
        None => crate::output::stdout(text),
    }
}
