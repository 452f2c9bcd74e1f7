//! Logging setup shared by the programs: human-readable by default, JSON
//! lines with `--log-json`; the level from `RUST_LOG` (default `info`).
//! Colours only when stderr is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>): a log file or `kubectl logs` gets plain text.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Whether log lines get ANSI colours.
pub fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs the global `tracing` subscriber. Logs go to stderr so that
/// stdout stays free for data (a model in base64, a manifest, JSON verdicts).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours())
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr a closed pipe: `cad demo
        // 2>&1 | head`) is dropped. With internal errors on, the subscriber
        // reports the failed write with eprintln!, which panics on that same
        // closed stderr.
        .log_internal_errors(false);
    // A second call (tests) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
