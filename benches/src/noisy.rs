//! A noisy synthetic data set shaped like container metrics (the data of the
//! compact-forest issue, #20), where trees grown to purity get thousands of
//! leaves:
//!
//! * 20 features: 10 informative (two clusters per class in a 10-dimensional
//!   space, like scikit-learn's `make_classification`), 5 redundant (random
//!   linear mixes of the informative ones plus noise) and 5 of pure noise;
//! * 5 classes, 60 rows per group (container); each group has its own offset,
//!   shared by its rows, so held-out containers are harder than held-out rows;
//! * 2 % label noise: a row's label is replaced by another class at random;
//! * heavy-tailed byte-like columns (`f0`, `f1`, `f10`, `f15`: log-normal, in
//!   whole bytes up to ~10⁹), integer counters (`f2`, `f11`, `f16`: few
//!   distinct values), and 5 % missing values in four columns (`f3`, `f4`,
//!   `f12`, `f17`).
//!
//! [`write_csv`] writes it as the CSV that `cad-collector --from-file`,
//! scikit-learn and LightGBM read (`scripts/compare-sklearn.sh`); [`split`]
//! gives the same rows in memory for the criterion benchmarks.

use crate::synth::Rng;
use cad_core::Dataset;
use std::io::Write;

/// Features per row.
pub const FEATURES: usize = 20;
/// Informative features (the first block of the underlying values).
pub const INFORMATIVE: usize = 10;
/// Classes.
pub const CLASSES: usize = 5;
/// Rows per group (container).
pub const ROWS_PER_GROUP: usize = 60;
/// Share of rows whose label is replaced by another class.
pub const LABEL_NOISE: f64 = 0.02;
/// Share of missing values in each of [`MISSING_COLUMNS`].
pub const MISSING_SHARE: f64 = 0.05;
/// Columns with missing values.
pub const MISSING_COLUMNS: [usize; 4] = [3, 4, 12, 17];
/// Log-normal columns in whole bytes.
pub const BYTE_COLUMNS: [usize; 4] = [0, 1, 10, 15];
/// Integer counters with few distinct values.
pub const COUNTER_COLUMNS: [usize; 3] = [2, 11, 16];

/// Spread of the cluster centres (in units of the per-row noise).
const CENTRE_SPREAD: f64 = 1.0;
/// Spread of a group's offset.
const GROUP_SPREAD: f64 = 0.6;

/// One generated row: values (`None` = missing), class, group.
pub struct Row {
    /// The feature values.
    pub values: [Option<f64>; FEATURES],
    /// The (possibly noisy) label.
    pub class: usize,
    /// The group (container) index.
    pub group: usize,
}

/// Calls `f` with each of `rows` rows (rounded down to whole groups, at least
/// one), deterministically from `seed`.
pub fn generate(rows: usize, seed: u64, mut f: impl FnMut(&Row)) {
    let mut rng = Rng(seed ^ 0x5EED_0020);
    // Two clusters per class in the informative space.
    let centres: Vec<[f64; INFORMATIVE]> = (0..2 * CLASSES)
        .map(|_| std::array::from_fn(|_| rng.normal() * CENTRE_SPREAD))
        .collect();
    // Redundant features: random mixes of the informative ones.
    let mix: Vec<[f64; INFORMATIVE]> = (0..5).map(|_| std::array::from_fn(|_| rng.normal() * 0.5)).collect();
    let mut latent = [0.0; FEATURES];
    let mut offset = [0.0; FEATURES];
    for g in 0..(rows / ROWS_PER_GROUP).max(1) {
        let class = rng.below(CLASSES);
        offset.iter_mut().for_each(|o| *o = rng.normal() * GROUP_SPREAD);
        for _ in 0..ROWS_PER_GROUP {
            let centre = &centres[2 * class + rng.below(2)];
            for i in 0..INFORMATIVE {
                latent[i] = centre[i] + offset[i] + rng.normal();
            }
            for (j, m) in mix.iter().enumerate() {
                let v: f64 = m.iter().zip(&latent[..INFORMATIVE]).map(|(a, b)| a * b).sum();
                latent[INFORMATIVE + j] = v + offset[INFORMATIVE + j] + 0.3 * rng.normal();
            }
            for i in INFORMATIVE + 5..FEATURES {
                latent[i] = offset[i] + rng.normal();
            }
            // Shuffle the roles into the output columns deterministically:
            // column c takes latent (c * 7) % 20 (7 is coprime with 20).
            let mut values: [Option<f64>; FEATURES] = std::array::from_fn(|c| Some(latent[(c * 7) % FEATURES]));
            for c in BYTE_COLUMNS {
                values[c] = values[c].map(|x| (1e5 * (1.8 * x).exp()).round());
            }
            for c in COUNTER_COLUMNS {
                values[c] = values[c].map(|x| (3.0 * x + 8.0).round().max(0.0));
            }
            for c in MISSING_COLUMNS {
                if rng.next() < MISSING_SHARE {
                    values[c] = None;
                }
            }
            let label = if rng.next() < LABEL_NOISE {
                (class + 1 + rng.below(CLASSES - 1)) % CLASSES
            } else {
                class
            };
            f(&Row {
                values,
                class: label,
                group: g,
            });
        }
    }
}

