//! Planning a fetch: which queries, over which chunks of pods.
//!
//! Series mappings of one scope are grouped by the set of labels their
//! filters look at; each group is one query per chunk:
//!
//! ```text
//! {__name__=~"container_memory_rss|container_memory_usage_bytes|…",
//!  namespace="shop", pod=~"cart-0|cart-1|…", container=~"cart|istio-proxy"}[600001ms]
//! ```
//!
//! A group's filter labels become matchers allowing the union of the values
//! its mappings allow; the exact per-mapping filter is applied again to
//! every series that comes back. Grouping by label set keeps that sound: a
//! series of a mapping that does not constrain label `L` is never dropped by a
//! matcher on `L`.
//!
//! Pods are sorted by namespace and name and cut into chunks of at most
//! [`Chunking::max_pods_per_request`] pods whose largest query stays under
//! [`Chunking::max_request_bytes`]. A chunk that spans namespaces matches
//! `namespace=~"a|b"` and `pod=~"…"` independently, so a pod named like a
//! requested one in another of the chunk's namespaces comes back too; such
//! series are dropped on arrival (sorting keeps most chunks in one namespace).

use crate::config::{Catalogue, Chunking, SeenQueries, SeriesMap};
use crate::promql::{Matcher, form_len, quote, range, regex_escape, selector};
use cad_core::{Metric, TimeWindow, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Series mappings read by one query.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub maps: Vec<SeriesMap>,
    /// Matchers from the filters (union of allowed values per label).
    filters: Vec<Matcher>,
    /// Whether the range reaches back by the counter lookbehind (the group
    /// reads the CPU counter and nanocores are derived from it).
    pub lookbehind: bool,
}

impl Group {
    /// Groups `maps` by the labels their filters look at.
    pub fn of(maps: &[SeriesMap], lookbehind_for: Option<Metric>) -> Vec<Group> {
        let mut by_labels: BTreeMap<BTreeSet<&str>, Vec<&SeriesMap>> = BTreeMap::new();
        for m in maps {
            let labels = m.filters.iter().map(|f| f.label.as_str()).collect();
            by_labels.entry(labels).or_default().push(m);
        }
        by_labels
            .into_iter()
            .map(|(labels, maps)| {
                let filters = labels
                    .into_iter()
                    .map(|l| {
                        let values: BTreeSet<&str> = maps
                            .iter()
                            .flat_map(|m| m.filters.iter().filter(|f| f.label == l))
                            .flat_map(|f| f.values.iter().map(String::as_str))
                            .collect();
                        Matcher::new(l, values)
                    })
                    .collect();
                Group {
                    lookbehind: maps.iter().any(|m| Some(m.metric) == lookbehind_for),
                    maps: maps.into_iter().cloned().collect(),
                    filters,
                }
            })
            .collect()
    }

    fn name_matcher(&self) -> Matcher {
        let names: BTreeSet<&str> = self.maps.iter().map(|m| m.series.as_str()).collect();
        Matcher::new("__name__", names)
    }

    /// The mapping a series with this name and these labels belongs to.
    pub fn mapping<'a>(&self, name: &str, label: impl Fn(&str) -> &'a str + Copy) -> Option<&SeriesMap> {
        self.maps.iter().find(|m| m.accepts(name, label))
    }
}

/// One pod of a fetch and the containers wanted from it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PodKey {
    pub namespace: String,
    pub name: String,
    pub containers: BTreeSet<String>,
}

/// What a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueryKind {
    /// Container group `i`.
    Container(usize),
    /// Pod group `i`.
    Pod(usize),
    /// The pod-to-claim info series.
    Claims,
    /// The claims' used bytes.
    VolumeUsage,
    /// A [`containers_seen`](cad_core::MetricSource::containers_seen) query.
    Seen(Seen),
}

impl QueryKind {
    /// Whether the query answers an instant vector (else a matrix of raw samples).
    pub fn is_instant(self) -> bool {
        matches!(self, QueryKind::Claims | QueryKind::Seen(_))
    }
}

