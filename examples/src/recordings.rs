//! The recordings of real servers in `data/recordings/` (see its README):
//! the list of instances and their feature rows, read through
//! [`CsvMetricSource`].

use crate::csv_source::CsvMetricSource;
use cad_core::{
    ContainerId, ContainerInfo, ContainerInput, FeatureRow, FeatureSet, MetricSource, PodId, PodInfo, TimeWindow,
    Timestamp,
};
use std::path::{Path, PathBuf};

/// `data/recordings` of this repository.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/recordings")
}

/// One line of `instances.csv`.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Pod name, e.g. `nginx-0`.
    pub pod: String,
    /// Pod uid.
    pub uid: String,
    /// Container name.
    pub container: String,
    /// The service class (`nginx`, `apache`, `mysql`, …).
    pub class: String,
    /// Workload shape (`steady`, `bursty`, `idle`, `batch`).
    pub shape: String,
    /// Start, milliseconds since the epoch.
    pub start_ms: i64,
    /// Recorded seconds.
    pub duration_s: i64,
    /// Why recording failed, empty if it did not.
    pub failed: String,
}

impl Instance {
    /// The recorded container's id (namespace `rec`).
    pub fn id(&self) -> ContainerId {
        PodId::new("rec", self.pod.as_str(), self.uid.as_str()).container(self.container.as_str())
    }
}

/// Reads `instances.csv` in `dir`; an error names the line.
pub fn instances(dir: &Path) -> Result<Vec<Instance>, String> {
    let path = dir.join("instances.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("instances.csv is empty")?.split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("instances.csv has no column {name}"))
    };
    let cols = [
        col("pod")?,
        col("uid")?,
        col("container")?,
        col("class")?,
        col("shape")?,
        col("start_ms")?,
        col("duration_s")?,
        col("failed")?,
    ];
    lines
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != header.len() {
                return Err(format!("instances.csv line {}: {} fields", i + 2, f.len()));
            }
            let num = |j: usize| {
                f[cols[j]]
                    .parse::<i64>()
                    .map_err(|e| format!("instances.csv line {}: {e}", i + 2))
            };
            Ok(Instance {
                pod: f[cols[0]].to_owned(),
                uid: f[cols[1]].to_owned(),
                container: f[cols[2]].to_owned(),
                class: f[cols[3]].to_owned(),
                shape: f[cols[4]].to_owned(),
                start_ms: num(5)?,
                duration_s: num(6)?,
                failed: f[cols[7]].to_owned(),
            })
        })
        .collect()
}

/// Every instance with its feature rows under `set`, oldest first (the
/// first row is what a watcher judges a new pod on).
pub async fn rows(dir: &Path, set: &FeatureSet) -> Result<Vec<(Instance, Vec<FeatureRow>)>, String> {
    let instances = instances(dir)?;
    let ids: Vec<ContainerId> = instances.iter().map(Instance::id).collect();
    let batch = CsvMetricSource::new(dir.join("samples.csv"))
        .fetch(&ids, TimeWindow::new(Timestamp(0), Timestamp(i64::MAX)))
        .await
        .map_err(|e| e.to_string())?;
    Ok(instances
        .into_iter()
        .zip(&ids)
        .map(|(inst, id)| {
            let mut pod = PodInfo::new(id.pod.clone());
            pod.start_time = Some(Timestamp(inst.start_ms));
            let container = ContainerInfo::new(inst.container.as_str(), format!("debian/{}", inst.container));
            pod.containers.push(container.clone());
            let rows = set.rows(&ContainerInput {
                pod: &pod,
                container: &container,
                samples: batch.samples(id),
            });
            (inst, rows)
        })
        .collect())
}
