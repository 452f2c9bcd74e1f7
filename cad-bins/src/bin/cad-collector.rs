//! `cad-collector`: collect container metrics (or read a file), train and
//! evaluate a model, write it (and publish it as a ConfigMap).

use cad_bins::cli::CollectorCli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: CollectorCli = cad_bins::cli::parse(|c: &CollectorCli| cad_bins::telemetry::init(c.global.log_json));
    let result = cad_bins::runtime()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(cad_bins::collect::run(&cli.args)));
    cad_bins::output::exit(result)
}
