//! `cad`: the front door — `cad demo`, `cad collect`, `cad watch`, `cad inspect`.

use anyhow::Result;
use cad_bins::cli::{Cli, Command};
use clap::Parser;

fn main() -> Result<()> {
    let cli = Cli::parse();
    cad_bins::telemetry::init(cli.global.log_json);
    match cli.command {
        Command::Demo(args) => cad_bins::demo::run(&args),
        Command::Collect(args) => cad_bins::runtime()?.block_on(cad_bins::collect::run(&args)),
        Command::Watch(args) => cad_bins::runtime()?.block_on(cad_bins::watch::run(&args)),
        Command::Inspect(args) => cad_bins::inspect::run(&args),
    }
}
