//! `kscan cleanup`: remove what earlier runs left behind (a killed runner,
//! a lost connection), by run id or by expiry time.

use crate::cluster::cleanup::{cleanup, remove_local_dirs, Which};
use crate::cluster::client::ClusterArgs;
use crate::cluster::RunId;
use crate::target::Label;
use crate::{Outcome, Result};

/// Arguments of `kscan cleanup`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  kscan cleanup -n shop --run 3f2a9c1b0d
  kscan cleanup --all-namespaces --all-expired   # e.g. from a nightly job")]
pub struct Args {
    /// Namespace to clean.
    #[arg(short, long, value_name = "NS", required_unless_present = "all_namespaces")]
    pub namespace: Option<String>,
    /// Clean every namespace (needs cluster-wide list permissions).
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Remove everything of this run.
    #[arg(long, value_name = "ID", required_unless_present = "all_expired", conflicts_with = "all_expired")]
    pub run: Option<String>,
    /// Remove everything kscan created whose expiry time has passed.
    #[arg(long)]
    pub all_expired: bool,
    /// Cluster connection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Run `kscan cleanup`.
pub async fn run(args: Args) -> Result<Outcome> {
    let scope = args.namespace.as_deref().map(|n| Label::parse("namespace", n)).transpose()?;
    let which = match &args.run {
        Some(run) => Which::Run(RunId::parse(run)?),
        None => Which::Expired,
    };
    let admin = args.cluster.connect().await?;
    let report = cleanup(&admin, &scope, &which).await?;
    if let Which::Run(run) = &which {
        remove_local_dirs(run);
    }
    for object in &report.deleted {
        crate::output::stdout(&format!("deleted {object}\n"))?;
    }
    if report.deleted.is_empty() && report.left.is_empty() {
        eprintln!("kscan: nothing to clean up");
    }
    let id = match &which {
        Which::Run(run) => run.to_string(),
        Which::Expired => "<id>".to_owned(),
    };
    report.into_result(&id)?;
    Ok(Outcome::Passed)
}