/// What a [`containers_seen`](cad_core::MetricSource::containers_seen) query
/// gives per container of a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The time of the earliest sample seen at a step.
    First,
    /// The time of the latest sample seen at a step.
    Last,
    /// The earliest start time recorded.
    Started,
}

/// One query: its PromQL and the form it is sent as.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub kind: QueryKind,
    pub promql: String,
    /// `query=…&time=…` (`application/x-www-form-urlencoded`).
    pub form: String,
}

/// Builds the queries of one fetch.
pub(crate) struct Planner<'a> {
    pub catalogue: &'a Catalogue,
    pub container_groups: &'a [Group],
    pub pod_groups: &'a [Group],
    pub chunking: Chunking,
    pub window: TimeWindow,
    pub lookbehind: Duration,
    pub deny_partial_response: bool,
}

/// `|` once form-encoded (`%7C`).
const BAR: usize = 3;

/// `query=…&time=…` for an instant query at `time`.
fn form(promql: &str, time: Timestamp, deny_partial_response: bool) -> String {
    let time = time.to_string();
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("query", promql).append_pair("time", &time);
    if deny_partial_response {
        s.append_pair("partial_response", "false");
    }
    s.finish()
}

/// The most spans (each 3 queries) one `containers_seen` call plans: a
/// window longer than this many `SeenQueries::span`s is cut into as many
/// longer ones.
pub(crate) const MAX_SEEN_SPANS: i64 = 400;

/// Builds the queries of one [`containers_seen`](cad_core::MetricSource::containers_seen).
///
/// The window is widened to whole steps (and one step before its start) and
/// cut into spans of at most [`SeenQueries::span`]; each span costs three
/// instant queries at its end, over the per-container series without the
/// pause containers' (`P` below):
///
/// ```text
/// min_over_time(min by (namespace,pod,container,image) (timestamp(P))[86400000ms:60000ms])
/// max_over_time(max by (namespace,pod,container,image) (timestamp(P))[86400000ms:60000ms])
/// min by (namespace,pod,container) (min_over_time(container_start_time_seconds{…}[86400000ms]))
/// ```
///
/// `timestamp` gives the time of the sample a selector finds at each step
/// (the latest within the server's look-back), so the first two give, per
/// container, the earliest and the latest such sample in the span: the last
/// sample exactly (or up to a step early where the series went stale before
/// the next step), the first within a step after the real one. Both
/// Prometheus and VictoriaMetrics answer them alike.
pub(crate) struct SeenPlanner<'a> {
    pub catalogue: &'a Catalogue,
    pub seen: SeenQueries,
    pub deny_partial_response: bool,
}

