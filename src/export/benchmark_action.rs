//! `--export-benchmark-action`: the JSON of github-action-benchmark's `customSmallerIsBetter`
//! tool, an array of `{name, unit, value, range, extra}` of which `name`, `unit` and `value`
//! are required, `range` (a string, the spread of the value) and `extra` (a string shown with
//! it) optional. One entry per completed case ([`super::continuous`]): a round trip's mean
//! latency in ns, or a stream's time per message in ns, smaller being better for both;
//! `range` is `± HALF_WIDTH` of the 95% confidence interval of the mean of the run means with
//! two runs or more (left out with one); `extra` gives the runs, the throughput and, for
//! round trips, p50 and p99.

use serde::Serialize;

use super::continuous::{completed_cases, json_document, CaseFigures, CONFIDENCE};
use super::{ExportError, Exporter};
use crate::report::result::Report;
use crate::transport::Pattern;

pub struct BenchmarkActionExporter;

/// One entry of `customSmallerIsBetter`.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    unit: &'static str,
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    extra: String,
}

fn entry(case: &CaseFigures) -> Entry {
    let (unit, per) = match case.pattern {
        Pattern::RoundTrip => ("ns", "round trips/s"),
        Pattern::Stream => ("ns/message", "messages/s"),
        // The mean one-way latency of a message, from its send to the server.
        Pattern::OneWay => ("ns one-way", "messages/s"),
    };
    let range = (case.interval_ns).map(|interval| format!("± {:.1}", interval.half_width));
    let mut extra = match case.interval_ns {
        Some(_) => format!(
            "mean of {} runs, range: {:.0}% confidence interval of the mean of the run means",
            case.runs,
            CONFIDENCE * 100.0
        ),
        None => format!(
            "{} run, no interval: run with --runs 3 or more for one",
            case.runs
        ),
    };
    extra.push_str(&format!("\n{:.1} {per}", case.ops_per_s));
    if let Some((p50, p99)) = case.p50_p99_ns {
        extra.push_str(&format!("\np50 {p50:.1} ns, p99 {p99:.1} ns"));
    }
    Entry {
        name: case.name.clone(),
        unit,
        value: case.mean_ns,
        range,
        extra,
    }
}

impl Exporter for BenchmarkActionExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let entries: Vec<Entry> = completed_cases(report).iter().map(entry).collect();
        json_document(&entries)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::report::test_report::sample;

    /// github-action-benchmark's `BenchmarkResult` (src/extract.ts): `name: string`,
    /// `value: number`, `unit: string`, `range?: string`, `extra?: string`, and nothing else.
    fn assert_is_custom_smaller_is_better(document: &Value) {
        for entry in document.as_array().expect("an array of entries") {
            let entry = entry.as_object().expect("an entry object");
            assert!(
                entry["name"].is_string() && entry["unit"].is_string(),
                "{entry:?}"
            );
            assert!(entry["value"].is_number(), "{entry:?}");
            for (key, value) in entry {
                match key.as_str() {
                    "name" | "unit" | "range" | "extra" => assert!(value.is_string(), "{key}"),
                    "value" => {}
                    other => panic!("{other} is not a field of the format"),
                }
            }
        }
    }

    #[test]
    fn each_completed_case_is_an_entry_with_its_mean_in_ns() {
        let mut report = sample();
        report.results[0].runs = vec![49.0, 50.0, 51.0];
        let bytes = BenchmarkActionExporter.serialize(&report).unwrap();
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        assert_is_custom_smaller_is_better(&document);
        let entries = document.as_array().unwrap();
        assert_eq!(entries.len(), 4, "the failed case left out");
        let first = &entries[0];
        assert_eq!(first["name"], "shm-posix/100B/round-trip");
        assert_eq!(first["unit"], "ns");
        let mean_us = report.results[0].latency_us.unwrap().mean;
        assert_eq!(first["value"], mean_us * 1e3);
        // 50 µs ± t(0.975, 2) · sqrt(1/3) µs = 4.30265 · 0.57735 µs: ± 2484.1 ns.
        assert_eq!(first["range"], "± 2484.1");
        assert!(first["extra"]
            .as_str()
            .unwrap()
            .starts_with("mean of 3 runs"));
        assert!(entries[1].get("range").is_none(), "one run has no range");
    }
}
