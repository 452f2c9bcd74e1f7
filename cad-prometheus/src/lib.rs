//! # cad-prometheus
//!
//! cad's [`MetricSource`](cad_core::MetricSource) over the Prometheus HTTP
//! API: Prometheus itself, and the stores that answer the same API and scale
//! past one machine — VictoriaMetrics, Thanos Query, Mimir, Cortex. It reads
//! the kubelet's cAdvisor series (`/metrics/cadvisor`, as kube-prometheus-stack
//! scrapes them) and kube-state-metrics' pod-to-claim info.
//!
//! * [`PrometheusMetricSource`] — batched reads of raw samples (range
//!   selectors at the window's end), so cad computes rates and windows
//!   itself exactly as it does for InfluxDB; a model sees the same features
//!   whichever store the samples came from.
//! * [`PrometheusConfig`] — URL, [`Auth`] (basic, bearer token, bearer token
//!   file), [`TlsConfig`] (private CA, client certificate), the [`Catalogue`]
//!   of series, [`Chunking`], timeouts, [`RetryPolicy`](cad_core::RetryPolicy).
//! * [`quote`] and [`regex_escape`] — the two functions every name goes
//!   through before it reaches PromQL.
//!
//! ## From cAdvisor's series to cad's metrics
//!
//! | series | cad metric | note |
//! | --- | --- | --- |
//! | `container_cpu_usage_seconds_total{cpu="total"}` | `cpu_usage_core_nanoseconds` | seconds × 10⁹, rounded to whole ns |
//! | (derived from the line above) | `cpu_usage_nanocores` | Δ core-ns ÷ Δ s between consecutive samples, as the kubelet's summary API ([`cad_core::metric::derive_nanocores`]); the `behaviour` feature set requires it |
//! | `container_memory_usage_bytes` | `memory_usage_bytes` | |
//! | `container_memory_working_set_bytes` | `memory_working_set_bytes` | |
//! | `container_memory_rss` | `memory_rss_bytes` | |
//! | `container_memory_failures_total{failure_type="pgfault",scope="container"}` | `memory_page_faults` | |
//! | `container_memory_failures_total{failure_type="pgmajfault",scope="container"}` | `memory_major_page_faults` | |
//! | `container_fs_usage_bytes` | `rootfs_used_bytes` | summed over devices |
//! | `container_fs_reads_bytes_total`, `container_fs_writes_bytes_total` | `io_service_bytes_recursive_read`, `…_write` | summed over devices (cAdvisor reads both from the blkio/io cgroup) |
//! | `container_network_{receive,transmit}_{bytes,errors}_total{interface="eth0"}` | `rx_bytes`, `tx_bytes`, `rx_errors`, `tx_errors` | pod level, from the pod's sandbox series (`container=""` or `"POD"`), else from one container's where a runtime reports the network there; a restarted sandbox's instances merged by time; `eth0`, as the kubelet's summary API (Telegraf's source) reports |
//! | `kubelet_volume_stats_used_bytes` via `kube_pod_spec_volumes_persistentvolumeclaims_info` | `used_bytes` | persistent volume claims only, summed per timestamp over a pod's claims (the kubelet's series of one scrape share a timestamp); see [`VolumeSeries`] |
//!
//! Not read, and why:
//! * `container_memory_cache`: cad's catalogue has no page-cache metric, and
//!   `container_memory_usage_bytes` already includes the cache
//!   (usage = RSS + cache + swap + kernel); the `behaviour` set's memory
//!   columns use usage, working set and RSS.
//! * `container_fs_reads_total`, `container_fs_writes_total` (operation
//!   counts): cad's catalogue has no I/O-operations metric and no feature set
//!   uses one; adding one means a catalogue entry, its Telegraf field
//!   (`io_serviced_recursive_read`) and a feature.
//! * `logsfs_used_bytes` has no cAdvisor series: the column stays missing.
//!
//! Series of the pause container (`container=""` or `"POD"`, and the pod-level
//! cgroup) are never read as a container's; the network is read from them.
//!
//! cAdvisor's series carry no pod UID label: a pod deleted and recreated under
//! the same name (a StatefulSet's `postgres-0`) within one window reads as one
//! pod, as with InfluxDB's per-container measurement.
//! The label names are configurable ([`LabelNames::legacy`] for clusters
//! before Kubernetes 1.16), as is every mapping ([`SeriesMap`]).
//!
//! ## Past pods
//!
//! [`containers_seen`](cad_core::MetricSource::containers_seen) lists every
//! container with samples in a window, deleted pods' included, with its
//! image, first and last sample (within a step, 1 min by default) and, from
//! `container_start_time_seconds`, its start: subqueries over the
//! memory-usage series, three instant queries per span of at most a day
//! ([`SeenQueries`]), each answering one value per container. The ids it
//! gives have an empty pod UID: `fetch` matches by names.
//!
//! ## Batching
//!
//! The number of queries per fetch grows with pods ÷
//! [`Chunking::max_pods_per_request`], never with pods: every name is
//! escaped for RE2 and quoted for PromQL into matchers like
//! `pod=~"cart-0|cart-1|…"`, long queries go as `POST` form bodies, and at
//! most [`Chunking::concurrency`] requests are in flight. A failed chunk
//! concerns only its own pods ([`FetchReport`]).
//!
//! ```no_run
//! use cad_core::{MetricSource, PodId, TimeWindow, Timestamp};
//! use cad_prometheus::{Auth, PrometheusConfig, PrometheusMetricSource, TlsConfig};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = PrometheusConfig::new("https://prometheus.monitoring:9090")
//!     .with_auth(Auth::bearer_file("/var/run/secrets/kubernetes.io/serviceaccount/token"))
//!     .with_tls(TlsConfig { ca_file: Some("/etc/cad/ca.pem".into()), ..TlsConfig::default() });
//! let source = PrometheusMetricSource::new(config)?;
//! let c = PodId::new("default", "nginx-7f9c", "3f1c…").container("nginx");
//! let window = TimeWindow::ending_at(Timestamp::now(), std::time::Duration::from_secs(300));
//! let batch = source.fetch(&[c.clone()], window).await?;
//! println!("{} samples", batch.samples(&c).len());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod config;
mod error;
mod http;
mod plan;
pub mod promql;
mod response;
mod source;

pub use config::{
    Auth, Catalogue, Chunking, ConfigError, LabelFilter, LabelNames, PrometheusConfig, SeenQueries, SeriesMap,
    TlsConfig, Unit, VolumeSeries,
};
pub use error::PrometheusError;
pub use http::TOKEN_REREAD;
pub use promql::{quote, regex_escape};
pub use source::{FailedChunk, FetchReport, PrometheusMetricSource};
