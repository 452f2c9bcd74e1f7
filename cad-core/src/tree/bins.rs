//! Pre-binning: every feature is cut once into at most 255 quantile bins
//! (stored as `u8`, column-major) plus a bin for missing values, so split
//! search works on small histograms instead of sorted values.

use crate::dataset::Dataset;

/// The bin of a missing value (never a value bin: `max_bins` is at most 255).
pub(crate) const MISSING_BIN: u8 = 255;

/// Histogram slots per feature: 255 value bins and the missing bin.
pub(crate) const SLOTS: usize = 256;

/// At most this many values of a column are sorted to find its cut points
/// (a deterministic stride sample above it, as LightGBM does).
const QUANTILE_SAMPLE: usize = 200_000;

/// Features sampled per pass over the rows by [`Binned::of_rows`].
const FEATURE_BLOCK: usize = 4;

/// A data set's features, binned.
#[derive(Debug, Clone)]
pub(crate) struct Binned {
    /// Number of rows.
    pub n_rows: usize,
    /// `bins[f * n_rows + r]`: the bin of row `r`'s feature `f`.
    pub bins: Vec<u8>,
    /// Per feature the upper edges: bin `b < len` holds `x <= edges[b]` (and
    /// `x > edges[b - 1]`); bin `len` holds everything above the last edge.
    pub edges: Vec<Vec<f64>>,
}

impl Binned {
    /// Bins every feature of the rows `rows` of `data` (all rows if `None`),
    /// in that order, into at most `max_bins` (2..=255) value bins: the bins
    /// of `data.select(rows)`, without the copy.
    pub fn of_rows(data: &Dataset, rows: Option<&[usize]>, max_bins: usize) -> Binned {
        let row = |i: usize| data.raw_row(rows.map_or(i, |r| r[i]));
        let n = rows.map_or(data.n_rows(), <[usize]>::len);
        let w = data.n_features();
        let max_bins = max_bins.clamp(2, 255);
        let mut edges = Vec::with_capacity(w);
        let stride = n.div_ceil(QUANTILE_SAMPLE).max(1);
        // The rows are stored row by row: reading one feature of every row
        // fetches a whole cache line per row, so the values are sampled
        // `FEATURE_BLOCK` features per pass and binned all in one pass (the
        // 20 features of 70,000 rows: 6 passes over the rows instead of 40).
        let mut samples: Vec<Vec<f64>> = (0..FEATURE_BLOCK.min(w))
            .map(|_| Vec::with_capacity(n.min(QUANTILE_SAMPLE) + 1))
            .collect();
        for first in (0..w).step_by(FEATURE_BLOCK) {
            let block = first..(first + FEATURE_BLOCK).min(w);
            samples.iter_mut().for_each(Vec::clear);
            for r in (0..n).step_by(stride) {
                for (s, &v) in samples.iter_mut().zip(&row(r)[block.clone()]) {
                    if !v.is_nan() {
                        s.push(v);
                    }
                }
            }
            edges.extend(samples.iter_mut().take(block.len()).map(|s| cut_points(s, max_bins)));
        }
        // The bins only once the samples are freed: both at once were part
        // of the peak memory of a forest's fit (BENCHMARKS.md, issue 20).
        drop(samples);
        let mut bins = vec![0u8; n * w];
        for r in 0..n {
            for (f, (&v, e)) in row(r).iter().zip(&edges).enumerate() {
                bins[f * n + r] = bin_of(e, v);
            }
        }
        Binned { n_rows: n, bins, edges }
    }

    /// Number of value bins of feature `f`.
    pub fn n_bins(&self, f: usize) -> usize {
        self.edges[f].len() + 1
    }

    /// The bins of feature `f`, one per row.
    pub fn column(&self, f: usize) -> &[u8] {
        &self.bins[f * self.n_rows..(f + 1) * self.n_rows]
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.edges.len()
    }
}

/// The bin of `x` given the upper edges (`x <= edges[b]`), [`MISSING_BIN`] for NaN.
pub(crate) fn bin_of(edges: &[f64], x: f64) -> u8 {
    if x.is_nan() {
        MISSING_BIN
    } else {
        // At most 254 edges, so the index fits in a u8 below MISSING_BIN.
        edges.partition_point(|&e| e < x) as u8
    }
}

