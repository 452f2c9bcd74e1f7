//! `containers_seen` against real Prometheus (data backfilled with promtool)
//! and VictoriaMetrics (data imported): which containers, their first and
//! last samples and starts, that `fetch` answers to the ids it gives, and
//! errors for answers it cannot use.

mod common;

use cad_core::{ContainerId, Metric, MetricSource, PodId, SeenContainer, SourceError, TimeWindow, Timestamp};
use cad_prometheus::PrometheusMetricSource;
use common::{PromOptions, PromServer, RecordingClock, SeriesData, VmOptions, VmServer, config};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIN: i64 = 60_000;
const STEP: i64 = 60_000; // SeenQueries::default().step

/// One expected container: its sample times, image and recorded start.
struct Want {
    times: Vec<i64>,
    image: Option<&'static str>,
    started: Option<i64>,
}

struct Fixture {
    series: Vec<SeriesData>,
    window: TimeWindow,
    want: BTreeMap<ContainerId, Want>,
}

/// Samples every 10 s from `from` to `to` (inclusive), in ms.
fn every_10s(from: i64, to: i64) -> Vec<i64> {
    (0..).map(|k| from + k * 10_000).take_while(|t| *t <= to).collect()
}

fn fixture(t0: Timestamp) -> Fixture {
    let t0 = t0.as_millis();
    // Neither end on a step: the queries widen the window to whole minutes.
    let window = TimeWindow::new(
        Timestamp::from_millis(t0 + 10 * MIN + 7_000),
        Timestamp::from_millis(t0 + 50 * MIN + 30_500),
    );
    let (start, end) = (window.start.as_millis(), window.end.as_millis());
    let mut series = Vec::new();
    let mut want = BTreeMap::new();
    let memory = |ns: &str, pod: &str, container: &str, extra: &[(&str, &str)], times: &[i64]| {
        let mut labels = vec![("namespace", ns), ("pod", pod), ("container", container)];
        labels.extend_from_slice(extra);
        SeriesData::new("container_memory_usage_bytes", &labels)
            .points(times.iter().enumerate().map(|(k, t)| (*t, 1e6 + k as f64)))
    };
    let inside = |times: &[i64]| -> Vec<i64> {
        times
            .iter()
            .copied()
            .filter(|t| window.contains(Timestamp::from_millis(*t)))
            .collect()
    };

    // shop/web-old, gone before the window's end: `web` restarted once (two
    // cgroups), an istio-proxy sidecar, the pause container and the pod's cgroup.
    let web1 = every_10s(t0 + 12 * MIN + 3_000, t0 + 15 * MIN + 3_000);
    let web2 = every_10s(t0 + 15 * MIN + 13_000, t0 + 20 * MIN + 3_000);
    let proxy = every_10s(t0 + 12 * MIN + 1_000, t0 + 20 * MIN + 1_000);
    let sandbox = every_10s(t0 + 11 * MIN, t0 + 20 * MIN);
    let web_labels = |id: &'static str| [("image", "example/web:1"), ("id", id)];
    series.push(memory(
        "shop",
        "web-old",
        "web",
        &web_labels("/kubepods/pod-w/web-1"),
        &web1,
    ));
    series.push(memory(
        "shop",
        "web-old",
        "web",
        &web_labels("/kubepods/pod-w/web-2"),
        &web2,
    ));
    series.push(memory(
        "shop",
        "web-old",
        "istio-proxy",
        &[("image", "istio/proxyv2:1.20")],
        &proxy,
    ));
    series.push(memory(
        "shop",
        "web-old",
        "POD",
        &[("image", "registry.k8s.io/pause:3.9")],
        &sandbox,
    ));
    series.push(memory("shop", "web-old", "", &[("id", "/kubepods/pod-w")], &sandbox));
    let web_start1 = t0 + 11 * MIN + 50_000;
    let web_start2 = t0 + 15 * MIN + 10_000;
    let proxy_start = t0 + 11 * MIN + 48_000;
    for (container, id, started, times) in [
        ("web", "/kubepods/pod-w/web-1", web_start1, &web1),
        ("web", "/kubepods/pod-w/web-2", web_start2, &web2),
        ("istio-proxy", "/kubepods/pod-w/proxy", proxy_start, &proxy),
        ("POD", "/kubepods/pod-w/pause", t0 + 10 * MIN, &sandbox),
        ("", "/kubepods/pod-w", t0 + 10 * MIN, &sandbox),
    ] {
        series.push(
            SeriesData::new(
                "container_start_time_seconds",
                &[
                    ("namespace", "shop"),
                    ("pod", "web-old"),
                    ("container", container),
                    ("id", id),
                ],
            )
            .points(times.iter().map(|t| (*t, started as f64 / 1000.0))),
        );
    }
    let mut web = inside(&web1);
    web.extend(inside(&web2));
    want.insert(
        PodId::new("shop", "web-old", "").container("web"),
        Want {
            times: web,
            image: Some("example/web:1"),
            started: Some(web_start1),
        },
    );
    want.insert(
        PodId::new("shop", "web-old", "").container("istio-proxy"),
        Want {
            times: inside(&proxy),
            image: Some("istio/proxyv2:1.20"),
            started: Some(proxy_start),
        },
    );

    // jobs/batch-1: running since before the window, gone in its first part;
    // no image label, no start series.
    let batch = every_10s(t0, t0 + 15 * MIN);
    series.push(memory("jobs", "batch-1", "worker", &[], &batch));
    want.insert(
        PodId::new("jobs", "batch-1", "").container("worker"),
        Want {
            times: inside(&batch),
            image: None,
            started: None,
        },
    );

    // shop/api-live: still there after the window's end.
    let api = every_10s(t0 + 30 * MIN + 5_000, t0 + 58 * MIN);
    let api_start = t0 + 30 * MIN;
    series.push(memory("shop", "api-live", "api", &[("image", "example/api:2")], &api));
    series.push(
        SeriesData::new(
            "container_start_time_seconds",
            &[("namespace", "shop"), ("pod", "api-live"), ("container", "api")],
        )
        .points(api.iter().map(|t| (*t, api_start as f64 / 1000.0))),
    );
    want.insert(
        PodId::new("shop", "api-live", "").container("api"),
        Want {
            times: inside(&api),
            image: Some("example/api:2"),
            started: Some(api_start),
        },
    );

    // shop/blip: 20 s of samples between two steps.
    let blip = every_10s(t0 + 25 * MIN + 31_000, t0 + 25 * MIN + 51_000);
    series.push(memory("shop", "blip", "c", &[], &blip));
    want.insert(
        PodId::new("shop", "blip", "").container("c"),
        Want {
            times: inside(&blip),
            image: None,
            started: None,
        },
    );

    // A name that is a regex and closes a selector, next to a decoy its
    // unescaped regex would match.
    let odd_name = "q\"} or vector(1) #.x|y";
    let odd = every_10s(t0 + 40 * MIN + 2_000, t0 + 44 * MIN + 2_000);
    series.push(memory("shop", odd_name, "c", &[], &odd));
    series.push(memory("shop", "y", "c", &[], &odd));
    for name in [odd_name, "y"] {
        want.insert(
            PodId::new("shop", name, "").container("c"),
            Want {
                times: inside(&odd),
                image: None,
                started: None,
            },
        );
    }

    // Not to be seen: gone 20 s before the window (within the servers'
    // look-back at its first step), come 5 s after it (before the step
    // after its end), and a system cgroup without pod labels.
    series.push(memory(
        "shop",
        "gone-before",
        "x",
        &[],
        &every_10s(t0 + MIN, start - 20_000),
    ));
    series.push(memory("shop", "late", "y", &[], &every_10s(end + 5_000, end + 50_000)));
    series.push(
        SeriesData::new(
            "container_memory_usage_bytes",
            &[("id", "/system.slice/kubelet.service")],
        )
        .points(every_10s(t0, t0 + 59 * MIN).into_iter().map(|t| (t, 5e7))),
    );
    Fixture { series, window, want }
}

