//! `--export-markdown`: the summary table as a Markdown table.

use super::Exporter;
use crate::benchmark::result::Report;
use crate::output::summary;

pub struct MarkdownExporter;

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

impl Exporter for MarkdownExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, String> {
        let mut out = format!("| {} |\n", summary::HEADER.join(" | "));
        let align: Vec<&str> = (0..summary::HEADER.len())
            .map(|i| if i < 2 { ":---" } else { "---:" })
            .collect();
        out.push_str(&format!("| {} |\n", align.join(" | ")));
        for row in summary::rows(report) {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out.push_str(&format!(
            "\nRound-trip latencies (request + echo), {} iterations per case, relative to {}. {}.\n",
            report.config.iterations,
            report.config.baseline.display_name(),
            report.machine.cpu
        ));
        Ok(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_report::sample;

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
}
