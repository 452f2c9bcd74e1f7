//! The breadth-first form of a tree ([`Shape`]) and the compact form in which
//! trees and forests are stored ([`Packed`]).
//!
//! # Breadth-first layout
//!
//! Nodes are numbered level by level, so the children of the `j`-th split
//! (counting splits only, in node order) are nodes `2j + 1` and `2j + 2`. A
//! tree is then fully described by one bit per node (split or leaf), each
//! split's feature, threshold and missing-value side, and each leaf's class
//! counts ([`Leaves`]: only the classes present) — no child indices.
//!
//! # Stored form
//!
//! The features are binned before training, so every threshold is one of at
//! most 254 cut points of its feature. [`Packed`] keeps each feature's cut
//! points once (`f64`, only those some split uses) and a split refers to its
//! threshold by a one-byte index. The parts are stored as separate streams
//! (node bits, split features, threshold indices, and per leaf the number of
//! classes present, those classes and their counts, as varints), which also
//! compress well. A leaf stores only the classes it has rows of, so a model's
//! size, like its memory, does not grow with leaves × classes. Decoding
//! checks everything before building anything ([`Packed::unpack`]): a hostile
//! blob gives an error, never a panic, and nothing is allocated beyond what
//! its bytes describe.

use super::Leaves;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// One node of a breadth-first tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShapeNode {
    /// Rows with `value <= cuts[feature][cut]` go left; missing values go
    /// left if `missing_left`.
    Split {
        /// The feature tested.
        feature: u32,
        /// Index of the threshold among the feature's cut points.
        cut: u8,
        /// Whether missing values go left.
        missing_left: bool,
    },
    /// A leaf; its class counts are the next leaf of [`Shape::leaves`].
    Leaf,
}

/// A tree laid out breadth first (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Shape {
    /// The nodes, breadth first.
    pub nodes: Vec<ShapeNode>,
    /// The leaves' class counts, in node order.
    pub leaves: Leaves,
}

/// Most cut points of a feature: value bins are 0..=254, bin 255 is missing.
pub(crate) const MAX_CUTS: usize = 254;

/// Trees over shared cut points, as stored (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Packed {
    n_features: u32,
    n_classes: u32,
    /// Per feature, the thresholds the splits use, ascending.
    cuts: Vec<Vec<f64>>,
    /// Nodes per tree.
    tree_nodes: Vec<u32>,
    /// One bit per node (least significant first), trees one after another:
    /// 1 = split.
    shape: Vec<u8>,
    /// Per split: `feature << 1 | missing_left`.
    split_features: Vec<u32>,
    /// Per split: index of its threshold in `cuts[feature]`.
    split_cuts: Vec<u8>,
    /// Per leaf, the number of classes with training rows in it (at least 1).
    leaf_sizes: Vec<u32>,
    /// Per leaf, those classes, ascending.
    leaf_classes: Vec<u32>,
    /// Per leaf, the training rows of each of those classes (above 0).
    leaf_counts: Vec<u32>,
}

/// The cut points of each feature that `used[feature][cut]` marks, and per
/// feature the new index of each kept one (`renumber[feature][old cut]`).
pub(crate) fn keep_used(cuts: &[Vec<f64>], used: &[[bool; 256]]) -> (Vec<Vec<f64>>, Vec<[u8; 256]>) {
    let mut renumber: Vec<[u8; 256]> = vec![[0; 256]; cuts.len()];
    let mut kept = Vec::with_capacity(cuts.len());
    for (f, (cuts, used)) in cuts.iter().zip(used).enumerate() {
        let mut c = Vec::new();
        for (i, (&u, &x)) in used.iter().zip(cuts).enumerate() {
            if u {
                // At most 254 cut points per feature, so the index fits.
                renumber[f][i] = c.len() as u8;
                c.push(x);
            }
        }
        kept.push(c);
    }
    (kept, renumber)
}

/// What [`Packed::unpack`] gives: feature count, class count, cut points per
/// feature, trees.
pub(crate) type Unpacked = (usize, usize, Vec<Vec<f64>>, Vec<Shape>);

