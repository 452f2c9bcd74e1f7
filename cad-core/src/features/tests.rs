//! Tests of alignment and extraction through the public API.

use super::*;
use crate::metric::Metric::*;
use crate::pod::PodId;
use crate::time::Timestamp;
use proptest::prelude::*;

fn pod(start: Option<i64>) -> PodInfo {
    let mut p = PodInfo::new(PodId::new("shop", "mysql-0", "uid-1"));
    p.start_time = start.map(Timestamp);
    p
}

fn container(image_size: Option<u64>) -> ContainerInfo {
    let mut c = ContainerInfo::new("mysql", "mysql:8.0");
    c.image_size_bytes = image_size;
    c
}

fn s(t: i64, m: Metric, v: f64) -> Sample {
    Sample::new(Timestamp(t), m, v)
}

fn col(set: &FeatureSet, name: &str) -> usize {
    set.column_names()
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// One Telegraf scrape: container metrics, network a bit later, blkio later still.
fn scrape(t: i64, jitter_net: i64, jitter_blk: i64, k: f64) -> Vec<Sample> {
    vec![
        s(t, MemoryUsageBytes, 1000.0 * k),
        s(t, CpuUsageNanocores, 10.0 * k),
        s(t, CpuUsageCoreNanoseconds, 1e9 * k),
        s(t + jitter_net, RxBytes, 100.0 * k),
        s(t + jitter_net, TxBytes, 50.0 * k),
        s(t + jitter_blk, BlkioReadBytes, 7.0 * k),
        s(t + jitter_blk, BlkioWriteBytes, 3.0 * k),
    ]
}

#[test]
fn jittered_measurements_align_into_one_snapshot_per_scrape() {
    let jitters = [(1500, 800), (200, 1900), (0, 0), (1999, 1), (700, 1200), (40, 1600)];
    let mut samples: Vec<Sample> = jitters
        .iter()
        .enumerate()
        .flat_map(|(i, (n, b))| scrape(i as i64 * 10_000 + 50, *n, *b, i as f64 + 1.0))
        .collect();
    samples.reverse();
    samples.swap(3, 17);
    let (p, c) = (pod(None), container(None));
    let input = ContainerInput {
        pod: &p,
        container: &c,
        samples: &samples,
    };
    let set = FeatureSet::behaviour();
    let snaps = set.snapshots(&input);
    assert_eq!(snaps.len(), 6);
    for (i, snap) in snaps.iter().enumerate() {
        let k = i as f64 + 1.0;
        assert_eq!(snap.time, Timestamp(i as i64 * 10_000 + 50));
        assert_eq!(snap.get(MemoryUsageBytes), Some(1000.0 * k));
        assert_eq!(snap.get(RxBytes), Some(100.0 * k));
        assert_eq!(snap.get(BlkioWriteBytes), Some(3.0 * k));
        assert_eq!(snap.get(MemoryRssBytes), None);
    }
    assert_eq!(set.complete_snapshots(&input), 6);
    // A row starts at every snapshot that has a full window after it.
    assert_eq!(set.rows(&input).len(), 6 - set.window + 1);
}

#[test]
fn tolerance_and_repeated_metrics_split_snapshots() {
    let (p, c) = (pod(None), container(None));
    let samples = [
        s(0, MemoryUsageBytes, 1.0),
        s(5_000, CpuUsageNanocores, 1.0), // exactly at the tolerance: joins
        s(5_001, RxBytes, 1.0),           // beyond it: new snapshot
        s(5_002, MemoryUsageBytes, 2.0),  // joins the second
        s(5_003, MemoryUsageBytes, 3.0),  // repeated metric: third snapshot
        s(5_003, MemoryUsageBytes, 4.0),  // exact duplicate: last value wins
    ];
    let input = ContainerInput {
        pod: &p,
        container: &c,
        samples: &samples,
    };
    let snaps = FeatureSet::behaviour().snapshots(&input);
    let times: Vec<_> = snaps.iter().map(|s| s.time.0).collect();
    assert_eq!(times, [0, 5_001, 5_003]);
    assert_eq!(snaps[0].get(CpuUsageNanocores), Some(1.0));
    assert_eq!(snaps[1].get(MemoryUsageBytes), Some(2.0));
    assert_eq!(snaps[1].get(RxBytes), Some(1.0));
    assert_eq!(snaps[2].get(MemoryUsageBytes), Some(4.0));
    assert_eq!(FeatureSet::behaviour().complete_snapshots(&input), 1);
}

#[test]
fn bad_values_are_dropped_and_unread_metrics_ignored() {
    let (p, c) = (pod(None), container(None));
    let samples = [
        s(0, MemoryUsageBytes, f64::NAN),
        s(0, CpuUsageNanocores, 5.0),
        s(1, RxBytes, -3.0),
        s(2, TxBytes, f64::INFINITY),
        s(3, RxErrors, 1.0), // read by neither set
        s(10_000, MemoryUsageBytes, 9.0),
        s(10_000, CpuUsageNanocores, 4.0),
    ];
    let input = ContainerInput {
        pod: &p,
        container: &c,
        samples: &samples,
    };
    let set = FeatureSet::legacy();
    let snaps = set.snapshots(&input);
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0].get(MemoryUsageBytes), None);
    assert_eq!(snaps[0].get(RxBytes), None);
    assert_eq!(snaps[0].get(TxBytes), None);
    assert_eq!(snaps[0].get(RxErrors), None);
    let rows = set.rows(&input);
    assert_eq!(rows.len(), 1, "the first snapshot lost its memory value");
    assert_eq!(rows[0][col(&set, "memoryUsageBytes")], Some(9.0));
}

