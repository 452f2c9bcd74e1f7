//! `cad-watcher`: classify every new pod with a trained model and flag anomalies.

use anyhow::Result;
use cad_bins::cli::WatcherCli;
use clap::Parser;

fn main() -> Result<()> {
    let cli = WatcherCli::parse();
    cad_bins::telemetry::init(cli.global.log_json);
    cad_bins::runtime()?.block_on(cad_bins::watch::run(&cli.args))
}
