//! Writing verdicts back to InfluxDB as the `cad_verdict` measurement.
//!
//! Plain line protocol over the same `reqwest` client as the reader rather than
//! the `influxdb` crate: one HTTP stack, one place for credentials (basic auth
//! header, not `u`/`p` URL parameters), timeouts, retries and redaction, and no
//! second `reqwest` version in the build. Retrying a write is safe: a point
//! with the same series and time overwrites itself.

use crate::config::{ConfigError, InfluxConfig};
use crate::error::InfluxError;
use crate::http::{Body, Http};
use cad_core::Timestamp;
use reqwest::Method;
use std::fmt::Write as _;
use std::sync::Arc;

/// One verdict as written to InfluxDB. (Adapted to the engine's sink trait later.)
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictPoint {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container's name.
    pub container: String,
    /// The class the model predicted.
    pub predicted: String,
    /// The class the pod's name or label claims, if any.
    pub claimed: Option<String>,
    /// Whether the verdict flags the container.
    pub anomaly: bool,
    /// The verdict's kind (`as_claimed`, `impostor`, `unknown`,
    /// `recognised`, `undecided`): the tag `kind`.
    pub kind: String,
    /// The open-set evidence (the field `p_value`), when there is one.
    pub p_value: Option<f64>,
    /// The model's confidence in `predicted`, 0 to 1.
    pub confidence: f64,
    /// Seconds from pod start to verdict.
    pub seconds_to_verdict: f64,
    /// When the verdict was reached.
    pub time: Timestamp,
}

/// Escapes a measurement name for line protocol (`,` and space).
fn escape_measurement(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            ',' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push_str("\\ "),
            c => out.push(c),
        }
    }
}

/// Escapes a tag key or value for line protocol: `,`, `=` and space get a
/// backslash; a backslash is doubled so it can never escape the delimiter that
/// follows (InfluxDB 1.x then stores it doubled: names with backslashes do not
/// round-trip exactly, but cannot break the line); newlines, which line
/// protocol cannot carry, become spaces.
fn escape_tag(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            ',' | '=' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push_str("\\ "),
            c => out.push(c),
        }
    }
}

/// The point as one line of line protocol (millisecond precision), or `None`
/// if it has no finite field to write.
pub fn to_line_protocol(p: &VerdictPoint, measurement: &str) -> Option<String> {
    let mut line = String::new();
    escape_measurement(measurement, &mut line);
    // Tags sorted by key, as InfluxDB prefers; empty values are not allowed and are left out.
    let anomaly = if p.anomaly { "true" } else { "false" };
    let tags: [(&str, Option<&str>); 7] = [
        ("anomaly", Some(anomaly)),
        ("claimed", p.claimed.as_deref()),
        ("container", Some(&p.container)),
        ("kind", Some(&p.kind)),
        ("namespace", Some(&p.namespace)),
        ("pod", Some(&p.pod)),
        ("predicted", Some(&p.predicted)),
    ];
    for (k, v) in tags {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            line.push(',');
            escape_tag(k, &mut line);
            line.push('=');
            escape_tag(v, &mut line);
        }
    }
    let mut fields = Vec::new();
    for (k, v) in [
        ("confidence", Some(p.confidence)),
        ("p_value", p.p_value),
        ("seconds_to_verdict", Some(p.seconds_to_verdict)),
    ] {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            fields.push(format!("{k}={v:?}"));
        }
    }
    if fields.is_empty() {
        return None;
    }
    let _ = write!(line, " {} {}", fields.join(","), p.time.as_millis());
    Some(line)
}

/// Writes [`VerdictPoint`]s to InfluxDB's `/write` endpoint.
pub struct InfluxVerdictWriter {
    http: Arc<Http>,
    database: String,
    retention_policy: Option<String>,
    measurement: String,
}

impl std::fmt::Debug for InfluxVerdictWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxVerdictWriter")
            .field("backend", &self.http.backend())
            .field("database", &self.database)
            .field("measurement", &self.measurement)
            .finish_non_exhaustive()
    }
}

impl InfluxVerdictWriter {
    /// A writer for `config` (its URL, database, credentials, retries and
    /// [`verdict_measurement`](InfluxConfig::verdict_measurement)).
    pub fn new(config: InfluxConfig) -> Result<Self, ConfigError> {
        if config.database.is_empty() || config.verdict_measurement.is_empty() {
            return Err(ConfigError::Invalid(
                "database and verdict_measurement must not be empty".into(),
            ));
        }
        let http = Http::new(&config)?;
        Ok(Self::from_parts(
            Arc::new(http),
            config.database,
            config.retention_policy,
            config.verdict_measurement,
        ))
    }