impl SeenPlanner<'_> {
    /// The series that shows a container was there: the mapping read as
    /// memory usage (every container has it), else the first per-container
    /// mapping; `None` for a catalogue without per-container series.
    pub fn presence(&self) -> Option<&SeriesMap> {
        let c = &self.catalogue.container;
        c.iter().find(|m| m.metric == Metric::MemoryUsageBytes).or(c.first())
    }

    fn step_ms(&self) -> i64 {
        i64::try_from(self.seen.step.as_millis()).unwrap_or(i64::MAX).max(1)
    }

    /// The spans covering `window` widened to whole steps, oldest first
    /// (at most [`MAX_SEEN_SPANS`]: a library caller's window may be
    /// centuries long, and the queries are planned at once):
    /// `(end, length in ms)`, every end a multiple of the step, each span
    /// starting where the one before ends. None for an empty window.
    ///
    /// The first span starts a step before the last step at or before the
    /// window's start, so that the step at or before the start is inside
    /// whether the server's ranges are closed at the start (Prometheus 2) or
    /// left-open (Prometheus 3, VictoriaMetrics): a container running when
    /// the window starts is seen there (its first sample then reads as the
    /// window's start), not a step later.
    pub fn spans(&self, window: TimeWindow) -> Vec<(Timestamp, i64)> {
        if window.duration().is_zero() {
            return Vec::new();
        }
        let step = self.step_ms();
        let start = (window.start.as_millis().div_euclid(step) - 1) * step;
        let end =
            (window.end.as_millis().div_euclid(step) + i64::from(window.end.as_millis().rem_euclid(step) != 0)) * step;
        // At most MAX_SEEN_SPANS: a longer window gets longer spans.
        let longest = end.saturating_sub(start) / MAX_SEEN_SPANS / step + 1;
        let span = (i64::try_from(self.seen.span.as_millis()).unwrap_or(i64::MAX) / step).max(longest) * step;
        let mut out = Vec::new();
        let mut e = end;
        while e > start {
            let len = span.min(e - start);
            out.push((Timestamp::from_millis(e), len));
            e -= len;
        }
        out.reverse();
        out
    }

    /// Matchers every containers_seen selector has: a pod, and no pause container.
    fn container_matchers(&self) -> Vec<Matcher> {
        let l = &self.catalogue.labels;
        let mut m = vec![Matcher::not(l.pod.as_str(), [""])];
        let pause: BTreeSet<&str> = self.catalogue.pause_containers.iter().map(String::as_str).collect();
        if !pause.is_empty() {
            m.push(Matcher::not(l.container.as_str(), pause));
        }
        m
    }

    /// `by (namespace,pod,container[,image])`.
    fn by(&self, image: bool) -> String {
        let l = &self.catalogue.labels;
        let mut labels = vec![l.namespace.as_str(), &l.pod, &l.container];
        if image {
            labels.push(&l.image);
        }
        format!("by ({})", labels.join(","))
    }

    /// The PromQL of one kind of query over a span of `len` ms, if the
    /// catalogue has the series it reads.
    pub fn promql(&self, kind: Seen, len: i64) -> Option<String> {
        let step = self.step_ms();
        match kind {
            Seen::First | Seen::Last => {
                let p = self.presence()?;
                let mut m = vec![Matcher::new("__name__", [p.series.as_str()])];
                m.extend(self.container_matchers());
                m.extend(
                    p.filters
                        .iter()
                        .map(|f| Matcher::new(f.label.as_str(), f.values.iter())),
                );
                let agg = if kind == Seen::First { "min" } else { "max" };
                Some(format!(
                    "{agg}_over_time({agg} {} (timestamp({}))[{len}ms:{step}ms])",
                    self.by(true),
                    selector(&m)
                ))
            }
            Seen::Started => {
                let series = self.catalogue.start_time.as_deref()?;
                let mut m = vec![Matcher::new("__name__", [series])];
                m.extend(self.container_matchers());
                Some(format!(
                    "min {} (min_over_time({}))",
                    self.by(false),
                    range(&selector(&m), u64::try_from(len).unwrap_or(0))
                ))
            }
        }
    }

    /// Every query over `window`, span by span, oldest first; none when the
    /// catalogue has no per-container series.
    pub fn queries(&self, window: TimeWindow) -> Vec<Query> {
        if self.presence().is_none() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (end, len) in self.spans(window) {
            for kind in [Seen::First, Seen::Last, Seen::Started] {
                if let Some(promql) = self.promql(kind, len) {
                    out.push(Query {
                        kind: QueryKind::Seen(kind),
                        form: form(&promql, end, self.deny_partial_response),
                        promql,
                    });
                }
            }
        }
        out
    }
}

