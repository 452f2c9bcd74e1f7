//! `cad-watcher`: classify every new pod with a trained model and flag anomalies.

use cad_bins::cli::WatcherCli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: WatcherCli = cad_bins::cli::parse(|c: &WatcherCli| cad_bins::telemetry::init(c.global.log_json));
    cad_bins::output::exit(cad_bins::block_on(cad_bins::watch::run(&cli.args)))
}
