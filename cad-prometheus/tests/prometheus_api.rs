//! Tests of cad-prometheus against real servers: Prometheus (data backfilled
//! with promtool) and VictoriaMetrics (data imported), started per test.

mod common;

use cad_core::{ContainerId, Metric, MetricSource, PodId, SourceError, TimeWindow, Timestamp};
use cad_prometheus::{Auth, Catalogue, Chunking, PrometheusMetricSource};
use common::{
    Certs, Expected, PromOptions, PromServer, RecordingClock, SeriesData, VmAuth, VmOptions, VmServer, config, flatten,
};
use std::sync::Arc;
use std::time::Duration;

fn sorted(mut e: Expected) -> Expected {
    for v in e.values_mut() {
        v.sort_by_key(|a| (a.0, a.1));
    }
    e.retain(|_, v| !v.is_empty());
    e
}

/// Compares per container and metric, so a failure says where.
fn assert_same(got: &Expected, want: &Expected, store: &str) {
    for (id, w) in want {
        let g = got.get(id).map(Vec::as_slice).unwrap_or(&[]);
        for m in Metric::ALL {
            let gm: Vec<_> = g.iter().filter(|s| s.1 == *m).collect();
            let wm: Vec<_> = w.iter().filter(|s| s.1 == *m).collect();
            assert_eq!(gm, wm, "{store}: {id} {m}");
        }
    }
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        extra.is_empty(),
        "{store}: samples for containers not expected: {extra:?}"
    );
}

/// The kubelet's `usageNanoCores`, written out independently of the crate.
fn kubelet_nanocores(prev: (i64, f64), cur: (i64, f64)) -> Option<f64> {
    (cur.1 >= prev.1 && cur.0 > prev.0).then(|| (cur.1 - prev.1) / ((cur.0 - prev.0) as f64 / 1000.0))
}

/// cAdvisor- and kube-state-metrics-shaped series for a few pods, and the
/// samples the source must return for the requested containers in `window`.
struct Fixture {
    series: Vec<SeriesData>,
    expected: Expected,
    requested: Vec<ContainerId>,
    window: TimeWindow,
}

