//! The one serializable result document that the summary table, the terminal and every
//! exporter consume, whole: every type of it is here, so that whatever presents a report needs
//! nothing of the benchmark that measured it (`benchmark::tally` fills it in). Field names are
//! the documented JSON schema (docs/json-schema.md): change them only with it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::system::machine::Machine;
use crate::system::placement::Pinning;
use crate::transport::{Pattern, TransportKind, Workload};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    /// The version of this document's schema ([`crate::report::schema::SCHEMA_VERSION`]);
    /// `version` is the tool's.
    pub schema_version: u32,
    pub version: &'static str,
    /// When, by what command line and from which build the report was made.
    pub provenance: Provenance,
    pub config: Config,
    pub machine: Machine,
    pub clock_overhead_ns: f64,
    /// "complete", or "interrupted by SIGINT" etc.
    pub state: String,
    pub results: Vec<BenchmarkResult>,
}

/// Where a report came from, so that a saved one can be traced to its run and build.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// When the run started: RFC 3339, UTC, to the second (`2026-12-07T03:05:15Z`).
    pub started_at: String,
    /// The command line, as argv (the program's name first), each argument as text.
    pub command_line: Vec<String>,
    /// The git commit the binary was built from; null when it was not built from a checkout.
    pub git_revision: Option<&'static str>,
    /// Whether tracked files differed from `git_revision` when it was built; null without it.
    pub git_dirty: Option<bool>,
    /// `--label TEXT`, as given; null without it.
    pub label: Option<String>,
    /// This host's name, only with `--record-hostname` (a host name may be private).
    pub hostname: Option<String>,
}

impl Provenance {
    /// The git revision this binary was built from, as `build.rs` found it.
    pub fn of_this_build(
        started_at: String,
        command_line: Vec<String>,
        label: Option<String>,
        hostname: Option<String>,
    ) -> Provenance {
        Provenance {
            started_at,
            command_line,
            git_revision: option_env!("TRANSPORT_BENCH_GIT_REVISION"),
            git_dirty: option_env!("TRANSPORT_BENCH_GIT_DIRTY").map(|dirty| dirty == "true"),
            label,
            hostname,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Timed round trips per run; null when `duration_s` bounds the runs instead.
    pub iterations: Option<u64>,
    /// `--duration`: each run's timed loop lasted this long, in seconds; null when counted.
    pub duration_s: Option<f64>,
    pub warmup: u64,
    /// Runs per case; with `--runs auto`, the most (`runs_auto.max_runs`).
    pub runs: u32,
    /// `--runs auto`: what stopped each case's runs; null for a fixed number of runs.
    pub runs_auto: Option<RunsAuto>,
    pub buffer_size: usize,
    pub timeout_s: f64,
    pub transports: Vec<TransportKind>,
    pub sizes: Vec<usize>,
    pub baseline: TransportKind,
    pub verify_all: bool,
    /// The CPUs driver and server were pinned to; null when unpinned.
    pub pin: Option<Pinning>,
    /// Paced mode: seconds between requests; null when back to back.
    pub interval_s: Option<f64>,
    /// How long each transport of the run that spins (shm-posix, shm-spin, shm-zc) let a
    /// waiter spin before it slept, in µs, by transport name: `--spin-budget`, or each one's
    /// default.
    pub spin_budget_us: BTreeMap<&'static str, f64>,
    /// The running server measured with `--connect` (its transport and address); null when
    /// the tool spawned its own servers.
    pub connect: Option<ExternalServer>,
    /// What the two sides exchanged: `round-trip` or `stream`.
    pub pattern: Pattern,
    /// `--ring-depth` as given; null: each ring's default.
    pub ring_depth: Option<usize>,
    /// Client/server pairs measured at once (`--pairs`).
    pub pairs: usize,
    /// Round trips each client kept outstanding (`--in-flight`).
    pub in_flight: usize,
}

/// `--runs auto`'s target and bounds, as given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunsAuto {
    pub ci_target_pct: f64,
    pub min_runs: u32,
    pub max_runs: u32,
}

/// With `--runs auto`: how well a case's runs pin its mean down. The 95% confidence interval
/// of the mean of its run means is ±`half_width_pct` of that mean (null with fewer than two
/// run means), after `runs` runs; `reached` when that is within ±`target_pct`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Confidence {
    pub target_pct: f64,
    pub half_width_pct: Option<f64>,
    pub runs: u32,
    pub reached: bool,
}

impl Config {
    /// What each case measured, as one value (the JSON keeps its parts, `pattern` and
    /// `in_flight`).
    pub fn workload(&self) -> Workload {
        Workload::new(self.pattern, self.in_flight)
    }

