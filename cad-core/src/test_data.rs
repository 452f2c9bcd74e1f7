//! The old system's data files, `../shared/data/original` beside the
//! workspace, for the tests that check cad against them.
//!
//! A clone without `../shared` skips those tests (saying so); under
//! `CI=true` their absence fails them, as a missing server does.

use std::path::{Path, PathBuf};

/// The directory, if present; panics under `CI=true` when it is absent.
pub(crate) fn real_data_dir() -> Option<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/original"));
    if dir.is_dir() {
        return Some(dir.to_path_buf());
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is absent, and CI=true: the old system's data must be beside the workspace",
        dir.display()
    );
    println!("skipped: {} is absent", dir.display());
    None
}

/// A file of the directory, if the directory is present (a missing file in
/// a present directory fails).
pub(crate) fn real_data_file(name: &str) -> Option<PathBuf> {
    let path = real_data_dir()?.join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    Some(path)
}

/// A feature set of `n` columns (means of the metrics in catalogue order,
/// `f0`, `f1`, …) over `window` snapshots, for tests that need columns but
/// not real features.
#[cfg(test)]
pub(crate) fn feature_set(n: usize, window: usize) -> crate::FeatureSet {
    use crate::features::{Column, Feature};
    use crate::metric::Metric;
    crate::FeatureSet {
        name: "test".into(),
        columns: (0..n)
            .map(|i| Column {
                name: format!("f{i}"),
                feature: Feature::Mean(Metric::ALL[i % Metric::ALL.len()]),
            })
            .collect(),
        required: vec![],
        window,
        stride: 1,
        align_tolerance_ms: 500,
    }
}
