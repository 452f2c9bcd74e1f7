//! The JSON of `/api/v1/query`, read into labels and raw `(time, value)` points.
//!
//! ```json
//! {"status":"success","data":{"resultType":"matrix","result":[
//!   {"metric":{"__name__":"container_memory_rss","pod":"nginx-1",…},
//!    "values":[[1700000000.123,"8388608"],…]}]},
//!  "warnings":["…"]}
//! ```
//!
//! Times are seconds with millisecond precision as JSON numbers; values are
//! strings (`"NaN"`, `"+Inf"` included), parsed while reading so no string per
//! sample is kept.

use crate::error::PrometheusError;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// One `[time, "value"]` pair: milliseconds since the epoch and the value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    pub millis: i64,
    pub value: f64,
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Point;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [time, \"value\"] pair")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Point, A::Error> {
                let secs: f64 = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let text: Cow<'de, str> = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                // ±1e14 s is three million years either way: anything past
                // it is garbage, and stays far inside i64 milliseconds.
                if !secs.is_finite() || secs.abs() > 1e14 {
                    return Err(de::Error::custom(format!("time {secs} out of range")));
                }
                let value = text
                    .parse::<f64>()
                    .map_err(|_| de::Error::custom(format!("value {:?} is not a number", truncate(&text))))?;
                Ok(Point {
                    millis: (secs * 1000.0).round() as i64,
                    value,
                })
            }
        }
        d.deserialize_seq(V)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// One series of an answer.
#[derive(Debug, Deserialize)]
pub(crate) struct Series {
    /// Its labels, `__name__` included where the query keeps it.
    #[serde(default)]
    pub metric: BTreeMap<String, String>,
    /// A matrix's points.
    #[serde(default)]
    pub values: Vec<Point>,
    /// A vector's point.
    #[serde(default)]
    pub value: Option<Point>,
}

impl Series {
    /// The value of `label`, `""` if absent (as PromQL sees it).
    pub fn label(&self, label: &str) -> &str {
        self.metric.get(label).map_or("", String::as_str)
    }
}

/// The `resultType` of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ResultType {
    Matrix,
    Vector,
    Scalar,
    String,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: ResultType,
    #[serde(default)]
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub series: Vec<Series>,
    /// Warnings the server attached (partial data from Thanos, a store that
    /// did not answer, …).
    pub warnings: Vec<String>,
    /// Informational notes (Prometheus 3).
    pub infos: Vec<String>,
}

/// Reads a 2xx body and checks it holds a `want` result.
pub(crate) fn parse(body: &[u8], want: ResultType) -> Result<Answer, PrometheusError> {
    let env: Envelope = serde_json::from_slice(body).map_err(PrometheusError::Json)?;
    if env.status != "success" {
        return Err(PrometheusError::Rejected {
            status: 200,
            error_type: env.error_type,
            message: env
                .error
                .unwrap_or_else(|| format!("status {:?}", truncate(&env.status))),
        });
    }
    let data = env
        .data
        .ok_or_else(|| PrometheusError::Unexpected("a successful answer without data".into()))?;
    if data.result_type != want {
        return Err(PrometheusError::Unexpected(format!(
            "a {:?} result where a {want:?} was asked for",
            data.result_type
        )));
    }
    Ok(Answer {
        series: data.result,
        warnings: env.warnings,
        infos: env.infos,
    })
}

/// The API's error text and type from a failed answer's body, else the start
/// of the body.
pub(crate) fn error_of(body: &[u8]) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct ErrBody {
        #[serde(rename = "errorType")]
        error_type: Option<String>,
        error: Option<String>,
    }
    match serde_json::from_slice::<ErrBody>(body) {
        Ok(ErrBody {
            error_type,
            error: Some(e),
        }) => (error_type, e),
        _ => (None, String::from_utf8_lossy(body).chars().take(300).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_matrix_with_special_values() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"m","pod":"p"},"values":[[1700000000.123,"1.5e+06"],[1700000010,"NaN"],[1700000020.5,"+Inf"],[1700000030.001,"-Inf"]]}]},
            "warnings":["store x unavailable"]}"#;
        let a = parse(body, ResultType::Matrix).unwrap();
        assert_eq!(a.warnings, ["store x unavailable"]);
        let s = &a.series[0];
        assert_eq!((s.label("pod"), s.label("container")), ("p", ""));
        let v: Vec<(i64, f64)> = s.values.iter().map(|p| (p.millis, p.value)).collect();
        assert_eq!(v[0], (1_700_000_000_123, 1.5e6));
        assert!(v[1].1.is_nan());
        assert_eq!(v[2], (1_700_000_020_500, f64::INFINITY));
        assert_eq!(v[3], (1_700_000_030_001, f64::NEG_INFINITY));
    }

    #[test]
    fn rejects_what_is_not_asked_for() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}"#;
        assert!(matches!(
            parse(vector, ResultType::Matrix),
            Err(PrometheusError::Unexpected(_))
        ));
        let v = parse(vector, ResultType::Vector).unwrap();
        assert_eq!(v.series.len(), 1);
        assert_eq!(
            v.series[0].value,
            Some(Point {
                millis: 1000,
                value: 1.0
            })
        );
        for bad in [
            &br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#[..],
            br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1e300,"1"]]}]}}"#,
            br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1",3]]}]}}"#,
            br#"<html>"#,
        ] {
            assert!(matches!(parse(bad, ResultType::Matrix), Err(PrometheusError::Json(_))));
        }
        let err = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(matches!(
            parse(err, ResultType::Matrix),
            Err(PrometheusError::Rejected { .. })
        ));
        assert_eq!(error_of(err), (Some("bad_data".into()), "parse error".into()));
        assert_eq!(error_of(b"upstream down").1, "upstream down");
    }
}
