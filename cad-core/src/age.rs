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
        Some(c)
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
}
