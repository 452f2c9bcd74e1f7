//! Wiring for the cad programs (`cad`, `cad-collector`, `cad-watcher`):
//! argument parsing, logging, plots and the HTTP endpoints. The work itself
//! is done by the engines in `cad-core`.

pub mod cli;
pub mod plot;
pub mod serve;
pub mod telemetry;
