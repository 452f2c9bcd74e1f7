//! **The feature definitions**: the named feature sets and their columns.
//!
//! Everything a reader needs to know about which columns a model sees is in
//! `legacy_columns` and `BEHAVIOUR` in this module's source.
//!
//! # What each set requires of a metric source
//!
//! A snapshot counts only when it is *complete*: it has a value of every
//! metric in the set's [`required`](FeatureSet::required) list. A container
//! with fewer complete snapshots than the set's
//! [`window`](FeatureSet::window) gives no row, so it is neither trained on
//! nor classified (the watcher times it out). Every other metric is
//! optional: a column whose metric is missing is `None`, which the models
//! handle, but a model learns less.
//!
//! | set | required in every snapshot | window (snapshots per row) | also read |
//! | --- | --- | --- | --- |
//! | `behaviour` (default) | `memory_usage_bytes`, `cpu_usage_nanocores` | 4 | CPU counter, working set, RSS, page faults, network, block I/O write, volume and log growth |
//! | `behaviour-v2` | `memory_usage_bytes`, `cpu_usage_nanocores` | 3 | as `behaviour`, plus block I/O read |
//! | `behaviour-v1` | `memory_usage_bytes`, `cpu_usage_nanocores` | 3 | as `behaviour-v2`, plus root-fs, log and volume levels |
//! | `legacy` | `memory_usage_bytes`, `cpu_usage_nanocores` | 1 | the old system's 15 columns (image size and running time from [`PodInfo`](crate::PodInfo)) |
//!
//! `cpu_usage_nanocores` (a gauge) need not come from the source: when a
//! container's samples have the CPU counter `cpu_usage_core_nanoseconds` and
//! no nanocores at all, the extractor derives the gauge from the counter
//! ([`derive_nanocores`](crate::metric::derive_nanocores)). A source with
//! neither gives no rows; the collector then fails with
//! [`CollectError::NoRows`](crate::engine::CollectError::NoRows) naming the
//! missing metric and the containers without it.
//! [`FeatureSet::fetched_metrics`] lists every metric a set reads from a
//! source.
//!
//! ```
//! use cad_core::{FeatureSet, Metric};
//!
//! for set in [FeatureSet::behaviour(), FeatureSet::behaviour_v2(), FeatureSet::behaviour_v1(), FeatureSet::legacy()] {
//!     assert_eq!(set.required, [Metric::MemoryUsageBytes, Metric::CpuUsageNanocores], "{}", set.name);
//! }
//! assert_eq!((FeatureSet::behaviour().window, FeatureSet::behaviour_v2().window, FeatureSet::legacy().window), (4, 3, 1));
//! ```

use super::{Column, Feature, FeatureSet, Identity};
use crate::metric::Metric;

/// Samples closer than this (milliseconds) to a snapshot's first sample
/// join that snapshot, unless their metric is already there.
pub const DEFAULT_ALIGN_TOLERANCE_MS: i64 = 5_000;

/// Snapshots per row of the `behaviour` set (the sets before it: 3). Rates
/// and their ratios over 4 snapshots (≈ 40 s) vary less than over 3, so a
/// service's cost per unit of work stands out more from the load's noise.
/// Measured with the watcher's calibrated statistic of 2 windows that share
/// no snapshot (decided after 8 snapshots, ≈ 80 s, instead of 6, ≈ 60 s),
/// α = 0.01, against 3 snapshots: simulator sweep (`cad demo --sweep 20`)
/// impostors 94 against 93 of 100, unknown services 74 against 68, honest
/// pods 7 against 10 of 600; recordings of real servers, unknowns named
/// like a class 33 against 31 of 48, unnamed unknowns 1 against 0 of 12,
/// impostors 35 of 36 and honest 0 of 12 either way. Not better: one row
/// of 6 snapshots (decided at ≈ 60 s; recordings 30/48 and 34/36), of 5
/// or 9, and windows that overlap (docs/measurements.md, "The sweep").
pub const BEHAVIOUR_WINDOW: usize = 4;

/// The names of the built-in sets, as [`FeatureSet::by_name`] accepts them.
pub const NAMES: &[&str] = &["legacy", "behaviour", "behaviour-v2", "behaviour-v1"];