impl Packed {
    /// Packs `trees` whose splits index `cuts`, keeping only the cut points
    /// some split uses (and renumbering the splits' indices to match).
    pub fn pack(n_features: usize, n_classes: usize, cuts: &[Vec<f64>], trees: &[Shape]) -> Result<Packed, String> {
        Packed::pack_with(n_features, n_classes, cuts, trees.len(), |i| Cow::Borrowed(&trees[i]))
    }

    /// [`Packed::pack`] of the `n_trees` trees `tree(i)`, asked for one at a
    /// time (twice each), so that a forest is stored without
    /// building the shapes of all its trees at once (a default forest's
    /// shapes are 5 MB, more than its stored form).
    pub fn pack_with<'a>(
        n_features: usize,
        n_classes: usize,
        cuts: &[Vec<f64>],
        n_trees: usize,
        tree: impl Fn(usize) -> Cow<'a, Shape>,
    ) -> Result<Packed, String> {
        if cuts.len() != n_features {
            return Err("one list of cut points per feature is needed".into());
        }
        if cuts.iter().any(|c| c.len() > MAX_CUTS) {
            return Err(format!("a feature has more than {MAX_CUTS} cut points"));
        }
        let mut used: Vec<[bool; 256]> = vec![[false; 256]; n_features];
        // Sizes of the streams, so that each is allocated once (grown by
        // doubling, they were twice the memory of a forest's stored form).
        let (mut nodes, mut splits, mut leaves, mut entries) = (0, 0, 0, 0);
        for i in 0..n_trees {
            let t = tree(i);
            nodes += t.nodes.len();
            leaves += t.leaves.len();
            entries += t.leaves.entry_count();
            for n in &t.nodes {
                if let ShapeNode::Split { feature, cut, .. } = *n {
                    let f = feature as usize;
                    if f >= n_features || cut as usize >= cuts[f].len() {
                        return Err("a split refers to a cut point that does not exist".into());
                    }
                    used[f][cut as usize] = true;
                    splits += 1;
                }
            }
        }
        let (kept, renumber) = keep_used(cuts, &used);
        let mut p = Packed {
            n_features: n_features as u32,
            n_classes: n_classes as u32,
            cuts: kept,
            tree_nodes: Vec::with_capacity(n_trees),
            shape: Vec::with_capacity(nodes.div_ceil(8)),
            split_features: Vec::with_capacity(splits),
            split_cuts: Vec::with_capacity(splits),
            leaf_sizes: Vec::with_capacity(leaves),
            leaf_classes: Vec::with_capacity(entries),
            leaf_counts: Vec::with_capacity(entries),
        };
        let mut bit = 0usize;
        for i in 0..n_trees {
            let t = tree(i);
            p.tree_nodes
                .push(u32::try_from(t.nodes.len()).map_err(|_| "a tree has too many nodes".to_string())?);
            for n in &t.nodes {
                if bit.is_multiple_of(8) {
                    p.shape.push(0);
                }
                if let ShapeNode::Split {
                    feature,
                    cut,
                    missing_left,
                } = *n
                {
                    p.shape[bit / 8] |= 1 << (bit % 8);
                    p.split_features.push(feature << 1 | u32::from(missing_left));
                    p.split_cuts.push(renumber[feature as usize][cut as usize]);
                }
                bit += 1;
            }
            for l in 0..t.leaves.len() {
                let leaf = t.leaves.get(l);
                p.leaf_sizes.push(leaf.len() as u32);
                p.leaf_classes.extend(leaf.iter().map(|&(c, _)| c));
                p.leaf_counts.extend(leaf.iter().map(|&(_, n)| n));
            }
        }
        Ok(p)
    }

    /// Checks and unpacks. Every split of the result indexes an existing cut
    /// point, every tree is a well-formed breadth-first tree, every leaf has
    /// training rows.
    pub fn unpack(self) -> Result<Unpacked, String> {
        let (nf, k) = (self.n_features as usize, self.n_classes as usize);
        if k == 0 {
            return Err("a model needs at least one class".into());
        }
        if self.cuts.len() != nf {
            return Err(format!("{} lists of cut points for {nf} features", self.cuts.len()));
        }
        for (f, c) in self.cuts.iter().enumerate() {
            if c.len() > MAX_CUTS {
                return Err(format!("feature {f} has {} cut points, at most {MAX_CUTS}", c.len()));
            }
            if c.iter().any(|v| v.is_nan()) || c.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("the cut points of feature {f} are not strictly increasing"));
            }
        }
        let total: u64 = self.tree_nodes.iter().map(|&n| n as u64).sum();
        if total.div_ceil(8) != self.shape.len() as u64 {
            return Err("the node bits do not match the node counts".into());
        }
        if self.leaf_classes.len() != self.leaf_counts.len() {
            return Err("the leaves' classes do not match their counts".into());
        }
        let mut splits_in = self.split_features.iter();
        let mut cuts_in = self.split_cuts.iter();
        let mut sizes_in = self.leaf_sizes.iter();
        let mut entries_in = self.leaf_classes.iter().copied().zip(self.leaf_counts.iter().copied());
        let mut trees = Vec::with_capacity(self.tree_nodes.len());
        let mut bit = 0usize;
        for (t, &n) in self.tree_nodes.iter().enumerate() {
            let n = n as usize;
            if n.is_multiple_of(2) {
                return Err(format!("tree {t} has an even node count"));
            }
            let mut nodes = Vec::with_capacity(n);
            let mut j = 0usize;
            for i in 0..n {
                let is_split = self.shape[bit / 8] >> (bit % 8) & 1 == 1;
                bit += 1;
                if !is_split {
                    nodes.push(ShapeNode::Leaf);
                    continue;
                }
                // The j-th split's children are 2j+1 and 2j+2: after it, inside the tree.
                if 2 * j < i || 2 * j + 2 >= n {
                    return Err(format!("tree {t}: node {i} is not laid out breadth first"));
                }
                j += 1;
                let (Some(&key), Some(&cut)) = (splits_in.next(), cuts_in.next()) else {
                    return Err("fewer split features than splits".into());
                };
                let feature = key >> 1;
                let f = feature as usize;
                if f >= nf || cut as usize >= self.cuts[f].len() {
                    return Err(format!("tree {t}: node {i} refers to a cut point that does not exist"));
                }
                nodes.push(ShapeNode::Split {
                    feature,
                    cut,
                    missing_left: key & 1 == 1,
                });
            }
            if 2 * j + 1 != n {
                return Err(format!("tree {t} has {j} splits for {n} nodes"));
            }
            let mut leaves = Leaves::default();
            for _ in 0..n - j {
                let Some(&size) = sizes_in.next() else {
                    return Err("fewer leaf sizes than leaves".into());
                };
                if size as usize > k {
                    return Err(format!("tree {t}: a leaf has {size} classes of {k}"));
                }
                let before = leaves.entry_count();
                leaves.push_entries(entries_in.by_ref().take(size as usize));
                if leaves.entry_count() - before != size as usize {
                    return Err("fewer leaf counts than leaves".into());
                }
            }
            leaves.check(k).map_err(|e| format!("tree {t}: {e}"))?;
            trees.push(Shape { nodes, leaves });
        }
        if bit < self.shape.len() * 8 && self.shape[bit / 8] >> (bit % 8) != 0 {
            return Err("stray node bits after the last tree".into());
        }
        if splits_in.next().is_some()
            || cuts_in.next().is_some()
            || sizes_in.next().is_some()
            || entries_in.next().is_some()
        {
            return Err("more split or leaf data than nodes".into());
        }
        Ok((nf, k, self.cuts, trees))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Classifier;
    use crate::forest::RandomForest;
    use crate::tree::DecisionTree;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any bytes decode to an error or to a model that predicts without
        /// panicking.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(f) = postcard::from_bytes::<RandomForest>(&bytes) {
                let p = f.predict(&[Some(1.0), None, Some(-3.0)]);
                prop_assert!(p.class < f.n_classes());
            }
            if let Ok(t) = postcard::from_bytes::<DecisionTree>(&bytes) {
                let p = t.predict(&[Some(1.0), None, Some(-3.0)]);
                prop_assert!(p.class < t.n_classes());
            }
        }

        /// A well-formed forest with one byte changed decodes to an error or
        /// to a forest that predicts without panicking.
        #[test]
        fn mutated_forests_never_panic(pos in 0usize..10_000, x in 1u8..=255) {
            let mut bytes = postcard::to_allocvec(&Packed::pack(2, 2, &[vec![0.5, 1.5], vec![1.0, 2.0, 3.0]], &[stump(), stump(), deeper()]).unwrap()).unwrap();
            let pos = pos % bytes.len();
            bytes[pos] ^= x;
            if let Ok(f) = postcard::from_bytes::<RandomForest>(&bytes) {
                for row in [[Some(0.0), Some(0.0)], [None, Some(2.5)], [Some(9.0), None]] {
                    prop_assert!(f.predict(&row).class < f.n_classes());
                }
            }
        }
    }

    fn deeper() -> Shape {
        let split = |feature, cut, missing_left| ShapeNode::Split {
            feature,
            cut,
            missing_left,
        };
        Shape {
            nodes: vec![
                split(0, 1, false),
                split(1, 0, true),
                ShapeNode::Leaf,
                ShapeNode::Leaf,
                split(0, 0, false),
                ShapeNode::Leaf,
                ShapeNode::Leaf,
            ],
            leaves: leaves(&[&[1, 0], &[0, 2], &[5, 5], &[0, 1]]),
        }
    }

    fn stump() -> Shape {
        Shape {
            nodes: vec![
                ShapeNode::Split {
                    feature: 1,
                    cut: 2,
                    missing_left: true,
                },
                ShapeNode::Leaf,
                ShapeNode::Leaf,
            ],
            leaves: leaves(&[&[3, 0], &[1, 4]]),
        }
    }

    /// Leaves from their dense counts.
    fn leaves(dense: &[&[u32]]) -> Leaves {
        let mut l = Leaves::default();
        for d in dense {
            l.push(d);
        }
        l
    }

    #[test]
    fn packs_only_used_cut_points_and_round_trips() {
        let cuts = vec![vec![0.5], vec![1.0, 2.0, 3.0, 4.0]];
        let p = Packed::pack(2, 2, &cuts, &[stump(), stump()]).unwrap();
        assert_eq!(p.cuts, vec![vec![], vec![3.0]]);
        let (nf, k, c, trees) = p.unpack().unwrap();
        assert_eq!((nf, k, c), (2, 2, vec![vec![], vec![3.0]]));
        let mut want = stump();
        want.nodes[0] = ShapeNode::Split {
            feature: 1,
            cut: 0,
            missing_left: true,
        };
        assert_eq!(trees, vec![want.clone(), want]);
    }

    #[test]
    fn rejects_malformed_trees() {
        let cuts = vec![vec![0.5], vec![1.0, 2.0, 3.0]];
        let good = Packed::pack(2, 2, &cuts, &[stump()]).unwrap();
        let bad = |f: &dyn Fn(&mut Packed)| {
            let mut p = good.clone();
            f(&mut p);
            p.unpack().unwrap_err()
        };
        bad(&|p| p.tree_nodes[0] = 5);
        bad(&|p| p.shape[0] = 0b011);
        bad(&|p| p.shape[0] = 0b010);
        bad(&|p| p.split_cuts[0] = 9);
        bad(&|p| p.split_features[0] = 9 << 1);
        bad(&|p| p.leaf_counts.truncate(2));
        bad(&|p| p.leaf_counts[0] = 0);
        bad(&|p| p.leaf_classes[1] = 2);
        bad(&|p| p.leaf_classes.swap(1, 2));
        bad(&|p| p.leaf_sizes = vec![1, 1]);
        bad(&|p| p.leaf_sizes = vec![0, 3]);
        bad(&|p| p.leaf_sizes = vec![0, 2]);
        bad(&|p| p.leaf_sizes = vec![2, 1]);
        bad(&|p| p.leaf_sizes = vec![3, 0]);
        bad(&|p| p.leaf_sizes.push(0));
        bad(&|p| p.cuts[1] = vec![2.0, 1.0]);
        bad(&|p| p.cuts[1] = vec![f64::NAN]);
        bad(&|p| p.cuts.pop().map(drop).unwrap_or(()));
        bad(&|p| p.n_classes = 0);
        bad(&|p| p.shape.push(1));
        bad(&|p| {
            p.leaf_classes.push(1);
            p.leaf_counts.push(1);
        });
        assert!(good.unpack().is_ok());
    }
}
