//! The ages a model was trained for.
//!
//! The watcher decides on a pod's first window of snapshots after its start
//! (the *young* ages), so the collector trains on rows taken at those ages
//! from each training pod's own early history, plus *steady* rows of the
//! recent window for pods older than the young horizon. Each row of a
//! [`Dataset`] keeps its pod's age as metadata ([`Dataset::age`]), never as
//! a feature: in real clusters the classes' ages differ (databases live
//! long, web deployments roll), so an age column would leak the label.
//!
//! [`AgeCoverage`] summarises those ages; the model bundle carries it, and
//! the watcher judges a pod first seen when already old only if the model
//! [covers](AgeCoverage::covers) that age.

use crate::dataset::Dataset;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default of the young horizon: rows of a pod's first 5 minutes are young.
pub const DEFAULT_YOUNG_HORIZON: Duration = Duration::from_secs(300);

/// The youngest and the oldest age of some rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeRange {
    /// The youngest.
    pub min: Duration,
    /// The oldest.
    pub max: Duration,
}

/// The ages of a model's training rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeCoverage {
    /// Rows at most this old count as young.
    pub young_horizon: Duration,
    /// Ages of the young rows, if any.
    pub young: Option<AgeRange>,
    /// Ages of the steady rows (older than the horizon), if any.
    pub steady: Option<AgeRange>,
    /// Young rows.
    pub young_rows: usize,
    /// Steady rows.
    pub steady_rows: usize,
    /// Rows of unknown age (their pod's start time was unknown).
    pub unknown_rows: usize,
    /// Classes with rows but no young row: the model never saw their pods'
    /// first minutes, where the watcher decides.
    pub classes_without_young_rows: Vec<String>,
    /// The usual time between a container's consecutive young rows (the
    /// median over containers of the gaps between their rows' ages): the
    /// metrics' scrape interval times the feature set's stride. With
    /// [`young`](Self::young), it says at what age the watcher's windows
    /// complete ([`decision_age`](Self::decision_age)). `None` when no
    /// container has two young rows, and in bundles before format 8 (stored
    /// apart in the bundle, so this struct's older encoding still reads).
    #[serde(skip)]
    pub row_interval: Option<Duration>,
}

impl AgeCoverage {
    /// The coverage of `data`'s rows, young up to `young_horizon`; `None`
    /// when no row has a known age (a data file, for example).
    pub fn of(data: &Dataset, young_horizon: Duration) -> Option<AgeCoverage> {
        if !data.has_ages() {
            return None;
        }
        let horizon = young_horizon.as_secs_f64();
        let mut c = AgeCoverage {
            young_horizon,
            ..Default::default()
        };
        let mut young_per_class = vec![0usize; data.classes().len()];
        // The young rows' ages of each container (group).
        let mut young_ages: Vec<Vec<f64>> = vec![Vec::new(); data.group_names().len()];
        let mut rows_per_class = vec![0usize; data.classes().len()];
        let widen = |r: &mut Option<AgeRange>, age: Duration| {
            *r = Some(match *r {
                None => AgeRange { min: age, max: age },
                Some(AgeRange { min, max }) => AgeRange {
                    min: min.min(age),
                    max: max.max(age),
                },
            });
        };
        for i in 0..data.n_rows() {
            let class = data.label(i);
            if let Some(n) = rows_per_class.get_mut(class) {
                *n += 1;
            }
            match data.age(i) {
                None => c.unknown_rows += 1,
                Some(a) => {
                    let age = Duration::from_secs_f64(a);
                    if a <= horizon {
                        c.young_rows += 1;
                        widen(&mut c.young, age);
                        if let Some(n) = young_per_class.get_mut(class) {
                            *n += 1;
                        }
                        if let Some(ages) = young_ages.get_mut(data.group(i)) {
                            ages.push(a);
                        }
                    } else {
                        c.steady_rows += 1;
                        widen(&mut c.steady, age);
                    }
                }
            }
        }
        c.classes_without_young_rows = data
            .classes()
            .iter()
            .zip(rows_per_class.iter().zip(&young_per_class))
            .filter(|(_, (rows, young))| **rows > 0 && **young == 0)
            .map(|(name, _)| name.clone())
            .collect();
        c.row_interval = row_interval(young_ages);
        Some(c)
    }

    /// The age at which the watcher can decide a new pod on its `windows`-th
    /// window of `window` snapshots (`windows` ≥ 1, windows starting every
    /// `stride` snapshots, at least `min_snapshots` for the first one), as
    /// the watcher takes them ([`WatchState::decide`](crate::engine::WatchState::decide)):
    /// the youngest young row's age (a first window), the snapshots of the
    /// later windows at the [row interval](Self::row_interval), and one
    /// snapshot interval more (a new pod's first sample may come up to one
    /// interval later than the earliest training pod's). `None` when the
    /// bundle does not record enough (no young rows, or no row interval).
    pub fn decision_age(&self, window: usize, stride: usize, min_snapshots: usize, windows: usize) -> Option<Duration> {
        let (first, every) = (self.young?.min, self.row_interval?);
        let (window, stride) = (window.max(1), stride.max(1));
        let snapshot = every.div_f64(stride as f64);
        let mut needed = min_snapshots.max(window);
        for _ in 1..windows.max(1) {
            needed = needed.div_ceil(stride) * stride + window;
        }
        let later = u32::try_from(needed - window + 1).unwrap_or(u32::MAX);
        Some(first.saturating_add(snapshot.saturating_mul(later)))
    }

