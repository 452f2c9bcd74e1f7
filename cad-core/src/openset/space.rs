//! The robust, scale-free space novelty is measured in.
//!
//! Container metrics span orders of magnitude (an idle nginx sends 30 B/s, a
//! busy PostgreSQL 1 MB/s), so every value is first put on a log scale
//! (`sign(x) · ln(1 + |x|)`, defined for ratios and zeros alike) and then
//! standardised per feature by its median and interquartile range over the
//! training rows: one unit is "a typical spread of this feature", whatever
//! its unit. Medians and quartiles ignore the few extreme rows a busy
//! container or a start-up phase produces.

use crate::dataset::Dataset;
use serde::{Deserialize, Serialize};

/// The smallest spread a feature is given, in log units (`ln`): a feature
/// that is constant over the training rows (an error counter that stays 0, a
/// per-image constant) still counts a difference of 25 % or more as about one
/// spread, instead of dividing by zero.
pub const MIN_SPREAD: f64 = 0.25;

/// The log scale: `sign(x) · ln(1 + |x|)`.
#[inline]
pub fn signed_log(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p()
}

/// Per-feature centre and spread of the log-scaled training values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustSpace {
    centre: Vec<f64>,
    spread: Vec<f64>,
}

/// The `q`-quantile (0..=1) of sorted values, linearly interpolated.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let t = pos - lo as f64;
    Some(sorted[lo] * (1.0 - t) + sorted[hi] * t)
}

impl RobustSpace {
    /// Fits the centre (median) and spread (interquartile range / 1.349, the
    /// standard deviation of a normal distribution with that IQR; at least
    /// [`MIN_SPREAD`]) of every feature over the rows `rows` of `data`.
    pub fn fit(data: &Dataset, rows: &[usize]) -> RobustSpace {
        let w = data.n_features();
        let mut centre = vec![0.0; w];
        let mut spread = vec![1.0; w];
        let mut column = Vec::with_capacity(rows.len());
        for j in 0..w {
            column.clear();
            column.extend(rows.iter().filter_map(|&r| data.value(r, j)).map(signed_log));
            column.sort_by(f64::total_cmp);
            if let (Some(m), Some(q1), Some(q3)) = (
                quantile_sorted(&column, 0.5),
                quantile_sorted(&column, 0.25),
                quantile_sorted(&column, 0.75),
            ) {
                centre[j] = m;
                spread[j] = ((q3 - q1) / 1.349).max(MIN_SPREAD);
            }
        }
        RobustSpace { centre, spread }
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.centre.len()
    }

    /// Writes the standardised row into `out` (NaN for a missing value or a
    /// feature the space does not have).
    pub fn transform_into(&self, row: &[Option<f64>], out: &mut Vec<f64>) {
        out.clear();
        out.extend((0..self.centre.len()).map(|j| match row.get(j).copied().flatten() {
            Some(v) if v.is_finite() => (signed_log(v) - self.centre[j]) / self.spread[j],
            _ => f64::NAN,
        }));
    }

    /// Like [`RobustSpace::transform_into`], from a row in the
    /// [`Dataset::raw_row`] encoding (NaN = missing).
    pub(crate) fn transform_raw_into(&self, raw: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.extend((0..self.centre.len()).map(|j| match raw.get(j) {
            Some(&v) if v.is_finite() => (signed_log(v) - self.centre[j]) / self.spread[j],
            _ => f64::NAN,
        }));
    }

    /// Whether the space's numbers are usable (finite, spreads positive):
    /// checked after decoding.
    pub(crate) fn is_valid(&self) -> bool {
        self.centre.len() == self.spread.len()
            && self.centre.iter().all(|c| c.is_finite())
            && self.spread.iter().all(|s| s.is_finite() && *s > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_centred_and_scaled_robustly() {
        let mut d = Dataset::new(vec!["bytes".into(), "zero".into()], vec!["a".into()]);
        for i in 0..100 {
            let v = 1000.0 * (1.0 + i as f64 / 100.0);
            d.push(&[Some(v), Some(0.0)], "a", "g").unwrap();
        }
        // One wild row does not move the centre much.
        d.push(&[Some(1e12), Some(0.0)], "a", "g").unwrap();
        let rows: Vec<usize> = (0..d.n_rows()).collect();
        let s = RobustSpace::fit(&d, &rows);
        let mut out = Vec::new();
        s.transform_into(&[Some(1500.0), None], &mut out);
        assert!(out[0].abs() < 0.2, "{out:?}");
        assert!(out[1].is_nan());
        // A constant feature gets the minimum spread: 0 → 1 is 0.69 / 0.25.
        s.transform_into(&[Some(1500.0), Some(1.0)], &mut out);
        assert!((out[1] - 2f64.ln() / MIN_SPREAD).abs() < 1e-9, "{out:?}");
        assert!(s.is_valid());
        assert_eq!(signed_log(-1.0), -(2f64.ln()));
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }
}
