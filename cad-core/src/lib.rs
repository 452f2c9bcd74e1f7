//! # cad-core
//!
//! Recognise what service a Kubernetes container runs from how it behaves,
//! and flag the pods that do not behave like what they claim to be.
//!
//! This crate holds everything that does not talk to a real backend:
//!
//! * the domain types — [`PodInfo`], [`ContainerId`], [`Metric`], [`Sample`];
//! * the traits adapters implement — [`PodSource`], [`MetricSource`] — and the
//!   learning traits [`Fit`] and [`Classifier`];
//! * labeling ([`label`]): which class a pod and each container claims to be;
//! * ages ([`age`]): the pod ages a model was trained for;
//! * time ([`time`], [`clock`]): engines take a [`Clock`] so tests never sleep;
//! * our decision tree and random forest, evaluation, the model bundle and
//!   the collector and watcher engines.
//!
//! The heavier parts are cargo features, all on by default; an adapter
//! author can turn them off (`default-features = false`) and compile a small
//! core:
//!
//! * `smartcore` — smartcore's CART tree as a second learning backend;
//! * `prometheus` — the Prometheus verdict sink;
//! * `io` — data sets from and to CSV and Weka ARFF files;
//! * `json` — the JSON-lines verdict sink.
//!
//! See `DESIGN.md`-style overview in the repository README for the data flow.
#![warn(missing_docs)]

pub mod age;
pub mod bundle;
pub mod classifier;
pub mod clock;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod eval;
pub mod features;
pub mod files;
pub mod forest;
#[cfg(feature = "io")]
pub mod io;
pub mod label;
pub mod metric;
pub mod model;
pub mod openset;
pub mod pod;
pub mod render;
pub mod retry;
pub mod secret;
pub mod sink;
#[cfg(feature = "smartcore")]
pub mod smartcore_backend;
pub mod source;
pub mod split;
pub mod time;
pub mod tree;
pub mod verdict;

#[cfg(test)]
mod test_data;

pub use age::{AgeCoverage, AgeRange};
pub use classifier::{BackendError, Classifier, Fit, FitError, Prediction};
pub use clock::{Clock, SystemClock, TokioClock};
pub use dataset::{Dataset, DatasetError};
pub use error::ErrorChain;
pub use features::{ContainerInput, FeatureRow, FeatureSet};
pub use label::{ContainerClaim, Labeler};
pub use metric::{Metric, MetricBatch, MetricKind, MetricScope, Sample};
pub use pod::{ContainerId, ContainerInfo, PodId, PodInfo, PodPhase};
pub use retry::RetryPolicy;
pub use secret::Secret;
#[cfg(feature = "json")]
pub use sink::JsonLinesSink;
#[cfg(feature = "prometheus")]
pub use sink::PrometheusSink;
pub use sink::{LogSink, MemorySink, SinkError, VerdictSink};
pub use source::{BoxError, MetricSource, PodEvent, PodSource, SourceError};
pub use time::{TimeWindow, Timestamp};
pub use verdict::{AnomalyReason, NO_CLASS, Outcome, SkipReason, Verdict};
