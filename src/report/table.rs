//! The summary table model: header, one row of text per case, and the notes under it. Built once
//! from a [`Report`]; the terminal summary (`output::summary`) and the Markdown export both
//! render it, so the two never disagree about a figure.

use std::time::Duration;

use crate::report::format;
use crate::report::mean_interval::half_width_pct;
use crate::report::result::{BenchmarkResult, Config, LatencyUs, Report, Status};
use crate::report::size::format_bytes;
use crate::transport::workload::{Figures, TABLE_COLUMNS};
use crate::transport::TransportKind;

/// How many columns the table has.
pub const COLUMNS: usize = TABLE_COLUMNS;

/// Index of "Total time": the compact terminal layout leaves it out.
pub const TOTAL_TIME_COLUMN: usize = 2;

/// Index of "Mean (µs/call)" (a stream's "Per message"): with two runs or more, the 95%
/// confidence interval of the mean goes beside it ([`SummaryTable::rows_with_interval`]).
pub const MEAN_COLUMN: usize = 5;

/// Index of "CPU (µs/call)": the compact terminal layout leaves it out too.
pub const CPU_COLUMN: usize = 9;

/// Index of "vs baseline", the last.
pub const VERSUS_BASELINE_COLUMN: usize = COLUMNS - 1;

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
    /// What the `±` beside a mean is, when any row has one (also among `notes`).
    pub interval_note: Option<String>,
    /// Each row's 95% confidence interval of the mean, `±1.2%`, from its run means; None
    /// with fewer than two runs (and for a case that measured nothing).
    pub mean_intervals: Vec<Option<String>>,
}

impl SummaryTable {
    pub fn new(report: &Report) -> SummaryTable {
        let figures = report.config.workload().figures();
        let mean_intervals: Vec<Option<String>> =
            report.results.iter().map(mean_interval).collect();
        let interval_note = mean_intervals.iter().any(Option::is_some).then(|| {
            format!(
                "±: the 95% confidence interval of the {}, from each case's run means (Student's t)",
                figures.table_header[MEAN_COLUMN]
            )
        });
        SummaryTable {
            figures,
            header: figures.table_header,
            rows: report.results.iter().map(|r| row(report, r)).collect(),
            notes: (figures.table_note.map(str::to_string).into_iter())
                .chain(interval_note.clone())
                .chain(external_peer_line(&report.config))
                .chain(report.results.iter().flat_map(case_notes))
                .collect(),
            interval_note,
            mean_intervals,
        }
    }

    /// The rows with each mean's interval after it, `separator` between: a space for one
    /// line (Markdown, HTML), a line break where a taller row costs no width (the terminal).
    pub fn rows_with_interval(&self, separator: &str) -> Vec<Row> {
        let mut rows = self.rows.clone();
        for (row, interval) in rows.iter_mut().zip(&self.mean_intervals) {
            if let Some(interval) = interval {
                row[MEAN_COLUMN] = format!("{}{separator}{interval}", row[MEAN_COLUMN]);
            }
        }
        rows
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

/// `±1.2%`: the half width of the case's 95% confidence interval of the mean, in percent of
/// it, when it has two run means or more and measured something.
fn mean_interval(result: &BenchmarkResult) -> Option<String> {
    result.mean_us()?;
    let pct = half_width_pct(&result.runs)?;
    Some(format!("±{}%", format::figure(pct)))
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

/// How much each case ran, in a line: `5000 iterations per run, 3 runs per case (15,000
/// in all)`; with `--runs auto`, `2 to 10 runs per case, until the 95% confidence interval of
/// the mean is within ±5%`.
pub fn runs_line(config: &Config, unit: &str) -> String {
    let per_run = config.length_per_run(unit);
    if let Some(auto) = config.runs_auto {
        return format!(
            "{per_run} per run, {} to {} runs per case, until the 95% confidence interval of \
             the mean is within ±{}%",
            auto.min_runs, auto.max_runs, auto.ci_target_pct
        );
    }
    let runs = match config.runs {
        1 => "1 run per case".to_string(),
        runs => format!("{runs} runs per case"),
    };
    let total = match (config.iterations, config.duration_s) {
        (Some(count), None) if config.runs > 1 => format!(
            " ({} in all)",
            format::thousands(count * u64::from(config.runs))
        ),
        _ => String::new(),
    };
    format!("{per_run} per run, {runs}{total}")
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
                "±: the 95% confidence interval of the Mean (µs/call), from each case's run means (Student's t)",
                "SHM POSIX at 100 B: noisy: run means 40.0–60.0 µs, median 50.0 (spread 40%)",
                "ZeroMQ IPC at 500 KB: server exited: killed by signal 9 (SIGKILL), \"quoted\"",
            ]
        );
        assert_eq!(table.rows[1][TOTAL_TIME_COLUMN], "10.0 ms (interrupted)");
    }

    #[test]
    fn a_case_with_two_runs_or_more_has_its_interval_beside_its_mean() {
        let mut report = sample();
        // Mean 50, sample stddev 10, three runs: t(0.975, 2) × 10 / √3 = 24.8 µs, 49.7%.
        report.results[0].runs = vec![40.0, 60.0, 50.0];
        let table = SummaryTable::new(&report);
        assert_eq!(
            table.rows[0][MEAN_COLUMN], "50.5",
            "the plain rows stay plain"
        );
        let one_line = table.rows_with_interval(" ");
        assert_eq!(one_line[0][MEAN_COLUMN], "50.5 ±49.7%");
        assert_eq!(
            table.rows_with_interval("\n")[0][MEAN_COLUMN],
            "50.5\n±49.7%"
        );
        // One run, and a failed case, have none.
        assert_eq!(one_line[1][MEAN_COLUMN], table.rows[1][MEAN_COLUMN]);
        assert_eq!(one_line[4][MEAN_COLUMN], "");
        assert!(table
            .interval_note
            .unwrap()
            .starts_with("±: the 95% confidence interval"));
        assert_eq!(SummaryTable::new(&sample()).interval_note, None);
    }

    #[test]
    fn the_runs_line_says_the_length_of_a_run_and_how_many_runs() {
        let mut config = sample().config;
        assert_eq!(
            runs_line(&config, "iterations"),
            "100 iterations per run, 1 run per case"
        );
        (config.iterations, config.runs) = (Some(5000), 3);
        assert_eq!(
            runs_line(&config, "iterations"),
            "5000 iterations per run, 3 runs per case (15,000 in all)"
        );
        (config.iterations, config.duration_s) = (None, Some(2.0));
        assert_eq!(
            runs_line(&config, "iterations"),
            "2 s of iterations per run, 3 runs per case"
        );
        config.runs_auto = Some(crate::report::result::RunsAuto {
            ci_target_pct: 5.0,
            min_runs: 3,
            max_runs: 10,
        });
        assert_eq!(
            runs_line(&config, "iterations"),
            "2 s of iterations per run, 3 to 10 runs per case, until the 95% confidence \
             interval of the mean is within ±5%"
        );
    }
}
