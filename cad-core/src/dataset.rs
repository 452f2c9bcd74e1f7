//! Data sets: rows of features with a class and a group (the container a row came from).

use serde::{Deserialize, Serialize};

/// Why a row could not be added to a [`Dataset`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The row has a different number of values than the data set has features.
    #[error("row has {got} values, the data set has {expected} features")]
    WrongWidth {
        /// Number of features of the data set.
        expected: usize,
        /// Number of values in the row.
        got: usize,
    },
    /// A class index outside the class list.
    #[error("class index {0} is out of range")]
    NoSuchClass(usize),
    /// A group index outside the group list.
    #[error("group index {0} is out of range")]
    NoSuchGroup(usize),
}

/// Labelled rows of numeric features, each with the group (container) it came from.
///
/// Missing values are kept as missing: the public accessors return `Option<f64>`.
/// Internally rows are stored row-major in one `Vec<f64>` with NaN marking a
/// missing value, which keeps a million rows compact; [`Dataset::raw_row`]
/// exposes that encoding to classifiers that want it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Dataset {
    feature_names: Vec<String>,
    classes: Vec<String>,
    values: Vec<f64>,
    labels: Vec<u32>,
    groups: Vec<u32>,
    group_names: Vec<String>,
    /// Per row: the pod's age in seconds when the row's window ended, NaN
    /// where unknown. Metadata, never a feature.
    #[serde(default)]
    ages: Vec<f64>,
    /// Per group (as far as set): the replica set its container is one of,
    /// empty where none. Metadata for the grouped splits.
    #[serde(default)]
    replica_sets: Vec<String>,
    #[serde(skip)]
    group_index: std::collections::HashMap<String, u32>,
}

/// Equal when features, classes, groups and rows are equal; two missing
/// values are equal (a derived `PartialEq` would make a data set with a
/// missing value unequal to itself, since NaN != NaN, and would compare the
/// lazily rebuilt group lookup table).
impl PartialEq for Dataset {
    fn eq(&self, other: &Self) -> bool {
        self.feature_names == other.feature_names
            && self.classes == other.classes
            && self.labels == other.labels
            && self.groups == other.groups
            && self.group_names == other.group_names
            && (0..self.group_names.len()).all(|g| self.replica_set(g) == other.replica_set(g))
            && (0..self.n_rows()).all(|i| self.age(i) == other.age(i))
            && self.values.len() == other.values.len()
            && self
                .values
                .iter()
                .zip(&other.values)
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
    }
}

impl Dataset {
    /// An empty data set with these feature columns and (initial) class list.
    pub fn new(feature_names: Vec<String>, classes: Vec<String>) -> Self {
        Dataset {
            feature_names,
            classes,
            ..Default::default()
        }
    }

