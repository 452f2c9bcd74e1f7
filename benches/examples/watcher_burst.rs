//! The watcher under a burst: `pods` pods (default 10,000) spawn at once on the
//! simulated cluster (paused tokio time) and the watcher runs until every
//! container has an outcome. Prints what happened, including the
//! `MetricSource::fetch` calls per tick (one per tick at most, whatever the
//! number of pending pods).
//!
//! Peak memory is the process's, measured from outside:
//!
//! ```text
//! cargo build --release -p cad-benches --example watcher_burst
//! /usr/bin/time -v target/release/examples/watcher_burst 10000
//! ```

use cad_benches::simdata::{trained_model, watcher_burst};
use cad_core::engine::ModelHandle;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pods: usize = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 10_000,
    };
    let model = trained_model(100)?;
    println!("model: {}", model.description);
    let r = watcher_burst(pods, &ModelHandle::new(model))?;
    let s = &r.stats;
    println!("pods={} containers={}", r.pods, r.containers);
    println!(
        "outcomes: classified={} (anomalies={}) timed_out={} deleted={} still_pending={}",
        s.classified, s.anomalies, s.timed_out, s.deleted, s.still_pending
    );
    println!(
        "ticks={} fetches={} fetch_calls_seen_by_source={} fetches_per_tick={:.2} fetch_errors={} max_pending={}",
        s.ticks,
        s.fetches,
        r.fetch_calls,
        s.fetches as f64 / s.ticks.max(1) as f64,
        s.fetch_errors,
        s.max_pending
    );
    println!(
        "simulated_s={:.0} wall_s={:.3} wall_ms_per_tick={:.1} slowest_tick_ms={:.1} pending_at_slowest_tick={}",
        r.simulated.as_secs_f64(),
        r.wall.as_secs_f64(),
        r.wall.as_secs_f64() * 1e3 / s.ticks.max(1) as f64,
        s.slowest_tick.as_secs_f64() * 1e3,
        s.slowest_tick_pending
    );
    let all = s.classified + s.timed_out + s.deleted;
    if all != r.containers as u64 || s.still_pending != 0 {
        return Err(format!("{} of {} containers got an outcome", all, r.containers).into());
    }
    Ok(())
}
