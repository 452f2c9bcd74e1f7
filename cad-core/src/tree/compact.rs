//! Trees over binned rows: how a forest predicts.
//!
//! A forest's trees share the cut points of its features. A row is binned
//! once (one byte per feature, [`MISSING_BIN`] for a missing value) and every
//! tree then compares bytes: a node is 8 bytes, a tree of a thousand leaves
//! 16 KB.
//!
//! Every step is the one comparison `bin.wrapping_add(add) > threshold`,
//! which picks the right child (`next + 1`) over the left (`next`):
//! * a split whose missing values go right has `add = 0`: the missing bin,
//!   255, is above every threshold (at most 253);
//! * a split whose missing values go left has `add = 1` and its threshold
//!   plus one: the missing bin wraps to 0 and goes left, a value bin `b`
//!   goes left iff `b + 1 <= t + 1`;
//! * a leaf has threshold 255 and `next` itself, so a row that reached it
//!   stays, and rows walk in lock-step without a branch to stop.

use super::Leaves;
use super::bins::MISSING_BIN;
use super::shape::{Shape, ShapeNode};

/// Rows walked together in lock-step.
pub(crate) const LANES: usize = 8;

/// One node: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct BinNode {
    next: u32,
    feature: u16,
    threshold: u8,
    add: u8,
}

/// A tree of a forest, over the forest's bins.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BinTree {
    nodes: Vec<BinNode>,
    /// Leaf index of each leaf node (0 for splits).
    leaf_of: Vec<u32>,
    /// With at most [`DENSE_CLASSES`] classes, leaf `l`'s class distribution
    /// is `leaf_proba[l * k..(l + 1) * k]` (one read of adjacent values per
    /// row and tree; the sparse entries below cost a cache miss for the
    /// entry range, one for the entries and one for the scale, and were
    /// 38 % of a default forest's prediction instructions). Empty with more
    /// classes.
    leaf_proba: Vec<f64>,
    /// With `leaf_proba`, each leaf's training rows (its counts are then
    /// its distribution times this, rounded: exact below 2³² rows).
    leaf_total: Vec<u32>,
    /// Without `leaf_proba` (else empty), the training counts of the classes
    /// present, per leaf (a dense table would grow with leaves × classes).
    leaves: Leaves,
    /// Without `leaf_proba` (else empty), per leaf 1 / its training rows:
    /// the class distribution is the counts times this.
    leaf_scale: Vec<f64>,
    /// Classes.
    k: usize,
    depth: usize,
}

/// Up to this many classes a tree keeps its leaves' class distributions
/// dense, for prediction (a default forest of 5 classes: 40 KB per tree).
pub(crate) const DENSE_CLASSES: usize = 8;

impl BinTree {
    /// Builds the tree of a checked breadth-first `shape` with `k` classes,
    /// whose cut indices are bins (at most 253, features below 65,536).
    pub fn new(shape: Shape, k: usize) -> Result<BinTree, String> {
        let n = shape.nodes.len();
        if n.is_multiple_of(2) || shape.leaves.len() != n - n / 2 {
            return Err("the leaf counts do not match the leaves".into());
        }
        let totals = shape.leaves.check(k)?;
        let mut nodes = Vec::with_capacity(n);
        let mut leaf_of = vec![0u32; n];
        let mut depth = vec![0usize; n];
        let (mut j, mut leaf) = (0u32, 0u32);
        for (i, node) in shape.nodes.iter().enumerate() {
            match *node {
                ShapeNode::Split {
                    feature,
                    cut,
                    missing_left,
                } => {
                    let feature = u16::try_from(feature).map_err(|_| "a forest reads at most 65,535 features")?;
                    if cut as usize >= MISSING_BIN as usize - 1 {
                        return Err("a split's bin is out of range".into());
                    }
                    let next = 2 * j + 1;
                    let d = depth[i] + 1;
                    depth[next as usize] = d;
                    depth[next as usize + 1] = d;
                    nodes.push(BinNode {
                        next,
                        feature,
                        threshold: cut + u8::from(missing_left),
                        add: u8::from(missing_left),
                    });
                    j += 1;
                }
                ShapeNode::Leaf => {
                    nodes.push(BinNode {
                        next: i as u32,
                        feature: 0,
                        threshold: u8::MAX,
                        add: 0,
                    });
                    leaf_of[i] = leaf;
                    leaf += 1;
                }
            }
        }
        let leaf_scale: Vec<f64> = totals.iter().map(|&t| 1.0 / t as f64).collect();
        // A decoded leaf may claim more rows than fit a u32: it stays sparse.
        let dense = k <= DENSE_CLASSES && totals.iter().all(|&t| t <= u64::from(u32::MAX));
        let (leaf_proba, leaf_total, leaves, leaf_scale) = if dense {
            let mut dense = vec![0.0; shape.leaves.len() * k];
            for (l, (p, &scale)) in dense.chunks_exact_mut(k).zip(&leaf_scale).enumerate() {
                for &(c, n) in shape.leaves.get(l) {
                    // The same product as the sparse path: the same sums.
                    p[c as usize] = n as f64 * scale;
                }
            }
            let total = totals.into_iter().map(|t| t as u32).collect();
            (dense, total, Leaves::default(), Vec::new())
        } else {
            (Vec::new(), Vec::new(), shape.leaves, leaf_scale)
        };
        Ok(BinTree {
            nodes,
            leaf_of,
            leaves,
            leaf_proba,
            leaf_total,
            leaf_scale,
            k,
            depth: depth.into_iter().max().unwrap_or(0),
        })
    }

