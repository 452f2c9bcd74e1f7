//! [`PrometheusMetricSource`]: cad's [`MetricSource`] over `/api/v1/query`.

use crate::config::{Catalogue, Chunking, ConfigError, PrometheusConfig, SeenQueries, SeriesMap};
use crate::error::PrometheusError;
use crate::http::Http;
use crate::plan::{Group, Planner, PodKey, Query, QueryKind, Seen, SeenPlanner};
use crate::response::{Answer, ResultType, Series, parse};
use cad_core::{
    ContainerId, Metric, MetricBatch, MetricSource, PodId, Sample, SeenContainer, SourceError, TimeWindow, Timestamp,
};
use futures::future::join_all;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Reads cAdvisor and kubelet series as raw samples from any server that
/// answers the Prometheus HTTP API (Prometheus, VictoriaMetrics, Thanos
/// Query, Mimir, Cortex), for many containers per call.
///
/// One [`fetch`](MetricSource::fetch) sorts the pods by namespace and name,
/// cuts them into chunks ([`Chunking`]) and sends, per chunk, one
/// `/api/v1/query` per group of series (three for the default catalogue's
/// container series, one for the network, one for the pod-to-claim info and,
/// where pods mount claims, one or more for the claims' usage), at most
/// [`Chunking::concurrency`] at a time. Range selectors at the window's end
/// return raw samples, so cad computes rates and windows itself, exactly as
/// it does for InfluxDB.
///
/// [`containers_seen`](MetricSource::containers_seen) lists the containers
/// of past pods too, from subqueries over the memory-usage series and
/// cAdvisor's `container_start_time_seconds`, a bounded number per window
/// ([`SeenQueries`]); see the method.
pub struct PrometheusMetricSource {
    http: Arc<Http>,
    catalogue: Catalogue,
    container_groups: Vec<Group>,
    pod_groups: Vec<Group>,
    chunking: Chunking,
    lookbehind: Duration,
    deny_partial_response: bool,
    seen: SeenQueries,
    queries: AtomicU64,
}

impl std::fmt::Debug for PrometheusMetricSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusMetricSource")
            .field("backend", &self.http.backend())
            .field("chunking", &self.chunking)
            .finish_non_exhaustive()
    }
}

/// What one fetch gave, chunk by chunk.
///
/// A failed chunk concerns only its own containers: [`batch`](Self::batch)
/// holds every other chunk's samples. [`MetricSource::fetch`] marks the
/// failed chunks' containers unavailable in the batch, and fails only when
/// every chunk failed.
#[derive(Debug, Default)]
pub struct FetchReport {
    /// Samples of the chunks that succeeded.
    pub batch: MetricBatch,
    /// The chunks that failed: their containers and why.
    pub failed: Vec<FailedChunk>,
    /// Queries sent (each counted once, however many attempts it took).
    pub queries: usize,
    /// Chunks the pods were cut into.
    pub chunks: usize,
}

/// A chunk whose queries failed.
#[derive(Debug)]
pub struct FailedChunk {
    /// The requested containers of the chunk's pods.
    pub containers: Vec<ContainerId>,
    /// The failure.
    pub error: SourceError,
}

/// Requested containers by the labels series carry.
#[derive(Default)]
struct Index {
    by_container: HashMap<(String, String, String), Vec<ContainerId>>,
    by_pod: HashMap<(String, String), Vec<ContainerId>>,
}

/// Values summed per (metric, time in ms).
type Points = BTreeMap<(Metric, i64), f64>;

/// A pod's network series: container label (`""`/`"POD"` for the sandbox)
/// → source (one sandbox or container instance) → points summed over interfaces.
type PodSources = BTreeMap<String, BTreeMap<String, Points>>;

/// What one chunk's answers gathered, before it becomes samples.
#[derive(Default)]
struct Gathered {
    /// (namespace, pod, container) → points.
    containers: HashMap<(String, String, String), Points>,
    /// (namespace, pod) → its network series.
    pods: HashMap<(String, String), PodSources>,
    /// (namespace, pod) → claims mounted.
    claims: BTreeMap<(String, String), BTreeSet<String>>,
    /// (namespace, claim) → time → used bytes.
    volume_usage: HashMap<(String, String), BTreeMap<i64, f64>>,
}

