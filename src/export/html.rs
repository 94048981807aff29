//! `--export-html FILE`: the whole report as one self-contained page, as criterion's HTML
//! report is: the header facts, the summary table with its notes, the plot (the SVG of
//! `--plot`, inline), each case's latency spectrum as numbers, and the warnings. No script, no
//! stylesheet or font from elsewhere: the page opens offline, in any browser. It is written as
//! well-formed XHTML (served as HTML, which parses it the same), so that an XML parser checks it.

use super::svg_plot::{PlotData, SvgPlotExporter};
use super::{xml_escape as escape, ExportError, Exporter};
use crate::report::format;
use crate::report::header::setup_facts;
use crate::report::result::{BenchmarkResult, Report};
use crate::report::size::format_bytes;
use crate::report::table::{self, Alignment, SummaryTable};

pub struct HtmlExporter;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1240px}\
table{border-collapse:collapse;margin:0.5em 0}\
th,td{border:1px solid #bbb;padding:0.25em 0.6em}\
th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}\
ul.facts{list-style:none;padding-left:0}.warning{color:#8a3b00}\
details{margin:0.3em 0}summary{cursor:pointer}\
table.js-sortable th{cursor:pointer}th[aria-sort=ascending]::after{content:\" \\25B2\"}\
th[aria-sort=descending]::after{content:\" \\25BC\"}";

/// The header's facts (what was measured, how, on which machine), as the terminal shows them
/// with --verbose: the page is the run's record.
fn facts(report: &Report) -> String {
    let mut out = String::from("<h2>Setup</h2>\n<ul class=\"facts\">\n");
    for line in setup_facts(report, true)
        .iter()
        .filter(|line| !line.trim().is_empty())
    {
        out.push_str(&format!("<li>{}</li>\n", escape(line)));
    }
    out.push_str(&format!(
        "<li>transport-bench {}, report schema {}, {}</li>\n</ul>\n",
        escape(report.version),
        report.schema_version,
        escape(&report.state)
    ));
    out
}

/// Sorts a table of class `sortable` by the column whose heading is clicked (again: the other
/// way), by each cell's `data-sort`, else its text; numbers before words. Inline, so the page
/// stays one file that opens offline; without JavaScript the table reads as it is. In CDATA,
/// so that the page stays well-formed XML.
const SORT_SCRIPT: &str = "//<![CDATA[
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.classList.add('js-sortable');
  table.querySelectorAll('th').forEach(function (th, column) {
    th.tabIndex = 0;
    th.title = 'Sort by this column';
    function key(row) {
      var cell = row.cells[column], text = cell.getAttribute('data-sort');
      if (text === null) text = cell.textContent;
      var number = parseFloat(text.replace(/,/g, ''));
      return isNaN(number) ? text : number;
    }
    function sort() {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var up = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
  });
});
//]]>";

/// What a cell sorts by when its text does not say it as a leading number: a size in bytes,
/// a total time in seconds, the change against the baseline as a signed percentage.
fn sort_key(report: &Report, result: &BenchmarkResult, column: usize) -> Option<String> {
    match column {
        0 => Some(result.size_bytes.to_string()),
        table::TOTAL_TIME_COLUMN => result.mean_us().map(|_| result.total_s.to_string()),
        table::VERSUS_BASELINE_COLUMN => {
            let mean = result.mean_us()?;
            let base = report.baseline_for(result)?.mean_us()?;
            Some((100.0 * (mean / base - 1.0)).to_string())
        }
        _ => None,
    }
}

/// The summary's rows, each mean with its interval, numbers right-aligned, with sort keys.
fn summary_rows(report: &Report, table: &SummaryTable) -> String {
    let mut out = String::new();
    for (row, result) in table.rows_with_interval(" ").iter().zip(&report.results) {
        out.push_str("<tr>");
        for (column, cell) in row.iter().enumerate() {
            let class = match SummaryTable::alignment(column) {
                Alignment::Left => "",
                Alignment::Right => " class=\"num\"",
            };
            let key = sort_key(report, result, column)
                .map_or(String::new(), |key| format!(" data-sort=\"{key}\""));
            out.push_str(&format!("<td{class}{key}>{}</td>", escape(cell)));
        }
        out.push_str("</tr>\n");
    }
    out
}

fn summary_table(report: &Report) -> String {
    let table = SummaryTable::new(report);
    let mut out =
        String::from("<h2>Summary</h2>\n<table id=\"summary\" class=\"sortable\">\n<thead><tr>");
    for cell in table.header {
        out.push_str(&format!("<th>{}</th>", escape(cell)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    out.push_str(&summary_rows(report, &table));
    out.push_str("</tbody>\n</table>\n<h3>Notes</h3>\n<ul id=\"notes\">\n");
    let config = &report.config;
    let notes = [
        format!("{}.", table.timing_note()),
        table.cpu_note().to_string(),
        format!(
            "MB/s: payload per direction, 1 MB = 10^6 bytes. Relative to {}.",
            config.baseline.display_name()
        ),
        table::placement_line(config),
    ]
    .into_iter()
    .chain(table::pacing_line(config))
    .chain(table::pairs_line(config))
    .chain(table::in_flight_line(config))
    .chain(table.notes.iter().cloned());
    for note in notes {
        out.push_str(&format!("<li>{}</li>\n", escape(&note)));
    }
    out.push_str("</ul>\n");
    out
}

fn warnings(report: &Report) -> String {
    let mut out = String::from("<h2>Warnings</h2>\n<ul id=\"warnings\">\n");
    let mut any = false;
    for result in &report.results {
        for warning in &result.warnings {
            any = true;
            out.push_str(&format!(
                "<li class=\"warning\">{} at {}: {}</li>\n",
                escape(result.transport.display_name()),
                escape(&format_bytes(result.size_bytes)),
                escape(&warning.message)
            ));
        }
    }
    if !any {
        out.push_str("<li>None.</li>\n");
    }
    out.push_str("</ul>\n");
    out
}

/// Each measured case's spectrum as numbers: latency at each percentile the report keeps.
fn spectra(report: &Report) -> String {
    let mut out = String::from("<h2>Latency spectrum of each case</h2>\n<div id=\"spectra\">\n");
    for result in report.results.iter().filter(|r| !r.histogram.is_empty()) {
        out.push_str(&format!(
            "<details><summary>{} at {}: {} round trips</summary>\n<table class=\"spectrum\">\n\
             <thead><tr><th>Percentile</th><th>Latency (µs)</th></tr></thead>\n<tbody>\n",
            escape(result.transport.display_name()),
            escape(&format_bytes(result.size_bytes)),
            format::thousands(result.iterations)
        ));
        for [percentile, latency_us] in &result.histogram {
            out.push_str(&format!(
                "<tr><td class=\"num\">{percentile}%</td><td class=\"num\">{}</td></tr>\n",
                escape(&format::figure(*latency_us))
            ));
        }
        out.push_str("</tbody>\n</table>\n</details>\n");
    }
    out.push_str("</div>\n");
    out
}

impl Exporter for HtmlExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let plot = SvgPlotExporter::render(&PlotData::from_report(report))?;
        let plot = String::from_utf8_lossy(&plot);
        let title = format!("transport-bench report: {}", report.machine.cpu);
        let mut page = format!(
            "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
             <meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             <h1>{}</h1>\n",
            escape(&title),
            escape(&title)
        );
        page.push_str(&facts(report));
        page.push_str(&summary_table(report));
        page.push_str(&warnings(report));
        page.push_str("<h2>Plots</h2>\n<div id=\"plot\">\n");
        page.push_str(&plot);
        page.push_str("\n</div>\n");
        page.push_str(&spectra(report));
        page.push_str(&format!(
            "<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n"
        ));
        Ok(page.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_report::sample;

    #[test]
    fn the_page_is_well_formed_and_holds_the_table_the_plot_and_the_spectra() {
        let bytes = HtmlExporter.serialize(&sample()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(&text, options).unwrap();
        let rows = doc
            .descendants()
            .find(|n| n.attribute("id") == Some("summary"))
            .unwrap()
            .descendants()
            .filter(|n| n.has_tag_name("tr"))
            .count();
        assert_eq!(rows, 1 + 5);
        assert!(doc.descendants().any(|n| n.has_tag_name("svg")));
        let spectra = doc
            .descendants()
            .filter(|n| n.has_tag_name("details"))
            .count();
        assert_eq!(spectra, 4);
        let scripts: Vec<_> = (doc.descendants())
            .filter(|n| n.has_tag_name("script"))
            .collect();
        assert_eq!(scripts.len(), 1, "the table's sorting, inline");
        assert_eq!(scripts[0].attribute("src"), None);
        // The only addresses are the XML namespaces, which no browser fetches.
        let addresses = text.matches("http://").count() + text.matches("https://").count();
        assert_eq!(addresses, text.matches("xmlns=\"http://").count());
    }

    #[test]
    fn characters_xml_cannot_hold_are_replaced_and_the_page_stays_well_formed() {
        assert_eq!(
            escape("a\u{fffe}\u{1b}[1m\u{9b}"),
            "a\u{fffd}\u{fffd}[1m\u{fffd}"
        );
        let mut report = sample();
        report.machine.cpu = "Xeon\u{1b}]0;owned\u{7}\u{9b}2J|\n\u{fffe}\u{ffff}".into();
        report.machine.kernel = "6.1\u{9b}31m".into();
        report.state = "complete\u{1b}[2J".into();
        let text = String::from_utf8(HtmlExporter.serialize(&report).unwrap()).unwrap();
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        roxmltree::Document::parse_with_options(&text, options).unwrap();
        for bad in ['\u{1b}', '\u{9b}', '\u{fffe}', '\u{ffff}'] {
            assert!(!text.contains(bad), "{bad:?} in the page");
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }

    #[test]
    fn the_summary_sorts_by_keys_that_numbers_in_text_cannot_give_and_shows_intervals() {
        let mut report = sample();
        report.results[0].runs = vec![40.0, 60.0, 50.0];
        let text = String::from_utf8(HtmlExporter.serialize(&report).unwrap()).unwrap();
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(&text, options).unwrap();
        let table = (doc.descendants())
            .find(|n| n.attribute("id") == Some("summary"))
            .unwrap();
        assert_eq!(table.attribute("class"), Some("sortable"));
        let rows: Vec<Vec<roxmltree::Node>> = (table.descendants())
            .filter(|n| n.has_tag_name("tr"))
            .skip(1)
            .map(|tr| tr.children().filter(|n| n.has_tag_name("td")).collect())
            .collect();
        let key = |row: usize, column: usize| rows[row][column].attribute("data-sort");
        assert_eq!(key(0, 0), Some("100"));
        assert_eq!(key(0, table::TOTAL_TIME_COLUMN), Some("0.01"));
        assert_eq!(key(0, table::VERSUS_BASELINE_COLUMN), Some("0"));
        assert_eq!(key(3, table::VERSUS_BASELINE_COLUMN), Some("200"));
        // A failed case has nothing to sort by but its size: it sorts after the numbers.
        assert_eq!(key(4, table::TOTAL_TIME_COLUMN), None);
        let mean = rows[0][table::MEAN_COLUMN].text();
        assert_eq!(mean, Some("50.5 ±49.7%"));
        assert!(text.contains("<li>±: the 95% confidence interval of the Mean"));
    }
}