    /// How long each run of a case was, for a line of text: `50000 round trips`, or
    /// `5 s of round trips`.
    pub fn length_per_run(&self, unit: &str) -> String {
        length_per_run(self.duration_s, self.iterations, unit)
    }
}

/// [`Config::length_per_run`] of a config's `duration_s` and `iterations` (a saved one's too).
pub fn length_per_run(duration_s: Option<f64>, iterations: Option<u64>, unit: &str) -> String {
    match (duration_s, iterations) {
        (Some(seconds), _) => format!("{seconds} s of {unit}"),
        (None, Some(count)) => format!("{count} {unit}"),
        (None, None) => unit.to_string(),
    }
}

/// A server that was running before the benchmark (`--connect`): its transport and its address
/// as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalServer {
    pub transport: TransportKind,
    pub address: String,
}

/// `TRANSPORT:ADDRESS`, as `--connect` was given.
impl fmt::Display for ExternalServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport.name(), self.address)
    }
}

/// Read back by `compare` from a saved report, too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Interrupted,
    /// Not run: the size is more than the transport carries (`skip_reason` says why).
    Skipped,
}

/// All runs of one (transport, size) case.
#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkResult {
    pub transport: TransportKind,
    pub size_bytes: usize,
    /// `round-trip`, or `stream`: messages one way, acknowledged at the end (then there are no
    /// latencies, and `us_per_message` is the figure).
    pub pattern: Pattern,
    /// Timed round trips completed, or a stream's messages acknowledged, summed over all runs.
    pub iterations: u64,
    pub status: Status,
    pub error: Option<String>,
    /// Why a skipped case was not run (`larger than msgsize_max 8192`); null otherwise.
    pub skip_reason: Option<String>,
    /// Wall time of the timed loops, summed over all runs.
    pub total_s: f64,
    /// Round trips, or a stream's messages, per second.
    pub ops_per_s: f64,
    /// Payload megabytes (10^6 bytes) per second in each direction (a stream's one direction).
    pub mb_per_s: f64,
    /// Null when no round trip completed, and for a stream.
    pub latency_us: Option<LatencyUs>,
    /// A stream's wall time per message acknowledged, in µs (1 / `ops_per_s`); null for round
    /// trips and when no stream was acknowledged.
    pub us_per_message: Option<f64>,
    /// Mean round-trip latency of each run, in µs; for a stream, each run's time per message.
    pub runs: Vec<f64>,
    pub runs_median_us: Option<f64>,
    pub runs_min_us: Option<f64>,
    pub runs_max_us: Option<f64>,
    pub noisy: bool,
    /// With `--runs auto`: the interval its runs found, and whether it met the target; null
    /// for a fixed number of runs, and for a skipped case.
    pub confidence: Option<Confidence>,
    /// Share of the timed wall time spent updating the progress display, in percent.
    pub progress_overhead_pct: f64,
    /// `[percentile, latency_us]` pairs describing the whole distribution.
    pub histogram: Vec<[f64; 2]>,
    /// The case's whole latency histogram (all runs, in ns, 3 significant digits) in
    /// HdrHistogram's compressed V2 interchange encoding, base64; null when no round trip was
    /// timed, or when the report's budget for histograms was spent ([`HDR_V2_BUDGET_BYTES`]).
    pub hdr_histogram_v2: Option<String>,
    /// Each run's histogram likewise, in run order (failed runs' too, when they timed any
    /// round trip); empty when there are none, or when they did not fit the budget.
    pub runs_hdr_histogram_v2: Vec<String>,
    /// What of the histograms above was left out to keep the report within its size, and why;
    /// null when nothing was.
    pub hdr_histogram_v2_note: Option<String>,
    /// Paced runs only: latencies from the actual send time (`latency_us` counts from the
    /// intended one).
    pub service_us: Option<LatencyUs>,
    /// Paced runs only: requests that could not leave on time.
    pub behind_schedule: Option<u64>,
    /// Where the peers ran; null when nothing was sampled.
    pub placement: Option<Placement>,
    /// The CPU the round trips cost; null when no round trip was timed.
    pub cpu: Option<CpuUse>,
    /// With `--pairs` 2 or more: each pair's own figures, in pair order (the case's figures
    /// are all pairs' together); empty for a single pair.
    pub per_pair: Vec<PairFigures>,
    pub warnings: Vec<WarningRecord>,
}

