//! The summary table: one row per case, built once here and rendered by the terminal table
//! (comfy-table) and the Markdown exporter alike.

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use crate::benchmark::result::{Report, Status};
use crate::output::format;
use crate::size::format_bytes;

const MIN_TERMINAL_WIDTH: u16 = 80;

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

/// Headers of the compact layout: two lines each, no Total time column (it is iterations
/// divided by ops/s, and the exports keep it).
const COMPACT_HEADER: [&str; 9] = [
    "Size",
    "Transport",
    "ops/s",
    "MB/s",
    "Mean\nµs",
    "p50\nµs",
    "p99\nµs",
    "p99.9\nµs",
    "vs\nbaseline",
];
const TOTAL_TIME_COLUMN: usize = 2;

/// Renders the summary. Piped, it is complete. On a terminal too narrow for the complete table
/// (at least 80 columns are assumed), it switches to a compact layout rather than wrapping
/// numbers in the middle.
pub fn terminal_table(report: &Report, interactive: bool) -> String {
    // A pty without a window size reports a width near zero.
    let terminal_width =
        interactive.then(|| Table::new().width().unwrap_or(0).max(MIN_TERMINAL_WIDTH));
    render(report, terminal_width)
}

/// The table for a terminal of `terminal_width` columns, or complete when None.
fn render(report: &Report, terminal_width: Option<u16>) -> String {
    let rows = rows(report);
    let mut table = Table::new();
    let fits = terminal_width.is_none_or(|w| usize::from(w) >= natural_width(&HEADER, &rows));
    if fits {
        table.load_preset(presets::UTF8_FULL_CONDENSED);
        table.set_header(HEADER);
        add_rows(&mut table, rows.iter().map(|r| r.to_vec()));
    } else {
        table.load_preset(presets::UTF8_HORIZONTAL_ONLY);
        table.set_header(COMPACT_HEADER);
        add_rows(
            &mut table,
            rows.iter().map(|r| {
                let mut row = r.to_vec();
                row.remove(TOTAL_TIME_COLUMN);
                row
            }),
        );
        for column in table.column_iter_mut() {
            column.set_padding((0, 1));
        }
    }
    if let Some(width) = terminal_width {
        table.set_content_arrangement(ContentArrangement::Dynamic);
        table.set_width(width);
    }
    table.to_string()
}

fn add_rows(table: &mut Table, rows: impl Iterator<Item = Vec<String>>) {
    for row in rows {
        table.add_row(row.into_iter().enumerate().map(|(i, text)| {
            let cell = Cell::new(text);
            if i >= 2 {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
}

/// Width of the bordered table with no wrapping: widest cell per column, plus padding and
/// borders (3 per column, 1 at the end).
fn natural_width(header: &[&str], rows: &[[String; 10]]) -> usize {
    let width = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| width(&row[i]))
                .chain([width(header[i])])
                .max()
                .unwrap_or(0)
                + 3
        })
        .sum::<usize>()
        + 1
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
                "{name}: noisy: run means {:.1}–{:.1} µs, median {:.1} (spread {:.0}%)",
                result.runs_min_us.unwrap_or_default(),
                result.runs_max_us.unwrap_or_default(),
                result.runs_median_us.unwrap_or_default(),
                spread * 100.0
            ));
        }
        if let Some(error) = &result.error {
            notes.push(format!("{name}: {error}"));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_report::sample;

    #[test]
    fn complete_table_when_piped() {
        let text = render(&sample(), None);
        assert!(text.contains("Total time") && text.contains("Throughput (ops/s)"));
        assert!(text.contains("200.0% slower"), "{text}");
    }

    #[test]
    fn compact_table_fits_80_columns_without_breaking_numbers() {
        let text = render(&sample(), Some(80));
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(!text.contains("Total time"));
        for whole in [
            "ZeroMQ IPC",
            "SHM POSIX",
            "200.0% slower",
            "10 KB",
            "p99.9",
            "baseline",
        ] {
            assert!(text.contains(whole), "{whole} broken in:\n{text}");
        }
    }
}
