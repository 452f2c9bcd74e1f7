//! Reading `data/recordings/`: shared by the tests of this directory.

#![allow(dead_code)] // each test crate uses its own part

use cad_core::{ContainerId, Metric, MetricBatch, MetricSource, PodId, Sample, TimeWindow, Timestamp};
use cad_examples::csv_source::CsvMetricSource;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `data/recordings/`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/recordings")
}

/// One line of `instances.csv`.
pub struct Instance {
    pub pod: String,
    pub uid: String,
    pub container: String,
    pub class: String,
    /// The workload shape: idle, steady, bursty or batch.
    pub shape: String,
    pub start_ms: i64,
    pub duration_s: i64,
}

impl Instance {
    pub fn id(&self) -> ContainerId {
        PodId::new("rec", self.pod.as_str(), self.uid.as_str()).container(self.container.as_str())
    }
}

/// Every instance of `instances.csv`, in its order.
pub fn instances() -> Vec<Instance> {
    let text = std::fs::read_to_string(dir().join("instances.csv")).expect("data/recordings/instances.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (pod, uid, container, class, shape, start, duration, failed) = (
        col("pod"),
        col("uid"),
        col("container"),
        col("class"),
        col("shape"),
        col("start_ms"),
        col("duration_s"),
        col("failed"),
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), header.len(), "{line}");
            assert_eq!(f[failed], "", "{} failed while recording: {}", f[pod], f[failed]);
            Instance {
                pod: f[pod].to_owned(),
                uid: f[uid].to_owned(),
                container: f[container].to_owned(),
                class: f[class].to_owned(),
                shape: f[shape].to_owned(),
                start_ms: f[start].parse().expect("start_ms"),
                duration_s: f[duration].parse().expect("duration_s"),
            }
        })
        .collect()
}

/// Every sample of every instance, through the CSV metric source.
pub async fn fetch_all(instances: &[Instance]) -> MetricBatch {
    let ids: Vec<ContainerId> = instances.iter().map(Instance::id).collect();
    CsvMetricSource::new(dir().join("samples.csv"))
        .fetch(&ids, TimeWindow::new(Timestamp(0), Timestamp(i64::MAX)))
        .await
        .expect("samples.csv parses")
}

/// Samples by metric, each series in time order, as `(ms, value)`.
pub fn by_metric(samples: &[Sample]) -> BTreeMap<Metric, Vec<(i64, f64)>> {
    let mut out: BTreeMap<Metric, Vec<(i64, f64)>> = BTreeMap::new();
    for s in samples {
        out.entry(s.metric).or_default().push((s.time.0, s.value));
    }
    for v in out.values_mut() {
        v.sort_by_key(|p| p.0);
    }
    out
}
