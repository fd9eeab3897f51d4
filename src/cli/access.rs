//! `kscan access create|delete`: the scan's ephemeral least-privilege access,
//! for users who run their own engine with it.

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;

use crate::cluster::access::{self, AccessSpec, TokenTtl};
use crate::cluster::cleanup::{cleanup, remove_local_dirs, Which};
use crate::cluster::client::ClusterArgs;
use crate::cluster::resolve::get_pod;
use crate::cluster::teardown::Teardown;
use crate::cluster::RunId;
use crate::error::{Error, Kind};
use crate::strategy::Strategy;
use crate::target::{Label, Subdomain};
use crate::{Outcome, Result};

/// Arguments of `kscan access`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `create` or `delete`.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a ServiceAccount, a Role scoped to the pods by name, a
    /// RoleBinding and a token, and write a kubeconfig (0600, private
    /// directory). Prints `KSCAN_RUN=<id>` and `KUBECONFIG=<path>` lines for
    /// `eval`; never the token.
    #[command(after_help = "\
Example:
  eval \"$(kscan access create -n shop --pod web-0)\"
  cinc-auditor exec profile -t k8s-container://shop/web-0/app   # uses $KUBECONFIG
  kscan access delete -n shop --run \"$KSCAN_RUN\"")]
    Create(CreateArgs),
    /// Delete what `create` made for a run, and its kubeconfig.
    Delete(DeleteArgs),
}

/// Arguments of `kscan access create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Namespace of the pods.
    #[arg(short, long, value_name = "NS")]
    pub namespace: String,
    /// The pods the access is for (repeat for several).
    #[arg(short, long = "pod", value_name = "POD", required = true)]
    pub pods: Vec<String>,
    /// Which strategy's permissions to grant.
    #[arg(long, value_enum, default_value_t = Strategy::Exec)]
    pub strategy: Strategy,
    /// Token lifetime in seconds (600–3600).
    #[arg(long, value_name = "SECONDS", default_value = "900")]
    pub token_ttl: TokenTtl,
    /// Cluster connection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Arguments of `kscan access delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Namespace the access was created in.
    #[arg(short, long, value_name = "NS")]
    pub namespace: String,
    /// The run id `create` printed.
    #[arg(long, value_name = "ID")]
    pub run: String,
    /// Cluster connection.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Run `kscan access`.
pub async fn run(args: Args) -> Result<Outcome> {
    match args.action {
        Action::Create(a) => create(a).await,
        Action::Delete(a) => delete(a).await,
    }
}

async fn create(args: CreateArgs) -> Result<Outcome> {
    let namespace = Label::parse("namespace", &args.namespace)?;
    let names = args.pods.iter().map(|p| Subdomain::parse("pod", p)).collect::<Result<Vec<_>>>()?;
    let admin = args.cluster.connect().await?;
    // Every pod must exist (its containers need not be running yet); other
    // answers, such as 403 to a caller who may not read pods, leave the
    // decision to the creation of the access itself.
    let api: Api<Pod> = Api::namespaced(admin.client.clone(), namespace.as_str());
    for pod in &names {
        if let Err(e) = get_pod(&api, &namespace, pod).await {
            if e.kind() == Kind::Input {
                return Err(e);
            }
        }
    }
    let pods: Vec<String> = names.iter().map(|p| p.as_str().to_owned()).collect();
    let run = RunId::generate();
    let teardown = Teardown::new(admin.client.clone());
    let spec =
        AccessSpec { namespace: namespace.clone(), grants: args.strategy.grants(&run, &pods), ttl: args.token_ttl };
    match access::create(&admin, &run, &spec, &teardown).await {
        Ok(scoped) => {
            teardown.release();
            crate::output::stdout(&format!("KSCAN_RUN={run}\nKUBECONFIG={}\n", scoped.kubeconfig.display()))?;
            eprintln!(
                "kscan: access {} in {namespace} until {}; remove it with: kscan access delete -n {namespace} --run {run}",
                scoped.name,
                scoped.expires_at.to_rfc3339()
            );
            Ok(Outcome::Passed)
        }
        Err(e) => {
            let left = teardown.finish().await.into_result(run.as_str());
            Err(match left {
                Ok(_) => e,
                Err(t) => Error::teardown(format!("{e}; and then {t}")),
            })
        }
    }
}

async fn delete(args: DeleteArgs) -> Result<Outcome> {
    let namespace = Label::parse("namespace", &args.namespace)?;
    let run = RunId::parse(&args.run)?;
    let admin = args.cluster.connect().await?;
    let report = cleanup(&admin, &Some(namespace), &Which::Run(run.clone())).await?;
    remove_local_dirs(&run);
    for object in &report.deleted {
        eprintln!("kscan: deleted {object}");
    }
    report.into_result(run.as_str())?;
    Ok(Outcome::Passed)
}
