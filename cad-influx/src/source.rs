//! [`InfluxMetricSource`]: cad's [`MetricSource`] over InfluxDB 1.x's `/query` API.
//!
//! Why not the `influxdb` crate for reads: its `query()` treats any answer that
//! contains the text "error" as a failure (a pod called `error-page` would
//! break it), `json_query` silently drops a failed statement's `error`, and it
//! cannot ask for `epoch=ms`, so times come back as RFC 3339 text to re-parse.
//! This reader sends `POST /query?db=…&epoch=ms&chunked=true` with the
//! statements in a form body (`q=…`) itself, joins the answer's chunks, and
//! checks the top-level `error`, every statement's `error`, and `partial`
//! explicitly (a series of more than 10,000 points comes in several chunks;
//! InfluxDB 1.6's plain answer marks it partial though it is whole).
//!
//! Why POST: a GET carries the query in its URL, and the `http` crate refuses
//! URLs over 64 KiB — about 140 pods' worth of the old statements. InfluxDB
//! 1.x reads `q` from a form body as well (up to about 10 MB), so the size of
//! a request is a choice ([`InfluxConfig::max_request_bytes`]), not a limit
//! that makes a fetch impossible.

use crate::config::{ConfigError, InfluxConfig, Schema};
use crate::error::InfluxError;
use crate::http::{Body, Http, Traffic};
use crate::influxql::{
    Edge, Planner, PodGroup, RequestPlan, StatementKind, column_metric, form_body, quote_ident, seen_plan,
};
use crate::verdict::InfluxVerdictWriter;
use cad_core::{
    ContainerId, Metric, MetricBatch, MetricSource, PodId, Sample, SeenContainer, SourceError, TimeWindow, Timestamp,
};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Reads Telegraf's `kubernetes` and `docker` measurements from InfluxDB 1.x
/// (or InfluxDB 2's v1-compatible API) for many containers per call.
///
/// One [`fetch`](MetricSource::fetch) sends one `POST /query` per chunk of
/// at most [`chunk_size`](InfluxConfig::chunk_size) pods and
/// [`max_request_bytes`](InfluxConfig::max_request_bytes) bytes, each carrying
/// one statement per measurement, at most
/// [`concurrency`](InfluxConfig::concurrency) at a time; the cost does not
/// grow with one query per container.
///
/// A failed request costs only its own pods: the fetch answers for the others
/// and [marks](MetricBatch::mark_unavailable) the containers of the failed
/// one unavailable, with the error. If every request fails, the fetch fails
/// with the first request's error.
///
/// [`containers_seen`](MetricSource::containers_seen) (how the collector
/// finds gone pods to train on) sends one `POST /query` asking the
/// container measurement, and the block-I/O measurement where there is one,
/// for the first and last point of every series in the window
/// (`SELECT first(…)` / `SELECT last(…)` … `GROUP BY` the name tags); the
/// pod UIDs come from the block-I/O measurement's Docker labels, and are
/// empty for containers without block-I/O points. See the method for details.
pub struct InfluxMetricSource {
    http: Arc<Http>,
    schema: Schema,
    database: String,
    retention_policy: Option<String>,
    chunk_size: usize,
    max_request_bytes: usize,
    concurrency: usize,
    verdict_measurement: String,
}

impl std::fmt::Debug for InfluxMetricSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxMetricSource")
            .field("backend", &self.http.backend())
            .field("database", &self.database)
            .field("chunk_size", &self.chunk_size)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// The smallest [`InfluxConfig::max_request_bytes`] accepted: room for the
/// statements' fixed parts and a few pods.
pub const MIN_REQUEST_BYTES: usize = 4096;

