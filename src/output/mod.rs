//! Everything printed for people: header, sections, progress and the summary. Measuring code
//! never prints; it hands data here.

pub mod console;
pub mod progress;
pub mod summary;
pub mod terminal;

use crate::peer::cleanup::IpcObject;
use crate::report::format;
use crate::report::header::setup_facts;
use crate::report::result::{LatencyStats, Report};
use crate::report::table::{self, SummaryTable};

const RULE_WIDTH: usize = 70;

fn rule() -> String {
    "=".repeat(RULE_WIDTH)
}

/// The header: a title, then what is measured, how, and on what machine (every fact read of
/// the machine when `verbose`).
pub fn header(report: &Report, verbose: bool) -> String {
    [rule(), "Transport Layer Benchmark".into(), rule()]
        .into_iter()
        .chain(setup_facts(report, verbose))
        .chain([String::new()])
        .collect::<Vec<String>>()
        .join("\n")
}

/// What the start-up cleanup removed.
pub fn cleanup(removed: &[IpcObject]) -> String {
    let mut lines = vec!["Cleaning up any leftover resources...".to_string()];
    lines.extend(
        removed
            .iter()
            .map(|object| format!("  removed stale {object}")),
    );
    lines.push("Cleanup complete.".into());
    lines.join("\n")
}

/// The heading of one message size.
pub fn section(title: &str, size_bytes: usize) -> String {
    [
        String::new(),
        rule(),
        format!("Testing {title} messages ({size_bytes} bytes)"),
        rule(),
        String::new(),
    ]
    .join("\n")
}

/// The summary table with its footnotes; `interactive` chooses the layout for a terminal.
pub fn summary(report: &Report, interrupted_by: Option<&str>, interactive: bool) -> String {
    let heading = match interrupted_by {
        Some(signal) => format!("OVERALL SUMMARY (interrupted by {signal}: partial results)"),
        None => "OVERALL SUMMARY".into(),
    };
    let mut lines = vec![String::new(), rule(), heading, rule()];
    if report.results.is_empty() {
        lines.push("No case completed.".into());
        return lines.join("\n");
    }
    let table = SummaryTable::new(report);
    let drawn = summary::terminal_table(&table, interactive);
    lines.push(drawn.text);
    lines.push(format!("{}.", table.timing_note()));
    // A compact table has no CPU column to explain; it says what it left out instead.
    lines.push(match drawn.compact {
        true => summary::LEFT_OUT_NOTE.into(),
        false => table.cpu_note().into(),
    });
    lines.push(format!(
        "MB/s: payload per direction, 1 MB = 10^6 bytes. Relative to {}.",
        report.config.baseline.display_name()
    ));
    lines.push(table::placement_line(&report.config));
    lines.extend(table::pacing_line(&report.config));
    lines.extend(table::pairs_line(&report.config));
    lines.extend(table::in_flight_line(&report.config));
    lines.extend(table.notes.iter().map(|note| format!("  {note}")));
    lines.join("\n")
}

/// Shown after a run completes: its distribution at a glance.
pub fn case_detail(stats: &LatencyStats) -> String {
    let us = |ns: u64| format::figure(ns as f64 / 1000.0);
    format!(
        "(p50 {} µs, p99 {} µs, max {} µs)",
        us(stats.p50_ns),
        us(stats.p99_ns),
        us(stats.max_ns)
    )
}

/// After repeated runs of a case: the median and range of the run means, flagged when noisy.
/// Runs are interleaved, so the line names its transport.
pub fn runs_line(result: &crate::report::result::BenchmarkResult) -> Option<String> {
    let spread = result.runs_spread()?;
    let mut line = format!(
        "{}: {} runs: median {} µs/call, range {}–{} µs (spread {:.0}%)",
        result.transport.display_name(),
        result.runs.len(),
        format::figure(result.runs_median_us?),
        format::figure(result.runs_min_us?),
        format::figure(result.runs_max_us?),
        spread * 100.0
    );
    if result.noisy {
        line.push_str(&format!(" — noisy: runs differ by {:.0}%", spread * 100.0));
    }
    if let Some(confidence) = result.confidence {
        line.push_str(&format!("; {}", confidence_text(&confidence)));
    }
    Some(line)
}

/// `95% CI ±2.1% (target ±5%: reached)`, or `… not reached in 30 runs`.
pub fn confidence_text(confidence: &crate::report::result::Confidence) -> String {
    let found = match confidence.half_width_pct {
        Some(pct) => format!("95% CI ±{pct:.1}%"),
        None => "no confidence interval".into(),
    };
    let verdict = match confidence.reached {
        true => "reached".to_string(),
        false => format!("not reached in {} runs", confidence.runs),
    };
    format!("{found} (target ±{}%: {verdict})", confidence.target_pct)
}
