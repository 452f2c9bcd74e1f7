//! Reading `data/recordings/`: shared by the tests of this directory, through
//! the library's [`cad_examples::recordings`] module.

#![allow(dead_code)] // each test crate uses its own part

use cad_core::{Metric, MetricBatch, Sample};
use cad_examples::recordings;
use std::collections::BTreeMap;

pub use recordings::{Instance, dir};

/// Every instance of `instances.csv`, in its order; none failed while recording.
pub fn instances() -> Vec<Instance> {
    let all = recordings::instances(&dir()).expect("data/recordings/instances.csv");
    for i in &all {
        assert_eq!(i.failed, "", "{} failed while recording: {}", i.pod, i.failed);
    }
    all
}

/// Every sample of every instance, through the CSV metric source.
pub async fn fetch_all(instances: &[Instance]) -> MetricBatch {
    recordings::samples(&dir(), instances)
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