    /// The feature column names.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The class names; a row's label is an index into this list.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The group names; a row's group is an index into this list.
    pub fn group_names(&self) -> &[String] {
        &self.group_names
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The index of `class`, adding it to the class list if it is new.
    pub fn class_index(&mut self, class: &str) -> usize {
        match self.classes.iter().position(|c| c == class) {
            Some(i) => i,
            None => {
                self.classes.push(class.to_string());
                self.classes.len() - 1
            }
        }
    }

    /// The index of `group`, adding it if it is new.
    pub fn group_index(&mut self, group: &str) -> usize {
        if self.group_index.len() != self.group_names.len() {
            self.group_index = self
                .group_names
                .iter()
                .enumerate()
                .map(|(i, g)| (g.clone(), i as u32))
                .collect();
        }
        if let Some(&i) = self.group_index.get(group) {
            return i as usize;
        }
        let i = self.group_names.len() as u32;
        self.group_names.push(group.to_string());
        self.group_index.insert(group.to_string(), i);
        i as usize
    }

    /// Records that group `group`'s container is one replica of `replica_set`
    /// (for example `namespace/nginx-7c5ddbdf54/nginx`: see
    /// [`replica_set_name`](crate::pod::replica_set_name)). Replicas of one
    /// template are near twins: the grouped splits
    /// ([`split`](crate::split)) keep a replica set's containers on one side,
    /// so that a held-out container never has its twin in training. An empty
    /// name clears it.
    pub fn set_replica_set(&mut self, group: usize, replica_set: &str) -> Result<(), DatasetError> {
        if group >= self.group_names.len() {
            return Err(DatasetError::NoSuchGroup(group));
        }
        if self.replica_sets.len() <= group {
            self.replica_sets.resize(group + 1, String::new());
        }
        self.replica_sets[group] = replica_set.to_string();
        Ok(())
    }

    /// Records the replica set of every group named `namespace/pod/container`
    /// whose pod is a Deployment's
    /// ([`replica_set_of`](crate::pod::replica_set_of)), as the collector
    /// records them: rows collected, written with their group names and read
    /// back keep their sets. Returns how many groups got one.
    pub fn infer_replica_sets(&mut self) -> usize {
        let mut n = 0;
        for g in 0..self.group_names.len() {
            if let Some(set) = crate::pod::replica_set_of(&self.group_names[g]) {
                // `g` is a group of this data set.
                let _ = self.set_replica_set(g, &set);
                n += 1;
            }
        }
        n
    }

    /// The replica set group `group`'s container is one of, if recorded
    /// ([`Dataset::set_replica_set`]).
    pub fn replica_set(&self, group: usize) -> Option<&str> {
        self.replica_sets
            .get(group)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Adds a row of class `class` from group `group` (both added to their lists if new).
    /// A non-finite value is stored as missing.
    pub fn push(&mut self, row: &[Option<f64>], class: &str, group: &str) -> Result<(), DatasetError> {
        self.check_width(row.len())?;
        let c = self.class_index(class);
        let g = self.group_index(group);
        self.push_indexed(row, c, g)
    }

    /// Adds a row by class and group index (as returned by [`Dataset::class_index`]
    /// and [`Dataset::group_index`]), its age unknown.
    pub fn push_indexed(&mut self, row: &[Option<f64>], class: usize, group: usize) -> Result<(), DatasetError> {
        self.push_aged(row, class, group, None)
    }

    /// Adds a row like [`Dataset::push_indexed`], with the age of its pod in
    /// seconds when the row's window ended (metadata: the age is not a
    /// feature; a negative or non-finite age is stored as unknown).
    pub fn push_aged(
        &mut self,
        row: &[Option<f64>],
        class: usize,
        group: usize,
        age_seconds: Option<f64>,
    ) -> Result<(), DatasetError> {
        self.check_width(row.len())?;
        if class >= self.classes.len() {
            return Err(DatasetError::NoSuchClass(class));
        }
        if group >= self.group_names.len() {
            return Err(DatasetError::NoSuchGroup(group));
        }
        self.values.extend(row.iter().map(|v| match v {
            Some(x) if x.is_finite() => *x,
            _ => f64::NAN,
        }));
        self.labels.push(class as u32);
        self.groups.push(group as u32);
        self.ages.resize(self.labels.len() - 1, f64::NAN);
        self.ages
            .push(age_seconds.filter(|a| a.is_finite() && *a >= 0.0).unwrap_or(f64::NAN));
        Ok(())
    }

    /// The age in seconds of row `i`'s pod when the row's window ended, if known.
    pub fn age(&self, i: usize) -> Option<f64> {
        self.ages.get(i).copied().filter(|a| !a.is_nan())
    }

    /// Whether any row has a known age.
    pub fn has_ages(&self) -> bool {
        self.ages.iter().any(|a| !a.is_nan())
    }

    fn check_width(&self, got: usize) -> Result<(), DatasetError> {
        if got != self.n_features() {
            return Err(DatasetError::WrongWidth {
                expected: self.n_features(),
                got,
            });
        }
        Ok(())
    }

    /// The value of feature `col` in row `row`, `None` if missing.
    ///
    /// # Panics
    /// If `row` or `col` is out of range.
    pub fn value(&self, row: usize, col: usize) -> Option<f64> {
        let v = self.raw_row(row)[col];
        (!v.is_nan()).then_some(v)
    }

    /// Row `i` as optional values.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn row(&self, i: usize) -> Vec<Option<f64>> {
        self.raw_row(i).iter().map(|&v| (!v.is_nan()).then_some(v)).collect()
    }

    /// Row `i` in the internal encoding: NaN marks a missing value, every other
    /// value is finite.
    ///
    /// # Panics
    /// If `i` is out of range.
    #[inline]
    pub fn raw_row(&self, i: usize) -> &[f64] {
        let w = self.n_features();
        &self.values[i * w..(i + 1) * w]
    }

    /// Rows `start..start + len`, row-major, in the encoding of [`Dataset::raw_row`].
    ///
    /// # Panics
    /// If the rows are out of range.
    pub(crate) fn raw_rows(&self, start: usize, len: usize) -> &[f64] {
        let w = self.n_features();
        &self.values[start * w..(start + len) * w]
    }

    /// The class index of row `i`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }

    /// The class indices of all rows.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The group index of row `i`.
    pub fn group(&self, i: usize) -> usize {
        self.groups[i] as usize
    }

    /// The group indices of all rows.
    pub fn groups(&self) -> &[u32] {
        &self.groups
    }

    /// Sorts the class list by name, renumbering the rows' labels to match.
    pub fn sort_classes(&mut self) {
        let mut order: Vec<usize> = (0..self.classes.len()).collect();
        order.sort_by(|&a, &b| self.classes[a].cmp(&self.classes[b]));
        let mut new_index = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new as u32;
        }
        self.classes = order.iter().map(|&i| self.classes[i].clone()).collect();
        for l in &mut self.labels {
            *l = new_index[*l as usize];
        }
    }

