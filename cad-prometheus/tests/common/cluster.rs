//! One cluster's data as each store holds it: Telegraf's lines for InfluxDB,
//! cAdvisor's and kube-state-metrics' series for Prometheus and
//! VictoriaMetrics, from the same samples.

use super::SeriesData;
use cad_core::{ContainerId, Metric, PodInfo, Timestamp};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Samples per container as `(ms, metric, value)`, sorted by time and metric.
pub type Data = BTreeMap<ContainerId, Vec<(i64, Metric, f64)>>;

/// What cAdvisor can express of one container's samples: everything but the
/// logs file system (no series) and the nanocores gauge, which is recomputed
/// from the counter as the kubelet computes it (and as Telegraf then reads
/// it from the summary API). Values are whole numbers, as the kernel's are;
/// core-nanoseconds whole microseconds, so that VictoriaMetrics, which keeps
/// about 12 significant digits, stores the seconds exactly.
pub fn canonical(samples: &[cad_core::Sample]) -> Vec<(i64, Metric, f64)> {
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
pub fn telegraf_lines(pods: &[PodInfo], data: &Data) -> String {
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
pub fn cadvisor_series(pods: &[PodInfo], data: &Data) -> Vec<SeriesData> {
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
