//! The engines: the collector (pods → data set → model) and the watcher
//! (new pods → verdicts). Both are generic over the source traits, so they run
//! unchanged on the simulated cluster and on the real adapters.
//!
//! One convention for their arguments: sources and clocks go in by value, by
//! reference or in an `Arc` (the traits are implemented for `&T` and
//! `Arc<T>`); progress is optional — `()`, or a closure by mutable reference
//! ([`Progress`]); [`train()`] takes the time it records (`clock.now()`), as it
//! never waits; the [`Watcher`] takes the model as a
//! [`ModelBundle`](crate::bundle::ModelBundle), an [`ActiveModel`] or a
//! [`ModelHandle`] (to replace it while it runs).

pub mod collector;
mod progress;
pub mod report;
pub mod train;
pub mod watcher;

pub use collector::{CollectConfig, CollectError, CollectStats, NoRowsCause, PAST_START_MARGIN, collect_dataset};
pub use progress::{Fetched, Progress};
pub use report::{Collected, TrainingReport};
pub use train::{DEFAULT_MAX_CLASSES, TrainConfig, TrainError, TrainStep, Trained, check_classes, train};
pub use watcher::{
    ActiveModel, DEFAULT_CONFIRM_WINDOWS, ExistingPods, FetchPlan, MAX_CONFIRM_WINDOWS, ModelHandle, SinkOptions, Step,
    WatchState, WatchStats, Watcher, WatcherConfig, WhenFull, log_training_warnings,
};

#[cfg(test)]
mod tests;
