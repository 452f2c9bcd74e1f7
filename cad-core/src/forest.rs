//! A random forest of our own decision trees.
//!
//! Each tree sees a bootstrap sample of the rows and a random subset of the
//! features at every split (√features by default). The data is binned once
//! and the bins are shared by all trees. Trees can be fitted on several
//! threads (`std::thread::scope`); tree `i` is seeded from `(seed, i)` only,
//! so the forest is identical whatever the thread count.
//!
//! By default a tree has at most [`DEFAULT_MAX_LEAF_NODES`] leaves (grown
//! best first): unlimited trees on 100,000 noisy rows have about 18,000
//! leaves each, and a forest of them is 5.4 MB stored (no ConfigMap holds
//! it), predicts several times slower, and is less than a point more
//! accurate (see `BENCHMARKS.md`).
//!
//! Prediction bins a row once with the forest's cut points and walks every
//! tree on bytes (`tree/compact.rs`); a batch is cut into blocks of
//! rows, each laid out once for all trees, on as many threads as the forest
//! is given ([`RandomForest::set_threads`]; fitting sets the fit's count).
//!
//! Confidence is soft voting, as in scikit-learn: the forest's class
//! probabilities are the mean of its trees' leaf distributions, the predicted
//! class is the most probable one and its confidence that mean probability.
//! With up to 8 classes a tree keeps each leaf's class distribution dense
//! (one read per row and tree when predicting); with more, every leaf keeps
//! its training counts of the classes present (not one per class: memory
//! and model size grow with the leaves, not leaves × classes). Stored, every
//! leaf keeps its counts of the classes present.

use crate::classifier::{Classifier, Fit, FitError, Prediction};
use crate::dataset::Dataset;
use crate::tree::bins::{Binned, bin_of};
use crate::tree::compact::{BinTree, LANES};
use crate::tree::grow::Scratch;
use crate::tree::shape::{Packed, keep_used};
use crate::tree::{DecisionTree, TreeParams, check_data, labels_of};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Leaves per tree of the default forest (see the module docs).
pub const DEFAULT_MAX_LEAF_NODES: usize = 1024;

/// Parameters of a [`RandomForest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees (at least 1).
    pub n_trees: usize,
    /// Parameters of every tree. `max_features: None` means √features here;
    /// `tree.seed` is ignored (each tree gets its own seed from `seed`).
    /// The default limits each tree to [`DEFAULT_MAX_LEAF_NODES`] leaves.
    pub tree: TreeParams,
    /// Whether each tree sees a bootstrap sample (else all rows).
    pub bootstrap: bool,
    /// Threads to fit and predict on (at least 1); does not change the result.
    pub threads: usize,
    /// Seed of the bootstrap samples and feature subsets.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 100,
            tree: TreeParams {
                max_leaf_nodes: Some(DEFAULT_MAX_LEAF_NODES),
                ..TreeParams::default()
            },
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

/// `n` row indices drawn with replacement into `rows`, sorted (sorted
/// gathers are cache friendly); `draws` is scratch.
fn bootstrap_rows(n: usize, seed: u64, rows: &mut Vec<u32>, draws: &mut Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    draws.clear();
    draws.resize(n, 0);
    for _ in 0..n {
        draws[rng.random_range(0..n)] += 1;
    }
    rows.clear();
    for (r, &c) in draws.iter().enumerate() {
        rows.extend(std::iter::repeat_n(r as u32, c as usize));
    }
}

/// Runs `f(i)` for `i` in `0..n` on up to `threads` threads (thread `t` takes
/// `t, t + threads, …`) and returns the results in order.
fn on_threads<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Result<Vec<T>, FitError> {
    on_threads_with(n, threads, || (), |_, i| f(i))
}