impl PrometheusMetricSource {
    /// A source for `config`. Fails on an unusable URL, setting or file;
    /// does not contact the server (see [`ping`](Self::ping)).
    pub fn new(config: PrometheusConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = Http::new(&config)?;
        let derive = config
            .catalogue
            .derives_nanocores()
            .then_some(Metric::CpuUsageCoreNanoseconds);
        Ok(PrometheusMetricSource {
            http: Arc::new(http),
            container_groups: Group::of(&config.catalogue.container, derive),
            pod_groups: Group::of(&config.catalogue.pod, None),
            catalogue: config.catalogue,
            chunking: config.chunking,
            lookbehind: config.counter_lookbehind,
            deny_partial_response: config.deny_partial_response,
            seen: config.seen,
            queries: AtomicU64::new(0),
        })
    }

    /// `"Prometheus API at <url>"`, as errors name it.
    pub fn backend(&self) -> &str {
        self.http.backend()
    }

    /// HTTP requests sent so far, retries included.
    pub fn request_count(&self) -> u64 {
        self.http.request_count()
    }

    /// Queries sent so far (each once, however many attempts it took).
    pub fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Checks that the server answers a query (`vector(1)`, with retries) and
    /// accepts the credentials.
    pub async fn ping(&self) -> Result<(), SourceError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", "vector(1)")
            .finish();
        let body = self
            .http
            .send(&self.http.url("api/v1/query"), &form)
            .await
            .map_err(|e| e.into_source_error(self.backend()))?;
        parse(&body, ResultType::Vector)
            .map(|_| ())
            .map_err(|e| e.into_source_error(self.backend()))
    }

    /// Samples for `containers` in `window`, chunk by chunk; see [`FetchReport`].
    pub async fn fetch_report(&self, containers: &[ContainerId], window: TimeWindow) -> FetchReport {
        let mut index = Index::default();
        let mut pods: BTreeMap<(&str, &str), PodKey> = BTreeMap::new();
        for c in containers {
            if self.catalogue.pause_containers.contains(&c.container) {
                tracing::debug!(container = %c.to_string().escape_default(), "a pause container's name; not read");
                continue;
            }
            let (ns, name) = (c.pod.namespace.as_str(), c.pod.name.as_str());
            index
                .by_container
                .entry((ns.to_owned(), name.to_owned(), c.container.clone()))
                .or_default()
                .push(c.clone());
            index
                .by_pod
                .entry((ns.to_owned(), name.to_owned()))
                .or_default()
                .push(c.clone());
            pods.entry((ns, name))
                .or_insert_with(|| PodKey {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                    containers: BTreeSet::new(),
                })
                .containers
                .insert(c.container.clone());
        }
        if pods.is_empty() || window.duration().is_zero() {
            return FetchReport::default();
        }
        let pods: Vec<PodKey> = pods.into_values().collect();
        let planner = Planner {
            catalogue: &self.catalogue,
            container_groups: &self.container_groups,
            pod_groups: &self.pod_groups,
            chunking: self.chunking,
            window,
            lookbehind: self.lookbehind,
            deny_partial_response: self.deny_partial_response,
        };
        let chunks = planner.chunks(&pods);
        let sent = AtomicU64::new(0);
        let results = join_all(chunks.iter().map(|chunk| self.run_chunk(&planner, chunk, &sent))).await;
        let mut report = FetchReport {
            chunks: chunks.len(),
            queries: sent.load(Ordering::Relaxed) as usize,
            ..FetchReport::default()
        };
        for (chunk, result) in chunks.iter().zip(results) {
            match result {
                Ok(g) => self.emit(g, &index, window, &mut report.batch),
                Err(error) => {
                    let containers = chunk
                        .iter()
                        .flat_map(|p| {
                            index
                                .by_pod
                                .get(&(p.namespace.clone(), p.name.clone()))
                                .into_iter()
                                .flatten()
                                .cloned()
                        })
                        .collect();
                    report.failed.push(FailedChunk { containers, error });
                }
            }
        }
        report.batch.sort_by_time();
        tracing::debug!(
            pods = pods.len(),
            chunks = report.chunks,
            queries = report.queries,
            failed_chunks = report.failed.len(),
            "fetched metrics from the Prometheus API"
        );
        report
    }

    /// Sends one query and reads its answer.
    async fn run(&self, q: &Query, sent: &AtomicU64) -> Result<Answer, SourceError> {
        sent.fetch_add(1, Ordering::Relaxed);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let want = if q.kind.is_instant() {
            ResultType::Vector
        } else {
            ResultType::Matrix
        };
        let result = match self.http.send(&self.http.url("api/v1/query"), &q.form).await {
            Ok(body) => parse(&body, want),
            Err(e) => Err(e),
        };
        let answer = result.map_err(|e| {
            tracing::debug!(query = %truncate(&q.promql, 300), error = %e, "query failed");
            e.into_source_error(self.backend())
        })?;
        for w in &answer.warnings {
            // Thanos and Mimir say here that some stores did not answer: the
            // samples may be incomplete, which cad treats like late data.
            tracing::warn!(backend = %self.backend(), warning = %w, query = ?q.kind, "the server warns: data may be partial");
        }
        for i in &answer.infos {
            tracing::debug!(backend = %self.backend(), info = %i, "the server notes");
        }
        Ok(answer)
    }

    async fn run_chunk(
        &self,
        planner: &Planner<'_>,
        pods: &[&PodKey],
        sent: &AtomicU64,
    ) -> Result<Gathered, SourceError> {
        let queries = planner.chunk_queries(pods);
        let answers = join_all(queries.iter().map(|q| self.run(q, sent))).await;
        let mut g = Gathered::default();
        for (q, answer) in queries.iter().zip(answers) {
            let answer = answer?;
            match q.kind {
                QueryKind::Container(i) => self.gather_container(&self.container_groups[i], answer, &mut g),
                QueryKind::Pod(i) => self.gather_pod(&self.pod_groups[i], answer, &mut g),
                QueryKind::Claims => self.gather_claims(answer, pods, &mut g),
                QueryKind::VolumeUsage | QueryKind::Seen(_) => {}
            }
        }
        let claims: BTreeSet<(String, String)> = g
            .claims
            .iter()
            .flat_map(|((ns, _), cs)| cs.iter().map(|c| (ns.clone(), c.clone())))
            .collect();
        let queries = planner.volume_queries(&claims);
        let answers = join_all(queries.iter().map(|q| self.run(q, sent))).await;
        for answer in answers {
            self.gather_volume_usage(answer?, &claims, &mut g);
        }
        Ok(g)
    }

    fn gather_container(&self, group: &Group, answer: Answer, g: &mut Gathered) {
        let l = &self.catalogue.labels;
        for s in answer.series {
            let Some(map) = group.mapping(s.label("__name__"), |k| s.label(k)) else {
                continue;
            };
            let container = s.label(&l.container);
            if self.catalogue.pause_containers.iter().any(|p| p == container) {
                continue;
            }
            let key = (
                s.label(&l.namespace).to_owned(),
                s.label(&l.pod).to_owned(),
                container.to_owned(),
            );
            add(g.containers.entry(key).or_default(), map, &s);
        }
    }

    fn gather_pod(&self, group: &Group, answer: Answer, g: &mut Gathered) {
        let l = &self.catalogue.labels;
        for s in answer.series {
            let Some(map) = group.mapping(s.label("__name__"), |k| s.label(k)) else {
                continue;
            };
            let key = (s.label(&l.namespace).to_owned(), s.label(&l.pod).to_owned());
            let points = g
                .pods
                .entry(key)
                .or_default()
                .entry(s.label(&l.container).to_owned())
                .or_default()
                .entry(source_key(&s, group))
                .or_default();
            add(points, map, &s);
        }
    }

    fn gather_claims(&self, answer: Answer, pods: &[&PodKey], g: &mut Gathered) {
        let Some(v) = &self.catalogue.volumes else { return };
        let wanted: BTreeSet<(&str, &str)> = pods.iter().map(|p| (p.namespace.as_str(), p.name.as_str())).collect();
        for s in answer.series {
            let (ns, pod) = (s.label(&v.pod_claims_namespace_label), s.label(&v.pod_claims_pod_label));
            let claim = s.label(&v.pod_claims_claim_label);
            if claim.is_empty() || !wanted.contains(&(ns, pod)) {
                continue;
            }
            g.claims
                .entry((ns.to_owned(), pod.to_owned()))
                .or_default()
                .insert(claim.to_owned());
        }
    }

    fn gather_volume_usage(&self, answer: Answer, claims: &BTreeSet<(String, String)>, g: &mut Gathered) {
        let Some(v) = &self.catalogue.volumes else { return };
        for s in answer.series {
            if s.label("__name__") != v.used_bytes {
                continue;
            }
            let key = (
                s.label(&v.namespace_label).to_owned(),
                s.label(&v.claim_label).to_owned(),
            );
            if !claims.contains(&key) {
                continue;
            }
            let points = g.volume_usage.entry(key).or_default();
            for p in &s.values {
                *points.entry(p.millis).or_default() += p.value;
            }
        }
    }

    /// [`MetricSource::containers_seen`]'s work: every query of the window,
    /// [`Chunking::concurrency`] at a time, folded into [`SeenAll`] as they
    /// answer (so at most that many answers are held at once).
    async fn scan_seen(&self, window: TimeWindow) -> Result<Vec<SeenContainer>, SourceError> {
        let planner = SeenPlanner {
            catalogue: &self.catalogue,
            seen: self.seen,
            deny_partial_response: self.deny_partial_response,
        };
        if planner.presence().is_none() {
            return Err(SourceError::Unsupported {
                backend: self.backend().to_owned(),
                what: "list the containers it has samples of: the catalogue reads no per-container series".into(),
            });
        }
        let queries = planner.queries(window);
        let count = queries.len();
        let sent = AtomicU64::new(0);
        let sent = &sent;
        let mut answers = stream::iter(queries)
            .map(|q| async move {
                let answer = self.run(&q, sent).await;
                (q.kind, answer)
            })
            .buffer_unordered(self.chunking.concurrency.max(1));
        let mut all = SeenAll::default();
        while let Some((kind, answer)) = answers.next().await {
            let QueryKind::Seen(kind) = kind else { continue };
            // The first failure fails the call; the queries still running are dropped.
            all.gather(kind, answer?, &self.catalogue);
        }
        let out = all.containers(window);
        tracing::debug!(
            queries = count,
            containers = out.len(),
            "listed the containers seen in the Prometheus API"
        );
        Ok(out)
    }

    /// Turns one chunk's gathered points into samples of the requested containers.
    fn emit(&self, g: Gathered, index: &Index, window: TimeWindow, batch: &mut MetricBatch) {
        let derive = self.catalogue.derives_nanocores();
        for (key, mut points) in g.containers {
            // Absent: a requested pod name in another requested namespace, or an unrequested container.
            let Some(ids) = index.by_container.get(&key) else {
                continue;
            };
            if derive {
                derive_nanocores(&mut points);
            }
            put(batch, ids, window, points);
        }
        for (key, sources) in g.pods {
            let Some(ids) = index.by_pod.get(&key) else { continue };
            if let Some(points) = choose_pod_source(sources, &self.catalogue.pause_containers) {
                put(batch, ids, window, points);
            }
        }
        for ((ns, pod), claims) in &g.claims {
            let Some(ids) = index.by_pod.get(&(ns.clone(), pod.clone())) else {
                continue;
            };
            let mut used = Points::new();
            for claim in claims {
                for (t, v) in g.volume_usage.get(&(ns.clone(), claim.clone())).into_iter().flatten() {
                    *used.entry((Metric::VolumeUsedBytes, *t)).or_default() += v;
                }
            }
            put(batch, ids, window, used);
        }
    }
}