fn fixture(t0: Timestamp) -> Fixture {
    let t0 = t0.as_millis();
    let window = TimeWindow::new(
        Timestamp::from_millis(t0 + 60_000),
        Timestamp::from_millis(t0 + 360_000),
    );
    let inside = |t: i64| window.contains(Timestamp::from_millis(t));
    let mut series = Vec::new();
    let mut expected = Expected::new();
    let mut exp = |id: &ContainerId, t: i64, m: Metric, v: f64| {
        if inside(t) {
            expected.entry(id.clone()).or_default().push((t, m, v));
        }
    };
    let steps = -6..48i64; // a minute before the window to three minutes after it

    // shop/cart: two containers, a pause container with the network, a
    // pod-level cgroup, per-CPU series, hierarchy-scope faults, two devices.
    let cart = PodId::new("shop", "cart-7f9c6d5b8-xk2lp", "u-cart");
    let pod = cart.name.as_str();
    for (ci, cname) in ["cart", "istio-proxy"].into_iter().enumerate() {
        let id = cart.container(cname);
        let ci64 = ci as i64;
        let jitter = 300 * ci64; // cart's samples fall exactly on 10 s marks, window ends included
        let lbl = |extra: &[(&'static str, String)]| {
            let mut l: Vec<(String, String)> = vec![
                ("namespace".into(), "shop".into()),
                ("pod".into(), pod.into()),
                ("container".into(), cname.into()),
                ("id".into(), format!("/kubepods/burstable/podu-cart/{cname}")),
                ("image".into(), format!("example/{cname}:1")),
            ];
            l.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            l
        };
        let mk = |name: &str, extra: &[(&'static str, String)]| SeriesData {
            name: name.into(),
            labels: lbl(extra),
            points: Vec::new(),
        };
        let mut cpu = mk("container_cpu_usage_seconds_total", &[("cpu", "total".into())]);
        let mut cpu0 = mk("container_cpu_usage_seconds_total", &[("cpu", "cpu00".into())]);
        let mut usage = mk("container_memory_usage_bytes", &[]);
        let mut ws = mk("container_memory_working_set_bytes", &[]);
        let mut rss = mk("container_memory_rss", &[]);
        let mut pgf = mk(
            "container_memory_failures_total",
            &[("failure_type", "pgfault".into()), ("scope", "container".into())],
        );
        let mut pgmaj = mk(
            "container_memory_failures_total",
            &[("failure_type", "pgmajfault".into()), ("scope", "container".into())],
        );
        let mut pgf_h = mk(
            "container_memory_failures_total",
            &[("failure_type", "pgfault".into()), ("scope", "hierarchy".into())],
        );
        let mut fs_usage = mk("container_fs_usage_bytes", &[("device", "/dev/vda1".into())]);
        let mut reads_a = mk("container_fs_reads_bytes_total", &[("device", "/dev/vda".into())]);
        let mut reads_b = mk("container_fs_reads_bytes_total", &[("device", "/dev/vdb".into())]);
        let mut writes = mk("container_fs_writes_bytes_total", &[("device", "/dev/vda".into())]);
        let mut prev_cpu: Option<(i64, f64)> = None;
        for k in steps.clone() {
            let t = t0 + k * 10_000 + jitter;
            let kk = (k + 10) as f64;
            // Core-nanoseconds in whole milliseconds, so that the seconds have
            // few digits (VictoriaMetrics keeps about 12 significant ones).
            let ns = 3e12 + kk * 2.5e9 + (kk * kk) * 1e7 + ci as f64 * 1e9;
            cpu.points.push((t, ns / 1e9));
            cpu0.points.push((t, ns / 2e9));
            exp(&id, t, Metric::CpuUsageCoreNanoseconds, ns);
            if let Some(nc) = prev_cpu.and_then(|p| kubelet_nanocores(p, (t, ns))) {
                exp(&id, t, Metric::CpuUsageNanocores, nc);
            }
            prev_cpu = Some((t, ns));
            let mem = 80e6 + kk * 4096.0 + ci as f64 * 1e6;
            for (s, m, v) in [
                (&mut usage, Metric::MemoryUsageBytes, mem),
                (&mut ws, Metric::MemoryWorkingSetBytes, mem - 10e6),
                (&mut rss, Metric::MemoryRssBytes, mem - 30e6),
                (&mut pgf, Metric::MemoryPageFaults, 1e5 + kk * 31.0),
                (&mut pgmaj, Metric::MemoryMajorPageFaults, 12.0 + (kk / 3.0).floor()),
                (&mut fs_usage, Metric::RootfsUsedBytes, 40_960.0 + kk * 8.0),
                (&mut writes, Metric::BlkioWriteBytes, 7e6 + kk * 1e4),
            ] {
                s.points.push((t, v));
                exp(&id, t, m, v);
            }
            pgf_h.points.push((t, 9e9));
            reads_a.points.push((t, 1e6 + kk * 100.0));
            reads_b.points.push((t, 2e6 + kk * 7.0));
            exp(&id, t, Metric::BlkioReadBytes, 3e6 + kk * 107.0);
        }
        series.extend([
            cpu, cpu0, usage, ws, rss, pgf, pgmaj, pgf_h, fs_usage, reads_a, reads_b, writes,
        ]);
    }
    // The sandbox: network on eth0 (read) and tunl0 (not), its own CPU (not read).
    let sandbox = |name: &str, extra: (&str, &str)| {
        SeriesData::new(
            name,
            &[
                ("namespace", "shop"),
                ("pod", pod),
                ("container", ""),
                ("image", "registry.k8s.io/pause:3.9"),
                ("name", "0c1d2e3f"),
                ("id", "/kubepods/burstable/podu-cart/0c1d2e3f"),
                extra,
            ],
        )
    };
    let mut rx = sandbox("container_network_receive_bytes_total", ("interface", "eth0"));
    let mut tx = sandbox("container_network_transmit_bytes_total", ("interface", "eth0"));
    let mut rxe = sandbox("container_network_receive_errors_total", ("interface", "eth0"));
    let mut rx_tunl = sandbox("container_network_receive_bytes_total", ("interface", "tunl0"));
    let mut pause_cpu = sandbox("container_cpu_usage_seconds_total", ("cpu", "total"));
    let mut pod_cgroup = SeriesData::new(
        "container_memory_usage_bytes",
        &[
            ("namespace", "shop"),
            ("pod", pod),
            ("container", ""),
            ("id", "/kubepods/burstable/podu-cart"),
        ],
    );
    for k in steps.clone() {
        let t = t0 + k * 10_000 + 900;
        let kk = (k + 10) as f64;
        for (s, m, v) in [
            (&mut rx, Metric::RxBytes, 5e6 + kk * 12_345.0),
            (&mut tx, Metric::TxBytes, 9e6 + kk * 54_321.0),
            (&mut rxe, Metric::RxErrors, (kk / 10.0).floor()),
        ] {
            s.points.push((t, v));
            for c in ["cart", "istio-proxy"] {
                exp(&cart.container(c), t, m, v);
            }
        }
        rx_tunl.points.push((t, 1.0));
        pause_cpu.points.push((t, 0.5 + kk));
        pod_cgroup.points.push((t, 5e8));
    }
    series.extend([rx, tx, rxe, rx_tunl, pause_cpu, pod_cgroup]);

    // db/postgres-0: restarts (a new container id, counters from ~0); two
    // claims; the network only on the container (a runtime without a
    // sandbox series).
    let pg = PodId::new("db", "postgres-0", "u-pg");
    let pgc = pg.container("postgres");
    let mut prev_cpu: Option<(i64, f64)> = None;
    for (instance, ks) in [("aaa", -6..12i64), ("bbb", 12..48)] {
        let l = |name: &str| {
            SeriesData::new(
                name,
                &[
                    ("namespace", "db"),
                    ("pod", "postgres-0"),
                    ("container", "postgres"),
                    ("id", &format!("/kubepods/pod-u-pg/{instance}")),
                ],
            )
        };
        let mut cpu = l("container_cpu_usage_seconds_total");
        let mut usage = l("container_memory_usage_bytes");
        let mut rx = l("container_network_receive_bytes_total");
        rx.labels.push(("interface".into(), "eth0".into()));
        for k in ks.clone() {
            let t = t0 + k * 10_000 + 4_321;
            let since = (k - ks.start + 1) as f64;
            let ns = since * 4e8;
            cpu.points.push((t, ns / 1e9));
            exp(&pgc, t, Metric::CpuUsageCoreNanoseconds, ns);
            if let Some(nc) = prev_cpu.and_then(|p| kubelet_nanocores(p, (t, ns))) {
                exp(&pgc, t, Metric::CpuUsageNanocores, nc);
            }
            prev_cpu = Some((t, ns));
            usage.points.push((t, 3e8 + since));
            exp(&pgc, t, Metric::MemoryUsageBytes, 3e8 + since);
            // The pod's network outlives the container: it does not reset.
            rx.points.push((t, 1e9 + (k + 10) as f64 * 1000.0));
            exp(&pgc, t, Metric::RxBytes, 1e9 + (k + 10) as f64 * 1000.0);
        }
        series.extend([cpu, usage, rx]);
    }
    for claim in ["data-postgres-0", "wal-postgres-0"] {
        let mut info = SeriesData::new(
            "kube_pod_spec_volumes_persistentvolumeclaims_info",
            &[
                ("namespace", "db"),
                ("pod", "postgres-0"),
                ("uid", "u-pg"),
                ("volume", claim.split('-').next().unwrap_or("v")),
                ("persistentvolumeclaim", claim),
            ],
        );
        for k in (-2..16).map(|k| k * 30_000) {
            info.points.push((t0 + k + 250, 1.0));
        }
        series.push(info);
    }
    let mut data = SeriesData::new(
        "kubelet_volume_stats_used_bytes",
        &[("namespace", "db"), ("persistentvolumeclaim", "data-postgres-0")],
    );
    let mut wal = SeriesData::new(
        "kubelet_volume_stats_used_bytes",
        &[("namespace", "db"), ("persistentvolumeclaim", "wal-postgres-0")],
    );
    let mut other_ns = SeriesData::new(
        "kubelet_volume_stats_used_bytes",
        &[("namespace", "shop"), ("persistentvolumeclaim", "data-postgres-0")],
    );
    for k in -2..16i64 {
        let t = t0 + k * 30_000 + 600;
        let (d, w) = (2e9 + k as f64 * 4096.0, 5e8 + k as f64 * 512.0);
        data.points.push((t, d));
        wal.points.push((t, w));
        other_ns.points.push((t, 7.0));
        exp(&pgc, t, Metric::VolumeUsedBytes, d + w);
    }
    series.extend([data, wal, other_ns]);

    // Not requested, but matched by the cross-namespace chunk's matchers:
    // db/cart-… and shop/postgres-0. Must not leak into the requested pods.
    for (ns, p, c) in [("db", pod, "cart"), ("shop", "postgres-0", "postgres")] {
        series.push(
            SeriesData::new(
                "container_memory_usage_bytes",
                &[("namespace", ns), ("pod", p), ("container", c)],
            )
            .points((0..30).map(|k| (t0 + k * 10_000, 1.0))),
        );
    }
    let requested = vec![
        cart.container("cart"),
        cart.container("istio-proxy"),
        pgc.clone(),
        PodId::new("shop", "ghost-1", "u-ghost").container("ghost"),
    ];
    Fixture {
        series,
        expected: sorted(expected),
        requested,
        window,
    }
}

/// Both stores loaded with `series`, or none where the binaries are absent.
async fn both_stores(series: &[SeriesData]) -> Option<(PromServer, VmServer)> {
    let prom = PromServer::start(series, PromOptions::default()).await?;
    let vm = VmServer::start(VmOptions::default()).await?;
    vm.import(series).await;
    Some((prom, vm))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_cadvisor_series_onto_the_catalogue_in_both_stores() {
    let f = fixture(common::data_start());
    let Some((prom, vm)) = both_stores(&f.series).await else {
        return;
    };
    for (store, url) in [("prometheus", prom.url()), ("victoria-metrics", vm.url())] {
        let clock = Arc::new(RecordingClock::default());
        let source = PrometheusMetricSource::new(config(&url, clock)).expect("source");
        let report = source.fetch_report(&f.requested, f.window).await;
        assert!(report.failed.is_empty(), "{store}: {:?}", report.failed);
        let got = flatten(&report.batch);
        assert_same(&got, &f.expected, store);
        // shop and db in one chunk: three container groups, the network,
        // the claims, and one query for the two claims' usage.
        assert_eq!((report.chunks, report.queries), (1, 6), "{store}");
        let ghost = &f.requested[3];
        assert!(report.batch.samples(ghost).is_empty());
        // The all-or-nothing trait method gives the same batch.
        let batch = source.fetch(&f.requested, f.window).await.expect("fetch");
        assert_eq!(flatten(&batch), got, "{store}");
        // Every metric the behaviour feature set requires is there.
        let cart = &f.requested[0];
        for m in cad_core::FeatureSet::behaviour().required {
            assert!(got[cart].iter().any(|s| s.1 == m), "{store}: {m}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_post_give_the_same_answer() {
    let f = fixture(common::data_start());
    let Some((prom, vm)) = both_stores(&f.series).await else {
        return;
    };
    for url in [prom.url(), vm.url()] {
        let mut results = Vec::new();
        for max_get_bytes in [0, usize::MAX] {
            let mut c = config(&url, Arc::new(RecordingClock::default()));
            c.chunking.max_get_bytes = max_get_bytes;
            let source = PrometheusMetricSource::new(c).expect("source");
            results.push(flatten(&source.fetch(&f.requested, f.window).await.expect("fetch")));
        }
        assert_eq!(results[0], results[1], "{url}");
        assert_same(&results[0], &f.expected, &url);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_label_names() {
    let t0 = common::data_start().as_millis();
    let labels = [
        ("namespace", "kube-system"),
        ("pod_name", "coredns-1"),
        ("container_name", "coredns"),
    ];
    let series = vec![
        SeriesData::new("container_memory_usage_bytes", &labels)
            .points((0..10).map(|k| (t0 + k * 10_000, 1e6 + k as f64))),
        // The new names on the same series must not be what is read.
        SeriesData::new(
            "container_memory_rss",
            &[
                ("namespace", "kube-system"),
                ("pod", "coredns-1"),
                ("container", "coredns"),
            ],
        )
        .point(t0, 5.0),
    ];
    let Some((prom, vm)) = both_stores(&series).await else {
        return;
    };
    let id = PodId::new("kube-system", "coredns-1", "u").container("coredns");
    let window = TimeWindow::new(Timestamp::from_millis(t0), Timestamp::from_millis(t0 + 100_000));
    for url in [prom.url(), vm.url()] {
        let mut c = config(&url, Arc::new(RecordingClock::default()));
        c.catalogue = Catalogue::legacy();
        let source = PrometheusMetricSource::new(c).expect("source");
        let batch = source.fetch(std::slice::from_ref(&id), window).await.expect("fetch");
        let got: Vec<(i64, Metric, f64)> = batch
            .samples(&id)
            .iter()
            .map(|s| (s.time.as_millis(), s.metric, s.value))
            .collect();
        let want: Vec<(i64, Metric, f64)> = (0..10)
            .map(|k| (t0 + k * 10_000, Metric::MemoryUsageBytes, 1e6 + k as f64))
            .collect();
        assert_eq!(got, want, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_match_exactly_themselves() {
    let t0 = common::data_start().as_millis();
    // Each name next to a decoy its regex would match if it were not escaped.
    let names = [
        ("a.c", "abc"),
        ("x|y", "x"),
        ("q\"} or vector(1) #", "q"),
        ("back\\slash", "back\\\\slash"),
        ("new\nline", "new"),
        ("repl\u{FFFD}char", "repl?char"),
        ("emoji😀", "emoji"),
        ("star*", "starrr"),
        ("(group)+", "groupgroup"),
        ("^anchor$", "anchor"),
        ("nul\0byte", "nul"),
    ];
    let mut series = Vec::new();
    let mut ids = Vec::new();
    for (i, (name, decoy)) in names.iter().enumerate() {
        for (j, pod) in [name, decoy].into_iter().enumerate() {
            let ns = format!("ns\"{name}");
            series.push(
                SeriesData::new(
                    "container_memory_usage_bytes",
                    &[("namespace", &ns), ("pod", pod), ("container", name)],
                )
                .point(t0 + 1000, (i * 10 + j) as f64),
            );
        }
        ids.push(PodId::new(format!("ns\"{name}"), *name, "u").container(*name));
    }
    let Some((prom, vm)) = both_stores(&series).await else {
        return;
    };
    let window = TimeWindow::new(Timestamp::from_millis(t0), Timestamp::from_millis(t0 + 60_000));
    for url in [prom.url(), vm.url()] {
        let mut c = config(&url, Arc::new(RecordingClock::default()));
        // One pod per chunk as well as all in one: both must hold.
        for max_pods in [1, 200] {
            c.chunking.max_pods_per_request = max_pods;
            let source = PrometheusMetricSource::new(c.clone()).expect("source");
            let batch = source.fetch(&ids, window).await.expect("fetch");
            for (i, id) in ids.iter().enumerate() {
                let got: Vec<f64> = batch.samples(id).iter().map(|s| s.value).collect();
                assert_eq!(got, [(i * 10) as f64], "{url}: {:?}", id.pod.name);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pending_pods_cost_a_bounded_number_of_queries() {
    let t0 = common::data_start().as_millis();
    let pods: Vec<PodId> = (0..1000)
        .map(|i| {
            PodId::new(
                format!("team-{}", i % 4),
                format!("pending-{i:04}-7f9c6d5b8-xk2lp"),
                format!("uid-{i:04}-0000-0000-0000-000000000000"),
            )
        })
        .collect();
    let mut series = Vec::new();
    for (i, p) in pods.iter().enumerate() {
        let l = [
            ("namespace", p.namespace.as_str()),
            ("pod", p.name.as_str()),
            ("container", "app"),
        ];
        let pts = |base: f64| (0..6).map(move |k| (t0 + k * 10_000 + i as i64, base + k as f64));
        series.push(SeriesData::new("container_memory_usage_bytes", &l).points(pts(1e6)));
        series.push(SeriesData::new("container_cpu_usage_seconds_total", &l).points(pts(1.0)));
    }
    let Some((prom, vm)) = both_stores(&series).await else {
        return;
    };
    let ids: Vec<ContainerId> = pods.iter().map(|p| p.container("app")).collect();
    let window = TimeWindow::new(Timestamp::from_millis(t0), Timestamp::from_millis(t0 + 60_000));
    let chunking = Chunking::default();
    for (store, url) in [("prometheus", prom.url()), ("victoria-metrics", vm.url())] {
        let source = PrometheusMetricSource::new(config(&url, Arc::new(RecordingClock::default()))).expect("source");
        let report = source.fetch_report(&ids, window).await;
        assert!(report.failed.is_empty(), "{store}: {:?}", report.failed);
        let per_chunk = 5; // 3 container groups + network + claims; no claims found, no usage query
        let bound = per_chunk * ids.len().div_ceil(chunking.max_pods_per_request);
        // Written to stderr directly: libtest captures println! of passing tests.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "{store}: 1000 pending pods -> {} chunks, {} queries per fetch ({} HTTP requests)",
            report.chunks,
            report.queries,
            source.request_count()
        );
        assert_eq!(report.queries, bound, "{store}");
        assert_eq!(source.request_count(), bound as u64, "{store}: no retries expected");
        for id in &ids {
            let n = report.batch.samples(id).len();
            // 6 memory + 6 CPU counter + 5 derived nanocores.
            assert_eq!(n, 17, "{store}: {id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca_and_client_certificates() {
    let certs = Certs::new();
    let f = fixture(common::data_start());
    let tls = PromOptions {
        tls: Some(&certs),
        ..PromOptions::default()
    };
    let Some(prom) = PromServer::start(&f.series, tls).await else {
        return;
    };
    let Some(vm) = VmServer::start(VmOptions {
        tls: Some(&certs),
        ..VmOptions::default()
    })
    .await
    else {
        return;
    };
    vm.import(&f.series).await;
    assert!(prom.url().starts_with("https://") && vm.url().starts_with("https://"));
    for url in [prom.url(), vm.url()] {
        let mut c = config(&url, Arc::new(RecordingClock::default()));
        c.tls = certs.tls(true);
        let source = PrometheusMetricSource::new(c).expect("source");
        source.ping().await.expect("ping over TLS");
        let batch = source.fetch(&f.requested, f.window).await.expect("fetch over TLS");
        assert_same(&flatten(&batch), &f.expected, &url);
    }
    // Failing set-ups, against the Prometheus that requires a client certificate.
    let mut no_client = certs.tls(false);
    let mut other_ca = certs.tls(true);
    other_ca.ca_file = Some(certs.path("other-ca.pem"));
    let mut system_roots = certs.tls(true);
    system_roots.ca_file = None;
    for (what, tls) in [
        ("no client certificate", &mut no_client),
        ("another CA", &mut other_ca),
        ("the system's roots", &mut system_roots),
    ] {
        let mut c = config(&prom.url(), Arc::new(RecordingClock::default()));
        c.tls = tls.clone();
        let source = PrometheusMetricSource::new(c).expect("source");
        let err = source.fetch(&f.requested, f.window).await.expect_err(what);
        let text = common::influx::chain(&err);
        assert!(matches!(err, SourceError::Denied { .. }), "{what}: {text}");
        assert!(text.contains("TLS"), "{what}: {text}");
        if what == "no client certificate" {
            // TLS 1.3: the server refuses a missing client certificate after
            // the client has finished its side of the handshake, so a request
            // may meet a reset connection (transient, retried) before the
            // server's alert (a refusal); it ends refused all the same.
            assert!(source.request_count() <= source.query_count() * 4, "{what}");
        } else {
            // Our own verification fails: not retried, one request per query.
            assert_eq!(source.request_count(), source.query_count(), "{what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_is_sent_and_a_wrong_password_is_denied_at_once() {
    const PASSWORD: &str = "Vm-S3cret-for-cad-tests";
    let f = fixture(common::data_start());
    let Some(vm) = VmServer::start(VmOptions {
        basic_auth: Some(("cad", PASSWORD)),
        ..VmOptions::default()
    })
    .await
    else {
        return;
    };
    vm.import(&f.series).await;
    let mut c = config(&vm.url(), Arc::new(RecordingClock::default()));
    c.auth = Auth::basic("cad", PASSWORD);
    let source = PrometheusMetricSource::new(c).expect("source");
    let batch = source.fetch(&f.requested, f.window).await.expect("fetch");
    assert_same(&flatten(&batch), &f.expected, "basic auth");

    let wrong = "Wrong-Pa55word-xyz";
    let clock = Arc::new(RecordingClock::default());
    let mut c = config(&vm.url(), clock.clone());
    c.auth = Auth::basic("cad", wrong);
    let source = PrometheusMetricSource::new(c).expect("source");
    let err = source.fetch(&f.requested, f.window).await.expect_err("wrong password");
    let text = format!("{} | {err:?} | {source:?}", common::influx::chain(&err));
    assert!(matches!(err, SourceError::Denied { .. }), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains(wrong), "the password leaked: {text}");
    assert_eq!(source.request_count(), source.query_count(), "401 is not retried");
    assert!(clock.slept().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_file_through_vmauth_and_retries_on_502() {
    const TOKEN: &str = "cad-test-bearer-token-0123456789";
    let f = fixture(common::data_start());
    let Some(mut vm) = VmServer::start(VmOptions::default()).await else {
        return;
    };
    vm.import(&f.series).await;
    let Some(proxy) = VmAuth::start(&vm.url(), TOKEN).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let good = common::write_file(dir.path(), "token", &format!("{TOKEN}\n"));
    let bad = common::write_file(dir.path(), "bad-token", "not-the-token");

    let mut c = config(&proxy.url(), Arc::new(RecordingClock::default()));
    c.auth = Auth::bearer_file(&good);
    let source = PrometheusMetricSource::new(c.clone()).expect("source");
    let batch = source
        .fetch(&f.requested, f.window)
        .await
        .expect("fetch through vmauth");
    assert_same(&flatten(&batch), &f.expected, "vmauth");

    // vmauth (1.79, Debian 12) answers an unknown token with 400 and a
    // missing one with 401: a clear message either way, no retries, and the
    // token it echoes scrubbed.
    for (auth, denied) in [(Auth::bearer_file(&bad), false), (Auth::None, true)] {
        let mut wrong = c.clone();
        wrong.auth = auth;
        let source = PrometheusMetricSource::new(wrong).expect("source");
        let err = source.fetch(&f.requested, f.window).await.expect_err("wrong token");
        let text = common::influx::chain(&err);
        if denied {
            assert!(
                matches!(err, SourceError::Denied { .. }) && text.contains("HTTP 401"),
                "{text}"
            );
        } else {
            assert!(
                matches!(err, SourceError::Protocol { .. }) && text.contains("HTTP 400"),
                "{text}"
            );
            assert!(text.contains("auth token") && text.contains("credential"), "{text}");
        }
        assert!(!text.contains("not-the-token"), "{text}");
        assert_eq!(source.request_count(), source.query_count());
    }

    // The backend goes away: vmauth answers 502, which is retried with
    // backoff, then reported as unavailable with its cause.
    vm.stop();
    let clock = Arc::new(RecordingClock::default());
    let mut c = c.clone();
    c.clock = clock.clone();
    c.chunking.concurrency = 1;
    let source = PrometheusMetricSource::new(c).expect("source");
    let err = source
        .fetch(&f.requested[..1], f.window)
        .await
        .expect_err("backend down");
    let text = common::influx::chain(&err);
    assert!(err.is_transient(), "{text}");
    assert!(
        text.contains("gave up after 4 attempt(s)") && text.contains("HTTP 502"),
        "{text}"
    );
    let waits: Vec<u128> = clock.slept().iter().map(|d| d.as_millis()).collect();
    // Five queries (no claims answer, so no usage query), each retried 3 times.
    assert_eq!(waits.len(), 5 * 3, "{waits:?}");
    assert_eq!(waits.iter().filter(|w| **w == 400).count(), 5, "{waits:?}");
    assert_eq!(source.request_count(), 5 * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_retried_then_unavailable() {
    let port = common::free_port(); // nothing listens there
    let clock = Arc::new(RecordingClock::default());
    let mut c = config(&format!("http://127.0.0.1:{port}"), clock.clone());
    c.connect_timeout = Duration::from_secs(2);
    c.chunking.concurrency = 1;
    c.catalogue.volumes = None;
    let source = PrometheusMetricSource::new(c).expect("source");
    let id = PodId::new("ns", "p", "u").container("c");
    let now = Timestamp::now();
    let err = source
        .fetch(&[id], TimeWindow::ending_at(now, Duration::from_secs(60)))
        .await
        .expect_err("nothing listens");
    let text = common::influx::chain(&err);
    assert!(err.is_transient(), "{text}");
    assert!(
        text.contains("unavailable") && text.contains("gave up after 4 attempt(s)"),
        "{text}"
    );
    let waits: Vec<u128> = clock.slept().iter().map(|d| d.as_millis()).collect();
    let mut per_query = vec![100, 200, 400];
    per_query.extend([100, 200, 400]);
    per_query.extend([100, 200, 400]);
    per_query.extend([100, 200, 400]);
    let mut sorted_waits = waits.clone();
    sorted_waits.sort_unstable();
    per_query.sort_unstable();
    assert_eq!(sorted_waits, per_query, "4 queries, 3 waits each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_the_server_rejects_is_a_clear_error_and_only_its_chunk_fails() {
    let t0 = common::data_start().as_millis();
    // Light pods of 5 samples, and one heavy pod of 300: a Prometheus that
    // loads at most 100 samples per query rejects only the heavy pod's query.
    let mut series = Vec::new();
    let mut ids = Vec::new();
    for (name, n) in [("light-a", 5), ("heavy", 300), ("light-b", 5)] {
        let l = [("namespace", "ns"), ("pod", name), ("container", "c")];
        series.push(
            SeriesData::new("container_memory_usage_bytes", &l).points((0..n).map(|k| (t0 + k * 1000, k as f64))),
        );
        ids.push(PodId::new("ns", name, "u").container("c"));
    }
    let Some(prom) = PromServer::start(
        &series,
        PromOptions {
            max_samples: Some(100),
            ..PromOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let window = TimeWindow::new(Timestamp::from_millis(t0), Timestamp::from_millis(t0 + 600_000));
    let clock = Arc::new(RecordingClock::default());
    let mut c = config(&prom.url(), clock.clone());
    c.chunking.max_pods_per_request = 1;
    let source = PrometheusMetricSource::new(c).expect("source");
    let report = source.fetch_report(&ids, window).await;
    assert_eq!(report.chunks, 3);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let failed = &report.failed[0];
    assert_eq!(failed.containers, [ids[1].clone()]);
    let text = failed.error.to_string();
    assert!(matches!(failed.error, SourceError::Protocol { .. }), "{text}");
    assert!(
        text.contains("HTTP 422") && text.contains("lower max_pods_per_request"),
        "{text}"
    );
    for light in [&ids[0], &ids[2]] {
        assert_eq!(report.batch.samples(light).len(), 5, "{light}");
    }
    assert!(report.batch.samples(&ids[1]).is_empty());
    assert!(clock.slept().is_empty(), "a rejected query is not retried");
    // The trait method answers for the light pods and marks the heavy one
    // unavailable, with the error, so that the engines ask for it again.
    let batch = source.fetch(&ids, window).await.expect("a partial answer");
    for light in [&ids[0], &ids[2]] {
        assert_eq!(batch.samples(light).len(), 5, "{light}");
        assert!(!batch.is_unavailable(light), "{light}");
    }
    assert_eq!(batch.unavailable().collect::<Vec<_>>(), [&ids[1]]);
    assert_eq!(batch.unavailable_causes().len(), 1);
    assert!(
        matches!(*batch.unavailable_causes()[0], SourceError::Protocol { .. }),
        "{}",
        batch.unavailable_causes()[0]
    );
    // When every chunk fails, the fetch is an error.
    assert!(matches!(
        source.fetch(&ids[1..2], window).await,
        Err(SourceError::Protocol { .. })
    ));
}
