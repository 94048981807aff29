//! The one serializable result document that the summary table and every exporter consume.
//! Field names are the documented JSON schema: change them only with the README.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::benchmark::measure::RunMeasurement;
use crate::benchmark::placement::{Placement, PlacementTally};
use crate::benchmark::stats::{LatencyRecorder, LatencyStats, RunSpread};
use crate::benchmark::warnings::{case_warnings, WarningRecord};
use crate::peer::external::ExternalPeer;
use crate::system::machine::Machine;
use crate::system::placement::Pinning;
use crate::transport::TransportKind;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub config: Config,
    pub machine: Machine,
    pub clock_overhead_ns: f64,
    /// "complete", or "interrupted by SIGINT" etc.
    pub state: String,
    pub results: Vec<BenchmarkResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub iterations: u64,
    pub warmup: u64,
    pub runs: u32,
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
    pub connect: Option<ExternalPeer>,
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
    /// Timed round trips completed, summed over all runs.
    pub iterations: u64,
    pub status: Status,
    pub error: Option<String>,
    /// Why a skipped case was not run (`larger than msgsize_max 8192`); null otherwise.
    pub skip_reason: Option<String>,
    /// Wall time of the timed loops, summed over all runs.
    pub total_s: f64,
    pub ops_per_s: f64,
    /// Payload megabytes (10^6 bytes) per second in each direction.
    pub mb_per_s: f64,
    /// Null when no round trip completed.
    pub latency_us: Option<LatencyUs>,
    /// Mean round-trip latency of each run, in µs.
    pub runs: Vec<f64>,
    pub runs_median_us: Option<f64>,
    pub runs_min_us: Option<f64>,
    pub runs_max_us: Option<f64>,
    pub noisy: bool,
    /// Share of the timed wall time spent updating the progress display, in percent.
    pub progress_overhead_pct: f64,
    /// `[percentile, latency_us]` pairs describing the whole distribution.
    pub histogram: Vec<[f64; 2]>,
    /// Paced runs only: latencies from the actual send time (`latency_us` counts from the
    /// intended one).
    pub service_us: Option<LatencyUs>,
    /// Paced runs only: requests that could not leave on time.
    pub behind_schedule: Option<u64>,
    /// Where the peers ran; null when nothing was sampled.
    pub placement: Option<Placement>,
    pub warnings: Vec<WarningRecord>,
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

impl From<LatencyStats> for LatencyUs {
    fn from(s: LatencyStats) -> LatencyUs {
        LatencyUs {
            mean: s.mean_ns / 1000.0,
            mean_corrected: s.mean_ns / 1000.0,
            stddev: s.stddev_ns / 1000.0,
            min: us(s.min_ns),
            p50: us(s.p50_ns),
            p90: us(s.p90_ns),
            p99: us(s.p99_ns),
            p999: us(s.p999_ns),
            max: us(s.max_ns),
        }
    }
}

impl LatencyUs {
    /// With `mean_corrected` less the clock's cost per round trip (never below zero).
    fn corrected_by(mut self, clock_overhead_ns: f64) -> LatencyUs {
        self.mean_corrected = (self.mean - clock_overhead_ns / 1000.0).max(0.0);
        self
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
        }
    }

    /// Adds what one run measured, even if the run then failed.
    pub fn add(&mut self, run: &RunMeasurement) {
        self.latencies.merge(&run.latencies);
        if let Some(service) = &run.service {
            self.service
                .get_or_insert_with(LatencyRecorder::new)
                .merge(service);
        }
        self.behind_schedule += run.behind_schedule;
        if let Some(placement) = &run.placement {
            self.placement.merge(placement);
        }
        self.total_s += run.elapsed.as_secs_f64();
        self.progress_s += run.progress_time.as_secs_f64();
    }

    pub fn into_result(
        self,
        transport: TransportKind,
        size_bytes: usize,
        status: Status,
        error: Option<String>,
    ) -> BenchmarkResult {
        let iterations = self.latencies.count();
        // A case that measured nothing is never "ok", whatever else went right.
        let (status, error) = match (status, iterations) {
            (Status::Ok, 0) => (
                Status::Failed,
                Some("no timed round trip completed".to_string()),
            ),
            other => (other.0, error),
        };
        let ops_per_s = per_second(iterations as f64, self.total_s);
        let spread = RunSpread::of(&self.run_means_ns);
        let warnings = case_warnings(
            &self.latencies,
            &self.placement,
            &self.run_means_ns,
            self.clock_overhead_ns,
        );
        BenchmarkResult {
            transport,
            size_bytes,
            iterations,
            status,
            error,
            skip_reason: None,
            total_s: self.total_s,
            ops_per_s,
            mb_per_s: ops_per_s * size_bytes as f64 / 1e6,
            latency_us: self.summary_of(Some(&self.latencies)),
            runs: self.run_means_ns.iter().map(|ns| ns / 1000.0).collect(),
            runs_median_us: spread.map(|s| s.median_ns / 1000.0),
            runs_min_us: spread.map(|s| s.min_ns / 1000.0),
            runs_max_us: spread.map(|s| s.max_ns / 1000.0),
            noisy: spread.is_some_and(|s| self.run_means_ns.len() > 1 && s.is_noisy()),
            progress_overhead_pct: 100.0 * per_second(self.progress_s, self.total_s),
            histogram: (self.latencies.curve().into_iter())
                .map(|(p, ns)| [p, us(ns)])
                .collect(),
            service_us: self.summary_of(self.service.as_ref()),
            behind_schedule: self.service.is_some().then_some(self.behind_schedule),
            placement: self.placement.summary(),
            warnings: warnings.iter().map(WarningRecord::from).collect(),
        }
    }

    /// A recorder's summary in µs, with the clock's cost taken off the corrected mean.
    fn summary_of(&self, recorder: Option<&LatencyRecorder>) -> Option<LatencyUs> {
        let stats = recorder?.stats()?;
        Some(LatencyUs::from(stats).corrected_by(self.clock_overhead_ns))
    }
}

impl Default for CaseTally {
    fn default() -> Self {
        Self::new()
    }
}

impl BenchmarkResult {
    /// A case that was not run because `size_bytes` is more than the transport carries.
    pub fn skipped(transport: TransportKind, size_bytes: usize, reason: String) -> BenchmarkResult {
        BenchmarkResult {
            skip_reason: Some(reason),
            ..CaseTally::new().into_result(transport, size_bytes, Status::Skipped, None)
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

impl Report {
    /// The result for the baseline transport at the same size, if it succeeded.
    pub fn baseline_for(&self, result: &BenchmarkResult) -> Option<&BenchmarkResult> {
        self.results.iter().find(|r| {
            r.transport == self.config.baseline
                && r.size_bytes == result.size_bytes
                && r.latency_us.is_some()
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
    use crate::transport::shm_posix;

    #[test]
    fn a_skipped_case_says_why_and_is_not_a_failure() {
        let reason = "larger than msgsize_max 8192".to_string();
        let result = BenchmarkResult::skipped(shm_posix::KIND, 65536, reason.clone());
        assert_eq!(result.status, Status::Skipped);
        assert_eq!(result.skip_reason, Some(reason));
        assert_eq!((result.error, result.iterations), (None, 0));
        assert!(result.latency_us.is_none() && result.histogram.is_empty());
    }

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
}
