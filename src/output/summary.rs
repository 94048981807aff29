//! The summary table on the terminal: renders the [`SummaryTable`] with comfy-table, complete
//! when piped, compact on a terminal too narrow for it.

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use crate::report::table::{Alignment, Row, SummaryTable, CPU_COLUMN, TOTAL_TIME_COLUMN};

const MIN_TERMINAL_WIDTH: u16 = 80;

/// The summary table as drawn, and whether columns were left out to fit the terminal.
pub struct TerminalTable {
    pub text: String,
    /// The compact layout: Total time and CPU are not shown, and the footnotes say so.
    pub compact: bool,
}

/// Said under a compact table instead of the CPU column's legend: what is missing, and where
/// to see it.
/// Two lines, each narrower than the 80 columns the compact table is drawn for.
pub const LEFT_OUT_NOTE: &str = "Left out at this width: the Total time and CPU columns.\n\
A wider terminal, a pipe (| less -S) or --export-markdown shows every column.";

/// Renders the summary. Piped, it is complete. On a terminal too narrow for the complete table
/// (at least 80 columns are assumed), it switches to a compact layout rather than wrapping
/// numbers in the middle.
pub fn terminal_table(table: &SummaryTable, interactive: bool) -> TerminalTable {
    // A pty without a window size reports a width near zero.
    let terminal_width =
        interactive.then(|| Table::new().width().unwrap_or(0).max(MIN_TERMINAL_WIDTH));
    render(table, terminal_width)
}

/// The table for a terminal of `terminal_width` columns, or complete when None.
fn render(summary: &SummaryTable, terminal_width: Option<u16>) -> TerminalTable {
    // A mean's interval on a line of its own: the row grows taller, not wider.
    let rows = &summary.rows_with_interval("\n");
    let mut table = Table::new();
    let fits =
        terminal_width.is_none_or(|w| usize::from(w) >= natural_width(&summary.header, rows));
    if fits {
        table.load_preset(presets::UTF8_FULL_CONDENSED);
        table.set_header(summary.header);
        add_rows(&mut table, rows.iter().map(|r| r.to_vec()));
    } else {
        table.load_preset(presets::UTF8_HORIZONTAL_ONLY);
        table.set_header(summary.figures.compact_header);
        add_rows(
            &mut table,
            rows.iter().map(|r| {
                let mut row = r.to_vec();
                // The later column first, so that the earlier one's index still holds.
                row.remove(CPU_COLUMN);
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
    TerminalTable {
        text: table.to_string(),
        compact: !fits,
    }
}

/// Adds rows of the complete or compact layout; in both, the name columns come first.
fn add_rows(table: &mut Table, rows: impl Iterator<Item = Vec<String>>) {
    for row in rows {
        table.add_row(row.into_iter().enumerate().map(|(i, text)| {
            let cell = Cell::new(text);
            match SummaryTable::alignment(i) {
                Alignment::Left => cell,
                Alignment::Right => cell.set_alignment(CellAlignment::Right),
            }
        }));
    }
}

/// Width of the bordered table with no wrapping: widest cell per column, plus padding and
/// borders (3 per column, 1 at the end).
fn natural_width(header: &[&str], rows: &[Row]) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_report::sample;

    #[test]
    fn complete_table_when_piped() {
        let rendered = render(&SummaryTable::new(&sample()), None);
        assert!(!rendered.compact);
        let text = rendered.text;
        assert!(text.contains("Total time") && text.contains("Throughput (ops/s)"));
        assert!(text.contains("200.0% slower"), "{text}");
    }

    #[test]
    fn compact_table_fits_80_columns_without_breaking_numbers() {
        let rendered = render(&SummaryTable::new(&sample()), Some(80));
        assert!(rendered.compact);
        assert!(LEFT_OUT_NOTE.lines().all(|line| line.chars().count() <= 80));
        let text = rendered.text;
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(!text.contains("Total time"));
        assert!(!text.contains("CPU"), "{text}");
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

    #[test]
    fn a_means_interval_takes_a_line_of_its_own_and_no_column() {
        let mut report = sample();
        for result in &mut report.results {
            result.runs = vec![40.0, 60.0, 50.0];
        }
        let table = SummaryTable::new(&report);
        for width in [Some(80), None] {
            let text = render(&table, width).text;
            let lines: Vec<&str> = text.lines().collect();
            let mean = lines.iter().position(|l| l.contains("50.5")).unwrap();
            assert!(lines[mean + 1].contains("±49.7%"), "{text}");
            assert!(lines.iter().all(|l| l.chars().count() <= 80) || width.is_none());
        }
    }
}
