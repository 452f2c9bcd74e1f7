//! The default forest's batch prediction alone, for instruction counts
//! (`valgrind --tool=callgrind`) and CPU time: fits the default forest (100
//! trees) on the noisy data's 70 % (split by group, as `forest_size`) and
//! stores it as a bundle in MODEL, or reads MODEL if it exists, then predicts
//! the held-out rows REPS times on THREADS threads.
//!
//! `cargo run --release -p cad-benches --example forest_predict -- ROWS MODEL [REPS] [THREADS]`
//!
//! It prints ns per row (wall and this thread's CPU time) and a checksum of
//! the predicted classes, so that a change of the prediction code can be
//! checked to predict the same.

use cad_benches::{noisy, thread_cpu_ns};
use cad_core::bundle::ModelBundle;
use cad_core::forest::ForestParams;
use cad_core::model::Model;
use cad_core::{Classifier, Fit, Timestamp};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let rows = num(1, 100_000);
    let path = args.get(2).ok_or("usage: forest_predict ROWS MODEL [REPS] [THREADS]")?;
    let (reps, threads) = (num(3, 1), num(4, 1));
    let (train, test) = noisy::split(rows, 0, 0.3);
    let mut forest = if std::path::Path::new(path).exists() {
        match ModelBundle::read_from(path)?.model {
            Model::Forest(f) => f,
            _ => return Err(format!("{path} holds no forest").into()),
        }
    } else {
        let f = ForestParams::default().fit(&train)?;
        ModelBundle::new(
            train.classes().to_vec(),
            cad_benches::feature_set_of(&train),
            Model::Forest(f.clone()),
            Timestamp::from_secs(1_700_000_000),
            "noisy",
        )
        .write_to(path)?;
        f
    };
    forest.set_threads(threads);
    for _ in 0..reps {
        let (t, cpu) = (Instant::now(), thread_cpu_ns());
        let pred = forest.predict_classes(&test);
        let n = test.n_rows().max(1) as f64;
        let ns = t.elapsed().as_nanos() as f64 / n;
        let cpu_ns = (thread_cpu_ns() - cpu) / n;
        let sum = pred
            .iter()
            .enumerate()
            .fold(0u64, |s, (i, &c)| s.wrapping_mul(31).wrapping_add(c as u64 ^ i as u64));
        println!(
            "rows={} threads={threads} predict_ns_per_row={ns:.0} (main thread CPU {cpu_ns:.0}) checksum={sum:016x}",
            test.n_rows()
        );
    }
    Ok(())
}
