//! Why batch prediction costs what it does: fits a tree on a CSV (with the
//! grouped 70/30 split of `cad-collector --from-file … --eval grouped-split
//! --seed 0`), reports the depth of the leaves the held-out rows reach (mean,
//! and mean of the deepest per block of 8 rows, which is what the lock-step
//! batch walk of `DecisionTree::predict_dataset` pays), and times, on a copy
//! of the tree made through its public `node()` view, the lock-step walk
//! against a walk whose lanes take the next row as soon as theirs reaches a leaf.
//! It also times one cold `predict_classes` call, as the programs' evaluation
//! measures it, with the page faults it took.
//!
//! With a tree count as second argument, it times a forest's batch
//! prediction instead.
//!
//! `cargo run --release -p cad-benches --example predict_probe -- FILE.csv [TREES]`

// `!(v <= t)` on purpose: a NaN goes right, as in cad's tree without the missing-left flag.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use cad_core::tree::{TreeNode, TreeParams};
use cad_core::{Classifier, Dataset, Fit};
use std::hint::black_box;
use std::time::Instant;

const LANES: usize = 8;

/// A split or (feature = u32::MAX) a leaf; `next` is the left child or the leaf id.
#[derive(Clone, Copy)]
struct N {
    threshold: f64,
    feature: u32,
    next: u32,
}

fn flatten(t: &cad_core::tree::DecisionTree) -> Vec<N> {
    let mut v = Vec::with_capacity(t.n_nodes());
    let mut leaf = 0;
    while let Some(n) = t.node(v.len()) {
        v.push(match n {
            TreeNode::Split {
                feature,
                threshold,
                left,
                ..
            } => N {
                threshold,
                feature: feature as u32,
                next: left as u32,
            },
            TreeNode::Leaf { .. } => {
                leaf += 1;
                N {
                    threshold: f64::INFINITY,
                    feature: u32::MAX,
                    next: leaf - 1,
                }
            }
        });
    }
    v
}

fn depth_of(nodes: &[N], row: &[f64]) -> usize {
    let (mut i, mut d) = (0, 0);
    while nodes[i].feature != u32::MAX {
        let n = nodes[i];
        i = n.next as usize + usize::from(!(row[n.feature as usize] <= n.threshold));
        d += 1;
    }
    d
}

/// The current scheme: 8 rows in lock-step until all are at a leaf (checked every 4 steps).
fn lockstep(nodes: &[N], lanes: &[N], data: &Dataset, out: &mut Vec<u32>) {
    out.clear();
    let n = data.n_rows();
    let mut r = 0;
    while r + LANES <= n {
        let rows: [&[f64]; LANES] = std::array::from_fn(|j| data.raw_row(r + j));
        let mut idx = [0usize; LANES];
        loop {
            for _ in 0..4 {
                for (i, row) in idx.iter_mut().zip(&rows) {
                    let nd = &lanes[*i];
                    let v = row.get(nd.feature as usize).copied().unwrap_or(f64::NAN);
                    *i = nd.next as usize + usize::from(!(v <= nd.threshold));
                }
            }
            if idx.iter().all(|&i| nodes[i].feature == u32::MAX) {
                break;
            }
        }
        out.extend(idx.iter().map(|&i| nodes[i].next));
        r += LANES;
    }
}

/// Refilled lanes: a lane whose row reached a leaf writes it and takes the next row.
fn refill(nodes: &[N], data: &Dataset, out: &mut Vec<u32>) {
    let n = data.n_rows();
    out.clear();
    out.resize(n, 0);
    let mut next_row = LANES.min(n);
    let mut row_of: [usize; LANES] = std::array::from_fn(|j| j);
    let mut idx = [0usize; LANES];
    let mut live = LANES.min(n);
    while live > 0 {
        for j in 0..LANES {
            if row_of[j] == usize::MAX {
                continue;
            }
            let nd = nodes[idx[j]];
            if nd.feature == u32::MAX {
                out[row_of[j]] = nd.next;
                idx[j] = 0;
                if next_row < n {
                    row_of[j] = next_row;
                    next_row += 1;
                } else {
                    row_of[j] = usize::MAX;
                    live -= 1;
                }
                continue;
            }
            let v = data.raw_row(row_of[j])[nd.feature as usize];
            idx[j] = nd.next as usize + usize::from(!(v <= nd.threshold));
        }
    }
}

