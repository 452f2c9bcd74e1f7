//! A deterministic synthetic data set shaped like `shared/bench/make_dataset.py`:
//! class centres ~ N(0, 3²), a per-group offset ~ N(0, 1) shared by the group's
//! rows, per-row noise ~ N(0, 1); feature 0 becomes `exp(x)·1e6` and feature 1
//! `|x|·1e7` (the scale of bytes and nanocores). Not bit-identical to the Python
//! script (another random generator), but the same distribution.

use cad_core::Dataset;

/// Features per row, as in the Python script.
pub const FEATURES: usize = 15;
/// Classes, as in the Python script.
pub const CLASSES: usize = 5;
/// Rows per group (container), as in the Python script.
pub const ROWS_PER_GROUP: usize = 60;

/// splitmix64: small, fast and good enough for benchmark data. Hand-written so
/// that the data does not change with a `rand` upgrade.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.next().max(f64::EPSILON);
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * self.next()).cos()
    }

    /// A whole number in `0..n` (`n` at least 1).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next() * n as f64) as usize).min(n - 1)
    }
}

fn empty() -> Dataset {
    Dataset::new(
        (0..FEATURES).map(|i| format!("f{i}")).collect(),
        (0..CLASSES).map(|i| format!("c{i}")).collect(),
    )
}

/// Generates `rows` rows (rounded down to whole groups of 60, at least one
/// group); each group goes to the second data set with probability `test_share`.
fn generate(rows: usize, seed: u64, test_share: f64) -> (Dataset, Dataset) {
    let mut rng = Rng(seed);
    let centres: Vec<Vec<f64>> = (0..CLASSES)
        .map(|_| (0..FEATURES).map(|_| rng.normal() * 3.0).collect())
        .collect();
    let mut train = empty();
    let mut test = empty();
    let mut row = vec![None; FEATURES];
    let mut offset = [0.0; FEATURES];
    for g in 0..(rows / ROWS_PER_GROUP).max(1) {
        let class = ((rng.next() * CLASSES as f64) as usize).min(CLASSES - 1);
        offset.iter_mut().for_each(|o| *o = rng.normal());
        let d = if rng.next() < test_share { &mut test } else { &mut train };
        let gi = d.group_index(&format!("g{g}"));
        for _ in 0..ROWS_PER_GROUP {
            for (f, v) in row.iter_mut().enumerate() {
                *v = Some(centres[class][f] + offset[f] + rng.normal());
            }
            row[0] = row[0].map(|x| x.exp() * 1e6);
            row[1] = row[1].map(|x| x.abs() * 1e7);
            // The width is FEATURES by construction: this cannot fail.
            let _ = d.push_indexed(&row, class, gi);
        }
    }
    (train, test)
}

/// A data set of `rows` rows (whole groups of 60).
pub fn dataset(rows: usize, seed: u64) -> Dataset {
    generate(rows, seed, 0.0).0
}

/// `rows` rows split by group, about 70 % of the groups for training and
/// 30 % for testing: `(train, test)`.
pub fn split(rows: usize, seed: u64) -> (Dataset, Dataset) {
    generate(rows, seed, 0.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_groups() {
        let d = dataset(600, 1);
        assert_eq!((d.n_rows(), d.n_features(), d.group_names().len()), (600, FEATURES, 10));
        let (train, test) = split(60_000, 2);
        assert_eq!(train.n_rows() + test.n_rows(), 60_000);
        let share = test.n_rows() as f64 / 60_000.0;
        assert!((0.2..0.4).contains(&share), "{share}");
        assert!(train.group_names().iter().all(|g| !test.group_names().contains(g)));
    }
}
