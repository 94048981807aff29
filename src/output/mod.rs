//! Everything printed for people: header, sections, progress and the summary. Measuring code
//! never prints; it hands data here.

pub mod console;
pub mod progress;
pub mod summary;
pub mod terminal;

use crate::benchmark::stats::LatencyStats;
use crate::peer::cleanup::IpcObject;
use crate::report::format;
use crate::report::result::Report;
use crate::report::table::{self, SummaryTable};

const RULE_WIDTH: usize = 70;

fn rule() -> String {
    "=".repeat(RULE_WIDTH)
}

/// The header: what is measured, how, and on what machine.
pub fn header(report: &Report) -> String {
    let config = &report.config;
    let runs = match config.runs_auto {
        Some(auto) => format!(
            ", runs per case: until the 95% confidence interval of the mean is within ±{}%, {} to {}",
            auto.ci_target_pct, auto.min_runs, auto.max_runs
        ),
        None if config.runs > 1 => format!(", runs per case: {}", config.runs),
        None => String::new(),
    };
    let length = match (config.duration_s, config.iterations) {
        (Some(seconds), _) => format!(
            "Duration per test: {}",
            humantime::format_duration(std::time::Duration::from_secs_f64(seconds))
        ),
        (None, iterations) => format!(
            "Iterations per test: {}",
            format::thousands(iterations.unwrap_or(0))
        ),
    };
    let machine = &report.machine;
    [
        rule(),
        "Transport Layer Benchmark".into(),
        rule(),
        format!(
            "{length} (warm-up: {}{runs})",
            format::thousands(config.warmup),
        ),
        format!(
            "Buffer size: {} bytes",
            format::thousands(config.buffer_size as u64)
        ),
        "Communication: Process-to-Process (raw byte arrays)".into(),
        config.workload().figures().banner.into(),
        format!(
            "Machine: {} ({} cores), {}, kernel {}",
            machine.cpu, machine.cores, machine.os, machine.kernel
        ),
        format!(
            "Clock overhead: {:.0} ns per timed round trip",
            report.clock_overhead_ns
        ),
    ]
    .into_iter()
    .chain(machine.idle.iter().flat_map(|facts| facts.header_lines()))
    .chain([table::placement_line(config)])
    .chain(table::external_peer_line(config))
    .chain(table::pacing_line(config))
    .chain(table::pairs_line(config))
    .chain(table::in_flight_line(config))
    .chain(table::spin_budget_line(config))
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
    lines.push(summary::terminal_table(&table, interactive));
    lines.push(format!("{}.", table.timing_note()));
    lines.push(table.cpu_note().into());
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
