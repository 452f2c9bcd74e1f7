//! Printing an error with its causes on one line, for log fields.
//!
//! cad's errors keep their causes as [`source`](std::error::Error::source)s
//! and never repeat them in their own message, so `anyhow` prints each cause
//! once ("Caused by: …"). A log line has one field for the error, though:
//! [`ErrorChain`] writes the whole chain there, `outer: cause: root cause`.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its causes, separated by `": "`.
///
/// ```
/// use cad_core::ErrorChain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("reading the model failed")]
/// struct Outer(#[source] std::io::Error);
///
/// let e = Outer(std::io::Error::other("disk on fire"));
/// assert_eq!(ErrorChain(&e).to_string(), "reading the model failed: disk on fire");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