/// The CPU time both processes used during a case's timed loops (all threads of each, from
/// their CPU-time clocks, read outside the timed region), per round trip and as CPUs kept busy
/// (CPU time / wall time). The server's figures are null for a server that is not ours
/// (`--connect`) or whose clock could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuUse {
    pub driver_us_per_round_trip: f64,
    pub server_us_per_round_trip: Option<f64>,
    pub driver_cpus: f64,
    pub server_cpus: Option<f64>,
    /// Each side's CPU time per round trip in user and in system mode; null where the kernel
    /// accounted none of it to either (see [`ModeSplit`]).
    pub driver_split: Option<ModeSplit>,
    pub server_split: Option<ModeSplit>,
}

/// One process's CPU time per round trip split into user and system mode: the exact total of
/// its CPU-time clock, in the proportion the kernel's accounting sampled (`utime` and `stime`,
/// which a tick-accounting kernel charges one timer tick at a time), and how much CPU time that
/// sample covers: below about a second, the split is coarse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModeSplit {
    pub user_us_per_round_trip: f64,
    pub system_us_per_round_trip: f64,
    pub sampled_ms: f64,
}

impl CpuUse {
    /// Both processes' CPU time per round trip, in µs; the driver's alone for an unknown server.
    pub fn total_us_per_round_trip(&self) -> f64 {
        self.driver_us_per_round_trip + self.server_us_per_round_trip.unwrap_or(0.0)
    }
}

/// Summary of one run's round-trip latencies, in nanoseconds, as the benchmark's recorder
/// gives them (a case's result holds them in microseconds, [`LatencyUs`]): told to reporters
/// when a run completes, so it is here, below them. The standard deviation is the sample one (n - 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyStats {
    pub count: u64,
    pub mean_ns: f64,
    pub stddev_ns: f64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyUs {
    pub mean: f64,
    /// The mean less the measured cost of the two clock reads around each round trip.
    pub mean_corrected: f64,
    pub stddev: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One pair's figures over a case's runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairFigures {
    /// Counted from 1.
    pub pair: usize,
    /// Round trips timed, or stream messages acknowledged.
    pub iterations: u64,
    pub ops_per_s: f64,
    /// Its mean round trip, or its stream's time per message, in µs.
    pub mean_us: f64,
}

/// Where a case's peers ran, as exported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub samples: u64,
    /// Share of samples (0 to 1) in which driver and server were last seen on the same CPU.
    pub same_cpu_share: f64,
    pub driver_cpus: Vec<usize>,
    pub server_cpus: Vec<usize>,
    /// The driver's measuring thread.
    pub driver_switches_per_round_trip: SwitchesPerRoundTrip,
    /// The server's main thread, which echoes.
    pub server_switches_per_round_trip: SwitchesPerRoundTrip,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SwitchesPerRoundTrip {
    pub voluntary: f64,
    pub involuntary: f64,
}

/// A warning as exported: its kind and its sentence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarningRecord {
    pub kind: &'static str,
    pub message: String,
}

impl BenchmarkResult {
    /// A case that was not run because `size_bytes` is more than the transport carries: no
    /// figures, and `reason` for a note.
    pub fn skipped(transport: TransportKind, size_bytes: usize, reason: String) -> BenchmarkResult {
        BenchmarkResult {
            transport,
            size_bytes,
            pattern: Pattern::RoundTrip,
            iterations: 0,
            status: Status::Skipped,
            error: None,
            skip_reason: Some(reason),
            total_s: 0.0,
            ops_per_s: 0.0,
            mb_per_s: 0.0,
            latency_us: None,
            us_per_message: None,
            runs: Vec::new(),
            runs_median_us: None,
            runs_min_us: None,
            runs_max_us: None,
            noisy: false,
            confidence: None,
            progress_overhead_pct: 0.0,
            histogram: Vec::new(),
            hdr_histogram_v2: None,
            runs_hdr_histogram_v2: Vec::new(),
            hdr_histogram_v2_note: None,
            service_us: None,
            behind_schedule: None,
            cpu: None,
            per_pair: Vec::new(),
            placement: None,
            warnings: Vec::new(),
        }
    }

    /// The case's central figure in µs: the mean round trip, or a stream's time per message;
    /// None when nothing was measured.
    pub fn mean_us(&self) -> Option<f64> {
        match Workload::of_pattern(self.pattern)
            .figures()
            .timed_one_by_one
        {
            true => self.latency_us.map(|l| l.mean),
            false => self.us_per_message,
        }
    }

    /// (max - min) / median of the run means, when there are several runs.
    pub fn runs_spread(&self) -> Option<f64> {
        match (self.runs_min_us, self.runs_max_us, self.runs_median_us) {
            (Some(min), Some(max), Some(median)) if self.runs.len() > 1 && median > 0.0 => {
                Some((max - min) / median)
            }
            _ => None,
        }
    }
}