/// Upper bin edges for the (non-NaN) `values`: midpoints between consecutive
/// distinct values, all of them if there are few, else at the quantiles.
fn cut_points(values: &mut [f64], max_bins: usize) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    // The distinct values are walked as runs of the sorted values, not
    // collected: a list of them was as long as the sample (1.6 MB for a
    // column of 100,000 real values) and part of the peak memory of a
    // forest's fit (BENCHMARKS.md, issue 20).
    let distinct = runs(values).count();
    if distinct <= 1 {
        return Vec::new();
    }
    let pairs = runs(values).zip(runs(values).skip(1));
    if distinct <= max_bins {
        return pairs.map(|((a, _), (b, _))| midpoint(a, b)).collect();
    }
    let total = values.len() as f64;
    let per_bin = total / max_bins as f64;
    let mut cuts = Vec::with_capacity(max_bins - 1);
    let mut acc = 0usize;
    let mut next = 1usize;
    for ((v, count), (after, _)) in pairs {
        acc += count;
        if acc as f64 >= next as f64 * per_bin {
            cuts.push(midpoint(v, after));
            while (next as f64) * per_bin <= acc as f64 {
                next += 1;
            }
            if cuts.len() == max_bins - 1 {
                break;
            }
        }
    }
    cuts
}

/// The runs of equal values of the sorted `values`: each run's first value
/// and its length.
fn runs(values: &[f64]) -> impl Iterator<Item = (f64, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let &v = values.get(i)?;
        let start = i;
        i += 1;
        while values.get(i).is_some_and(|&x| x == v) {
            i += 1;
        }
        Some((v, i - start))
    })
}

/// A value `m` with `a <= m < b` (for `a < b`), the midpoint where representable.
fn midpoint(a: f64, b: f64) -> f64 {
    let m = a / 2.0 + b / 2.0;
    if m >= b || m < a { a } else { m }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let mut v = vec![3.0, 1.0, 2.0, 2.0, 1.0];
        let e = cut_points(&mut v, 255);
        assert_eq!(e, vec![1.5, 2.5]);
        assert_eq!(bin_of(&e, 1.0), 0);
        assert_eq!(bin_of(&e, 1.5), 0);
        assert_eq!(bin_of(&e, 2.0), 1);
        assert_eq!(bin_of(&e, 3.0), 2);
        assert_eq!(bin_of(&e, f64::NAN), MISSING_BIN);
    }

    #[test]
    fn many_values_are_cut_at_quantiles() {
        let mut v: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let e = cut_points(&mut v, 4);
        assert_eq!(e.len(), 3);
        assert!((e[0] - 2499.5).abs() < 1.0, "{e:?}");
        assert!((e[2] - 7499.5).abs() < 1.0, "{e:?}");
        let mut v: Vec<f64> = (0..100_000).map(|i| (i % 1000) as f64).collect();
        assert_eq!(cut_points(&mut v, 255).len(), 254);
    }

    /// The cut points as they were computed before they walked runs of
    /// the sorted values: from a collected list of the distinct values.
    fn cut_points_collected(values: &mut [f64], max_bins: usize) -> Vec<f64> {
        values.sort_unstable_by(f64::total_cmp);
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for &v in values.iter() {
            match distinct.last_mut() {
                Some((last, c)) if *last == v => *c += 1,
                _ => distinct.push((v, 1)),
            }
        }
        if distinct.len() <= 1 {
            return Vec::new();
        }
        if distinct.len() <= max_bins {
            return distinct.windows(2).map(|p| midpoint(p[0].0, p[1].0)).collect();
        }
        let per_bin = values.len() as f64 / max_bins as f64;
        let (mut cuts, mut acc, mut next) = (Vec::new(), 0usize, 1usize);
        for j in 0..distinct.len() - 1 {
            acc += distinct[j].1;
            if acc as f64 >= next as f64 * per_bin {
                cuts.push(midpoint(distinct[j].0, distinct[j + 1].0));
                while (next as f64) * per_bin <= acc as f64 {
                    next += 1;
                }
                if cuts.len() == max_bins - 1 {
                    break;
                }
            }
        }
        cuts
    }

    #[test]
    fn cut_points_equal_those_of_a_collected_distinct_list() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for case in 0..60 {
            let n = [0, 1, 2, 5, 300, 5_000][case % 6];
            let distinct = [1, 2, 3, 50, 255, 256, 4_000][case % 7];
            let v: Vec<f64> = (0..n)
                .map(|_| match rng.random_range(0..10) {
                    0 => 0.0,
                    1 => -0.0,
                    2 => rng.random::<f64>() * 1e12,
                    _ => rng.random_range(0..distinct) as f64 - 7.0,
                })
                .collect();
            for max_bins in [2, 4, 255] {
                let (mut a, mut b) = (v.clone(), v.clone());
                let (new, old) = (cut_points(&mut a, max_bins), cut_points_collected(&mut b, max_bins));
                assert_eq!(
                    new.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    old.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "case {case}, max_bins {max_bins}"
                );
            }
        }
    }

    #[test]
    fn midpoint_stays_between_adjacent_floats() {
        let a = 1.0f64;
        let b = f64::from_bits(a.to_bits() + 1);
        let m = midpoint(a, b);
        assert!(a <= m && m < b);
    }
}