fn empty() -> Dataset {
    Dataset::new(
        (0..FEATURES).map(|i| format!("f{i}")).collect(),
        (0..CLASSES).map(|i| format!("c{i}")).collect(),
    )
}

/// `rows` rows split by group: each group goes to the second data set with
/// probability `test_share` (drawn from `seed` apart from the rows).
pub fn split(rows: usize, seed: u64, test_share: f64) -> (Dataset, Dataset) {
    let (mut train, mut test) = (empty(), empty());
    let mut pick = Rng(seed.wrapping_mul(31).wrapping_add(7));
    let mut side = Vec::new();
    generate(rows, seed, |r| {
        if side.len() <= r.group {
            side.push(pick.next() < test_share);
        }
        let d = if side[r.group] { &mut test } else { &mut train };
        let gi = d.group_index(&format!("g{}", r.group));
        // The width is FEATURES by construction: this cannot fail.
        let _ = d.push_indexed(&r.values, r.class, gi);
    });
    (train, test)
}

/// All `rows` rows in one data set.
pub fn dataset(rows: usize, seed: u64) -> Dataset {
    split(rows, seed, 0.0).0
}

/// Writes `rows` rows as CSV: `f0..f19,group,class`, missing values empty.
pub fn write_csv(rows: usize, seed: u64, out: &mut impl Write) -> std::io::Result<()> {
    let header: Vec<String> = (0..FEATURES).map(|i| format!("f{i}")).collect();
    writeln!(out, "{},group,class", header.join(","))?;
    let mut result = Ok(());
    generate(rows, seed, |r| {
        if result.is_err() {
            return;
        }
        let mut line = String::with_capacity(256);
        for v in &r.values {
            if let Some(v) = v {
                line.push_str(&v.to_string());
            }
            line.push(',');
        }
        line.push_str(&format!("g{},c{}\n", r.group, r.class));
        result = out.write_all(line.as_bytes());
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_noise_and_missing_values() {
        let d = dataset(60_000, 1);
        assert_eq!(
            (d.n_rows(), d.n_features(), d.group_names().len()),
            (60_000, FEATURES, 1000)
        );
        let missing = |c: usize| (0..d.n_rows()).filter(|&r| d.value(r, c).is_none()).count() as f64 / 60_000.0;
        for c in MISSING_COLUMNS {
            assert!((0.04..0.06).contains(&missing(c)), "column {c}: {}", missing(c));
        }
        assert_eq!(missing(0), 0.0);
        for c in COUNTER_COLUMNS {
            assert!((0..d.n_rows()).all(|r| d.value(r, c).is_some_and(|v| v.fract() == 0.0 && v >= 0.0)));
        }
        // Labels that differ from the group's majority: about 2 %.
        let mut noisy = 0;
        for g in 0..1000 {
            let rows = &d.labels()[g * 60..(g + 1) * 60];
            let mut counts = [0; CLASSES];
            rows.iter().for_each(|&l| counts[l as usize] += 1);
            noisy += 60 - counts.iter().max().unwrap();
        }
        let share = noisy as f64 / 60_000.0;
        assert!((0.01..0.03).contains(&share), "{share}");
        let mut csv = Vec::new();
        write_csv(120, 1, &mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(text.lines().count(), 121);
        assert!(text.lines().nth(1).unwrap().ends_with(",g0,c") || text.lines().nth(1).unwrap().contains(",g0,c"));
    }
}
