//! `cad`: the front door — `cad demo`, `cad collect`, `cad watch`, `cad inspect`.

use anyhow::Result;
use cad_bins::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: Cli = cad_bins::cli::parse(|c: &Cli| cad_bins::telemetry::init(c.global.log_json));
    cad_bins::output::exit(run(cli))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        #[cfg(feature = "demo")]
        Command::Demo(args) => cad_bins::demo::run(&args),
        Command::Collect(args) => cad_bins::block_on(cad_bins::collect::run(&args)),
        Command::Watch(args) => cad_bins::block_on(cad_bins::watch::run(&args)),
        Command::Inspect(args) => cad_bins::inspect::run(&args),
    }
}