#[test]
fn counter_reset_counts_the_new_value_as_the_increase() {
    let (p, c) = (pod(None), container(None));
    let mut samples = Vec::new();
    for (i, rx) in [100.0, 300.0, 50.0].into_iter().enumerate() {
        let t = i as i64 * 10_000;
        samples.extend([
            s(t, MemoryUsageBytes, 1.0),
            s(t, CpuUsageNanocores, 1.0),
            s(t + 1_000, RxBytes, rx),
        ]);
    }
    let input = ContainerInput {
        pod: &p,
        container: &c,
        samples: &samples,
    };
    let set = FeatureSet::behaviour_v2();
    let rows = set.rows(&input);
    assert_eq!(rows.len(), 1);
    // +200, then a restart: +50; over 20 s.
    assert_eq!(rows[0][col(&set, "rate(rx_bytes)")], Some(12.5));
    assert_eq!(rows[0][col(&set, "rate(tx_bytes)")], None);
}

#[test]
fn a_counter_seen_once_uses_the_lifetime_average() {
    let mut samples = Vec::new();
    for i in 0..3 {
        let t = 100_000 + i * 10_000;
        samples.extend([s(t, MemoryUsageBytes, 1.0), s(t, CpuUsageNanocores, 1.0)]);
    }
    samples.push(s(110_500, TxBytes, 2200.0));
    let set = FeatureSet::behaviour_v2();
    let c = container(None);
    let started = pod(Some(0));
    let input = ContainerInput {
        pod: &started,
        container: &c,
        samples: &samples,
    };
    // The snapshot holding tx_bytes is at 110 s; the pod started at 0.
    assert_eq!(set.first_row(&input).unwrap()[col(&set, "rate(tx_bytes)")], Some(20.0));
    let unknown = pod(None);
    let input = ContainerInput {
        pod: &unknown,
        container: &c,
        samples: &samples,
    };
    assert_eq!(set.first_row(&input).unwrap()[col(&set, "rate(tx_bytes)")], None);
}

#[test]
fn missing_metrics_give_none_not_zero() {
    let (p, c) = (pod(None), container(None));
    let samples: Vec<Sample> = (0..3)
        .flat_map(|i| {
            [
                s(i * 10_000, MemoryUsageBytes, 5.0),
                s(i * 10_000, CpuUsageNanocores, 7.0),
            ]
        })
        .collect();
    let input = ContainerInput {
        pod: &p,
        container: &c,
        samples: &samples,
    };
    let set = FeatureSet::behaviour_v2();
    let row = set.first_row(&input).unwrap();
    for (column, value) in set.columns.iter().zip(&row) {
        match column.feature.metric() {
            Some(MemoryUsageBytes | CpuUsageNanocores) => assert!(value.is_some(), "{}", column.name),
            _ => assert_eq!(*value, None, "{}", column.name),
        }
    }
    assert_eq!(row[col(&set, "stddev(cpu_usage_nanocores)")], Some(0.0));
    assert_eq!(row[col(&set, "ratio(memory_rss_bytes/memory_usage_bytes)")], None);
    let v1 = FeatureSet::behaviour_v1();
    assert_eq!(
        v1.first_row(&input).unwrap()[col(&v1, "stddev(memory_usage_bytes)")],
        Some(0.0)
    );

    let legacy = FeatureSet::legacy();
    let row = legacy.first_row(&input).unwrap();
    assert_eq!(row[col(&legacy, "imageSizeBytes")], None);
    assert_eq!(row[col(&legacy, "runningTimeSeconds")], None);
    assert_eq!(row[col(&legacy, "rx_bytes")], None);
    assert_eq!(
        row[col(&legacy, "podName")],
        Some(f64::from(java_string_hash("mysql-0")))
    );
}

