//! The summary table model: header, one row of text per case, and the notes under it. Built once
//! from a [`Report`]; the terminal summary (`output::summary`) and the Markdown export both
//! render it, so the two never disagree about a figure.

use std::time::Duration;

use crate::report::format;
use crate::report::result::{BenchmarkResult, Config, LatencyUs, Report, Status};
use crate::report::size::format_bytes;
use crate::transport::workload::{Figures, TABLE_COLUMNS};
use crate::transport::TransportKind;

/// How many columns the table has.
pub const COLUMNS: usize = TABLE_COLUMNS;

/// Index of "Total time": the compact terminal layout leaves it out.
pub const TOTAL_TIME_COLUMN: usize = 2;

/// Index of "CPU (µs/call)": the compact terminal layout leaves it out too.
pub const CPU_COLUMN: usize = 9;

/// The first columns name the case; the others hold figures.
const NAME_COLUMNS: usize = 2;

/// One case's cells, in header order.
pub type Row = [String; COLUMNS];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    Left,
    Right,
}

#[derive(Debug, Clone)]
pub struct SummaryTable {
    /// What the cases' figures are, in words: the workload's.
    pub figures: &'static Figures,
    pub header: [&'static str; COLUMNS],
    /// In the order of `report.results`.
    pub rows: Vec<Row>,
    /// Lines under the table: noisy cases and failures, with their causes.
    pub notes: Vec<String>,
}

impl SummaryTable {
    pub fn new(report: &Report) -> SummaryTable {
        let figures = report.config.workload().figures();
        SummaryTable {
            figures,
            header: figures.table_header,
            rows: report.results.iter().map(|r| row(report, r)).collect(),
            notes: (figures.table_note.map(str::to_string).into_iter())
                .chain(external_peer_line(&report.config))
                .chain(report.results.iter().flat_map(case_notes))
                .collect(),
        }
    }

    /// What the CPU column counts, for the table's workload.
    pub fn cpu_note(&self) -> &'static str {
        self.figures.cpu_note
    }

    /// What the timing columns are, in one sentence without its full stop.
    pub fn timing_note(&self) -> &'static str {
        self.figures.timing_note
    }

    /// Names read left to right; figures line up on their last digit.
    pub fn alignment(column: usize) -> Alignment {
        if column < NAME_COLUMNS {
            Alignment::Left
        } else {
            Alignment::Right
        }
    }
}

fn row(report: &Report, result: &BenchmarkResult) -> Row {
    let size = format_bytes(result.size_bytes);
    let transport = result.transport.display_name().to_string();
    let Some(mean) = result.mean_us() else {
        // Nothing measured: only the status, where the total time would be.
        let mut row: Row = Default::default();
        row[0] = size;
        row[1] = transport;
        row[TOTAL_TIME_COLUMN] = match result.status {
            Status::Interrupted => "interrupted",
            Status::Skipped => "skipped",
            Status::Ok | Status::Failed => "failed",
        }
        .into();
        return row;
    };
    [
        size,
        transport,
        total_time(result),
        format::thousands(result.ops_per_s.round() as u64),
        format::figure(result.mb_per_s),
        format::figure(mean),
        percentile(result.latency_us, |l| l.p50),
        percentile(result.latency_us, |l| l.p99),
        percentile(result.latency_us, |l| l.p999),
        cpu_cell(result),
        versus_baseline(report, result, mean),
    ]
}

/// One percentile of the round trips, or `n/a` for a stream, which has none.
fn percentile(latency: Option<LatencyUs>, pick: fn(&LatencyUs) -> f64) -> String {
    latency.map_or("n/a".into(), |l| format::figure(pick(&l)))
}

/// Both processes' CPU time per round trip; the driver's alone, so marked, for a server that
/// is not ours.
fn cpu_cell(result: &BenchmarkResult) -> String {
    match result.cpu {
        None => "n/a".into(),
        Some(cpu) if cpu.server_us_per_round_trip.is_none() => {
            format!("{} (driver)", format::figure(cpu.driver_us_per_round_trip))
        }
        Some(cpu) => format::figure(cpu.total_us_per_round_trip()),
    }
}

