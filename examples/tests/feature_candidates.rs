//! Measurement: candidate features on the recordings of real servers
//! (`data/recordings/`), written as CSV for analysis (issue 17): the
//! columns of `behaviour-v2` and `behaviour` and other ratios that were
//! measured for them. `CAD_FEATURE_WINDOW` sets the snapshots per row.
//!
//! `CAD_FEATURE_DUMP=/tmp/f.csv cargo test -p cad-examples --test feature_candidates -- --ignored`

use cad_core::features::{Column, Feature};
use cad_core::{FeatureSet, Metric};
use cad_examples::recordings;
use std::fmt::Write as _;

#[tokio::test]
#[ignore = "a measurement: writes the candidate features of every recorded row"]
async fn dump_candidate_features() {
    use Feature::*;
    use Metric::*;
    let mut features: Vec<Feature> = FeatureSet::behaviour_v2().columns.iter().map(|c| c.feature).collect();
    let extra = FeatureSet::behaviour().columns.into_iter().map(|c| c.feature).chain([
        RateRatio(CpuUsageCoreNanoseconds, RxBytes),
        RateRatio(CpuUsageCoreNanoseconds, TxBytes),
        RateRatio(MemoryPageFaults, CpuUsageCoreNanoseconds),
        RateRatio(MemoryPageFaults, RxBytes),
        RateRatio(BlkioWriteBytes, RxBytes),
        RateRatio(BlkioWriteBytes, TxBytes),
        Ratio(MemoryWorkingSetBytes, CpuUsageNanocores),
        Ratio(MemoryRssBytes, MemoryWorkingSetBytes),
        Ratio(CpuUsageNanocores, MemoryWorkingSetBytes),
        Mean(MemoryUsageBytes),
    ]);
    for f in extra {
        if !features.contains(&f) {
            features.push(f);
        }
    }
    let window: usize = std::env::var("CAD_FEATURE_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(3);
    let set = FeatureSet {
        name: "candidates".into(),
        columns: features
            .iter()
            .map(|f| Column {
                name: f.default_name(),
                feature: *f,
            })
            .collect(),
        window,
        ..FeatureSet::behaviour()
    };
    let all = recordings::rows(&recordings::dir(), &set).await.expect("recordings");
    let mut out = String::from("pod,class,shape,row");
    for n in set.column_names() {
        write!(out, ",{n}").unwrap();
    }
    out.push('\n');
    for (inst, rows) in &all {
        for (i, r) in rows.iter().enumerate() {
            write!(out, "{},{},{},{i}", inst.pod, inst.class, inst.shape).unwrap();
            for v in r {
                match v {
                    Some(v) => write!(out, ",{v}").unwrap(),
                    None => out.push(','),
                }
            }
            out.push('\n');
        }
    }
    let path = std::env::var("CAD_FEATURE_DUMP").unwrap_or_else(|_| "/tmp/feature_candidates.csv".into());
    std::fs::write(&path, out).expect("write");
}
