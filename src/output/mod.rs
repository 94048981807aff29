//! Everything printed for people: header, sections, progress and the summary. Measuring code
//! never prints; it hands data here.

pub mod progress;
pub mod summary;
pub mod terminal;

use crate::benchmark::result::Report;
use crate::benchmark::stats::LatencyStats;
use crate::cleanup::IpcObject;
use crate::format;
use crate::table::SummaryTable;

const RULE_WIDTH: usize = 70;

fn rule() -> String {
    "=".repeat(RULE_WIDTH)
}

pub fn print_header(report: &Report) {
    let config = &report.config;
    println!("{}", rule());
    println!("Transport Layer Benchmark");
    println!("{}", rule());
    println!(
        "Iterations per test: {} (warm-up: {}{})",
        format::thousands(config.iterations),
        format::thousands(config.warmup),
        if config.runs > 1 {
            format!(", runs per case: {}", config.runs)
        } else {
            String::new()
        }
    );
    println!(
        "Buffer size: {} bytes",
        format::thousands(config.buffer_size as u64)
    );
    println!("Communication: Process-to-Process (raw byte arrays)");
    println!("Latency: full round trip (request + echo), timed one by one");
    println!(
        "Machine: {} ({} cores), {}, kernel {}",
        report.machine.cpu, report.machine.cores, report.machine.os, report.machine.kernel
    );
    println!(
        "Clock overhead: {:.0} ns per timed round trip",
        report.clock_overhead_ns
    );
    println!();
}

pub fn print_cleanup(removed: &[IpcObject]) {
    println!("Cleaning up any leftover resources...");
    for object in removed {
        println!("  removed stale {object}");
    }
    println!("Cleanup complete.");
}

pub fn print_section(title: &str, size_bytes: usize) {
    println!();
    println!("{}", rule());
    println!("Testing {title} messages ({size_bytes} bytes)");
    println!("{}", rule());
    println!();
}

pub fn print_summary(report: &Report, interrupted_by: Option<&str>) {
    println!();
    println!("{}", rule());
    match interrupted_by {
        Some(signal) => println!("OVERALL SUMMARY (interrupted by {signal}: partial results)"),
        None => println!("OVERALL SUMMARY"),
    }
    println!("{}", rule());
    if report.results.is_empty() {
        println!("No case completed.");
        return;
    }
    let table = SummaryTable::new(report);
    println!(
        "{}",
        summary::terminal_table(&table, progress::interactive())
    );
    println!("Latencies are full round trips (request + echo), in µs.");
    println!(
        "MB/s: payload per direction, 1 MB = 10^6 bytes. Relative to {}.",
        report.config.baseline.display_name()
    );
    for note in &table.notes {
        println!("  {note}");
    }
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
pub fn runs_line(result: &crate::benchmark::result::BenchmarkResult) -> Option<String> {
    let spread = result.runs_spread()?;
    let mut line = format!(
        "{} runs: median {} µs/call, range {}–{} µs (spread {:.0}%)",
        result.runs.len(),
        format::figure(result.runs_median_us?),
        format::figure(result.runs_min_us?),
        format::figure(result.runs_max_us?),
        spread * 100.0
    );
    if result.noisy {
        line.push_str(&format!(" — noisy: runs differ by {:.0}%", spread * 100.0));
    }
    Some(line)
}
