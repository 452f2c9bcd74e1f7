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

    /// Adds a row of class `class` from group `group` (both added to their lists if new).
    /// A non-finite value is stored as missing.
    pub fn push(&mut self, row: &[Option<f64>], class: &str, group: &str) -> Result<(), DatasetError> {
        self.check_width(row.len())?;
        let c = self.class_index(class);
        let g = self.group_index(group);
        self.push_indexed(row, c, g)
    }

    /// Adds a row by class and group index (as returned by [`Dataset::class_index`]
    /// and [`Dataset::group_index`]).
    pub fn push_indexed(&mut self, row: &[Option<f64>], class: usize, group: usize) -> Result<(), DatasetError> {
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
        Ok(())
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

    /// A new data set with the given rows (in that order), same features,
    /// classes and groups.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let w = self.n_features();
        let mut out = Dataset {
            feature_names: self.feature_names.clone(),
            classes: self.classes.clone(),
            group_names: self.group_names.clone(),
            ..Default::default()
        };
        out.values.reserve(rows.len() * w);
        for &r in rows {
            out.values.extend_from_slice(self.raw_row(r));
            out.labels.push(self.labels[r]);
            out.groups.push(self.groups[r]);
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
        let s = d.select(&[1]);
        assert_eq!(s.n_rows(), 1);
        assert_eq!(s.label(0), 1);
        assert_eq!(s.group_names().len(), 2);
    }
}
