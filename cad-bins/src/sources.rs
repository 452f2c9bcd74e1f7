//! Building the pod and metric sources the command line asks for.

use crate::cli::{InfluxArgs, KubeArgs, MetricsBackend, MetricsQueryArgs, PrometheusArgs, SimArgs};
use anyhow::{Context, Result, bail};
use cad_core::{Clock, MetricSource, PodSource, RetryPolicy, SourceError};
use cad_influx::{Auth, InfluxConfig, InfluxMetricSource, TlsConfig};
use cad_prometheus::{Catalogue, PrometheusConfig, PrometheusMetricSource};
use cad_sim::{SimCluster, SimConfig};
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

/// The simulated cluster, following `clock`.
pub fn sim(args: &SimArgs, clock: Arc<dyn Clock>) -> SimCluster {
    let mut config = SimConfig::default().with_seed(args.sim_seed);
    config.initial_pods = args.sim_pods;
    config.impostor_fraction = args.sim_impostors;
    config.past_pods = args.sim_past_pods;
    config.replicas = args.sim_replicas;
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
    let mut config = InfluxConfig::new(url.clone(), args.influx_db.clone())
        .with_auth(auth)
        .with_tls(tls(&args.influx_ca_file, &args.influx_cert_file, &args.influx_key_file));
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

/// TLS settings from the CA, certificate and key flags.
fn tls(ca: &Option<PathBuf>, cert: &Option<PathBuf>, key: &Option<PathBuf>) -> TlsConfig {
    TlsConfig {
        ca_file: ca.clone(),
        cert_file: cert.clone(),
        key_file: key.clone(),
    }
}

/// The Prometheus API configuration from the arguments; a password or token
/// comes from its file or variable and is never logged, a token file is read
/// again every minute.
pub fn prometheus_config(
    args: &PrometheusArgs,
    query: &MetricsQueryArgs,
    clock: Arc<dyn Clock>,
) -> Result<PrometheusConfig> {
    use cad_prometheus::Auth;
    let Some(url) = &args.prometheus_url else {
        bail!("--prometheus-url (CAD_PROMETHEUS_URL) is required to read metrics from the Prometheus API")
    };
    let password = match (&args.prometheus_password_file, &args.prometheus_password) {
        (Some(f), _) => Some(read_secret(f)?),
        (None, p) => p.clone(),
    };
    let token = args.prometheus_token_file.is_some() || args.prometheus_token.is_some();
    let auth = match (token, &args.prometheus_user, password) {
        (true, Some(_), _) | (true, _, Some(_)) => {
            bail!("give the Prometheus API either a bearer token or a user name and password, not both")
        }
        (true, None, None) => match (&args.prometheus_token_file, &args.prometheus_token) {
            (Some(f), _) => Auth::bearer_file(f.clone()),
            (None, Some(t)) => Auth::bearer(t.clone()),
            (None, None) => Auth::None,
        },
        (false, Some(u), p) => Auth::basic(u.clone(), p.unwrap_or_default()),
        (false, None, Some(_)) => {
            bail!("a Prometheus API password was given without --prometheus-user (CAD_PROMETHEUS_USER)")
        }
        (false, None, None) => Auth::None,
    };
    let mut config = PrometheusConfig::new(url.clone()).with_auth(auth).with_tls(tls(
        &args.prometheus_ca_file,
        &args.prometheus_cert_file,
        &args.prometheus_key_file,
    ));
    if args.prometheus_legacy_labels {
        config.catalogue = Catalogue::legacy();
    }
    config.counter_lookbehind = args.prometheus_counter_lookbehind;
    config.timeout = args.prometheus_timeout;
    config.retries = RetryPolicy {
        max_attempts: args.prometheus_retries,
        ..RetryPolicy::default()
    };
    config.chunking.max_pods_per_request = query.batch_size as usize;
    config.chunking.max_request_bytes = query.max_request_bytes as usize;
    config.chunking.concurrency = query.query_concurrency as usize;
    config.clock = clock;
    Ok(config)
}

/// The metric source over the Prometheus API, after checking that it
/// answers a query: refused credentials, a failed TLS handshake or a URL
/// that is not the API's end the program at start; a server that cannot be
/// reached yet is only a warning, since the programs retry at every fetch.
pub async fn prometheus_checked(
    args: &PrometheusArgs,
    query: &MetricsQueryArgs,
    clock: Arc<dyn Clock>,
) -> Result<PrometheusMetricSource> {
    let source = PrometheusMetricSource::new(prometheus_config(args, query, clock)?)
        .context("configuring the Prometheus API source")?;
    match source.ping().await {
        Ok(()) => tracing::info!(metrics = source.backend(), "the Prometheus API answers"),
        Err(e @ (SourceError::Denied { .. } | SourceError::Protocol { .. } | SourceError::Invalid(_))) => {
            return Err(anyhow::Error::new(e).context(
                "the Prometheus API refused a test query (check --prometheus-url, the credentials and the CA file)",
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "the Prometheus API cannot be reached yet; going on and retrying at every fetch")
        }
    }
    Ok(source)
}

/// A metric source and the name of its store, for logs and reports.
pub struct Metrics {
    /// The source.
    pub source: Arc<dyn MetricSource>,
    /// `"InfluxDB at …"`, `"Prometheus API at …"` or `"simulated cluster"`.
    pub backend: String,
}

/// The metric source `backend` names, checked at start (see
/// [`influx_checked`] and [`prometheus_checked`]).
pub async fn metrics(
    backend: MetricsBackend,
    influx: &InfluxArgs,
    prometheus: &PrometheusArgs,
    query: &MetricsQueryArgs,
    clock: Arc<dyn Clock>,
) -> Result<Metrics> {
    Ok(match backend {
        MetricsBackend::Influx => {
            let s = influx_checked(influx, query, clock).await?;
            Metrics {
                backend: s.backend().to_owned(),
                source: Arc::new(s),
            }
        }
        MetricsBackend::Prometheus => {
            let s = prometheus_checked(prometheus, query, clock).await?;
            Metrics {
                backend: s.backend().to_owned(),
                source: Arc::new(s),
            }
        }
    })
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
        Ok(()) => tracing::info!(metrics = source.backend(), "InfluxDB accepts the credentials"),
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

/// Both sources of a real cluster: pods from the Kubernetes API, metrics
/// from the store `backend` names.
pub async fn cluster(
    kube_args: &KubeArgs,
    backend: MetricsBackend,
    influx: &InfluxArgs,
    prometheus: &PrometheusArgs,
    query: &MetricsQueryArgs,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<dyn PodSource>, Metrics, kube::Client)> {
    let metrics = metrics(backend, influx, prometheus, query, clock).await?;
    let client = kube_client(kube_args).await?;
    Ok((Arc::new(kube_pods(client.clone(), kube_args)), metrics, client))
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
