//! Class-conditional (Mondrian) conformal p-values from calibration scores
//! of held-out containers.
//!
//! For class `y`, the calibration scores are the novelty scores of `y`'s
//! containers when they were held out of the reference. Each container
//! weighs 1 in total, spread over its rows, so a container that ran longer
//! does not count more. With `W` calibration containers,
//!
//! `p_y(s) = (weight of calibration scores ≥ s + 1) / (W + 1)`,
//!
//! the share of honest containers at least as unusual as this row (the `+1`
//! is the row itself: the p-value of a new honest container is then
//! uniform, so `p ≤ α` happens with probability `α` at most).
//!
//! **Resolution.** That p-value is never below `1 / (W + 1)`: with 10
//! calibration containers, 0.09. A false-anomaly rate α of 0.01 could not be
//! honoured without ~100 containers per class. [`Tail::Power`] extends the
//! p-value beyond the largest calibration score `s_max` with the tail of
//! the scores' own distribution: `p(s) = p(s_max) · (s_max / s)^(1/β)` for
//! `s > s_max`, where `β` is the mean excess of the log-scores over their
//! median (the maximum-likelihood scale of an exponential tail of the
//! log-scores, as in peaks-over-threshold). [`Tail::Empirical`] stops at
//! `1 / (W + 1)` and says so.

use serde::{Deserialize, Serialize};

/// How p-values beyond the largest calibration score are found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tail {
    /// The plain conformal p-value, never below `1 / (W + 1)`.
    Empirical,
    /// The conformal p-value up to the largest calibration score, then an
    /// exponential tail of the log-scores (a power law of the score).
    #[default]
    Power,
}

/// The most calibration points kept per class (weighted quantiles beyond).
pub const MAX_POINTS: usize = 256;

/// The smallest tail scale (log units): with very few calibration
/// containers the mean excess can be tiny, which would make every score a
/// little above the largest one look impossible.
pub const MIN_BETA: f64 = 0.15;

/// Offset of the log-scores: a score (a distance) of 0 is possible.
const LOG_OFFSET: f64 = 1e-3;

/// The calibration of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassCalibration {
    /// Calibration scores, ascending.
    scores: Vec<f64>,
    /// For each score, the weight of the scores at or above it.
    weight_at_or_above: Vec<f64>,
    /// Total weight: the number of calibration containers.
    containers: f64,
    /// Scale of the tail in log units (see the module docs).
    beta: f64,
    /// The weight the judged row itself adds: 1 (a whole container: the
    /// conformal p-value) or less (see [`ClassCalibration::with_prior`]).
    #[serde(default = "one")]
    prior: f64,
}

fn one() -> f64 {
    1.0
}

impl ClassCalibration {
    /// From `(score, weight)` pairs (a container's weights sum to 1). `None`
    /// without a positive weight.
    pub fn new(points: Vec<(f64, f64)>) -> Option<ClassCalibration> {
        Self::with_max_points(points, MAX_POINTS)
    }