#[test]
fn legacy_row_holds_hashes_last_values_and_derived_metrics() {
    let (p, c) = (pod(Some(1_000)), container(Some(600_000_000)));
    let mut samples = scrape(21_000, 1_200, 1_700, 1.0);
    samples.extend(scrape(31_000, 900, 300, 2.0));
    samples.push(s(31_000, LogsfsUsedBytes, 32768.0));
    samples.push(s(32_000, VolumeUsedBytes, 4096.0));
    let input = ContainerInput {
        pod: &p,
        container: &c,
        samples: &samples,
    };
    let set = FeatureSet::legacy();
    let rows = set.rows(&input);
    assert_eq!(rows.len(), 2);
    let expected = [
        Some(f64::from(java_string_hash("mysql-0"))),
        Some(f64::from(java_string_hash("shop"))),
        Some(2000.0),
        Some(20.0),
        Some(32768.0),
        None, // rootfs never reported
        Some(600_000_000.0),
        Some(f64::from(java_string_hash("mysql:8.0"))),
        Some(f64::from(java_string_hash("mysql"))),
        Some(200.0),
        Some(100.0),
        Some(14.0),
        Some(6.0), // written, not read
        Some(4096.0),
        Some(30.0), // 31 s − 1 s
    ];
    assert_eq!(rows[1], expected);
    assert_eq!(rows[0][14], Some(20.0));
    assert_eq!(set.first_row(&input), Some(rows[0].clone()));
}

/// `latest_row` is what the watcher computed before in two passes (count
/// the complete snapshots, then build every row and keep the last), with
/// the samples aligned once.
#[test]
fn latest_row_is_the_last_training_row_once_there_are_enough_snapshots() {
    let (p, c) = (pod(None), container(None));
    for (set, stride) in [
        (FeatureSet::behaviour(), 1),
        (FeatureSet::behaviour(), 2),
        (FeatureSet::legacy(), 1),
    ] {
        let set = FeatureSet { stride, ..set };
        let mut samples = Vec::new();
        for i in 0..9 {
            let input = ContainerInput {
                pod: &p,
                container: &c,
                samples: &samples,
            };
            for min in [0, 1, 3, 5, 8] {
                let needed = min.max(set.window).max(1);
                let two_passes = if set.complete_snapshots(&input) >= needed {
                    set.rows(&input).pop()
                } else {
                    None
                };
                assert_eq!(
                    set.latest_row(&input, min),
                    two_passes,
                    "{} stride {stride}, {i} snapshots, min {min}",
                    set.name
                );
            }
            samples.extend(scrape(i * 10_000, 500, 900, (i + 1) as f64));
        }
    }
}

#[test]
fn first_row_waits_for_a_full_window() {
    let (p, c) = (pod(None), container(None));
    let set = FeatureSet::behaviour();
    let mut samples = Vec::new();
    assert!(set.window >= 2);
    for i in 0..set.window + 2 {
        let input = ContainerInput {
            pod: &p,
            container: &c,
            samples: &samples,
        };
        assert_eq!(set.first_row(&input).is_some(), i >= set.window, "after {i} snapshots");
        if i >= set.window {
            assert_eq!(set.first_row(&input).as_ref(), set.rows(&input).first());
        }
        samples.extend(scrape(i as i64 * 10_000, 500, 900, (i + 1) as f64));
    }
}

#[test]
fn metrics_lists_what_the_set_reads() {
    let legacy = FeatureSet::legacy();
    let m = legacy.metrics();
    assert!(m.contains(&ImageSizeBytes) && m.contains(&RunningTimeSeconds) && m.contains(&BlkioWriteBytes));
    assert!(!m.contains(&MemoryRssBytes));
    let fetched = legacy.fetched_metrics();
    assert!(!fetched.contains(&ImageSizeBytes) && fetched.contains(&RxBytes));
    let b = FeatureSet::behaviour().metrics();
    assert!(b.contains(&MemoryPageFaults) && !b.contains(&RunningTimeSeconds));
}