    pub(crate) fn from_parts(
        http: Arc<Http>,
        database: String,
        retention_policy: Option<String>,
        measurement: String,
    ) -> Self {
        InfluxVerdictWriter {
            http,
            database,
            retention_policy,
            measurement,
        }
    }

    /// HTTP requests sent so far by this writer's client.
    pub fn request_count(&self) -> u64 {
        self.http.request_count()
    }

    /// Writes `points` in one request per 5,000 points. Points without a
    /// finite field are skipped with a warning.
    pub async fn write(&self, points: &[VerdictPoint]) -> Result<(), InfluxError> {
        let lines: Vec<String> = points
            .iter()
            .filter_map(|p| {
                let line = to_line_protocol(p, &self.measurement);
                if line.is_none() {
                    tracing::warn!(pod = %p.pod, container = %p.container, "verdict without a finite field; not written");
                }
                line
            })
            .collect();
        for chunk in lines.chunks(5000) {
            let body = chunk.join("\n");
            let mut params = vec![("db", self.database.as_str()), ("precision", "ms")];
            if let Some(rp) = &self.retention_policy {
                params.push(("rp", rp.as_str()));
            }
            let url = self.http.url("write", &params);
            self.http
                .send(
                    Method::POST,
                    url,
                    Some(Body {
                        content_type: "text/plain; charset=utf-8",
                        text: &body,
                    }),
                )
                .await?;
        }
        Ok(())
    }
}

impl VerdictPoint {
    /// The point for a classification outcome; `None` for timeouts and deletions.
    pub fn from_outcome(outcome: &cad_core::Outcome) -> Option<VerdictPoint> {
        match outcome {
            cad_core::Outcome::Classified(v) => Some(VerdictPoint {
                namespace: v.pod.namespace.clone(),
                pod: v.pod.name.clone(),
                container: v.container.clone(),
                predicted: v.predicted.clone(),
                claimed: v.claimed.clone(),
                anomaly: v.is_anomaly(),
                kind: v.kind.as_str().to_owned(),
                p_value: v.p_value,
                confidence: v.confidence,
                seconds_to_verdict: v.time_to_verdict.as_secs_f64(),
                time: v.time,
            }),
            _ => None,
        }
    }
}

/// Writes every classification as a `cad_verdict` point (one request per
/// verdict; verdicts are rare next to Telegraf's own writes).
#[async_trait::async_trait]
impl cad_core::VerdictSink for InfluxVerdictWriter {
    fn name(&self) -> &str {
        "influxdb"
    }

    async fn record(&self, outcome: &cad_core::Outcome) -> Result<(), cad_core::SinkError> {
        match VerdictPoint::from_outcome(outcome) {
            Some(p) => self
                .write(&[p])
                .await
                .map_err(|e| cad_core::SinkError::new("influxdb", e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> VerdictPoint {
        VerdictPoint {
            namespace: "default".into(),
            pod: "nginx-7f9c".into(),
            container: "nginx".into(),
            predicted: "mysql".into(),
            claimed: Some("nginx".into()),
            anomaly: true,
            kind: "impostor".into(),
            p_value: Some(0.004),
            confidence: 0.875,
            seconds_to_verdict: 42.0,
            time: Timestamp::from_millis(1_700_000_000_123),
        }
    }

    #[test]
    fn line_has_sorted_tags_float_fields_and_ms_time() {
        assert_eq!(
            to_line_protocol(&point(), "cad_verdict").unwrap(),
            "cad_verdict,anomaly=true,claimed=nginx,container=nginx,kind=impostor,namespace=default,pod=nginx-7f9c,predicted=mysql confidence=0.875,p_value=0.004,seconds_to_verdict=42.0 1700000000123"
        );
    }

    #[test]
    fn claimed_none_is_omitted_and_special_characters_escaped() {
        let mut p = point();
        p.claimed = None;
        p.pod = "a b,c=d\\".into();
        p.seconds_to_verdict = f64::NAN;
        p.p_value = None;
        let l = to_line_protocol(&p, "cad verdict").unwrap();
        assert_eq!(
            l,
            r"cad\ verdict,anomaly=true,container=nginx,kind=impostor,namespace=default,pod=a\ b\,c\=d\\,predicted=mysql confidence=0.875 1700000000123"
        );
        p.confidence = f64::INFINITY;
        assert_eq!(to_line_protocol(&p, "m"), None);
    }

    #[test]
    fn newlines_never_split_the_line() {
        let mut p = point();
        p.pod = "x\ny\r\nz".into();
        let l = to_line_protocol(&p, "m\nn").unwrap();
        assert!(!l.contains('\n') && !l.contains('\r'));
    }
}