    /// Whether the rows are in the order [`Dataset::canonical`] gives.
    pub fn is_canonical(&self) -> bool {
        self.group_names.is_sorted()
            && (1..self.n_rows()).all(|i| self.row_order(i - 1, i) != std::cmp::Ordering::Greater)
    }

    /// Row `a` against row `b`: by group name, then class, then values
    /// (compared with `f64::total_cmp`, so missing values sort
    /// consistently), then age.
    fn row_order(&self, a: usize, b: usize) -> std::cmp::Ordering {
        let (ga, gb) = (self.groups[a] as usize, self.groups[b] as usize);
        self.group_names[ga]
            .cmp(&self.group_names[gb])
            .then(self.labels[a].cmp(&self.labels[b]))
            .then_with(|| {
                self.raw_row(a)
                    .iter()
                    .zip(self.raw_row(b))
                    .map(|(x, y)| x.total_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .then_with(|| {
                let age = |i: usize| self.ages.get(i).copied().unwrap_or(f64::NAN);
                age(a).total_cmp(&age(b))
            })
    }

    /// The same rows in an order that depends on their content only: groups
    /// renumbered by name, rows sorted by group name, class and values. The
    /// class list is kept as it is (it is configuration: the labeling
    /// priority). Training on the canonical form makes a model a function of
    /// the rows and the seed, whatever order they were read or collected in.
    pub fn canonical(&self) -> Dataset {
        let mut out = self.clone();
        out.make_canonical();
        out
    }

    /// Puts the rows in [`Dataset::canonical`] order in place, without a
    /// second copy of the values (a training set can be most of the memory a
    /// program uses).
    pub fn make_canonical(&mut self) {
        if self.is_canonical() {
            return;
        }
        let mut group_order: Vec<usize> = (0..self.group_names.len()).collect();
        group_order.sort_by(|&a, &b| self.group_names[a].cmp(&self.group_names[b]));
        let mut new_group = vec![0u32; group_order.len()];
        for (new, &old) in group_order.iter().enumerate() {
            new_group[old] = new as u32;
        }
        let mut rows: Vec<usize> = (0..self.n_rows()).collect();
        rows.sort_unstable_by(|&a, &b| self.row_order(a, b));
        self.permute_rows(&rows);
        self.group_names = group_order.iter().map(|&g| self.group_names[g].clone()).collect();
        if !self.replica_sets.is_empty() {
            self.replica_sets.resize(group_order.len(), String::new());
            self.replica_sets = group_order
                .iter()
                .map(|&g| std::mem::take(&mut self.replica_sets[g]))
                .collect();
        }
        self.group_index.clear();
        for g in &mut self.groups {
            *g = new_group[*g as usize];
        }
    }

    /// Reorders the rows in place so that new row `i` is old row `order[i]`
    /// (`order` a permutation), following the permutation's cycles.
    fn permute_rows(&mut self, order: &[usize]) {
        let w = self.n_features();
        // Rows pushed before ages were kept (a deserialised data set) have
        // none: unknown.
        self.ages.resize(self.labels.len(), f64::NAN);
        let mut done = vec![false; order.len()];
        let mut scratch = vec![0.0; w];
        for start in 0..order.len() {
            if done[start] || order[start] == start {
                continue;
            }
            // Row `start` is overwritten first: keep it until its turn.
            scratch.copy_from_slice(self.raw_row(start));
            let (label, group, age) = (self.labels[start], self.groups[start], self.ages[start]);
            let mut to = start;
            loop {
                done[to] = true;
                let from = order[to];
                if from == start {
                    self.values[to * w..(to + 1) * w].copy_from_slice(&scratch);
                    self.labels[to] = label;
                    self.groups[to] = group;
                    self.ages[to] = age;
                    break;
                }
                self.values.copy_within(from * w..(from + 1) * w, to * w);
                self.labels[to] = self.labels[from];
                self.groups[to] = self.groups[from];
                self.ages[to] = self.ages[from];
                to = from;
            }
        }
    }

    /// A new data set with the given rows (in that order), same features,
    /// classes and groups.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let w = self.n_features();
        let mut out = Dataset {
            feature_names: self.feature_names.clone(),
            classes: self.classes.clone(),
            group_names: self.group_names.clone(),
            replica_sets: self.replica_sets.clone(),
            ..Default::default()
        };
        out.values.reserve(rows.len() * w);
        for &r in rows {
            out.values.extend_from_slice(self.raw_row(r));
            out.labels.push(self.labels[r]);
            out.groups.push(self.groups[r]);
            out.ages.push(self.ages.get(r).copied().unwrap_or(f64::NAN));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_missing_values_and_reject_wrong_width() {
        let mut d = Dataset::new(vec!["a".into(), "b".into()], vec![]);
        d.push(&[Some(1.0), None], "nginx", "pod-1/nginx").unwrap();
        d.push(&[Some(f64::INFINITY), Some(2.0)], "mysql", "pod-2/mysql")
            .unwrap();
        assert_eq!(d.row(0), vec![Some(1.0), None]);
        assert_eq!(d.value(1, 0), None);
        assert_eq!(d.classes(), ["nginx", "mysql"]);
        assert_eq!(d.group(1), 1);
        assert_eq!(
            d.push(&[Some(1.0)], "x", "g"),
            Err(DatasetError::WrongWidth { expected: 2, got: 1 })
        );
        assert_eq!(d.push_indexed(&[None, None], 7, 0), Err(DatasetError::NoSuchClass(7)));
        assert_eq!(d.push_indexed(&[None, None], 0, 9), Err(DatasetError::NoSuchGroup(9)));
        assert_eq!(d.age(0), None);
        assert!(!d.has_ages());
        d.push_aged(&[None, None], 0, 0, Some(42.0)).unwrap();
        d.push_aged(&[None, None], 0, 0, Some(-1.0)).unwrap();
        assert_eq!((d.age(2), d.age(3)), (Some(42.0), None));
        assert!(d.has_ages());
        assert_eq!(d.select(&[2, 0]).age(0), Some(42.0));
        let s = d.select(&[1]);
        assert_eq!(s.n_rows(), 1);
        assert_eq!(s.label(0), 1);
        assert_eq!(s.group_names().len(), 2);
    }

    #[test]
    fn rows_permuted_in_place_are_the_selected_rows() {
        let mut d = Dataset::new(vec!["x".into(), "y".into()], vec!["a".into(), "b".into()]);
        for i in 0..23 {
            let v = [Some(i as f64), (i % 4 != 0).then_some(-(i as f64))];
            d.push(&v, ["a", "b"][i % 2], &format!("g{}", i % 5)).unwrap();
        }
        // Identity, one long cycle, reversal (many 2-cycles) and a mix.
        let orders: Vec<Vec<usize>> = vec![
            (0..23).collect(),
            (0..23).map(|i| (i + 1) % 23).collect(),
            (0..23).rev().collect(),
            (0..23).map(|i| (i * 5) % 23).collect(),
        ];
        for order in orders {
            let mut p = d.clone();
            p.permute_rows(&order);
            assert_eq!(p, d.select(&order), "{order:?}");
        }
    }

    #[test]
    fn the_canonical_form_does_not_depend_on_row_order() {
        let rows: Vec<(Vec<Option<f64>>, &str, &str)> = (0..40)
            .map(|i| {
                let v = vec![Some((i * 7 % 13) as f64), (i % 5 != 0).then_some(i as f64 / 3.0)];
                (v, ["b", "a", "c"][i % 3], ["g2", "g10", "g1", "g3"][i % 4])
            })
            .collect();
        let build = |order: &[usize]| {
            let mut d = Dataset::new(vec!["x".into(), "y".into()], vec!["c".into(), "b".into(), "a".into()]);
            for &i in order {
                let (v, c, g) = &rows[i];
                d.push(v, c, g).unwrap();
            }
            d
        };
        let forward: Vec<usize> = (0..rows.len()).collect();
        let backward: Vec<usize> = forward.iter().rev().copied().collect();
        let mixed: Vec<usize> = (0..rows.len()).map(|i| (i * 17) % rows.len()).collect();
        let c = build(&forward).canonical();
        assert_ne!(build(&forward), build(&backward));
        assert_eq!(c, build(&backward).canonical());
        assert_eq!(c, build(&mixed).canonical());
        assert_eq!(c.classes(), ["c", "b", "a"], "the class list is configuration: kept");
        assert_eq!(c.group_names(), ["g1", "g10", "g2", "g3"]);
        assert!(c.groups().is_sorted());
        assert_eq!(c.canonical(), c);
        let mut in_place = build(&mixed);
        in_place.make_canonical();
        assert_eq!(in_place, c);
        assert!(in_place.is_canonical());

        // Ages travel with their rows, copied or reordered in place.
        let mut aged = Dataset::new(vec!["x".into()], vec!["a".into()]);
        for i in [5usize, 3, 9, 1, 7] {
            let g = aged.group_index(&format!("g{}", 9 - i));
            aged.push_aged(&[Some(i as f64)], 0, g, Some(i as f64 * 10.0)).unwrap();
        }
        let copied = aged.canonical();
        aged.make_canonical();
        for d in [&aged, &copied] {
            for i in 0..d.n_rows() {
                assert_eq!(d.age(i), d.value(i, 0).map(|v| v * 10.0));
            }
        }

        let mut s = build(&forward);
        s.sort_classes();
        assert_eq!(s.classes(), ["a", "b", "c"]);
        for (i, (_, class, _)) in rows.iter().enumerate() {
            assert_eq!(s.classes()[s.label(i)], *class);
        }
    }

    #[test]
    fn replica_sets_follow_their_groups() {
        let mut d = Dataset::new(vec!["x".into()], vec!["a".into()]);
        for g in ["g3", "g1", "g2"] {
            d.push(&[Some(1.0)], "a", g).unwrap();
        }
        assert_eq!(d.set_replica_set(3, "s"), Err(DatasetError::NoSuchGroup(3)));
        d.set_replica_set(0, "ns/web-7c5ddbdf54/web").unwrap();
        assert_eq!(
            (d.replica_set(0), d.replica_set(1), d.replica_set(2)),
            (Some("ns/web-7c5ddbdf54/web"), None, None)
        );
        let mut plain = d.clone();
        plain.set_replica_set(0, "").unwrap();
        assert_ne!(plain, d);
        assert_eq!(plain.replica_set(0), None);
        assert_eq!(d.select(&[2]).replica_set(0), Some("ns/web-7c5ddbdf54/web"));
        // Renumbered with the groups: g3 is the last by name.
        let c = d.canonical();
        assert_eq!(c.group_names(), ["g1", "g2", "g3"]);
        assert_eq!(
            (c.replica_set(0), c.replica_set(2)),
            (None, Some("ns/web-7c5ddbdf54/web"))
        );
        // Inferred from the collector's group names.
        let mut named = Dataset::new(vec!["x".into()], vec!["a".into()]);
        for g in [
            "ns/web-7c5ddbdf54-x7k2q/web",
            "ns/web-7c5ddbdf54-b2v4z/web",
            "ns/db-0/db",
            "run1-a",
        ] {
            named.push(&[Some(1.0)], "a", g).unwrap();
        }
        assert_eq!(named.infer_replica_sets(), 2);
        let sets: Vec<Option<&str>> = (0..4).map(|g| named.replica_set(g)).collect();
        assert_eq!(
            sets,
            [Some("ns/web-7c5ddbdf54/web"), Some("ns/web-7c5ddbdf54/web"), None, None]
        );
    }
}
