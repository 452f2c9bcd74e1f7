//! Train/test splits of a [`Dataset`], all deterministic from a seed
//! (ChaCha8). Every split returns row indices, sorted ascending.
//!
//! Rows of one container are strongly correlated (consecutive samples of the
//! same process), so an honest estimate of how well a model recognises a
//! *new* container keeps all rows of a group on one side:
//! [`grouped_split`] and [`grouped_k_fold`]. [`random_row_split`] does not
//! and is kept only to compare with the old system.
//!
//! Containers recorded as replicas of one set
//! ([`Dataset::set_replica_set`]: a Deployment's pods, near twins) are kept
//! on one side together, where their class has other containers to train on.

use crate::dataset::Dataset;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Training row indices and test row indices.
pub type TrainTest = (Vec<usize>, Vec<usize>);

/// Why a split could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// There are no rows.
    #[error("cannot split an empty data set")]
    Empty,
    /// A ratio outside its range.
    #[error("ratio {0} is out of range (must be strictly between 0 and 1)")]
    InvalidRatio(f64),
    /// Fewer than two folds.
    #[error("k-fold needs k >= 2, got {0}")]
    TooFewFolds(usize),
    /// Not enough groups for the split.
    #[error("{needed} groups needed, the data has {groups}")]
    TooFewGroups {
        /// Groups needed.
        needed: usize,
        /// Groups present in the rows, the containers of one replica set
        /// counted once ([`fold_units`]).
        groups: usize,
    },
}

fn check_ratio(r: f64) -> Result<(), SplitError> {
    if r.is_finite() && r > 0.0 && r < 1.0 {
        Ok(())
    } else {
        Err(SplitError::InvalidRatio(r))
    }
}

/// Splits rows `0..n` at random into `round(n * train_ratio)` training rows
/// (at least one and at most `n - 1` when `n >= 2`) and the rest.
///
/// **LEAKY**: rows of one container land on both sides, so a model is tested
/// on near-copies of rows it was trained on and the accuracy says little
/// about new containers. Kept only to compare with the old system, which
/// evaluated this way. Use [`grouped_split`] or [`grouped_k_fold`].
pub fn random_row_split(n: usize, train_ratio: f64, seed: u64) -> Result<TrainTest, SplitError> {
    check_ratio(train_ratio)?;
    if n == 0 {
        return Err(SplitError::Empty);
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_train = ((n as f64 * train_ratio).round() as usize).clamp(1, (n - 1).max(1));
    let mut test = idx.split_off(n_train.min(n));
    idx.sort_unstable();
    test.sort_unstable();
    Ok((idx, test))
}

/// A group that has rows: its index, its class (the most frequent class of
/// its rows, lowest index on ties) and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRows {
    /// Index into [`Dataset::group_names`].
    pub group: usize,
    /// The group's class (majority of its rows).
    pub class: usize,
    /// Its rows, ascending.
    pub rows: Vec<usize>,
}

/// The groups that have rows, in group-index order.
pub fn groups_with_rows(data: &Dataset) -> Vec<GroupRows> {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); data.group_names().len()];
    for (i, &g) in data.groups().iter().enumerate() {
        if let Some(r) = rows.get_mut(g as usize) {
            r.push(i);
        }
    }
    let n_classes = data.classes().len();
    rows.into_iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(group, rows)| {
            let mut counts = vec![0usize; n_classes];
            for &r in &rows {
                if let Some(c) = counts.get_mut(data.label(r)) {
                    *c += 1;
                }
            }
            // max_by_key returns the last maximum; iterate reversed to get the first.
            let class = counts
                .iter()
                .enumerate()
                .rev()
                .max_by_key(|(_, c)| **c)
                .map_or(0, |(i, _)| i);
            GroupRows { group, class, rows }
        })
        .collect()
}

/// Groups (indices into the `groups` slice) per class, each list shuffled.
fn shuffled_by_class(groups: &[GroupRows], n_classes: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes.max(1)];
    for (i, g) in groups.iter().enumerate() {
        if let Some(v) = by_class.get_mut(g.class) {
            v.push(i);
        }
    }
    for v in &mut by_class {
        v.shuffle(rng);
    }
    by_class
}

