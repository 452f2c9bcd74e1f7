//! Attempts with exponential backoff.

use cad_core::{Clock, RetryPolicy};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// The outcome of one attempt.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// It worked.
    Done(T),
    /// It failed in a way another attempt may not (a refused connection, a
    /// 5xx, a 429), with the wait the server asked for (`Retry-After`).
    Transient(E, Option<Duration>),
    /// It failed for good (401, a rejected query): not retried.
    Fatal(E),
}

/// Why [`with_retries`] gave up.
#[derive(Debug)]
pub enum Failure<E> {
    /// An attempt failed for good.
    Fatal(E),
    /// Every allowed attempt failed transiently.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The failure of the last one.
        last: E,
    },
}

/// The wait a `Retry-After` header asks for, in seconds (the HTTP-date
/// form is not read).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Runs `attempt` until it is done or fails for good, at most
/// `policy.max_attempts` times (at least once), waiting
/// [`policy.backoff(n)`](RetryPolicy::backoff) on `clock` after the n-th
/// transient failure — or what the server asked for, up to
/// `policy.max_backoff`, if that is longer. Every retry is logged as a
/// warning naming `backend`.
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    backend: &str,
    mut attempt: F,
) -> Result<T, Failure<E>>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    let max = policy.max_attempts.max(1);
    let mut n = 1;
    loop {
        match attempt().await {
            Attempt::Done(v) => return Ok(v),
            Attempt::Fatal(e) => return Err(Failure::Fatal(e)),
            Attempt::Transient(e, _) if n >= max => return Err(Failure::GaveUp { attempts: n, last: e }),
            Attempt::Transient(e, asked) => {
                let wait = policy.backoff(n).max(asked.unwrap_or_default().min(policy.max_backoff));
                tracing::warn!(
                    backend, attempt = n, max_attempts = max, wait_ms = wait.as_millis() as u64,
                    error = %e, "request failed; retrying"
                );
                clock.sleep(wait).await;
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cad_core::Timestamp;
    use futures::future::BoxFuture;
    use std::sync::Mutex;

    /// A clock whose waits return at once and are recorded.
    #[derive(Default)]
    struct Recording(Mutex<Vec<Duration>>);

    impl Clock for Recording {
        fn now(&self) -> Timestamp {
            Timestamp::from_secs(0)
        }
        fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
            self.0.lock().unwrap().push(deadline.since(self.now()));
            Box::pin(std::future::ready(()))
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        }
    }

    fn waits(clock: &Recording) -> Vec<u128> {
        clock.0.lock().unwrap().iter().map(Duration::as_millis).collect()
    }

    #[tokio::test]
    async fn transient_failures_are_retried_with_backoff_then_given_up() {
        let clock = Recording::default();
        let mut calls = 0;
        let r: Result<(), _> = with_retries(&policy(), &clock, "B", || {
            calls += 1;
            std::future::ready(Attempt::Transient(format!("fail {calls}"), None))
        })
        .await;
        match r {
            Err(Failure::GaveUp { attempts, last }) => assert_eq!((attempts, last.as_str()), (4, "fail 4")),
            other => panic!("{other:?}"),
        }
        assert_eq!(waits(&clock), [100, 200, 400]);
    }

    #[tokio::test]
    async fn fatal_failures_and_successes_end_at_once() {
        let clock = Recording::default();
        let r: Result<(), _> =
            with_retries(&policy(), &clock, "B", || std::future::ready(Attempt::Fatal("denied"))).await;
        assert!(matches!(r, Err(Failure::Fatal("denied"))));
        let mut calls = 0;
        let r = with_retries(&policy(), &clock, "B", || {
            calls += 1;
            std::future::ready(if calls < 3 {
                Attempt::Transient("busy", None)
            } else {
                Attempt::Done(calls)
            })
        })
        .await;
        assert!(matches!(r, Ok(3)));
        assert_eq!(waits(&clock), [100, 200]);
    }

    #[tokio::test]
    async fn a_servers_retry_after_is_honoured_up_to_the_longest_wait() {
        let clock = Recording::default();
        let mut asked = [Some(Duration::from_millis(700)), Some(Duration::from_secs(60)), None].into_iter();
        let _: Result<(), _> = with_retries(&policy(), &clock, "B", || {
            std::future::ready(Attempt::Transient("429", asked.next().flatten()))
        })
        .await;
        assert_eq!(waits(&clock), [700, 1000, 400]);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
