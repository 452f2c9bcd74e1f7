//! The recordings of real servers in `data/recordings/` (see its README) read
//! through the CSV metric source and hold what the README says: every
//! instance, every fetched metric at a 10 s interval for the recorded
//! duration, counters that never go back, and values the kubelet's own
//! rules allow. A sanity check of the data set, not a claim about accuracy.

mod common;

use cad_core::{ContainerId, FeatureSet, Metric, MetricKind, MetricSource, TimeWindow, Timestamp};
use cad_examples::csv_source::CsvMetricSource;
use common::{Instance, by_metric, dir, instances};
use std::collections::BTreeMap;

#[test]
fn the_committed_set_stays_small() {
    let total: u64 = std::fs::read_dir(dir())
        .expect("data/recordings")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    assert!(
        total <= 4 * 1024 * 1024,
        "data/recordings holds {total} bytes, more than 4 MiB"
    );
}

#[tokio::test]
async fn recordings_hold_every_instance_and_metric() {
    let instances = instances();
    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &instances {
        *per_class.entry(i.class.as_str()).or_default() += 1;
    }
    let expected = [
        ("apache", 5),
        ("memcached", 4),
        ("mysql", 5),
        ("nginx", 5),
        ("postgresql", 5),
        ("rabbitmq", 3),
        ("redis", 4),
        ("tomcat", 3),
    ];
    assert_eq!(per_class.into_iter().collect::<Vec<_>>(), expected);

    let ids: Vec<ContainerId> = instances.iter().map(Instance::id).collect();
    let first = instances.iter().map(|i| i.start_ms).min().expect("instances");
    let last = instances
        .iter()
        .map(|i| i.start_ms + i.duration_s * 1000)
        .max()
        .expect("instances");
    let window = TimeWindow::new(Timestamp(first), Timestamp(last));
    let batch = CsvMetricSource::new(dir().join("samples.csv"))
        .fetch(&ids, window)
        .await
        .expect("samples.csv parses");
    let lines = std::fs::read_to_string(dir().join("samples.csv"))
        .expect("samples.csv")
        .lines()
        .count();
    assert_eq!(
        batch.sample_count(),
        lines - 1,
        "every sample belongs to a listed instance"
    );

    for (inst, id) in instances.iter().zip(&ids) {
        let series = by_metric(batch.samples(id));
        // One sample every 10 s from 0 s up to the duration.
        let expected_samples = inst.duration_s / 10;
        for metric in Metric::fetched() {
            let points = series
                .get(&metric)
                .unwrap_or_else(|| panic!("{}: no {metric}", inst.pod));
            // The CPU rate needs two readings, so it has one sample fewer.
            assert!(
                points.len() as i64 >= expected_samples - 1 && points.len() as i64 <= expected_samples,
                "{}: {} samples of {metric}, expected about {expected_samples}",
                inst.pod,
                points.len()
            );
            for w in points.windows(2) {
                let gap = w[1].0 - w[0].0;
                assert!(
                    (9_000..=12_000).contains(&gap),
                    "{}: {metric} samples {gap} ms apart",
                    inst.pod
                );
                if metric.kind() == MetricKind::Counter {
                    assert!(w[1].1 >= w[0].1, "{}: counter {metric} went back", inst.pod);
                }
            }
            assert!(
                points.iter().all(|p| p.1.is_finite() && p.1 >= 0.0),
                "{}: {metric}",
                inst.pod
            );
            assert!(
                points.first().expect("points").0 >= inst.start_ms
                    && points.last().expect("points").0 < inst.start_ms + inst.duration_s * 1000,
                "{}: {metric} sampled outside the instance's run",
                inst.pod
            );
        }
        // The kubelet's rules: working set and RSS never exceed usage.
        let usage = &series[&Metric::MemoryUsageBytes];
        for other in [Metric::MemoryWorkingSetBytes, Metric::MemoryRssBytes] {
            for (u, o) in usage.iter().zip(&series[&other]) {
                assert!(o.1 <= u.1, "{}: {other} {} above usage {}", inst.pod, o.1, u.1);
            }
        }
        // nanocores is the rate of the CPU counter between two readings (the
        // recorder times the readings with a monotonic clock, the samples carry
        // wall-clock milliseconds: allow a little slack).
        let cpu = &series[&Metric::CpuUsageCoreNanoseconds];
        let nanocores: BTreeMap<i64, f64> = series[&Metric::CpuUsageNanocores].iter().copied().collect();
        for w in cpu.windows(2) {
            let rate = (w[1].1 - w[0].1) / ((w[1].0 - w[0].0) as f64 / 1000.0);
            let got = nanocores[&w[1].0];
            assert!(
                (got - rate).abs() <= 0.03 * rate + 1e5,
                "{}: nanocores {got} vs counter rate {rate}",
                inst.pod
            );
        }
    }
}

#[tokio::test]
async fn the_behaviour_features_read_every_recording() {
    let set = FeatureSet::behaviour();
    let all = cad_examples::recordings::rows(&dir(), &set).await.expect("recordings");
    assert_eq!(all.len(), instances().len());
    for (inst, rows) in &all {
        // A window of 3 snapshots over about 90 snapshots.
        assert!(rows.len() >= 20, "{}: {} feature rows", inst.pod, rows.len());
        for row in rows {
            assert_eq!(row.len(), set.column_names().len());
            assert!(row.iter().flatten().all(|v| v.is_finite()), "{}: {row:?}", inst.pod);
            let present = row.iter().filter(|v| v.is_some()).count();
            assert!(
                present * 10 >= row.len() * 9,
                "{}: most columns missing in {row:?}",
                inst.pod
            );
        }
    }
}