/// Per group of `groups` (an index into it): the unit the splits keep on
/// one side. Groups recorded as replicas of one set
/// ([`Dataset::set_replica_set`]) share a unit — unless the set is the only
/// one of its class: a class of one unit could not be held out and trained on
/// at once, so there its containers are split as they are. Every other group
/// is a unit of its own.
fn units(data: &Dataset, groups: &[GroupRows]) -> Vec<usize> {
    let per_class = class_units(data, groups);
    let key = |i: usize| data.replica_set(groups[i].group).ok_or(i);
    let mut ids: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    (0..groups.len())
        .map(|i| match key(i) {
            Ok(set) if per_class[&groups[i].class].len() >= 2 => {
                let next = groups.len() + ids.len();
                *ids.entry(set).or_insert(next)
            }
            _ => i,
        })
        .collect()
}

/// Per class with groups (by class index), the units it would have if
/// every replica set were one: the sets by name, the other groups by their
/// index into `groups`.
type ClassUnits<'a> = std::collections::BTreeMap<usize, std::collections::BTreeSet<Result<&'a str, usize>>>;

fn class_units<'a>(data: &'a Dataset, groups: &[GroupRows]) -> ClassUnits<'a> {
    let mut per_class = ClassUnits::new();
    for (i, g) in groups.iter().enumerate() {
        per_class
            .entry(g.class)
            .or_default()
            .insert(data.replica_set(g.group).ok_or(i));
    }
    per_class
}

/// How many distinct units `unit` holds.
fn distinct(unit: &[usize]) -> usize {
    unit.iter().collect::<std::collections::HashSet<_>>().len()
}

/// How many units the grouped splits deal: the groups with rows, the
/// replicas of one set counted once (see [`Dataset::set_replica_set`]). A
/// grouped k-fold needs at least `k`.
pub fn fold_units(data: &Dataset) -> usize {
    let groups = groups_with_rows(data);
    distinct(&units(data, &groups))
}

/// Per class: whether its containers, two or more, are all replicas of one
/// set. The splits deal those one by one (see [`fold_units`]), so the
/// class's held-out containers have their twins in training.
pub fn classes_of_one_replica_set(data: &Dataset) -> Vec<bool> {
    let groups = groups_with_rows(data);
    let mut containers = vec![0usize; data.classes().len()];
    for g in &groups {
        if let Some(n) = containers.get_mut(g.class) {
            *n += 1;
        }
    }
    let mut out = vec![false; containers.len()];
    for (class, keys) in class_units(data, &groups) {
        if let (Some(one), Some(&n)) = (out.get_mut(class), containers.get(class)) {
            *one = n > 1 && keys.len() == 1 && keys.iter().all(Result::is_ok);
        }
    }
    out
}

/// Per class, how many units the grouped splits deal of it (its groups, the
/// replicas of one set counted once): the independent containers the
/// held-out calibration sees of the class.
pub fn fold_units_per_class(data: &Dataset) -> Vec<usize> {
    let groups = groups_with_rows(data);
    let mut seen = std::collections::HashSet::new();
    let mut out = vec![0usize; data.classes().len()];
    for (g, u) in groups.iter().zip(units(data, &groups)) {
        if seen.insert((g.class, u))
            && let Some(n) = out.get_mut(g.class)
        {
            *n += 1;
        }
    }
    out
}

fn collect_rows(groups: &[GroupRows], chosen: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut rows: Vec<usize> = chosen.flat_map(|g| groups[g].rows.iter().copied()).collect();
    rows.sort_unstable();
    rows
}

/// Splits by group: every group's rows are all on one side.
///
/// Stratified by class: of each class's groups, `round(n * test_ratio)` go to
/// the test side, clamped so that a class with at least two groups has at
/// least one on each side. A class with a single group goes to training (it
/// cannot be both trained and tested). If that leaves the test side empty,
/// one group chosen at random is moved to it. Needs at least two groups.
pub fn grouped_split(data: &Dataset, test_ratio: f64, seed: u64) -> Result<TrainTest, SplitError> {
    check_ratio(test_ratio)?;
    if data.is_empty() {
        return Err(SplitError::Empty);
    }
    let groups = groups_with_rows(data);
    if groups.len() < 2 {
        return Err(SplitError::TooFewGroups {
            needed: 2,
            groups: groups.len(),
        });
    }
    let unit = units(data, &groups);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let by_class = shuffled_by_class(&groups, data.classes().len(), &mut rng);
    let mut unit_is_test = std::collections::HashSet::new();
    for class_groups in &by_class {
        // The class's units in the order their first group was shuffled to.
        let mut class_units: Vec<usize> = Vec::new();
        for &g in class_groups {
            if !class_units.contains(&unit[g]) {
                class_units.push(unit[g]);
            }
        }
        let n = class_units.len();
        if n < 2 {
            continue;
        }
        let n_test = ((n as f64 * test_ratio).round() as usize).clamp(1, n - 1);
        unit_is_test.extend(class_units[..n_test].iter().copied());
    }
    if unit_is_test.is_empty() {
        let mut all: Vec<usize> = (0..groups.len()).collect();
        all.shuffle(&mut rng);
        unit_is_test.insert(unit[all[0]]);
    }
    let is_test: Vec<bool> = unit.iter().map(|u| unit_is_test.contains(u)).collect();
    let train = collect_rows(&groups, (0..groups.len()).filter(|&g| !is_test[g]));
    let test = collect_rows(&groups, (0..groups.len()).filter(|&g| is_test[g]));
    Ok((train, test))
}

