//! The same behaviour data, written to InfluxDB as Telegraf writes it and to
//! Prometheus and VictoriaMetrics as cAdvisor and kube-state-metrics expose
//! it, gives the same samples and the same `behaviour` feature rows through
//! cad-influx and cad-prometheus.

mod common;

use cad_core::{Clock, ContainerId, ContainerInput, FeatureSet, Metric, MetricSource, PodInfo, TimeWindow, Timestamp};
use cad_influx::InfluxMetricSource;
use cad_prometheus::PrometheusMetricSource;
use cad_sim::{PodSpec, SimCluster, SimConfig};
use common::influx::InfluxServer;
use common::{PromOptions, PromServer, RecordingClock, SeriesData, VmOptions, VmServer, flatten};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A clock the test sets by hand; waits return at once.
struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn sleep_until(&self, _deadline: Timestamp) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// What cAdvisor can express of one container's samples: everything but the
/// logs file system (no series) and the nanocores gauge, which is recomputed
/// from the counter as the kubelet computes it (and as Telegraf then reads
/// it from the summary API). Values are whole numbers, as the kernel's are;
/// core-nanoseconds whole microseconds, so that VictoriaMetrics, which keeps
/// about 12 significant digits, stores the seconds exactly.
fn canonical(samples: &[cad_core::Sample]) -> Vec<(i64, Metric, f64)> {
    let mut out: Vec<(i64, Metric, f64)> = samples
        .iter()
        .filter(|s| !matches!(s.metric, Metric::LogsfsUsedBytes | Metric::CpuUsageNanocores))
        .map(|s| {
            let v = match s.metric {
                Metric::CpuUsageCoreNanoseconds => (s.value / 1000.0).round() * 1000.0,
                _ => s.value.round(),
            };
            (s.time.as_millis(), s.metric, v)
        })
        .collect();
    out.sort_by_key(|s| (s.0, s.1));
    let counter: Vec<(i64, f64)> = out
        .iter()
        .filter(|s| s.1 == Metric::CpuUsageCoreNanoseconds)
        .map(|s| (s.0, s.2))
        .collect();
    for w in counter.windows(2) {
        let ((t0, v0), (t1, v1)) = (w[0], w[1]);
        if v1 >= v0 && t1 > t0 {
            out.push((t1, Metric::CpuUsageNanocores, (v1 - v0) / ((t1 - t0) as f64 / 1000.0)));
        }
    }
    out.sort_by_key(|s| (s.0, s.1));
    out
}

/// Line-protocol escaping of a tag value.
fn tag(s: &str) -> String {
    s.replace(',', "\\,").replace('=', "\\=").replace(' ', "\\ ")
}

const POD_LEVEL: [Metric; 5] = [
    Metric::RxBytes,
    Metric::TxBytes,
    Metric::RxErrors,
    Metric::TxErrors,
    Metric::VolumeUsedBytes,
];