    /// Whether a model trained on these rows can judge a pod first seen at
    /// `age`: it is young enough for the young rows, or the model has steady
    /// rows (the behaviour features do not grow with age, so a model that
    /// learnt behaviour past the start-up phase judges any later age).
    pub fn covers(&self, age: Duration) -> bool {
        self.steady.is_some() || self.young.is_some_and(|r| age <= r.max)
    }

    /// The oldest age [`covers`](Self::covers) accepts, `None` if any.
    pub fn max_age(&self) -> Option<Duration> {
        match (self.steady, self.young) {
            (Some(_), _) => None,
            (None, Some(r)) => Some(r.max),
            (None, None) => Some(Duration::ZERO),
        }
    }

    /// Warnings for the report: one per class without young rows.
    pub fn warnings(&self) -> Vec<String> {
        self.classes_without_young_rows
            .iter()
            .map(|class| {
                format!(
                    "WARNING: class {class} has no training row from a pod's first {} s (its pods' early history is \
                     not in the metrics store): the watcher decides in those first minutes, where this model has \
                     never seen {class}",
                    self.young_horizon.as_secs()
                )
            })
            .collect()
    }
}

/// The median over containers of the median gap between consecutive ages
/// of each container's rows (in seconds); `None` without any gap.
fn row_interval(mut per_container: Vec<Vec<f64>>) -> Option<Duration> {
    let median = |v: &mut Vec<f64>| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    };
    let mut gaps: Vec<f64> = per_container
        .iter_mut()
        .filter_map(|ages| {
            ages.sort_by(f64::total_cmp);
            let mut g: Vec<f64> = ages.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0.0).collect();
            median(&mut g)
        })
        .collect();
    median(&mut gaps).and_then(|s| Duration::try_from_secs_f64(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_splits_young_and_steady_rows_and_names_classes_without_young_ones() {
        let mut d = Dataset::new(vec!["x".into()], vec!["a".into(), "b".into(), "c".into()]);
        let g = d.group_index("g");
        d.push_aged(&[Some(1.0)], 0, g, Some(30.0)).unwrap();
        d.push_aged(&[Some(1.0)], 0, g, Some(290.0)).unwrap();
        d.push_aged(&[Some(1.0)], 0, g, Some(86_400.0)).unwrap();
        d.push_aged(&[Some(1.0)], 1, g, Some(600.0)).unwrap();
        d.push_aged(&[Some(1.0)], 1, g, None).unwrap();
        let c = AgeCoverage::of(&d, DEFAULT_YOUNG_HORIZON).unwrap();
        assert_eq!(
            c.young,
            Some(AgeRange {
                min: Duration::from_secs(30),
                max: Duration::from_secs(290)
            })
        );
        assert_eq!(c.steady.map(|r| r.max), Some(Duration::from_secs(86_400)));
        assert_eq!((c.young_rows, c.steady_rows, c.unknown_rows), (2, 2, 1));
        assert_eq!(c.classes_without_young_rows, ["b"], "c has no rows at all");
        assert_eq!(c.warnings().len(), 1);
        assert!(c.warnings()[0].contains("class b"));
        assert!(c.covers(Duration::from_secs(90 * 86_400)), "steady rows");
        assert_eq!(c.max_age(), None);

        let young_only = AgeCoverage { steady: None, ..c };
        assert!(young_only.covers(Duration::from_secs(290)));
        assert!(!young_only.covers(Duration::from_secs(291)));
        assert_eq!(young_only.max_age(), Some(Duration::from_secs(290)));

        let mut files = Dataset::new(vec!["x".into()], vec!["a".into()]);
        files.push(&[Some(1.0)], "a", "g").unwrap();
        assert_eq!(AgeCoverage::of(&files, DEFAULT_YOUNG_HORIZON), None);
    }

    #[test]
    fn windows_complete_at_the_row_interval_after_the_youngest_row() {
        // Two containers scraped every 30 s, one with a gap; a third with one row.
        let mut d = Dataset::new(vec!["x".into()], vec!["a".into()]);
        for (g, ages) in [
            ("a", &[130.0, 160.0, 190.0, 220.0][..]),
            ("b", &[140.0, 170.0, 230.0, 260.0, 290.0]),
            ("c", &[150.0]),
        ] {
            let g = d.group_index(g);
            for a in ages {
                d.push_aged(&[Some(1.0)], 0, g, Some(*a)).unwrap();
            }
        }
        d.push_aged(&[Some(1.0)], 0, 0, Some(4000.0)).unwrap();
        let c = AgeCoverage::of(&d, DEFAULT_YOUNG_HORIZON).unwrap();
        assert_eq!(c.row_interval, Some(Duration::from_secs(30)));
        let s = Duration::from_secs;
        // One window of 4: the youngest row, one interval later.
        assert_eq!(c.decision_age(4, 1, 0, 1), Some(s(160)));
        // Two windows of 4 sharing no snapshot: 4 snapshots later.
        assert_eq!(c.decision_age(4, 1, 0, 2), Some(s(280)));
        // More snapshots asked for the first window, and a stride of 3
        // (rows 30 s apart: snapshots every 10 s).
        assert_eq!(c.decision_age(4, 1, 6, 1), Some(s(220)));
        assert_eq!(c.decision_age(4, 3, 0, 2), Some(s(200)));
        // Not recorded: unknown.
        let old = AgeCoverage {
            row_interval: None,
            ..c.clone()
        };
        assert_eq!(old.decision_age(4, 1, 0, 2), None);
        let one_row = AgeCoverage::of(&Dataset::new(vec!["x".into()], vec!["a".into()]), DEFAULT_YOUNG_HORIZON);
        assert_eq!(one_row, None);
    }
}