/// The old system's 15 columns, with the names and order of its ARFF header.
///
/// Differences from the old Java code: `ioServiceRecursiveWrite` holds the
/// bytes written (the old code copied the read bytes into it by mistake).
fn legacy_columns() -> Vec<Column> {
    use Feature::{IdentityHash as Hash, Last};
    use Metric::*;
    [
        ("podName", Hash(Identity::PodName)),
        ("namespace", Hash(Identity::Namespace)),
        ("memoryUsageBytes", Last(MemoryUsageBytes)),
        ("cpuUsageNanocores", Last(CpuUsageNanocores)),
        ("logsfsUsedBytes", Last(LogsfsUsedBytes)),
        ("rootfsUsedBytes", Last(RootfsUsedBytes)),
        ("imageSizeBytes", Last(ImageSizeBytes)),
        ("imageName", Hash(Identity::ImageName)),
        ("containerName", Hash(Identity::ContainerName)),
        ("rx_bytes", Last(RxBytes)),
        ("tx_bytes", Last(TxBytes)),
        ("ioServiceRecursiveRead", Last(BlkioReadBytes)),
        ("ioServiceRecursiveWrite", Last(BlkioWriteBytes)),
        ("usedBytesVolume", Last(VolumeUsedBytes)),
        ("runningTimeSeconds", Last(RunningTimeSeconds)),
    ]
    .into_iter()
    .map(|(name, feature)| Column {
        name: name.to_owned(),
        feature,
    })
    .collect()
}

/// The behaviour set's columns; each is named by [`Feature::default_name`]
/// (`ratio(memory_rss_bytes/memory_usage_bytes)`,
/// `rate_ratio(cpu_usage_core_nanoseconds/rx_bytes)`, …).
///
/// No identity hashes, no image size and no running time: a model must learn
/// what a container *does*, not what it is called, which image it was started
/// from (an nginx image running a crypto miner is what we want to catch) or
/// how old it is. No level that grows with a pod's age or identifies its
/// image (no file-system levels, no memory usage: see `behaviour-v2`). And,
/// since issue 17, **no level that follows the load**: the rates of CPU,
/// traffic, block I/O and page faults, and the CPU's spread, differ more
/// between an idle and a busy pod of one service than between services, so
/// they widened every class and hid services outside the class list. What
/// stays is what the software costs *per unit of work*, measured on the
/// recordings of real servers (`data/recordings/PROFILES.md`; "AUC" is the
/// chance that a row of one service is above a row of the other, folded to
/// ≥ 0.5, over all 3-snapshot rows):
/// * the memory footprint (working set, RSS) and how memory in use splits
///   into resident, working set and cache (`rss / usage`: MariaDB
///   0.81–0.95, PostgreSQL 0.01–0.04);
/// * growth per second of the volume and the logs;
/// * CPU nanoseconds per byte received: nginx 125–565 (p10–p90) at every
///   load, apache 424–3,300 (AUC 0.92 against nginx); and per byte sent;
/// * page faults per CPU nanosecond (nginx ≈ 0, PostgreSQL 2.9·10⁻⁶–8.7·10⁻⁵,
///   MariaDB ≤ 10⁻⁶: AUC 0.996 between the databases) and per byte sent;
/// * bytes sent per byte received, bytes written per CPU nanosecond.
///
/// On the recordings (`cargo test -p cad-examples --test openset_recordings`,
/// α = 0.01) this set flags 35 of 36 impostors and 30 of 48 services
/// outside the class list claiming a class, against 30 and 23 with
/// `behaviour-v2`; honest pods 0 of 12 with both; on the simulator
/// (`cad demo --sweep 20`) the figures stay within a seed's noise.
const BEHAVIOUR: &[Feature] = {
    use Feature::*;
    use Metric::*;
    &[
        // Memory footprint, and how memory in use splits into resident,
        // working set and cache.
        Mean(MemoryWorkingSetBytes),
        Mean(MemoryRssBytes),
        Ratio(MemoryRssBytes, MemoryUsageBytes),
        Ratio(MemoryWorkingSetBytes, MemoryUsageBytes),
        // Accumulated state, as growth per second.
        Growth(VolumeUsedBytes),
        Growth(LogsfsUsedBytes),
        // Cost per unit of work: rates relative to each other.
        RateRatio(MemoryPageFaults, TxBytes),
        RateRatio(TxBytes, RxBytes),
        RateRatio(BlkioWriteBytes, CpuUsageCoreNanoseconds),
        RateRatio(CpuUsageCoreNanoseconds, RxBytes),
        RateRatio(CpuUsageCoreNanoseconds, TxBytes),
        RateRatio(MemoryPageFaults, CpuUsageCoreNanoseconds),
    ]
};

