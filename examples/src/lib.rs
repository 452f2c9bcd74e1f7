//! Examples of using cad-core; see the `examples/` directory of this crate.
//!
//! [`csv_source`] is a complete [`MetricSource`](cad_core::MetricSource) over a
//! CSV file, used by the `csv_metric_source` example and by the test that
//! reads the recordings of real servers in `data/recordings/`; [`recordings`]
//! lists those recordings, reads their samples and turns them into feature
//! rows (the `feature_sets` example measures the feature sets on them);
//! [`recordings::rotation`] makes them the training and judged pods of each
//! held-out rotation, for the tests that run the engines on them
//! (`tests/slow_scrapes.rs`, `cad-influx/tests/recordings_end_to_end.rs`).

pub mod csv_source;
pub mod recordings;