    /// Like [`ClassCalibration::new`], keeping at most `max_points` (at
    /// least 8) points: equal-weight bins beyond, each represented by its
    /// largest score (which can only raise p-values: conservative).
    pub fn with_max_points(mut points: Vec<(f64, f64)>, max_points: usize) -> Option<ClassCalibration> {
        let max_points = max_points.max(8);
        points.retain(|(s, w)| s.is_finite() && *s >= 0.0 && w.is_finite() && *w > 0.0);
        let total: f64 = points.iter().map(|p| p.1).sum();
        if points.is_empty() || total <= 0.0 {
            return None;
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let beta = tail_scale(&points, total);
        // Keep at most `max_points`: equal-weight bins.
        let points = if points.len() > max_points {
            let per_bin = total / max_points as f64;
            let mut out: Vec<(f64, f64)> = Vec::with_capacity(max_points + 1);
            let mut acc = 0.0;
            for (s, w) in points {
                match out.last_mut() {
                    Some(last) if acc < per_bin => {
                        last.0 = s;
                        last.1 += w;
                        acc += w;
                    }
                    _ => {
                        out.push((s, w));
                        acc = w;
                    }
                }
            }
            out
        } else {
            points
        };
        let mut above = vec![0.0; points.len()];
        let mut acc = 0.0;
        for (i, p) in points.iter().enumerate().rev() {
            acc += p.1;
            above[i] = acc;
        }
        Some(ClassCalibration {
            scores: points.iter().map(|p| p.0).collect(),
            weight_at_or_above: above,
            containers: total,
            beta,
            prior: 1.0,
        })
    }

    /// The number of calibration containers (total weight).
    pub fn containers(&self) -> f64 {
        self.containers
    }

    /// The smallest p-value the plain conformal rule can give: `1 / (W + 1)`.
    pub fn resolution(&self) -> f64 {
        1.0 / (self.containers + 1.0)
    }

    /// The largest calibration score.
    pub fn max_score(&self) -> f64 {
        self.scores.last().copied().unwrap_or(0.0)
    }

    /// The tail scale β (log units).
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// The p-value of score `s`.
    pub fn p_value(&self, s: f64, tail: Tail) -> f64 {
        if s.is_nan() {
            return 1.0;
        }
        // First score >= s.
        let i = self.scores.partition_point(|&c| c < s);
        let above = self.weight_at_or_above.get(i).copied().unwrap_or(0.0);
        let p = (above + self.prior) / (self.containers + self.prior);
        match tail {
            Tail::Empirical => p,
            Tail::Power if i < self.scores.len() => p,
            Tail::Power => {
                let max = self.max_score();
                let ratio = (max + LOG_OFFSET) / (s + LOG_OFFSET);
                p * ratio.powf(1.0 / self.beta)
            }
        }
    }

    /// Whether the numbers are usable (checked after decoding).
    pub(crate) fn is_valid(&self) -> bool {
        self.scores.len() == self.weight_at_or_above.len()
            && !self.scores.is_empty()
            && self.scores.iter().all(|s| s.is_finite())
            && self.scores.is_sorted()
            && self.weight_at_or_above.iter().all(|w| w.is_finite() && *w >= 0.0)
            && self.containers.is_finite()
            && self.containers > 0.0
            && self.beta.is_finite()
            && self.beta >= MIN_BETA
            && self.prior.is_finite()
            && self.prior > 0.0
            && self.prior <= 1.0
    }
}

/// β: the weighted mean excess of the log-scores over their weighted median,
/// at least [`MIN_BETA`]. `points` sorted by score.
fn tail_scale(points: &[(f64, f64)], total: f64) -> f64 {
    let (sum, weight) = tail_excess(points, total);
    if weight > 0.0 {
        (sum / weight).max(MIN_BETA)
    } else {
        MIN_BETA
    }
}

/// The weighted sum of the log-scores' excesses over their weighted median,
/// and the weight of the scores above it. `points` sorted by score.
fn tail_excess(points: &[(f64, f64)], total: f64) -> (f64, f64) {
    let mut acc = 0.0;
    let mut median = points[0].0;
    for &(s, w) in points {
        acc += w;
        median = s;
        if acc >= total / 2.0 {
            break;
        }
    }
    let u = (median + LOG_OFFSET).ln();
    let (mut sum, mut weight) = (0.0, 0.0);
    for &(s, w) in points.iter().filter(|p| p.0 > median) {
        sum += w * ((s + LOG_OFFSET).ln() - u);
        weight += w;
    }
    (sum, weight)
}

/// One tail scale β for several classes' `(score, weight)` points: the
/// weighted mean excess of each class's log-scores over its own median,
/// pooled (at least [`MIN_BETA`]). A class with two calibration containers
/// cannot say how heavy its tail is; the shape of the tail beyond the
/// median is shared by the classes far more than its position.
pub fn pooled_beta(classes: &[Vec<(f64, f64)>]) -> f64 {
    let (mut sum, mut weight) = (0.0, 0.0);
    for pts in classes {
        let mut pts: Vec<(f64, f64)> = pts
            .iter()
            .copied()
            .filter(|(s, w)| s.is_finite() && *s >= 0.0 && w.is_finite() && *w > 0.0)
            .collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = pts.iter().map(|p| p.1).sum();
        let (s, w) = tail_excess(&pts, total);
        sum += s;
        weight += w;
    }
    if weight > 0.0 {
        (sum / weight).max(MIN_BETA)
    } else {
        MIN_BETA
    }
}

impl ClassCalibration {
    /// The same calibration with the judged row weighing `prior` (0 to 1)
    /// instead of a whole container. With 1 the p-value is conformal for a
    /// container judged on a random row, and never below `1 / (W + 1)`: the
    /// score must exceed every calibration *row* of every container to get
    /// there, which is far rarer than 1 in `W + 1` for one row of a new
    /// container. With the weight of one calibration row, the p-value is
    /// the container-weighted share of calibration rows at least as unusual:
    /// an estimate of how often a new honest container's row is, at the
    /// resolution of rows.
    pub fn with_prior(mut self, prior: f64) -> ClassCalibration {
        if prior.is_finite() && prior > 0.0 {
            self.prior = prior.min(1.0);
        }
        self
    }

