//! Wiring for the cad programs (`cad`, `cad-collector`, `cad-watcher`):
//! argument parsing, logging, plots and the HTTP endpoints. The work itself
//! is done by the engines in `cad-core`.

pub mod cli;
pub mod collect;
pub mod demo;
pub mod inspect;
pub mod plot;
pub mod progress;
pub mod serve;
pub mod sources;
pub mod telemetry;
pub mod watch;

/// The multi-threaded runtime the programs run on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