/// Checks that every configured name can be quoted (no NUL) and is not empty.
fn validate(config: &InfluxConfig) -> Result<(), ConfigError> {
    if config.database.is_empty() {
        return Err(ConfigError::Invalid("database must not be empty".into()));
    }
    if config.chunk_size == 0 {
        return Err(ConfigError::Invalid("chunk_size must be at least 1".into()));
    }
    if config.concurrency == 0 {
        return Err(ConfigError::Invalid("concurrency must be at least 1".into()));
    }
    if config.max_request_bytes < MIN_REQUEST_BYTES {
        return Err(ConfigError::Invalid(format!(
            "max_request_bytes must be at least {MIN_REQUEST_BYTES}, got {}",
            config.max_request_bytes
        )));
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
        names.extend([
            b.measurement.as_str(),
            &b.namespace_tag,
            &b.pod_tag,
            &b.pod_uid_tag,
            &b.container_tag,
            &b.device_tag,
        ]);
        names.extend(b.image_tag.as_deref());
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
            max_request_bytes: config.max_request_bytes,
            concurrency: config.concurrency,
            verdict_measurement: config.verdict_measurement,
        })
    }

    /// How many HTTP requests this source (and writers made from it) sent, retries included.
    pub fn request_count(&self) -> u64 {
        self.http.request_count()
    }

    /// Requests and bytes sent so far and the most requests in flight at once
    /// (writers made from this source included).
    pub fn traffic(&self) -> Traffic {
        self.http.traffic()
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
            .map_err(|e| e.into_source_error(self.backend()))
    }

    /// Checks that the server answers and takes the credentials, with one
    /// `SHOW DATABASES` query (any user may run it): wrong credentials give
    /// [`SourceError::Denied`] at once, an unreachable server
    /// [`SourceError::Unavailable`] after the retries. It says nothing about
    /// rights on the database itself.
    pub async fn check_credentials(&self) -> Result<(), SourceError> {
        let url = self.http.url("query", &[("q", "SHOW DATABASES")]);
        self.http
            .send(Method::GET, url, None)
            .await
            .map(|_| ())
            .map_err(|e| e.into_source_error(self.backend()))
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

    /// `…/query?db=…&epoch=ms[&rp=…]`: everything but the statements.
    fn query_url(&self) -> Url {
        // Chunked: InfluxDB 1.x's plain answer marks a series of more than
        // `chunk_size` points partial even when it holds them all (1.6.7,
        // measured: 10,005 points of 10 s, 28 h), which reads as truncated;
        // its chunks say which series go on. They are merged in `merge_chunks`.
        let mut params = vec![
            ("db", self.database.as_str()),
            ("epoch", "ms"),
            ("chunked", "true"),
            ("chunk_size", CHUNK_POINTS),
        ];
        if let Some(rp) = &self.retention_policy {
            params.push(("rp", rp.as_str()));
        }
        self.http.url("query", &params)
    }

    /// Sends one request and checks its answer for errors.
    async fn request(&self, plan: &RequestPlan, url: Url) -> Result<QueryResponse, InfluxError> {
        let body = form_body(&plan.query());
        debug_assert_eq!(body.len(), plan.body_bytes, "the planner counts the body exactly");
        let body = Body {
            content_type: "application/x-www-form-urlencoded",
            text: &body,
        };
        let bytes = self.http.send(Method::POST, url, Some(body)).await?;
        let resp = merge_chunks(&bytes)?;
        if let Some(e) = resp.error {
            return Err(InfluxError::Query(format!("query failed: {e}")));
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
            return Err(InfluxError::Query(format!("{what} failed: {e}{hint}")));
        }
        Ok(resp)
    }

    /// Adds the samples of a checked answer to `out`.
    fn absorb<'a>(
        &self,
        plan: &RequestPlan,
        resp: QueryResponse,
        idx: &Index<'a>,
        out: &mut Collect,
    ) -> Result<(), InfluxError> {
        // Check every result before taking any sample from the answer.
        let answered = complete_results(plan, &resp, "lower the pods per request or the window")?;
        for (result, i) in resp.results.iter().zip(answered) {
            for series in &result.series {
                self.collect(plan.statements[i].kind, series, idx, out)?;
            }
        }
        Ok(())
    }

    /// The containers of the checked `containers_seen` answers, one to each
    /// plan, whose statements ask for its edges: the edges of all joined.
    fn seen_from(
        &self,
        plans: &[(RequestPlan, Vec<Edge>)],
        answers: &[QueryResponse],
    ) -> Result<Vec<SeenContainer>, InfluxError> {
        let mut containers: BTreeMap<(&str, &str, &str), Edges> = BTreeMap::new();
        // (namespace, pod) → pod UID → what the block-I/O statements found.
        let mut pods: HashMap<(&str, &str), BTreeMap<&str, UidSeen>> = HashMap::new();
        let mut results = Vec::new();
        for ((plan, edges), resp) in plans.iter().zip(answers) {
            let answered = complete_results(
                plan,
                resp,
                "the server's max-row-limit is below the number of series; raise it, or look back less far",
            )?;
            results.extend(
                resp.results
                    .iter()
                    .zip(answered)
                    .map(|(r, i)| (r, plan.statements[i].kind, edges[i])),
            );
        }
        for (result, kind, edge) in results {
            for series in &result.series {
                let Some(t) = series_edge(series, edge)? else { continue };
                // Names fetch could not ask for (empty, or with NUL) are left out.
                let tag = |name: &str| {
                    series
                        .tags
                        .get(name)
                        .map(String::as_str)
                        .filter(|v| !v.is_empty() && !v.contains('\0'))
                };
                match kind {
                    StatementKind::Container => {
                        let c = &self.schema.container;
                        if let (Some(ns), Some(pod), Some(name)) =
                            (tag(&c.namespace_tag), tag(&c.pod_tag), tag(&c.container_tag))
                        {
                            containers.entry((ns, pod, name)).or_default().add(edge, t);
                        }
                    }
                    StatementKind::Blkio => {
                        let Some(b) = &self.schema.blkio else { continue };
                        let (Some(ns), Some(pod), Some(uid)) =
                            (tag(&b.namespace_tag), tag(&b.pod_tag), tag(&b.pod_uid_tag))
                        else {
                            continue;
                        };
                        let seen = pods.entry((ns, pod)).or_default().entry(uid).or_default();
                        seen.span.add(edge, t);
                        let image = b.image_tag.as_deref().and_then(tag);
                        if let (Edge::Last, Some(name), Some(image)) = (edge, tag(&b.container_tag), image) {
                            let latest = seen.images.entry(name).or_insert((t, image));
                            if t >= latest.0 {
                                *latest = (t, image);
                            }
                        }
                    }
                    StatementKind::Network | StatementKind::Volume => {}
                }
            }
        }
        let pods: HashMap<(&str, &str), Vec<Incarnation<'_>>> = pods
            .into_iter()
            .map(|(pod, uids)| {
                let incarnations = uids
                    .into_iter()
                    .filter_map(|(uid, seen)| {
                        let (first, last) = seen.span.span()?;
                        let images = seen.images.into_iter().map(|(c, (_, image))| (c, image)).collect();
                        Some(Incarnation {
                            uid,
                            first,
                            last,
                            images,
                        })
                    })
                    .collect();
                (pod, incarnations)
            })
            .collect();
        let containers = containers
            .into_iter()
            .filter_map(|(key, edges)| Some((key, edges.span()?)));
        Ok(attribute(containers, &pods))
    }

    fn collect<'a>(
        &self,
        kind: StatementKind,
        series: &Series,
        idx: &Index<'a>,
        out: &mut Collect,
    ) -> Result<(), InfluxError> {
        let tag = |name: &str| series.tags.get(name).map(String::as_str).unwrap_or("");
        let s = &self.schema;
        // Where this series' samples go; a series nobody asked for (the
        // statements may select a little more than asked) is skipped.
        let target = match kind {
            StatementKind::Container => {
                let c = &s.container;
                let key = (tag(&c.namespace_tag), tag(&c.pod_tag), tag(&c.container_tag));
                idx.by_container.get(&key).map(|&l| Target::Containers(l))
            }
            StatementKind::Network => s.network.as_ref().and_then(|n| {
                let key = (tag(&n.namespace_tag), tag(&n.pod_tag));
                idx.by_pod.get(&key).map(|&l| Target::Containers(l))
            }),
            StatementKind::Volume => s.volume.as_ref().and_then(|v| {
                let key = (tag(&v.namespace_tag), tag(&v.pod_tag));
                idx.by_pod.get(&key).map(|&l| Target::Volume(l))
            }),
            StatementKind::Blkio => s.blkio.as_ref().and_then(|b| {
                let key = (tag(&b.pod_uid_tag), tag(&b.container_tag));
                let total = tag(&b.device_tag) == b.total_device;
                idx.by_uid_container.get(&key).map(|&l| Target::Blkio(l, total))
            }),
        };
        let Some(target) = target else { return Ok(()) };
        let Some(time_col) = series.columns.iter().position(|c| c == "time") else {
            return Err(InfluxError::Unexpected("series without a time column".into()));
        };
        let metrics: Vec<(usize, Metric)> = series
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != time_col)
            .filter_map(|(i, c)| column_metric(&self.schema, kind, c).map(|m| (i, m)))
            .collect();
        for row in &series.values {
            let Some(t) = row.get(time_col).and_then(Value::as_i64) else {
                return Err(InfluxError::Unexpected(
                    "a time that is not an integer (epoch=ms ignored?)".into(),
                ));
            };
            let time = Timestamp::from_millis(t);
            for &(i, metric) in &metrics {
                let Some(v) = row.get(i).and_then(Value::as_f64) else {
                    continue; // null (field absent at this time) or not a number
                };
                match target {
                    Target::Containers(l) => {
                        for id in &idx.lists[l] {
                            out.batch.push(id, Sample::new(time, metric, v));
                        }
                    }
                    Target::Volume(key) => *out.volumes.entry(key).or_default().entry(time).or_default() += v,
                    Target::Blkio(key, total) => {
                        let acc = out.blkio.entry(key).or_default().entry((time, metric)).or_default();
                        if total {
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

/// Where the samples of one series go (by list of [`Index::lists`]).
#[derive(Clone, Copy)]
enum Target {
    /// To the requested containers of the list.
    Containers(usize),
    /// Summed over the pod's volumes, per time, for the pod's list.
    Volume(usize),
    /// To the (pod UID, container) list's accumulator; `true` for the total device.
    Blkio(usize, bool),
}

/// Requested containers, looked up by the tags each measurement carries
/// (references into the request: a fetch of 10,000 containers copies none).
/// Each map points to a list in `lists`.
#[derive(Default)]
struct Index<'a> {
    lists: Vec<Vec<&'a ContainerId>>,
    by_container: HashMap<(&'a str, &'a str, &'a str), usize>,
    by_pod: HashMap<(&'a str, &'a str), usize>,
    by_uid_container: HashMap<(&'a str, &'a str), usize>,
}

impl<'a> Index<'a> {
    /// Adds `c` to the list of `key` in `map`.
    fn add<K: std::hash::Hash + Eq>(
        lists: &mut Vec<Vec<&'a ContainerId>>,
        map: &mut HashMap<K, usize>,
        key: K,
        c: &'a ContainerId,
    ) {
        let l = *map.entry(key).or_insert_with(|| {
            lists.push(Vec::new());
            lists.len() - 1
        });
        lists[l].push(c);
    }

    /// The containers of the pod `(namespace, name)`.
    fn pod(&self, namespace: &str, name: &str) -> &[&'a ContainerId] {
        self.by_pod.get(&(namespace, name)).map_or(&[], |&l| &self.lists[l])
    }
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
    /// The (namespace, pod) list of the index → time → used bytes summed over volumes.
    volumes: HashMap<usize, BTreeMap<Timestamp, f64>>,
    /// The (pod uid, container) list → (time, metric) → total device or sum over devices.
    blkio: HashMap<usize, BTreeMap<(Timestamp, Metric), BlkioAcc>>,
}

/// Checks that `resp` answers every statement of `plan` once and in full;
/// returns the statement each result answers, in the results' order. A
/// truncated result is an error, with `hint` saying what to do about it.
fn complete_results(plan: &RequestPlan, resp: &QueryResponse, hint: &str) -> Result<Vec<usize>, InfluxError> {
    if resp.results.len() != plan.statements.len() {
        return Err(InfluxError::Unexpected(format!(
            "{} statement(s) sent, {} result(s) returned",
            plan.statements.len(),
            resp.results.len()
        )));
    }
    let mut answered = Vec::with_capacity(resp.results.len());
    for (i, result) in resp.results.iter().enumerate() {
        let stmt_idx = result.statement_id.unwrap_or(i);
        let Some(stmt) = plan.statements.get(stmt_idx) else {
            return Err(InfluxError::Unexpected(format!(
                "result for unknown statement {stmt_idx}"
            )));
        };
        if answered.contains(&stmt_idx) {
            return Err(InfluxError::Unexpected(format!("two results for statement {stmt_idx}")));
        }
        if result.partial || result.series.iter().any(|s| s.partial) {
            return Err(InfluxError::Query(format!(
                "the server truncated the {:?} result (partial: a max-row-limit?); {hint}",
                stmt.kind
            )));
        }
        answered.push(stmt_idx);
    }
    Ok(answered)
}

/// The time of a series' earliest (`First`) or latest (`Last`) row; `None`
/// for a series without rows.
fn series_edge(series: &Series, edge: Edge) -> Result<Option<Timestamp>, InfluxError> {
    let Some(time_col) = series.columns.iter().position(|c| c == "time") else {
        return Err(InfluxError::Unexpected("series without a time column".into()));
    };
    let mut out: Option<i64> = None;
    for row in &series.values {
        let Some(t) = row.get(time_col).and_then(Value::as_i64) else {
            return Err(InfluxError::Unexpected(
                "a time that is not an integer (epoch=ms ignored?)".into(),
            ));
        };
        out = Some(match (out, edge) {
            (None, _) => t,
            (Some(o), Edge::First) => o.min(t),
            (Some(o), Edge::Last) => o.max(t),
        });
    }
    Ok(out.map(Timestamp::from_millis))
}

/// The earliest and latest point of a series (or of several, merged), as
/// the `first` and `last` statements found them.
#[derive(Clone, Copy, Debug, Default)]
struct Edges {
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Edges {
    fn add(&mut self, edge: Edge, t: Timestamp) {
        match edge {
            Edge::First => self.first = Some(self.first.map_or(t, |f| f.min(t))),
            Edge::Last => self.last = Some(self.last.map_or(t, |l| l.max(t))),
        }
    }

    /// `(first, last)`. A series only one statement saw (points written
    /// between the two) takes that time for both.
    fn span(self) -> Option<(Timestamp, Timestamp)> {
        match (self.first, self.last) {
            (Some(f), Some(l)) => Some((f.min(l), f.max(l))),
            (Some(t), None) | (None, Some(t)) => Some((t, t)),
            (None, None) => None,
        }
    }
}

/// What the block-I/O statements found for one pod UID: its first and last
/// point, and each container's image with the time of its latest point.
#[derive(Default)]
struct UidSeen<'a> {
    span: Edges,
    images: HashMap<&'a str, (Timestamp, &'a str)>,
}

/// One pod UID the block-I/O measurement has for a pod name: when its
/// containers (the pause container included) have points, and their images.
#[derive(Clone, Debug)]
struct Incarnation<'a> {
    uid: &'a str,
    first: Timestamp,
    last: Timestamp,
    /// Container name → image.
    images: HashMap<&'a str, &'a str>,
}

/// The [`SeenContainer`]s of the container measurement's series
/// `((namespace, pod, container), (first, last))`, with pod UIDs and images
/// from `pods`, the block-I/O incarnations of each pod name:
///
/// * none: the container is reported with an empty UID;
/// * one: with that UID;
/// * several, one after the other (each one's last point before the next
///   one's first: a pod deleted and recreated under the same name): once
///   per incarnation its series overlaps, the first incarnation's span
///   running from the series' first point to its last block-I/O point, a
///   middle one's within its block-I/O points, the last one's from its
///   first block-I/O point to the series' last point;
/// * several at once (they cannot be told apart): once, with an empty UID.
fn attribute<'a>(
    containers: impl IntoIterator<Item = ((&'a str, &'a str, &'a str), (Timestamp, Timestamp))>,
    pods: &HashMap<(&'a str, &'a str), Vec<Incarnation<'a>>>,
) -> Vec<SeenContainer> {
    let mut out = Vec::new();
    let mut sorted: HashMap<(&str, &str), Vec<&Incarnation>> = HashMap::new();
    for ((ns, pod, name), (first, last)) in containers {
        let incarnations = sorted.entry((ns, pod)).or_insert_with(|| {
            let mut v: Vec<&Incarnation> = pods.get(&(ns, pod)).map(|v| v.iter().collect()).unwrap_or_default();
            v.sort_by_key(|i| (i.first, i.last, i.uid));
            v
        });
        let seen = |uid: &str, first, last, image: Option<&str>| {
            let c = SeenContainer::new(PodId::new(ns, pod, uid).container(name), first, last);
            match image {
                Some(image) => c.with_image(image),
                None => c,
            }
        };
        match incarnations.as_slice() {
            [] => out.push(seen("", first, last, None)),
            [one] => out.push(seen(one.uid, first, last, one.images.get(name).copied())),
            several if several.windows(2).all(|w| w[0].last < w[1].first) => {
                let n = several.len();
                for (k, inc) in several.iter().enumerate() {
                    let from = if k == 0 { first } else { first.max(inc.first) };
                    let to = if k + 1 == n { last } else { last.min(inc.last) };
                    if from <= to {
                        out.push(seen(inc.uid, from, to, inc.images.get(name).copied()));
                    }
                }
            }
            overlapping => {
                let image = overlapping.iter().rev().find_map(|i| i.images.get(name).copied());
                out.push(seen("", first, last, image));
            }
        }
    }
    out.sort_by(|a, b| (&a.id, a.first_sample).cmp(&(&b.id, b.first_sample)));
    out
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
            Index::add(&mut idx.lists, &mut idx.by_container, (ns, name, cn), c);
            Index::add(&mut idx.lists, &mut idx.by_pod, (ns, name), c);
            let g = pods.entry((ns, name)).or_insert_with(|| PodGroup {
                namespace: ns,
                name,
                uids: Vec::new(),
                containers: Vec::new(),
            });
            if !uid.is_empty() {
                Index::add(&mut idx.lists, &mut idx.by_uid_container, (uid, cn), c);
                g.uids.push(uid);
            }
            g.containers.push(cn);
        }
        if pods.is_empty() || window.duration().is_zero() {
            return Ok(MetricBatch::new());
        }
        let pods: Vec<PodGroup> = pods
            .into_values()
            .map(|mut p| {
                for v in [&mut p.uids, &mut p.containers] {
                    v.sort_unstable();
                    v.dedup();
                }
                p
            })
            .collect();
        let url = self.query_url();
        let max_body = self.max_request_bytes.saturating_sub(url.as_str().len());
        let planner = Planner::new(
            &self.schema,
            self.retention_policy.as_deref(),
            window,
            self.chunk_size,
            max_body,
        );
        let plans = planner.plan(&pods);
        tracing::debug!(
            pods = pods.len(),
            requests = plans.len(),
            bytes = plans.iter().map(|p| p.body_bytes + url.as_str().len()).sum::<usize>(),
            "fetching metrics from InfluxDB"
        );
        let mut out = Collect::default();
        let mut failed: Vec<(usize, InfluxError)> = Vec::new();
        let plans = &plans;
        let mut answers = futures::stream::iter(0..plans.len())
            .map(|i| {
                let url = url.clone();
                async move { (i, self.request(&plans[i], url).await) }
            })
            .buffer_unordered(self.concurrency);
        while let Some((i, answer)) = answers.next().await {
            if let Err(e) = answer.and_then(|resp| self.absorb(&plans[i], resp, &idx, &mut out)) {
                tracing::debug!(request = i + 1, of = plans.len(), pods = plans[i].pods.len(), error = %e, "InfluxDB request failed");
                failed.push((i, e));
            }
        }
        drop(answers);
        failed.sort_by_key(|(i, _)| *i);
        if !failed.is_empty() && failed.len() == plans.len() {
            // Nothing could be read: the fetch fails as a whole, with the first request's error.
            return Err(failed.swap_remove(0).1.into_source_error(self.backend()));
        }
        for (i, e) in failed {
            let ids = pods[plans[i].pods.clone()]
                .iter()
                .flat_map(|p| idx.pod(p.namespace, p.name).iter().copied());
            out.batch.mark_unavailable(ids, e.into_source_error(self.backend()));
        }
        let Collect {
            mut batch,
            volumes,
            blkio,
        } = out;
        for (l, series) in volumes {
            for id in &idx.lists[l] {
                batch.extend(
                    id,
                    series.iter().map(|(t, v)| Sample::new(*t, Metric::VolumeUsedBytes, *v)),
                );
            }
        }
        for (l, series) in blkio {
            for id in &idx.lists[l] {
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

    /// Every container of the container measurement (Telegraf's
    /// `kubernetes_pod_container`) with points in `window`, gone pods
    /// included, with its first and last point there, by two statements,
    /// `SELECT first(…)` and `SELECT last(…)` of the field mapped to
    /// [`Metric::MemoryUsageBytes`] (else the first field mapped) `GROUP BY`
    /// namespace, pod name and container name: an answer holds one row per
    /// container, whatever the window's length. One `POST /query` per
    /// [`SEEN_SPAN`] (a day) of the window (at most [`MAX_SEEN_REQUESTS`]), up to
    /// [`concurrency`](InfluxConfig::concurrency) at a time, their edges
    /// joined: InfluxDB reads every point of the span for `first()` and
    /// `last()`, so a month in one request could outlast the timeout.
    ///
    /// Where the schema has a block-I/O measurement, the same request asks
    /// it for the first and last point of every (namespace, pod name, pod
    /// UID, container, image) from the Docker labels (Telegraf's `docker`
    /// input), to give each container its pod UID, so that
    /// [`fetch`](MetricSource::fetch) reads its block I/O too, and its image
    /// ([`BlkioMeasurement::image_tag`](crate::BlkioMeasurement::image_tag)).
    /// A pod name with several UIDs one after the other (deleted and
    /// recreated) gives its containers once per UID, the boundaries between
    /// them taken from the block-I/O points (to within a scrape interval);
    /// UIDs that overlap in time cannot be told apart and give the container
    /// once with an empty UID. A container with no block-I/O points (nodes
    /// without Docker, no block-I/O measurement) has an empty UID: `fetch`
    /// answers to it by names, without block I/O. No start time is given
    /// (Telegraf does not write it).
    ///
    /// The answer is read like `fetch`'s, bounded by
    /// [`max_response_bytes`](InfluxConfig::max_response_bytes); a truncated
    /// or malformed answer is an error. A schema whose container measurement
    /// maps no field answers [`SourceError::Unsupported`].
    async fn containers_seen(&self, window: TimeWindow) -> Result<Vec<SeenContainer>, SourceError> {
        if window.duration().is_zero() {
            return Ok(Vec::new());
        }
        let plans: Option<Vec<(RequestPlan, Vec<Edge>)>> = seen_spans(window)
            .map(|span| seen_plan(&self.schema, self.retention_policy.as_deref(), span))
            .collect();
        let Some(plans) = plans else {
            return Err(SourceError::Unsupported {
                backend: self.backend().to_owned(),
                what: "list the containers it has samples of (the container measurement maps no field)".into(),
            });
        };
        let (url, plans) = (self.query_url(), &plans);
        // In order; the first failure fails the call (the others are dropped).
        let answers = futures::stream::iter(0..plans.len())
            .map(|i| {
                let url = url.clone();
                async move { self.request(&plans[i].0, url).await }
            })
            .buffered(self.concurrency)
            .try_collect::<Vec<_>>()
            .await;
        let seen = answers
            .and_then(|answers| self.seen_from(plans, &answers))
            .map_err(|e| e.into_source_error(self.backend()))?;
        tracing::debug!(
            containers = seen.len(),
            with_uid = seen.iter().filter(|c| !c.id.pod.uid.is_empty()).count(),
            "listed the containers InfluxDB has samples of"
        );
        Ok(seen)
    }
}

/// The longest span of one `containers_seen` request (a day): InfluxDB's
/// `first()` and `last()` read every point of it (26 million points took
/// 0.2–0.25 s on the test machine; a day of 3,000 containers at 10 s is
/// about 26 million).
pub const SEEN_SPAN: std::time::Duration = std::time::Duration::from_secs(86_400);

/// The most requests one `containers_seen` call makes: a look-back of more
/// than this many [`SEEN_SPAN`]s is cut into as many longer spans (a library
/// caller's window may be centuries long; the plans are held at once).
pub const MAX_SEEN_REQUESTS: u32 = 400;

/// `window` cut into consecutive spans of [`SEEN_SPAN`] (the last one
/// shorter), or into at most [`MAX_SEEN_REQUESTS`] longer ones.
fn seen_spans(window: TimeWindow) -> impl Iterator<Item = TimeWindow> {
    let span = SEEN_SPAN.max(window.duration() / MAX_SEEN_REQUESTS + std::time::Duration::from_millis(1));
    let mut start = window.start;
    std::iter::from_fn(move || {
        (start < window.end).then(|| {
            let end = (start + span).min(window.end);
            let span = TimeWindow::new(start, end);
            start = end;
            span
        })
    })
}

/// Points per chunk of a chunked answer (InfluxDB's default).
const CHUNK_POINTS: &str = "10000";

/// The one answer of a chunked `/query` response: one JSON object per chunk,
/// a chunk's result `partial` when the statement's next result goes on in
/// the next chunk, a series `partial` when the series does. A server that
/// does not chunk sends one object, taken as it is. What is still partial
/// after the last chunk was cut short: [`complete_results`] says so.
fn merge_chunks(bytes: &[u8]) -> Result<QueryResponse, InfluxError> {
    let mut merged: Option<QueryResponse> = None;
    for chunk in serde_json::Deserializer::from_slice(bytes).into_iter::<QueryResponse>() {
        let chunk = chunk.map_err(InfluxError::Json)?;
        let Some(m) = merged.as_mut() else {
            merged = Some(chunk);
            continue;
        };
        if chunk.error.is_some() {
            m.error = chunk.error;
        }
        for r in chunk.results {
            match m.results.last_mut() {
                Some(last) if last.partial && last.error.is_none() && last.statement_id == r.statement_id => {
                    last.merge(r);
                }
                _ => m.results.push(r),
            }
        }
    }
    merged.ok_or_else(|| InfluxError::Unexpected("an empty answer".into()))
}

/// The JSON of `/query` (of one chunk, when chunked).
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

impl StatementResult {
    /// Appends the next chunk's result of the same statement.
    fn merge(&mut self, next: StatementResult) {
        self.partial = next.partial;
        if next.error.is_some() {
            self.error = next.error;
        }
        let mut series = next.series.into_iter().peekable();
        if let Some(last) = self.series.last_mut()
            && let Some(more) = series.next_if(|s| last.partial && last.same_series(s))
        {
            last.values.extend(more.values);
            last.partial = more.partial;
        }
        self.series.extend(series);
    }
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    values: Vec<Vec<Value>>,
    #[serde(default)]
    partial: bool,
}

impl Series {
    /// Whether `other` is more of this series (a chunk's continuation).
    fn same_series(&self, other: &Series) -> bool {
        self.name == other.name && self.tags == other.tags && self.columns == other.columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A series: its `pod` tag, how many values, whether partial.
    type SeriesShape = (String, usize, bool);

    /// (statement, partial, its series) of each result.
    fn shape(r: &QueryResponse) -> Vec<(Option<usize>, bool, Vec<SeriesShape>)> {
        r.results
            .iter()
            .map(|r| {
                let series = r
                    .series
                    .iter()
                    .map(|s| (s.tags["pod"].clone(), s.values.len(), s.partial))
                    .collect();
                (r.statement_id, r.partial, series)
            })
            .collect()
    }

    #[test]
    fn a_look_back_is_read_a_day_at_a_time() {
        let day = SEEN_SPAN.as_secs() as i64;
        let spans = |from: i64, to: i64| -> Vec<(i64, i64)> {
            seen_spans(TimeWindow::new(t(from), t(to)))
                .map(|w| (w.start.as_millis() / 1000, w.end.as_millis() / 1000))
                .collect()
        };
        assert_eq!(spans(100, 200), [(100, 200)]);
        assert_eq!(spans(0, day), [(0, day)]);
        assert_eq!(
            spans(5, 2 * day + 7),
            [(5, day + 5), (day + 5, 2 * day + 5), (2 * day + 5, 2 * day + 7)]
        );
        let month = spans(1_700_000_000, 1_700_000_000 + 30 * day);
        assert_eq!(month.len(), 30);
        assert!(month.windows(2).all(|w| w[0].1 == w[1].0), "consecutive, no gap");
        assert!(spans(200, 200).is_empty());
        // However long the window, at most MAX_SEEN_REQUESTS spans, abutting.
        for end in [401 * day, 10_000 * day, i64::MAX / 1000] {
            let all = spans(0, end);
            assert!(
                all.len() <= MAX_SEEN_REQUESTS as usize && all.len() >= 400,
                "{}",
                all.len()
            );
            assert_eq!((all[0].0, all.last().unwrap().1), (0, end));
            assert!(all.windows(2).all(|w| w[0].1 == w[1].0));
        }
        assert_eq!(spans(0, 400 * day).len(), 400);
    }

    #[test]
    fn chunks_of_an_answer_are_joined_by_statement_and_series() {
        // As InfluxDB 1.6.7 sends `SELECT v FROM m GROUP BY pod; SELECT
        // count(v) …` with chunk_size=2: pod a's 3 points in two chunks.
        let chunked = r#"{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"pod":"a"},"columns":["time","v"],"values":[[1,1],[2,2]],"partial":true}],"partial":true}]}
{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"pod":"a"},"columns":["time","v"],"values":[[3,3]]}],"partial":true}]}
{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"pod":"b"},"columns":["time","v"],"values":[[1,5]]}]}]}
{"results":[{"statement_id":1,"series":[{"name":"m","tags":{"pod":"a"},"columns":["time","count"],"values":[[0,3]]}],"partial":true}]}
{"results":[{"statement_id":1,"series":[{"name":"m","tags":{"pod":"b"},"columns":["time","count"],"values":[[0,1]]}]}]}
"#;
        let r = merge_chunks(chunked.as_bytes()).unwrap();
        let s = |pod: &str, n, partial| (pod.to_owned(), n, partial);
        assert_eq!(
            shape(&r),
            [
                (Some(0), false, vec![s("a", 3, false), s("b", 1, false)]),
                (Some(1), false, vec![s("a", 1, false), s("b", 1, false)])
            ]
        );
        // An answer that is not chunked is taken as it is, partial or not.
        let plain = chunked.lines().next().unwrap();
        assert_eq!(
            shape(&merge_chunks(plain.as_bytes()).unwrap()),
            [(Some(0), true, vec![s("a", 2, true)])]
        );
        // Cut short after the first two chunks: still partial, so
        // `complete_results` refuses it; nothing at all is an error.
        let cut: String = chunked.lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(
            shape(&merge_chunks(cut.as_bytes()).unwrap()),
            [(Some(0), true, vec![s("a", 3, false)])]
        );
        assert!(merge_chunks(b"").is_err());
        assert!(merge_chunks(b"{\"results\":[]} {").is_err(), "a broken chunk");
        // A chunk's error stays.
        let failed = format!(
            "{}\n{}",
            chunked.lines().next().unwrap(),
            r#"{"results":[{"statement_id":0,"error":"boom"}]}"#
        );
        assert_eq!(
            merge_chunks(failed.as_bytes()).unwrap().results[0].error.as_deref(),
            Some("boom")
        );
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn inc<'a>(uid: &'a str, first: i64, last: i64, images: &[(&'a str, &'a str)]) -> Incarnation<'a> {
        Incarnation {
            uid,
            first: t(first),
            last: t(last),
            images: images.iter().copied().collect(),
        }
    }

    /// `(uid, container, first, last, image)` of each container, in order.
    fn summary(seen: &[SeenContainer]) -> Vec<(String, String, i64, i64, Option<String>)> {
        seen.iter()
            .map(|c| {
                (
                    c.id.pod.uid.clone(),
                    c.id.container.clone(),
                    c.first_sample.as_millis() / 1000,
                    c.last_sample.as_millis() / 1000,
                    c.image.clone(),
                )
            })
            .collect()
    }

    fn owned(v: &[(&str, &str, i64, i64, Option<&str>)]) -> Vec<(String, String, i64, i64, Option<String>)> {
        v.iter()
            .map(|(u, c, f, l, i)| (u.to_string(), c.to_string(), *f, *l, i.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn containers_get_the_uid_and_image_of_their_pod() {
        let pods = HashMap::from([(("ns", "web"), vec![inc("u-web", 98, 302, &[("nginx", "nginx")])])]);
        let seen = attribute(
            [
                (("ns", "web", "nginx"), (t(100), t(300))),
                (("ns", "web", "sidecar"), (t(100), t(290))),
                (("ns", "bare", "app"), (t(150), t(160))),
            ],
            &pods,
        );
        assert_eq!(
            summary(&seen),
            owned(&[
                ("", "app", 150, 160, None),
                ("u-web", "nginx", 100, 300, Some("nginx")),
                ("u-web", "sidecar", 100, 290, None),
            ])
        );
        assert_eq!(seen[1].id, PodId::new("ns", "web", "u-web").container("nginx"));
        assert!(seen.iter().all(|c| c.started.is_none()));
    }

    #[test]
    fn a_recreated_pod_is_split_at_its_uids() {
        // mysql-0 ran as u-a from 100 to 200 and as u-b from 260 to 400 (the
        // block-I/O points 2 s after the container measurement's); a sidecar
        // only in the second, a job container only in the first.
        let pods = HashMap::from([(
            ("db", "mysql-0"),
            vec![
                inc("u-b", 262, 402, &[("mysql", "mysql"), ("exporter", "mysqld-exporter")]),
                inc("u-a", 102, 202, &[("mysql", "mariadb")]),
            ],
        )]);
        let seen = attribute(
            [
                (("db", "mysql-0", "mysql"), (t(100), t(400))),
                (("db", "mysql-0", "exporter"), (t(260), t(400))),
                (("db", "mysql-0", "init"), (t(100), t(110))),
            ],
            &pods,
        );
        assert_eq!(
            summary(&seen),
            owned(&[
                ("u-a", "init", 100, 110, None),
                ("u-a", "mysql", 100, 202, Some("mariadb")),
                ("u-b", "exporter", 262, 400, Some("mysqld-exporter")),
                ("u-b", "mysql", 262, 400, Some("mysql")),
            ])
        );
        // Three incarnations: the middle one within its own points.
        let pods = HashMap::from([(
            ("db", "p"),
            vec![inc("1", 0, 10, &[]), inc("2", 20, 30, &[]), inc("3", 40, 50, &[])],
        )]);
        let seen = attribute([(("db", "p", "c"), (t(0), t(50)))], &pods);
        assert_eq!(
            summary(&seen),
            owned(&[
                ("1", "c", 0, 10, None),
                ("2", "c", 20, 30, None),
                ("3", "c", 40, 50, None)
            ])
        );
    }

    #[test]
    fn uids_at_the_same_time_are_left_empty() {
        let pods = HashMap::from([(
            ("ns", "p"),
            vec![
                inc("u-1", 0, 100, &[("c", "img-1")]),
                inc("u-2", 50, 150, &[("c", "img-2")]),
            ],
        )]);
        let seen = attribute([(("ns", "p", "c"), (t(0), t(150)))], &pods);
        assert_eq!(summary(&seen), owned(&[("", "c", 0, 150, Some("img-2"))]));
    }

    #[test]
    fn edges_fill_in_what_one_statement_missed() {
        let mut e = Edges::default();
        assert_eq!(e.span(), None);
        e.add(Edge::Last, t(5));
        assert_eq!(e.span(), Some((t(5), t(5))));
        e.add(Edge::First, t(2));
        e.add(Edge::First, t(3));
        e.add(Edge::Last, t(4));
        assert_eq!(e.span(), Some((t(2), t(5))));
    }
}