/// Telegraf's lines for the data (one line per measurement and time).
fn telegraf_lines(pods: &[PodInfo], data: &BTreeMap<ContainerId, Vec<(i64, Metric, f64)>>) -> String {
    let mut lines = String::new();
    for pod in pods {
        let (ns, name, uid) = (tag(&pod.id.namespace), tag(&pod.id.name), tag(&pod.id.uid));
        let mut pod_level: BTreeMap<(i64, &str), Vec<(Metric, f64)>> = BTreeMap::new();
        for c in &pod.containers {
            let id = pod.id.container(c.name.clone());
            let mut container: BTreeMap<(i64, &str), Vec<(Metric, f64)>> = BTreeMap::new();
            for &(t, m, v) in data.get(&id).into_iter().flatten() {
                let measurement = match m {
                    Metric::RxBytes | Metric::TxBytes | Metric::RxErrors | Metric::TxErrors => "kubernetes_pod_network",
                    Metric::VolumeUsedBytes => "kubernetes_pod_volume",
                    Metric::BlkioReadBytes | Metric::BlkioWriteBytes => "docker_container_blkio",
                    _ => "kubernetes_pod_container",
                };
                if POD_LEVEL.contains(&m) {
                    pod_level.entry((t, measurement)).or_default().push((m, v));
                } else {
                    container.entry((t, measurement)).or_default().push((m, v));
                }
            }
            let cn = tag(&c.name);
            for ((t, measurement), fields) in container {
                let tags = if measurement == "docker_container_blkio" {
                    format!("io.kubernetes.pod.uid={uid},io.kubernetes.container.name={cn},device=total")
                } else {
                    format!("namespace={ns},pod_name={name},container_name={cn}")
                };
                let fields: Vec<String> = fields.iter().map(|(m, v)| format!("{}={v}", m.name())).collect();
                let _ = writeln!(lines, "{measurement},{tags} {} {t}", fields.join(","));
            }
        }
        // Pod-level samples come once per container from the sim; write them once.
        for ((t, measurement), mut fields) in pod_level {
            fields.sort_by_key(|f| f.0);
            fields.dedup_by_key(|f| f.0);
            let extra = if measurement == "kubernetes_pod_volume" {
                ",volume_name=data"
            } else {
                ""
            };
            let fields: Vec<String> = fields.iter().map(|(m, v)| format!("{}={v}", m.name())).collect();
            let _ = writeln!(
                lines,
                "{measurement},namespace={ns},pod_name={name}{extra} {} {t}",
                fields.join(",")
            );
        }
    }
    lines
}