/// The V2 histogram text one report holds at most, over all its cases and runs. The largest
/// report the tool can write must stay within three quarters of what `plot` and `compare` read
/// back ([`crate::report::saved::MAX_REPORT_BYTES`], 192 MiB), and its other fields take most of
/// that (every transport at 256 sizes, each case with 100 runs and 64 pairs: the test in
/// `export::json`); this is what fits beside them. A case's histogram takes a few KiB, so only
/// a run of many cases with many runs each spends it: then the runs' histograms are left out
/// first, the cases' next (each such result's `hdr_histogram_v2_note` says so).
pub const HDR_V2_BUDGET_BYTES: usize = 8 << 20;

impl BenchmarkResult {
    /// The bytes of V2 text this result holds.
    fn hdr_v2_bytes(&self) -> usize {
        let runs: usize = self.runs_hdr_histogram_v2.iter().map(String::len).sum();
        runs + self.hdr_histogram_v2.as_ref().map_or(0, String::len)
    }
}

impl Report {
    /// Adds `result`, keeping its V2 histograms while all of the report's fit in
    /// [`HDR_V2_BUDGET_BYTES`]: first its runs' go, then its own, with a note saying so.
    pub fn push_result(&mut self, mut result: BenchmarkResult) {
        let spent: usize = self.results.iter().map(BenchmarkResult::hdr_v2_bytes).sum();
        let left = HDR_V2_BUDGET_BYTES.saturating_sub(spent);
        if result.hdr_v2_bytes() > left && !result.runs_hdr_histogram_v2.is_empty() {
            result.runs_hdr_histogram_v2.clear();
            result.hdr_histogram_v2_note = Some(format!(
                "the runs' histograms are left out: the report's histograms would pass {} MiB",
                HDR_V2_BUDGET_BYTES >> 20
            ));
        }
        if result.hdr_v2_bytes() > left && result.hdr_histogram_v2.take().is_some() {
            result.hdr_histogram_v2_note = Some(format!(
                "the case's and its runs' histograms are left out: the report's histograms would pass {} MiB",
                HDR_V2_BUDGET_BYTES >> 20
            ));
        }
        self.results.push(result);
    }

    /// The result for the baseline transport at the same size, if it succeeded.
    pub fn baseline_for(&self, result: &BenchmarkResult) -> Option<&BenchmarkResult> {
        self.results.iter().find(|r| {
            r.transport == self.config.baseline
                && r.size_bytes == result.size_bytes
                && r.pattern == result.pattern
                && r.mean_us().is_some()
        })
    }

    pub fn any_failed(&self) -> bool {
        self.results.iter().any(|r| r.status == Status::Failed)
    }

    /// No case has figures: every one was skipped (or there was none).
    pub fn nothing_measured(&self) -> bool {
        self.results.iter().all(|r| r.status == Status::Skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::kinds::shm_posix;

    #[test]
    fn a_skipped_case_says_why_and_is_not_a_failure() {
        let reason = "larger than msgsize_max 8192".to_string();
        let result = BenchmarkResult::skipped(shm_posix::KIND, 65536, reason.clone());
        assert_eq!(result.status, Status::Skipped);
        assert_eq!(result.skip_reason, Some(reason));
        assert_eq!((result.error, result.iterations), (None, 0));
        assert!(result.latency_us.is_none() && result.histogram.is_empty());
        let mut report = crate::report::test_report::sample();
        report.results = vec![BenchmarkResult::skipped(shm_posix::KIND, 100, "x".into())];
        assert!(report.nothing_measured() && !report.any_failed());
    }

    #[test]
    fn histograms_beyond_the_budget_are_left_out_runs_first_with_a_note() {
        let mut report = crate::report::test_report::sample();
        let mut case = report.results[0].clone();
        report.results.clear();
        let half = "x".repeat(HDR_V2_BUDGET_BYTES / 2 + 1);
        case.hdr_histogram_v2 = Some(half.clone());
        case.runs_hdr_histogram_v2 = vec![half.clone()];
        report.push_result(case.clone());
        assert!(report.results[0].hdr_histogram_v2_note.is_some());
        assert!(report.results[0].runs_hdr_histogram_v2.is_empty());
        assert!(report.results[0].hdr_histogram_v2.is_some());
        let small = BenchmarkResult {
            hdr_histogram_v2: Some("small".into()),
            runs_hdr_histogram_v2: Vec::new(),
            ..case.clone()
        };
        report.push_result(small);
        assert!(report.results[1].hdr_histogram_v2_note.is_none());
        case.runs_hdr_histogram_v2.clear();
        report.push_result(case);
        assert_eq!(report.results[2].hdr_histogram_v2, None);
        assert!(report.results[2]
            .hdr_histogram_v2_note
            .as_deref()
            .unwrap()
            .contains("8 MiB"));
    }
}