    /// The same calibration with tail scale `beta` (at least [`MIN_BETA`]).
    pub fn with_beta(mut self, beta: f64) -> ClassCalibration {
        if beta.is_finite() {
            self.beta = beta.max(MIN_BETA);
        }
        self
    }
}

/// The most windows a [`WindowCalibration`] is made for; a statistic over
/// more windows uses the latest this many.
pub const MAX_CALIBRATED_WINDOWS: usize = 5;

/// How the scores of a container's consecutive windows are summarised into
/// one multi-window score ([`window_statistic`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowStatistic {
    /// The arithmetic mean of the windows' scores.
    Mean,
    /// The geometric mean (the mean of the log-scores; the default: the
    /// combined score is a product, its tail is calibrated on the log
    /// scale, and one wild window does not decide alone). Measured against
    /// the mean at `--confirm-windows 2` deciding at the 2nd window, α =
    /// 0.01: simulator sweep honest 9 against 10 of 600, impostors 95 and
    /// unknown services 63 of 100 either way; recordings unknowns named
    /// like a class 25 against 26 of 48, impostors 32 of 36 either way.
    #[default]
    GeometricMean,
    /// The smallest of the windows' scores (the most typical window).
    Min,
    /// The median of the windows' scores.
    Median,
}

/// The multi-window score of `scores` (each ≥ 0, at least one) under `stat`.
pub fn window_statistic(stat: WindowStatistic, scores: &[f64]) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    let n = scores.len() as f64;
    match stat {
        WindowStatistic::Mean => scores.iter().sum::<f64>() / n,
        WindowStatistic::GeometricMean => {
            (scores.iter().map(|s| (s + LOG_OFFSET).ln()).sum::<f64>() / n).exp() - LOG_OFFSET
        }
        WindowStatistic::Min => scores.iter().copied().fold(f64::INFINITY, f64::min),
        WindowStatistic::Median => {
            let mut v = scores.to_vec();
            v.sort_by(f64::total_cmp);
            super::space::quantile_sorted(&v, 0.5).unwrap_or(f64::NAN)
        }
    }
}

/// The calibration of a statistic over `k` consecutive windows of a
/// container, for `k` = 2 to [`MAX_CALIBRATED_WINDOWS`]: the statistic of
/// held-out containers' windows `gap` rows apart (the spacing at which the
/// watcher judges a container's next window, sharing no snapshot with the
/// previous one), each container weighing 1 spread over its runs of windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowCalibration {
    /// Rows between two consecutive windows judged.
    pub gap: usize,
    /// How the windows' scores are summarised.
    pub statistic: WindowStatistic,
    /// `by_windows[i]` is the calibration for `i + 2` windows (`None`: too
    /// few held-out containers had that many windows).
    by_windows: Vec<Option<ClassCalibration>>,
}

impl WindowCalibration {
    /// From the calibrations for 2, 3, … windows.
    pub fn new(gap: usize, statistic: WindowStatistic, by_windows: Vec<Option<ClassCalibration>>) -> Self {
        WindowCalibration {
            gap,
            statistic,
            by_windows,
        }
    }

