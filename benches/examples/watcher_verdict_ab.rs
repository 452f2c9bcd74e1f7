//! An interleaved A/B of the watcher's verdict with its default two-window
//! confirmation, in this thread's CPU time (a busy machine's waits for a
//! core do not count): the model of `simdata::calibrated_model` judges
//! ROWS rows of another simulated cluster as pairs of a container's
//! windows, ROUNDS times by each path in turn (each time 10 times over):
//! * `scored_once`: `ActiveModel::verdict_of_next_window` (the watcher's
//!   path: each row scored once by the open-set model);
//! * `two_calls`: `window_scores`, then `verdict_of_windows` (the path
//!   before it, which scores the row again).
//!
//! `cargo run --release -p cad-benches --example watcher_verdict_ab -- [ROUNDS] [ROWS]`
//!
//! It checks first that both paths give the same verdicts, then prints each
//! round's ms per ROWS rows and the medians.

use cad_benches::{simdata, thread_cpu_ns};
use cad_core::engine::{ActiveModel, WatcherConfig};
use cad_core::{PodId, PodInfo, Verdict};
use std::hint::black_box;

/// Every verdict of `rows` judged in pairs of windows, by the single-scoring
/// path (`once`) or by the two calls.
fn verdicts(m: &ActiveModel, rows: &[(Vec<Option<f64>>, String)], pod: &PodInfo, once: bool) -> Vec<Verdict> {
    let config = WatcherConfig::default();
    let mut out = Vec::with_capacity(rows.len());
    for pair in rows.chunks(2) {
        let mut scores = Vec::new();
        for (row, claimed) in pair {
            let subject = simdata::subject(pod, claimed);
            out.push(if once {
                m.verdict_of_next_window(black_box(row), &mut scores, subject, &config)
            } else {
                scores.extend(m.window_scores(black_box(row)));
                m.verdict_of_windows(row, &scores, subject, &config)
            });
        }
    }
    out
}

/// Times each path judges the rows in a round (the CPU clock may tick in
/// steps of milliseconds).
const REPS: usize = 10;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (rounds, n) = (num(1, 15).max(1), num(2, 1_024));
    let model = simdata::calibrated_model(200)?;
    if !model.judges_windows(2) {
        return Err("the model has no two-window calibration".into());
    }
    let test = simdata::dataset(100, 3)?;
    let rows = simdata::claimed_rows(&test, n);
    let pod = PodInfo::new(PodId::new("bench", "pod", "uid"));
    let same = verdicts(&model, &rows, &pod, true) == verdicts(&model, &rows, &pod, false);
    println!(
        "{} rows in pairs of windows; same verdicts by both paths: {same}",
        rows.len()
    );
    if !same {
        return Err("the paths' verdicts differ".into());
    }
    let (mut once, mut two) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which path goes first.
        let mut times = [0.0; 2];
        for k in [round % 2, 1 - round % 2] {
            let t = thread_cpu_ns();
            for _ in 0..REPS {
                black_box(verdicts(&model, &rows, &pod, k == 0));
            }
            times[k] = (thread_cpu_ns() - t) / 1e6 / REPS as f64;
        }
        println!(
            "round {round}: scored_once {:.1} ms, two_calls {:.1} ms",
            times[0], times[1]
        );
        once.push(times[0]);
        two.push(times[1]);
    }
    let (a, b) = (median(&mut once), median(&mut two));
    println!(
        "median CPU ms per {} rows: scored_once {a:.1} ({:.1} µs a row), two_calls {b:.1} ({:.1} µs a row), ratio {:.2}",
        rows.len(),
        a * 1e3 / rows.len() as f64,
        b * 1e3 / rows.len() as f64,
        a / b
    );
    Ok(())
}