/// The `behaviour` set's columns from issue 16 to issue 17 (`behaviour-v2`):
/// levels that follow the load included — CPU mean, maximum and spread, the
/// rates of traffic, block I/O and page faults.
///
/// No identity hashes, no image size, no running time, and, measured on
/// recordings of real servers (`data/recordings/PROFILES.md`), no level that
/// grows with a pod's age or identifies its image:
/// * no file-system levels — `rootfs_used_bytes` is a per-image constant
///   (nginx's temp directories), the volume and the logs grow with age and
///   data; their *growth per second* stays;
/// * no levels of `memory_usage_bytes` — mostly page cache, which grows with
///   age and data (PostgreSQL's usage is 95 % cache).
///
/// Kept to read models and data files written with it, and to compare.
const BEHAVIOUR_V2: &[Feature] = {
    use Feature::*;
    use Metric::*;
    &[
        // CPU, with its spread over the window, and from the counter.
        Mean(CpuUsageNanocores),
        Max(CpuUsageNanocores),
        StdDev(CpuUsageNanocores),
        Rate(CpuUsageCoreNanoseconds),
        // Memory footprint.
        Mean(MemoryWorkingSetBytes),
        Max(MemoryWorkingSetBytes),
        StdDev(MemoryWorkingSetBytes),
        Mean(MemoryRssBytes),
        // How memory in use splits into resident, working set and cache.
        Ratio(MemoryRssBytes, MemoryUsageBytes),
        Ratio(MemoryWorkingSetBytes, MemoryUsageBytes),
        // Accumulated state, as growth per second.
        Growth(VolumeUsedBytes),
        Growth(LogsfsUsedBytes),
        // Counters, as per-second rates.
        Rate(RxBytes),
        Rate(TxBytes),
        Rate(BlkioReadBytes),
        Rate(BlkioWriteBytes),
        Rate(MemoryPageFaults),
        // Rates relative to each other.
        RateRatio(MemoryPageFaults, TxBytes),
        RateRatio(TxBytes, RxBytes),
        RateRatio(BlkioWriteBytes, CpuUsageCoreNanoseconds),
    ]
};

/// The `behaviour` set's columns before issue 16 (`behaviour-v1`): levels of
/// memory usage and of the file systems included. Kept to read models and
/// data files written with it, and to compare: those levels grow with a
/// pod's age or identify its image.
const BEHAVIOUR_V1: &[Feature] = {
    use Feature::*;
    use Metric::*;
    &[
        Mean(MemoryUsageBytes),
        Max(MemoryUsageBytes),
        StdDev(MemoryUsageBytes),
        Mean(MemoryWorkingSetBytes),
        Max(MemoryWorkingSetBytes),
        StdDev(MemoryWorkingSetBytes),
        Mean(CpuUsageNanocores),
        Max(CpuUsageNanocores),
        StdDev(CpuUsageNanocores),
        Mean(MemoryRssBytes),
        Mean(RootfsUsedBytes),
        Mean(LogsfsUsedBytes),
        Mean(VolumeUsedBytes),
        Rate(RxBytes),
        Rate(TxBytes),
        Rate(CpuUsageCoreNanoseconds),
        Rate(BlkioReadBytes),
        Rate(BlkioWriteBytes),
        Rate(MemoryPageFaults),
    ]
};

fn named_columns(features: &[Feature]) -> Vec<Column> {
    features
        .iter()
        .map(|f| Column {
            name: f.default_name(),
            feature: *f,
        })
        .collect()
}

impl FeatureSet {
    /// The old system's 15 columns (`legacy`): identity hashes, raw gauges,
    /// raw cumulative counters, one snapshot per row. Comparison only: it
    /// leaks the label through the pod-name hash.
    ///
    /// **Requires** [`Metric::MemoryUsageBytes`] and
    /// [`Metric::CpuUsageNanocores`] (or the CPU counter) in every snapshot.
    pub fn legacy() -> FeatureSet {
        FeatureSet {
            name: "legacy".to_owned(),
            columns: legacy_columns(),
            required: vec![Metric::MemoryUsageBytes, Metric::CpuUsageNanocores],
            window: 1,
            stride: 1,
            align_tolerance_ms: DEFAULT_ALIGN_TOLERANCE_MS,
        }
    }

    /// The default set (`behaviour`): behaviour that neither grows with a
    /// pod's age, nor identifies its image, nor follows the load (see the
    /// `BEHAVIOUR` list in this module's source) — memory footprint, memory
    /// ratios, growth per second, and the cost per unit of work as ratios of
    /// rates (CPU per byte received, page faults per CPU second, …) — over
    /// windows of [`BEHAVIOUR_WINDOW`] (4) snapshots (about 40 s of
    /// Telegraf samples), a row starting at every snapshot.
    ///
    /// **Requires** [`Metric::MemoryUsageBytes`] and
    /// [`Metric::CpuUsageNanocores`] (or the CPU counter it is derived from)
    /// in every snapshot; every other metric is optional (see the
    /// [module documentation](self)).
    pub fn behaviour() -> FeatureSet {
        FeatureSet {
            name: "behaviour".to_owned(),
            columns: named_columns(BEHAVIOUR),
            window: BEHAVIOUR_WINDOW,
            ..FeatureSet::behaviour_v1()
        }
    }

