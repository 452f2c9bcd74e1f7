//! Building the pod and metric sources the command line asks for.

use crate::cli::{InfluxArgs, KubeArgs, MetricsQueryArgs, SimArgs};
use anyhow::{Context, Result, bail};
use cad_core::sim::{SimCluster, SimConfig};
use cad_core::{Clock, MetricSource, PodSource};
use cad_influx::{Auth, InfluxConfig, InfluxMetricSource, RetryPolicy};
use std::path::Path;
use std::sync::Arc;

/// The simulated cluster, following `clock`.
pub fn sim(args: &SimArgs, clock: Arc<dyn Clock>) -> SimCluster {
    let mut config = SimConfig::default().with_seed(args.sim_seed);
    config.initial_pods = args.sim_pods;
    config.impostor_fraction = args.sim_impostors;
    SimCluster::new(config, clock)
}

/// The largest secret file read (a password or token is far shorter).
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Reads a secret from a file (a mounted Secret), at most
/// [`MAX_SECRET_BYTES`], trimming one trailing newline.
fn read_secret(path: &Path) -> Result<String> {
    let context = || format!("reading secret file {}", path.display());
    let file = std::fs::File::open(path).with_context(context)?;
    let bytes = cad_core::files::read_at_most(file, MAX_SECRET_BYTES).with_context(context)?;
    let s = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("not UTF-8"))
        .with_context(context)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// The InfluxDB configuration from the arguments; the password or token comes
/// from its file or variable and is never logged.
pub fn influx_config(args: &InfluxArgs, query: &MetricsQueryArgs, clock: Arc<dyn Clock>) -> Result<InfluxConfig> {
    let Some(url) = &args.influx_url else {
        bail!("--influx-url (CAD_INFLUX_URL) is required to read metrics from a cluster")
    };
    let password = match (&args.influx_password_file, &args.influx_password) {
        (Some(f), _) => Some(read_secret(f)?),
        (None, p) => p.clone(),
    };
    let token = match (&args.influx_token_file, &args.influx_token) {
        (Some(f), _) => Some(read_secret(f)?),
        (None, t) => t.clone(),
    };
    let auth = match (token, &args.influx_user, password) {
        (Some(t), _, _) => Auth::token(t),
        (None, Some(u), Some(p)) => Auth::basic(u.clone(), p),
        (None, Some(u), None) => Auth::basic(u.clone(), String::new()),
        (None, None, Some(_)) => bail!("an InfluxDB password was given without --influx-user (CAD_INFLUX_USER)"),
        (None, None, None) => Auth::None,
    };
    let mut config = InfluxConfig::new(url.clone(), args.influx_db.clone()).with_auth(auth);
    config.timeout = args.influx_timeout;
    config.retries = RetryPolicy {
        max_attempts: args.influx_retries,
        ..RetryPolicy::default()
    };
    config.chunk_size = query.batch_size as usize;
    config.max_request_bytes = query.max_request_bytes as usize;
    config.concurrency = query.query_concurrency as usize;
    config.clock = clock;
    Ok(config)
}

/// The metric source over InfluxDB.
pub fn influx(args: &InfluxArgs, query: &MetricsQueryArgs, clock: Arc<dyn Clock>) -> Result<InfluxMetricSource> {
    InfluxMetricSource::new(influx_config(args, query, clock)?).context("configuring InfluxDB")
}

/// The metric source over InfluxDB, after checking the credentials: wrong
/// ones end the program at start with an error (an operator notices them
/// then, not in a warning per tick); a server that cannot be reached yet is
/// only a warning, since the programs retry at every fetch.
pub async fn influx_checked(
    args: &InfluxArgs,
    query: &MetricsQueryArgs,
    clock: Arc<dyn Clock>,
) -> Result<InfluxMetricSource> {
    let source = influx(args, query, clock)?;
    match source.check_credentials().await {
        Ok(()) => tracing::info!(influxdb = source.backend(), "InfluxDB accepts the credentials"),
        Err(e @ cad_core::SourceError::Denied { .. }) => {
            return Err(anyhow::Error::new(e)
                .context("InfluxDB refused the credentials (check --influx-user and the password or token file)"));
        }
        Err(e) => tracing::warn!(error = %e, "InfluxDB cannot be reached yet; going on and retrying at every fetch"),
    }
    Ok(source)
}

/// A Kubernetes client: `--kube-url` if given, else kubeconfig or in-cluster.
pub async fn kube_client(args: &KubeArgs) -> Result<kube::Client> {
    match &args.kube_url {
        Some(url) => cad_k8s::client_for_url(url).context("connecting to the Kubernetes API"),
        None => cad_k8s::default_client()
            .await
            .context("connecting to the Kubernetes API (kubeconfig or in-cluster)"),
    }
}

/// The pod source over the Kubernetes API.
pub fn kube_pods(client: kube::Client, args: &KubeArgs) -> cad_k8s::KubePodSource {
    let mut config = cad_k8s::PodSourceConfig::all();
    let namespaces: Vec<String> = args
        .namespaces
        .iter()
        .filter(|n| !n.trim().is_empty())
        .cloned()
        .collect();
    if !namespaces.is_empty() {
        config = config.namespaces(namespaces);
    }
    if let Some(node) = &args.node_name {
        config = config.node(node.clone());
    }
    cad_k8s::KubePodSource::new(client, config)
}

/// Both sources of a real cluster.
pub async fn cluster(
    kube_args: &KubeArgs,
    influx_args: &InfluxArgs,
    query: &MetricsQueryArgs,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<dyn PodSource>, Arc<dyn MetricSource>, kube::Client)> {
    let metrics = influx_checked(influx_args, query, clock).await?;
    let client = kube_client(kube_args).await?;
    Ok((
        Arc::new(kube_pods(client.clone(), kube_args)),
        Arc::new(metrics),
        client,
    ))
}

/// `namespace/name` split in two.
pub fn namespaced(s: &str) -> Result<(String, String)> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => bail!("expected namespace/name, got {s:?}"),
    }
}
