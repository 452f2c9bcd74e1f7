//! Tests of cad-influx against a real InfluxDB 1.x (`influxd`), started per test.

mod common;

use cad_core::{ContainerId, Metric, MetricSource, PodId, Sample, SourceError, TimeWindow, Timestamp};
use cad_influx::{Auth, InfluxMetricSource, InfluxVerdictWriter, VerdictPoint};
use common::{InfluxServer, RecordingClock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const DB: &str = "telegraf";
const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 10_000;

/// Deterministic jitter (a linear congruential generator), 0–2 s.
struct Jitter(u64);
impl Jitter {
    fn next(&mut self) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % 2001) as i64
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Blkio {
    None,
    PerDevice,
    TotalOnly,
    TotalAndDevices,
}

struct PodSpec {
    id: PodId,
    node: &'static str,
    containers: Vec<&'static str>,
    volumes: Vec<&'static str>,
    network: bool,
    blkio: Blkio,
    /// Leave out memory_rss_bytes on odd intervals.
    gappy: bool,
}

impl PodSpec {
    fn new(ns: &str, name: &str, uid: &str, containers: &[&'static str]) -> Self {
        PodSpec {
            id: PodId::new(ns, name, uid),
            node: "node-1",
            containers: containers.to_vec(),
            volumes: vec!["default-token-abcde"],
            network: true,
            blkio: Blkio::None,
            gappy: false,
        }
    }
    fn ids(&self) -> Vec<ContainerId> {
        self.containers.iter().map(|c| self.id.container(*c)).collect()
    }
}

/// Line-protocol escaping for tag values in the test data (comma, equals, space).
fn tag(s: &str) -> String {
    s.replace(',', "\\,").replace('=', "\\=").replace(' ', "\\ ")
}

type Expected = HashMap<ContainerId, Vec<(Timestamp, Metric, f64)>>;

/// Telegraf-shaped line protocol for `pods` over intervals -1..=n (only 0..n
/// fall in the window) and the samples the adapter should return.
fn telegraf(pods: &[PodSpec], n: i64, seed: u64) -> (String, Expected) {
    let mut j = Jitter(seed);
    let mut lines = Vec::new();
    let mut exp: Expected = HashMap::new();
    for (pi, p) in pods.iter().enumerate() {
        let (ns, name, uid) = (tag(&p.id.namespace), tag(&p.id.name), tag(&p.id.uid));
        let base = 1_000_000 * (pi as i64 + 1);
        for k in -1..=n {
            let in_window = (0..n).contains(&k);
            let mut push = |c: &ContainerId, t: i64, m: Metric, v: i64| {
                if in_window {
                    exp.entry(c.clone()).or_default().push((Timestamp(t), m, v as f64));
                }
            };
            let kk = k + 1;
            for (ci, cname) in p.containers.iter().enumerate() {
                let cid = p.id.container(*cname);
                let t = T0 + k * STEP + j.next();
                let ci = ci as i64;
                let mut fields = vec![
                    (
                        Some(Metric::CpuUsageNanocores),
                        "cpu_usage_nanocores",
                        5_000_000 + base + 37_000 * (kk % 7) + ci,
                    ),
                    (
                        Some(Metric::CpuUsageCoreNanoseconds),
                        "cpu_usage_core_nanoseconds",
                        900_000_000_000 + kk * 61_000_000 + ci,
                    ),
                    (
                        Some(Metric::MemoryUsageBytes),
                        "memory_usage_bytes",
                        60_000_000 + base + 4096 * kk,
                    ),
                    (
                        Some(Metric::MemoryWorkingSetBytes),
                        "memory_working_set_bytes",
                        50_000_000 + base + 4096 * kk,
                    ),
                    (Some(Metric::MemoryPageFaults), "memory_page_faults", 120_000 + 31 * kk),
                    (
                        Some(Metric::MemoryMajorPageFaults),
                        "memory_major_page_faults",
                        12 + kk / 3,
                    ),
                    (Some(Metric::RootfsUsedBytes), "rootfs_used_bytes", 40_960 + 8 * ci),
                    (None, "rootfs_available_bytes", 121_128_271_872),
                    (None, "rootfs_capacity_bytes", 153_567_944_704),
                    (Some(Metric::LogsfsUsedBytes), "logsfs_used_bytes", 20_480 + 512 * kk),
                    (None, "logsfs_avaialble_bytes", 121_128_271_872),
                ];
                if !(p.gappy && k % 2 != 0) {
                    fields.push((Some(Metric::MemoryRssBytes), "memory_rss_bytes", 30_000_000 + base));
                }
                let fl: Vec<String> = fields.iter().map(|(_, f, v)| format!("{f}={v}i")).collect();
                lines.push(format!(
                    "kubernetes_pod_container,container_name={},namespace={ns},node_name={},pod_name={name} {} {t}",
                    tag(cname),
                    p.node,
                    fl.join(",")
                ));
                for (m, _, v) in fields {
                    if let Some(m) = m {
                        push(&cid, t, m, v);
                    }
                }
            }
            if p.network {
                let t = T0 + k * STEP + j.next();
                let vals = [
                    (Metric::RxBytes, 1_000_000 + kk * 3_300 + base),
                    (Metric::TxBytes, 2_000_000 + kk * 7_100 + base),
                    (Metric::RxErrors, kk / 4),
                    (Metric::TxErrors, 0),
                ];
                let fl: Vec<String> = vals.iter().map(|(m, v)| format!("{}={v}i", m.name())).collect();
                lines.push(format!(
                    "kubernetes_pod_network,namespace={ns},node_name={},pod_name={name} {} {t}",
                    p.node,
                    fl.join(",")
                ));
                for c in p.ids() {
                    for (m, v) in vals {
                        push(&c, t, m, v);
                    }
                }
            }
            if !p.volumes.is_empty() {
                let t = T0 + k * STEP + j.next();
                let mut sum = 0;
                for (vi, v) in p.volumes.iter().enumerate() {
                    let used = 12_288 + 4_096 * vi as i64 + 100 * kk;
                    sum += used;
                    lines.push(format!(
                        "kubernetes_pod_volume,namespace={ns},node_name={},pod_name={name},volume_name={} available_bytes=8415240192i,capacity_bytes=8415252480i,used_bytes={used}i {t}",
                        p.node,
                        tag(v)
                    ));
                }
                for c in p.ids() {
                    push(&c, t, Metric::VolumeUsedBytes, sum);
                }
            }
            if p.blkio != Blkio::None {
                for cname in &p.containers {
                    let cid = p.id.container(*cname);
                    let t = T0 + k * STEP + j.next();
                    let devices: Vec<(&str, i64, i64)> =
                        vec![("8:0", 4096 * kk, 8192 * kk), ("8:16", 1000 + kk, 2000 + kk)];
                    let total = (
                        "total",
                        devices.iter().map(|d| d.1).sum::<i64>(),
                        devices.iter().map(|d| d.2).sum::<i64>(),
                    );
                    let written: Vec<(&str, i64, i64)> = match p.blkio {
                        Blkio::PerDevice => devices.clone(),
                        Blkio::TotalOnly => vec![total],
                        _ => devices.iter().copied().chain([total]).collect(),
                    };
                    for (dev, r, w) in written {
                        lines.push(format!(
                            "docker_container_blkio,container_image=docker.io/library/nginx,container_name=k8s_{cn}_{name}_{ns}_{uid}_0,device={dev},io.kubernetes.container.name={cn},io.kubernetes.pod.name={name},io.kubernetes.pod.namespace={ns},io.kubernetes.pod.uid={uid} io_service_bytes_recursive_read={r}i,io_service_bytes_recursive_write={w}i,io_service_bytes_recursive_total={}i,io_serviced_recursive_read=3i {t}",
                            r + w,
                            cn = tag(cname)
                        ));
                    }
                    push(&cid, t, Metric::BlkioReadBytes, total.1);
                    push(&cid, t, Metric::BlkioWriteBytes, total.2);
                }
            }
        }
    }
    (lines.join("\n"), exp)
}

fn window(n: i64) -> TimeWindow {
    TimeWindow::new(Timestamp(T0), Timestamp(T0 + n * STEP))
}

fn sorted(samples: &[Sample]) -> Vec<(Timestamp, Metric, f64)> {
    let mut v: Vec<_> = samples.iter().map(|s| (s.time, s.metric, s.value)).collect();
    v.sort_by_key(|a| (a.0, a.1));
    v
}

fn check(batch: &cad_core::MetricBatch, exp: &Expected, ids: &[ContainerId]) {
    for id in ids {
        let mut want = exp.get(id).cloned().unwrap_or_default();
        want.sort_by_key(|a| (a.0, a.1));
        let got = sorted(batch.samples(id));
        assert_eq!(got.len(), want.len(), "{id}: sample count");
        assert_eq!(got, want, "{id}");
    }
}

async fn server_with_db() -> Option<InfluxServer> {
    let s = InfluxServer::start().await?;
    s.create_database(DB).await;
    Some(s)
}

#[tokio::test]
async fn reads_back_telegraf_shaped_data() {
    let Some(server) = server_with_db().await else { return };
    let mut web = PodSpec::new("shop", "nginx-7f9c-x2", "uid-web", &["nginx", "istio-proxy"]);
    web.volumes = vec!["default-token-abcde", "html", "cache"];
    web.blkio = Blkio::PerDevice;
    let mut db = PodSpec::new("shop", "mysql-0", "uid-db", &["mysql"]);
    db.blkio = Blkio::TotalOnly;
    db.gappy = true;
    let mut pg = PodSpec::new("data", "postgres-0", "uid-pg", &["postgres"]);
    pg.blkio = Blkio::TotalAndDevices;
    pg.volumes.clear();
    let other = PodSpec::new("shop", "not-requested", "uid-x", &["app"]);
    let pods = [web, db, pg, other];
    let (lines, exp) = telegraf(&pods, 12, 7);
    server.write(DB, &lines).await;

    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).unwrap();
    // Ask for nginx but not its sidecar; every container of the other pods but `other`.
    let wanted = vec![
        pods[0].id.container("nginx"),
        pods[1].id.container("mysql"),
        pods[2].id.container("postgres"),
    ];
    let batch = source.fetch(&wanted, window(12)).await.unwrap();
    check(&batch, &exp, &wanted);
    assert_eq!(batch.len(), 3, "only requested containers are in the batch");
    assert!(batch.samples(&pods[0].id.container("istio-proxy")).is_empty());
    // Each measurement shows up: spot-check the pod-level and block-I/O metrics.
    let nginx = batch.samples(&wanted[0]);
    for m in [
        Metric::RxBytes,
        Metric::VolumeUsedBytes,
        Metric::BlkioReadBytes,
        Metric::CpuUsageNanocores,
    ] {
        assert_eq!(nginx.iter().filter(|s| s.metric == m).count(), 12, "{m}");
    }
    let mysql_rss = batch
        .samples(&wanted[1])
        .iter()
        .filter(|s| s.metric == Metric::MemoryRssBytes)
        .count();
    assert_eq!(mysql_rss, 6, "null fields are skipped, not read as zero");
    assert_eq!(source.request_count(), 1);
}

#[tokio::test]
async fn many_containers_cost_a_fixed_number_of_requests() {
    let Some(server) = server_with_db().await else { return };
    let pods: Vec<PodSpec> = (0..120)
        .map(|i| {
            let mut p = PodSpec::new("load", &format!("svc-{i}"), &format!("uid-{i}"), &["app", "sidecar"]);
            p.blkio = if i % 2 == 0 { Blkio::PerDevice } else { Blkio::None };
            p
        })
        .collect();
    let (lines, exp) = telegraf(&pods, 3, 11);
    server.write(DB, &lines).await;
    let ids: Vec<ContainerId> = pods.iter().flat_map(PodSpec::ids).collect();
    assert_eq!(ids.len(), 240);

    let default = InfluxMetricSource::new(server.config(DB, Arc::default())).unwrap();
    let batch = default.fetch(&ids, window(3)).await.unwrap();
    assert_eq!(
        default.request_count(),
        2,
        "240 containers of 120 pods in chunks of 100"
    );
    check(&batch, &exp, &ids);

    for (chunk, requests) in [(120, 1), (50, 3)] {
        let mut cfg = server.config(DB, Arc::default());
        cfg.chunk_size = chunk;
        let chunked = InfluxMetricSource::new(cfg).unwrap();
        let batch = chunked.fetch(&ids, window(3)).await.unwrap();
        assert_eq!(chunked.request_count(), requests, "120 pods in chunks of {chunk}");
        check(&batch, &exp, &ids);
    }
}

/// A window of 28 h at 10 s: more than 10,000 points of every series. InfluxDB
/// 1.6.7's plain answer marks such a series partial though it holds them all,
/// so `cad-collector --window 2d` failed as "truncated"; the adapter asks for
/// chunks and joins them.
#[tokio::test]
async fn series_of_more_than_10000_points_are_read_whole() {
    let Some(server) = server_with_db().await else { return };
    let mut with_blkio = PodSpec::new("long", "db-0", "uid-db", &["db"]);
    with_blkio.blkio = Blkio::PerDevice;
    let pods = [with_blkio, PodSpec::new("long", "web-0", "uid-web", &["web", "proxy"])];
    let n = 10_050;
    let (lines, exp) = telegraf(&pods, n, 5);
    let lines: Vec<&str> = lines.lines().collect();
    for part in lines.chunks(20_000) {
        server.write(DB, &part.join("\n")).await;
    }
    let ids: Vec<ContainerId> = pods.iter().flat_map(PodSpec::ids).collect();
    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).unwrap();
    let batch = source.fetch(&ids, window(n)).await.expect("a 28-hour window");
    assert_eq!(source.request_count(), 1);
    for id in &ids {
        assert!(
            batch.samples(id).len() > 10_000 * 8,
            "{id}: {}",
            batch.samples(id).len()
        );
    }
    check(&batch, &exp, &ids);
}

