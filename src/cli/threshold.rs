//! `kscan threshold`: work with threshold files.

use std::path::PathBuf;

use clap::Subcommand;

use super::summary::write_output;
use crate::gate::{generate, GenerateOptions};
use crate::hdf::{ResultSet, Source};
use crate::{Outcome, Result};

/// Arguments of `kscan threshold`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: ThresholdCommand,
}

/// The `threshold` subcommands.
#[derive(Debug, Subcommand)]
pub enum ThresholdCommand {
    /// Write a threshold file that the given results meet, like
    /// `saf generate threshold`.
    Generate(GenerateArgs),
}

/// Arguments of `kscan threshold generate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The file has the keys and order of `saf generate threshold`: compliance.min,
per severity `passed.<severity>.min` and `<status>.<severity>.max`, then the
totals. Use it as a baseline: later scans must do at least as well.

Examples:
  kscan threshold generate results.json -o gate.yml
  kscan threshold generate results.json --exact --controls -o exact.yml
  kscan gate later.json --threshold gate.yml

Exit codes:
  0  the file was written
  2  usage or input error: a results file is missing, unreadable or malformed,
     or the output cannot be written")]
pub struct GenerateArgs {
    /// HDF (InSpec exec JSON) files; `-` reads standard input. Counts are
    /// merged over all of them, as `kscan gate` counts.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,

    /// Set both `min` and `max` for compliance and every severity count, so
    /// that any change fails the gate (SAF's `-e`).
    #[arg(short, long)]
    pub exact: bool,

    /// Add `<status>.<severity>.controls` lists: the gate then also fails
    /// when a control moves between statuses or severities (SAF's `-c`).
    #[arg(short, long)]
    pub controls: bool,

    /// Write to this file instead of standard output, e.g. `-o gate.yml`.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Run `kscan threshold`.
pub fn run(args: Args) -> Result<Outcome> {
    match args.command {
        ThresholdCommand::Generate(args) => {
            let sets = ResultSet::load_all(args.files.iter().map(|f| Source::parse(f)))?;
            let text = generate(&sets, GenerateOptions { exact: args.exact, controls: args.controls });
            write_output(args.output.as_deref(), &text)?;
            Ok(Outcome::Passed)
        }
    }
}