/// The timed wall time, marked when the case stopped early but measured something.
fn total_time(result: &BenchmarkResult) -> String {
    let mut total = format::duration(Duration::from_secs_f64(result.total_s));
    match result.status {
        Status::Interrupted => total.push_str(" (interrupted)"),
        Status::Failed => total.push_str(" (failed)"),
        // A skipped case measured nothing, so it never gets here.
        Status::Ok | Status::Skipped => {}
    }
    total
}

/// The case's mean (a round trip's, or a stream's time per message) against the baseline's.
fn versus_baseline(report: &Report, result: &BenchmarkResult, mean: f64) -> String {
    if result.transport == report.config.baseline {
        return "baseline".into();
    }
    report
        .baseline_for(result)
        .and_then(BenchmarkResult::mean_us)
        .map_or("n/a".into(), |base| format::relative(mean, base))
}

/// Why a case was skipped; the spread of its runs when they were noisy; its error, if any.
fn case_notes(result: &BenchmarkResult) -> Vec<String> {
    let name = format!(
        "{} at {}",
        result.transport.display_name(),
        format_bytes(result.size_bytes)
    );
    let mut notes: Vec<String> = skip_note(result).into_iter().collect();
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
    notes.extend((result.warnings.iter()).map(|warning| format!("{name}: {}", warning.message)));
    notes
}

/// `SHM POSIX at 64 KiB: skipped: larger than msgsize_max 8192`, for a skipped case.
pub fn skip_note(result: &BenchmarkResult) -> Option<String> {
    let reason = result.skip_reason.as_ref()?;
    Some(format!(
        "{} at {}: skipped: {reason}",
        result.transport.display_name(),
        format_bytes(result.size_bytes)
    ))
}

/// Where the processes ran, in a line: `unpinned`, or the CPUs `--pin` chose.
pub fn placement_line(config: &Config) -> String {
    match config.pin {
        None => "Placement: unpinned (the scheduler chose the CPUs; see --pin)".into(),
        Some(pin) => format!(
            "Placement: client on CPU {}, server on CPU {} (--pin {})",
            pin.driver_cpu, pin.server_cpu, pin.mode
        ),
    }
}

/// Whose server was measured, when it was not one this tool spawned: `--connect`.
pub fn external_peer_line(config: &Config) -> Option<String> {
    config.connect.as_ref().map(|peer| {
        format!("Server: external, at {peer} (--connect: not started or cleaned up by this tool)")
    })
}

/// How long the waiters of each transport that spins spun before they slept, in a line, when
/// the run has such a transport: `Spin budget: SHM POSIX 0 µs, SHM spin 5 µs (--spin-budget)`.
pub fn spin_budget_line(config: &Config) -> Option<String> {
    let budgets: Vec<String> = (config.spin_budget_us.iter())
        .map(|(name, us)| {
            let kind = TransportKind::from_name(name);
            format!(
                "{} {us} µs",
                kind.map_or(*name, TransportKind::display_name)
            )
        })
        .collect();
    (!budgets.is_empty()).then(|| {
        format!(
            "Spin budget: {} (how long a waiter spins before it sleeps; --spin-budget)",
            budgets.join(", ")
        )
    })
}

/// How requests were sent, in a line, when paced.
pub fn pacing_line(config: &Config) -> Option<String> {
    let interval = Duration::from_secs_f64(config.interval_s?);
    Some(format!(
        "Paced: one request every {}; latency counts from each request's intended send time (service time from the actual send is in the JSON)",
        humantime::format_duration(interval)
    ))
}

/// How many requests each client kept in flight, in a line, when more than one.
pub fn in_flight_line(config: &Config) -> Option<String> {
    (config.in_flight > 1).then(|| {
        format!(
            "In flight: {} requests outstanding per client; each is timed from its own send to its own reply",
            config.in_flight
        )
    })
}

