//! Runs the adapter's whole path (see the library's documentation) under
//! paused tokio time and prints what happened.
//!
//! `#[tokio::main(start_paused = true)]` needs tokio's `test-util` feature:
//! the clock is virtual and jumps ahead whenever every task waits, so the
//! watcher's minutes pass in milliseconds. A real adapter runs on wall time
//! (`SystemClock`) and does not need it.

use cad_core::prelude::*;

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), cad_adapter_example::Error> {
    let path = std::env::temp_dir().join(format!("cad-adapter-example-{}.cadm", std::process::id()));
    let clock = TokioClock::starting_at(Timestamp::from_secs(1_700_000_000));
    let report = cad_adapter_example::run(clock, &path).await;
    // The model file is only an illustration: remove it whatever happened.
    let _ = std::fs::remove_file(&path);
    let report = report?;
    let c = &report.collected;
    println!(
        "collected {} rows ({} young) from {} containers of {} pods in {} fetches",
        c.rows, c.young_rows, c.containers_with_rows, c.pods, c.fetches
    );
    match report.accuracy {
        Some(a) => println!("grouped 5-fold accuracy {:.1} %", 100.0 * a),
        None => println!("no evaluation"),
    }
    println!("model file: {} bytes, written and read back", report.model_bytes);
    for outcome in &report.outcomes {
        let after = match outcome {
            Outcome::Classified(v) => format!(" ({} s after the pod's start)", v.time_to_verdict.as_secs()),
            _ => String::new(),
        };
        println!("{outcome}{after}");
    }
    Ok(())
}