/// What [`MetricSource::containers_seen`]'s answers say of one container.
#[derive(Debug, Default, PartialEq)]
struct SeenOne {
    /// Earliest sample time seen (ms).
    first: Option<i64>,
    /// Latest sample time seen (ms).
    last: Option<i64>,
    /// The image of the series with the latest sample, and that sample's time.
    image: Option<(i64, String)>,
}

/// Every container of a [`MetricSource::containers_seen`] call, by
/// (namespace, pod, container), and their earliest recorded starts.
#[derive(Debug, Default)]
struct SeenAll {
    containers: BTreeMap<(String, String, String), SeenOne>,
    started: HashMap<(String, String, String), i64>,
}

impl SeenAll {
    /// Folds one answer in. Series without a usable value (not a finite time
    /// in seconds, or a start at or before the epoch) or of a pause container
    /// are skipped.
    fn gather(&mut self, kind: Seen, answer: Answer, catalogue: &Catalogue) {
        let l = &catalogue.labels;
        for s in answer.series {
            let Some(p) = s.value else { continue };
            let (pod, container) = (s.label(&l.pod), s.label(&l.container));
            if pod.is_empty() || catalogue.pause_containers.iter().any(|p| p == container) {
                continue;
            }
            // Seconds (a `timestamp` or a start time) to ms; ±1e14 s is garbage.
            if !p.value.is_finite() || p.value.abs() > 1e14 {
                continue;
            }
            let ms = (p.value * 1000.0).round() as i64;
            let key = (s.label(&l.namespace).to_owned(), pod.to_owned(), container.to_owned());
            match kind {
                Seen::First => {
                    let one = self.containers.entry(key).or_default();
                    one.first = Some(one.first.map_or(ms, |f| f.min(ms)));
                }
                Seen::Last => {
                    let image = s.label(&l.image);
                    let one = self.containers.entry(key).or_default();
                    one.last = Some(one.last.map_or(ms, |t| t.max(ms)));
                    if !image.is_empty() && one.image.as_ref().is_none_or(|(t, _)| ms > *t) {
                        one.image = Some((ms, image.to_owned()));
                    }
                }
                Seen::Started if ms > 0 => {
                    let t = self.started.entry(key).or_insert(ms);
                    *t = (*t).min(ms);
                }
                Seen::Started => {}
            }
        }
    }

