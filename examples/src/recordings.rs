//! The recordings of real servers in `data/recordings/` (see its README):
//! the instances listed in `instances.csv` and their samples in
//! `samples.csv`, read through [`CsvMetricSource`]; [`rotation`] turns them
//! into the training and judged pods of each held-out rotation.

use crate::csv_source::CsvMetricSource;
use cad_core::{
    ContainerId, ContainerInfo, ContainerInput, FeatureRow, FeatureSet, MetricBatch, MetricSource, PodId, PodInfo,
    SourceError, TimeWindow, Timestamp,
};
use std::path::{Path, PathBuf};

pub mod rotation;

/// The recordings' directory in this repository.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/recordings")
}

/// One line of `instances.csv`: one server recorded as one pod with one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// The pod's name (`nginx-0`).
    pub pod: String,
    /// The pod's UID.
    pub uid: String,
    /// The container's name (`nginx`, `httpd`, `mariadb`, …).
    pub container: String,
    /// The class it belongs to (`nginx`, `apache`, `mysql`, `postgresql`,
    /// or a service outside the class list: `redis`, `memcached`, `tomcat`,
    /// `rabbitmq`).
    pub class: String,
    /// The workload shape (`idle`, `light`, `steady`, `heavy`, `bursty`, `batch`).
    pub shape: String,
    /// When the instance started, in ms since the epoch.
    pub start_ms: i64,
    /// How long it was recorded, in seconds.
    pub duration_s: i64,
    /// Why it failed while recording (empty: it did not).
    pub failed: String,
}

impl Instance {
    /// The container's identity (namespace `rec`).
    pub fn id(&self) -> ContainerId {
        PodId::new("rec", self.pod.as_str(), self.uid.as_str()).container(self.container.as_str())
    }

    /// The pod as a pod source would report it: its start time, one
    /// container (image `debian/<container>`).
    pub fn pod_info(&self) -> PodInfo {
        let id = self.id();
        let mut pod = PodInfo::new(id.pod);
        pod.start_time = Some(Timestamp(self.start_ms));
        pod.containers.push(ContainerInfo::new(
            self.container.as_str(),
            format!("debian/{}", self.container),
        ));
        pod
    }
}

/// Why the recordings could not be read.
#[derive(Debug)]
pub enum Error {
    /// `instances.csv` could not be read or parsed.
    Instances(String),
    /// `samples.csv` could not be read.
    Samples(SourceError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Instances(m) => write!(f, "instances.csv: {m}"),
            Error::Samples(e) => write!(f, "samples.csv: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Instances(_) => None,
            Error::Samples(e) => Some(e),
        }
    }
}

/// The instances listed in `<dir>/instances.csv`, in file order.
pub fn instances(dir: &Path) -> Result<Vec<Instance>, Error> {
    let bad = |m: String| Error::Instances(m);
    let text = std::fs::read_to_string(dir.join("instances.csv")).map_err(|e| bad(e.to_string()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad("no header".into()))?
        .split(',')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| bad(format!("no column {name}")))
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
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != header.len() {
                return Err(bad(format!("{line}: {} fields, expected {}", f.len(), header.len())));
            }
            let [pod, uid, container, class, shape, start, duration, failed] = cols.map(|i| f[i]);
            let number = |v: &str| v.parse::<i64>().map_err(|e| bad(format!("{line}: {e}")));
            Ok(Instance {
                pod: pod.to_owned(),
                uid: uid.to_owned(),
                container: container.to_owned(),
                class: class.to_owned(),
                shape: shape.to_owned(),
                start_ms: number(start)?,
                duration_s: number(duration)?,
                failed: failed.to_owned(),
            })
        })
        .collect()
}

/// Every sample of `instances`, read from `<dir>/samples.csv` in one fetch.
pub async fn samples(dir: &Path, instances: &[Instance]) -> Result<MetricBatch, Error> {
    let ids: Vec<ContainerId> = instances.iter().map(Instance::id).collect();
    CsvMetricSource::new(dir.join("samples.csv"))
        .fetch(&ids, TimeWindow::new(Timestamp(0), Timestamp(i64::MAX)))
        .await
        .map_err(Error::Samples)
}

/// Every instance with its feature rows under `set`, oldest first (the
/// first row is what a watcher judges a new pod on).
pub async fn rows(dir: &Path, set: &FeatureSet) -> Result<Vec<(Instance, Vec<FeatureRow>)>, Error> {
    let instances = instances(dir)?;
    let batch = samples(dir, &instances).await?;
    Ok(instances
        .into_iter()
        .map(|inst| {
            let pod = inst.pod_info();
            let rows = set.rows(&ContainerInput {
                pod: &pod,
                container: &pod.containers[0],
                samples: batch.samples(&inst.id()),
            });
            (inst, rows)
        })
        .collect())
}
