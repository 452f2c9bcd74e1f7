//! Writes the noisy data set of `cad_benches::noisy` (20 features, 10
//! informative, 5 classes, 2 % label noise, heavy-tailed byte columns,
//! integer counters, 5 % missing values in four columns) as CSV.
//!
//! `cargo run --release -p cad-benches --example make_dataset -- ROWS OUT.csv [SEED]`

use std::io::{BufWriter, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(rows), Some(out)) = (args.get(1).and_then(|s| s.parse::<usize>().ok()), args.get(2)) else {
        return Err("usage: make_dataset ROWS OUT.csv [SEED]".into());
    };
    let seed = match args.get(3) {
        Some(s) => s.parse()?,
        None => 0,
    };
    // Written beside the target and renamed, so a cut run leaves no half file.
    let tmp = format!("{out}.tmp");
    let mut w = BufWriter::new(std::fs::File::create(&tmp)?);
    cad_benches::noisy::write_csv(rows, seed, &mut w)?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, out)?;
    Ok(())
}
