//! Reading `data/recordings/`: shared by the tests of this directory, through
//! the library's [`cad_examples::recordings`] module.

#![allow(dead_code)] // each test crate uses its own part

use cad_core::{Metric, MetricBatch, Sample};
use cad_examples::recordings;
use std::collections::BTreeMap;
use std::path::Path;

pub use recordings::{Instance, dir};

/// Every instance of `instances.csv`, in its order; none failed while recording.
pub fn instances() -> Vec<Instance> {
    instances_in(&dir())
}

/// Every instance of `<set>/instances.csv` (the main set, `replicas/`,
/// `batch7/`, …), in its order; none failed while recording.
pub fn instances_in(set: &Path) -> Vec<Instance> {
    let all = recordings::instances(set).unwrap_or_else(|e| panic!("{}: {e}", set.display()));
    for i in &all {
        assert_eq!(i.failed, "", "{} failed while recording: {}", i.pod, i.failed);
    }
    all
}

/// Every sample of every instance of `set`, through the CSV metric source.
pub async fn fetch_all(set: &Path, instances: &[Instance]) -> MetricBatch {
    recordings::samples(set, instances)
        .await
        .unwrap_or_else(|e| panic!("{}: samples: {e}", set.display()))
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
