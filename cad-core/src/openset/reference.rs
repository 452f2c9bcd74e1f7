//! What each class's training containers did, kept small: a bounded number
//! of standardised rows per container, quantised to 16 bits.
//!
//! The novelty score of a row for class `y` is its distance to the `k`
//! nearest *containers* of `y`, where the distance to a container is the
//! distance to its nearest row. Containers, not rows: one container's many
//! near-identical rows would otherwise form a tight cluster that makes its
//! neighbourhood look densely populated.

use serde::{Deserialize, Serialize};

/// Quantisation step of stored values (1/256 of a spread).
const STEP: f64 = 1.0 / 256.0;
/// Stored values are clamped to ±127 spreads; `i16::MIN` marks "missing".
const LIMIT: f64 = 127.0;
const MISSING: i16 = i16::MIN;

fn quantise(z: f64) -> i16 {
    if z.is_nan() {
        MISSING
    } else {
        (z.clamp(-LIMIT, LIMIT) / STEP).round() as i16
    }
}

#[cfg(test)]
fn dequantise(q: i16) -> f64 {
    if q == MISSING { f64::NAN } else { f64::from(q) * STEP }
}

/// How two standardised rows are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// Root mean square of the per-feature differences (Euclidean, scaled by
    /// the number of features both rows have).
    #[default]
    Rms,
    /// Mean absolute difference (less dominated by one wild feature).
    MeanAbs,
    /// The largest absolute difference of any feature (a difference in a
    /// few features is not diluted by the many that agree).
    Max,
    /// Root mean square after dropping the given number (at most
    /// [`MAX_TRIMMED`], and always leaving one) of the largest per-feature
    /// differences: a few features moved together by one cause (CPU
    /// contention moves every CPU-per-unit ratio) count less, a moderate
    /// difference on many features still counts fully. Added after the
    /// others so that stored models keep their meaning.
    TrimmedRms(u8),
}

/// The most per-feature differences [`Metric::TrimmedRms`] drops.
pub const MAX_TRIMMED: usize = 4;

impl Metric {
    /// Whether the parameters are in range (checked after decoding).
    pub(crate) fn is_valid(self) -> bool {
        match self {
            Metric::TrimmedRms(m) => usize::from(m) <= MAX_TRIMMED,
            _ => true,
        }
    }
}

/// The running aggregate of the per-feature differences of one comparison.
struct Aggregate {
    metric: Metric,
    sum: f64,
    wsum: f64,
    n: usize,
    /// [`Metric::TrimmedRms`]: the largest contributions `(w d², w)` so far,
    /// largest first; unused slots hold a negative contribution.
    top: [(f64, f64); MAX_TRIMMED],
}

impl Aggregate {
    #[inline]
    fn new(metric: Metric) -> Aggregate {
        Aggregate {
            metric,
            sum: 0.0,
            wsum: 0.0,
            n: 0,
            top: [(-1.0, 0.0); MAX_TRIMMED],
        }
    }

    /// Adds the difference `d` of one feature that counts `weight`.
    #[inline]
    fn add(&mut self, d: f64, weight: f64) {
        match self.metric {
            Metric::Rms => self.sum += weight * (d * d),
            Metric::MeanAbs => self.sum += weight * d.abs(),
            Metric::Max => self.sum = self.sum.max((d * weight).abs()),
            Metric::TrimmedRms(m) => {
                let c = weight * (d * d);
                self.sum += c;
                let m = usize::from(m).min(MAX_TRIMMED);
                if m > 0 && c > self.top[m - 1].0 {
                    let mut i = m - 1;
                    while i > 0 && self.top[i - 1].0 < c {
                        self.top[i] = self.top[i - 1];
                        i -= 1;
                    }
                    self.top[i] = (c, weight);
                }
            }
        }
        self.wsum += weight;
        self.n += 1;
    }