impl Planner<'_> {
    /// The range of a query: the window, plus the lookbehind where asked,
    /// plus 1 ms so that a sample at the window's first instant is inside
    /// whether the server's range is closed (Prometheus 2) or left-open
    /// (Prometheus 3, VictoriaMetrics) at the start. Samples outside the
    /// window are dropped on arrival.
    fn range_ms(&self, lookbehind: bool) -> u64 {
        let d = self.window.duration() + if lookbehind { self.lookbehind } else { Duration::ZERO };
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2) + 1
    }

    fn form(&self, promql: &str) -> String {
        form(promql, self.window.end, self.deny_partial_response)
    }

    fn query(&self, kind: QueryKind, promql: String) -> Query {
        Query {
            kind,
            form: self.form(&promql),
            promql,
        }
    }

    fn pod_matchers(&self, ns_label: &str, pod_label: &str, pods: &[&PodKey]) -> [Matcher; 2] {
        let ns: BTreeSet<&str> = pods.iter().map(|p| p.namespace.as_str()).collect();
        let names: BTreeSet<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        [Matcher::new(ns_label, ns), Matcher::new(pod_label, names)]
    }

    fn container_query(&self, i: usize, pods: &[&PodKey]) -> Query {
        let g = &self.container_groups[i];
        let l = &self.catalogue.labels;
        let containers: BTreeSet<&str> = pods
            .iter()
            .flat_map(|p| p.containers.iter().map(String::as_str))
            .collect();
        let mut m = vec![g.name_matcher()];
        m.extend(self.pod_matchers(&l.namespace, &l.pod, pods));
        m.push(Matcher::new(l.container.as_str(), containers));
        m.extend(g.filters.iter().cloned());
        self.query(
            QueryKind::Container(i),
            range(&selector(&m), self.range_ms(g.lookbehind)),
        )
    }

    fn pod_query(&self, i: usize, pods: &[&PodKey]) -> Query {
        let g = &self.pod_groups[i];
        let l = &self.catalogue.labels;
        let mut m = vec![g.name_matcher()];
        m.extend(self.pod_matchers(&l.namespace, &l.pod, pods));
        m.extend(g.filters.iter().cloned());
        self.query(QueryKind::Pod(i), range(&selector(&m), self.range_ms(g.lookbehind)))
    }

    /// `last_over_time(info{ns, pod}[window])`: which claims the pods mounted
    /// during the window (an instant vector of info series).
    fn claims_query(&self, pods: &[&PodKey]) -> Option<Query> {
        let v = self.catalogue.volumes.as_ref()?;
        let mut m = vec![Matcher::new("__name__", [v.pod_claims.as_str()])];
        m.extend(self.pod_matchers(&v.pod_claims_namespace_label, &v.pod_claims_pod_label, pods));
        let promql = format!("last_over_time({})", range(&selector(&m), self.range_ms(false)));
        Some(self.query(QueryKind::Claims, promql))
    }

    /// Every query of a chunk whose answers do not depend on another one's.
    pub fn chunk_queries(&self, pods: &[&PodKey]) -> Vec<Query> {
        let mut out: Vec<Query> = (0..self.container_groups.len())
            .map(|i| self.container_query(i, pods))
            .collect();
        out.extend((0..self.pod_groups.len()).map(|i| self.pod_query(i, pods)));
        out.extend(self.claims_query(pods));
        out
    }

    /// The used-bytes queries for `claims` (namespace, claim), split so that
    /// none exceeds the byte limit.
    pub fn volume_queries(&self, claims: &BTreeSet<(String, String)>) -> Vec<Query> {
        let Some(v) = &self.catalogue.volumes else {
            return Vec::new();
        };
        let render = |part: &[&(String, String)]| {
            let ns: BTreeSet<&str> = part.iter().map(|(n, _)| n.as_str()).collect();
            let names: BTreeSet<&str> = part.iter().map(|(_, c)| c.as_str()).collect();
            let m = [
                Matcher::new("__name__", [v.used_bytes.as_str()]),
                Matcher::new(v.namespace_label.as_str(), ns),
                Matcher::new(v.claim_label.as_str(), names),
            ];
            self.query(QueryKind::VolumeUsage, range(&selector(&m), self.range_ms(false)))
        };
        let all: Vec<&(String, String)> = claims.iter().collect();
        let overhead = render(&[]).form.len() + 64;
        let mut out = Vec::new();
        let mut start = 0;
        let mut bytes = overhead;
        for (i, (ns, claim)) in all.iter().enumerate() {
            let cost = cost(ns) + cost(claim);
            if i > start && bytes + cost > self.chunking.max_request_bytes {
                out.push(render(&all[start..i]));
                start = i;
                bytes = overhead;
            }
            bytes += cost;
        }
        if start < all.len() {
            out.push(render(&all[start..]));
        }
        out
    }

    /// Cuts `pods` (sorted) into chunks by count and by the estimated size
    /// of their largest query.
    pub fn chunks<'p>(&self, pods: &'p [PodKey]) -> Vec<Vec<&'p PodKey>> {
        // Fixed part of the largest query: the queries over no pods, plus the
        // `~` (`%7E`) each pod matcher gains once it has two values.
        let overhead = self.chunk_queries(&[]).iter().map(|q| q.form.len()).max().unwrap_or(0) + 3 * 3 + 64;
        let max_pods = self.chunking.max_pods_per_request.max(1);
        let mut chunks = Vec::new();
        let mut current: Vec<&PodKey> = Vec::new();
        let mut namespaces: BTreeSet<&str> = BTreeSet::new();
        let mut containers: BTreeSet<&str> = BTreeSet::new();
        let mut bytes = overhead;
        for pod in pods {
            // Upper bound of what the pod adds to its chunk's largest query.
            let new_ns = !namespaces.contains(pod.namespace.as_str());
            let mut add = cost(&pod.name) + if new_ns { cost(&pod.namespace) } else { 0 };
            add += pod
                .containers
                .iter()
                .filter(|c| !containers.contains(c.as_str()))
                .map(|c| cost(c))
                .sum::<usize>();
            if !current.is_empty() && (current.len() >= max_pods || bytes + add > self.chunking.max_request_bytes) {
                chunks.push(std::mem::take(&mut current));
                namespaces.clear();
                containers.clear();
                bytes = overhead;
                add = cost(&pod.name) + cost(&pod.namespace) + pod.containers.iter().map(|c| cost(c)).sum::<usize>();
            }
            bytes += add;
            namespaces.insert(&pod.namespace);
            containers.extend(pod.containers.iter().map(String::as_str));
            current.push(pod);
        }
        if !current.is_empty() {
            chunks.push(current);
        }
        chunks
    }
}