    /// The `behaviour` set from issue 16 to issue 17 (`behaviour-v2`), with
    /// levels that follow the load (CPU, traffic, block I/O, page faults).
    /// For comparison and for files written with it.
    ///
    /// **Requires** [`Metric::MemoryUsageBytes`] and
    /// [`Metric::CpuUsageNanocores`] (or the CPU counter) in every snapshot.
    pub fn behaviour_v2() -> FeatureSet {
        FeatureSet {
            name: "behaviour-v2".to_owned(),
            columns: named_columns(BEHAVIOUR_V2),
            ..FeatureSet::behaviour_v1()
        }
    }

    /// The `behaviour` set as it was before issue 16 (`behaviour-v1`), with
    /// levels of memory usage and of the file systems, which grow with age
    /// or identify the image. For comparison and for files written with it.
    ///
    /// **Requires** [`Metric::MemoryUsageBytes`] and
    /// [`Metric::CpuUsageNanocores`] (or the CPU counter) in every snapshot.
    pub fn behaviour_v1() -> FeatureSet {
        FeatureSet {
            name: "behaviour-v1".to_owned(),
            columns: named_columns(BEHAVIOUR_V1),
            required: vec![Metric::MemoryUsageBytes, Metric::CpuUsageNanocores],
            window: 3,
            stride: 1,
            align_tolerance_ms: DEFAULT_ALIGN_TOLERANCE_MS,
        }
    }

    /// The built-in set with this name (one of [`FeatureSet::names`]).
    pub fn by_name(name: &str) -> Option<FeatureSet> {
        match name {
            "legacy" => Some(FeatureSet::legacy()),
            "behaviour" => Some(FeatureSet::behaviour()),
            "behaviour-v2" => Some(FeatureSet::behaviour_v2()),
            "behaviour-v1" => Some(FeatureSet::behaviour_v1()),
            _ => None,
        }
    }

    /// The names of the built-in sets.
    pub fn names() -> &'static [&'static str] {
        NAMES
    }

    /// The feature set of a data file's columns (an ARFF or CSV file to train
    /// from): a column named like a `legacy` or `behaviour` column is computed
    /// the same way (also a column of `behaviour-v2` or `behaviour-v1`); any other column is
    /// [`Feature::External`] (cannot be computed from metrics, so always
    /// missing for the watcher). If every column is a legacy one this is the
    /// legacy set's windowing, else the behaviour set's. Named after the
    /// built-in set it equals, else `file`.
    pub fn for_columns(names: &[String]) -> FeatureSet {
        let sets = [
            FeatureSet::legacy(),
            FeatureSet::behaviour(),
            FeatureSet::behaviour_v2(),
            FeatureSet::behaviour_v1(),
        ];
        if let Some(set) = sets.iter().find(|s| s.column_names() == names) {
            return set.clone();
        }
        let [legacy, behaviour, ..] = &sets;
        let find = |set: &FeatureSet, n: &str| set.columns.iter().find(|c| c.name == n).map(|c| c.feature);
        let all_legacy = names.iter().all(|n| find(legacy, n).is_some());
        let base = if all_legacy { legacy.clone() } else { behaviour.clone() };
        FeatureSet {
            name: "file".to_owned(),
            columns: names
                .iter()
                .map(|n| Column {
                    name: n.clone(),
                    feature: sets.iter().find_map(|s| find(s, n)).unwrap_or(Feature::External),
                })
                .collect(),
            ..base
        }
    }

    /// Names of the columns cad cannot compute from metrics ([`Feature::External`]).
    pub fn external_columns(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| c.feature == Feature::External)
            .map(|c| c.name.as_str())
            .collect()
    }
}

