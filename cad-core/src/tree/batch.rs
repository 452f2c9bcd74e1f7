//! Batch prediction: blocks of rows walk a tree [`LANES`] rows at a time.
//!
//! The rows of a group step in lock-step. A leaf loops to itself (it reads
//! some column against a threshold of +∞), so no lane needs a branch to stop,
//! and the lanes' load–compare chains overlap instead of waiting on each
//! other. Every step is the one comparison `!(value <= threshold)`, which
//! picks the right child.
//!
//! * A group with no missing value (the common case) is read where it lies in
//!   the data set, through the tree's `dense_lanes`. Its NaN check runs just
//!   before its walk, so the memory reads overlap the previous group's walk.
//! * A group with a missing value, and the short last group, is first copied
//!   into [`RowBlock`]'s scratch. Each row is copied twice: as it is (NaN =
//!   missing), and with NaN replaced by −∞, followed by a 0.0 that leaves
//!   read. A split whose missing values go right reads the first copy, where
//!   the comparison is true for NaN. A split whose missing values go left
//!   reads the second, where −∞ goes left. So there is no test for missing
//!   values in the walk.

use super::{DecisionTree, FEATURE_MASK, LEAF, MISSING_LEFT, Node};
use crate::dataset::Dataset;

/// Rows walked together in lock-step.
pub(crate) const LANES: usize = 8;
/// Rows per block of batch prediction.
pub(crate) const BLOCK: usize = 256;

/// A node of the batch walk: a row goes to `next + 1` if
/// `!(row[col] <= threshold)`, else to `next`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LaneNode {
    threshold: f64,
    col: u32,
    next: u32,
}

/// The lane nodes of a checked node array of a tree over `n_features`
/// features, for rows laid out by [`RowBlock`] (`dense: false`: raw values,
/// then values with NaN as −∞, then 0.0) or for raw rows without NaN
/// (`dense: true`, where a leaf reads column 0 and never leaves).
pub(crate) fn lane_nodes(nodes: &[Node], n_features: usize, dense: bool) -> Vec<LaneNode> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if n.feature == LEAF {
                LaneNode {
                    threshold: f64::INFINITY,
                    col: if dense { 0 } else { 2 * n_features as u32 },
                    next: i as u32,
                }
            } else {
                let f = n.feature & FEATURE_MASK;
                let missing_left = n.feature & MISSING_LEFT != 0;
                LaneNode {
                    threshold: n.threshold,
                    col: if missing_left && !dense {
                        n_features as u32 + f
                    } else {
                        f
                    },
                    next: n.next,
                }
            }
        })
        .collect()
}

/// Up to [`BLOCK`] rows of a data set, ready for [`DecisionTree::leaves_of_block`].
///
/// The rows are read where they are, [`LANES`] at a time. A group of rows
/// with a missing value (and the last, short group) is first copied into
/// `scratch` with, per row, the `n_features` raw values, the same with NaN
/// replaced by −∞, then 0.0 (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct RowBlock<'a> {
    n_features: usize,
    /// The rows, `width` values each.
    rows: &'a [f64],
    width: usize,
    len: usize,
    scratch: Vec<f64>,
}

