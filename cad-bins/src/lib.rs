//! Wiring for the cad programs (`cad`, `cad-collector`, `cad-watcher`):
//! argument parsing, logging, plots and the HTTP endpoints. The work itself
//! is done by the engines in `cad-core`.

// The doc comments of the clap structs are also the programs' `--help` text,
// where a bare URL reads better than a Markdown link.
#![allow(rustdoc::bare_urls)]

pub mod cli;
pub mod collect;
#[cfg(feature = "demo")]
pub mod demo;
pub mod inspect;
pub mod output;
pub mod plot;
pub mod progress;
pub mod reference;
pub mod serve;
pub mod sources;
pub mod telemetry;
pub mod watch;

/// The multi-threaded runtime the programs run on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// Runs a program's main future on [`runtime`].
pub fn block_on(program: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    runtime()?.block_on(program)
}

/// Completes on Ctrl-C, on SIGTERM (what Kubernetes sends to stop a pod), or
/// after `run_for` if given.
pub async fn shutdown(run_for: Option<std::time::Duration>) {
    let timer = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    let terminate = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = timer => {}
        _ = terminate => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
    }
}
