//! The sinks' side of the watcher: every sink runs in its own task, fed by
//! its own bounded channel, so a slow sink (the Kubernetes Events API, a
//! remote InfluxDB) never holds up pod events, ticks or the other sinks.
//!
//! As in vector's sinks, a buffer has a size and a policy for when it is
//! full ([`WhenFull`]): wait for room, which slows the watcher to the sink's
//! pace, or drop the outcome for that sink, which keeps the watcher and the
//! other sinks on time. Either is counted and logged (at most once per tick
//! and sink), and memory stays bounded by the buffers.

use crate::ErrorChain;
use crate::clock::Clock;
use crate::pod::PodId;
use crate::sink::VerdictSink;
use crate::verdict::{Outcome, SkipReason};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};

/// What happens when a sink's buffer is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room: nothing is lost, and the watcher goes at the sink's
    /// pace while the buffer is full (the default; for sinks in the process
    /// or on local disk: the log, Prometheus metrics, a JSON-lines file).
    #[default]
    Block,
    /// Drop the outcome for this sink (the others still get it), count it
    /// and log it: for sinks across a network, whose slowness must not
    /// delay the watcher.
    DropNewest,
}

/// How one sink is fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkOptions {
    /// Outcomes (and skip notices) queued for the sink at most (default 1,024).
    pub buffer: usize,
    /// What a full buffer does.
    pub when_full: WhenFull,
    /// Outcomes the sink handles at once (default 32).
    pub concurrency: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            buffer: 1024,
            when_full: WhenFull::Block,
            concurrency: 32,
        }
    }
}

impl SinkOptions {
    /// A sink that drops what does not fit in a buffer of `buffer` outcomes.
    pub fn dropping(buffer: usize) -> Self {
        SinkOptions {
            buffer,
            when_full: WhenFull::DropNewest,
            ..SinkOptions::default()
        }
    }
}

enum Message {
    Outcome(Arc<Outcome>),
    Skipped(PodId, SkipReason),
    Pending(usize),
}

impl Message {
    /// Whether losing it loses a record (an outcome, a skipped pod) rather
    /// than a gauge the next tick sets again.
    fn counts(&self) -> bool {
        !matches!(self, Message::Pending(_))
    }
}

/// Counts a sink's task keeps.
#[derive(Default)]
struct TaskCounts {
    /// Records handled (outcomes recorded or failed, skip notices told).
    handled: AtomicU64,
    /// `record` calls that failed.
    errors: AtomicU64,
}

/// One sink: its channel, its task and what was lost or waited for.
struct Lane {
    name: String,
    options: SinkOptions,
    tx: mpsc::Sender<Message>,
    task: tokio::task::JoinHandle<()>,
    counts: Arc<TaskCounts>,
    /// Records accepted into the channel.
    accepted: u64,
    dropped: u64,
    waits: u64,
    reported: (u64, u64),
}

/// What the sinks did over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FanoutStats {
    pub errors: u64,
    pub dropped: u64,
    pub waits: u64,
}

/// Every sink of a watcher, each in its task.
pub(crate) struct Fanout {
    lanes: Vec<Lane>,
}

impl Fanout {
    /// Starts one task per sink. Must be called within a tokio runtime.
    pub fn start(sinks: Vec<(Arc<dyn VerdictSink>, SinkOptions)>) -> Self {
        let lanes = sinks
            .into_iter()
            .map(|(sink, options)| {
                let (tx, rx) = mpsc::channel(options.buffer.max(1));
                let counts = Arc::new(TaskCounts::default());
                let name = sink.name().to_owned();
                let task = tokio::spawn(run_sink(sink, rx, options.concurrency.max(1), counts.clone()));
                Lane {
                    name,
                    options,
                    tx,
                    task,
                    counts,
                    accepted: 0,
                    dropped: 0,
                    waits: 0,
                    reported: (0, 0),
                }
            })
            .collect();
        Fanout { lanes }
    }