    /// The breadth-first shape (cut indices are bins).
    pub fn shape(&self) -> Shape {
        Shape {
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    if n.next as usize == i {
                        ShapeNode::Leaf
                    } else {
                        ShapeNode::Split {
                            feature: n.feature as u32,
                            cut: n.threshold - n.add,
                            missing_left: n.add == 1,
                        }
                    }
                })
                .collect(),
            leaves: self.leaves(),
        }
    }

    /// The leaves' training counts of the classes present.
    fn leaves(&self) -> Leaves {
        if self.leaf_proba.is_empty() {
            return self.leaves.clone();
        }
        let mut leaves = Leaves::default();
        for (p, &t) in self.leaf_proba.chunks_exact(self.k).zip(&self.leaf_total) {
            // p = n · (1 / t) in f64, so p · t is n within far less than ½.
            let entries = p.iter().enumerate().filter(|(_, p)| **p > 0.0);
            leaves.push_entries(entries.map(|(c, p)| (c as u32, (p * t as f64).round() as u32)));
        }
        leaves
    }

    /// Marks in `used[feature][cut]` the cut points this tree's splits use.
    pub fn mark_cuts(&self, used: &mut [[bool; 256]]) {
        for (i, n) in self.nodes.iter().enumerate() {
            if n.next as usize != i {
                used[n.feature as usize][(n.threshold - n.add) as usize] = true;
            }
        }
    }

    /// Renumbers the splits' cut points: cut `c` of feature `f` becomes
    /// `renumber[f][c]` (from [`super::shape::keep_used`] of the cut points
    /// [`BinTree::mark_cuts`] marked), as decoding the stored form would.
    pub fn renumber_cuts(&mut self, renumber: &[[u8; 256]]) {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if n.next as usize != i {
                n.threshold = renumber[n.feature as usize][(n.threshold - n.add) as usize] + n.add;
            }
        }
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.nodes.len() - self.nodes.len() / 2
    }

    /// Depth of the deepest leaf.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Classes kept over all leaves (the memory of the leaf tables).
    #[cfg(test)]
    pub fn leaf_entry_count(&self) -> usize {
        self.leaves().entry_count()
    }

    /// Adds leaf `l`'s class distribution to `acc`; the classes of `acc`
    /// past its length are ignored.
    #[inline]
    pub fn add_leaf_proba(&self, l: usize, acc: &mut [f64]) {
        if !self.leaf_proba.is_empty() {
            let k = self.k;
            // Adding 0.0 for an absent class leaves the sum as it was.
            for (a, &p) in acc.iter_mut().zip(&self.leaf_proba[l * k..(l + 1) * k]) {
                *a += p;
            }
            return;
        }
        let scale = self.leaf_scale[l];
        for &(c, n) in self.leaves.get(l) {
            if let Some(a) = acc.get_mut(c as usize) {
                *a += n as f64 * scale;
            }
        }
    }

    /// The leaf of one binned row.
    #[inline]
    pub fn leaf_of_bins(&self, bins: &[u8]) -> usize {
        let mut i = 0usize;
        loop {
            let n = self.nodes[i];
            let j = n.next as usize + usize::from(bins[n.feature as usize].wrapping_add(n.add) > n.threshold);
            if j == i {
                return self.leaf_of[i] as usize;
            }
            i = j;
        }
    }

    /// The leaves of [`LANES`] binned rows of `width` bytes each, starting at
    /// `rows[0]`, walked in lock-step (checked every 4 steps whether all are
    /// at a leaf).
    #[inline]
    pub fn leaves_of_lanes(&self, rows: &[u8], width: usize, out: &mut [u32]) {
        let rows: [&[u8]; LANES] = std::array::from_fn(|j| &rows[j * width..(j + 1) * width]);
        let mut idx = [0usize; LANES];
        let mut steps = 0;
        while steps < self.depth {
            for _ in 0..4 {
                for (i, row) in idx.iter_mut().zip(&rows) {
                    let n = self.nodes[*i];
                    *i = n.next as usize + usize::from(row[n.feature as usize].wrapping_add(n.add) > n.threshold);
                }
            }
            steps += 4;
            if idx.iter().all(|&i| self.nodes[i].next as usize == i) {
                break;
            }
        }
        for (o, i) in out.iter_mut().zip(idx) {
            *o = self.leaf_of[i];
        }
    }
}
