//! Accuracy, size and speed of a forest against its leaf limits, on the noisy
//! data set (`cad_benches::noisy`), split by group 70/30.
//!
//! `cargo run --release -p cad-benches --example forest_size -- ROWS TREES THREADS [MIN_LEAF:MAX_LEAVES ...]`
//!
//! Each `MIN_LEAF:MAX_LEAVES` pair (`-` for no leaf-count limit) is one
//! forest; without pairs, the default forest and an unlimited one.

use cad_benches::{noisy, thread_cpu_ns};
use cad_core::bundle::ModelBundle;
use cad_core::forest::ForestParams;
use cad_core::model::Model;
use cad_core::{Classifier, Fit, Timestamp};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (rows, trees, threads) = (num(1, 100_000), num(2, 100), num(3, 1));
    let (train, test) = noisy::split(rows, 0, 0.3);
    let mut configs: Vec<(String, ForestParams)> = Vec::new();
    let base = ForestParams {
        n_trees: trees,
        threads,
        ..ForestParams::default()
    };
    for a in args.iter().skip(4) {
        let (min_leaf, max_leaves) = a.split_once(':').ok_or("MIN_LEAF:MAX_LEAVES")?;
        let mut p = base.clone();
        p.tree.min_samples_leaf = min_leaf.parse()?;
        p.tree.max_leaf_nodes = if max_leaves == "-" {
            None
        } else {
            Some(max_leaves.parse()?)
        };
        configs.push((a.clone(), p));
    }
    if configs.is_empty() {
        configs.push(("default".into(), base.clone()));
        let mut p = base.clone();
        p.tree.min_samples_leaf = 1;
        p.tree.max_leaf_nodes = None;
        configs.push(("unlimited".into(), p));
    }
    println!(
        "rows={} train_rows={} test_rows={} trees={trees} threads={threads}",
        rows,
        train.n_rows(),
        test.n_rows()
    );
    for (name, p) in configs {
        let t = Instant::now();
        let forest = p.fit(&train)?;
        let fit_s = t.elapsed().as_secs_f64();
        let (t, cpu) = (Instant::now(), thread_cpu_ns());
        let pred = forest.predict_classes(&test);
        let ns = t.elapsed().as_nanos() as f64 / test.n_rows().max(1) as f64;
        let cpu_ns = (thread_cpu_ns() - cpu) / test.n_rows().max(1) as f64;
        let acc = pred
            .iter()
            .enumerate()
            .filter(|(i, p)| **p as usize == test.label(*i))
            .count() as f64
            / test.n_rows().max(1) as f64;
        let leaves: usize = (0..forest.n_trees()).map(|i| forest.tree_leaves(i)).sum();
        let b = ModelBundle::new(
            train.classes().to_vec(),
            cad_benches::feature_set_of(&train),
            Model::Forest(forest),
            Timestamp::from_secs(1_700_000_000),
            "noisy",
        );
        let bytes = b.to_bytes()?.len();
        println!(
            "{name:>12}: accuracy_grouped={acc:.4} fit_s={fit_s:.3} predict_ns_per_row={ns:.0} (main thread on a CPU: {cpu_ns:.0}) leaves_per_tree={:.0} bundle_bytes={bytes} ({:.0} KiB)",
            leaves as f64 / trees as f64,
            bytes as f64 / 1024.0
        );
    }
    Ok(())
}