    /// The containers with a sample inside `window`, sorted: first sample
    /// raised to the window's start, last lowered to its last instant
    /// (samples seen through the server's look-back before the window, or at
    /// the step after its end).
    fn containers(self, window: TimeWindow) -> Vec<SeenContainer> {
        let (start, end) = (window.start.as_millis(), window.end.as_millis());
        let mut out = Vec::new();
        for (key, one) in self.containers {
            let (first, last) = match (one.first, one.last) {
                (Some(f), Some(l)) => (f.min(l), f.max(l)),
                // A series that came or went between the two queries.
                (Some(t), None) | (None, Some(t)) => (t, t),
                (None, None) => continue,
            };
            if last < start || first >= end {
                continue;
            }
            let first = first.max(start);
            let last = last.min(end - 1).max(first);
            let started = self.started.get(&key).copied();
            let (namespace, pod, container) = key;
            // cAdvisor's series carry no pod UID: fetch matches by names.
            let id = PodId::new(namespace, pod, "").container(container);
            let mut c = SeenContainer::new(id, Timestamp::from_millis(first), Timestamp::from_millis(last));
            if let Some((_, image)) = one.image {
                c = c.with_image(image);
            }
            if let Some(t) = started {
                c = c.with_start(Timestamp::from_millis(t));
            }
            out.push(c);
        }
        out
    }
}