#[tokio::test]
async fn a_pod_too_big_for_one_request_is_sent_alone_and_read_back() {
    let Some(server) = server_with_db().await else { return };
    // 900 containers with long names: one pod's statements take well over
    // 64 KiB (the old GET's URL limit) and over the request cap set here.
    let names: Vec<&'static str> = (0..900)
        .map(|i| &*Box::leak(format!("sidecar-with-a-rather-long-container-name-{i:04}").into_boxed_str()))
        .collect();
    let mut big = PodSpec::new("load", "m-big-pod", "uid-big", &names);
    big.blkio = Blkio::PerDevice;
    // Requests follow pod names: the big pod comes between the small ones.
    let mut pods: Vec<PodSpec> = (0..30)
        .map(|i| {
            let name = format!("{}-small-{i:02}", if i < 15 { "a" } else { "z" });
            PodSpec::new("load", &name, &format!("uid-{i}"), &["app"])
        })
        .collect();
    pods.push(big);
    let (lines, exp) = telegraf(&pods, 2, 13);
    server.write(DB, &lines).await;
    let ids: Vec<ContainerId> = pods.iter().flat_map(PodSpec::ids).collect();

    let mut cfg = server.config(DB, Arc::default());
    cfg.max_request_bytes = 16 * 1024;
    let source = InfluxMetricSource::new(cfg).unwrap();
    let batch = source.fetch(&ids, window(2)).await.unwrap();
    check(&batch, &exp, &ids);
    assert_eq!(batch.unavailable_count(), 0);
    let traffic = source.traffic();
    assert!(traffic.largest_request_bytes > 64 * 1024, "{traffic:?}");
    // The big pod alone, and the 30 small ones before and after it in
    // requests under the cap.
    let small_requests = traffic.requests - 1;
    assert_eq!(small_requests, 2, "{traffic:?}");
    let small_bytes = traffic.bytes_sent - traffic.largest_request_bytes;
    assert!(small_bytes <= small_requests * 16 * 1024, "{traffic:?}");
}

