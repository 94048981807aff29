//! `--export-markdown`: the summary table as a Markdown table.

use super::{ExportError, Exporter};
use crate::printable;
use crate::report::result::Report;
use crate::report::table::{self, Alignment, SummaryTable};

pub struct MarkdownExporter;

/// One line of the table, with `|` escaped inside cells and control characters (a line break
/// among them) replaced.
fn table_line<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> String {
    let cells: Vec<String> = cells
        .into_iter()
        .map(|c| printable::field(c.as_ref()).replace('|', "\\|"))
        .collect();
    format!("| {} |\n", cells.join(" | "))
}

impl Exporter for MarkdownExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let table = SummaryTable::new(report);
        let mut out = table_line(table.header);
        out.push_str(&table_line((0..table.header.len()).map(
            |i| match SummaryTable::alignment(i) {
                Alignment::Left => ":---",
                Alignment::Right => "---:",
            },
        )));
        for row in &table.rows_with_interval(" ") {
            out.push_str(&table_line(row));
        }
        let what = report.config.workload().figures().markdown_heading;
        out.push_str(&format!(
            "\n{what}, {}, relative to {}. {}.\n",
            table::runs_line(&report.config, "iterations"),
            report.config.baseline.display_name(),
            printable::field(&report.machine.cpu)
        ));
        out.push_str(&format!("{}\n", table.cpu_note()));
        out.push_str(&format!("{}.\n", table::placement_line(&report.config)));
        for line in table::pairs_line(&report.config)
            .into_iter()
            .chain(table::in_flight_line(&report.config))
        {
            out.push_str(&format!("{line}.\n"));
        }
        if let Some(pacing) = table::pacing_line(&report.config) {
            out.push_str(&format!("{pacing}.\n"));
        }
        if let Some(note) = &table.interval_note {
            out.push_str(&format!("{note}.\n"));
        }
        for note in report.results.iter().filter_map(table::skip_note) {
            out.push_str(&format!("{note}.\n"));
        }
        Ok(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::BenchmarkResult;
    use crate::report::test_report::sample;
    use crate::transport::kinds::zmq_ipc;

    #[test]
    fn control_characters_of_a_cpu_name_are_replaced() {
        let mut report = sample();
        report.machine.cpu = "Xeon\u{1b}]0;owned\u{7}\u{9b}2J|\n\u{fffe}\u{ffff}".into();
        let text = String::from_utf8(MarkdownExporter.serialize(&report).unwrap()).unwrap();
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{fffe}', '\u{ffff}'] {
            assert!(!text.contains(bad), "{bad:?} in {text}");
        }
        // The CPU name stays on its line, its `|` (outside the table) as it is.
        let line = "SHM POSIX. Xeon\u{fffd}]0;owned\u{fffd}\u{fffd}2J|\u{fffd}\u{fffd}\u{fffd}.\n";
        assert!(text.contains(line), "{text}");
    }

    #[test]
    fn one_table_row_per_case() {
        let text = String::from_utf8(MarkdownExporter.serialize(&sample()).unwrap()).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 2 + 5);
        assert!(rows[0].contains("p99.9 (µs)"));
        assert!(rows
            .iter()
            .any(|r| r.contains("ZeroMQ IPC") && r.contains("% slower")));
        assert!(rows.iter().any(|r| r.contains("failed")));
    }

    #[test]
    fn a_skipped_case_has_its_row_and_its_reason_under_the_table() {
        let mut report = sample();
        let reason = "larger than msgsize_max 8192".to_string();
        let skipped = BenchmarkResult::skipped(zmq_ipc::KIND, 65_536, reason);
        report.results.push(skipped);
        let text = String::from_utf8(MarkdownExporter.serialize(&report).unwrap()).unwrap();
        assert!(text.contains("| 64 KiB | ZeroMQ IPC | skipped |"), "{text}");
        assert!(
            text.contains("\nZeroMQ IPC at 64 KiB: skipped: larger than msgsize_max 8192.\n"),
            "{text}"
        );
    }

    #[test]
    fn the_footer_says_iterations_per_run_and_runs_and_each_mean_its_interval() {
        let mut report = sample();
        (report.config.iterations, report.config.runs) = (Some(5000), 3);
        report.results[0].runs = vec![40.0, 60.0, 50.0];
        let text = String::from_utf8(MarkdownExporter.serialize(&report).unwrap()).unwrap();
        let footer = "5000 iterations per run, 3 runs per case (15,000 in all), relative to";
        assert!(text.contains(footer), "{text}");
        assert!(text.contains("| 100 B | SHM POSIX | "), "{text}");
        assert!(text.contains(" | 50.5 ±49.7% | "), "{text}");
        assert!(text.contains("\n±: the 95% confidence interval of the Mean"));
    }
}
