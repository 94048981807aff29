//! `--export-json`: the [`Report`] as one JSON document (schema in docs/json-schema.md), which
//! says the version of its schema (`schema_version`) for the readers of saved reports.

use super::{ExportError, Exporter};
use crate::report::result::Report;

pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut bytes = serde_json::to_vec_pretty(report).map_err(ExportError::Json)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::{PairFigures, WarningRecord, HDR_V2_BUDGET_BYTES};
    use crate::report::saved::MAX_REPORT_BYTES;
    use crate::transport::TransportKind;
    use crate::values::{MAX_PAIRS, MAX_RUNS, MAX_SIZES};

    /// The tool reads back every report it writes: the largest one it can write (every size a
    /// run may have, times every transport, each case with its most runs and pairs, a long
    /// error and every warning, figures of many digits, and the whole budget of V2 histograms
    /// on top of each case's empty strings for them) is within what `plot` and `compare` read,
    /// with a quarter of it to spare: each transport added costs about 6 MB of it (256 sizes),
    /// so this test says when the limits must be weighed again.
    #[test]
    fn the_largest_report_the_tool_can_write_is_one_it_reads_back() {
        let mut report = sample();
        let mut case = report.results[0].clone();
        let long = 123_456.789_012_345_67;
        case.runs = vec![long; MAX_RUNS as usize];
        case.per_pair = (1..=MAX_PAIRS as usize)
            .map(|pair| PairFigures {
                pair,
                iterations: u64::MAX,
                ops_per_s: long,
                mean_us: long,
            })
            .collect();
        case.error = Some("e".repeat(4096));
        case.hdr_histogram_v2 = Some(String::new());
        case.runs_hdr_histogram_v2 = vec![String::new(); MAX_RUNS as usize];
        case.hdr_histogram_v2_note = Some("n".repeat(256));
        case.warnings = (0..8)
            .map(|_| WarningRecord {
                kind: "bimodal",
                message: "w".repeat(256),
            })
            .collect();
        report.results = vec![case.clone()];
        let one = JsonExporter.serialize(&report).unwrap().len();
        report.results.push(case);
        let per_case = JsonExporter.serialize(&report).unwrap().len() - one;
        let cases = MAX_SIZES * TransportKind::all().len();
        let largest = one + per_case * cases + HDR_V2_BUDGET_BYTES;
        assert!(
            (largest as u64) < MAX_REPORT_BYTES / 4 * 3,
            "{cases} cases of {per_case} bytes: {largest} bytes"
        );
    }
    use crate::report::result::BenchmarkResult;
    use crate::report::schema::SCHEMA_VERSION;
    use crate::report::test_report::sample;
    use crate::transport::kinds::zmq_ipc;

    #[test]
    fn round_trips_with_the_documented_fields() {
        let bytes = JsonExporter.serialize(&sample()).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["tool"], "transport-bench");
        assert_eq!(doc["schema_version"], SCHEMA_VERSION);
        for key in [
            "iterations",
            "warmup",
            "runs",
            "buffer_size",
            "timeout_s",
            "transports",
            "sizes",
        ] {
            assert!(!doc["config"][key].is_null(), "config.{key}");
        }
        for key in ["cpu", "cores", "kernel", "os"] {
            assert!(!doc["machine"][key].is_null(), "machine.{key}");
        }
        assert_eq!(doc["clock_overhead_ns"], 25.0);
        let results = doc["results"].as_array().unwrap();
        assert_eq!(results.len(), 5);
        let first = &results[0];
        assert_eq!(first["transport"], "shm-posix");
        assert_eq!(first["size_bytes"], 100);
        assert_eq!(first["status"], "ok");
        assert!(first["error"].is_null());
        let latency = &first["latency_us"];
        let order: Vec<f64> = ["min", "p50", "p90", "p99", "p999", "max"]
            .iter()
            .map(|k| latency[k].as_f64().unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
        let ops = first["ops_per_s"].as_f64().unwrap();
        let expected = first["iterations"].as_f64().unwrap() / first["total_s"].as_f64().unwrap();
        assert!((ops - expected).abs() < 1e-6 * expected);
        assert_eq!(
            first["histogram"].as_array().unwrap()[0]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let failed = &results[4];
        assert_eq!(failed["status"], "failed");
        assert!(failed["error"].as_str().unwrap().contains("signal 9"));
        assert!(failed["latency_us"].is_null());
        assert!(failed["skip_reason"].is_null());
    }

    #[test]
    fn a_skipped_case_has_its_status_and_reason() {
        let mut report = sample();
        let reason = "larger than msgsize_max 8192".to_string();
        report.results = vec![BenchmarkResult::skipped(zmq_ipc::KIND, 65_536, reason)];
        let bytes = JsonExporter.serialize(&report).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let skipped = &doc["results"][0];
        assert_eq!(skipped["status"], "skipped");
        assert_eq!(skipped["skip_reason"], "larger than msgsize_max 8192");
        assert!(skipped["error"].is_null() && skipped["latency_us"].is_null());
    }
}