    /// The calibration for `k` windows (`k` ≥ 2; more than
    /// [`MAX_CALIBRATED_WINDOWS`] use that many), if there is one.
    pub fn for_windows(&self, k: usize) -> Option<&ClassCalibration> {
        let k = k.min(MAX_CALIBRATED_WINDOWS);
        k.checked_sub(2)
            .and_then(|i| self.by_windows.get(i))
            .and_then(Option::as_ref)
    }

    /// Whether the numbers are usable (checked after decoding).
    pub(crate) fn is_valid(&self) -> bool {
        self.gap >= 1
            && self.by_windows.len() < MAX_CALIBRATED_WINDOWS
            && self.by_windows.iter().flatten().all(ClassCalibration::is_valid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_values_count_containers_and_extend_past_the_largest_score() {
        // Three containers: two rows each (weight 1/2), scores 1..=6.
        let pts: Vec<(f64, f64)> = (1..=6).map(|s| (s as f64, 0.5)).collect();
        let c = ClassCalibration::new(pts).unwrap();
        assert_eq!(c.containers(), 3.0);
        assert_eq!(c.resolution(), 0.25);
        assert_eq!(c.p_value(0.0, Tail::Empirical), 1.0);
        assert_eq!(c.p_value(6.0, Tail::Empirical), (0.5 + 1.0) / 4.0);
        assert_eq!(c.p_value(100.0, Tail::Empirical), 0.25);
        let at_max = c.p_value(6.0, Tail::Power);
        let beyond = c.p_value(6.5, Tail::Power);
        let far = c.p_value(60.0, Tail::Power);
        assert!(at_max > beyond && beyond > far && far > 0.0, "{at_max} {beyond} {far}");
        assert!(beyond <= 0.25 + 1e-12);
        assert!(c.is_valid());
        assert!(ClassCalibration::new(vec![(1.0, 0.0), (f64::NAN, 1.0)]).is_none());
        assert_eq!(c.p_value(f64::NAN, Tail::Power), 1.0);
    }

    #[test]
    fn window_statistics() {
        let v = [1.0, 4.0, 2.0];
        assert_eq!(window_statistic(WindowStatistic::Mean, &v), 7.0 / 3.0);
        assert!((window_statistic(WindowStatistic::GeometricMean, &[1.0, 4.0]) - 2.0).abs() < 2e-3);
        assert_eq!(window_statistic(WindowStatistic::Min, &v), 1.0);
        assert_eq!(window_statistic(WindowStatistic::Median, &v), 2.0);
        assert_eq!(window_statistic(WindowStatistic::Median, &[1.0, 4.0]), 2.5);
        assert!(window_statistic(WindowStatistic::Mean, &[]).is_nan());
        let c = ClassCalibration::new(vec![(1.0, 1.0), (2.0, 1.0)]).unwrap();
        let w = WindowCalibration::new(3, WindowStatistic::Mean, vec![Some(c.clone()), None]);
        assert_eq!(w.for_windows(2), Some(&c));
        assert_eq!(w.for_windows(3), None);
        assert_eq!(w.for_windows(1), None);
        assert!(w.is_valid());
    }

    #[test]
    fn many_points_are_kept_bounded_and_conservative() {
        let pts: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64 / 100.0, 0.01)).collect();
        let exact = ClassCalibration::new(pts.clone()).unwrap();
        assert!(exact.scores.len() <= MAX_POINTS + 1);
        assert!((exact.containers() - 100.0).abs() < 1e-6);
        // Bins only raise p-values, by at most one bin's weight.
        for s in [0.5, 10.0, 50.0, 99.0] {
            let true_above: f64 = pts.iter().filter(|p| p.0 >= s).map(|p| p.1).sum();
            let p_true = (true_above + 1.0) / 101.0;
            let p = exact.p_value(s, Tail::Empirical);
            assert!(
                p >= p_true - 1e-9 && p <= p_true + 100.0 / MAX_POINTS as f64 / 101.0 + 1e-9,
                "{s}: {p} {p_true}"
            );
        }
    }
}
