//! A seeded synthetic data set for tests, like `shared/bench/make_dataset.py`:
//! class centres, a per-group offset and per-row noise.

use crate::classifier::Classifier;
use crate::dataset::Dataset;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A standard normal draw (Box–Muller; `rand_distr` is not a dependency).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `rows` rows of `features` features and `classes` classes, `per_group` rows
/// per group; `spread` scales the class centres (3.0 as in the Python script;
/// smaller values make the classes overlap). `missing` is the share of values
/// left missing.
pub(crate) fn make(
    rows: usize,
    features: usize,
    classes: usize,
    per_group: usize,
    spread: f64,
    missing: f64,
    seed: u64,
) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let names = (0..features).map(|i| format!("f{i}")).collect();
    let class_names = (0..classes).map(|i| format!("c{i}")).collect();
    let mut d = Dataset::new(names, class_names);
    let centres: Vec<Vec<f64>> = (0..classes)
        .map(|_| (0..features).map(|_| normal(&mut rng) * spread).collect())
        .collect();
    let n_groups = rows.div_ceil(per_group).max(1);
    let mut row = vec![None; features];
    for g in 0..n_groups {
        let class = rng.random_range(0..classes);
        let offset: Vec<f64> = (0..features).map(|_| normal(&mut rng)).collect();
        let gi = d.group_index(&format!("g{g}"));
        for _ in 0..per_group.min(rows - g * per_group) {
            for (f, v) in row.iter_mut().enumerate() {
                let x = centres[class][f] + offset[f] + normal(&mut rng);
                *v = if rng.random::<f64>() < missing { None } else { Some(x) };
            }
            if let Some(Some(x)) = row.first_mut() {
                *x = x.exp() * 1e6;
            }
            d.push_indexed(&row, class, gi).unwrap();
        }
    }
    d
}

/// Splits by group: groups whose index is 0, 1 or 2 mod 10 form the test side.
pub(crate) fn grouped_split(d: &Dataset) -> (Dataset, Dataset) {
    let (test, train): (Vec<usize>, Vec<usize>) = (0..d.n_rows()).partition(|&i| d.group(i) % 10 < 3);
    (d.select(&train), d.select(&test))
}

/// Share of rows of `d` whose prediction is their label.
pub(crate) fn accuracy(m: &dyn crate::Classifier, d: &Dataset) -> f64 {
    let p = m.predict_dataset(d);
    let ok = p.iter().enumerate().filter(|(i, p)| p.class == d.label(*i)).count();
    ok as f64 / d.n_rows() as f64
}

/// Checks every 37th row of `d`: `c`'s class distribution (over 400 classes
/// at most) sums to 1 and its prediction is the most probable class with
/// that probability as confidence.
pub(crate) fn assert_proba_matches_predict(c: &impl Classifier, d: &Dataset) {
    let mut p = vec![0.0; 400];
    for i in (0..d.n_rows()).step_by(37) {
        c.predict_proba_into(&d.row(i), &mut p);
        let pred = c.predict(&d.row(i));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(p[pred.class], pred.confidence);
    }
}
