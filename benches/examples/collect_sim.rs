//! The collector's data-set build on the simulated cluster: `containers`
//! (default 1,000) containers with 10 minutes (60 samples) of metrics each,
//! behaviour features. Prints the time of `collect_dataset` alone (the
//! simulated cluster's set-up is not counted), best of `runs` (default 5).
//!
//! `cargo run --release -p cad-benches --example collect_sim -- [containers] [runs]`

use cad_benches::simdata::{TEN_MINUTES, aged_cluster, collect, paused_runtime};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1_000);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let rt = paused_runtime()?;
    let (clock, sim) = rt.block_on(aged_cluster(n, TEN_MINUTES, 5));
    let mut best = Duration::MAX;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let (data, stats) = rt.block_on(collect(&sim, &clock, TEN_MINUTES))?;
        let took = t.elapsed();
        best = best.min(took);
        println!(
            "containers={} with_rows={} rows={} fetches={} features={} took_s={:.3}",
            stats.containers,
            stats.containers_with_rows,
            data.n_rows(),
            stats.fetches,
            data.n_features(),
            took.as_secs_f64()
        );
    }
    println!("best_s={:.3}", best.as_secs_f64());
    Ok(())
}