    /// The distance, `None` with fewer than `min_shared` features.
    #[inline]
    fn finish(&self, min_shared: usize) -> Option<f64> {
        let (n, sum, wsum) = (self.n, self.sum, self.wsum);
        if n < min_shared.max(1) || wsum <= 0.0 {
            return None;
        }
        Some(match self.metric {
            Metric::Max => sum,
            Metric::Rms => (sum * n as f64 / wsum / n as f64).sqrt(),
            Metric::MeanAbs => sum * n as f64 / wsum / n as f64,
            Metric::TrimmedRms(m) => {
                let drop = usize::from(m).min(MAX_TRIMMED).min(n - 1);
                let (c, w) = self.top[..drop].iter().fold((0.0, 0.0), |(c, w), t| (c + t.0, w + t.1));
                let rest = wsum - w;
                if rest > 0.0 {
                    ((sum - c).max(0.0) / rest).sqrt()
                } else {
                    0.0
                }
            }
        })
    }
}

/// The distance between two standardised rows over the features both have,
/// `None` when they share fewer than `min_shared` features.
#[inline]
pub fn distance(a: &[f64], b: &[f64], min_shared: usize, metric: Metric) -> Option<f64> {
    let mut agg = Aggregate::new(metric);
    for (x, y) in a.iter().zip(b) {
        let d = x - y;
        if !d.is_nan() {
            agg.add(d, 1.0);
        }
    }
    agg.finish(min_shared)
}

/// A per-feature difference counts at most this many of the class's
/// spreads: one wild feature (a log file that grew, a burst) cannot outweigh
/// all the others.
pub const CLIP: f64 = 4.0;

/// The smallest per-class spread of a feature, in units of the feature's
/// overall spread: a feature constant within a class (a per-image constant)
/// still counts a small difference as a small one.
pub const MIN_CLASS_SPREAD: f64 = 0.25;

/// 1 / the spread of each feature over `class_rows` (standardised rows of
/// one class): the interquartile range / 1.349, at least [`MIN_CLASS_SPREAD`].
pub fn inverse_spread(class_rows: &[Vec<f64>], n_features: usize) -> Vec<f64> {
    let mut column = Vec::with_capacity(class_rows.len());
    (0..n_features)
        .map(|j| {
            column.clear();
            column.extend(class_rows.iter().filter_map(|row| row.get(j)).filter(|v| !v.is_nan()));
            column.sort_by(f64::total_cmp);
            let spread = match (
                super::space::quantile_sorted(&column, 0.25),
                super::space::quantile_sorted(&column, 0.75),
            ) {
                (Some(q1), Some(q3)) => (q3 - q1) / 1.349,
                _ => 1.0,
            };
            1.0 / spread.max(MIN_CLASS_SPREAD)
        })
        .collect()
}

/// One class's reference: its containers' rows, quantised, and the class's
/// own spread of each feature.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassReference {
    /// Row-major quantised values, `n_features` per row.
    values: Vec<i16>,
    /// Where each container's rows start (in rows); the last container ends
    /// at the end of `values`.
    starts: Vec<u32>,
    /// 1 / the class's spread of each feature (in the standardised space).
    inv_spread: Vec<f64>,
    /// How much each feature's difference counts (empty: 1 each; see
    /// [`feature_weights`]).
    #[serde(default)]
    weight: Vec<f64>,
}

/// The largest feature weight.
pub const MAX_WEIGHT: f64 = 4.0;

/// How much each feature counts in a distance: how far apart the classes'
/// medians are (their standard deviation) relative to the typical spread
/// within a class (the median over classes), clamped to
/// `[1 / MAX_WEIGHT, MAX_WEIGHT]` and scaled to a mean of 1. A feature on
/// which the known classes differ is a feature on which software differs;
/// one that varies as much within a class as between classes (the load, a
/// pod's scale) says little about which software runs. `medians[c][j]` and
/// `inv_spreads[c][j]` per class (NaN median: the class has no value).
pub fn feature_weights(medians: &[Vec<f64>], inv_spreads: &[Vec<f64>], n_features: usize) -> Vec<f64> {
    let mut w: Vec<f64> = (0..n_features)
        .map(|j| {
            let m: Vec<f64> = medians
                .iter()
                .filter_map(|c| c.get(j))
                .copied()
                .filter(|v| !v.is_nan())
                .collect();
            if m.len() < 2 {
                return 1.0;
            }
            let mean = m.iter().sum::<f64>() / m.len() as f64;
            let between = (m.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m.len() - 1) as f64).sqrt();
            let mut within: Vec<f64> = inv_spreads.iter().filter_map(|c| c.get(j)).map(|i| 1.0 / i).collect();
            within.sort_by(f64::total_cmp);
            let within = within
                .get(within.len() / 2)
                .copied()
                .unwrap_or(1.0)
                .max(MIN_CLASS_SPREAD);
            (between / within).clamp(1.0 / MAX_WEIGHT, MAX_WEIGHT)
        })
        .collect();
    let mean = w.iter().sum::<f64>() / w.len().max(1) as f64;
    if mean > 0.0 {
        w.iter_mut()
            .for_each(|v| *v = (*v / mean).clamp(1.0 / MAX_WEIGHT, MAX_WEIGHT));
    }
    w
}

