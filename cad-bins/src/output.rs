//! What the programs print and how they end.
//!
//! Data goes to stdout through [`print()`], which returns the write error
//! instead of panicking as `println!` does. A closed pipe (`cad demo | head
//! -1`) ends the program quietly with success, as `ls | head` does (ripgrep
//! does the same: it checks for `BrokenPipe` at the top and exits 0); any
//! other write error — a full disk, `> /dev/full` — is an error naming
//! stdout. [`exit`] turns a program's result into its exit code.

use anyhow::{Context, Result};
use std::io::Write;
use std::process::ExitCode;

/// Writes `text` to stdout and flushes it.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

/// [`print()`] with a line end.
pub fn println(text: &str) -> Result<()> {
    print(&format!("{text}\n"))
}

/// Whether the error comes from writing to a pipe whose reader is gone.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The exit code of a program's result: success, success after a closed
/// pipe, or failure with the error (and its causes) on stderr.
pub fn exit(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: it panics when stderr itself is closed.
            let _ = writeln!(std::io::stderr(), "Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_told_apart_through_the_context() {
        let e = Err::<(), _>(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing to stdout")
            .unwrap_err();
        assert!(is_broken_pipe(&e));
        let full = Err::<(), _>(std::io::Error::from_raw_os_error(28))
            .context("writing to stdout")
            .unwrap_err();
        assert!(!is_broken_pipe(&full));
        assert_eq!(exit(Ok(())), ExitCode::SUCCESS);
        assert_eq!(exit(Err(e)), ExitCode::SUCCESS);
        assert_eq!(exit(Err(full)), ExitCode::FAILURE);
    }
}