/// [`on_threads`] where each thread first makes its own state with `init`
/// and hands it to every `f` it runs.
///
/// The calling thread is the first of the threads (`threads - 1` are
/// spawned): with glibc's malloc every other thread allocates from an arena
/// of its own, whose freed memory stays resident and serves no other thread,
/// so each spawned thread adds to the process's peak memory (BENCHMARKS.md,
/// issue 20).
fn on_threads_with<S, T: Send>(
    n: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize) -> T + Sync,
) -> Result<Vec<T>, FitError> {
    let threads = threads.clamp(1, n.max(1));
    let share = |t: usize| {
        let mut state = init();
        (t..n)
            .step_by(threads)
            .map(|i| (i, f(&mut state, i)))
            .collect::<Vec<_>>()
    };
    if threads == 1 {
        return Ok(share(0).into_iter().map(|(_, v)| v).collect());
    }
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let results = std::thread::scope(|sc| {
        let handles: Vec<_> = (1..threads)
            .map(|t| {
                let share = &share;
                sc.spawn(move || share(t))
            })
            .collect();
        let mut all = vec![Ok(share(0))];
        all.extend(handles.into_iter().map(|h| h.join()));
        all
    });
    for r in results {
        for (i, v) in r.map_err(|_| FitError::backend("a worker thread panicked"))? {
            slots[i] = Some(v);
        }
    }
    slots
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| FitError::backend("a result is missing"))
}

impl Fit for ForestParams {
    type Model = RandomForest;

    fn fit(&self, data: &Dataset) -> Result<RandomForest, FitError> {
        self.fit_subset(data, None)
    }

    fn fit_rows(&self, data: &Dataset, rows: &[usize]) -> Result<RandomForest, FitError> {
        self.fit_subset(data, Some(rows))
    }
}

impl ForestParams {
    fn fit_subset(&self, data: &Dataset, rows: Option<&[usize]>) -> Result<RandomForest, FitError> {
        if self.n_trees == 0 {
            return Err(FitError::InvalidParameter("n_trees must be at least 1".into()));
        }
        if self.threads == 0 {
            return Err(FitError::InvalidParameter("threads must be at least 1".into()));
        }
        self.tree.check()?;
        check_data(data, rows)?;
        let n = rows.map_or(data.n_rows(), <[usize]>::len);
        let nf = data.n_features();
        if nf > u16::MAX as usize {
            return Err(FitError::InvalidParameter(
                "a forest reads at most 65,535 features".into(),
            ));
        }
        let k = data.classes().len();
        let binned = Binned::of_rows(data, rows, self.tree.max_bins);
        let sqrt = ((nf as f64).sqrt().round() as usize).max(1);
        let tp = TreeParams {
            max_features: Some(self.tree.max_features.unwrap_or(sqrt)),
            ..self.tree.clone()
        };
        let labels = labels_of(data, rows);
        let labels = &labels[..];
        let grow_one = |ws: &mut Scratch, i: usize| {
            let s = tree_seed(self.seed, i);
            if self.bootstrap {
                bootstrap_rows(n, s, &mut ws.rows, &mut ws.draws);
            } else {
                ws.rows.clear();
                ws.rows.extend(0..n as u32);
            }
            BinTree::new(
                crate::tree::grow::grow(&binned, labels, k, ws, &tp, s.rotate_left(17)),
                k,
            )
        };
        // Each thread turns its trees into their final form at once: their
        // shapes (5 MB for the default forest) then never exist all at once,
        // and the worker threads' malloc arenas hold the model, not freed
        // shapes (through the stored form, that freed memory stayed resident
        // and made 2 threads peak 9 MB above 1).
        let mut trees = on_threads_with(self.n_trees, self.threads, Scratch::default, grow_one)?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(FitError::backend)?;
        tracing::debug!(trees = trees.len(), rows = n, "fitted random forest");
        // Keep only the cut points the trees use, renumbered as the stored
        // form does, so that a fitted forest equals its decoded copy.
        let mut used = vec![[false; 256]; nf];
        trees.iter().for_each(|t| t.mark_cuts(&mut used));
        let (cuts, renumber) = keep_used(&binned.edges, &used);
        drop(binned);
        trees.iter_mut().for_each(|t| t.renumber_cuts(&renumber));
        Ok(RandomForest {
            n_features: nf,
            n_classes: k,
            cuts,
            trees,
            threads: self.threads,
        })
    }
}

