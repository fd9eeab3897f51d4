//! `kscan posture`: check pod specs (`:latest` tags, root users, Pod Security
//! Standards) in manifests or across a live cluster, and write HDF or the
//! seed JSON.

use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;

use std::io::{BufWriter, Write};

use crate::error::{Error, ResultExt};
use crate::hdf::{ResultSet, Source};
use crate::posture::live::{self, Selection};
use crate::posture::manifest;
use crate::posture::pss::Level;
use crate::posture::scan::{Origin, RunInfo, Scan, SourceError};
use crate::report::sarif;
use crate::results::baseline::BaselineArgs;
use crate::results::{Done, Spec, Stage, Threshold};
use crate::{Outcome, Result};

/// Arguments of `kscan posture`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  kscan posture --manifests deploy/ > posture.json
  helm template chart | kscan posture --manifests - --standard baseline
  kscan posture --namespace shop --namespace web --format seed-json
  kscan posture --exclude-namespace kube-system --format hdf,seed-json --output-dir out/")]
pub struct Args {
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`, recursively); `-` reads
    /// standard input. Without it, kscan reads the live cluster.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with_all = ["namespace", "exclude_namespace", "kubeconfig"])]
    pub manifests: Vec<String>,

    /// Scan only this namespace (repeatable). Default: every namespace.
    #[arg(short, long, value_name = "NAME")]
    pub namespace: Vec<String>,

    /// Leave this namespace out (repeatable).
    #[arg(long, value_name = "NAME")]
    pub exclude_namespace: Vec<String>,

    /// Namespaces read in parallel.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Objects per LIST page (`limit`); each page is checked as it arrives.
    #[arg(long, default_value_t = live::PAGE_SIZE, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub page_size: u32,

    /// Kubeconfig to use (default: in-cluster configuration, else `$KUBECONFIG` or `~/.kube/config`).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The Pod Security Standards level to enforce.
    #[arg(long, value_enum, default_value_t = Level::Restricted)]
    pub standard: Level,

    /// Output formats, comma-separated: hdf, seed-json, and the report
    /// formats of `kscan report` (junit, sarif, markdown, github, codequality, …),
    /// written from the posture HDF.
    #[arg(short, long, value_delimiter = ',', default_value = "hdf", value_parser = parse_output)]
    pub format: Vec<Output>,

    /// Write each format to `DIR/posture.<format>.json` instead of standard
    /// output (required with more than one format).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Gate the posture results against this SAF threshold file (exit 1 when
    /// a rule fails); needs --output-dir.
    #[arg(short = 't', long, short_alias = 'T', value_name = "T.yml")]
    pub threshold: Option<PathBuf>,

    /// Comparison with earlier results (needs --output-dir).
    #[command(flatten)]
    pub baseline: BaselineArgs,
}

/// Posture output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// HDF (InSpec exec JSON): one control per check, one result per offence.
    Hdf,
    /// `{latest_tag_containers, root_containers, summary, errors}`, the original scanner's JSON.
    SeedJson,
}

impl Format {
    fn file_name(self) -> &'static str {
        match self {
            Format::Hdf => "posture.hdf.json",
            Format::SeedJson => "posture.seed.json",
        }
    }
}

/// One `--format` value: a posture output, or a report as `kscan report`
/// writes it from the posture HDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `hdf` or `seed-json`.
    Posture(Format),
    /// `junit`, `sarif`, `markdown`, `github`, `codequality`, `context`, `template:PATH`.
    Report(crate::report::Format),
}

fn parse_output(s: &str) -> std::result::Result<Output, String> {
    match s {
        "hdf" => Ok(Output::Posture(Format::Hdf)),
        "seed-json" => Ok(Output::Posture(Format::SeedJson)),
        other => crate::cli::report::parse_format(other)
            .map(Output::Report)
            .map_err(|e| format!("{e} (posture also writes hdf and seed-json)")),
    }
}

/// Run `kscan posture`.
pub async fn run(args: Args) -> Result<Outcome> {
    if args.format.len() > 1 && args.output_dir.is_none() {
        return Err(Error::input("--format with several formats needs --output-dir DIR (one file per format)"));
    }
    let mut formats: Vec<Format> = Vec::new();
    let mut reports = Vec::new();
    for output in &args.format {
        match output {
            Output::Posture(f) => formats.push(*f),
            Output::Report(f) => reports.push(f.clone()),
        }
    }
    // Reports and the gate read the HDF from --output-dir: check every input
    // before the scan.
    let compares = !args.baseline.baseline.is_empty();
    let publishing = if reports.is_empty() && args.threshold.is_none() && !compares {
        None
    } else {
        if args.output_dir.is_none() {
            return Err(Error::input("report formats, --threshold and --baseline need --output-dir DIR"));
        }
        if !formats.contains(&Format::Hdf) {
            formats.push(Format::Hdf);
        }
        Some(Stage::prepare(Spec {
            threshold: args.threshold.as_deref().map(Threshold::load).transpose()?,
            formats: &reports,
            need_format: false,
            baseline: args.baseline.load()?,
            only_new: args.baseline.only_new,
            gate_on: args.baseline.gate_on,
            automation: automation(&args),
            ..Spec::default()
        })?)
    };
    for ns in args.namespace.iter().chain(&args.exclude_namespace) {
        check_namespace_name(ns)?;
    }
    let started = Instant::now();
    let start_time = now_rfc3339();
    let (scan, target) = if args.manifests.is_empty() {
        let mut scan = Scan::new(args.standard);
        read_live(&args, &mut scan).await?;
        (scan, "live cluster".to_owned())
    } else {
        let scan = Scan::of_manifests(args.standard, &manifest::expand(&args.manifests)?)?;
        (scan, format!("manifests: {}", args.manifests.join(" ")))
    };
    tracing::info!(
        "posture: {} objects, {} containers, {} sources, {} errors",
        scan.objects,
        scan.containers,
        scan.sources,
        scan.errors.len()
    );
    let duration = started.elapsed().as_secs_f64();
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).input_err(|| format!("--output-dir: cannot create {}", dir.display()))?;
    }
    let run = RunInfo { target: &target, start_time: &start_time, duration };
    for format in &formats {
        let path = args.output_dir.as_ref().map(|d| d.join(format.file_name()));
        write_format(*format, &scan, &run, path.as_deref())?;
    }
    // Everything the scan holds has been written and the process ends soon:
    // freeing tens of thousands of findings one by one gains nothing and
    // was about 4% of a manifest scan's instructions, so the memory goes
    // back with the process.
    std::mem::forget(scan);
    match (publishing, &args.output_dir) {
        (Some(stage), Some(dir)) => {
            let hdf = dir.join(Format::Hdf.file_name());
            let sets = ResultSet::load_all([Source::File(hdf.clone())])?;
            let verdict = stage.verdict(&sets);
            let hdf = vec![hdf.display().to_string()];
            stage.finish(Done { sets, hdf, out_dir: dir, verdict, left: None, record: None, coverage: None })
        }
        _ => Ok(Outcome::Passed),
    }
}

/// SARIF's analysis category: `kscan/posture/manifests`, or the namespaces
/// scanned (`cluster` for all).
fn automation(args: &Args) -> Option<String> {
    let scope = if !args.manifests.is_empty() {
        "manifests".to_owned()
    } else if args.namespace.is_empty() {
        "cluster".to_owned()
    } else {
        args.namespace.join(",")
    };
    Some(sarif::category(&["posture", &scope]))
}

/// Write one format to `path`, or to standard output, through a buffer.
fn write_format(format: Format, scan: &Scan, run: &RunInfo<'_>, path: Option<&std::path::Path>) -> Result<()> {
    let sink: Box<dyn Write> = match path {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| Error::input(format!("cannot write {}", p.display())).with_source(e))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    let written = match format {
        Format::Hdf => scan.write_hdf(run, &mut out),
        Format::SeedJson => scan.write_seed_json(&mut out),
    };
    let what = || path.map_or("standard output".to_owned(), |p| p.display().to_string());
    written.scan_err(|| format!("cannot write the results to {}", what()))?;
    out.write_all(b"\n").and_then(|_| out.flush()).scan_err(|| format!("cannot write to {}", what()))
}

async fn read_live(args: &Args, scan: &mut Scan) -> Result<()> {
    let client = live::client(args.kubeconfig.as_deref()).await?;
    let selection = Selection {
        namespaces: args.namespace.clone(),
        exclude: args.exclude_namespace.clone(),
        concurrency: args.concurrency.into(),
        page_size: args.page_size,
    };
    let mut errors = Vec::new();
    let totals = live::read(client, &selection, &mut |w| scan.add(&w, &Origin::Live), &mut |ns, reason, message| {
        tracing::warn!("namespace {ns}: {reason}: {message}");
        errors.push(SourceError { source: ns, reason: reason.to_owned(), message });
    })
    .await?;
    scan.errors = errors;
    scan.sources = totals.namespaces;
    Ok(())
}

/// Namespace names are RFC 1123 labels; anything else is a usage error
/// before it reaches a URL.
fn check_namespace_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!(
            "namespace {name:?} is not a valid name (RFC 1123 label: lower-case letters, digits, '-', at most 63)"
        )))
    }
}

/// The current time as RFC 3339 (UTC, seconds).
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_rfc1123() {
        assert!(check_namespace_name("kscan-test").is_ok());
        for bad in ["", "A", "a/b", "-a", "a-", "a..b"] {
            assert_eq!(check_namespace_name(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn rfc3339_has_the_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
