//! [`JsonLinesSink`]: one JSON object per outcome and line (feature `json`).

use super::{SinkError, VerdictSink};
use crate::verdict::Outcome;
use async_trait::async_trait;
use std::io::Write;
use std::sync::Mutex;

/// Writes each outcome as one JSON object per line to a writer (a file, stdout).
pub struct JsonLinesSink<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// A sink writing to `out`; each line is flushed.
    pub fn new(out: W) -> Self {
        JsonLinesSink { out: Mutex::new(out) }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        match self.out.into_inner() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[async_trait]
impl<W: Write + Send> VerdictSink for JsonLinesSink<W> {
    fn name(&self) -> &str {
        "json-lines"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        let line = serde_json::to_string(outcome).map_err(|e| SinkError::new("json-lines", e))?;
        let mut out = self
            .out
            .lock()
            .map_err(|_| SinkError::new("json-lines", "writer lock poisoned"))?;
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(|e| SinkError::new("json-lines", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::PodId;
    use crate::sink::test_outcomes::classified;
    use crate::time::Timestamp;
    use std::time::Duration;

    #[tokio::test]
    async fn json_lines_are_one_object_per_outcome() {
        let sink = JsonLinesSink::new(Vec::new());
        sink.record(&classified("nginx", Some("nginx"), None)).await.unwrap();
        let timed_out = Outcome::TimedOut {
            pod: PodId::new("ns", "p\"odd\nname", "u2"),
            container: "c".into(),
            claimed: None,
            time: Timestamp(0),
            waited: Duration::from_secs(120),
            at_start: false,
        };
        sink.record(&timed_out).await.unwrap();
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2, "an odd pod name must not break the line format: {text}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(
            (&first["kind"], &first["p_value"]),
            (&"as_claimed".into(), &0.5.into()),
            "{first}"
        );
        let back: Outcome = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(back, timed_out);
    }
}