/// Grouped k-fold cross-validation: `k` (train, test) pairs; every group is
/// in exactly one test fold, so every row is tested exactly once, and the
/// training side of a fold is every row not in its test side.
///
/// Stratified by class: each class's groups are shuffled and dealt to the
/// folds in turn, the deal continuing where the previous class stopped, so
/// every fold sees each class that has at least `k` groups and the folds
/// differ by at most one group in size. Errors for `k < 2`, empty data, or
/// fewer groups than `k`.
pub fn grouped_k_fold(data: &Dataset, k: usize, seed: u64) -> Result<Vec<TrainTest>, SplitError> {
    let folds = grouped_folds(data, k, seed)?;
    Ok((0..folds.len()).map(|f| (folds.train(f), folds.test(f))).collect())
}

fn grouped_folds(data: &Dataset, k: usize, seed: u64) -> Result<GroupedFolds, SplitError> {
    if k < 2 {
        return Err(SplitError::TooFewFolds(k));
    }
    if data.is_empty() {
        return Err(SplitError::Empty);
    }
    let groups = groups_with_rows(data);
    let unit = units(data, &groups);
    let n_units = distinct(&unit);
    if n_units < k {
        return Err(SplitError::TooFewGroups {
            needed: k,
            groups: n_units,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let by_class = shuffled_by_class(&groups, data.classes().len(), &mut rng);
    let mut fold_of = vec![0usize; groups.len()];
    let mut fold_of_unit = std::collections::HashMap::new();
    let mut next = 0usize;
    for class_groups in &by_class {
        for &g in class_groups {
            fold_of[g] = *fold_of_unit.entry(unit[g]).or_insert_with(|| {
                let f = next;
                next = (next + 1) % k;
                f
            });
        }
    }
    Ok(GroupedFolds { groups, fold_of, k })
}

/// The folds of [`grouped_k_fold`], each one's rows listed only when asked
/// for: a caller that works through the folds in turn holds one fold's row
/// lists, not all `k` (for 100,000 rows and 5 folds, 0.8 MB instead of 4).
#[derive(Debug, Clone)]
pub struct GroupedFolds {
    groups: Vec<GroupRows>,
    fold_of: Vec<usize>,
    k: usize,
}

impl GroupedFolds {
    /// Deals the groups of `data` into `k` folds exactly as
    /// [`grouped_k_fold`] does (same errors).
    pub fn new(data: &Dataset, k: usize, seed: u64) -> Result<GroupedFolds, SplitError> {
        grouped_folds(data, k, seed)
    }

    /// The number of folds.
    pub fn len(&self) -> usize {
        self.k
    }

    /// Whether there are no folds (never: at least two are dealt).
    pub fn is_empty(&self) -> bool {
        self.k == 0
    }

    /// Fold `f`'s training rows (the other folds' groups' rows), ascending.
    pub fn train(&self, f: usize) -> Vec<usize> {
        collect_rows(&self.groups, (0..self.groups.len()).filter(|&g| self.fold_of[g] != f))
    }

    /// Fold `f`'s test rows (its own groups' rows), ascending.
    pub fn test(&self, f: usize) -> Vec<usize> {
        collect_rows(&self.groups, (0..self.groups.len()).filter(|&g| self.fold_of[g] == f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A data set with `groups[i] = (class, rows)` groups, rows in group order.
    fn data(groups: &[(usize, usize)]) -> Dataset {
        let mut d = Dataset::new(vec!["x".into()], vec!["a".into(), "b".into(), "c".into()]);
        for (g, &(class, rows)) in groups.iter().enumerate() {
            for r in 0..rows {
                d.push(&[Some(r as f64)], ["a", "b", "c"][class % 3], &format!("g{g}"))
                    .unwrap();
            }
        }
        d
    }

    fn groups_strategy() -> impl Strategy<Value = Vec<(usize, usize)>> {
        proptest::collection::vec((0usize..3, 1usize..6), 1..30)
    }

    fn groups_of(d: &Dataset, rows: &[usize]) -> std::collections::HashSet<usize> {
        rows.iter().map(|&r| d.group(r)).collect()
    }

    proptest! {
        #[test]
        fn leaky_split_is_a_partition(n in 1usize..500, ratio in 0.01f64..0.99, seed: u64) {
            let (train, test) = random_row_split(n, ratio, seed).unwrap();
            let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
            prop_assert!(!train.is_empty());
            prop_assert_eq!(random_row_split(n, ratio, seed).unwrap(), (train, test));
        }

        #[test]
        fn grouped_split_never_puts_a_group_on_both_sides(
            groups in groups_strategy(), ratio in 0.05f64..0.95, seed: u64
        ) {
            let d = data(&groups);
            match grouped_split(&d, ratio, seed) {
                Ok((train, test)) => {
                    prop_assert!(groups_of(&d, &train).is_disjoint(&groups_of(&d, &test)));
                    prop_assert_eq!(train.len() + test.len(), d.n_rows());
                    prop_assert!(!test.is_empty());
                    prop_assert!(!train.is_empty());
                }
                Err(e) => prop_assert_eq!(e, SplitError::TooFewGroups { needed: 2, groups: 1 }),
            }
        }

        #[test]
        fn k_fold_tests_every_row_exactly_once(groups in groups_strategy(), k in 2usize..8, seed: u64) {
            let d = data(&groups);
            let n_groups = groups.len();
            match grouped_k_fold(&d, k, seed) {
                Ok(folds) => {
                    prop_assert_eq!(folds.len(), k);
                    let mut tested = vec![0usize; d.n_rows()];
                    for (train, test) in &folds {
                        prop_assert!(!test.is_empty());
                        prop_assert!(groups_of(&d, train).is_disjoint(&groups_of(&d, test)));
                        prop_assert_eq!(train.len() + test.len(), d.n_rows());
                        test.iter().for_each(|&r| tested[r] += 1);
                    }
                    prop_assert!(tested.iter().all(|&t| t == 1));
                    // Each class with at least k groups is in every test fold.
                    for class in 0..3 {
                        if groups.iter().filter(|g| g.0 == class).count() >= k {
                            for (_, test) in &folds {
                                prop_assert!(test.iter().any(|&r| d.label(r) == class));
                            }
                        }
                    }
                }
                Err(e) => {
                    prop_assert!(n_groups < k);
                    prop_assert_eq!(e, SplitError::TooFewGroups { needed: k, groups: n_groups });
                }
            }
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let d = data(&[(0, 2), (1, 2)]);
        assert_eq!(grouped_k_fold(&d, 1, 0), Err(SplitError::TooFewFolds(1)));
        assert_eq!(
            grouped_k_fold(&d, 3, 0),
            Err(SplitError::TooFewGroups { needed: 3, groups: 2 })
        );
        let empty = data(&[]);
        assert_eq!(grouped_k_fold(&empty, 2, 0), Err(SplitError::Empty));
        assert_eq!(grouped_split(&empty, 0.5, 0), Err(SplitError::Empty));
        assert_eq!(random_row_split(0, 0.5, 0), Err(SplitError::Empty));
        assert_eq!(grouped_split(&d, 1.0, 0), Err(SplitError::InvalidRatio(1.0)));
        assert!(matches!(
            random_row_split(5, f64::NAN, 0),
            Err(SplitError::InvalidRatio(_))
        ));
    }

    #[test]
    fn grouped_split_stratifies_by_class() {
        // Four groups of class a, four of b: a 25 % test side takes one of each.
        let d = data(&[(0, 3), (0, 3), (0, 3), (0, 3), (1, 2), (1, 2), (1, 2), (1, 2)]);
        for seed in 0..20 {
            let (_, test) = grouped_split(&d, 0.25, seed).unwrap();
            let g = groups_of(&d, &test);
            assert_eq!(g.len(), 2);
            assert_eq!(g.iter().filter(|&&g| g < 4).count(), 1);
        }
    }

    /// `data(groups)` with group `g` recorded as a replica of `sets[g]`
    /// (`None`: of no set).
    fn with_sets(groups: &[(usize, usize)], sets: &[Option<&str>]) -> Dataset {
        let mut d = data(groups);
        for (g, set) in sets.iter().enumerate() {
            if let Some(s) = set {
                d.set_replica_set(g, s).unwrap();
            }
        }
        d
    }

    proptest! {
        #[test]
        fn replica_sets_stay_on_one_side(
            groups in groups_strategy(), set_of in proptest::collection::vec(0usize..4, 30), k in 2usize..5, seed: u64
        ) {
            // Sets named by class, so each set's containers are of one class.
            let names: Vec<String> = groups.iter().zip(&set_of).map(|(g, s)| format!("c{}-s{s}", g.0)).collect();
            let d = with_sets(&groups, &names.iter().map(|n| Some(n.as_str())).collect::<Vec<_>>());
            let together = |rows: &[usize], other: &[usize]| {
                let sets = |rows: &[usize]| rows.iter().map(|&r| names[d.group(r)].clone()).collect::<std::collections::HashSet<_>>();
                sets(rows).is_disjoint(&sets(other))
            };
            // A class of one set is split as its containers are.
            let split_alone = |class: usize| {
                names.iter().zip(&groups).filter(|(_, g)| g.0 == class).map(|(n, _)| n).collect::<std::collections::HashSet<_>>().len() < 2
            };
            let of_classes_with_sets = |rows: &[usize]| rows.iter().copied().filter(|&r| !split_alone(d.label(r))).collect::<Vec<_>>();
            if let Ok(folds) = grouped_k_fold(&d, k, seed) {
                for (train, test) in &folds {
                    prop_assert!(together(&of_classes_with_sets(train), &of_classes_with_sets(test)));
                }
            }
            if let Ok((train, test)) = grouped_split(&d, 0.3, seed) {
                prop_assert!(together(&of_classes_with_sets(&train), &of_classes_with_sets(&test)));
                prop_assert_eq!(train.len() + test.len(), d.n_rows());
            }
        }

        #[test]
        fn a_set_of_one_container_each_changes_nothing(groups in groups_strategy(), k in 2usize..5, seed: u64) {
            let plain = data(&groups);
            let names: Vec<String> = (0..groups.len()).map(|g| format!("set{g}")).collect();
            let d = with_sets(&groups, &names.iter().map(|n| Some(n.as_str())).collect::<Vec<_>>());
            prop_assert_eq!(grouped_k_fold(&d, k, seed), grouped_k_fold(&plain, k, seed));
            prop_assert_eq!(grouped_split(&d, 0.3, seed), grouped_split(&plain, 0.3, seed));
            prop_assert_eq!(fold_units(&d), groups.len());
        }
    }

    #[test]
    fn replicas_are_dealt_as_one_unless_their_class_has_no_other() {
        // Class a: three replicas of one set and two other containers; class
        // b: three replicas of one set only.
        let d = with_sets(
            &[(0, 2), (0, 2), (0, 2), (0, 2), (0, 2), (1, 2), (1, 2), (1, 2)],
            &[
                Some("a/web"),
                Some("a/web"),
                Some("a/web"),
                None,
                None,
                Some("b/db"),
                Some("b/db"),
                Some("b/db"),
            ],
        );
        // a: 3 units (the set and two), b: its 3 containers.
        assert_eq!(fold_units(&d), 6);
        assert_eq!(fold_units_per_class(&d), [3, 3, 0]);
        assert_eq!(classes_of_one_replica_set(&d), [false, true, false]);
        assert_eq!(
            grouped_k_fold(&d, 7, 0),
            Err(SplitError::TooFewGroups { needed: 7, groups: 6 })
        );
        for seed in 0..20 {
            for (train, test) in grouped_k_fold(&d, 3, seed).unwrap() {
                let (tr, te) = (groups_of(&d, &train), groups_of(&d, &test));
                let web = [0, 1, 2];
                assert!(web.iter().all(|g| te.contains(g)) || web.iter().all(|g| tr.contains(g)));
                // b's replicas are dealt one to a fold.
                assert_eq!(te.iter().filter(|&&g| g >= 5).count(), 1, "seed {seed}");
            }
            let (train, _) = grouped_split(&d, 0.5, seed).unwrap();
            let tr = groups_of(&d, &train);
            assert!([0, 1, 2].iter().all(|g| tr.contains(g)) || [0, 1, 2].iter().all(|g| !tr.contains(g)));
        }
    }
}
