//! `--export-bencher`: the Bencher Metric Format (BMF) JSON, for `bencher run --adapter json`.
//! An object of benchmarks by name, each an object of measures by slug, each a metric
//! `{value, lower_value, upper_value}` of which only `value` is required. Here each completed
//! case ([`super::continuous`]) is a benchmark with Bencher's two built-in measures:
//! `latency` (ns: a round trip's mean, with the 95% confidence interval of the mean of the run
//! means as lower and upper with two runs or more) and `throughput` (operations per second:
//! round trips, or a stream's messages). A stream has no latency; its time per message is
//! in the throughput.

use std::collections::BTreeMap;

use serde::Serialize;

use super::continuous::{completed_cases, json_document, CaseFigures};
use super::{ExportError, Exporter};
use crate::report::result::Report;
use crate::transport::Pattern;

pub struct BencherExporter;

/// One metric: a value, and optionally the bounds around it.
#[derive(Debug, Serialize)]
struct Metric {
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lower_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upper_value: Option<f64>,
}

/// The measures of one benchmark, by Bencher's built-in slugs.
#[derive(Debug, Serialize)]
struct Measures {
    #[serde(skip_serializing_if = "Option::is_none")]
    latency: Option<Metric>,
    throughput: Metric,
}

fn measures(case: &CaseFigures) -> Measures {
    let latency = (case.pattern == Pattern::RoundTrip).then(|| Metric {
        value: case.mean_ns,
        lower_value: case.interval_ns.map(|interval| interval.lower),
        upper_value: case.interval_ns.map(|interval| interval.upper),
    });
    Measures {
        latency,
        throughput: Metric {
            value: case.ops_per_s,
            lower_value: None,
            upper_value: None,
        },
    }
}

impl Exporter for BencherExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let benchmarks: BTreeMap<String, Measures> = (completed_cases(report).iter())
            .map(|case| (case.name.clone(), measures(case)))
            .collect();
        json_document(&benchmarks)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::report::test_report::sample;

    /// BMF's JSON Schema (bencher.dev/docs/reference/bencher-metric-format): an object of
    /// objects of metric objects, each with a number `value` and optional number
    /// `lower_value` and `upper_value`, and nothing else; `latency` and `throughput` are the
    /// built-in measures (nanoseconds, operations per second).
    fn assert_is_bmf(document: &Value) {
        for (benchmark, measures) in document.as_object().expect("an object of benchmarks") {
            let measures = measures.as_object().expect("an object of measures");
            assert!(!benchmark.is_empty() && !measures.is_empty(), "{benchmark}");
            for (measure, metric) in measures {
                assert!(["latency", "throughput"].contains(&measure.as_str()));
                let metric = metric.as_object().expect("a metric object");
                assert!(metric["value"].is_f64(), "{benchmark}.{measure}");
                for (key, value) in metric {
                    assert!(["value", "lower_value", "upper_value"].contains(&key.as_str()));
                    assert!(value.is_number(), "{benchmark}.{measure}.{key}");
                }
            }
        }
    }

    #[test]
    fn each_completed_case_is_a_benchmark_with_latency_and_throughput() {
        let mut report = sample();
        report.results[0].runs = vec![49.0, 50.0, 51.0];
        let bytes = BencherExporter.serialize(&report).unwrap();
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        assert_is_bmf(&document);
        assert_eq!(
            document.as_object().unwrap().len(),
            4,
            "the failed case left out"
        );
        let first = &document["shm-posix/100B/round-trip"];
        let mean_us = report.results[0].latency_us.unwrap().mean;
        assert_eq!(first["latency"]["value"], mean_us * 1e3);
        let (lower, upper) = (
            first["latency"]["lower_value"].as_f64().unwrap(),
            first["latency"]["upper_value"].as_f64().unwrap(),
        );
        assert!(lower < 50_000.0 && upper > 50_000.0, "{lower}..{upper}");
        assert_eq!(first["throughput"]["value"], report.results[0].ops_per_s);
        // One run: no bounds, rather than bounds that say nothing of the mean.
        let second = &document["shm-posix/10000B/round-trip"]["latency"];
        assert!(second.get("lower_value").is_none() && second.get("upper_value").is_none());
    }

    #[test]
    fn a_stream_has_throughput_and_no_latency() {
        let mut report = sample();
        report.results[0].pattern = Pattern::Stream;
        report.results[0].latency_us = None;
        report.results[0].us_per_message = Some(0.25);
        report.config.pattern = Pattern::Stream;
        let document: Value =
            serde_json::from_slice(&BencherExporter.serialize(&report).unwrap()).unwrap();
        assert_is_bmf(&document);
        let stream = &document["shm-posix/100B/stream"];
        assert!(stream.get("latency").is_none(), "{stream}");
        assert_eq!(stream["throughput"]["value"], report.results[0].ops_per_s);
    }
}
