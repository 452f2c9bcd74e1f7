//! **The feature definitions**: the named feature sets and their columns.
//!
//! Everything a reader needs to know about which columns a model sees is in
//! [`legacy_columns`] and [`BEHAVIOUR`] below.

use super::{Column, Feature, FeatureSet, Identity};
use crate::metric::Metric;

/// Samples closer than this (milliseconds) to a snapshot's first sample
/// join that snapshot, unless their metric is already there.
pub const DEFAULT_ALIGN_TOLERANCE_MS: i64 = 5_000;

/// The names of the built-in sets, as [`FeatureSet::by_name`] accepts them.
pub const NAMES: &[&str] = &["legacy", "behaviour"];

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
/// (`mean(memory_usage_bytes)`, `rate(rx_bytes)`, …).
///
/// No identity hashes, no image size and no running time: a model must learn
/// what a container *does*, not what it is called, which image it was started
/// from (an nginx image running a crypto miner is what we want to catch) or
/// how old it is.
const BEHAVIOUR: &[Feature] = {
    use Feature::*;
    use Metric::*;
    &[
        // Memory and CPU levels, with their spread over the window.
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
        // File systems.
        Mean(RootfsUsedBytes),
        Mean(LogsfsUsedBytes),
        Mean(VolumeUsedBytes),
        // Counters, as per-second rates.
        Rate(RxBytes),
        Rate(TxBytes),
        Rate(CpuUsageCoreNanoseconds),
        Rate(BlkioReadBytes),
        Rate(BlkioWriteBytes),
        Rate(MemoryPageFaults),
    ]
};

impl FeatureSet {
    /// The old system's 15 columns (`legacy`): identity hashes, raw gauges,
    /// raw cumulative counters, one snapshot per row. Comparison only: it
    /// leaks the label through the pod-name hash.
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

    /// The default set (`behaviour`): gauges aggregated and counters as rates
    /// over windows of 3 snapshots (about 30 s of Telegraf samples), a row
    /// starting at every snapshot.
    pub fn behaviour() -> FeatureSet {
        FeatureSet {
            name: "behaviour".to_owned(),
            columns: BEHAVIOUR
                .iter()
                .map(|f| Column {
                    name: f.default_name(),
                    feature: *f,
                })
                .collect(),
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
            _ => None,
        }
    }

    /// The names of the built-in sets.
    pub fn names() -> &'static [&'static str] {
        NAMES
    }

    /// The feature set of a data file's columns (an ARFF or CSV file to train
    /// from): a column named like a `legacy` or `behaviour` column is computed
    /// the same way; any other column is [`Feature::External`] (cannot be
    /// computed from metrics, so always missing for the watcher). If every
    /// column is a legacy one this is the legacy set's windowing, else the
    /// behaviour set's. Named after the built-in set it equals, else `file`.
    pub fn for_columns(names: &[String]) -> FeatureSet {
        let legacy = FeatureSet::legacy();
        let behaviour = FeatureSet::behaviour();
        for set in [&legacy, &behaviour] {
            if set.column_names() == names {
                return set.clone();
            }
        }
        let find = |set: &FeatureSet, n: &str| set.columns.iter().find(|c| c.name == n).map(|c| c.feature);
        let all_legacy = names.iter().all(|n| find(&legacy, n).is_some());
        let base = if all_legacy { legacy.clone() } else { behaviour.clone() };
        FeatureSet {
            name: "file".to_owned(),
            columns: names
                .iter()
                .map(|n| Column {
                    name: n.clone(),
                    feature: find(&legacy, n)
                        .or_else(|| find(&behaviour, n))
                        .unwrap_or(Feature::External),
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
        assert_eq!(names[0], "mean(memory_usage_bytes)");
        assert!(names.contains(&"rate(rx_bytes)".to_owned()));
        assert!(names.contains(&"stddev(cpu_usage_nanocores)".to_owned()));
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
