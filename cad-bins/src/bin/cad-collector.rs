//! `cad-collector`: collect container metrics (or read a file), train and
//! evaluate a model, write it (and publish it as a ConfigMap).

use cad_bins::cli::CollectorCli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: CollectorCli = cad_bins::cli::parse(|c: &CollectorCli| cad_bins::telemetry::init(c.global.log_json));
    cad_bins::output::exit(cad_bins::block_on(cad_bins::collect::run(&cli.args)))
}