/// cAdvisor's and kube-state-metrics' series for the data.
fn cadvisor_series(pods: &[PodInfo], data: &BTreeMap<ContainerId, Vec<(i64, Metric, f64)>>) -> Vec<SeriesData> {
    let mut out = Vec::new();
    for pod in pods {
        let (ns, name) = (pod.id.namespace.as_str(), pod.id.name.as_str());
        let claim = format!("data-{name}");
        let mut pod_level: BTreeMap<(Metric, i64), f64> = BTreeMap::new();
        for c in &pod.containers {
            let id = pod.id.container(c.name.clone());
            let mut by_series: BTreeMap<(&str, &str), SeriesData> = BTreeMap::new();
            let base = [
                ("namespace", ns),
                ("pod", name),
                ("container", c.name.as_str()),
                ("image", c.image.as_str()),
            ];
            let mut push = |series: &'static str, key: &'static str, extra: &[(&str, &str)], t: i64, v: f64| {
                by_series
                    .entry((series, key))
                    .or_insert_with(|| {
                        let mut labels = base.to_vec();
                        labels.extend_from_slice(extra);
                        SeriesData::new(series, &labels)
                    })
                    .points
                    .push((t, v));
            };
            for &(t, m, v) in data.get(&id).into_iter().flatten() {
                match m {
                    Metric::CpuUsageCoreNanoseconds => {
                        push("container_cpu_usage_seconds_total", "", &[("cpu", "total")], t, v / 1e9)
                    }
                    Metric::MemoryUsageBytes => push("container_memory_usage_bytes", "", &[], t, v),
                    Metric::MemoryWorkingSetBytes => push("container_memory_working_set_bytes", "", &[], t, v),
                    Metric::MemoryRssBytes => push("container_memory_rss", "", &[], t, v),
                    Metric::MemoryPageFaults => push(
                        "container_memory_failures_total",
                        "pgfault",
                        &[("failure_type", "pgfault"), ("scope", "container")],
                        t,
                        v,
                    ),
                    Metric::MemoryMajorPageFaults => push(
                        "container_memory_failures_total",
                        "pgmajfault",
                        &[("failure_type", "pgmajfault"), ("scope", "container")],
                        t,
                        v,
                    ),
                    Metric::RootfsUsedBytes => push("container_fs_usage_bytes", "", &[("device", "/dev/vda1")], t, v),
                    // Two devices, summed back by the source.
                    Metric::BlkioReadBytes | Metric::BlkioWriteBytes => {
                        let series = if m == Metric::BlkioReadBytes {
                            "container_fs_reads_bytes_total"
                        } else {
                            "container_fs_writes_bytes_total"
                        };
                        let a = (v / 3.0).floor();
                        push(series, "vda", &[("device", "/dev/vda")], t, a);
                        push(series, "vdb", &[("device", "/dev/vdb")], t, v - a);
                    }
                    Metric::CpuUsageNanocores => {} // derived by the source
                    m if POD_LEVEL.contains(&m) => {
                        pod_level.insert((m, t), v);
                    }
                    _ => {}
                }
            }
            out.extend(by_series.into_values());
        }
        let sandbox = |series: &str| {
            SeriesData::new(
                series,
                &[
                    ("namespace", ns),
                    ("pod", name),
                    ("container", ""),
                    ("image", "registry.k8s.io/pause:3.9"),
                    ("interface", "eth0"),
                ],
            )
        };
        let mut series: BTreeMap<Metric, SeriesData> = BTreeMap::new();
        for ((m, t), v) in pod_level {
            let s = series.entry(m).or_insert_with(|| match m {
                Metric::RxBytes => sandbox("container_network_receive_bytes_total"),
                Metric::TxBytes => sandbox("container_network_transmit_bytes_total"),
                Metric::RxErrors => sandbox("container_network_receive_errors_total"),
                Metric::TxErrors => sandbox("container_network_transmit_errors_total"),
                _ => SeriesData::new(
                    "kubelet_volume_stats_used_bytes",
                    &[("namespace", ns), ("persistentvolumeclaim", &claim)],
                ),
            });
            s.points.push((t, v));
        }
        out.extend(series.into_values());
        // kube-state-metrics, scraped every 30 s: the pod mounts its claim.
        let start = pod.start_time.map_or(0, Timestamp::as_millis);
        out.push(
            SeriesData::new(
                "kube_pod_spec_volumes_persistentvolumeclaims_info",
                &[
                    ("namespace", ns),
                    ("pod", name),
                    ("volume", "data"),
                    ("persistentvolumeclaim", &claim),
                ],
            )
            .points((0..30).map(|k| (start + k * 30_000 + 123, 1.0))),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_data_gives_the_same_rows_through_influxdb_prometheus_and_victoria_metrics() {
    let t0 = common::data_start();
    // The behaviour of five classes of service, two pods each, from the simulator.
    let clock = Arc::new(ManualClock(Mutex::new(t0)));
    let sim = SimCluster::new(SimConfig::default().with_seed(19).without_churn(), clock.clone());
    let mut pods = Vec::new();
    for class in sim.class_names() {
        for i in 0..2 {
            pods.push(sim.spawn(PodSpec::new(class.clone()).in_namespace(format!("team-{i}"))));
        }
    }
    pods.push(sim.spawn(PodSpec::impostor("nginx", "mysql").in_namespace("team-0")));
    let end = t0 + Duration::from_secs(12 * 60);
    clock.set(end);
    let ids: Vec<ContainerId> = pods
        .iter()
        .flat_map(|p| p.container_ids().collect::<Vec<_>>())
        .collect();
    let truth = sim
        .fetch(&ids, TimeWindow::new(t0, end))
        .await
        .expect("simulated samples");
    let data: BTreeMap<ContainerId, Vec<(i64, Metric, f64)>> = ids
        .iter()
        .map(|id| (id.clone(), canonical(truth.samples(id))))
        .collect();
    let written: usize = data.values().map(Vec::len).sum();
    assert!(written > 1000, "the simulator gave {written} samples");

    // The window starts two minutes in: the first CPU sample in it needs
    // the one before it for its nanocores.
    let window = TimeWindow::new(t0 + Duration::from_secs(120), end);
    let mut want: BTreeMap<ContainerId, Vec<(i64, Metric, f64)>> = BTreeMap::new();
    for (id, v) in &data {
        let inside: Vec<_> = v
            .iter()
            .copied()
            .filter(|s| window.contains(Timestamp::from_millis(s.0)))
            .collect();
        if !inside.is_empty() {
            want.insert(id.clone(), inside);
        }
    }

    let Some(influx) = InfluxServer::start().await else {
        return;
    };
    influx.create_database("telegraf").await;
    influx.write("telegraf", &telegraf_lines(&pods, &data)).await;
    let series = cadvisor_series(&pods, &data);
    let Some(prom) = PromServer::start(&series, PromOptions::default()).await else {
        return;
    };
    let Some(vm) = VmServer::start(VmOptions::default()).await else {
        return;
    };
    vm.import(&series).await;

    let rclock = Arc::new(RecordingClock::default());
    let influx_source = InfluxMetricSource::new(influx.config("telegraf", rclock.clone())).expect("influx source");
    let mut stores: Vec<(&str, Box<dyn MetricSource>)> = vec![("influxdb", Box::new(influx_source))];
    for (store, url) in [("prometheus", prom.url()), ("victoria-metrics", vm.url())] {
        let source = PrometheusMetricSource::new(common::config(&url, rclock.clone())).expect("source");
        stores.push((store, Box::new(source)));
    }
    let set = FeatureSet::behaviour();
    let mut all_rows: Vec<(&str, BTreeMap<ContainerId, Vec<cad_core::FeatureRow>>)> = Vec::new();
    for (store, source) in &stores {
        let batch = source
            .fetch(&ids, window)
            .await
            .unwrap_or_else(|e| panic!("{store}: {e}"));
        let got = flatten(&batch);
        for (id, w) in &want {
            let g = got.get(id).map(Vec::as_slice).unwrap_or(&[]);
            for m in Metric::ALL {
                let gm: Vec<_> = g.iter().filter(|s| s.1 == *m).collect();
                let wm: Vec<_> = w.iter().filter(|s| s.1 == *m).collect();
                assert_eq!(gm, wm, "{store}: {id} {m}");
            }
        }
        let mut rows = BTreeMap::new();
        for pod in &pods {
            for c in &pod.containers {
                let id = pod.id.container(c.name.clone());
                let input = ContainerInput {
                    pod,
                    container: c,
                    samples: batch.samples(&id),
                };
                rows.insert(id, set.rows(&input));
            }
        }
        all_rows.push((store, rows));
    }
    let (_, reference) = &all_rows[0];
    let n_rows: usize = reference.values().map(Vec::len).sum();
    let filled = reference
        .values()
        .flatten()
        .flat_map(|r| r.iter())
        .filter(|v| v.is_some())
        .count();
    // Written to stderr directly: libtest captures println! of passing tests.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "{} containers, {written} samples written per store, {n_rows} behaviour rows with {filled} values, equal through {}",
        ids.len(),
        all_rows.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
    );
    assert!(n_rows >= ids.len() * 40, "{n_rows} rows");
    for (store, rows) in &all_rows[1..] {
        for (id, r) in reference {
            assert_eq!(rows.get(id), Some(r), "{store}: rows of {id}");
        }
    }
    // Every column whose metric the data has is filled in every row (logs
    // file-system usage has no cAdvisor series; some classes mount no volume).
    for (id, rows) in reference {
        let has = |m: Metric| want.get(id).is_some_and(|v| v.iter().any(|s| s.1 == m));
        for row in rows {
            for (column, v) in set.columns.iter().zip(row.iter()) {
                match column.feature.metrics() {
                    [Some(m), None] => assert_eq!(v.is_some(), has(m), "{id}: {}", column.name),
                    // A ratio is missing with either metric, and with a zero
                    // denominator (nothing received, written or sent).
                    [Some(a), Some(b)] if !(has(a) && has(b)) => assert_eq!(*v, None, "{id}: {}", column.name),
                    [Some(_), Some(_)] => {}
                    other => panic!("{}: behaviour columns read metrics, not {other:?}", column.name),
                }
            }
        }
    }
    let volumes = reference
        .keys()
        .filter(|id| want[*id].iter().any(|s| s.1 == Metric::VolumeUsedBytes));
    assert!(
        volumes.count() >= 4,
        "pods with persistent volumes are part of the data"
    );
}