/// A fitted random forest. It is stored in the compact form of
/// `tree/shape.rs`; deserialising checks every tree.
#[derive(Clone, Debug)]
pub struct RandomForest {
    n_features: usize,
    n_classes: usize,
    /// Per feature, the ascending cut points the trees' bins count.
    cuts: Vec<Vec<f64>>,
    trees: Vec<BinTree>,
    /// Threads for batch prediction (not stored).
    threads: usize,
}

/// Equal trees and cut points; the thread count does not matter.
impl PartialEq for RandomForest {
    fn eq(&self, other: &Self) -> bool {
        (self.n_features, self.n_classes, &self.cuts, &self.trees)
            == (other.n_features, other.n_classes, &other.cuts, &other.trees)
    }
}

impl Serialize for RandomForest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // One tree's shape at a time: all of them at once would be more
        // memory than the stored form (and the largest part of the memory
        // peak of writing a bundle).
        let shape = |i: usize| Cow::Owned(self.trees[i].shape());
        Packed::pack_with(self.n_features, self.n_classes, &self.cuts, self.trees.len(), shape)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for RandomForest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RandomForest, D::Error> {
        RandomForest::from_packed(Packed::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Classes up to this count are averaged in a stack buffer (no allocation).
const STACK_CLASSES: usize = 16;
/// Features up to this count are binned in a stack buffer by [`Classifier::predict`].
const STACK_FEATURES: usize = 64;
/// Rows per block of batch prediction.
const BLOCK: usize = 256;

/// A zeroed buffer of `n` values: the front of `stack` when it is long
/// enough (no allocation per row), else `heap` grown to `n`.
fn scratch<'a, T: Copy + Default, const N: usize>(
    stack: &'a mut [T; N],
    heap: &'a mut Vec<T>,
    n: usize,
) -> &'a mut [T] {
    if n <= N {
        &mut stack[..n]
    } else {
        heap.resize(n, T::default());
        heap
    }
}