impl ClassReference {
    /// A reference from containers given as lists of standardised rows, with
    /// the class's spread of each feature ([`inverse_spread`]). Empty
    /// containers are dropped.
    pub fn new(containers: &[Vec<Vec<f64>>], inv_spread: Vec<f64>) -> ClassReference {
        let mut r = ClassReference {
            inv_spread,
            ..Default::default()
        };
        let mut n_rows = 0u32;
        for c in containers.iter().filter(|c| !c.is_empty()) {
            r.starts.push(n_rows);
            for row in c {
                r.values.extend(row.iter().map(|&z| quantise(z)));
                n_rows += 1;
            }
        }
        r
    }

    /// The same reference with feature weights ([`feature_weights`]; one
    /// per feature, each in `(0, MAX_WEIGHT]`).
    pub fn with_weights(mut self, weight: Vec<f64>) -> ClassReference {
        self.weight = weight;
        self
    }

    /// Number of containers.
    pub fn n_containers(&self) -> usize {
        self.starts.len()
    }

    /// Number of stored rows.
    pub fn n_rows(&self, n_features: usize) -> usize {
        self.values.len().checked_div(n_features).unwrap_or(0)
    }

    /// Whether the layout is consistent with `n_features` (checked after decoding).
    pub(crate) fn is_valid(&self, n_features: usize) -> bool {
        if n_features == 0 || !self.values.len().is_multiple_of(n_features) {
            return self.values.is_empty() && self.starts.is_empty();
        }
        if !self.starts.is_empty()
            && (self.inv_spread.len() != n_features
                || !self
                    .inv_spread
                    .iter()
                    .all(|s| s.is_finite() && *s > 0.0 && *s <= 1.0 / MIN_CLASS_SPREAD))
        {
            return false;
        }
        if !self.weight.is_empty()
            && (self.weight.len() != n_features
                || !self
                    .weight
                    .iter()
                    .all(|w| w.is_finite() && *w > 0.0 && *w <= MAX_WEIGHT))
        {
            return false;
        }
        let rows = self.values.len() / n_features;
        self.starts.first().is_none_or(|&s| s == 0)
            && self.starts.windows(2).all(|w| w[0] < w[1])
            && self.starts.last().is_none_or(|&s| (s as usize) < rows)
    }

