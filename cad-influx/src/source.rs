//! [`InfluxMetricSource`]: cad's [`MetricSource`] over InfluxDB 1.x's `/query` API.
//!
//! Why not the `influxdb` crate for reads: its `query()` treats any answer that
//! contains the text "error" as a failure (a pod called `error-page` would
//! break it), `json_query` silently drops a failed statement's `error`, and it
//! cannot ask for `epoch=ms`, so times come back as RFC 3339 text to re-parse.
//! This reader sends `GET /query?db=…&epoch=ms&q=…` itself and checks the
//! top-level `error`, every statement's `error`, and `partial` explicitly.

use crate::config::{ConfigError, InfluxConfig, Schema};
use crate::http::Http;
use crate::influxql::{Planner, PodGroup, RequestPlan, StatementKind, column_metric, quote_ident};
use crate::verdict::InfluxVerdictWriter;
use cad_core::{ContainerId, Metric, MetricBatch, MetricSource, Sample, SourceError, TimeWindow, Timestamp};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Reads Telegraf's `kubernetes` and `docker` measurements from InfluxDB 1.x
/// (or InfluxDB 2's v1-compatible API) for many containers per call.
///
/// One [`fetch`](MetricSource::fetch) sends one HTTP request per chunk of
/// [`chunk_size`](InfluxConfig::chunk_size) pods, each carrying one statement
/// per measurement; the cost does not grow with one query per container.
pub struct InfluxMetricSource {
    http: Arc<Http>,
    schema: Schema,
    database: String,
    retention_policy: Option<String>,
    chunk_size: usize,
    max_statement_bytes: usize,
    verdict_measurement: String,
}

impl std::fmt::Debug for InfluxMetricSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxMetricSource")
            .field("backend", &self.http.backend())
            .field("database", &self.database)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

/// Checks that every configured name can be quoted (no NUL) and is not empty.
fn validate(config: &InfluxConfig) -> Result<(), ConfigError> {
    if config.database.is_empty() {
        return Err(ConfigError::Invalid("database must not be empty".into()));
    }
    if config.chunk_size == 0 {
        return Err(ConfigError::Invalid("chunk_size must be at least 1".into()));
    }
    let s = &config.schema;
    let mut names: Vec<&str> = vec![
        &config.database,
        &s.container.measurement,
        &s.container.namespace_tag,
        &s.container.pod_tag,
        &s.container.container_tag,
        &config.verdict_measurement,
    ];
    names.extend(config.retention_policy.as_deref());
    names.extend(s.container.fields.iter().map(|(_, f)| f.as_str()));
    if let Some(n) = &s.network {
        names.extend([n.measurement.as_str(), &n.namespace_tag, &n.pod_tag]);
        names.extend(n.fields.iter().map(|(_, f)| f.as_str()));
    }
    if let Some(v) = &s.volume {
        names.extend([
            v.measurement.as_str(),
            &v.namespace_tag,
            &v.pod_tag,
            &v.volume_tag,
            &v.used_field,
        ]);
    }
    if let Some(b) = &s.blkio {
        names.extend([b.measurement.as_str(), &b.pod_uid_tag, &b.container_tag, &b.device_tag]);
        names.extend(b.fields.iter().map(|(_, f)| f.as_str()));
    }
    for n in names {
        if n.is_empty() || quote_ident(n).is_none() {
            return Err(ConfigError::Invalid(format!("name {n:?} cannot be used in InfluxQL")));
        }
    }
    Ok(())
}

impl InfluxMetricSource {
    /// A source for `config`. Fails on an unusable URL or setting; does not
    /// contact the server (see [`ping`](Self::ping)).
    pub fn new(config: InfluxConfig) -> Result<Self, ConfigError> {
        validate(&config)?;
        let http = Http::new(&config)?;
        Ok(InfluxMetricSource {
            http: Arc::new(http),
            schema: config.schema,
            database: config.database,
            retention_policy: config.retention_policy,
            chunk_size: config.chunk_size,
            max_statement_bytes: config.max_statement_bytes,
            verdict_measurement: config.verdict_measurement,
        })
    }

    /// How many HTTP requests this source (and writers made from it) sent, retries included.
    pub fn request_count(&self) -> u64 {
        self.http.request_count()
    }

    /// `"InfluxDB at <url>"`, as errors name it.
    pub fn backend(&self) -> &str {
        self.http.backend()
    }

    /// Checks that the server answers `GET /ping` (with retries).
    pub async fn ping(&self) -> Result<(), SourceError> {
        self.http
            .send(Method::GET, self.http.url("ping", &[]), None)
            .await
            .map(|_| ())
    }

    /// Checks that the server answers and takes the credentials, with one
    /// `SHOW DATABASES` query (any user may run it): wrong credentials give
    /// [`SourceError::Denied`] at once, an unreachable server
    /// [`SourceError::Unavailable`] after the retries. It says nothing about
    /// rights on the database itself.
    pub async fn check_credentials(&self) -> Result<(), SourceError> {
        let url = self.http.url("query", &[("q", "SHOW DATABASES")]);
        self.http.send(Method::GET, url, None).await.map(|_| ())
    }

