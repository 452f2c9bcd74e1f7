//! The engines: the collector (pods → data set → model) and the watcher
//! (new pods → verdicts). Both are generic over the source traits, so they run
//! unchanged on the simulated cluster and on the real adapters.

pub mod collector;
mod progress;
pub mod report;
pub mod train;
pub mod watcher;

pub use collector::{CollectConfig, CollectError, CollectStats, NoRowsCause, collect_dataset};
pub use progress::{Fetched, Progress};
pub use report::{Collected, TrainingReport};
pub use train::{DEFAULT_MAX_CLASSES, TrainConfig, TrainError, TrainStep, Trained, check_classes, train};
pub use watcher::{
    ActiveModel, ExistingPods, FetchPlan, ModelHandle, SinkOptions, Step, WatchState, WatchStats, Watcher,
    WatcherConfig, WhenFull,
};

#[cfg(test)]
mod tests;