    /// The novelty score of the standardised row `z`: the mean distance to
    /// its `k` nearest containers (fewer if the class has fewer), each
    /// feature's difference in units of the class's spread, clipped at
    /// [`CLIP`]. `None` when no container shares `min_shared` features with it.
    pub fn score(&self, z: &[f64], k: usize, min_shared: usize, metric: Metric, buf: &mut Vec<f64>) -> Option<f64> {
        let w = z.len();
        if w == 0 || self.starts.is_empty() {
            return None;
        }
        let rows = self.values.len() / w;
        buf.clear();
        for (c, &start) in self.starts.iter().enumerate() {
            let end = self.starts.get(c + 1).map_or(rows, |&e| e as usize);
            let mut best: Option<f64> = None;
            for r in start as usize..end {
                let mut agg = Aggregate::new(metric);
                for (j, ((&x, &q), &inv)) in z
                    .iter()
                    .zip(&self.values[r * w..(r + 1) * w])
                    .zip(&self.inv_spread)
                    .enumerate()
                {
                    if q == MISSING || x.is_nan() {
                        continue;
                    }
                    let d = ((x - f64::from(q) * STEP) * inv).clamp(-CLIP, CLIP);
                    agg.add(d, self.weight.get(j).copied().unwrap_or(1.0));
                }
                if let Some(d) = agg.finish(min_shared) {
                    best = Some(best.map_or(d, |b: f64| b.min(d)));
                }
            }
            if let Some(b) = best {
                buf.push(b);
            }
        }
        if buf.is_empty() {
            return None;
        }
        let k = k.clamp(1, buf.len());
        buf.select_nth_unstable_by(k - 1, f64::total_cmp);
        Some(buf[..k].iter().sum::<f64>() / k as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_distances_to_the_nearest_containers() {
        let c = |v: &[f64]| v.iter().map(|&x| vec![x, 0.0]).collect::<Vec<_>>();
        // A class spread of 1 in both features (the second is constant: floored).
        let rows = [vec![-1.349, 0.0], vec![1.349, 0.0]];
        let r = ClassReference::new(
            &[c(&[0.0, 0.1]), c(&[5.0]), vec![], c(&[10.0])],
            inverse_spread(&rows, 2),
        );
        assert!((r.inv_spread[0] - 1.0).abs() < 1e-12 && r.inv_spread[1] == 1.0 / MIN_CLASS_SPREAD);
        assert_eq!(r.n_containers(), 3);
        assert_eq!(r.n_rows(2), 4);
        assert!(r.is_valid(2));
        let mut buf = Vec::new();
        let mut rms = |z: f64, k| r.score(&[z, 0.0], k, 1, Metric::Rms, &mut buf).unwrap();
        // Distances are scaled by sqrt(2) (two features, one differs), and
        // clipped at CLIP.
        let s = 1.0 / 2f64.sqrt();
        assert!((rms(1.0, 1) - 0.9 * s).abs() < 1e-2);
        assert!((rms(1.0, 2) - (0.9 + 4.0) / 2.0 * s).abs() < 1e-2);
        // k larger than the containers: all of them.
        assert!((rms(1.0, 9) - (0.9 + 4.0 + CLIP) / 3.0 * s).abs() < 1e-2);
        // Too few shared features: no score.
        assert_eq!(r.score(&[f64::NAN, 0.0], 1, 2, Metric::Rms, &mut Vec::new()), None);
        assert_eq!(distance(&[1.0, 3.0], &[0.0, 0.0], 1, Metric::MeanAbs), Some(2.0));
        // The trimmed RMS drops the largest differences, leaving at least one.
        let a = [0.0, 1.0, 1.0, 9.0, f64::NAN];
        let zero = [0.0; 5];
        assert_eq!(
            distance(&a, &zero, 1, Metric::TrimmedRms(0)),
            distance(&a, &zero, 1, Metric::Rms)
        );
        assert_eq!(
            distance(&a, &zero, 1, Metric::TrimmedRms(1)),
            Some((2.0f64 / 3.0).sqrt())
        );
        assert_eq!(distance(&a, &zero, 1, Metric::TrimmedRms(3)), Some(0.0));
        assert_eq!(distance(&[2.0, 5.0], &[0.0; 2], 1, Metric::TrimmedRms(4)), Some(2.0));
        assert_eq!(distance(&a, &zero, 5, Metric::TrimmedRms(1)), None);
        // In a class reference: per-feature weights, and the clip before the trim.
        let t = ClassReference::new(&[vec![vec![0.0, 0.0, 0.0]]], vec![1.0; 3]).with_weights(vec![2.0, 1.0, 1.0]);
        let trimmed = t
            .score(&[1.0, 10.0, 2.0], 1, 1, Metric::TrimmedRms(1), &mut buf)
            .unwrap();
        assert!((trimmed - ((2.0 + 4.0) / 3.0f64).sqrt()).abs() < 1e-9, "{trimmed}");
        assert!(Metric::TrimmedRms(4).is_valid() && !Metric::TrimmedRms(5).is_valid());
        assert_eq!(quantise(1e9), quantise(LIMIT));
        assert!(dequantise(quantise(f64::NAN)).is_nan());
        let broken = |values: Vec<i16>, starts: Vec<u32>| ClassReference {
            values,
            starts,
            inv_spread: vec![1.0; 2],
            weight: Vec::new(),
        };
        assert!(!broken(vec![0; 3], vec![0]).is_valid(2));
        assert!(!broken(vec![0; 4], vec![1, 0]).is_valid(2));
        assert!(broken(vec![0; 4], vec![0, 1]).is_valid(2));
    }
}
