//! [`PrometheusMetricSource`]: cad's [`MetricSource`] over `/api/v1/query`.

use crate::config::{Catalogue, Chunking, ConfigError, PrometheusConfig, SeriesMap};
use crate::error::PrometheusError;
use crate::http::Http;
use crate::plan::{Group, Planner, PodKey, Query, QueryKind};
use crate::response::{Answer, ResultType, Series, parse};
use cad_core::{ContainerId, Metric, MetricBatch, MetricSource, Sample, SourceError, TimeWindow, Timestamp};
use futures::future::join_all;
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
pub struct PrometheusMetricSource {
    http: Arc<Http>,
    catalogue: Catalogue,
    container_groups: Vec<Group>,
    pod_groups: Vec<Group>,
    chunking: Chunking,
    lookbehind: Duration,
    deny_partial_response: bool,
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
        let want = if q.kind == QueryKind::Claims {
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
                QueryKind::VolumeUsage => {}
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
