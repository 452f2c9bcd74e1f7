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
use std::time::Duration;
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