    /// Hands outcomes and skipped pods to every sink, then the number of
    /// containers still waiting.
    pub async fn dispatch(
        &mut self,
        outcomes: Vec<Outcome>,
        skipped: Vec<(PodId, SkipReason)>,
        pending: Option<usize>,
    ) {
        if self.lanes.is_empty() {
            return;
        }
        let outcomes: Vec<Arc<Outcome>> = outcomes.into_iter().map(Arc::new).collect();
        for lane in &mut self.lanes {
            for o in &outcomes {
                lane.send(Message::Outcome(o.clone())).await;
            }
            for (pod, reason) in &skipped {
                lane.send(Message::Skipped(pod.clone(), *reason)).await;
            }
            if let Some(n) = pending {
                lane.send(Message::Pending(n)).await;
            }
        }
    }

    /// Logs, per sink, what was dropped or waited for since the last report.
    pub fn report(&mut self) {
        for lane in &mut self.lanes {
            let (dropped, waits) = lane.reported;
            if lane.dropped > dropped {
                tracing::warn!(
                    sink = %lane.name, dropped = lane.dropped - dropped, dropped_total = lane.dropped,
                    buffer = lane.options.buffer,
                    "the sink's buffer is full: outcomes dropped for this sink (the other sinks still get them)"
                );
            }
            if lane.waits > waits {
                tracing::warn!(
                    sink = %lane.name, waits = lane.waits - waits, waits_total = lane.waits,
                    buffer = lane.options.buffer,
                    "the sink's buffer is full: the watcher waited for it"
                );
            }
            lane.reported = (lane.dropped, lane.waits);
        }
    }

    /// Closes the channels and lets every sink finish what it holds, for at
    /// most `grace` (on `clock`); what is still queued after that is dropped
    /// and counted.
    pub async fn close(mut self, clock: &dyn Clock, grace: Duration) -> FanoutStats {
        self.report();
        let mut stats = FanoutStats::default();
        let mut tasks = Vec::new();
        for lane in self.lanes {
            let Lane {
                name,
                tx,
                task,
                counts,
                accepted,
                dropped,
                waits,
                ..
            } = lane;
            drop(tx);
            stats.dropped += dropped;
            stats.waits += waits;
            tasks.push((name, task, counts, accepted));
        }
        let all = futures::future::join_all(tasks.iter_mut().map(|(_, task, _, _)| task));
        let timed_out = tokio::select! {
            _ = all => false,
            _ = clock.sleep(grace) => true,
        };
        for (name, task, counts, accepted) in tasks {
            if timed_out && !task.is_finished() {
                task.abort();
            }
            let handled = counts.handled.load(Ordering::Relaxed);
            let lost = accepted.saturating_sub(handled);
            if lost > 0 {
                tracing::warn!(
                    sink = %name, outcomes = lost, grace_s = grace.as_secs_f64(),
                    "the sink had not finished when the watcher stopped; its queued outcomes are dropped"
                );
            }
            stats.dropped += lost;
            stats.errors += counts.errors.load(Ordering::Relaxed);
        }
        stats
    }
}

impl Lane {
    async fn send(&mut self, m: Message) {
        let counts = m.counts();
        match self.tx.try_send(m) {
            Ok(()) => self.accepted += u64::from(counts),
            Err(TrySendError::Closed(_)) => self.dropped += u64::from(counts),
            Err(TrySendError::Full(m)) => match self.options.when_full {
                // A gauge the next tick sets again is not worth waiting for.
                _ if !counts => {}
                WhenFull::DropNewest => self.dropped += 1,
                WhenFull::Block => {
                    self.waits += 1;
                    match self.tx.send(m).await {
                        Ok(()) => self.accepted += 1,
                        Err(_) => self.dropped += 1,
                    }
                }
            },
        }
    }
}

/// A sink's task: takes messages from its channel, up to `concurrency` at
/// once, until the channel is closed and empty.
async fn run_sink(
    sink: Arc<dyn VerdictSink>,
    rx: mpsc::Receiver<Message>,
    concurrency: usize,
    counts: Arc<TaskCounts>,
) {
    let messages = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    messages
        .for_each_concurrent(concurrency, |m| {
            let (sink, counts) = (&sink, &counts);
            async move {
                match m {
                    Message::Outcome(o) => {
                        if let Err(e) = sink.record(&o).await {
                            counts.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(sink = sink.name(), error = %ErrorChain(&e), "sink failed to record an outcome");
                        }
                    }
                    Message::Skipped(pod, reason) => sink.skipped(&pod, reason),
                    Message::Pending(n) => {
                        sink.pending(n);
                        return;
                    }
                }
                counts.handled.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
}
