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

/// Runs a program's main future on [`runtime`], after [`tune_allocator`].
pub fn block_on(program: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tune_allocator();
    runtime()?.block_on(program)
}

/// Allocations of at least this many bytes get pages of their own from the
/// system (glibc's `M_MMAP_THRESHOLD`).
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// Makes glibc's malloc give large buffers (training's copies of rows, bins,
/// held-out lists, per-thread scratch) back to the system as soon as they are
/// freed: allocations of [`MMAP_THRESHOLD`] bytes or more are mapped, not
/// carved from a heap. By default glibc raises that threshold up to 32 MiB
/// each time such a buffer is freed, after which buffers came from heaps that
/// keep freed memory resident: each stage of training then started from the
/// previous stage's high-water mark, and each worker thread's heap added its
/// own. With the threshold fixed, peak RSS of the default forest's training
/// on 100,000 noisy rows went from 3.18× to 2.97× the data as f64 on 2 threads
/// (median of 3 runs; not on 1 thread: BENCHMARKS.md, issue 20). Elsewhere
/// (other C libraries) it does nothing.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of glibc's allocator (it takes
    // the allocator's own lock); no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
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
