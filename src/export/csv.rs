//! `--export-csv`: one row per case with the figures flattened, after a header line: a
//! serialized [`CsvRow`] through the csv crate, which quotes as RFC 4180 says and names the
//! columns after the row's fields.

use serde::Serialize;

use super::{ExportError, Exporter};
use crate::printable;
use crate::report::result::{BenchmarkResult, CpuUse, ModeSplit, Report, Status};
use crate::transport::TransportKind;

pub struct CsvExporter;

/// A figure as Rust writes it (`0.25`, `1`, `50000`): the CSV keeps the figures the JSON and
/// earlier versions wrote, where the csv crate's own float format would write `1.0` or `1e16`.
#[derive(Debug, Clone, Copy)]
struct Figure(f64);

impl Serialize for Figure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

fn figure(value: Option<f64>) -> Option<Figure> {
    value.map(Figure)
}

/// One row: the columns are these fields, in this order, and the header their names.
#[derive(Debug, Serialize)]
struct CsvRow<'a> {
    transport: &'a str,
    size_bytes: usize,
    /// As the JSON writes it: `ok`, `failed`, `interrupted`, `skipped`.
    status: Status,
    iterations: u64,
    total_s: Figure,
    ops_per_s: Figure,
    mb_per_s: Figure,
    mean_us: Option<Figure>,
    stddev_us: Option<Figure>,
    min_us: Option<Figure>,
    p50_us: Option<Figure>,
    p90_us: Option<Figure>,
    p99_us: Option<Figure>,
    p999_us: Option<Figure>,
    max_us: Option<Figure>,
    runs: usize,
    runs_median_us: Option<Figure>,
    runs_min_us: Option<Figure>,
    runs_max_us: Option<Figure>,
    noisy: bool,
    mean_corrected_us: Option<Figure>,
    pin: String,
    same_cpu_share: Option<Figure>,
    interval_s: Option<Figure>,
    behind_schedule: Option<u64>,
    /// Text from elsewhere (a server's message) has its control characters replaced: a CSV
    /// may be printed (`--export-csv -`). A line break stays, quoted.
    warnings: String,
    error: Option<String>,
    skip_reason: Option<String>,
    cpu_driver_us: Option<Figure>,
    cpu_server_us: Option<Figure>,
    cpu_driver_cpus: Option<Figure>,
    cpu_server_cpus: Option<Figure>,
    pattern: &'a str,
    us_per_message: Option<Figure>,
    cpu_driver_user_us: Option<Figure>,
    cpu_driver_system_us: Option<Figure>,
    cpu_server_user_us: Option<Figure>,
    cpu_server_system_us: Option<Figure>,
}

/// One side's user/system split of a result's CPU time, if it has one.
fn split(result: &BenchmarkResult, side: fn(&CpuUse) -> Option<ModeSplit>) -> Option<ModeSplit> {
    result.cpu.as_ref().and_then(side)
}

/// `none`, or `MODE:DRIVER_CPU,SERVER_CPU`.
fn pin_cell(report: &Report) -> String {
    match report.config.pin {
        None => "none".into(),
        Some(pin) => format!("{}:{},{}", pin.mode, pin.driver_cpu, pin.server_cpu),
    }
}

fn text(value: &str) -> String {
    printable::text(value).into_owned()
}

