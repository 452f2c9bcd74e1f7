//! Shared set-up of cad's benchmarks (`benches/benches/`) and measurement
//! programs (`benches/examples/`); see `BENCHMARKS.md` at the repository root.
//!
//! * [`synth`]: the synthetic data set of `shared/bench/make_dataset.py`
//!   (15 features, 5 classes, 60 rows per group) generated in Rust, so the
//!   learning benchmarks need no file;
//! * [`noisy`]: the noisy, metric-like data set of the compact-forest issue
//!   (20 features, 2 % label noise, missing values), in memory or as CSV;
//! * [`simdata`]: sim-cluster set-ups — containers with 10 minutes of
//!   Telegraf-like samples, a model trained on them, and a watcher burst of
//!   many pods spawning at once, under tokio's paused time.
//!
//! Benchmarks run in quick mode (tiny inputs) unless cargo passed `--bench`
//! ([`full_run`]): `cargo test --workspace --all-targets` runs every
//! criterion benchmark once as a smoke test and must stay fast.

pub mod noisy;
pub mod simdata;
pub mod synth;

use cad_core::features::{Column, Feature};
use cad_core::{Dataset, FeatureSet, Metric};

/// This thread's time on a CPU so far, in ns (`/proc/thread-self/schedstat`,
/// Linux; 0 elsewhere): unlike wall time, it does not count waiting for a
/// core on a busy machine.
pub fn thread_cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A feature set named after `data`'s columns (each read as some metric's
/// mean), so that a bundle of a model trained on it passes its checks.
pub fn feature_set_of(data: &Dataset) -> FeatureSet {
    FeatureSet {
        name: "bench".into(),
        columns: data
            .feature_names()
            .iter()
            .map(|name| Column {
                name: name.clone(),
                feature: Feature::Mean(Metric::ALL[0]),
            })
            .collect(),
        required: Vec::new(),
        window: 1,
        stride: 1,
        align_tolerance_ms: 0,
    }
}

/// Whether this is a real benchmark run (`cargo bench` passes `--bench`) rather
/// than `cargo test`'s one-shot smoke run of the bench targets.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `full` in a real benchmark run, else `quick` (see [`full_run`]).
pub fn scaled(full: usize, quick: usize) -> usize {
    if full_run() { full } else { quick }
}
