//! # cad-core
//!
//! Recognise what service a Kubernetes container runs from how it behaves,
//! and flag the pods that do not behave like what they claim to be.
//!
//! This crate holds everything that does not talk to a real backend:
//!
//! * the domain types — [`PodInfo`], [`ContainerId`], [`Metric`], [`Sample`];
//! * the traits adapters implement — [`PodSource`], [`MetricSource`],
//!   [`VerdictSink`] — and the learning traits [`Fit`] and [`Classifier`];
//! * labeling ([`label`]): which class a pod and each container claims to be;
//! * ages ([`age`]): the pod ages a model was trained for;
//! * time ([`time`], [`clock`]): engines take a [`Clock`] so tests never sleep;
//! * features ([`features`], the sets in [`features::sets`]): what a model
//!   reads, and which metrics each set requires;
//! * our decision tree and random forest, evaluation, the model bundle and
//!   the collector and watcher engines ([`engine`]).
//!
//! # Writing an adapter
//!
//! An adapter gives cad pods ([`PodSource`], or the ready-made
//! [`StaticPods`]) and metrics ([`MetricSource`]) from a backend of its own,
//! and may receive verdicts ([`VerdictSink`]). [`prelude`] has what that
//! takes, including the [`async_trait`](macro@async_trait) attribute and the
//! [`BoxStream`](futures::stream::BoxStream) type the traits use, so an
//! adapter needs no dependency but `cad-core` (and tokio to run the
//! engines). The path, in order: [`engine::collect_dataset`] →
//! [`engine::train()`] → [`ModelBundle::write_to`](bundle::ModelBundle::write_to)
//! / [`read_from`](bundle::ModelBundle::read_from) → [`engine::Watcher`].
//! The metric catalogue, units, counters and gauges, the ids and what each
//! feature set requires are in [`metric`], [`Metric`], [`ContainerId`] and
//! [`features::sets`]; the repository's `docs/writing-an-adapter.md` has the
//! same with a table from cAdvisor and Prometheus names, and
//! `examples/adapter/` is a complete adapter from source to first verdict.
//!
//! # Optional parts
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
//! The repository's README has the data flow from pods and metrics to
//! verdicts, with a map of where each part lives.
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
pub use source::{BoxError, MetricSource, PodEvent, PodSource, SeenContainer, SourceError};
pub use time::{TimeWindow, Timestamp};
pub use verdict::{AnomalyReason, NO_CLASS, Outcome, SkipReason, Verdict};

/// The attribute that makes the async traits ([`PodSource`],
/// [`MetricSource`], [`VerdictSink`]) implementable: `#[async_trait]` on the
/// `impl` block.
pub use async_trait::async_trait;
/// The `futures` crate the traits' types come from
/// ([`BoxStream`](futures::stream::BoxStream),
/// [`BoxFuture`](futures::future::BoxFuture)), for the rest of its stream
/// helpers.
pub use futures;
pub use source::StaticPods;

/// What an adapter needs in one import: `use cad_core::prelude::*;`.
///
/// The source and sink traits and the types they use, the
/// [`async_trait`](macro@async_trait) attribute to implement them,
/// [`BoxStream`](futures::stream::BoxStream) and
/// [`BoxFuture`](futures::future::BoxFuture) (the return types of
/// [`PodSource::watch`] and [`Clock::sleep_until`]) with
/// [`StreamExt`](futures::stream::StreamExt), the
/// ready-made [`StaticPods`], the clocks, and the engines from collect to
/// the watcher.
///
/// ```
/// use cad_core::prelude::*;
///
/// struct Nothing;
///
/// #[async_trait]
/// impl MetricSource for Nothing {
///     async fn fetch(&self, _: &[ContainerId], _: TimeWindow) -> Result<MetricBatch, SourceError> {
///         Ok(MetricBatch::new())
///     }
/// }
///
/// fn no_pods() -> BoxStream<'static, Result<PodEvent, SourceError>> {
///     futures::stream::empty().boxed()
/// }
/// # let _ = (Nothing, no_pods());
/// ```
pub mod prelude {
    pub use crate::bundle::ModelBundle;
    pub use crate::clock::{Clock, SystemClock, TokioClock};
    pub use crate::dataset::Dataset;
    pub use crate::engine::{
        ActiveModel, CollectConfig, ModelHandle, TrainConfig, Watcher, WatcherConfig, collect_dataset, train,
    };
    pub use crate::features::FeatureSet;
    pub use crate::label::Labeler;
    pub use crate::metric::{Metric, MetricBatch, MetricKind, Sample};
    pub use crate::pod::{ContainerId, ContainerInfo, PodId, PodInfo, PodPhase};
    pub use crate::sink::{SinkError, VerdictSink};
    pub use crate::source::{BoxError, MetricSource, PodEvent, PodSource, SeenContainer, SourceError, StaticPods};
    pub use crate::time::{TimeWindow, Timestamp};
    pub use crate::verdict::{Outcome, Verdict};
    pub use async_trait::async_trait;
    pub use futures;
    pub use futures::future::BoxFuture;
    pub use futures::stream::{BoxStream, StreamExt};
}
