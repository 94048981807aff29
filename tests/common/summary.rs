//! The summary table a run prints after `OVERALL SUMMARY`, read back cell by cell, so that a
//! test checks a row of the table and not a word that may stand anywhere in the output.

/// The header and the rows of the table, each as its trimmed cells.
pub struct SummaryTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// The cells of a table line (`│ a ┆ b │`), or None for a border line.
fn cells(line: &str) -> Option<Vec<String>> {
    let inner = line.trim().strip_prefix('│')?.strip_suffix('│')?;
    Some(
        inner
            .split('┆')
            .map(|cell| cell.trim().to_string())
            .collect(),
    )
}

impl SummaryTable {
    pub fn parse(out: &str) -> SummaryTable {
        let summary = out
            .split("OVERALL SUMMARY")
            .nth(1)
            .unwrap_or_else(|| panic!("no OVERALL SUMMARY in:\n{out}"));
        let mut lines = summary.lines().filter_map(cells);
        let header = lines
            .next()
            .unwrap_or_else(|| panic!("no table in:\n{summary}"));
        SummaryTable {
            header,
            rows: lines.collect(),
        }
    }

    /// How many rows the table has.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    fn column(&self, name: &str) -> usize {
        let found = self.header.iter().position(|h| h == name);
        found.unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.header))
    }

    /// The cell in `column` of the row of one case: a message size as printed (`100 B`) and a
    /// transport's display name (`ZeroMQ IPC`).
    pub fn cell(&self, size: &str, transport: &str, column: &str) -> &str {
        let (size_column, transport_column) = (self.column("Size"), self.column("Transport"));
        let wanted = self.column(column);
        let rows: Vec<&Vec<String>> = self
            .rows
            .iter()
            .filter(|row| row[size_column] == size && row[transport_column] == transport)
            .collect();
        match rows.as_slice() {
            [row] => &row[wanted],
            _ => panic!("not exactly one {size} {transport} row in {:?}", self.rows),
        }
    }
}