impl<'a> RowBlock<'a> {
    /// An empty block for models over `n_features` features.
    fn new(n_features: usize) -> RowBlock<'a> {
        RowBlock {
            n_features,
            rows: &[],
            width: 0,
            len: 0,
            scratch: Vec::new(),
        }
    }

    /// Values per copied row.
    fn stride(&self) -> usize {
        2 * self.n_features + 1
    }

    /// Takes rows `start..start + len` of `data` (at most [`BLOCK`]).
    ///
    /// # Panics
    /// If the rows are out of range of `data`.
    fn fill(&mut self, data: &'a Dataset, start: usize, len: usize) {
        self.width = data.n_features();
        self.rows = data.raw_rows(start, len);
        self.len = len;
    }

    /// Copies the `count` rows (at most [`LANES`]) of `rows` into `scratch`
    /// in the layout of the module docs, padded to [`LANES`] rows of zeros.
    /// Columns the rows lack are missing; extra columns are ignored.
    fn copy(&mut self, rows: &[f64], count: usize) {
        let (nf, w, stride) = (self.n_features, self.width, self.stride());
        let shared = nf.min(w);
        self.scratch.clear();
        self.scratch.resize(LANES * stride, 0.0);
        for (j, dst) in self.scratch.chunks_exact_mut(stride).take(count).enumerate() {
            let row = &rows[j * w..(j + 1) * w];
            let (raw, rest) = dst.split_at_mut(nf);
            for ((a, b), &v) in raw.iter_mut().zip(rest.iter_mut()).zip(&row[..shared]) {
                *a = v;
                *b = if v.is_nan() { f64::NEG_INFINITY } else { v };
            }
            raw[shared..].fill(f64::NAN);
            rest[shared..nf].fill(f64::NEG_INFINITY);
        }
    }
}

/// Calls `f` with each block of [`BLOCK`] rows of `data` (the last one
/// shorter) in order, laid out for models over `n_features` features, and
/// the block's row count.
pub(crate) fn for_each_block<'a>(data: &'a Dataset, n_features: usize, mut f: impl FnMut(&mut RowBlock<'a>, usize)) {
    let n = data.n_rows();
    let mut block = RowBlock::new(n_features);
    let mut start = 0;
    while start < n {
        let len = BLOCK.min(n - start);
        block.fill(data, start, len);
        f(&mut block, len);
        start += len;
    }
}

/// Whether any value is NaN (`v != v`, which vectorises).
#[allow(clippy::eq_op)]
fn has_nan(values: &[f64]) -> bool {
    values.iter().fold(false, |acc, &v| acc | (v != v))
}

/// Walks [`LANES`] rows in lock-step from the root until all are at a leaf
/// (checked every 4 steps; a row at its leaf stays there) and returns their
/// node indices.
// `!(v <= t)` on purpose: it is true for NaN, which goes right.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
#[inline(always)]
fn walk(tree: &DecisionTree, lanes: &[LaneNode], rows: [&[f64]; LANES]) -> [usize; LANES] {
    let mut idx = [0usize; LANES];
    let mut steps = 0;
    while steps < tree.depth {
        for _ in 0..4 {
            for (i, row) in idx.iter_mut().zip(&rows) {
                let nd = &lanes[*i];
                *i = nd.next as usize + usize::from(!(row[nd.col as usize] <= nd.threshold));
            }
        }
        steps += 4;
        // Only a leaf loops to itself (a split's children come after it).
        if idx.iter().all(|&i| lanes[i].next as usize == i) {
            break;
        }
    }
    idx
}

impl DecisionTree {
    /// Writes the leaf index of each row of `block` into `out[..len]` (`len`
    /// the block's row count).
    ///
    /// # Panics
    /// If `block` was made for another feature count or `out` is too short.
    pub(crate) fn leaves_of_block(&self, block: &mut RowBlock<'_>, out: &mut [u32]) {
        assert_eq!(block.n_features, self.n_features, "row block of another model");
        let (w, stride) = (block.width, block.stride());
        // A dense walk reads columns below n_features of rows as they are.
        let dense_ok = w >= self.n_features;
        let rows = block.rows;
        for (g, o) in out[..block.len].chunks_mut(LANES).enumerate() {
            let group = &rows[g * LANES * w..(g * LANES + o.len()) * w];
            // Checked only for a full group that could be read in place.
            let in_place = o.len() == LANES && dense_ok && !has_nan(group);
            let idx = if in_place {
                walk(
                    self,
                    &self.dense_lanes,
                    std::array::from_fn(|j| &group[j * w..(j + 1) * w]),
                )
            } else {
                block.copy(group, o.len());
                let s = &block.scratch;
                walk(
                    self,
                    &self.lanes,
                    std::array::from_fn(|j| &s[j * stride..(j + 1) * stride]),
                )
            };
            for (o, i) in o.iter_mut().zip(idx) {
                *o = self.nodes[i].next;
            }
        }
    }
}
