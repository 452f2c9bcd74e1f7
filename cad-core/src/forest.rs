//! A random forest of our own [`DecisionTree`]s.
//!
//! Each tree sees a bootstrap sample of the rows and a random subset of the
//! features at every split (√features by default). The data is binned once
//! and the bins are shared by all trees. Trees can be fitted on several
//! threads (`std::thread::scope`); tree `i` is seeded from `(seed, i)` only,
//! so the forest is identical whatever the thread count.
//!
//! Confidence is soft voting, as in scikit-learn: the forest's class
//! probabilities are the mean of its trees' leaf distributions, the predicted
//! class is the most probable one and its confidence that mean probability.

use crate::classifier::{Classifier, Fit, FitError, Prediction};
use crate::dataset::Dataset;
use crate::tree::batch::{BLOCK, for_each_block};
use crate::tree::bins::Binned;
use crate::tree::{DecisionTree, TreeParams, check_data};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Parameters of a [`RandomForest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees (at least 1).
    pub n_trees: usize,
    /// Parameters of every tree. `max_features: None` means √features here;
    /// `tree.seed` is ignored (each tree gets its own seed from `seed`).
    pub tree: TreeParams,
    /// Whether each tree sees a bootstrap sample (else all rows).
    pub bootstrap: bool,
    /// Threads to fit on (at least 1); does not change the result.
    pub threads: usize,
    /// Seed of the bootstrap samples and feature subsets.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 100,
            tree: TreeParams::default(),
            bootstrap: true,
            threads: 1,
            seed: 0,
        }
    }
}

/// The seed of tree `i` (splitmix64 of the pair, so neighbouring trees differ).
fn tree_seed(seed: u64, i: usize) -> u64 {
    let mut z = seed ^ (i as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` row indices drawn with replacement, sorted (sorted gathers are cache friendly).
fn bootstrap_rows(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts = vec![0u32; n];
    for _ in 0..n {
        counts[rng.random_range(0..n)] += 1;
    }
    let mut rows = Vec::with_capacity(n);
    for (r, &c) in counts.iter().enumerate() {
        rows.extend(std::iter::repeat_n(r as u32, c as usize));
    }
    rows
}

impl Fit for ForestParams {
    type Model = RandomForest;

    fn fit(&self, data: &Dataset) -> Result<RandomForest, FitError> {
        if self.n_trees == 0 {
            return Err(FitError::InvalidParameter("n_trees must be at least 1".into()));
        }
        if self.threads == 0 {
            return Err(FitError::InvalidParameter("threads must be at least 1".into()));
        }
        self.tree.check()?;
        check_data(data)?;
        let n = data.n_rows();
        let nf = data.n_features();
        let k = data.classes().len();
        let binned = Binned::new(data, self.tree.max_bins);
        let sqrt = ((nf as f64).sqrt().round() as usize).max(1);
        let tp = TreeParams {
            max_features: Some(self.tree.max_features.unwrap_or(sqrt)),
            ..self.tree.clone()
        };
        let labels = data.labels();
        let fit_one = |i: usize| {
            let s = tree_seed(self.seed, i);
            let rows = if self.bootstrap {
                bootstrap_rows(n, s)
            } else {
                (0..n as u32).collect()
            };
            crate::tree::grow::grow(&binned, labels, k, rows, &tp, s.rotate_left(17))
        };
        let threads = self.threads.min(self.n_trees);
        let trees = if threads == 1 {
            (0..self.n_trees).map(fit_one).collect::<Result<Vec<_>, _>>()?
        } else {
            let mut slots: Vec<Option<DecisionTree>> = vec![None; self.n_trees];
            let results = std::thread::scope(|sc| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let fit_one = &fit_one;
                        sc.spawn(move || {
                            (t..self.n_trees)
                                .step_by(threads)
                                .map(|i| fit_one(i).map(|tree| (i, tree)))
                                .collect::<Result<Vec<_>, _>>()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
            });
            for r in results {
                let part = r.map_err(|_| {
                    FitError::Backend(crate::classifier::BackendError::new("a training thread panicked"))
                })??;
                for (i, tree) in part {
                    slots[i] = Some(tree);
                }
            }
            slots
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| FitError::Backend(crate::classifier::BackendError::new("a tree is missing")))?
        };
        tracing::debug!(trees = trees.len(), rows = n, "fitted random forest");
        Ok(RandomForest {
            n_features: nf,
            n_classes: k,
            trees,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct RawForest {
    n_features: u32,
    n_classes: u32,
    trees: Vec<DecisionTree>,
}

/// A fitted random forest. Deserialising checks that every tree has the
/// forest's feature and class counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawForest", into = "RawForest")]
pub struct RandomForest {
    n_features: usize,
    n_classes: usize,
    trees: Vec<DecisionTree>,
}

impl From<RandomForest> for RawForest {
    fn from(f: RandomForest) -> RawForest {
        RawForest {
            n_features: f.n_features as u32,
            n_classes: f.n_classes as u32,
            trees: f.trees,
        }
    }
}

impl TryFrom<RawForest> for RandomForest {
    type Error = String;

    fn try_from(r: RawForest) -> Result<RandomForest, String> {
        if r.trees.is_empty() {
            return Err("a forest needs at least one tree".into());
        }
        let (nf, k) = (r.n_features as usize, r.n_classes as usize);
        if r.trees.iter().any(|t| t.n_features() != nf || t.n_classes() != k) {
            return Err("a tree's feature or class count differs from the forest's".into());
        }
        Ok(RandomForest {
            n_features: nf,
            n_classes: k,
            trees: r.trees,
        })
    }
}

/// Classes up to this count are averaged in a stack buffer (no allocation).
const STACK_CLASSES: usize = 16;

impl RandomForest {
    /// The trees.
    pub fn trees(&self) -> &[DecisionTree] {
        &self.trees
    }

    /// Runs `f` on the mean class distribution of the leaves `leaf(tree)`.
    fn with_proba<R>(&self, leaf: impl Fn(&DecisionTree) -> usize, f: impl FnOnce(&[f64]) -> R) -> R {
        let mut stack = [0.0; STACK_CLASSES];
        let mut heap = Vec::new();
        let acc: &mut [f64] = if self.n_classes <= STACK_CLASSES {
            &mut stack[..self.n_classes]
        } else {
            heap.resize(self.n_classes, 0.0);
            &mut heap
        };
        for t in &self.trees {
            t.add_leaf_proba(leaf(t), acc);
        }
        let n = self.trees.len() as f64;
        acc.iter_mut().for_each(|p| *p /= n);
        f(acc)
    }

    fn best(p: &[f64]) -> Prediction {
        let (class, confidence) = p.iter().enumerate().fold(
            (0, f64::MIN),
            |(bi, bp), (i, &x)| if x > bp { (i, x) } else { (bi, bp) },
        );
        Prediction { class, confidence }
    }
}

impl Classifier for RandomForest {
    fn n_features(&self) -> usize {
        self.n_features
    }

    fn n_classes(&self) -> usize {
        self.n_classes
    }

    fn predict(&self, row: &[Option<f64>]) -> Prediction {
        self.with_proba(|t| t.leaf_of_row(row), Self::best)
    }

    fn predict_proba_into(&self, row: &[Option<f64>], out: &mut [f64]) {
        self.with_proba(
            |t| t.leaf_of_row(row),
            |p| {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = p.get(i).copied().unwrap_or(0.0);
                }
            },
        )
    }

    fn predict_dataset(&self, data: &Dataset) -> Vec<Prediction> {
        self.map_probas(data, Self::best)
    }

    fn predict_classes(&self, data: &Dataset) -> Vec<u32> {
        self.map_probas(data, |p| Self::best(p).class as u32)
    }
}

impl RandomForest {
    /// `f(class probabilities)` for every row of `data`. Tree by tree over
    /// blocks of rows: a block is laid out once for all trees, and one
    /// tree's nodes stay in cache while the block walks it (see
    /// [`DecisionTree::predict_raw_rows`]).
    fn map_probas<T>(&self, data: &Dataset, f: impl Fn(&[f64]) -> T) -> Vec<T> {
        let k = self.n_classes;
        let mut out = Vec::with_capacity(data.n_rows());
        let mut leaves = [0u32; BLOCK];
        let mut acc = vec![0.0; BLOCK * k];
        let n_trees = self.trees.len() as f64;
        for_each_block(data, self.n_features, |block, len| {
            acc.iter_mut().for_each(|a| *a = 0.0);
            block.scan();
            for t in &self.trees {
                t.leaves_of_block(block, &mut leaves);
                for (&l, a) in leaves[..len].iter().zip(acc.chunks_exact_mut(k)) {
                    t.add_leaf_proba(l as usize, a);
                }
            }
            out.extend(acc.chunks_exact_mut(k).take(len).map(|a| {
                a.iter_mut().for_each(|p| *p /= n_trees);
                f(a)
            }));
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::synth::{accuracy, grouped_split, make};

    fn small() -> ForestParams {
        ForestParams {
            n_trees: 12,
            seed: 3,
            ..Default::default()
        }
    }

    #[test]
    fn thread_count_does_not_change_the_forest() {
        let d = make(3000, 6, 4, 20, 1.0, 0.05, 8);
        let one = small().fit(&d).unwrap();
        let two = ForestParams { threads: 2, ..small() }.fit(&d).unwrap();
        let three = ForestParams { threads: 3, ..small() }.fit(&d).unwrap();
        assert_eq!(one, two);
        assert_eq!(one, three);
        let batch = one.predict_dataset(&d);
        assert_eq!(batch, two.predict_dataset(&d));
        for (i, p) in batch.iter().enumerate() {
            assert_eq!(*p, one.predict(&d.row(i)), "row {i}");
        }
    }

    #[test]
    fn trees_differ_and_seed_matters() {
        let d = make(2000, 6, 3, 20, 1.0, 0.0, 9);
        let f = small().fit(&d).unwrap();
        assert_ne!(f.trees()[0], f.trees()[1]);
        let g = ForestParams { seed: 4, ..small() }.fit(&d).unwrap();
        assert_ne!(f, g);
    }

    #[test]
    fn confidence_is_the_mean_leaf_probability() {
        let d = make(2000, 5, 3, 20, 0.8, 0.0, 10);
        let f = small().fit(&d).unwrap();
        for i in (0..d.n_rows()).step_by(97) {
            let row = d.row(i);
            let mut mean = [0.0; 3];
            for t in f.trees() {
                let mut p = [0.0; 3];
                t.predict_proba_into(&row, &mut p);
                mean.iter_mut()
                    .zip(&p)
                    .for_each(|(m, x)| *m += x / f.trees().len() as f64);
            }
            let p = f.predict(&row);
            assert!((p.confidence - mean[p.class]).abs() < 1e-12);
            assert!(mean.iter().all(|&m| m <= p.confidence + 1e-12));
            assert_eq!(f.predict_dataset(&d)[i], p);
        }
    }

    #[test]
    fn generalises_at_least_as_well_as_one_tree() {
        let d = make(8000, 8, 5, 40, 1.0, 0.02, 11);
        let (train, test) = grouped_split(&d);
        let forest = ForestParams {
            n_trees: 30,
            threads: 2,
            ..Default::default()
        }
        .fit(&train)
        .unwrap();
        let tree = TreeParams::default().fit(&train).unwrap();
        let (fa, ta) = (accuracy(&forest, &test), accuracy(&tree, &test));
        assert!(fa + 0.01 >= ta, "forest {fa} tree {ta}");
        assert!(fa > 0.8, "forest {fa}");
    }

    #[test]
    fn rejects_bad_parameters() {
        let d = make(100, 3, 2, 10, 1.0, 0.0, 0);
        for p in [
            ForestParams { n_trees: 0, ..small() },
            ForestParams { threads: 0, ..small() },
        ] {
            assert!(matches!(p.fit(&d), Err(FitError::InvalidParameter(_))));
        }
    }
}
