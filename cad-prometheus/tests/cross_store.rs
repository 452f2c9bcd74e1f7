//! The same behaviour data, written to InfluxDB as Telegraf writes it and to
//! Prometheus and VictoriaMetrics as cAdvisor and kube-state-metrics expose
//! it, gives the same samples and the same `behaviour` feature rows through
//! cad-influx and cad-prometheus.

mod common;

use cad_core::{ContainerId, ContainerInput, FeatureSet, Metric, MetricSource, TimeWindow, Timestamp};
use cad_influx::InfluxMetricSource;
use cad_prometheus::PrometheusMetricSource;
use cad_sim::{PodSpec, SimCluster, SimConfig};
use common::cluster::{cadvisor_series, canonical, telegraf_lines};
use common::influx::InfluxServer;
use common::influx::load::ManualClock;
use common::{PromOptions, PromServer, RecordingClock, VmOptions, VmServer, flatten};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_data_gives_the_same_rows_through_influxdb_prometheus_and_victoria_metrics() {
    let t0 = common::data_start();
    // The behaviour of five classes of service, two pods each, from the simulator.
    let clock = Arc::new(ManualClock::new(t0));
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
                let m = column.feature.metric().expect("behaviour columns read metrics");
                assert_eq!(v.is_some(), has(m), "{id}: {}", column.name);
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
