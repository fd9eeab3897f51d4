//! Connecting to the cluster: an explicit kubeconfig or context when given,
//! else the in-cluster service account when running in a pod, else the
//! kubeconfig from `KUBECONFIG` or `~/.kube/config`.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};

/// Cluster connection flags shared by every command that talks to a cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig file of the identity that sets up the scan (it must be
    /// allowed to create ServiceAccounts, Roles, RoleBindings and tokens in
    /// the target namespace). Default: in-cluster config when running in a
    /// pod, else KUBECONFIG or ~/.kube/config.
    #[arg(long, value_name = "PATH", env = "KSCAN_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// A client and the configuration it was built from.
#[derive(Clone)]
pub struct Connection {
    /// The client.
    pub client: kube::Client,
    /// Its configuration (server URL and CA are reused for scoped kubeconfigs).
    pub config: kube::Config,
    /// Where the configuration came from, for messages.
    pub source: String,
}

impl ClusterArgs {
    /// Connect as these flags say.
    pub async fn connect(&self) -> Result<Connection> {
        let (config, source) = self.config().await?;
        let client = kube::Client::try_from(config.clone())
            .map_err(|e| Error::scan(format!("cannot build a client from {source}")).with_source(e))?;
        Ok(Connection { client, config, source })
    }

    async fn config(&self) -> Result<(kube::Config, String)> {
        let options = KubeConfigOptions { context: self.context.clone(), ..Default::default() };
        if let Some(path) = &self.kubeconfig {
            return Ok((from_file(path, &options).await?, format!("kubeconfig {}", path.display())));
        }
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
        if in_cluster && self.context.is_none() {
            let config = kube::Config::incluster()
                .map_err(|e| Error::scan("cannot read the in-cluster service account configuration").with_source(e))?;
            return Ok((config, "in-cluster service account".into()));
        }
        let config = kube::Config::from_kubeconfig(&options).await.map_err(|e| {
            Error::input("no usable kubeconfig: pass --kubeconfig PATH (or set KUBECONFIG), or run kscan inside a pod")
                .with_source(e)
        })?;
        Ok((config, "the default kubeconfig".into()))
    }
}

async fn from_file(path: &Path, options: &KubeConfigOptions) -> Result<kube::Config> {
    if !path.exists() {
        return Err(Error::input(format!("kubeconfig {} does not exist", path.display())));
    }
    let kubeconfig = Kubeconfig::read_from(path)
        .map_err(|e| Error::input(format!("kubeconfig {} cannot be read", path.display())).with_source(e))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, options)
        .await
        .map_err(|e| Error::input(format!("kubeconfig {} is not usable", path.display())).with_source(e))
}
