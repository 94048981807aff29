//! What the runs of one case measured, gathered run by run ([`CaseTally`]), and the case's
//! [`BenchmarkResult`] computed from it once all its runs are done: statistics, run spread,
//! warnings and placement, in the report's units.

use crate::benchmark::cpu::CpuTally;
use crate::benchmark::measure::{PairRun, RunMeasurement};
use crate::benchmark::placement::PlacementTally;
use crate::benchmark::stats::{LatencyRecorder, RunSpread};
use crate::benchmark::warnings::case_warnings;
use crate::report::result::{
    BenchmarkResult, LatencyStats, LatencyUs, PairFigures, Status, WarningRecord,
};
use crate::transport::{TransportKind, Workload};

/// `amount` per second of `seconds`, or 0 when no time passed.
fn per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        amount / seconds
    } else {
        0.0
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// `stats` in µs, with `mean_corrected` less the clock's cost per round trip (never below zero).
fn latency_us(stats: LatencyStats, clock_overhead_ns: f64) -> LatencyUs {
    let mean = stats.mean_ns / 1000.0;
    LatencyUs {
        mean,
        mean_corrected: (mean - clock_overhead_ns / 1000.0).max(0.0),
        stddev: stats.stddev_ns / 1000.0,
        min: us(stats.min_ns),
        p50: us(stats.p50_ns),
        p90: us(stats.p90_ns),
        p99: us(stats.p99_ns),
        p999: us(stats.p999_ns),
        max: us(stats.max_ns),
    }
}

/// The measured parts of one case, gathered run by run.
pub struct CaseTally {
    pub latencies: LatencyRecorder,
    /// Paced runs only.
    pub service: Option<LatencyRecorder>,
    pub behind_schedule: u64,
    pub placement: PlacementTally,
    pub run_means_ns: Vec<f64>,
    pub total_s: f64,
    pub progress_s: f64,
    /// What two clock reads cost, measured at start: subtracted for `mean_corrected`.
    pub clock_overhead_ns: f64,
    pub cpu: CpuTally,
    /// A stream's messages acknowledged, over all runs.
    pub stream_messages: u64,
    /// What the runs measured.
    pub workload: Workload,
    /// With `--pairs`: each pair's runs, added up.
    pub per_pair: Vec<PairTally>,
    /// Each run's latency histogram in HdrHistogram's V2 encoding, for runs that timed any.
    pub runs_hdr_v2: Vec<String>,
}

/// One pair's runs, added up.
#[derive(Debug, Clone, Copy, Default)]
pub struct PairTally {
    completed: u64,
    elapsed_s: f64,
    /// Sum over runs of mean × count: the pair's mean over all its runs, once divided.
    weighted_mean_ns: f64,
}

impl PairTally {
    fn add(&mut self, run: &PairRun) {
        self.completed += run.completed;
        self.elapsed_s += run.elapsed.as_secs_f64();
        self.weighted_mean_ns += run.mean_ns * run.completed as f64;
    }

    fn figures(&self, index: usize) -> PairFigures {
        let mean_ns = match self.completed {
            0 => 0.0,
            n => self.weighted_mean_ns / n as f64,
        };
        PairFigures {
            pair: index + 1,
            iterations: self.completed,
            ops_per_s: per_second(self.completed as f64, self.elapsed_s),
            mean_us: mean_ns / 1000.0,
        }
    }
}

impl CaseTally {
    pub fn new() -> CaseTally {
        CaseTally {
            latencies: LatencyRecorder::new(),
            service: None,
            behind_schedule: 0,
            placement: PlacementTally::default(),
            run_means_ns: Vec::new(),
            total_s: 0.0,
            progress_s: 0.0,
            clock_overhead_ns: 0.0,
            cpu: CpuTally::default(),
            stream_messages: 0,
            workload: Workload::RoundTrip,
            per_pair: Vec::new(),
            runs_hdr_v2: Vec::new(),
        }
    }

    /// Adds what one run measured, even if the run then failed.
    pub fn add(&mut self, run: &RunMeasurement) {
        self.latencies.merge(&run.latencies);
        self.runs_hdr_v2.extend(run.latencies.hdr_v2());
        if let Some(service) = &run.service {
            self.service
                .get_or_insert_with(LatencyRecorder::new)
                .merge(service);
        }
        self.behind_schedule += run.behind_schedule;
        if let Some(placement) = &run.placement {
            self.placement.merge(placement);
        }
        if let Some(spent) = run.cpu {
            (self.cpu).add(spent, run.elapsed, run.completed());
        }
        self.stream_messages += run.stream_messages;
        if self.per_pair.len() < run.per_pair.len() {
            self.per_pair
                .resize(run.per_pair.len(), PairTally::default());
        }
        for (tally, pair) in self.per_pair.iter_mut().zip(&run.per_pair) {
            tally.add(pair);
        }
        self.total_s += run.elapsed.as_secs_f64();
        self.progress_s += run.progress_time.as_secs_f64();
    }

    /// The case's result, with `status` unless it measured nothing (then it failed).
    pub fn into_result(
        self,
        transport: TransportKind,
        size_bytes: usize,
        status: Status,
        error: Option<String>,
    ) -> BenchmarkResult {
        let iterations = self.latencies.count() + self.stream_messages;
        // A case that measured nothing is never "ok", whatever else went right.
        let (status, error) = match (status, iterations) {
            (Status::Ok, 0) => (
                Status::Failed,
                Some(self.workload.figures().nothing_measured.to_string()),
            ),
            other => (other.0, error),
        };
        let ops_per_s = per_second(iterations as f64, self.total_s);
        let spread = RunSpread::of(&self.run_means_ns);
        BenchmarkResult {
            transport,
            size_bytes,
            pattern: self.workload.pattern(),
            iterations,
            status,
            error,
            skip_reason: None,
            total_s: self.total_s,
            ops_per_s,
            mb_per_s: ops_per_s * size_bytes as f64 / 1e6,
            latency_us: self.summary_of(Some(&self.latencies)),
            us_per_message: (self.stream_messages > 0)
                .then(|| self.total_s * 1e6 / self.stream_messages as f64),
            runs: self.run_means_ns.iter().map(|ns| ns / 1000.0).collect(),
            runs_median_us: spread.map(|s| s.median_ns / 1000.0),
            runs_min_us: spread.map(|s| s.min_ns / 1000.0),
            runs_max_us: spread.map(|s| s.max_ns / 1000.0),
            noisy: spread.is_some_and(|s| self.run_means_ns.len() > 1 && s.is_noisy()),
            confidence: None,
            progress_overhead_pct: 100.0 * per_second(self.progress_s, self.total_s),
            service_us: self.summary_of(self.service.as_ref()),
            behind_schedule: self.service.is_some().then_some(self.behind_schedule),
            ..self.distribution_and_placement(transport, size_bytes)
        }
    }

    /// The parts of the result that describe how the figures are spread and where the peers
    /// ran: histograms, CPU, each pair, placement and warnings. The rest is
    /// [`into_result`](CaseTally::into_result)'s.
    fn distribution_and_placement(
        &self,
        transport: TransportKind,
        size_bytes: usize,
    ) -> BenchmarkResult {
        let warnings = case_warnings(
            &self.latencies,
            &self.placement,
            &self.run_means_ns,
            self.clock_overhead_ns,
        );
        BenchmarkResult {
            histogram: (self.latencies.curve().into_iter())
                .map(|(p, ns)| [p, us(ns)])
                .collect(),
            hdr_histogram_v2: self.latencies.hdr_v2(),
            runs_hdr_histogram_v2: self.runs_hdr_v2.clone(),
            hdr_histogram_v2_note: None,
            cpu: self.cpu.figures(),
            per_pair: (self.per_pair.iter().enumerate())
                .map(|(index, pair)| pair.figures(index))
                .collect(),
            placement: self.placement.summary(),
            warnings: warnings.iter().map(WarningRecord::from).collect(),
            // A result with no figures, whose other fields the caller fills in.
            ..BenchmarkResult::skipped(transport, size_bytes, String::new())
        }
    }

    /// A recorder's summary in µs, with the clock's cost taken off the corrected mean.
    fn summary_of(&self, recorder: Option<&LatencyRecorder>) -> Option<LatencyUs> {
        Some(latency_us(recorder?.stats()?, self.clock_overhead_ns))
    }
}

impl Default for CaseTally {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::kinds::shm_posix;

    #[test]
    fn a_case_that_measured_nothing_is_never_ok() {
        let result = CaseTally::new().into_result(shm_posix::KIND, 100, Status::Ok, None);
        assert_eq!(result.status, Status::Failed);
        assert_eq!(
            result.error.as_deref(),
            Some("no timed round trip completed")
        );
        assert!(result.latency_us.is_none());
        let interrupted =
            CaseTally::new().into_result(shm_posix::KIND, 100, Status::Interrupted, None);
        assert_eq!(interrupted.status, Status::Interrupted);
    }

    #[test]
    fn a_skipped_result_has_the_figures_of_a_tally_of_nothing() {
        let reason = "larger than msgsize_max 8192".to_string();
        let nothing = BenchmarkResult {
            skip_reason: Some(reason.clone()),
            ..CaseTally::new().into_result(shm_posix::KIND, 65536, Status::Skipped, None)
        };
        let skipped = BenchmarkResult::skipped(shm_posix::KIND, 65536, reason);
        let json = |result: &BenchmarkResult| serde_json::to_value(result).unwrap();
        assert_eq!(json(&skipped), json(&nothing));
    }

    #[test]
    fn the_corrected_mean_takes_off_the_clock_but_never_goes_below_zero() {
        let mut tally = CaseTally::new();
        (1..=4u64).for_each(|us| tally.latencies.record(us * 1000));
        tally.clock_overhead_ns = 500.0;
        let latency = tally.summary_of(Some(&tally.latencies)).unwrap();
        assert_eq!((latency.mean, latency.mean_corrected), (2.5, 2.0));
        tally.clock_overhead_ns = 1e6;
        let latency = tally.summary_of(Some(&tally.latencies)).unwrap();
        assert_eq!(latency.mean_corrected, 0.0);
    }
}