#[test]
fn degenerate_windows_are_treated_as_one() {
    let (p, c) = (pod(None), container(None));
    let samples = scrape(0, 1, 2, 1.0);
    let input = ContainerInput {
        pod: &p,
        container: &c,
        samples: &samples,
    };
    let mut set = FeatureSet::legacy();
    set.window = 0;
    set.stride = 0;
    assert_eq!(set.rows(&input).len(), 1);
    assert!(set.first_row(&input).is_some());
}

/// Scrapes every 10 s of memory, the CPU counter and the CPU gauge: the
/// counter's and the gauge's values per scrape (`None`: not written).
fn cpu_scrapes(points: &[(Option<f64>, Option<f64>)]) -> Vec<Sample> {
    points
        .iter()
        .enumerate()
        .flat_map(|(i, (counter, gauge))| {
            let t = i as i64 * 10_000;
            [
                Some(s(t, MemoryUsageBytes, 8e6)),
                counter.map(|v| s(t, CpuUsageCoreNanoseconds, v)),
                gauge.map(|v| s(t, CpuUsageNanocores, v)),
            ]
        })
        .flatten()
        .collect()
}

/// The CPU gauge of every snapshot and the times of the complete ones.
fn cpu_gauges(samples: &[Sample]) -> (Vec<Option<f64>>, Vec<i64>) {
    let (p, c) = (pod(None), container(None));
    let input = ContainerInput {
        pod: &p,
        container: &c,
        samples,
    };
    let set = FeatureSet::behaviour();
    let all = set.snapshots(&input).iter().map(|s| s.get(CpuUsageNanocores)).collect();
    let complete = set.complete_snapshot_list(&input).iter().map(|s| s.time.0).collect();
    (all, complete)
}

#[test]
fn telegrafs_first_scrape_zero_is_not_known() {
    // The kubelet has no rate at a container's first reading; Telegraf
    // writes 0. As recorded (no value there) and as Telegraf writes it give
    // the same snapshots: the first scrape is not complete.
    let recorded = cpu_scrapes(&[(Some(3e9), None), (Some(5e9), Some(2e8)), (Some(8e9), Some(3e8))]);
    let telegraf = cpu_scrapes(&[(Some(3e9), Some(0.0)), (Some(5e9), Some(2e8)), (Some(8e9), Some(3e8))]);
    let (gauges, complete) = cpu_gauges(&telegraf);
    assert_eq!(gauges, [None, Some(2e8), Some(3e8)]);
    assert_eq!(complete, [10_000, 20_000]);
    assert_eq!(cpu_gauges(&recorded), (gauges, complete));
    // A 0 while the counter rose cannot be a rate the kubelet computed.
    let (gauges, _) = cpu_gauges(&cpu_scrapes(&[(Some(3e9), Some(1e8)), (Some(5e9), Some(0.0))]));
    assert_eq!(gauges, [Some(1e8), None]);
}

#[test]
fn an_idle_containers_zero_is_a_measurement() {
    // The counter did not move: the container really used no CPU.
    let idle = cpu_scrapes(&[
        (Some(3e9), Some(1e8)),
        (Some(4e9), Some(1e8)),
        (Some(4e9), Some(0.0)),
        (Some(4e9), Some(0.0)),
    ]);
    let (gauges, complete) = cpu_gauges(&idle);
    assert_eq!(gauges, [Some(1e8), Some(1e8), Some(0.0), Some(0.0)]);
    assert_eq!(complete, [0, 10_000, 20_000, 30_000]);
    // Also with the counter at 0, but not at a first reading: the kubelet
    // has no rate then, and writes 0 for a counter it has no stats for yet.
    let (gauges, _) = cpu_gauges(&cpu_scrapes(&[(Some(0.0), Some(0.0)), (Some(0.0), Some(0.0))]));
    assert_eq!(gauges, [None, Some(0.0)]);
    // Without the counter there is nothing to judge by: the 0 is kept.
    let (gauges, complete) = cpu_gauges(&cpu_scrapes(&[(None, Some(0.0)), (None, Some(0.0))]));
    assert_eq!(gauges, [Some(0.0), Some(0.0)]);
    assert_eq!(complete.len(), 2);
    // The previous reading is the last one with the counter, complete or not.
    let gap = cpu_scrapes(&[(Some(4e9), None), (None, Some(1e8)), (Some(4e9), Some(0.0))]);
    assert_eq!(cpu_gauges(&gap).0, [None, Some(1e8), Some(0.0)]);
}

