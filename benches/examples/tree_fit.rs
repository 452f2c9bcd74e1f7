//! Quick timing without criterion: fit cad's decision tree on the synthetic data
//! set (`cad_benches::synth`, default 1,000,000 rows × 15 features, 5 classes,
//! 60 rows per group, 30 % of the groups held out) and predict the held-out
//! rows; with a tree count, also a forest with 1 and 2 threads.
//!
//! `cargo run --release -p cad-benches --example tree_fit -- [rows] [trees]`

use cad_benches::synth;
use cad_core::forest::ForestParams;
use cad_core::tree::TreeParams;
use cad_core::{Classifier, Dataset, Fit, Prediction};
use std::time::Instant;

fn accuracy(p: &[Prediction], test: &Dataset) -> f64 {
    p.iter().enumerate().filter(|(i, p)| p.class == test.label(*i)).count() as f64 / test.n_rows().max(1) as f64
}

/// Best of five batch predictions, in ns per row, with the predictions.
fn best_predict(m: &dyn Classifier, test: &Dataset) -> (f64, Vec<Prediction>) {
    let mut ns = f64::MAX;
    let mut p = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        p = m.predict_dataset(test);
        ns = ns.min(t.elapsed().as_nanos() as f64 / test.n_rows().max(1) as f64);
    }
    (ns, p)
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`
/// (Linux; 0 elsewhere): with the wall time it tells how many cores a fit used.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here
    // (0-based from the state field), in clock ticks of 1/100 s on Linux.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let (train, test) = synth::split(rows, 0);
    let t = Instant::now();
    let tree = TreeParams::default().fit(&train)?;
    let fit_s = t.elapsed().as_secs_f64();
    let (ns, p) = best_predict(&tree, &test);
    println!(
        "tree train_rows={} test_rows={} fit_s={fit_s:.3} predict_ns_per_row={ns:.1} accuracy_grouped={:.4} leaves={} depth={}",
        train.n_rows(),
        test.n_rows(),
        accuracy(&p, &test),
        tree.n_leaves(),
        tree.depth()
    );
    if let Some(trees) = args.get(2).and_then(|s| s.parse().ok()) {
        for threads in [1, 2] {
            let (t, cpu) = (Instant::now(), cpu_seconds());
            let forest = ForestParams {
                n_trees: trees,
                threads,
                ..Default::default()
            }
            .fit(&train)?;
            let fit_s = t.elapsed().as_secs_f64();
            let cores = (cpu_seconds() - cpu) / fit_s;
            let (ns, p) = best_predict(&forest, &test);
            println!(
                "forest trees={trees} threads={threads} fit_s={fit_s:.3} cpu_s/wall_s={cores:.2} predict_ns_per_row={ns:.1} accuracy_grouped={:.4}",
                accuracy(&p, &test)
            );
        }
    }
    Ok(())
}