async fn both_stores(series: &[SeriesData]) -> Option<(PromServer, VmServer)> {
    let prom = PromServer::start(series, PromOptions::default()).await?;
    let vm = VmServer::start(VmOptions::default()).await?;
    vm.import(series).await;
    Some((prom, vm))
}

/// Checks `got` against the fixture: exactly the expected containers, first
/// and last within a step of the real ones and inside the window, image and
/// start as recorded.
fn check(got: &[SeenContainer], f: &Fixture, what: &str) {
    let ids: Vec<&ContainerId> = got.iter().map(|c| &c.id).collect();
    let want: Vec<&ContainerId> = f.want.keys().collect();
    assert_eq!(ids, want, "{what}: the containers");
    for c in got {
        let w = &f.want[&c.id];
        let (first, last) = (c.first_sample.as_millis(), c.last_sample.as_millis());
        let (true_first, true_last) = (w.times[0], *w.times.last().unwrap());
        assert!(
            f.window.contains(c.first_sample) && f.window.contains(c.last_sample) && first <= last,
            "{what}: {}: {first}..{last} outside the window",
            c.id
        );
        assert!(
            (first - true_first).abs() <= STEP,
            "{what}: {}: first {first}, really {true_first}",
            c.id
        );
        assert!(
            (last - true_last).abs() <= STEP,
            "{what}: {}: last {last}, really {true_last}",
            c.id
        );
        assert_eq!(c.image.as_deref(), w.image, "{what}: {}", c.id);
        assert_eq!(c.started.map(Timestamp::as_millis), w.started, "{what}: {}", c.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_past_and_present_containers_in_both_stores() {
    let f = fixture(common::data_start());
    let Some((prom, vm)) = both_stores(&f.series).await else {
        return;
    };
    for (store, url) in [("prometheus", prom.url()), ("victoria-metrics", vm.url())] {
        // One span of a day, and spans of 10 minutes (five, the first one
        // minute long): the same containers.
        let mut results = Vec::new();
        for span in [86_400, 600] {
            let mut c = config(&url, Arc::new(RecordingClock::default()));
            c.seen.span = Duration::from_secs(span);
            let source = PrometheusMetricSource::new(c).expect("source");
            let got = source.containers_seen(f.window).await.expect("containers_seen");
            let what = format!("{store}, spans of {span} s");
            check(&got, &f, &what);
            let spans = if span == 600 { 5 } else { 1 };
            assert_eq!(source.query_count(), 3 * spans, "{what}");
            assert_eq!(source.request_count(), 3 * spans, "{what}: no retries expected");
            results.push(got);
        }
        assert_eq!(results[0], results[1], "{store}");

        // Exact where the real sample lies on a step or is the only one
        // before one: the last samples, and the first of a container that
        // started inside the window (its first sample is the latest at the
        // step after it only when a second one follows after that step).
        let got = &results[0];
        let t = |id: &ContainerId| got.iter().find(|c| &c.id == id).unwrap();
        for (id, w) in &f.want {
            if id.pod.name != "api-live" {
                assert_eq!(t(id).last_sample.as_millis(), *w.times.last().unwrap(), "{store}: {id}");
            }
        }
        let batch = PodId::new("jobs", "batch-1", "").container("worker");
        assert_eq!(
            t(&batch).first_sample,
            f.window.start,
            "{store}: seen before the window"
        );
        let api = PodId::new("shop", "api-live", "").container("api");
        assert_eq!(
            t(&api).last_sample.as_millis(),
            f.window.end.as_millis() - 1,
            "{store}: seen after the window"
        );

        // fetch answers to the ids: every sample inside the window, and no other.
        let source = PrometheusMetricSource::new(config(&url, Arc::new(RecordingClock::default()))).expect("source");
        let ids: Vec<ContainerId> = got.iter().map(|c| c.id.clone()).collect();
        let batch = source.fetch(&ids, f.window).await.expect("fetch");
        for id in &ids {
            let times: Vec<i64> = batch
                .samples(id)
                .iter()
                .filter(|s| s.metric == Metric::MemoryUsageBytes)
                .map(|s| s.time.as_millis())
                .collect();
            assert_eq!(times, f.want[id].times, "{store}: fetch of {id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_without_containers_and_catalogues_without_series() {
    let f = fixture(common::data_start());
    let Some((prom, vm)) = both_stores(&f.series).await else {
        return;
    };
    let t0 = common::data_start().as_millis();
    for url in [prom.url(), vm.url()] {
        let source = PrometheusMetricSource::new(config(&url, Arc::new(RecordingClock::default()))).expect("source");
        // Long before the data, and an empty window: nothing, without error.
        let before = TimeWindow::new(
            Timestamp::from_millis(t0 - 3 * 86_400_000),
            Timestamp::from_millis(t0 - 86_400_000),
        );
        assert_eq!(source.containers_seen(before).await.expect("seen"), [], "{url}");
        assert_eq!(
            source.query_count(),
            3 * 3,
            "{url}: two spans of a day and the step before"
        );
        let empty = TimeWindow::new(f.window.start, f.window.start);
        assert_eq!(source.containers_seen(empty).await.expect("seen"), [], "{url}");
        // No start series configured: the same containers, no starts.
        let mut c = config(&url, Arc::new(RecordingClock::default()));
        c.catalogue.start_time = None;
        let source = PrometheusMetricSource::new(c).expect("source");
        let got = source.containers_seen(f.window).await.expect("seen");
        assert_eq!(got.len(), f.want.len(), "{url}");
        assert!(got.iter().all(|c| c.started.is_none()), "{url}");
        assert_eq!(source.query_count(), 2, "{url}");
        // No per-container series: unsupported, without a query.
        let mut c = config(&url, Arc::new(RecordingClock::default()));
        c.catalogue.container.clear();
        let source = PrometheusMetricSource::new(c).expect("source");
        let err = source.containers_seen(f.window).await.expect_err("unsupported");
        assert!(matches!(err, SourceError::Unsupported { .. }), "{err}");
        assert_eq!(source.query_count(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_query_or_an_unreachable_server_is_an_error() {
    let f = fixture(common::data_start());
    // A Prometheus that loads at most 100 samples per query rejects the subqueries.
    let Some(prom) = PromServer::start(
        &f.series,
        PromOptions {
            max_samples: Some(100),
            ..PromOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let clock = Arc::new(RecordingClock::default());
    let source = PrometheusMetricSource::new(config(&prom.url(), clock.clone())).expect("source");
    let err = source.containers_seen(f.window).await.expect_err("rejected");
    let text = common::influx::chain(&err);
    assert!(matches!(err, SourceError::Protocol { .. }), "{text}");
    assert!(text.contains("HTTP 422"), "{text}");
    assert!(clock.slept().is_empty(), "a rejected query is not retried");

    let port = common::free_port(); // nothing listens there
    let clock = Arc::new(RecordingClock::default());
    let mut c = config(&format!("http://127.0.0.1:{port}"), clock.clone());
    c.connect_timeout = Duration::from_secs(2);
    let source = PrometheusMetricSource::new(c).expect("source");
    let err = source.containers_seen(f.window).await.expect_err("nothing listens");
    let text = common::influx::chain(&err);
    assert!(err.is_transient(), "{text}");
    assert!(text.contains("gave up after 4 attempt(s)"), "{text}");
}

/// Answers every request on `listener` with HTTP `status` and `body`, closing the connection.
async fn answer_with(listener: tokio::net::TcpListener, status: u16, body: &'static str) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            // The queries are short enough to go as GET: the head is the request.
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_it_cannot_use_are_errors() {
    let w = TimeWindow::ending_at(Timestamp::now(), Duration::from_secs(3600));
    for (status, body, what) in [
        (
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
            "unexpected answer",
        ),
        (
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
            "API's JSON",
        ),
        (200, "<html>proxy</html>", "API's JSON"),
        (
            200,
            r#"{"status":"error","errorType":"execution","error":"boom"}"#,
            "boom",
        ),
        (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
            "parse error",
        ),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(answer_with(listener, status, body));
        let source = PrometheusMetricSource::new(config(&url, Arc::new(RecordingClock::default()))).expect("source");
        let err = source.containers_seen(w).await.expect_err(what);
        let text = common::influx::chain(&err);
        assert!(matches!(err, SourceError::Protocol { .. }), "{what}: {text}");
        assert!(text.contains(what), "{what}: {text}");
        server.abort();
    }
}

// ---------------------------------------------------------------------------
// At a cluster's scale: about 2,500 containers over a 30-day look-back.

const SEC: i64 = 1_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// The kubelet's (cAdvisor's) scrape interval.
const SCRAPE: i64 = 10_000;
/// Between two samples of a container's long quiet middle (see [`Cgroup::times`]).
const SPARSE: i64 = 12 * HOUR;
const NODES: usize = 12;

/// splitmix64: the fixture's deterministic draws.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// In `lo..hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64) < p * (1u64 << 53) as f64
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[(self.next() % 16) as usize]))
            .collect()
    }
    /// A pod-template hash or name suffix.
    fn suffix(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"bcdfghjklmnpqrstvwxz2456789"[(self.next() % 27) as usize]))
            .collect()
    }
    fn uid(&mut self) -> String {
        format!(
            "{}-{}-{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(4),
            self.hex(4),
            self.hex(12)
        )
    }
}

/// One cgroup of a pod's container as cAdvisor exports it (a restarted
/// container has one per run): sampled from `from` to `to` (ms).
struct Cgroup {
    ns: String,
    pod: String,
    uid: String,
    container: String,
    image: String,
    node: usize,
    from: i64,
    to: i64,
}

impl Cgroup {
    /// Its sample times: every scrape for its first and last 20 s and
    /// around the window's ends where it runs across them, and once per
    /// [`SPARSE`] in between. (Every 10 s over 30 days would be about a
    /// billion samples; the spans only need the first and last ones.)
    fn times(&self, window: TimeWindow) -> Vec<i64> {
        let (from, to) = (self.from, self.to);
        let mut t: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
        for k in 0..3 {
            t.insert((from + k * SCRAPE).min(to));
            t.insert((to - k * SCRAPE).max(from));
        }
        let mut m = from + SPARSE;
        while m < to - 3 * SCRAPE {
            t.insert(m);
            m += SPARSE;
        }
        for edge in [window.start.as_millis(), window.end.as_millis()] {
            if from < edge - 3 * MIN && to > edge + 3 * MIN {
                let near = edge - (edge - from) % SCRAPE;
                t.extend((-9..=9).map(|k| near + k * SCRAPE));
            }
        }
        t.into_iter().collect()
    }

    /// cAdvisor's labels (kube-prometheus-stack's kubelet job) for the
    /// cgroup `id` of container `container` (`""`: the pod's own cgroup).
    fn labels<'a>(&'a self, container: &'a str, image: &'a str, id: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("container", container),
            ("endpoint", "https-metrics"),
            ("id", id),
            ("image", image),
            ("instance", INSTANCES[self.node]),
            ("job", "kubelet"),
            ("metrics_path", "/metrics/cadvisor"),
            ("name", name),
            ("namespace", &self.ns),
            ("node", NODE_NAMES[self.node]),
            ("pod", &self.pod),
            ("service", "kube-prometheus-stack-kubelet"),
        ]
    }
}

const NODE_NAMES: [&str; NODES] = [
    "node-a1", "node-a2", "node-a3", "node-a4", "node-b1", "node-b2", "node-b3", "node-b4", "node-c1", "node-c2",
    "node-c3", "node-c4",
];
const INSTANCES: [&str; NODES] = [
    "10.0.1.11:10250",
    "10.0.1.12:10250",
    "10.0.1.13:10250",
    "10.0.1.14:10250",
    "10.0.2.11:10250",
    "10.0.2.12:10250",
    "10.0.2.13:10250",
    "10.0.2.14:10250",
    "10.0.3.11:10250",
    "10.0.3.12:10250",
    "10.0.3.13:10250",
    "10.0.3.14:10250",
];

/// The pods of a cluster over 30 days and a half, as cgroups.
struct Cluster {
    rng: Rng,
    cgroups: Vec<Cgroup>,
    /// Pod incarnations (namespace, name, uid, node, from, to), for their
    /// sandbox and pod-level cgroups.
    pods: Vec<(String, String, String, usize, i64, i64)>,
}

impl Cluster {
    /// A pod running `containers` (name, image) from `from` to `to` on a
    /// node of the scheduler's choice; each container restarts once (a
    /// second cgroup) with probability `restarts`.
    fn pod(&mut self, ns: &str, name: &str, containers: &[(&str, String)], from: i64, to: i64, restarts: f64) {
        let node = self.rng.range(0, NODES as i64) as usize;
        self.pod_on(node, ns, name, containers, from, to, restarts);
    }

    /// [`pod`](Self::pod) on `node`.
    #[allow(clippy::too_many_arguments)]
    fn pod_on(
        &mut self,
        node: usize,
        ns: &str,
        name: &str,
        containers: &[(&str, String)],
        from: i64,
        to: i64,
        restarts: f64,
    ) {
        let uid = self.rng.uid();
        for (c, image) in containers {
            // Containers start a little after the sandbox, apart.
            let from = from + self.rng.range(SEC, 6 * SEC);
            let cgroup = |from, to| Cgroup {
                ns: ns.to_owned(),
                pod: name.to_owned(),
                uid: uid.clone(),
                container: (*c).to_owned(),
                image: image.clone(),
                node,
                from,
                to,
            };
            if to - from > 2 * HOUR && self.rng.chance(restarts) {
                let at = self.rng.range(from + HOUR, to - HOUR);
                self.cgroups.push(cgroup(from, at));
                self.cgroups.push(cgroup(at + 12 * SEC, to));
            } else {
                self.cgroups.push(cgroup(from, to));
            }
        }
        self.pods.push((ns.to_owned(), name.to_owned(), uid, node, from, to));
    }
}

/// About 2,500 containers over a 30-day window ending near now, and some
/// outside it: DaemonSets on 12 nodes (one rolled out), 180 Deployments
/// with rollouts (old ReplicaSets' pods gone days ago, some Deployments
/// deleted, a few before the window), restarted containers, istio-proxy
/// sidecars, StatefulSets whose pods were deleted and recreated under the
/// same names (new UIDs, new image), CronJobs every 6 hours, pods that
/// ended 20 s before the window or started seconds after it; the sandboxes'
/// and pods' own cgroups, and system cgroups without pod labels.
fn cluster_30d(end: Timestamp) -> ScaleFixture {
    let end = end.as_millis();
    let window = TimeWindow::new(Timestamp::from_millis(end - 30 * DAY), Timestamp::from_millis(end));
    let start = window.start.as_millis();
    let mut cl = Cluster {
        rng: Rng(7),
        cgroups: Vec::new(),
        pods: Vec::new(),
    };
    let live = end + 5 * MIN; // still running when the data ends
    let mesh = ["shop", "payments", "auth", "search"];
    let namespaces = [
        "shop",
        "payments",
        "auth",
        "search",
        "analytics",
        "batch",
        "web",
        "data",
    ];
    let proxy = "docker.io/istio/proxyv2:1.20.3".to_owned();

    // DaemonSets, a pod per node: running since long before the window;
    // fluent-bit rolled out to a new image (new pod names) ten days ago.
    for node in 0..NODES {
        let s = cl.rng.suffix(5);
        let exporter = [
            ("node-exporter", "quay.io/prometheus/node-exporter:v1.7.0".to_owned()),
            ("kube-rbac-proxy", "quay.io/brancz/kube-rbac-proxy:v0.15.0".to_owned()),
        ];
        let name = format!("node-exporter-{s}");
        cl.pod_on(node, "monitoring", &name, &exporter, end - 60 * DAY, live, 0.1);
        let s = cl.rng.suffix(5);
        let proxy = [("kube-proxy", "registry.k8s.io/kube-proxy:v1.28.4".to_owned())];
        let name = format!("kube-proxy-{s}");
        cl.pod_on(node, "kube-system", &name, &proxy, end - 60 * DAY, live, 0.0);
        let rollout = end - 10 * DAY + cl.rng.range(0, HOUR);
        for (from, to, tag) in [(end - 60 * DAY, rollout, "2.2.0"), (rollout + 5 * SEC, live, "2.2.2")] {
            let s = cl.rng.suffix(5);
            let bit = [("fluent-bit", format!("cr.fluentbit.io/fluent/fluent-bit:{tag}"))];
            cl.pod_on(node, "logging", &format!("fluent-bit-{s}"), &bit, from, to, 0.0);
        }
    }

    // Deployments: 1 to 3 replicas, up to 3 rollouts in the window (the
    // old pods go 30 s after the new ones come); one in ten deleted inside
    // the window, five deleted days before it.
    for d in 0..185 {
        let ns = namespaces[d % namespaces.len()];
        let app = format!("svc-{d:03}");
        let replicas = cl.rng.range(1, 4);
        let mut edges = vec![end - 40 * DAY];
        for _ in 0..cl.rng.range(0, 4) {
            edges.push(cl.rng.range(start + HOUR, end - HOUR));
        }
        edges.sort_unstable();
        let gone = if d >= 180 {
            edges.truncate(1);
            start - 5 * DAY
        } else if cl.rng.chance(0.1) {
            let at = cl
                .rng
                .range(edges.last().copied().unwrap_or(start) + HOUR, end - 10 * MIN);
            at.max(start + HOUR)
        } else {
            live
        };
        edges.push(gone);
        for (rev, w) in edges.windows(2).enumerate() {
            let hash = cl.rng.suffix(10);
            let mut containers = vec![(
                app.as_str(),
                format!("registry.example.com/{ns}/{app}:1.{rev}.{}", cl.rng.range(0, 9)),
            )];
            if mesh.contains(&ns) {
                containers.push(("istio-proxy", proxy.clone()));
            }
            let to = if w[1] == gone { gone } else { w[1] + 30 * SEC };
            for _ in 0..replicas {
                let s = cl.rng.suffix(5);
                let from = w[0] + cl.rng.range(0, 20 * SEC);
                cl.pod(ns, &format!("{app}-{hash}-{s}"), &containers, from, to, 0.1);
            }
        }
    }

    // StatefulSets: 3 replicas; each pod deleted and recreated (same name,
    // new UID) once or twice in the window, the last time with a new image.
    for s in 0..15 {
        let ns = ["data", "analytics", "shop"][s % 3];
        let (app, image, tags, exporter) = [
            (
                "mysql",
                "docker.io/library/mysql",
                ["8.0.35", "8.0.36"],
                "quay.io/prometheus/mysqld-exporter:v0.15.1",
            ),
            (
                "redis",
                "docker.io/library/redis",
                ["7.2.3", "7.2.4"],
                "docker.io/oliver006/redis_exporter:v1.55.0",
            ),
            (
                "kafka",
                "docker.io/bitnami/kafka",
                ["3.6.0", "3.6.1"],
                "docker.io/danielqsj/kafka-exporter:v1.7.0",
            ),
        ][s % 3];
        let name = format!("{app}-{s}");
        for i in 0..3 {
            let mut edges = vec![end - 50 * DAY];
            for _ in 0..cl.rng.range(1, 3) {
                edges.push(cl.rng.range(start + HOUR, end - HOUR));
            }
            edges.sort_unstable();
            edges.push(live);
            let n = edges.len() - 1;
            for (k, w) in edges.windows(2).enumerate() {
                let tag = tags[usize::from(k + 1 == n)];
                let mut containers = vec![(app, format!("{image}:{tag}"))];
                if s % 2 == 0 {
                    containers.push(("metrics", exporter.to_owned()));
                }
                // Recreated 40 s after the old pod went.
                let from = if k == 0 { w[0] } else { w[0] + 40 * SEC };
                cl.pod(ns, &format!("{name}-{i}"), &containers, from, w[1], 0.05);
            }
        }
    }

    // CronJobs every 6 hours for 31 days (the first day's runs before the
    // window), each run a pod of 40 s to 8 min.
    for j in 0..8 {
        let cron = format!("report-{j}");
        let mut at = end - 31 * DAY + j * 37 * MIN;
        while at < end - 10 * MIN {
            let s = cl.rng.suffix(5);
            let pod = format!("{cron}-{}-{s}", at / MIN);
            let len = cl.rng.range(40 * SEC, 8 * MIN);
            cl.pod(
                "batch",
                &pod,
                &[("report", format!("registry.example.com/batch/report:{j}"))],
                at,
                at + len,
                0.0,
            );
            at += 6 * HOUR;
        }
    }

    // Just outside: gone 20 s before the window, came seconds after it.
    let x = [("x", "docker.io/library/busybox:1.36".to_owned())];
    cl.pod("batch", "gone-before", &x, start - 5 * MIN, start - 20 * SEC, 0.0);
    cl.pod("batch", "late", &x, end, end + 50 * SEC, 0.0);

    // The series: memory and start time per container cgroup; the sandbox
    // (Docker: container "POD"; containerd: "" with the pause image) and the
    // pod's own cgroup per pod; system cgroups per node.
    let mut series = Vec::new();
    // (namespace, pod, container) → (sample times, image, start, pod UID) of each cgroup.
    type Cgroups<'a> = Vec<(Vec<i64>, &'a str, i64, &'a str)>;
    let mut by_name: BTreeMap<ContainerId, Cgroups> = BTreeMap::new();
    for (k, c) in cl.cgroups.iter().enumerate() {
        let h = (k as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
        let cid = format!("{h:032x}{:032x}", h.rotate_left(61));
        let id = format!("/kubepods/burstable/pod{}/{cid}", c.uid);
        let labels = c.labels(&c.container, &c.image, &id, &cid);
        let times = c.times(window);
        let started = (c.from / SEC - 2) * SEC;
        series.push(
            SeriesData::new("container_memory_usage_bytes", &labels)
                .points(times.iter().enumerate().map(|(i, t)| (*t, 5e7 + 4096.0 * i as f64))),
        );
        series.push(
            SeriesData::new("container_start_time_seconds", &labels)
                .points(times.iter().map(|t| (*t, started as f64 / 1000.0))),
        );
        by_name
            .entry(PodId::new(&c.ns, &c.pod, "").container(&c.container))
            .or_default()
            .push((times, &c.image, started, &c.uid));
    }
    for (ns, pod, uid, node, from, to) in &cl.pods {
        let c = Cgroup {
            ns: ns.clone(),
            pod: pod.clone(),
            uid: uid.clone(),
            container: String::new(),
            image: String::new(),
            node: *node,
            from: *from,
            to: *to,
        };
        let times = c.times(window);
        let pod_id = format!("/kubepods/burstable/pod{uid}");
        let sandbox = format!("{pod_id}/{}", uid.replace('-', ""));
        let docker = node % 3 == 0;
        let (name, image) = if docker {
            ("POD", "registry.k8s.io/pause:3.9")
        } else {
            ("", "registry.k8s.io/pause:3.9")
        };
        for (container, image, id, cid) in [(name, image, sandbox.as_str(), uid.as_str()), ("", "", &pod_id, "")] {
            let labels = c.labels(container, image, id, cid);
            series
                .push(SeriesData::new("container_memory_usage_bytes", &labels).points(times.iter().map(|t| (*t, 1e6))));
            series.push(
                SeriesData::new("container_start_time_seconds", &labels)
                    .points(times.iter().map(|t| (*t, (from / SEC) as f64))),
            );
        }
    }
    for node in 0..NODES {
        for unit in ["kubelet.service", "containerd.service"] {
            let id = format!("/system.slice/{unit}");
            series.push(
                SeriesData::new(
                    "container_memory_usage_bytes",
                    &[
                        ("endpoint", "https-metrics"),
                        ("id", &id),
                        ("instance", INSTANCES[node]),
                        ("job", "kubelet"),
                        ("metrics_path", "/metrics/cadvisor"),
                        ("node", NODE_NAMES[node]),
                        ("service", "kube-prometheus-stack-kubelet"),
                    ],
                )
                .points(
                    (0..)
                        .map(|k| start - DAY + k * SPARSE)
                        .take_while(|t| *t < end)
                        .map(|t| (t, 8e7)),
                ),
            );
        }
    }

    // What containers_seen lists: the containers with samples inside the
    // window, once per (namespace, pod, container) (cAdvisor's series carry
    // no pod UID), with the image of the latest sample the scan sees and the
    // earliest start recorded in its spans.
    let (scan_from, scan_to) = (
        (start.div_euclid(STEP) - 1) * STEP,
        (end + STEP - 1).div_euclid(STEP) * STEP,
    );
    let mut want = BTreeMap::new();
    for (id, cgroups) in by_name {
        let mut times: Vec<i64> = cgroups.iter().flat_map(|c| c.0.iter().copied()).collect();
        times.sort_unstable();
        let inside: Vec<i64> = times
            .iter()
            .copied()
            .filter(|t| window.contains(Timestamp::from_millis(*t)))
            .collect();
        let (Some(&first), Some(&last)) = (inside.first(), inside.last()) else {
            continue;
        };
        let latest = |c: &&(Vec<i64>, &str, i64, &str)| c.0.iter().copied().filter(|t| *t <= scan_to).max();
        let image = cgroups.iter().max_by_key(latest).map(|c| c.1).expect("a cgroup");
        let started = cgroups
            .iter()
            .filter(|c| c.0.iter().any(|t| (scan_from..=scan_to).contains(t)))
            .map(|c| c.2)
            .min();
        // Seen at the last step at or before the window's start (within
        // Prometheus' 5-minute look-back).
        let at_start = start.div_euclid(STEP) * STEP;
        want.insert(
            id,
            ScaleWant {
                first,
                last,
                before: times[0] < start,
                seen_at_start: times.iter().any(|t| (at_start - 4 * MIN..=at_start).contains(t)),
                after: times.iter().any(|t| (end..=scan_to).contains(t)),
                image: image.to_owned(),
                started,
                cgroups: cgroups.len(),
                uids: cgroups
                    .iter()
                    .map(|c| c.3)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
            },
        );
    }
    ScaleFixture {
        samples: series.iter().map(|s| s.points.len()).sum(),
        cgroups: cl.cgroups.len(),
        pods: cl.pods.len(),
        series,
        window,
        want,
    }
}

struct ScaleFixture {
    series: Vec<SeriesData>,
    samples: usize,
    cgroups: usize,
    pods: usize,
    window: TimeWindow,
    want: BTreeMap<ContainerId, ScaleWant>,
}

/// One container the scale fixture's window holds.
struct ScaleWant {
    /// Its first and last sample inside the window (ms).
    first: i64,
    last: i64,
    /// Whether it has samples before the window, and one the scan sees at
    /// the window's start.
    before: bool,
    seen_at_start: bool,
    /// Whether it has a sample the scan's last step sees after the window.
    after: bool,
    image: String,
    started: Option<i64>,
    /// Its cgroups (a restart adds one) and pod UIDs (the pod was deleted
    /// and recreated under the same name), over all the data.
    cgroups: usize,
    uids: usize,
}

/// Checks `got` against the scale fixture with the precision
/// `containers_seen` documents: every container once; the first sample
/// within a step after the real one (or the window's start, for a container
/// seen there), the last one exact (or the window's last instant, for a
/// container seen after it); the image of the latest sample; the earliest
/// recorded start.
fn check_scale(got: &[SeenContainer], f: &ScaleFixture, what: &str) {
    let mut listed: BTreeMap<&ContainerId, &SeenContainer> = BTreeMap::new();
    for c in got {
        assert!(listed.insert(&c.id, c).is_none(), "{what}: {} listed twice", c.id);
    }
    let missing: Vec<_> = f.want.keys().filter(|id| !listed.contains_key(id)).take(5).collect();
    let extra: Vec<_> = listed.keys().filter(|id| !f.want.contains_key(**id)).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} listed, {} expected; missing {missing:?}, unexpected {extra:?}",
        listed.len(),
        f.want.len()
    );
    let (start, end) = (f.window.start.as_millis(), f.window.end.as_millis());
    for (id, w) in &f.want {
        let c = listed[id];
        let (first, last) = (c.first_sample.as_millis(), c.last_sample.as_millis());
        let first_ok = if w.seen_at_start {
            first == start
        } else if w.before {
            (first - w.first).abs() <= STEP
        } else {
            (w.first..=w.first + STEP).contains(&first)
        };
        let last_ok = if w.after { last == end - 1 } else { last == w.last };
        assert!(
            first_ok && last_ok,
            "{what}: {id}: {first}..{last}, really {}..{} in the window {start}..{end} (before {}, seen at start {}, after {})",
            w.first,
            w.last,
            w.before,
            w.seen_at_start,
            w.after
        );
        assert_eq!(c.image.as_deref(), Some(w.image.as_str()), "{what}: {id}");
        assert_eq!(c.started.map(Timestamp::as_millis), w.started, "{what}: {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_thousands_of_containers_over_30_days_in_both_stores() {
    // The window ends 30.5 s past a minute (off the scan's steps), about
    // ten minutes before now; the data's live pods run 5 minutes past it.
    let end = Timestamp::from_millis(common::data_start().as_millis() + 50 * MIN + 30_500);
    let clock = Instant::now();
    let f = cluster_30d(end);
    println!(
        "fixture: {} pods, {} container cgroups, {} series, {} samples (sparse: see Cgroup::times); {} containers in the 30-day window; built in {:.1} s",
        f.pods,
        f.cgroups,
        f.series.len(),
        f.samples,
        f.want.len(),
        clock.elapsed().as_secs_f64()
    );
    assert!((2_000..=3_000).contains(&f.want.len()), "{}", f.want.len());
    let count = |p: fn(&ScaleWant) -> bool| f.want.values().filter(|w| p(w)).count();
    let (before, after) = (count(|w| w.seen_at_start), count(|w| w.after));
    let (restarted, recreated) = (count(|w| w.cgroups > w.uids), count(|w| w.uids > 1));
    println!(
        "  {before} running at the window's start, {after} still running at its end, {restarted} restarted, {recreated} of pods recreated under the same name"
    );
    assert!(
        before > 100 && after > 500 && restarted > 50 && recreated > 50,
        "the fixture's mix"
    );

    let clock = Instant::now();
    // Blocks of up to 31 days, as a Prometheus that has run for a while compacts them.
    let options = PromOptions {
        backfill_block: Some(Duration::from_secs(31 * 86_400)),
        ..PromOptions::default()
    };
    let Some(prom) = PromServer::start(&f.series, options).await else {
        return;
    };
    let prom_load = clock.elapsed();
    let clock = Instant::now();
    let Some(vm) = VmServer::start(VmOptions::default()).await else {
        return;
    };
    for chunk in f.series.chunks(5_000) {
        vm.import(chunk).await;
    }
    let vm_load = clock.elapsed();
    for (store, url, load) in [
        ("prometheus", prom.url(), prom_load),
        ("victoria-metrics", vm.url(), vm_load),
    ] {
        let relay = common::influx::Relay::start(&url).await;
        let source =
            PrometheusMetricSource::new(config(&relay.url(), Arc::new(RecordingClock::default()))).expect("source");
        let clock = Instant::now();
        let got = source.containers_seen(f.window).await.expect("containers_seen");
        let took = clock.elapsed();
        let (up, down) = relay.bytes();
        println!(
            "{store}: loaded in {:.1} s; containers_seen over 30 days: {} containers in {:.2} s, {} queries ({} requests), {up} B up and {down} B down on the wire",
            load.as_secs_f64(),
            got.len(),
            took.as_secs_f64(),
            source.query_count(),
            source.request_count(),
        );
        check_scale(&got, &f, store);
        // 31 spans of a day (30 days and the step before), 3 queries each.
        assert_eq!(source.query_count(), 3 * 31, "{store}");
        assert_eq!(source.request_count(), 3 * 31, "{store}: no retries expected");
    }
}
