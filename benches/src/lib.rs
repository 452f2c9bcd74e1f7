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

/// Whether this is a real benchmark run (`cargo bench` passes `--bench`) rather
/// than `cargo test`'s one-shot smoke run of the bench targets.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `full` in a real benchmark run, else `quick` (see [`full_run`]).
pub fn scaled(full: usize, quick: usize) -> usize {
    if full_run() { full } else { quick }
}
