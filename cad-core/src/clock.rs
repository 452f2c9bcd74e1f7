//! Time as the engines see it, so tests and the demo never sleep for real.
//!
//! [`SystemClock`] is wall time. [`TokioClock`] follows tokio's clock from a
//! chosen start: under a runtime with paused time (`#[tokio::test(start_paused
//! = true)]`, or the demo) time is virtual and jumps ahead whenever every task
//! waits, so an hour of simulated cluster runs in milliseconds.

use crate::time::Timestamp;
use futures::future::BoxFuture;
use std::time::Duration;

/// A source of the current time and of timed waits.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// Waits until `deadline` (returns at once if it has passed).
    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()>;

    /// Waits for `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.sleep_until(self.now() + d)
    }
}

/// Wall-clock time; waits with tokio's timer. Needs a tokio runtime with time enabled.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let d = deadline.since(self.now());
        Box::pin(tokio::time::sleep(d))
    }
}

/// Tokio's clock, read as a [`Timestamp`] that starts at a chosen epoch.
///
/// Under paused tokio time this clock is virtual and deterministic.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    epoch: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `epoch` now. Must be called inside a tokio runtime.
    pub fn starting_at(epoch: Timestamp) -> Self {
        TokioClock {
            epoch,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.epoch + self.start.elapsed()
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let at = self.start + deadline.since(self.epoch);
        Box::pin(tokio::time::sleep_until(at))
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        (**self).sleep_until(deadline)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        (**self).sleep_until(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_is_virtual_under_paused_time() {
        let clock = TokioClock::starting_at(Timestamp::from_secs(1_000));
        assert_eq!(clock.now(), Timestamp::from_secs(1_000));
        clock.sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now(), Timestamp::from_secs(1_000 + 3600));
        clock.sleep_until(Timestamp::from_secs(10)).await; // in the past: returns at once
        assert_eq!(clock.now(), Timestamp::from_secs(1_000 + 3600));
    }
}