#[tokio::test]
async fn wrong_password_is_denied_at_once_without_leaking_it() {
    let Some(server) = server_with_db().await else { return };
    const WRONG: &str = "Wr0ng-pa55-Zq9-not-the-one";
    let mut cfg = server.config(DB, Arc::default());
    cfg.auth = Auth::basic(common::ADMIN, WRONG);
    let config_debug = format!("{cfg:?}");
    let source = InfluxMetricSource::new(cfg).unwrap();
    let c = PodId::new("ns", "p", "u").container("c");
    let err = source.fetch(&[c], window(1)).await.unwrap_err();
    assert!(matches!(err, SourceError::Denied { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(source.request_count(), 1, "no retries on 401");
    let shown = format!("{err} | {err:?} | {config_debug} | {source:?}");
    assert!(!shown.contains(WRONG), "password leaked: {shown}");
    assert!(!shown.contains(common::ADMIN_PASSWORD), "{shown}");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(
        err.to_string().contains("password"),
        "message should say what to check: {err}"
    );
    // The start-up check says the same, in one request.
    let before = source.request_count();
    let err = source.check_credentials().await.unwrap_err();
    assert!(matches!(err, SourceError::Denied { .. }), "{err:?}");
    assert_eq!(source.request_count(), before + 1, "no retries on 401");
    // Right credentials pass it, also for a user who may only write (the
    // watcher's verdict writer) or only read.
    InfluxMetricSource::new(server.config(DB, Arc::default()))
        .unwrap()
        .check_credentials()
        .await
        .unwrap();
    for (user, right) in [("writer", "WRITE"), ("reader", "READ")] {
        server
            .admin_query(None, &format!("CREATE USER {user} WITH PASSWORD 'pw-{user}'"))
            .await;
        server
            .admin_query(None, &format!("GRANT {right} ON \"{DB}\" TO {user}"))
            .await;
        let mut cfg = server.config(DB, Arc::default());
        cfg.auth = Auth::basic(user, format!("pw-{user}"));
        InfluxMetricSource::new(cfg)
            .unwrap()
            .check_credentials()
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
    }

    // A token is sent as `Authorization: Token …`; InfluxDB 1.6 refuses it as well.
    let mut cfg = server.config(DB, Arc::default());
    cfg.auth = Auth::token(WRONG);
    let source = InfluxMetricSource::new(cfg).unwrap();
    let err = source.ping().await.and(Ok(())).and(
        source
            .fetch(&[PodId::new("a", "b", "c").container("d")], window(1))
            .await
            .map(|_| ()),
    );
    let err = err.unwrap_err();
    assert!(matches!(err, SourceError::Denied { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(WRONG));
}

#[tokio::test]
async fn server_stopped_then_restarted() {
    let Some(mut server) = server_with_db().await else {
        return;
    };
    let pods = [PodSpec::new("ns", "nginx-1", "u1", &["nginx"])];
    let (lines, exp) = telegraf(&pods, 4, 3);
    server.write(DB, &lines).await;
    let clock = Arc::new(RecordingClock::default());
    let source = InfluxMetricSource::new(server.config(DB, clock.clone())).unwrap();
    let ids = pods[0].ids();
    check(&source.fetch(&ids, window(4)).await.unwrap(), &exp, &ids);
    assert_eq!(source.request_count(), 1);

    server.stop();
    let err = source.fetch(&ids, window(4)).await.unwrap_err();
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(source.request_count(), 1 + 4, "4 attempts in all");
    let ms: Vec<u128> = clock.slept().iter().map(Duration::as_millis).collect();
    assert_eq!(ms, vec![100, 200, 400], "exponential backoff between attempts");
    // Each cause once: the message names the server, the chain the attempts
    // and the refused connection.
    let chain = cad_core::ErrorChain(&err).to_string();
    assert!(chain.contains("gave up after 4 attempt(s)"), "{chain}");
    assert!(!err.to_string().contains("attempt"), "{err}");
    assert_eq!(chain.matches("attempt").count(), 1, "{chain}");
    assert!(!chain.contains(common::ADMIN_PASSWORD));

    server.restart().await;
    let batch = source.fetch(&ids, window(4)).await.unwrap();
    check(&batch, &exp, &ids);
}

#[tokio::test]
async fn missing_measurements_and_fields_are_fine() {
    let Some(server) = server_with_db().await else { return };
    // Only a few container fields, no network, no volumes, no block I/O at all.
    server
        .write(
            DB,
            &format!(
                "kubernetes_pod_container,container_name=redis,namespace=cache,node_name=n1,pod_name=redis-0 memory_usage_bytes=7340032i,some_future_field=1i {}\n\
                 kubernetes_pod_container,container_name=redis,namespace=cache,node_name=n1,pod_name=redis-0 cpu_usage_nanocores=1200000i {}",
                T0 + 1_500,
                T0 + 11_200
            ),
        )
        .await;
    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).unwrap();
    let c = PodId::new("cache", "redis-0", "uid-r").container("redis");
    let batch = source.fetch(std::slice::from_ref(&c), window(2)).await.unwrap();
    assert_eq!(
        sorted(batch.samples(&c)),
        vec![
            (Timestamp(T0 + 1_500), Metric::MemoryUsageBytes, 7_340_032.0),
            (Timestamp(T0 + 11_200), Metric::CpuUsageNanocores, 1_200_000.0),
        ]
    );
    // A container nobody wrote anything for is simply absent.
    let none = PodId::new("cache", "ghost", "uid-g").container("x");
    let batch = source.fetch(std::slice::from_ref(&none), window(2)).await.unwrap();
    assert!(batch.samples(&none).is_empty());
    // So is everything in an empty database.
    server.create_database("empty").await;
    let empty = InfluxMetricSource::new(server.config("empty", Arc::default())).unwrap();
    assert!(empty.fetch(&[c], window(2)).await.unwrap().is_empty());
}

#[tokio::test]
async fn statement_errors_are_reported_not_dropped() {
    let Some(server) = server_with_db().await else { return };
    let source = InfluxMetricSource::new(server.config("no_such_db", Arc::default())).unwrap();
    let err = source
        .fetch(&[PodId::new("a", "b", "c").container("d")], window(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("no_such_db"), "names the database: {err}");
    assert_eq!(source.request_count(), 1, "a statement error is not retried");
}

#[tokio::test]
async fn hostile_names_inject_nothing() {
    let Some(server) = server_with_db().await else { return };
    let pods = [PodSpec::new("default", "web-1", "u-web", &["nginx"])];
    let (lines, exp) = telegraf(&pods, 3, 5);
    server.write(DB, &lines).await;
    // A pod whose (odd but writable) name looks like an injection, with real data.
    let mut odd = PodSpec::new(
        "odd-ns",
        "x' OR 1=1 --",
        "u-odd\"; DROP",
        &["c'; DROP DATABASE telegraf --"],
    );
    odd.blkio = Blkio::PerDevice;
    let (odd_lines, odd_exp) = telegraf(std::slice::from_ref(&odd), 3, 9);
    server.write(DB, &odd_lines).await;

    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).unwrap();
    let hostile = [
        "x' OR 1=1 --",
        "x' OR '1'='1",
        "\"; DROP DATABASE telegraf",
        "'; DROP DATABASE \"telegraf\"; --",
        "back\\slash\\",
        "\\' OR 1=1 --",
        "new\nline'; DROP DATABASE telegraf\n",
        "web-1' OR \"pod_name\" =~ /.*/ --",
    ];
    let ids: Vec<ContainerId> = hostile
        .iter()
        .flat_map(|h| {
            [
                PodId::new("default", *h, "u").container("nginx"),
                PodId::new(*h, "web-1", *h).container(*h),
                PodId::new("default", "nowhere", "u-none").container(*h),
            ]
        })
        .collect();
    let batch = source.fetch(&ids, window(3)).await.unwrap();
    assert_eq!(batch.sample_count(), 0, "hostile names match nothing");
    // A hostile container name in a real pod gets the pod's network and volume
    // samples (pod-level metrics go to every requested container) and nothing else.
    let in_web: Vec<ContainerId> = hostile.iter().map(|h| pods[0].id.container(*h)).collect();
    let batch = source.fetch(&in_web, window(3)).await.unwrap();
    for id in &in_web {
        let s = batch.samples(id);
        assert!(!s.is_empty(), "{id:?}");
        assert!(
            s.iter().all(|s| s.metric.scope() == cad_core::MetricScope::Pod),
            "{id:?}: {s:?}"
        );
    }
    assert!(
        server.databases().await.contains(&DB.to_owned()),
        "database still exists"
    );

    // The real pods read back intact, the odd one included.
    let mut all = pods[0].ids();
    all.extend(odd.ids());
    let batch = source.fetch(&all, window(3)).await.unwrap();
    check(&batch, &exp, &pods[0].ids());
    check(&batch, &odd_exp, &odd.ids());
    assert!(
        batch
            .samples(&odd.ids()[0])
            .iter()
            .any(|s| s.metric == Metric::BlkioWriteBytes)
    );
}

#[tokio::test]
async fn verdict_writer_round_trip() {
    let Some(server) = server_with_db().await else { return };
    let points = vec![
        VerdictPoint {
            namespace: "shop".into(),
            pod: "nginx-7f9c".into(),
            container: "nginx".into(),
            predicted: "mysql".into(),
            claimed: Some("nginx".into()),
            anomaly: true,
            kind: "impostor".into(),
            p_value: Some(0.004),
            confidence: 0.875,
            seconds_to_verdict: 42.5,
            time: Timestamp(T0 + 1),
        },
        VerdictPoint {
            namespace: "shop".into(),
            pod: "worker, no=claim".into(),
            container: "main app".into(),
            predicted: "apache".into(),
            claimed: None,
            anomaly: false,
            kind: "recognised".into(),
            p_value: None,
            confidence: 0.99,
            seconds_to_verdict: 61.0,
            time: Timestamp(T0 + 2),
        },
    ];
    let writer = InfluxVerdictWriter::new(server.config(DB, Arc::default())).unwrap();
    writer.write(&points).await.unwrap();
    assert_eq!(writer.request_count(), 1);

    let v = server
        .admin_query(
            Some(DB),
            "SELECT \"confidence\", \"p_value\", \"seconds_to_verdict\", \"namespace\", \"pod\", \"container\", \"predicted\", \"claimed\", \"anomaly\", \"kind\" FROM \"cad_verdict\"",
        )
        .await;
    let series = &v["results"][0]["series"][0];
    let cols: Vec<&str> = series["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let rows = series["values"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let col = |row: &serde_json::Value, name: &str| row[cols.iter().position(|c| *c == name).unwrap()].clone();
    for (row, p) in rows.iter().zip(&points) {
        assert_eq!(col(row, "time").as_i64(), Some(p.time.0));
        assert_eq!(col(row, "confidence").as_f64(), Some(p.confidence));
        assert_eq!(col(row, "p_value").as_f64(), p.p_value);
        assert_eq!(col(row, "kind").as_str(), Some(p.kind.as_str()));
        assert_eq!(col(row, "seconds_to_verdict").as_f64(), Some(p.seconds_to_verdict));
        assert_eq!(col(row, "namespace").as_str(), Some(p.namespace.as_str()));
        assert_eq!(col(row, "pod").as_str(), Some(p.pod.as_str()));
        assert_eq!(col(row, "container").as_str(), Some(p.container.as_str()));
        assert_eq!(col(row, "predicted").as_str(), Some(p.predicted.as_str()));
        assert_eq!(col(row, "claimed").as_str(), p.claimed.as_deref());
        assert_eq!(
            col(row, "anomaly").as_str(),
            Some(if p.anomaly { "true" } else { "false" })
        );
    }

    // The source's writer shares its client and counts requests with it.
    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).unwrap();
    source.verdict_writer().write(&points[..1]).await.unwrap();
    assert_eq!(source.request_count(), 1);
}

#[tokio::test]
async fn https_with_a_private_ca() {
    let certs = common::Certs::new();
    let Some(server) = InfluxServer::start_tls(&certs).await else {
        return;
    };
    assert!(server.url().starts_with("https://"), "{}", server.url());
    server.create_database(DB).await;
    let pods = [PodSpec::new("shop", "nginx-1", "uid-1", &["nginx"])];
    let (lines, exp) = telegraf(&pods, 6, 3);
    server.write(DB, &lines).await;
    let wanted = pods[0].ids();
    // Trusting the private CA, with or without a client certificate (InfluxDB
    // 1.x asks for none): reads, credentials and verdicts over HTTPS.
    for client in [false, true] {
        let config = server.config(DB, Arc::default()).with_tls(certs.tls(client));
        let source = InfluxMetricSource::new(config).expect("source");
        source.check_credentials().await.expect("credentials over HTTPS");
        let batch = source.fetch(&wanted, window(6)).await.expect("fetch over HTTPS");
        check(&batch, &exp, &wanted);
        source
            .verdict_writer()
            .write(&[VerdictPoint {
                time: Timestamp::from_millis(T0),
                namespace: "shop".into(),
                pod: "nginx-1".into(),
                container: "nginx".into(),
                predicted: "nginx".into(),
                claimed: Some("nginx".into()),
                anomaly: false,
                kind: "as_claimed".into(),
                p_value: Some(0.5),
                confidence: 0.9,
                seconds_to_verdict: 30.0,
            }])
            .await
            .expect("verdict over HTTPS");
    }
    // Another CA, or the system's roots: the handshake fails, which is a
    // refusal (no retries), and the error says what to check.
    let mut other_ca = certs.tls(false);
    other_ca.ca_file = Some(certs.path("other-ca.pem"));
    for (what, tls) in [("another CA", other_ca), ("the system's roots", Default::default())] {
        let clock = Arc::new(RecordingClock::default());
        let source = InfluxMetricSource::new(server.config(DB, clock.clone()).with_tls(tls)).expect("source");
        let err = source.fetch(&wanted, window(6)).await.expect_err(what);
        let text = common::chain(&err);
        assert!(matches!(err, SourceError::Denied { .. }), "{what}: {text}");
        assert!(text.contains("TLS") && text.contains("CA file"), "{what}: {text}");
        assert_eq!(source.request_count(), 1, "{what}: not retried");
        assert!(clock.slept().is_empty(), "{what}");
    }
}

/// One container of one pod incarnation, written for intervals `ks` (each
/// point at `T0 + k·STEP + 1 s`): `kubernetes_pod_container` always, and
/// where `uid` is set `docker_container_blkio` (a device and the total) with
/// the Docker labels Kubernetes sets.
struct Run {
    ns: &'static str,
    pod: &'static str,
    uid: Option<&'static str>,
    container: &'static str,
    image: &'static str,
    ks: std::ops::Range<i64>,
}

impl Run {
    fn time(k: i64) -> i64 {
        T0 + k * STEP + 1_000
    }

    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for k in self.ks.clone() {
            let t = Run::time(k);
            if self.container != "POD" {
                out.push(format!(
                    "kubernetes_pod_container,container_name={},namespace={},node_name=n1,pod_name={} memory_usage_bytes={}i,cpu_usage_nanocores={}i {t}",
                    self.container,
                    self.ns,
                    self.pod,
                    50_000_000 + k,
                    1_000_000 + k
                ));
            }
            if let Some(uid) = self.uid {
                for (dev, r) in [("8:0", 4096 * (k + 100)), ("total", 4096 * (k + 100) + 7)] {
                    out.push(format!(
                        "docker_container_blkio,container_image={img},container_name=k8s_{c}_{pod}_{ns}_{uid}_0,container_version=1.0,device={dev},io.kubernetes.container.name={c},io.kubernetes.pod.name={pod},io.kubernetes.pod.namespace={ns},io.kubernetes.pod.uid={uid} io_service_bytes_recursive_read={r}i,io_service_bytes_recursive_write={r}i {t}",
                        img = self.image,
                        c = self.container,
                        pod = self.pod,
                        ns = self.ns,
                    ));
                }
            }
        }
        out
    }

    /// The intervals of `ks` inside `window`.
    fn in_window(&self, w: TimeWindow) -> Vec<i64> {
        self.ks
            .clone()
            .filter(|k| w.contains(Timestamp(Run::time(*k))))
            .collect()
    }
}

/// `(namespace, pod, uid, container, first, last, image)` of each container seen.
type SeenRow = (String, String, String, String, i64, i64, Option<String>);

fn seen_rows(seen: &[cad_core::SeenContainer]) -> Vec<SeenRow> {
    seen.iter()
        .map(|c| {
            (
                c.id.pod.namespace.clone(),
                c.id.pod.name.clone(),
                c.id.pod.uid.clone(),
                c.id.container.clone(),
                c.first_sample.as_millis(),
                c.last_sample.as_millis(),
                c.image.clone(),
            )
        })
        .collect()
}

fn row(ns: &str, pod: &str, uid: &str, c: &str, ks: (i64, i64), image: Option<&str>) -> SeenRow {
    (
        ns.into(),
        pod.into(),
        uid.into(),
        c.into(),
        Run::time(ks.0),
        Run::time(ks.1),
        image.map(str::to_owned),
    )
}

/// A look-back of several days is asked for a day at a time
/// (`cad_influx::SEEN_SPAN`); a container with points on several days is
/// listed once, its first and last point joined across the requests, and a
/// pod recreated under the same name on another day keeps its UIDs apart.
#[tokio::test]
async fn containers_seen_joins_the_days_of_a_long_look_back() {
    let Some(server) = server_with_db().await else { return };
    assert_eq!(cad_influx::SEEN_SPAN, Duration::from_secs(86_400));
    let at = |days: f64| T0 + (days * 86_400_000.0) as i64;
    let (nginx, mariadb, mysql) = (
        "docker.io/library/nginx",
        "docker.io/library/mariadb",
        "docker.io/library/mysql",
    );
    // (namespace, pod, UID (None: no block I/O), container, image, days of its points)
    type DayRun<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, &'a str, &'a [f64]);
    let runs: [DayRun; 4] = [
        ("shop", "web-1", Some("uid-web"), "nginx", nginx, &[0.2, 1.5, 2.7]),
        ("data", "mysql-0", Some("uid-a"), "mysql", mariadb, &[0.1, 0.9]),
        ("data", "mysql-0", Some("uid-b"), "mysql", mysql, &[1.2, 2.5]),
        ("data", "old-0", None, "app", "", &[0.5, 2.5]),
    ];
    let mut lines = Vec::new();
    for (ns, pod, uid, c, image, days) in runs {
        for &d in days {
            let t = at(d);
            lines.push(format!(
                "kubernetes_pod_container,container_name={c},namespace={ns},node_name=n1,pod_name={pod} memory_usage_bytes=5i {t}"
            ));
            if let Some(uid) = uid {
                for dev in ["8:0", "total"] {
                    lines.push(format!(
                        "docker_container_blkio,container_image={image},container_name=k8s_{c}_{pod}_{ns}_{uid}_0,device={dev},io.kubernetes.container.name={c},io.kubernetes.pod.name={pod},io.kubernetes.pod.namespace={ns},io.kubernetes.pod.uid={uid} io_service_bytes_recursive_read=4096i {t}"
                    ));
                }
            }
        }
    }
    server.write(DB, &lines.join("\n")).await;
    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).unwrap();
    let look = TimeWindow::new(Timestamp(T0), Timestamp(at(3.0)));
    let mut got = seen_rows(&source.containers_seen(look).await.unwrap());
    assert_eq!(source.request_count(), 3, "a request a day");
    got.sort();
    let row = |ns: &str, pod: &str, uid: &str, c: &str, from: f64, to: f64, image: Option<&str>| -> SeenRow {
        (
            ns.into(),
            pod.into(),
            uid.into(),
            c.into(),
            at(from),
            at(to),
            image.map(Into::into),
        )
    };
    let mut want = vec![
        row("shop", "web-1", "uid-web", "nginx", 0.2, 2.7, Some(nginx)),
        row("data", "mysql-0", "uid-a", "mysql", 0.1, 0.9, Some(mariadb)),
        row("data", "mysql-0", "uid-b", "mysql", 1.2, 2.5, Some(mysql)),
        row("data", "old-0", "", "app", 0.5, 2.5, None),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn containers_seen_lists_past_pods_that_fetch_then_answers_to() {
    let Some(server) = server_with_db().await else { return };
    let run = |ns, pod, uid, container, image, ks| Run {
        ns,
        pod,
        uid,
        container,
        image,
        ks,
    };
    let nginx = "docker.io/library/nginx";
    let runs = [
        // Alive through the window, with a sidecar.
        run("shop", "web-1", Some("uid-web"), "nginx", nginx, 0..30),
        run(
            "shop",
            "web-1",
            Some("uid-web"),
            "istio-proxy",
            "docker.io/istio/proxyv2",
            0..30,
        ),
        run("shop", "web-1", Some("uid-web"), "POD", "registry.k8s.io/pause", 0..30),
        // A batch pod long gone.
        run(
            "shop",
            "batch-7",
            Some("uid-batch"),
            "worker",
            "registry.local:5000/team/worker",
            3..9,
        ),
        // A StatefulSet pod deleted and recreated under the same name.
        run(
            "data",
            "mysql-0",
            Some("uid-a"),
            "mysql",
            "docker.io/library/mariadb",
            0..10,
        ),
        run("data", "mysql-0", Some("uid-a"), "POD", "registry.k8s.io/pause", 0..10),
        run(
            "data",
            "mysql-0",
            Some("uid-b"),
            "mysql",
            "docker.io/library/mysql",
            14..30,
        ),
        run("data", "mysql-0", Some("uid-b"), "POD", "registry.k8s.io/pause", 13..30),
        // On a node without Docker: no block I/O, no UID.
        run("data", "old-0", None, "app", "", 2..6),
        // Started before the window.
        run("shop", "pre-1", Some("uid-pre"), "app", nginx, -5..4),
        // Only before the window, only after it.
        run("shop", "gone-0", Some("uid-gone"), "app", nginx, -10..-2),
        run("shop", "later-0", Some("uid-later"), "app", nginx, 30..33),
        // Two UIDs at the same time: cannot be told apart.
        run("odd", "dup-0", Some("uid-x"), "c", nginx, 0..20),
        run("odd", "dup-0", Some("uid-y"), "c", nginx, 10..30),
    ];
    let mut lines: Vec<String> = runs.iter().flat_map(Run::lines).collect();
    // A container Docker runs outside Kubernetes: no pod labels.
    lines.push(format!(
        "docker_container_blkio,container_image=telegraf,container_name=telegraf,device=total io_service_bytes_recursive_read=1i {}",
        Run::time(5)
    ));
    server.write(DB, &lines.join("\n")).await;

    let w = window(30);
    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).unwrap();
    let seen = source.containers_seen(w).await.unwrap();
    assert_eq!(source.request_count(), 1, "one request");
    let mut want = vec![
        row(
            "data",
            "mysql-0",
            "uid-a",
            "mysql",
            (0, 9),
            Some("docker.io/library/mariadb"),
        ),
        row(
            "data",
            "mysql-0",
            "uid-b",
            "mysql",
            (13, 29),
            Some("docker.io/library/mysql"),
        ),
        row("data", "old-0", "", "app", (2, 5), None),
        row("odd", "dup-0", "", "c", (0, 29), Some(nginx)),
        row(
            "shop",
            "batch-7",
            "uid-batch",
            "worker",
            (3, 8),
            Some("registry.local:5000/team/worker"),
        ),
        row("shop", "pre-1", "uid-pre", "app", (0, 3), Some(nginx)),
        row(
            "shop",
            "web-1",
            "uid-web",
            "istio-proxy",
            (0, 29),
            Some("docker.io/istio/proxyv2"),
        ),
        row("shop", "web-1", "uid-web", "nginx", (0, 29), Some(nginx)),
    ];
    // The recreated pod's second UID starts with its pause container (k = 13),
    // a scrape before mysql's first point: the boundary comes from the
    // block-I/O points, so mysql's first sample under uid-b is the pod's.
    want.sort();
    let mut got = seen_rows(&seen);
    got.sort();
    assert_eq!(got, want);
    assert!(seen.iter().all(|c| c.started.is_none()));

    // fetch answers to every id, block I/O included where the UID was found.
    let ids: Vec<ContainerId> = seen.iter().map(|c| c.id.clone()).collect();
    let batch = source.fetch(&ids, w).await.unwrap();
    let count =
        |b: &cad_core::MetricBatch, id: &ContainerId, m: Metric| b.samples(id).iter().filter(|s| s.metric == m).count();
    for c in &seen {
        let name_runs: Vec<&Run> = runs
            .iter()
            .filter(|r| r.ns == c.id.pod.namespace && r.pod == c.id.pod.name && r.container == c.id.container)
            .collect();
        // The container measurement is matched by names: every run of them.
        // (Runs writing the same series at the same time are one point.)
        let points = |w: TimeWindow| {
            let ks: std::collections::BTreeSet<i64> = name_runs.iter().flat_map(|r| r.in_window(w)).collect();
            ks.len()
        };
        let memory = points(w);
        assert_eq!(count(&batch, &c.id, Metric::MemoryUsageBytes), memory, "{}", c.id);
        // Block I/O by UID: only that run's, the total device once per time.
        let blkio = name_runs
            .iter()
            .filter(|r| !c.id.pod.uid.is_empty() && r.uid == Some(c.id.pod.uid.as_str()))
            .map(|r| r.in_window(w).len())
            .sum::<usize>();
        assert_eq!(count(&batch, &c.id, Metric::BlkioReadBytes), blkio, "{}", c.id);
        if !c.id.pod.uid.is_empty() {
            assert!(blkio > 0, "{}", c.id);
        }
        // Fetched over its own span, each incarnation gets its own samples.
        let own = TimeWindow::new(c.first_sample, c.last_sample + Duration::from_millis(1));
        let b = source.fetch(std::slice::from_ref(&c.id), own).await.unwrap();
        let own_memory = points(own);
        assert_eq!(count(&b, &c.id, Metric::MemoryUsageBytes), own_memory, "{}", c.id);
        let first = b.samples(&c.id).iter().map(|s| s.time).min();
        let last = b.samples(&c.id).iter().map(|s| s.time).max();
        assert_eq!(last, Some(c.last_sample), "{}", c.id);
        if c.id == PodId::new("data", "mysql-0", "uid-b").container("mysql") {
            // Its span starts at the pod's first block-I/O point (the pause
            // container's), a scrape before mysql's own first point.
            assert_eq!(first, Some(Timestamp(Run::time(14))));
        } else {
            assert_eq!(first, Some(c.first_sample), "{}", c.id);
        }
    }
    let mysql_b = PodId::new("data", "mysql-0", "uid-b").container("mysql");
    assert_eq!(count(&batch, &mysql_b, Metric::BlkioReadBytes), 16);
    let b = source
        .fetch(
            std::slice::from_ref(&mysql_b),
            TimeWindow::new(Timestamp(Run::time(13)), Timestamp(Run::time(29) + 1)),
        )
        .await
        .unwrap();
    assert_eq!(
        count(&b, &mysql_b, Metric::MemoryUsageBytes),
        16,
        "mysql's own points only"
    );

    // A later window sees only what has points in it: the recreated pod has
    // one UID there, the batch pod is gone.
    let late = TimeWindow::new(Timestamp(T0 + 12 * STEP), w.end);
    let mut got = seen_rows(&source.containers_seen(late).await.unwrap());
    got.sort();
    let mut want = vec![
        row(
            "data",
            "mysql-0",
            "uid-b",
            "mysql",
            (14, 29),
            Some("docker.io/library/mysql"),
        ),
        row("odd", "dup-0", "", "c", (12, 29), Some(nginx)),
        row(
            "shop",
            "web-1",
            "uid-web",
            "istio-proxy",
            (12, 29),
            Some("docker.io/istio/proxyv2"),
        ),
        row("shop", "web-1", "uid-web", "nginx", (12, 29), Some(nginx)),
    ];
    want.sort();
    assert_eq!(got, want);

    // Without the block-I/O measurement in the schema: names only.
    let mut cfg = server.config(DB, Arc::default());
    cfg.schema.blkio = None;
    let names_only = InfluxMetricSource::new(cfg).unwrap();
    let seen = names_only.containers_seen(w).await.unwrap();
    let mut got: Vec<(String, String, String, i64, i64)> = seen
        .iter()
        .map(|c| {
            assert!(c.id.pod.uid.is_empty() && c.image.is_none(), "{c:?}");
            (
                c.id.pod.namespace.clone(),
                c.id.pod.name.clone(),
                c.id.container.clone(),
                c.first_sample.as_millis(),
                c.last_sample.as_millis(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got.iter()
            .map(|g| format!("{}/{}/{}", g.0, g.1, g.2))
            .collect::<Vec<_>>(),
        [
            "data/mysql-0/mysql",
            "data/old-0/app",
            "odd/dup-0/c",
            "shop/batch-7/worker",
            "shop/pre-1/app",
            "shop/web-1/istio-proxy",
            "shop/web-1/nginx",
        ]
    );
    assert_eq!((got[0].3, got[0].4), (Run::time(0), Run::time(29)));

    // An empty database has none; a missing one is an error, not retried; an
    // empty window asks nothing.
    server.create_database("empty").await;
    let empty = InfluxMetricSource::new(server.config("empty", Arc::default())).unwrap();
    assert!(empty.containers_seen(w).await.unwrap().is_empty());
    let missing = InfluxMetricSource::new(server.config("no_such_db", Arc::default())).unwrap();
    let err = missing.containers_seen(w).await.unwrap_err();
    assert!(matches!(err, SourceError::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("no_such_db"), "{err}");
    assert_eq!(missing.request_count(), 1);
    let before = source.request_count();
    let none = TimeWindow::new(w.start, w.start);
    assert!(source.containers_seen(none).await.unwrap().is_empty());
    assert_eq!(source.request_count(), before);
}