impl RandomForest {
    fn from_packed(p: Packed) -> Result<RandomForest, String> {
        let (nf, k, cuts, shapes) = p.unpack()?;
        if shapes.is_empty() {
            return Err("a forest needs at least one tree".into());
        }
        let trees = shapes
            .into_iter()
            .map(|s| BinTree::new(s, k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RandomForest {
            n_features: nf,
            n_classes: k,
            cuts,
            trees,
            threads: 1,
        })
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Leaves of tree `i` (0 past the end).
    pub fn tree_leaves(&self, i: usize) -> usize {
        self.trees.get(i).map_or(0, BinTree::n_leaves)
    }

    /// Depth of tree `i`'s deepest leaf (0 past the end).
    pub fn tree_depth(&self, i: usize) -> usize {
        self.trees.get(i).map_or(0, BinTree::depth)
    }

    /// Tree `i` as a stand-alone [`DecisionTree`] (to view it), `None` past the end.
    pub fn tree(&self, i: usize) -> Option<DecisionTree> {
        let t = self.trees.get(i)?;
        DecisionTree::from_shape(self.n_features, self.n_classes, &self.cuts, t.shape()).ok()
    }

    /// Threads batch prediction runs on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Sets the threads batch prediction runs on (at least 1).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Bins `value(feature)` (NaN = missing) for every feature into `out`.
    fn bin_row(&self, value: impl Fn(usize) -> f64, out: &mut [u8]) {
        for (f, (o, c)) in out.iter_mut().zip(&self.cuts).enumerate() {
            *o = bin_of(c, value(f));
        }
    }

    /// Runs `f` on the mean class distribution of the trees' leaves for a
    /// binned row.
    fn with_proba<R>(&self, bins: &[u8], f: impl FnOnce(&[f64]) -> R) -> R {
        let (mut stack, mut heap) = ([0.0; STACK_CLASSES], Vec::new());
        let acc = scratch(&mut stack, &mut heap, self.n_classes);
        for t in &self.trees {
            t.add_leaf_proba(t.leaf_of_bins(bins), acc);
        }
        let n = self.trees.len() as f64;
        acc.iter_mut().for_each(|p| *p /= n);
        f(acc)
    }

    /// Runs `f` on the class distribution of an optional-valued row (absent
    /// entries are missing).
    fn with_row_proba<R>(&self, row: &[Option<f64>], f: impl FnOnce(&[f64]) -> R) -> R {
        let value = |i: usize| row.get(i).copied().flatten().unwrap_or(f64::NAN);
        let (mut stack, mut heap) = ([0u8; STACK_FEATURES], Vec::new());
        let bins = scratch(&mut stack, &mut heap, self.n_features);
        self.bin_row(value, bins);
        self.with_proba(bins, f)
    }

    fn best(p: &[f64]) -> Prediction {
        let (class, confidence) = p.iter().enumerate().fold(
            (0, f64::MIN),
            |(bi, bp), (i, &x)| if x > bp { (i, x) } else { (bi, bp) },
        );
        Prediction { class, confidence }
    }

    /// `f(class probabilities)` for every row of `data`, on the forest's
    /// threads. Each thread takes the next block of rows until none is left,
    /// so a thread that loses its core to another process delays only its
    /// current block (a fixed share per thread made two threads slower than
    /// one on a busy machine).
    fn map_probas<T: Send>(&self, data: &Dataset, f: impl Fn(&[f64]) -> T + Sync) -> Vec<T> {
        let n = data.n_rows();
        let blocks = n.div_ceil(BLOCK);
        let threads = self.threads.clamp(1, blocks.max(1));
        if threads == 1 {
            return self.map_probas_range(data, 0, n, &f);
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = |_: usize| {
            let mut done = Vec::new();
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b >= blocks {
                    return done;
                }
                let start = b * BLOCK;
                done.push((b, self.map_probas_range(data, start, (start + BLOCK).min(n), &f)));
            }
        };
        match on_threads(threads, threads, work) {
            Ok(parts) => {
                let mut all: Vec<_> = parts.into_iter().flatten().collect();
                all.sort_unstable_by_key(|(b, _)| *b);
                all.into_iter().flat_map(|(_, rows)| rows).collect()
            }
            // A worker cannot panic short of a bug; do the work here then.
            Err(_) => self.map_probas_range(data, 0, n, &f),
        }
    }

    /// [`RandomForest::map_probas`] of rows `start..end`, by blocks: a block
    /// is binned once, then walks each tree [`LANES`] rows at a time while the
    /// tree's nodes stay in cache.
    fn map_probas_range<T>(&self, data: &Dataset, start: usize, end: usize, f: &impl Fn(&[f64]) -> T) -> Vec<T> {
        let (nf, k, w) = (self.n_features, self.n_classes, data.n_features());
        let mut out = Vec::with_capacity(end.saturating_sub(start));
        let mut bins = vec![0u8; BLOCK * nf];
        let mut acc = vec![0.0; BLOCK * k];
        let mut leaves = [0u32; LANES];
        let n_trees = self.trees.len() as f64;
        let mut at = start;
        while at < end {
            let len = BLOCK.min(end - at);
            let raw = data.raw_rows(at, len);
            // Column by column, so each feature's cut points stay in cache;
            // rows past `len` keep old bins and are walked but not used.
            for (f, cuts) in self.cuts.iter().enumerate() {
                for (r, row) in bins.chunks_exact_mut(nf).take(len).enumerate() {
                    row[f] = bin_of(cuts, if f < w { raw[r * w + f] } else { f64::NAN });
                }
            }
            acc.fill(0.0);
            let groups = len.div_ceil(LANES);
            for t in &self.trees {
                for g in 0..groups {
                    t.leaves_of_lanes(&bins[g * LANES * nf..], nf, &mut leaves);
                    let used = LANES.min(len - g * LANES);
                    for (j, &l) in leaves[..used].iter().enumerate() {
                        let r = g * LANES + j;
                        t.add_leaf_proba(l as usize, &mut acc[r * k..(r + 1) * k]);
                    }
                }
            }
            out.extend(acc.chunks_exact_mut(k).take(len).map(|a| {
                a.iter_mut().for_each(|p| *p /= n_trees);
                f(a)
            }));
            at += len;
        }
        out
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
        self.with_row_proba(row, Self::best)
    }

    fn predict_proba_into(&self, row: &[Option<f64>], out: &mut [f64]) {
        self.with_row_proba(row, |p| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = p.get(i).copied().unwrap_or(0.0);
            }
        })
    }