fn row<'a>(report: &Report, r: &'a BenchmarkResult) -> CsvRow<'a> {
    let l = r.latency_us;
    let warnings: Vec<&str> = r.warnings.iter().map(|w| w.message.as_str()).collect();
    let user = |side| figure(split(r, side).map(|s| s.user_us_per_round_trip));
    let system = |side| figure(split(r, side).map(|s| s.system_us_per_round_trip));
    CsvRow {
        transport: r.transport.name(),
        size_bytes: r.size_bytes,
        status: r.status,
        iterations: r.iterations,
        total_s: Figure(r.total_s),
        ops_per_s: Figure(r.ops_per_s),
        mb_per_s: Figure(r.mb_per_s),
        mean_us: figure(l.map(|l| l.mean)),
        stddev_us: figure(l.map(|l| l.stddev)),
        min_us: figure(l.map(|l| l.min)),
        p50_us: figure(l.map(|l| l.p50)),
        p90_us: figure(l.map(|l| l.p90)),
        p99_us: figure(l.map(|l| l.p99)),
        p999_us: figure(l.map(|l| l.p999)),
        max_us: figure(l.map(|l| l.max)),
        runs: r.runs.len(),
        runs_median_us: figure(r.runs_median_us),
        runs_min_us: figure(r.runs_min_us),
        runs_max_us: figure(r.runs_max_us),
        noisy: r.noisy,
        mean_corrected_us: figure(l.map(|l| l.mean_corrected)),
        pin: pin_cell(report),
        same_cpu_share: figure(r.placement.as_ref().map(|p| p.same_cpu_share)),
        interval_s: figure(report.config.interval_s),
        behind_schedule: r.behind_schedule,
        warnings: text(&warnings.join("; ")),
        error: r.error.as_deref().map(text),
        skip_reason: r.skip_reason.as_deref().map(text),
        cpu_driver_us: figure(r.cpu.map(|c| c.driver_us_per_round_trip)),
        cpu_server_us: figure(r.cpu.and_then(|c| c.server_us_per_round_trip)),
        cpu_driver_cpus: figure(r.cpu.map(|c| c.driver_cpus)),
        cpu_server_cpus: figure(r.cpu.and_then(|c| c.server_cpus)),
        pattern: r.pattern.name(),
        us_per_message: figure(r.us_per_message),
        cpu_driver_user_us: user(|c| c.driver_split),
        cpu_driver_system_us: system(|c| c.driver_split),
        cpu_server_user_us: user(|c| c.server_split),
        cpu_server_system_us: system(|c| c.server_split),
    }
}

fn csv_error(error: csv::Error) -> ExportError {
    ExportError::Csv(error)
}

impl Exporter for CsvExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for r in &report.results {
            writer.serialize(row(report, r)).map_err(csv_error)?;
        }
        // The header comes with the first row; a report of no case still has it.
        let placeholder = BenchmarkResult::skipped(TransportKind::all()[0], 0, String::new());
        if report.results.is_empty() {
            writer
                .serialize(row(report, &placeholder))
                .map_err(csv_error)?;
        }
        let mut bytes = writer
            .into_inner()
            .map_err(|e| csv_error(e.into_error().into()))?;
        if report.results.is_empty() {
            let header_end = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
            bytes.truncate(header_end);
        }
        Ok(bytes)
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
        assert_eq!(lines[0].split(',').count(), 38);
        assert!(lines[1].starts_with("shm-posix,100,ok,100,"));
        // The failed row's error has a comma and quotes: quoted, quotes doubled.
        assert!(lines[5].ends_with(
            "\"server exited: killed by signal 9 (SIGKILL), \"\"quoted\"\"\",,,,,,round-trip,,,,,"
        ));
    }

    /// The columns of every earlier version, in their order: scripts read them by position.
    const EARLIER_HEADER: &str = "transport,size_bytes,status,iterations,total_s,ops_per_s,\
        mb_per_s,mean_us,stddev_us,min_us,p50_us,p90_us,p99_us,p999_us,max_us,runs,\
        runs_median_us,runs_min_us,runs_max_us,noisy,mean_corrected_us,pin,same_cpu_share,\
        interval_s,behind_schedule,warnings,error,skip_reason,cpu_driver_us,cpu_server_us,\
        cpu_driver_cpus,cpu_server_cpus,pattern,us_per_message,cpu_driver_user_us,\
        cpu_driver_system_us,cpu_server_user_us,cpu_server_system_us";

    #[test]
    fn the_header_is_the_earlier_one_even_without_cases_and_a_reader_gets_the_text_back() {
        let text = String::from_utf8(CsvExporter.serialize(&sample()).unwrap()).unwrap();
        assert_eq!(text.lines().next(), Some(EARLIER_HEADER));
        let mut empty = sample();
        empty.results.clear();
        let header = String::from_utf8(CsvExporter.serialize(&empty).unwrap()).unwrap();
        assert_eq!(header, format!("{EARLIER_HEADER}\n"));
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 5);
        assert_eq!(
            &rows[4][26],
            "server exited: killed by signal 9 (SIGKILL), \"quoted\""
        );
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