impl Default for FeatureSet {
    /// The [`behaviour`](FeatureSet::behaviour) set.
    fn default() -> Self {
        FeatureSet::behaviour()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_gives_its_set() {
        for name in FeatureSet::names() {
            let set = FeatureSet::by_name(name);
            assert_eq!(set.map(|s| s.name), Some((*name).to_owned()));
        }
        assert_eq!(FeatureSet::by_name("nope"), None);
        assert_eq!(FeatureSet::default(), FeatureSet::behaviour());
    }

    #[test]
    fn file_columns_map_to_known_features_or_external() {
        let legacy = FeatureSet::legacy();
        assert_eq!(FeatureSet::for_columns(&legacy.column_names()), legacy);
        let names: Vec<String> = ["memoryUsageBytes", "cpuUsageNanocores", "f7"]
            .map(String::from)
            .to_vec();
        let set = FeatureSet::for_columns(&names);
        assert_eq!(set.name, "file");
        assert_eq!(set.columns[0].feature, Feature::Last(Metric::MemoryUsageBytes));
        assert_eq!(set.columns[2].feature, Feature::External);
        assert_eq!(set.external_columns(), ["f7"]);
        assert_eq!(
            set.window,
            FeatureSet::behaviour().window,
            "not all legacy: behaviour windowing"
        );
        let names: Vec<String> = ["memoryUsageBytes", "rx_bytes"].map(String::from).to_vec();
        assert_eq!(FeatureSet::for_columns(&names).window, 1);
    }

    #[test]
    fn legacy_columns_are_the_old_header_in_order() {
        let set = FeatureSet::legacy();
        assert_eq!(
            set.column_names(),
            [
                "podName",
                "namespace",
                "memoryUsageBytes",
                "cpuUsageNanocores",
                "logsfsUsedBytes",
                "rootfsUsedBytes",
                "imageSizeBytes",
                "imageName",
                "containerName",
                "rx_bytes",
                "tx_bytes",
                "ioServiceRecursiveRead",
                "ioServiceRecursiveWrite",
                "usedBytesVolume",
                "runningTimeSeconds",
            ]
        );
        assert_eq!(set.columns[12].feature, Feature::Last(Metric::BlkioWriteBytes));
        assert_eq!((set.window, set.stride), (1, 1));
    }

    #[test]
    fn legacy_columns_match_the_original_arff_header() {
        let Some(path) = crate::test_data::real_data_file("container-metrics-all.arff") else {
            return;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let header: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("@attribute "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| *n != "class")
            .collect();
        assert_eq!(FeatureSet::legacy().column_names(), header);
    }

    #[test]
    fn behaviour_names_columns_after_their_feature() {
        let set = FeatureSet::behaviour();
        let names = set.column_names();
        assert_eq!(names.len(), BEHAVIOUR.len());
        assert_eq!(names[0], "mean(memory_working_set_bytes)");
        assert!(names.contains(&"rate_ratio(cpu_usage_core_nanoseconds/rx_bytes)".to_owned()));
        assert!(names.contains(&"ratio(memory_rss_bytes/memory_usage_bytes)".to_owned()));
        assert!(names.contains(&"rate_ratio(memory_page_faults/tx_bytes)".to_owned()));
        assert!(names.contains(&"growth(used_bytes)".to_owned()));
        // Levels that grow with age or identify the image are out (of v2 too),
        // levels that follow the load are out since v2.
        for level in [
            Feature::Mean(Metric::MemoryUsageBytes),
            Feature::Max(Metric::MemoryUsageBytes),
            Feature::Mean(Metric::RootfsUsedBytes),
            Feature::Mean(Metric::LogsfsUsedBytes),
            Feature::Mean(Metric::VolumeUsedBytes),
        ] {
            assert!(!set.columns.iter().any(|c| c.feature == level), "{level:?}");
            assert!(!FeatureSet::behaviour_v2().columns.iter().any(|c| c.feature == level));
            assert!(FeatureSet::behaviour_v1().columns.iter().any(|c| c.feature == level));
        }
        for load in [
            Feature::Mean(Metric::CpuUsageNanocores),
            Feature::StdDev(Metric::CpuUsageNanocores),
            Feature::Rate(Metric::CpuUsageCoreNanoseconds),
            Feature::Rate(Metric::RxBytes),
            Feature::Rate(Metric::MemoryPageFaults),
        ] {
            assert!(!set.columns.iter().any(|c| c.feature == load), "{load:?}");
            assert!(FeatureSet::behaviour_v2().columns.iter().any(|c| c.feature == load));
        }
        // Every column of v2 a data file may carry is still known.
        let v2 = FeatureSet::behaviour_v2();
        assert_eq!(FeatureSet::for_columns(&v2.column_names()), v2);
        // Names are safe as CSV and ARFF headers.
        assert!(names.iter().all(|n| !n.contains(',') && !n.contains(' ')));
        assert!(
            !names.iter().any(|n| n.contains("image_size")),
            "the image is identity, not behaviour"
        );
        assert!(
            !set.columns
                .iter()
                .any(|c| matches!(c.feature, Feature::IdentityHash(_)))
        );
        assert!(!set.metrics().contains(&Metric::RunningTimeSeconds));
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }
}