/// How many pairs ran at once, in a line, when more than one did.
pub fn pairs_line(config: &Config) -> Option<String> {
    (config.pairs > 1).then(|| {
        format!(
            "Pairs: {} client/server pairs at once; each case's figures are all pairs together (all their messages over the longest pair's time, latencies merged), each pair's own in the JSON (per_pair)",
            config.pairs
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_report::{sample, sample_with_cpu};
    use crate::transport::kinds::zmq_ipc;

    #[test]
    fn one_row_per_case_relative_to_the_baseline() {
        let table = SummaryTable::new(&sample());
        assert_eq!(table.rows.len(), 5);
        assert_eq!(
            table.rows[0],
            [
                "100 B",
                "SHM POSIX",
                "10.0 ms",
                "10,000",
                "1.00",
                "50.5",
                "50.0",
                "99.0",
                "100.0",
                "n/a",
                "baseline"
            ]
        );
        assert_eq!(table.rows[3][10], "200.0% slower");
        assert_eq!(table.rows[4][..3], ["500 KB", "ZeroMQ IPC", "failed"]);
        assert!(table.rows[4][3..].iter().all(String::is_empty));
    }

    #[test]
    fn the_cpu_column_adds_both_processes_or_says_it_has_the_drivers_alone() {
        let table = SummaryTable::new(&sample_with_cpu());
        assert_eq!(table.header[CPU_COLUMN], "CPU (µs/call)");
        assert_eq!(table.rows[0][CPU_COLUMN], "3.75");
        assert_eq!(table.rows[1][CPU_COLUMN], "1.25 (driver)");
    }

    #[test]
    fn a_skipped_case_has_a_row_and_its_reason_in_the_notes() {
        let mut report = sample();
        let reason = "larger than msgsize_max 8192".to_string();
        report.results = vec![BenchmarkResult::skipped(zmq_ipc::KIND, 65_536, reason)];
        let table = SummaryTable::new(&report);
        assert_eq!(table.rows[0][..3], ["64 KiB", "ZeroMQ IPC", "skipped"]);
        assert!(table.rows[0][3..].iter().all(String::is_empty));
        assert_eq!(
            table.notes,
            ["ZeroMQ IPC at 64 KiB: skipped: larger than msgsize_max 8192"]
        );
    }

    #[test]
    fn the_spin_budget_line_names_each_spinning_transport() {
        let mut config = sample().config;
        assert_eq!(
            spin_budget_line(&config).unwrap(),
            "Spin budget: SHM POSIX 0 µs (how long a waiter spins before it sleeps; --spin-budget)"
        );
        config.spin_budget_us = [("shm-zc", 2.5), ("shm-spin", 20.0)].into();
        let line = spin_budget_line(&config).unwrap();
        assert!(
            line.starts_with("Spin budget: SHM spin 20 µs, SHM zero-copy 2.5 µs"),
            "{line}"
        );
        config.spin_budget_us.clear();
        assert_eq!(spin_budget_line(&config), None);
    }

    #[test]
    fn notes_name_noisy_and_failed_cases() {
        let mut report = sample();
        let noisy = &mut report.results[0];
        noisy.runs = vec![40.0, 60.0, 50.0];
        (noisy.runs_min_us, noisy.runs_max_us) = (Some(40.0), Some(60.0));
        noisy.runs_median_us = Some(50.0);
        noisy.noisy = true;
        report.results[1].status = Status::Interrupted;
        let table = SummaryTable::new(&report);
        assert_eq!(
            table.notes,
            [
                "SHM POSIX at 100 B: noisy: run means 40.0–60.0 µs, median 50.0 (spread 40%)",
                "ZeroMQ IPC at 500 KB: server exited: killed by signal 9 (SIGKILL), \"quoted\"",
            ]
        );
        assert_eq!(table.rows[1][TOTAL_TIME_COLUMN], "10.0 ms (interrupted)");
    }
}
