//! Growing a tree on binned features: histogram split search with the
//! subtraction trick, stable in-place partition of row indices, depth-first
//! with an explicit stack (no recursion).

use super::bins::{Binned, MISSING_BIN, SLOTS};
use super::{Criterion, DecisionTree, LEAF, Leaves, MISSING_LEFT, Node, TreeParams};
use crate::classifier::FitError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A node waiting to be split, with its rows `rows[start..end]`, class counts
/// and histogram (`feature × SLOTS × class`).
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    counts: Vec<u32>,
    hist: Vec<u32>,
}

/// The best split found at a node.
struct Split {
    feature: usize,
    /// Rows with a value bin `<= bin` go left.
    bin: usize,
    missing_left: bool,
    score: f64,
    left_counts: Vec<u32>,
}

struct Grower<'a> {
    binned: &'a Binned,
    labels: &'a [u32],
    k: usize,
    params: &'a TreeParams,
    nodes: Vec<Node>,
    leaves: Leaves,
    /// Recycled histogram buffers.
    pool: Vec<Vec<u32>>,
    /// Partition scratch.
    scratch: Vec<u32>,
    /// Labels of the rows being histogrammed, gathered once per node.
    lab: Vec<u32>,
    rng: ChaCha8Rng,
    features: Vec<usize>,
    cum: Vec<u32>,
}

/// Grows a tree on `rows` (indices into `binned`/`labels`, may repeat).
pub(crate) fn grow(
    binned: &Binned,
    labels: &[u32],
    k: usize,
    mut rows: Vec<u32>,
    params: &TreeParams,
    seed: u64,
) -> Result<DecisionTree, FitError> {
    let nf = binned.n_features();
    let mut g = Grower {
        binned,
        labels,
        k,
        params,
        nodes: vec![Node {
            threshold: 0.0,
            feature: LEAF,
            next: 0,
        }],
        leaves: Leaves::default(),
        pool: Vec::new(),
        scratch: Vec::new(),
        lab: Vec::new(),
        rng: ChaCha8Rng::seed_from_u64(seed),
        features: (0..nf).collect(),
        cum: vec![0; k],
    };
    let mut counts = vec![0u32; k];
    for &r in &rows {
        counts[labels[r as usize] as usize] += 1;
    }
    let n = rows.len();
    let mut stack = Vec::new();
    if g.is_leaf(n, &counts, 0) {
        g.make_leaf(0, &counts);
    } else {
        let mut hist = g.take_hist();
        g.build_hist(&rows, &mut hist);
        stack.push(Pending {
            node: 0,
            start: 0,
            end: n,
            depth: 0,
            counts,
            hist,
        });
    }
    while let Some(p) = stack.pop() {
        g.split(p, &mut rows, &mut stack);
    }
    DecisionTree::from_parts(nf, k, g.nodes, g.leaves)
        .map_err(|e| FitError::Backend(crate::classifier::BackendError::new(e)))
}