#[test]
fn a_zero_after_a_counter_reset_is_not_known() {
    // A restart: the counter falls, the kubelet starts over and has no rate.
    let restart = cpu_scrapes(&[(Some(9e9), Some(2e8)), (Some(1e8), Some(0.0)), (Some(3e8), Some(2e7))]);
    let (gauges, complete) = cpu_gauges(&restart);
    assert_eq!(gauges, [Some(2e8), None, Some(2e7)]);
    assert_eq!(complete, [0, 20_000]);
    // Also when the new container's counter reads 0 (no stats yet).
    let (gauges, _) = cpu_gauges(&cpu_scrapes(&[(Some(9e9), Some(2e8)), (Some(0.0), Some(0.0))]));
    assert_eq!(gauges, [Some(2e8), None]);
}

// ---------------------------------------------------------------- properties

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..1e12f64,
        1 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => -1e9..0.0f64,
        1 => Just(1e300),
        1 => Just(f64::MAX),
        1 => Just(0.0),
    ]
}

fn any_sample() -> impl Strategy<Value = Sample> {
    (0..Metric::ALL.len(), 0i64..200_000, any_value())
        .prop_map(|(m, t, v)| Sample::new(Timestamp(t), Metric::ALL[m], v))
}

/// Plausible scrapes (every 10 s, jittered) mixed with arbitrary samples, shuffled.
fn any_samples() -> impl Strategy<Value = Vec<Sample>> {
    (
        prop::collection::vec((0i64..2_000, 0i64..2_000, 0.0..10.0f64), 0..12),
        prop::collection::vec(any_sample(), 0..40),
    )
        .prop_flat_map(|(scrapes, noise)| {
            let mut v: Vec<Sample> = scrapes
                .iter()
                .enumerate()
                .flat_map(|(i, (n, b, k))| scrape(i as i64 * 10_000, *n, *b, *k))
                .collect();
            v.extend(noise);
            Just(v).prop_shuffle()
        })
}

fn any_set() -> impl Strategy<Value = FeatureSet> {
    (0usize..3, 1usize..5, 1usize..4).prop_map(|(which, window, stride)| {
        let mut set = match which {
            0 => FeatureSet::legacy(),
            1 => FeatureSet::behaviour(),
            _ => FeatureSet::behaviour_v1(),
        };
        set.window = window;
        set.stride = stride;
        set
    })
}

fn expected_rows(complete: usize, window: usize, stride: usize) -> usize {
    if complete < window {
        0
    } else {
        (complete - window) / stride + 1
    }
}

proptest! {
    #[test]
    fn rows_are_finite_full_width_and_windowed(
        samples in any_samples(),
        set in any_set(),
        start in prop::option::of(-50_000i64..100_000),
        size in prop::option::of(any::<u64>()),
    ) {
        let (p, c) = (pod(start), container(size));
        let input = ContainerInput { pod: &p, container: &c, samples: &samples };
        let rows = set.rows(&input);
        for row in &rows {
            prop_assert_eq!(row.len(), set.columns.len());
            for v in row.iter().flatten() {
                prop_assert!(v.is_finite(), "{v}");
            }
        }
        let complete = set.complete_snapshots(&input);
        prop_assert_eq!(rows.len(), expected_rows(complete, set.window, set.stride));
        let first = set.first_row(&input);
        prop_assert_eq!(first.as_ref(), rows.first());
        for snap in set.snapshots(&input) {
            for m in Metric::ALL {
                if let Some(v) = snap.get(*m) {
                    prop_assert!(v.is_finite() && v >= 0.0);
                }
            }
        }
    }

    #[test]
    fn a_dropped_metric_gives_none_in_its_columns(
        samples in any_samples(),
        set in any_set(),
        pick in any::<prop::sample::Index>(),
    ) {
        let optional: Vec<Metric> =
            set.metrics().into_iter().filter(|m| !set.required.contains(m)).collect();
        let dropped = optional[pick.index(optional.len())];
        let mut p = pod(Some(0));
        let mut c = container(Some(123_456));
        match dropped {
            ImageSizeBytes => c.image_size_bytes = None,
            RunningTimeSeconds => p.start_time = None,
            _ => {}
        }
        let kept: Vec<Sample> = samples.iter().copied().filter(|s| s.metric != dropped).collect();
        let input = ContainerInput { pod: &p, container: &c, samples: &kept };
        let rows = set.rows(&input);
        for row in &rows {
            for (column, v) in set.columns.iter().zip(row) {
                if column.feature.metrics().contains(&Some(dropped)) {
                    prop_assert_eq!(*v, None, "{} after dropping {}", column.name, dropped);
                }
            }
        }
    }
}