/// Adds a series' points to `points`, converted; points at the same time sum.
fn add(points: &mut Points, map: &SeriesMap, s: &Series) {
    for p in &s.values {
        *points.entry((map.metric, p.millis)).or_default() += map.unit.convert(p.value);
    }
}

/// Gives every container in `ids` the points inside `window` as samples.
fn put(batch: &mut MetricBatch, ids: &[ContainerId], window: TimeWindow, points: Points) {
    let samples: Vec<Sample> = points
        .into_iter()
        .filter(|((_, t), _)| window.contains(Timestamp::from_millis(*t)))
        .map(|((m, t), v)| Sample::new(Timestamp::from_millis(t), m, v))
        .collect();
    for id in ids {
        batch.extend(id, samples.iter().copied());
    }
}

/// A series' identity apart from its name and the group's filter labels
/// (the interface, for the network): the sandbox or container it comes from.
fn source_key(s: &Series, group: &Group) -> String {
    let mut key = String::new();
    for (k, v) in &s.metric {
        if k == "__name__" || group.maps.iter().any(|m| m.filters.iter().any(|f| &f.label == k)) {
            continue;
        }
        key.push_str(k);
        key.push('\u{1}');
        key.push_str(v);
        key.push('\u{2}');
    }
    key
}

/// The network series of a pod: those of its sandbox (pause container)
/// where there are any, else those of one container (a runtime that reports
/// the shared network namespace on each container would otherwise be
/// counted once per container): the one with the most points, then the
/// first by name. The instances of the chosen sandbox or container (one per
/// restart) are merged by time; where two have a point at the same time —
/// the same network namespace read twice — the larger counts.
fn choose_pod_source(mut sources: PodSources, pause: &[String]) -> Option<Points> {
    let mut chosen: Vec<BTreeMap<String, Points>> = Vec::new();
    for p in pause {
        chosen.extend(sources.remove(p));
    }
    if chosen.is_empty() {
        let size = |instances: &BTreeMap<String, Points>| instances.values().map(BTreeMap::len).sum::<usize>();
        let best = sources
            .iter()
            .max_by(|a, b| size(a.1).cmp(&size(b.1)).then_with(|| b.0.cmp(a.0)))
            .map(|(k, _)| k.clone())?;
        chosen.extend(sources.remove(&best));
    }
    let mut merged = Points::new();
    for points in chosen.into_iter().flat_map(BTreeMap::into_values) {
        for (k, v) in points {
            let e = merged.entry(k).or_insert(v);
            *e = e.max(v);
        }
    }
    Some(merged)
}