/// Minor page faults of this process so far (`/proc/self/stat`, field 10).
fn minflt() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(7)?.parse().ok())
        })
        .unwrap_or(0)
}

fn best_ns(n: usize, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::MAX, f64::min)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: predict_probe FILE.csv [TREES]")?;
    let data = cad_core::io::csv::from_path(&path)?.data;
    let (tr, te) = cad_core::split::grouped_split(&data, 0.3, 0)?;
    let (train, test) = (data.select(&tr), data.select(&te));
    if let Some(trees) = std::env::args().nth(2) {
        let forest = cad_core::forest::ForestParams {
            n_trees: trees.parse()?,
            threads: 2,
            ..Default::default()
        }
        .fit(&train)?;
        let n = test.n_rows();
        let t = Instant::now();
        black_box(forest.predict_classes(black_box(&test)));
        let first = t.elapsed().as_nanos() as f64 / n as f64;
        let best = best_ns(n, || {
            black_box(forest.predict_classes(black_box(&test)));
        });
        println!("forest of {trees}: predict_classes ns/row: first call {first:.0}, best of 5 {best:.0}");
        return Ok(());
    }
    let tree = TreeParams::default().fit(&train)?;
    let nodes = flatten(&tree);
    let lanes: Vec<N> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if n.feature == u32::MAX {
                N {
                    next: i as u32,
                    feature: 0,
                    ..*n
                }
            } else {
                *n
            }
        })
        .collect();
    let depths: Vec<usize> = (0..test.n_rows()).map(|i| depth_of(&nodes, test.raw_row(i))).collect();
    let mean = depths.iter().sum::<usize>() as f64 / depths.len() as f64;
    let block_max = depths
        .chunks(LANES)
        .map(|c| c.iter().max().copied().unwrap_or(0).div_ceil(4) * 4)
        .sum::<usize>() as f64
        / depths.chunks(LANES).count() as f64;
    println!(
        "tree: {} leaves, depth {}; held-out rows: mean leaf depth {mean:.1}, lock-step steps per block of 8 {block_max:.1} (×8 lanes = {:.1} lane-steps per row vs {mean:.1})",
        tree.n_leaves(),
        tree.depth(),
        block_max
    );
    let n = test.n_rows();
    // The program's figure: one call of `predict_classes` on a freshly selected
    // test set, into a freshly allocated output (page faults included), as
    // `eval` measures it.
    let fresh = data.select(&te);
    let f0 = minflt();
    let t = Instant::now();
    black_box(tree.predict_classes(black_box(&fresh)));
    let first = t.elapsed().as_nanos() as f64 / n as f64;
    println!("minor page faults in the first call: {}", minflt() - f0);
    drop(fresh);
    println!("ns/row: cad predict_classes, first call on a fresh copy (as the program measures) {first:.1}");
    let mut out = Vec::new();
    let cad = best_ns(n, || {
        black_box(tree.predict_dataset(black_box(&test)));
    });
    let ls = best_ns(n, || lockstep(&nodes, &lanes, black_box(&test), &mut out));
    let check = out.clone();
    let rf = best_ns(n, || refill(&nodes, black_box(&test), &mut out));
    let same = out[..check.len()] == check[..];
    println!(
        "ns/row: cad predict_dataset {cad:.1}, lock-step copy {ls:.1}, refilled lanes {rf:.1} (same leaves: {same})"
    );
    Ok(())
}