    fn predict_dataset(&self, data: &Dataset) -> Vec<Prediction> {
        self.map_probas(data, Self::best)
    }

    fn predict_classes(&self, data: &Dataset) -> Vec<u32> {
        self.map_probas(data, |p| Self::best(p).class as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::synth::{accuracy, assert_proba_matches_predict, grouped_split, make};

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
    fn fitting_rows_in_place_equals_fitting_their_copy() {
        let d = make(3000, 6, 4, 20, 1.0, 0.05, 8);
        let rows: Vec<usize> = (0..d.n_rows()).filter(|i| i % 3 != 1).rev().collect();
        let p = ForestParams { threads: 2, ..small() };
        assert_eq!(p.fit_rows(&d, &rows).unwrap(), p.fit(&d.select(&rows)).unwrap());
        let t = TreeParams::default();
        assert_eq!(t.fit_rows(&d, &rows).unwrap(), t.fit(&d.select(&rows)).unwrap());
        assert!(matches!(p.fit_rows(&d, &[]), Err(FitError::Empty)));
        assert!(matches!(t.fit_rows(&d, &[0, 3000]), Err(FitError::InvalidParameter(_))));
    }

    #[test]
    fn trees_differ_and_seed_matters() {
        let d = make(2000, 6, 3, 20, 1.0, 0.0, 9);
        let f = small().fit(&d).unwrap();
        assert_ne!(f.tree(0), f.tree(1));
        assert!(f.tree(f.n_trees()).is_none());
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
            for t in (0..f.n_trees()).map(|i| f.tree(i).unwrap()) {
                let mut p = [0.0; 3];
                t.predict_proba_into(&row, &mut p);
                mean.iter_mut().zip(&p).for_each(|(m, x)| *m += x / f.n_trees() as f64);
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

    /// As for a single tree (`leaves_keep_only_the_classes_they_have` in
    /// `tree/tests.rs`): on many classes, each tree keeps at most one leaf
    /// entry per training row, not one per class per leaf, and so does the
    /// stored form; the distributions still sum to 1.
    #[test]
    fn leaves_keep_only_the_classes_they_have() {
        let d = make(2400, 4, 400, 3, 3.0, 0.0, 12);
        let f = ForestParams { n_trees: 8, ..small() }.fit(&d).unwrap();
        let leaves: usize = (0..f.n_trees()).map(|i| f.tree_leaves(i)).sum();
        assert!(leaves > 8 * 200, "{leaves}");
        let entries: usize = f.trees.iter().map(BinTree::leaf_entry_count).sum();
        // A bootstrap sample has as many rows as the data.
        assert!(entries <= 8 * d.n_rows(), "{entries}");
        // At most 10 bytes per node and 4 per entry (see the tree's test); a
        // dense table would be at least 400 bytes per leaf.
        let bytes = postcard::to_allocvec(&f).unwrap();
        assert!(
            bytes.len() <= 10 * 2 * leaves + 4 * entries + 64,
            "{} bytes, {leaves} leaves, {entries} entries",
            bytes.len()
        );
        assert_eq!(postcard::from_bytes::<RandomForest>(&bytes).unwrap(), f);
        assert_proba_matches_predict(&f, &d);
    }

    /// With few classes the trees keep dense distributions and rebuild their
    /// counts from them to be stored: every tree's counts still add up to its
    /// sample (as many rows as the data), and the decoded forest is equal.
    #[test]
    fn dense_leaves_store_their_exact_counts() {
        let d = make(3000, 6, 4, 20, 1.0, 0.05, 8);
        let f = small().fit(&d).unwrap();
        for t in &f.trees {
            let s = t.shape();
            let rows: u64 = (0..s.leaves.len())
                .flat_map(|l| s.leaves.get(l).iter().map(|&(_, n)| n as u64))
                .sum();
            assert_eq!(rows, d.n_rows() as u64);
        }
        let bytes = postcard::to_allocvec(&f).unwrap();
        assert_eq!(postcard::from_bytes::<RandomForest>(&bytes).unwrap(), f);
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