/// Bytes one value adds to an alternation: escaped for RE2, quoted for
/// PromQL, form-encoded, plus its `|`.
fn cost(value: &str) -> usize {
    let q = quote(&regex_escape(value));
    form_len(&q[1..q.len() - 1]) + BAR
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LabelFilter;
    use cad_core::Timestamp;

    fn window() -> TimeWindow {
        TimeWindow::new(Timestamp::from_secs(1_700_000_000), Timestamp::from_secs(1_700_000_600))
    }

    fn pod(ns: &str, name: &str, containers: &[&str]) -> PodKey {
        PodKey {
            namespace: ns.into(),
            name: name.into(),
            containers: containers.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    struct Fixture {
        catalogue: Catalogue,
        container_groups: Vec<Group>,
        pod_groups: Vec<Group>,
    }

    impl Fixture {
        fn new(catalogue: Catalogue) -> Self {
            Fixture {
                container_groups: Group::of(&catalogue.container, Some(Metric::CpuUsageCoreNanoseconds)),
                pod_groups: Group::of(&catalogue.pod, None),
                catalogue,
            }
        }
        fn planner(&self, chunking: Chunking) -> Planner<'_> {
            Planner {
                catalogue: &self.catalogue,
                container_groups: &self.container_groups,
                pod_groups: &self.pod_groups,
                chunking,
                window: window(),
                lookbehind: Duration::from_secs(120),
                deny_partial_response: false,
            }
        }
    }

    #[test]
    fn default_catalogue_queries() {
        let f = Fixture::new(Catalogue::default());
        // No filter; cpu; failure_type + scope.
        assert_eq!(f.container_groups.len(), 3);
        assert_eq!(f.pod_groups.len(), 1);
        let p = f.planner(Chunking::default());
        let pods = [
            pod("shop", "cart-0", &["cart", "istio-proxy"]),
            pod("shop", "cart.1", &["cart"]),
        ];
        let refs: Vec<&PodKey> = pods.iter().collect();
        let q: Vec<String> = p.chunk_queries(&refs).into_iter().map(|q| q.promql).collect();
        assert_eq!(
            q,
            [
                r#"{__name__=~"container_fs_reads_bytes_total|container_fs_usage_bytes|container_fs_writes_bytes_total|container_memory_rss|container_memory_usage_bytes|container_memory_working_set_bytes",namespace="shop",pod=~"cart-0|cart\\.1",container=~"cart|istio-proxy"}[600001ms]"#,
                r#"{__name__="container_cpu_usage_seconds_total",namespace="shop",pod=~"cart-0|cart\\.1",container=~"cart|istio-proxy",cpu=~"|total"}[720001ms]"#,
                r#"{__name__="container_memory_failures_total",namespace="shop",pod=~"cart-0|cart\\.1",container=~"cart|istio-proxy",failure_type=~"pgfault|pgmajfault",scope="container"}[600001ms]"#,
                r#"{__name__=~"container_network_receive_bytes_total|container_network_receive_errors_total|container_network_transmit_bytes_total|container_network_transmit_errors_total",namespace="shop",pod=~"cart-0|cart\\.1",interface="eth0"}[600001ms]"#,
                r#"last_over_time({__name__="kube_pod_spec_volumes_persistentvolumeclaims_info",namespace="shop",pod=~"cart-0|cart\\.1"}[600001ms])"#,
            ]
        );
        let form = &p.chunk_queries(&refs)[0].form;
        assert!(
            form.starts_with("query=%7B__name__%3D%7E%22container_fs") && form.ends_with("&time=1700000600.000"),
            "{form}"
        );
    }

    #[test]
    fn groups_never_drop_series_of_unconstrained_mappings() {
        let mut c = Catalogue::default();
        c.container
            .push(SeriesMap::new("x_logs", Metric::LogsfsUsedBytes).with_filter(LabelFilter::new("cpu", ["a"])));
        let f = Fixture::new(c);
        let cpu = f
            .container_groups
            .iter()
            .find(|g| g.maps.iter().any(|m| m.series == "x_logs"))
            .unwrap();
        // The CPU counter and x_logs share the `cpu` label: one group, with
        // the union of the values, and each series checked exactly later.
        assert_eq!(cpu.maps.len(), 2);
        assert_eq!(cpu.filters, [Matcher::new("cpu", ["", "a", "total"])]);
        let label = |l: &str| if l == "cpu" { "a" } else { "" };
        assert_eq!(
            cpu.mapping("x_logs", label).map(|m| m.metric),
            Some(Metric::LogsfsUsedBytes)
        );
        assert!(cpu.mapping("container_cpu_usage_seconds_total", label).is_none());
    }

    fn seen_planner(catalogue: &Catalogue, step: u64, span: u64) -> SeenPlanner<'_> {
        SeenPlanner {
            catalogue,
            seen: SeenQueries {
                step: Duration::from_secs(step),
                span: Duration::from_secs(span),
            },
            deny_partial_response: false,
        }
    }

    #[test]
    fn seen_queries_text() {
        let c = Catalogue::default();
        let p = seen_planner(&c, 60, 86_400);
        // A window of 10 min and 6.5 s, neither end on a minute: widened to
        // 11 whole minutes, and one more before.
        let w = TimeWindow::new(
            Timestamp::from_millis(1_700_000_010_500),
            Timestamp::from_millis(1_700_000_617_000),
        );
        let q = p.queries(w);
        let text: Vec<&str> = q.iter().map(|q| q.promql.as_str()).collect();
        assert_eq!(
            text,
            [
                r#"min_over_time(min by (namespace,pod,container,image) (timestamp({__name__="container_memory_usage_bytes",pod!="",container!~"|POD"}))[720000ms:60000ms])"#,
                r#"max_over_time(max by (namespace,pod,container,image) (timestamp({__name__="container_memory_usage_bytes",pod!="",container!~"|POD"}))[720000ms:60000ms])"#,
                r#"min by (namespace,pod,container) (min_over_time({__name__="container_start_time_seconds",pod!="",container!~"|POD"}[720000ms]))"#,
            ]
        );
        assert_eq!(
            q.iter().map(|q| q.kind).collect::<Vec<_>>(),
            [Seen::First, Seen::Last, Seen::Started].map(QueryKind::Seen)
        );
        // Evaluated at the first whole minute at or after the window's end.
        assert!(
            q.iter().all(|q| q.form.ends_with("&time=1700000640.000")),
            "{}",
            q[0].form
        );
        assert!(q.iter().all(|q| q.kind.is_instant()));

        // Legacy labels, no start series, a CPU-only catalogue with its filter.
        let mut c = Catalogue::legacy();
        c.start_time = None;
        c.container.retain(|m| m.metric == Metric::CpuUsageCoreNanoseconds);
        c.pause_containers = vec!["POD".into()];
        let p = SeenPlanner {
            deny_partial_response: true,
            ..seen_planner(&c, 30, 3600)
        };
        let q = p.queries(w);
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[1].promql,
            r#"max_over_time(max by (namespace,pod_name,container_name,image) (timestamp({__name__="container_cpu_usage_seconds_total",pod_name!="",container_name!="POD",cpu=~"total|"}))[660000ms:30000ms])"#
        );
        assert!(q[1].form.ends_with("&time=1700000640.000&partial_response=false"));
        // Nothing to read, or nothing to read about.
        let mut c = Catalogue::default();
        c.container.clear();
        let p = seen_planner(&c, 60, 86_400);
        assert!(p.queries(w).is_empty() && p.presence().is_none());
        let c = Catalogue::default();
        let empty = TimeWindow::new(w.start, w.start);
        assert!(seen_planner(&c, 60, 86_400).queries(empty).is_empty());
    }

    #[test]
    fn seen_spans_cover_the_window_in_whole_steps() {
        let c = Catalogue::default();
        let day = 86_400_000;
        // 30 days from an unaligned start: 31 spans (30 days and two steps).
        let p = seen_planner(&c, 60, 86_400);
        let start = 1_700_000_010_500;
        let w = TimeWindow::new(Timestamp::from_millis(start), Timestamp::from_millis(start + 30 * day));
        let spans = p.spans(w);
        assert_eq!(spans.len(), 31);
        assert_eq!(p.queries(w).len(), 3 * 31);
        let first_start = spans[0].0.as_millis() - spans[0].1;
        assert_eq!(first_start, 1_699_999_920_000);
        assert_eq!(spans[0].1, 120_000);
        assert_eq!(spans.last().unwrap().0.as_millis(), 1_702_592_040_000);
        for pair in spans.windows(2) {
            assert_eq!(pair[0].0.as_millis(), pair[1].0.as_millis() - pair[1].1, "spans abut");
        }
        assert!(
            spans
                .iter()
                .all(|(e, len)| e.as_millis() % 60_000 == 0 && *len > 0 && *len <= day)
        );
        assert!(spans[1..].iter().all(|(_, len)| *len == day));
        // Aligned ends stay where they are; a window inside one step is one step.
        let w = TimeWindow::new(Timestamp::from_millis(600_000), Timestamp::from_millis(1_200_000));
        assert_eq!(
            seen_planner(&c, 60, 300).spans(w),
            [
                (Timestamp::from_millis(600_000), 60_000),
                (Timestamp::from_millis(900_000), 300_000),
                (Timestamp::from_millis(1_200_000), 300_000)
            ]
        );
        let w = TimeWindow::new(Timestamp::from_millis(61_000), Timestamp::from_millis(62_000));
        assert_eq!(
            seen_planner(&c, 60, 300).spans(w),
            [(Timestamp::from_millis(120_000), 120_000)]
        );
        // However long the window, at most MAX_SEEN_SPANS spans of whole steps, abutting.
        for end in [start + 500 * day, i64::MAX / 2] {
            let w = TimeWindow::new(Timestamp::from_millis(start), Timestamp::from_millis(end));
            let spans = p.spans(w);
            assert!((2..=MAX_SEEN_SPANS as usize).contains(&spans.len()), "{}", spans.len());
            assert!(
                spans
                    .windows(2)
                    .all(|s| s[0].0.as_millis() == s[1].0.as_millis() - s[1].1)
            );
            assert!(
                spans
                    .iter()
                    .all(|(e, len)| e.as_millis() % 60_000 == 0 && len % 60_000 == 0)
            );
            assert!(spans.last().unwrap().0 >= w.end && spans[0].0.as_millis() - spans[0].1 < start);
        }
    }

    #[test]
    fn queries_per_fetch_grow_with_chunks_not_pods() {
        let f = Fixture::new(Catalogue::default());
        let p = f.planner(Chunking::default());
        for n in [1usize, 199, 200, 201, 1000, 5000] {
            let pods: Vec<PodKey> = (0..n)
                .map(|i| {
                    pod(
                        &format!("ns-{}", i % 7),
                        &format!("pending-{i:05}-7f9c6d5b8-xk2lp"),
                        &["app"],
                    )
                })
                .collect();
            let mut sorted = pods.clone();
            sorted.sort();
            let chunks = p.chunks(&sorted);
            assert_eq!(chunks.len(), n.div_ceil(200), "{n} pods");
            assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), n);
        }
    }

    #[test]
    fn chunks_respect_the_byte_limit() {
        let f = Fixture::new(Catalogue::default());
        let chunking = Chunking {
            max_request_bytes: 4096,
            ..Chunking::default()
        };
        let p = f.planner(chunking);
        let mut pods: Vec<PodKey> = (0..300)
            .map(|i| {
                pod(
                    &format!("team-{}", i % 3),
                    &format!("svc-ÿ\"|.{i}"),
                    &[&format!("c{}", i % 5), "sidecar"],
                )
            })
            .collect();
        pods.sort();
        let chunks = p.chunks(&pods);
        assert!(chunks.len() > 2);
        for c in &chunks {
            for q in p.chunk_queries(c) {
                assert!(q.form.len() <= 4096, "{} bytes", q.form.len());
            }
        }
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 300);
        // A pod too large for the limit on its own still gets a chunk.
        let huge = [pod("ns", &"x".repeat(5000), &["c"])];
        assert_eq!(p.chunks(&huge).len(), 1);
    }

    #[test]
    fn volume_queries_split_by_bytes() {
        let f = Fixture::new(Catalogue::default());
        let p = f.planner(Chunking {
            max_request_bytes: 2048,
            ..Chunking::default()
        });
        let claims: BTreeSet<(String, String)> = (0..200).map(|i| ("ns".to_owned(), format!("data-db-{i}"))).collect();
        let qs = p.volume_queries(&claims);
        assert!(qs.len() > 1);
        assert!(
            qs.iter()
                .all(|q| q.form.len() <= 2048 && q.kind == QueryKind::VolumeUsage)
        );
        assert!(qs[0].promql.starts_with(
            r#"{__name__="kubelet_volume_stats_used_bytes",namespace="ns",persistentvolumeclaim=~"data-db-0|"#
        ));
        assert!(p.volume_queries(&BTreeSet::new()).is_empty());
    }
}
