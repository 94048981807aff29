//! `--export-csv`: one row per case with the figures flattened, after a header line.

use super::{ExportError, Exporter};
use crate::printable;
use crate::report::result::{BenchmarkResult, CpuUse, ModeSplit, Report};

pub struct CsvExporter;

const COLUMNS: [&str; 38] = [
    "transport",
    "size_bytes",
    "status",
    "iterations",
    "total_s",
    "ops_per_s",
    "mb_per_s",
    "mean_us",
    "stddev_us",
    "min_us",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "max_us",
    "runs",
    "runs_median_us",
    "runs_min_us",
    "runs_max_us",
    "noisy",
    "mean_corrected_us",
    "pin",
    "same_cpu_share",
    "interval_s",
    "behind_schedule",
    "warnings",
    "error",
    "skip_reason",
    "cpu_driver_us",
    "cpu_server_us",
    "cpu_driver_cpus",
    "cpu_server_cpus",
    "pattern",
    "us_per_message",
    "cpu_driver_user_us",
    "cpu_driver_system_us",
    "cpu_server_user_us",
    "cpu_server_system_us",
];

/// Quotes a field when it holds a comma, quote or newline (RFC 4180), its control characters
/// (but a line break) replaced: a CSV may be printed (`--export-csv -`).
fn field(text: &str) -> String {
    let text = printable::text(text);
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One side's user/system split of a result's CPU time, if it has one.
fn split(result: &BenchmarkResult, side: fn(&CpuUse) -> Option<ModeSplit>) -> Option<ModeSplit> {
    result.cpu.as_ref().and_then(side)
}

fn opt(value: Option<f64>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

/// `none`, or `MODE:DRIVER_CPU,SERVER_CPU`.
fn pin_cell(report: &Report) -> String {
    match report.config.pin {
        None => "none".into(),
        Some(pin) => format!("{}:{},{}", pin.mode, pin.driver_cpu, pin.server_cpu),
    }
}

fn row(report: &Report, r: &BenchmarkResult) -> [String; COLUMNS.len()] {
    let l = r.latency_us;
    let warnings: Vec<&str> = r.warnings.iter().map(|w| w.message.as_str()).collect();
    [
        r.transport.name().to_string(),
        r.size_bytes.to_string(),
        serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        r.iterations.to_string(),
        r.total_s.to_string(),
        r.ops_per_s.to_string(),
        r.mb_per_s.to_string(),
        opt(l.map(|l| l.mean)),
        opt(l.map(|l| l.stddev)),
        opt(l.map(|l| l.min)),
        opt(l.map(|l| l.p50)),
        opt(l.map(|l| l.p90)),
        opt(l.map(|l| l.p99)),
        opt(l.map(|l| l.p999)),
        opt(l.map(|l| l.max)),
        r.runs.len().to_string(),
        opt(r.runs_median_us),
        opt(r.runs_min_us),
        opt(r.runs_max_us),
        r.noisy.to_string(),
        opt(l.map(|l| l.mean_corrected)),
        pin_cell(report),
        opt(r.placement.as_ref().map(|p| p.same_cpu_share)),
        opt(report.config.interval_s),
        r.behind_schedule.map_or(String::new(), |n| n.to_string()),
        field(&warnings.join("; ")),
        r.error.as_deref().map(field).unwrap_or_default(),
        r.skip_reason.as_deref().map(field).unwrap_or_default(),
        opt(r.cpu.map(|c| c.driver_us_per_round_trip)),
        opt(r.cpu.and_then(|c| c.server_us_per_round_trip)),
        opt(r.cpu.map(|c| c.driver_cpus)),
        opt(r.cpu.and_then(|c| c.server_cpus)),
        r.pattern.to_string(),
        opt(r.us_per_message),
        opt(split(r, |c| c.driver_split).map(|s| s.user_us_per_round_trip)),
        opt(split(r, |c| c.driver_split).map(|s| s.system_us_per_round_trip)),
        opt(split(r, |c| c.server_split).map(|s| s.user_us_per_round_trip)),
        opt(split(r, |c| c.server_split).map(|s| s.system_us_per_round_trip)),
    ]
}

impl Exporter for CsvExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut out = COLUMNS.join(",");
        out.push('\n');
        for r in &report.results {
            out.push_str(&row(report, r).join(","));
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_report::{sample, sample_with_cpu};
    use crate::transport::kinds::zmq_ipc;
    use crate::transport::Pattern;

    #[test]
    fn one_row_per_case_with_a_header() {
        let text = String::from_utf8(CsvExporter.serialize(&sample()).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 5);
        assert_eq!(lines[0].split(',').count(), COLUMNS.len());
        assert!(lines[1].starts_with("shm-posix,100,ok,100,"));
        // The failed row's error has a comma and quotes: quoted, quotes doubled.
        assert!(lines[5].ends_with(
            "\"server exited: killed by signal 9 (SIGKILL), \"\"quoted\"\"\",,,,,,round-trip,,,,,"
        ));
    }

    #[test]
    fn control_characters_in_a_field_are_replaced_and_its_line_break_quoted() {
        let mut report = sample();
        report.results[4].error = Some("server said \u{1b}[2J\u{9b}1m\nbye\r".into());
        let text = String::from_utf8(CsvExporter.serialize(&report).unwrap()).unwrap();
        assert!(
            text.contains("\"server said \u{fffd}[2J\u{fffd}1m\nbye\u{fffd}\""),
            "{text}"
        );
    }

    #[test]
    fn a_stream_says_so_and_has_its_time_per_message() {
        let mut report = sample();
        report.results[0].pattern = Pattern::Stream;
        report.results[0].us_per_message = Some(0.25);
        let text = String::from_utf8(CsvExporter.serialize(&report).unwrap()).unwrap();
        assert!(text
            .lines()
            .next()
            .unwrap()
            .contains(",pattern,us_per_message,"));
        let row = text.lines().nth(1).unwrap();
        assert!(row.ends_with(",stream,0.25,,,,"), "{row}");
    }

    #[test]
    fn the_cpu_columns_carry_the_json_figures_and_stay_empty_for_an_unknown_server() {
        let report = sample_with_cpu();
        let text = String::from_utf8(CsvExporter.serialize(&report).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(
            ",cpu_driver_us,cpu_server_us,cpu_driver_cpus,cpu_server_cpus,pattern,us_per_message,\
             cpu_driver_user_us,cpu_driver_system_us,cpu_server_user_us,cpu_server_system_us"
        ));
        assert!(
            lines[1].ends_with(",1.25,2.5,0.25,0.75,round-trip,,1,0.25,,"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].ends_with(",1.25,,0.25,,round-trip,,1,0.25,,"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn a_skipped_case_has_its_status_and_reason() {
        let mut report = sample();
        let reason = "larger than msgsize_max 8192".to_string();
        report.results = vec![BenchmarkResult::skipped(zmq_ipc::KIND, 65_536, reason)];
        let text = String::from_utf8(CsvExporter.serialize(&report).unwrap()).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert!(row.starts_with("zmq-ipc,65536,skipped,0,"), "{row}");
        assert!(
            row.ends_with(",,larger than msgsize_max 8192,,,,,round-trip,,,,,"),
            "{row}"
        );
    }
}