/// Adds [`Metric::CpuUsageNanocores`] at every CPU-counter point that has a
/// predecessor, as cad-core's [`derive_nanocores`](cad_core::metric::derive_nanocores)
/// computes it (the kubelet's `Δ core-ns ÷ Δ s`; none across a restart).
fn derive_nanocores(points: &mut Points) {
    let counter: Vec<Sample> = points
        .range((Metric::CpuUsageCoreNanoseconds, i64::MIN)..=(Metric::CpuUsageCoreNanoseconds, i64::MAX))
        .map(|((m, t), v)| Sample::new(Timestamp::from_millis(*t), *m, *v))
        .collect();
    for s in cad_core::metric::derive_nanocores(&counter) {
        points.insert((s.metric, s.time.as_millis()), s.value);
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The most severe of `errors`: refusals first, then bad requests and
/// answers, then unavailability.
fn most_severe(errors: Vec<SourceError>) -> Option<SourceError> {
    errors.into_iter().min_by_key(|e| match e {
        SourceError::Denied { .. } => 0,
        SourceError::Invalid(_) => 1,
        SourceError::Protocol { .. } => 2,
        _ => 3,
    })
}

#[async_trait::async_trait]
impl MetricSource for PrometheusMetricSource {
    /// [`fetch_report`](PrometheusMetricSource::fetch_report) as the engines
    /// take it: the samples of every chunk that succeeded, with the
    /// containers of each failed chunk
    /// [marked unavailable](MetricBatch::mark_unavailable) with its error, so
    /// that the engines ask for them again. Only when every chunk failed is
    /// the fetch an error: the most severe chunk error (a refusal before a
    /// rejected query before an unreachable server).
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let report = self.fetch_report(containers, window).await;
        if report.failed.is_empty() {
            return Ok(report.batch);
        }
        let failed: usize = report.failed.iter().map(|f| f.containers.len()).sum();
        if report.failed.len() == report.chunks {
            tracing::debug!(chunks = report.chunks, "every chunk failed; the fetch fails");
            let errors = report.failed.into_iter().map(|f| f.error).collect();
            return Err(most_severe(errors)
                .unwrap_or_else(|| PrometheusError::Unexpected("no error".into()).into_source_error(self.backend())));
        }
        tracing::debug!(
            failed_chunks = report.failed.len(),
            chunks = report.chunks,
            failed_containers = failed,
            "some chunks failed; their containers are marked unavailable"
        );
        let mut batch = report.batch;
        for f in report.failed {
            batch.mark_unavailable(&f.containers, f.error);
        }
        Ok(batch)
    }

    /// Every container with samples of the catalogue's memory-usage series
    /// (else its first per-container series) within `window`, pause
    /// containers (the catalogue's `pause_containers`, as
    /// [`fetch`](MetricSource::fetch) skips them) and series without a pod
    /// label left out. Ids carry the namespace, pod and container labels and
    /// an empty pod UID (cAdvisor has none; `fetch` matches by names); the
    /// image is the `image` label ([`LabelNames::image`](crate::LabelNames::image))
    /// of the container's latest series; the start the earliest value of
    /// [`Catalogue::start_time`] (cAdvisor's `container_start_time_seconds`;
    /// a restarted container's first start), where that series exists.
    /// Sorted by namespace, pod and container.
    ///
    /// The window, widened to whole [`SeenQueries::step`]s and one more
    /// before its start (so that a container running at the start is seen
    /// there, whether the server's ranges are closed at the start or not),
    /// is cut into spans of at most [`SeenQueries::span`], so a query's work
    /// and answer do not grow with the window; each span costs three instant
    /// queries at its end, sent [`Chunking::concurrency`] at a time with the
    /// source's timeouts, retries, credentials and answer-size limit, each
    /// answering one value per container of the span (`P` is the
    /// memory-usage selector with `pod!=""` and `container!~"|POD"`):
    ///
    /// ```text
    /// min_over_time(min by (namespace,pod,container,image) (timestamp(P))[<span>ms:<step>ms])
    /// max_over_time(max by (namespace,pod,container,image) (timestamp(P))[<span>ms:<step>ms])
    /// min by (namespace,pod,container) (min_over_time(container_start_time_seconds{pod!="",container!~"|POD"}[<span>ms]))
    /// ```
    ///
    /// Precision: `timestamp` gives the time of the sample the selector finds
    /// at each step (the latest within the server's look-back, 5 min by
    /// default), so the last sample is found exactly, or up to a step early
    /// where the server marked the series stale before the next step; the
    /// first is found up to a step late (60 s by default). A container
    /// sampled before the window has its first sample at the window's start,
    /// and one still sampled after the window's end its last sample at the
    /// window's last millisecond. A container whose samples all lie
    /// between two steps and that Prometheus marked stale before the next
    /// (one that lived less than a step) may be missed. A pod deleted and
    /// recreated under the same name within the window reads as one pod, as
    /// in `fetch`.
    ///
    /// The first failed query fails the call ([`SourceError`] as for
    /// `fetch`); a catalogue without per-container series answers
    /// [`SourceError::Unsupported`].
    async fn containers_seen(&self, window: TimeWindow) -> Result<Vec<SeenContainer>, SourceError> {
        self.scan_seen(window).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_nanocores_start_at_the_second_point() {
        let c = Metric::CpuUsageCoreNanoseconds;
        let mut p: Points = [
            ((c, 0), 0.0),
            ((c, 10_000), 2e9),
            ((c, 20_000), 1e9),
            ((c, 30_000), 2e9),
        ]
        .into_iter()
        .collect();
        p.insert((Metric::MemoryRssBytes, 5), 1.0);
        derive_nanocores(&mut p);
        let n: Vec<(i64, f64)> = p
            .iter()
            .filter(|((m, _), _)| *m == Metric::CpuUsageNanocores)
            .map(|((_, t), v)| (*t, *v))
            .collect();
        assert_eq!(n, [(10_000, 2e8), (30_000, 1e8)]);
    }

    #[test]
    fn pod_source_prefers_the_sandbox_and_merges_restarts() {
        let pts = |ts: std::ops::Range<i64>, v: f64| -> Points { ts.map(|t| ((Metric::RxBytes, t), v)).collect() };
        let one = |p: Points| -> BTreeMap<String, Points> { [("i1".to_owned(), p)].into_iter().collect() };
        let pause = ["".to_owned(), "POD".to_owned()];
        // A sandbox that restarted (two instances) wins over a container with more points.
        let mut s = PodSources::new();
        s.insert("app".into(), one(pts(0..50, 9.0)));
        let sandbox: BTreeMap<String, Points> = [("a".to_owned(), pts(0..3, 1.0)), ("b".to_owned(), pts(2..6, 2.0))]
            .into_iter()
            .collect();
        s.insert(String::new(), sandbox);
        let got = choose_pod_source(s, &pause).unwrap();
        let v: Vec<f64> = got.values().copied().collect();
        assert_eq!(v, [1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);
        // No sandbox: the container with the most points, its instances merged.
        let mut s = PodSources::new();
        s.insert("a".into(), one(pts(0..3, 1.0)));
        s.insert(
            "b".into(),
            [("x".to_owned(), pts(0..2, 5.0)), ("y".to_owned(), pts(2..4, 6.0))]
                .into_iter()
                .collect(),
        );
        assert_eq!(choose_pod_source(s, &pause).unwrap().len(), 4);
        assert!(choose_pod_source(PodSources::new(), &pause).is_none());
    }

    fn answer(json: &str) -> Answer {
        parse(json.as_bytes(), ResultType::Vector).expect("a vector")
    }

    #[test]
    fn seen_answers_fold_into_containers_inside_the_window() {
        let c = Catalogue::default();
        let w = TimeWindow::new(Timestamp::from_secs(1000), Timestamp::from_secs(2000));
        let mut all = SeenAll::default();
        let series = |labels: &str, v: &str| format!(r#"{{"metric":{{{labels}}},"value":[2040,"{v}"]}}"#);
        let vector = |s: &[String]| {
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
                s.join(",")
            )
        };
        let web = r#""namespace":"shop","pod":"web-1","container":"web""#;
        let web_img = |i: &str| format!(r#"{web},"image":"{i}""#);
        let side = r#""namespace":"shop","pod":"web-1","container":"istio-proxy","image":"proxy:1""#;
        let early = r#""namespace":"shop","pod":"old","container":"c""#;
        let late = r#""namespace":"shop","pod":"new","container":"c""#;
        let pause = r#""namespace":"shop","pod":"web-1","container":"POD""#;
        let no_pod = r#""container":"kubelet""#;
        // Two spans' answers for web-1 (image changed in the second), a
        // sidecar, a pod seen only before the window, one only after it.
        all.gather(
            Seen::First,
            answer(&vector(&[
                series(&web_img("web:1"), "1100.5"),
                series(side, "990"),
                series(early, "900"),
                series(late, "2010"),
                series(pause, "1000"),
                series(no_pod, "1000"),
                series(web, "NaN"),
            ])),
            &c,
        );
        all.gather(Seen::First, answer(&vector(&[series(&web_img("web:2"), "1500")])), &c);
        all.gather(
            Seen::Last,
            answer(&vector(&[
                series(&web_img("web:1"), "1400"),
                series(side, "2030"),
                series(early, "995.5"),
                series(late, "2030"),
                series(pause, "1900"),
            ])),
            &c,
        );
        all.gather(
            Seen::Last,
            answer(&vector(&[series(&web_img("web:2"), "1900.25"), series(web, "1800")])),
            &c,
        );
        all.gather(
            Seen::Started,
            answer(&vector(&[
                series(web, "1090"),
                series(web, "1490"),
                series(side, "0"),
                series(r#""namespace":"shop","pod":"gone","container":"c""#, "10"),
            ])),
            &c,
        );
        let got = all.containers(w);
        let id = |pod: &str, c: &str| PodId::new("shop", pod, "").container(c);
        let t = Timestamp::from_millis;
        assert_eq!(
            got,
            [
                SeenContainer::new(id("web-1", "istio-proxy"), t(1_000_000), t(1_999_999)).with_image("proxy:1"),
                SeenContainer::new(id("web-1", "web"), t(1_100_500), t(1_900_250))
                    .with_image("web:2")
                    .with_start(t(1_090_000)),
            ]
        );
    }

    #[test]
    fn severity_order() {
        let unavailable = || SourceError::Unavailable {
            backend: "b".into(),
            source: "x".into(),
        };
        let denied = SourceError::Denied {
            backend: "b".into(),
            message: "m".into(),
            source: None,
        };
        let e = most_severe(vec![unavailable(), denied, unavailable()]).unwrap();
        assert!(matches!(e, SourceError::Denied { .. }));
    }
}