    /// A verdict writer sharing this source's client, credentials and database.
    pub fn verdict_writer(&self) -> InfluxVerdictWriter {
        InfluxVerdictWriter::from_parts(
            self.http.clone(),
            self.database.clone(),
            self.retention_policy.clone(),
            self.verdict_measurement.clone(),
        )
    }

    async fn run(&self, plan: &RequestPlan, idx: &Index<'_>, out: &mut Collect) -> Result<(), SourceError> {
        let q = plan.query();
        let mut params = vec![("db", self.database.as_str()), ("epoch", "ms"), ("q", q.as_str())];
        if let Some(rp) = &self.retention_policy {
            params.push(("rp", rp.as_str()));
        }
        let url = self.http.url("query", &params);
        let body = self.http.send(Method::GET, url, None).await?;
        let resp: QueryResponse = serde_json::from_slice(&body).map_err(|e| self.protocol(format!("bad JSON: {e}")))?;
        if let Some(e) = resp.error {
            return Err(self.protocol(format!("query failed: {e}")));
        }
        // A failing statement may cut the answer short ("database not found"
        // comes back as one result for the whole request): errors first.
        // InfluxDB 1.x answers a multi-statement request on a missing database
        // with one `"error": "not executed"`; prefer any other error, and say
        // what "not executed" usually means.
        let errors: Vec<(usize, &str)> = resp
            .results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.error.as_deref().map(|e| (r.statement_id.unwrap_or(i), e)))
            .collect();
        if let Some(&(id, e)) = errors.iter().find(|(_, e)| *e != "not executed").or(errors.first()) {
            let what = plan
                .statements
                .get(id)
                .map_or_else(|| "query".to_owned(), |s| format!("statement on {:?}", s.kind));
            let hint = if e == "not executed" {
                format!(" (does database {:?} exist, and may this user read it?)", self.database)
            } else {
                String::new()
            };
            return Err(self.protocol(format!("{what} failed: {e}{hint}")));
        }
        if resp.results.len() != plan.statements.len() {
            return Err(self.protocol(format!(
                "{} statement(s) sent, {} result(s) returned",
                plan.statements.len(),
                resp.results.len()
            )));
        }
        for (i, result) in resp.results.into_iter().enumerate() {
            let stmt_idx = result.statement_id.unwrap_or(i);
            let Some(stmt) = plan.statements.get(stmt_idx) else {
                return Err(self.protocol(format!("result for unknown statement {stmt_idx}")));
            };
            if result.partial || result.series.iter().any(|s| s.partial) {
                return Err(self.protocol(format!(
                    "the server truncated the {:?} result (max-row-limit); lower chunk_size or the window",
                    stmt.kind
                )));
            }
            for series in &result.series {
                self.collect(stmt.kind, series, idx, out)?;
            }
        }
        Ok(())
    }

    fn protocol(&self, message: String) -> SourceError {
        SourceError::Protocol {
            backend: self.http.backend().to_owned(),
            message,
        }
    }

    fn collect(
        &self,
        kind: StatementKind,
        series: &Series,
        idx: &Index<'_>,
        out: &mut Collect,
    ) -> Result<(), SourceError> {
        let tag = |name: &str| series.tags.get(name).map(String::as_str).unwrap_or("");
        let Some(time_col) = series.columns.iter().position(|c| c == "time") else {
            return Err(self.protocol("series without a time column".into()));
        };
        let metrics: Vec<(usize, Metric)> = series
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != time_col)
            .filter_map(|(i, c)| column_metric(&self.schema, kind, c).map(|m| (i, m)))
            .collect();
        let s = &self.schema;
        for row in &series.values {
            let Some(t) = row.get(time_col).and_then(Value::as_i64) else {
                return Err(self.protocol("a time that is not an integer (epoch=ms ignored?)".into()));
            };
            let time = Timestamp::from_millis(t);
            for &(i, metric) in &metrics {
                let Some(v) = row.get(i).and_then(Value::as_f64) else {
                    continue; // null (field absent at this time) or not a number
                };
                match kind {
                    StatementKind::Container => {
                        let c = &s.container;
                        let key = (tag(&c.namespace_tag), tag(&c.pod_tag), tag(&c.container_tag));
                        for id in idx.by_container.get(&key).into_iter().flatten() {
                            out.batch.push(id, Sample::new(time, metric, v));
                        }
                    }
                    StatementKind::Network => {
                        let Some(n) = &s.network else { continue };
                        let key = (tag(&n.namespace_tag), tag(&n.pod_tag));
                        for id in idx.by_pod.get(&key).into_iter().flatten() {
                            out.batch.push(id, Sample::new(time, metric, v));
                        }
                    }
                    StatementKind::Volume => {
                        let Some(vm) = &s.volume else { continue };
                        let key = (tag(&vm.namespace_tag).to_owned(), tag(&vm.pod_tag).to_owned());
                        *out.volumes.entry(key).or_default().entry(time).or_default() += v;
                    }
                    StatementKind::Blkio => {
                        let Some(b) = &s.blkio else { continue };
                        let key = (tag(&b.pod_uid_tag).to_owned(), tag(&b.container_tag).to_owned());
                        let acc = out.blkio.entry(key).or_default().entry((time, metric)).or_default();
                        if tag(&b.device_tag) == b.total_device {
                            acc.total = Some(acc.total.unwrap_or(0.0) + v);
                        } else {
                            acc.sum += v;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Requested containers, looked up by the tags each measurement carries.
#[derive(Default)]
struct Index<'a> {
    by_container: HashMap<(&'a str, &'a str, &'a str), Vec<ContainerId>>,
    by_pod: HashMap<(&'a str, &'a str), Vec<ContainerId>>,
    by_uid_container: HashMap<(&'a str, &'a str), Vec<ContainerId>>,
}

#[derive(Default)]
struct BlkioAcc {
    total: Option<f64>,
    sum: f64,
}

/// What the statements of one fetch gathered.
#[derive(Default)]
struct Collect {
    batch: MetricBatch,
    /// (namespace, pod) → time → used bytes summed over volumes.
    volumes: HashMap<(String, String), BTreeMap<Timestamp, f64>>,
    /// (pod uid, container) → (time, metric) → total device or sum over devices.
    blkio: HashMap<(String, String), BTreeMap<(Timestamp, Metric), BlkioAcc>>,
}

#[async_trait::async_trait]
impl MetricSource for InfluxMetricSource {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let mut idx = Index::default();
        let mut pods: BTreeMap<(&str, &str), PodGroup> = BTreeMap::new();
        for c in containers {
            let names = [c.pod.namespace.as_str(), &c.pod.name, &c.pod.uid, &c.container];
            if names.iter().any(|n| n.contains('\0')) {
                tracing::warn!(container = %c.to_string().escape_default(), "name contains NUL; InfluxQL cannot express it, skipped");
                continue;
            }
            let (ns, name, uid, cn) = (
                c.pod.namespace.as_str(),
                c.pod.name.as_str(),
                c.pod.uid.as_str(),
                c.container.as_str(),
            );
            idx.by_container.entry((ns, name, cn)).or_default().push(c.clone());
            idx.by_pod.entry((ns, name)).or_default().push(c.clone());
            if !uid.is_empty() {
                idx.by_uid_container.entry((uid, cn)).or_default().push(c.clone());
            }
            let g = pods.entry((ns, name)).or_insert_with(|| PodGroup {
                namespace: ns.to_owned(),
                name: name.to_owned(),
                uids: Default::default(),
                containers: Default::default(),
            });
            g.uids.insert(uid.to_owned());
            g.containers.insert(cn.to_owned());
        }
        if pods.is_empty() || window.duration().is_zero() {
            return Ok(MetricBatch::new());
        }
        let pods: Vec<PodGroup> = pods.into_values().collect();
        let planner = Planner {
            schema: &self.schema,
            retention_policy: self.retention_policy.as_deref(),
            chunk_size: self.chunk_size,
            max_statement_bytes: self.max_statement_bytes,
        };
        let plans = planner.plan(window, &pods);
        tracing::debug!(
            pods = pods.len(),
            requests = plans.len(),
            "fetching metrics from InfluxDB"
        );
        let mut out = Collect::default();
        for plan in &plans {
            self.run(plan, &idx, &mut out).await?;
        }
        let Collect {
            mut batch,
            volumes,
            blkio,
        } = out;
        for ((ns, pod), series) in volumes {
            for id in idx.by_pod.get(&(ns.as_str(), pod.as_str())).into_iter().flatten() {
                batch.extend(
                    id,
                    series.iter().map(|(t, v)| Sample::new(*t, Metric::VolumeUsedBytes, *v)),
                );
            }
        }
        for ((uid, cn), series) in blkio {
            for id in idx
                .by_uid_container
                .get(&(uid.as_str(), cn.as_str()))
                .into_iter()
                .flatten()
            {
                batch.extend(
                    id,
                    series
                        .iter()
                        .map(|((t, m), acc)| Sample::new(*t, *m, acc.total.unwrap_or(acc.sum))),
                );
            }
        }
        batch.sort_by_time();
        Ok(batch)
    }
}

/// The JSON of `/query`.
#[derive(Deserialize)]
struct QueryResponse {
    #[serde(default)]
    results: Vec<StatementResult>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct StatementResult {
    statement_id: Option<usize>,
    #[serde(default)]
    series: Vec<Series>,
    error: Option<String>,
    #[serde(default)]
    partial: bool,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    values: Vec<Vec<Value>>,
    #[serde(default)]
    partial: bool,
}