impl Grower<'_> {
    fn take_hist(&mut self) -> Vec<u32> {
        self.pool
            .pop()
            .unwrap_or_else(|| vec![0; self.binned.n_features() * SLOTS * self.k])
    }

    fn is_leaf(&self, n: usize, counts: &[u32], depth: usize) -> bool {
        let p = self.params;
        n < p.min_samples_split
            || n < 2 * p.min_samples_leaf
            || p.max_depth.is_some_and(|m| depth >= m)
            || counts.iter().filter(|&&c| c > 0).count() <= 1
    }

    fn make_leaf(&mut self, node: usize, counts: &[u32]) {
        let leaf = self.leaves.push(counts);
        self.nodes[node] = Node {
            threshold: 0.0,
            feature: LEAF,
            next: leaf,
        };
    }

    fn build_hist(&mut self, rows: &[u32], hist: &mut [u32]) {
        hist.fill(0);
        let k = self.k;
        self.lab.clear();
        self.lab.extend(rows.iter().map(|&r| self.labels[r as usize]));
        for (f, h) in hist.chunks_exact_mut(SLOTS * k).enumerate() {
            let col = self.binned.column(f);
            for (&r, &c) in rows.iter().zip(&self.lab) {
                h[col[r as usize] as usize * k + c as usize] += 1;
            }
        }
    }

    fn split(&mut self, p: Pending, rows: &mut [u32], stack: &mut Vec<Pending>) {
        let n = p.end - p.start;
        let Some(s) = self.find_split(&p.hist, &p.counts, n) else {
            self.make_leaf(p.node, &p.counts);
            self.pool.push(p.hist);
            return;
        };
        // Partition the node's rows: left side first, stable.
        let col = self.binned.column(s.feature);
        let slice = &mut rows[p.start..p.end];
        self.scratch.clear();
        let mut w = 0;
        for i in 0..slice.len() {
            let r = slice[i];
            let b = col[r as usize];
            let left = if b == MISSING_BIN {
                s.missing_left
            } else {
                b as usize <= s.bin
            };
            if left {
                slice[w] = r;
                w += 1;
            } else {
                self.scratch.push(r);
            }
        }
        slice[w..].copy_from_slice(&self.scratch);
        let right_counts: Vec<u32> = p.counts.iter().zip(&s.left_counts).map(|(a, b)| a - b).collect();
        let left = self.nodes.len();
        let placeholder = Node {
            threshold: 0.0,
            feature: LEAF,
            next: 0,
        };
        self.nodes.extend([placeholder, placeholder]);
        let flag = if s.missing_left { MISSING_LEFT } else { 0 };
        self.nodes[p.node] = Node {
            threshold: self.binned.edges[s.feature][s.bin],
            feature: s.feature as u32 | flag,
            next: left as u32,
        };
        let depth = p.depth + 1;
        let mut children = [
            (left, p.start, p.start + w, s.left_counts),
            (left + 1, p.start + w, p.end, right_counts),
        ];
        // The smaller child first: its histogram is built, the larger one's subtracted.
        if children[0].2 - children[0].1 > children[1].2 - children[1].1 {
            children.swap(0, 1);
        }
        let [small, large] = children;
        let small_leaf = self.is_leaf(small.2 - small.1, &small.3, depth);
        let large_leaf = self.is_leaf(large.2 - large.1, &large.3, depth);
        let mut parent = Some(p.hist);
        let mut small_hist = None;
        if !small_leaf || !large_leaf {
            let mut h = self.take_hist();
            self.build_hist(&rows[small.1..small.2], &mut h);
            small_hist = Some(h);
        }
        if large_leaf {
            self.make_leaf(large.0, &large.3);
        } else if let (Some(mut ph), Some(sh)) = (parent.take(), small_hist.as_ref()) {
            ph.iter_mut().zip(sh).for_each(|(a, b)| *a -= b);
            stack.push(Pending {
                node: large.0,
                start: large.1,
                end: large.2,
                depth,
                counts: large.3,
                hist: ph,
            });
        }
        if small_leaf {
            self.make_leaf(small.0, &small.3);
            self.pool.extend(small_hist);
        } else if let Some(sh) = small_hist {
            stack.push(Pending {
                node: small.0,
                start: small.1,
                end: small.2,
                depth,
                counts: small.3,
                hist: sh,
            });
        }
        self.pool.extend(parent);
    }

    fn find_split(&mut self, hist: &[u32], counts: &[u32], n: usize) -> Option<Split> {
        let k = self.k;
        let nf = self.binned.n_features();
        let m = match self.params.max_features {
            Some(m) if m < nf => {
                for i in 0..m {
                    let j = self.rng.random_range(i..nf);
                    self.features.swap(i, j);
                }
                m
            }
            _ => {
                // Consider all features, in order (deterministic tie-break).
                for (i, f) in self.features.iter_mut().enumerate() {
                    *f = i;
                }
                nf
            }
        };
        let min_leaf = self.params.min_samples_leaf;
        let crit = self.params.criterion;
        let mut best: Option<Split> = None;
        let mut cum = std::mem::take(&mut self.cum);
        for fi in 0..m {
            let f = self.features[fi];
            let h = &hist[f * SLOTS * k..(f + 1) * SLOTS * k];
            let miss = &h[MISSING_BIN as usize * k..(MISSING_BIN as usize + 1) * k];
            let n_miss: usize = miss.iter().map(|&c| c as usize).sum();
            let n_val = n - n_miss;
            if n_val == 0 {
                continue;
            }
            cum.iter_mut().for_each(|c| *c = 0);
            let mut nl = 0usize;
            for b in 0..self.binned.n_bins(f) - 1 {
                let hb = &h[b * k..(b + 1) * k];
                let mut cnt = 0usize;
                for (c, &x) in cum.iter_mut().zip(hb) {
                    *c += x;
                    cnt += x as usize;
                }
                if cnt == 0 {
                    continue;
                }
                nl += cnt;
                if nl >= n_val {
                    break;
                }
                let nr = n_val - nl;
                // Where missing values go: try both sides when there are any,
                // else the larger child.
                let options: &[bool] = if n_miss == 0 {
                    if nl >= nr { &[true] } else { &[false] }
                } else {
                    &[true, false]
                };
                for &ml in options {
                    let (nl2, nr2) = if ml { (nl + n_miss, nr) } else { (nl, nr + n_miss) };
                    if nl2 < min_leaf || nr2 < min_leaf {
                        continue;
                    }
                    let score = score(crit, &cum, counts, miss, ml, nl2, nr2);
                    if best.as_ref().is_none_or(|s| score > s.score) {
                        let left_counts = cum
                            .iter()
                            .zip(miss)
                            .map(|(&c, &x)| if ml { c + x } else { c })
                            .collect();
                        best = Some(Split {
                            feature: f,
                            bin: b,
                            missing_left: ml,
                            score,
                            left_counts,
                        });
                    }
                }
            }
        }
        self.cum = cum;
        best
    }
}

/// Split quality, higher is better: minus the children's summed impurity times
/// their size (up to a constant of the node).
fn score(crit: Criterion, cum: &[u32], counts: &[u32], miss: &[u32], ml: bool, nl: usize, nr: usize) -> f64 {
    let (mut sl, mut sr) = (0.0, 0.0);
    for ((&c, &t), &x) in cum.iter().zip(counts).zip(miss) {
        let (l, r) = if ml { (c + x, t - c - x) } else { (c, t - c) };
        let (l, r) = (l as f64, r as f64);
        match crit {
            Criterion::Gini => {
                sl += l * l;
                sr += r * r;
            }
            Criterion::Entropy => {
                sl += xlnx(l);
                sr += xlnx(r);
            }
        }
    }
    let (nl, nr) = (nl as f64, nr as f64);
    match crit {
        // n·gini = n − Σc²/n
        Criterion::Gini => sl / nl + sr / nr,
        // n·H = n ln n − Σ c ln c
        Criterion::Entropy => sl + sr - xlnx(nl) - xlnx(nr),
    }
}

fn xlnx(x: f64) -> f64 {
    if x > 0.0 { x * x.ln() } else { 0.0 }
}
