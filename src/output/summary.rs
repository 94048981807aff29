//! The summary table: one row per case, built once here and rendered by the terminal table
//! (comfy-table) and the Markdown exporter alike.

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use crate::benchmark::result::{Report, Status};
use crate::output::format;
use crate::size::format_bytes;

pub const HEADER: [&str; 10] = [
    "Size",
    "Transport",
    "Total time",
    "Throughput (ops/s)",
    "MB/s",
    "Mean (µs/call)",
    "p50 (µs)",
    "p99 (µs)",
    "p99.9 (µs)",
    "vs baseline",
];

/// The table's rows as text, in the order of `report.results`.
pub fn rows(report: &Report) -> Vec<[String; 10]> {
    report
        .results
        .iter()
        .map(|result| {
            let size = format_bytes(result.size_bytes);
            let transport = result.transport.display_name().to_string();
            let Some(latency) = result.latency_us else {
                let status = match result.status {
                    Status::Interrupted => "interrupted",
                    _ => "failed",
                };
                let mut row: [String; 10] = Default::default();
                row[0] = size;
                row[1] = transport;
                row[2] = status.into();
                return row;
            };
            let relative = if result.transport == report.config.baseline {
                "baseline".to_string()
            } else {
                report
                    .baseline_for(result)
                    .and_then(|b| b.latency_us)
                    .map_or("n/a".into(), |b| format::relative(latency.mean, b.mean))
            };
            let mut total = format::duration(std::time::Duration::from_secs_f64(result.total_s));
            if result.status == Status::Interrupted {
                total.push_str(" (interrupted)");
            } else if result.status == Status::Failed {
                total.push_str(" (failed)");
            }
            [
                size,
                transport,
                total,
                format::thousands(result.ops_per_s.round() as u64),
                format::rate(result.mb_per_s),
                format::micros(latency.mean),
                format::micros(latency.p50),
                format::micros(latency.p99),
                format::micros(latency.p999),
                relative,
            ]
        })
        .collect()
}

/// Renders the summary for a terminal (fitted to its width) or a pipe (complete width).
pub fn terminal_table(report: &Report, interactive: bool) -> String {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    if interactive {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    table.set_header(HEADER);
    for row in rows(report) {
        table.add_row(row.into_iter().enumerate().map(|(i, text)| {
            let cell = Cell::new(text);
            if i >= 2 {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    table.to_string()
}

/// Lines under the table: noisy cases and failures, with their causes.
pub fn notes(report: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    for result in &report.results {
        let name = format!(
            "{} at {}",
            result.transport.display_name(),
            format_bytes(result.size_bytes)
        );
        if let (true, Some(spread)) = (result.noisy, result.runs_spread()) {
            notes.push(format!(
                "{name}: noisy: runs differ by {:.0}% (run means {:.1}–{:.1} µs, median {:.1} µs)",
                spread * 100.0,
                result.runs_min_us.unwrap_or_default(),
                result.runs_max_us.unwrap_or_default(),
                result.runs_median_us.unwrap_or_default()
            ));
        }
        if let Some(error) = &result.error {
            notes.push(format!("{name}: {error}"));
        }
    }
    notes
}
