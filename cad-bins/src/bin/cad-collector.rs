//! `cad-collector`: collect container metrics (or read a file), train and
//! evaluate a model, write it (and publish it as a ConfigMap).

use anyhow::Result;
use cad_bins::cli::CollectorCli;
use clap::Parser;

fn main() -> Result<()> {
    let cli = CollectorCli::parse();
    cad_bins::telemetry::init(cli.global.log_json);
    cad_bins::runtime()?.block_on(cad_bins::collect::run(&cli.args))
}
