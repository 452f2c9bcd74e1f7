//! # cad-influx
//!
//! cad's [`MetricSource`](cad_core::MetricSource) over InfluxDB 1.x fed by
//! Telegraf (InfluxQL over HTTP, also InfluxDB 2's v1-compatible API), and a
//! verdict sink that writes the `cad_verdict` measurement back.
//!
//! * [`InfluxMetricSource`] — batched reads of `kubernetes_pod_container`,
//!   `kubernetes_pod_network`, `kubernetes_pod_volume` and (where nodes run
//!   Docker) `docker_container_blkio`; names configurable through [`Schema`].
//!   It also lists the containers it has samples of, gone pods included
//!   ([`containers_seen`](cad_core::MetricSource::containers_seen)).
//! * [`InfluxVerdictWriter`] — writes [`VerdictPoint`]s as line protocol.
//! * [`InfluxConfig`] — URL, database, [`Auth`] (password or token, kept in a
//!   redacting [`Secret`]), [`TlsConfig`] (a private CA, a client
//!   certificate), timeouts, [`RetryPolicy`], request sizes and concurrency.
//!   `Secret` and `RetryPolicy` are `cad-core`'s, `TlsConfig` is `cad-http`'s,
//!   re-exported here.
//! * [`quote`] — the one function that puts a value into InfluxQL.
//! * [`InfluxError`] — what went wrong with a request; the reader hands the
//!   engines a [`SourceError`](cad_core::SourceError) with it as the cause.
//!
//! ```no_run
//! use cad_core::{MetricSource, PodId, TimeWindow, Timestamp};
//! use cad_influx::{Auth, InfluxConfig, InfluxMetricSource};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = InfluxConfig::new("http://influxdb.monitoring:8086", "telegraf")
//!     .with_auth(Auth::basic("cad", std::env::var("CAD_INFLUX_PASSWORD")?));
//! let source = InfluxMetricSource::new(config)?;
//! let c = PodId::new("default", "nginx-7f9c", "3f1c…").container("nginx");
//! let now = Timestamp::now();
//! let batch = source.fetch(&[c.clone()], TimeWindow::ending_at(now, std::time::Duration::from_secs(300))).await?;
//! println!("{} samples", batch.samples(&c).len());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod error;
mod http;
pub mod influxql;
pub mod source;
pub mod verdict;

pub use config::{
    Auth, BlkioMeasurement, ConfigError, ContainerMeasurement, DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY,
    DEFAULT_MAX_REQUEST_BYTES, InfluxConfig, PodMeasurement, RetryPolicy, Schema, Secret, TlsConfig, VolumeMeasurement,
};
pub use error::InfluxError;
pub use http::Traffic;
pub use influxql::{quote, quote_ident, quote_literal};
pub use source::{InfluxMetricSource, MAX_SEEN_REQUESTS, MIN_REQUEST_BYTES, SEEN_SPAN};
pub use verdict::{InfluxVerdictWriter, VerdictPoint, to_line_protocol};
