//! `--pairs N`: N independent client/server pairs at once, each with its own server process,
//! endpoint and client process, each client pinned as [`Pinning::for_pair`](crate::system::placement::Pinning::for_pair) says. Every pair
//! warms up, then all start their timed runs together (the start line the driver keeps across
//! the client processes, `clients.rs`), and their measurements are merged into one run of the
//! case ([`merge`]): every round trip or stream message of every pair in the distribution and
//! the counts, the longest pair's wall time as the run's (so that messages/s is the
//! aggregate), and each pair's own figures beside them. One pair is the same run with nothing
//! to merge.
//!
//! Once a pair fails, the run has failed: the driver tells the other clients to stop (their
//! loops stop at their next look for signals, [`MeasureError::AnotherPairFailed`]) instead of
//! running on for nothing, and the run reports the error of the pair that failed first of
//! itself. Every workload runs so: each client measures through the one `measure_client`.
//!
//! Each client is a process of its own, whose CPU clock counts it alone over its timed run:
//! the run's client CPU time is the sum of the pairs', as the servers' is. Placement and
//! progress are the first pair's.

use crate::benchmark::cpu::CpuSpent;
use crate::benchmark::executor::{Pair, ProcessExecutor};
use crate::benchmark::measure::{MeasureError, PairRun, ProgressSink, RunMeasurement};
use crate::benchmark::outcome::{Case, RunError, RunOutcome};
use crate::transport::Workload;

impl ProcessExecutor<'_> {
    /// One run of `case` with `--pairs` pairs (one by default).
    pub(super) fn run_pairs(&mut self, case: &Case, progress: &mut dyn ProgressSink) -> RunOutcome {
        let pairs = self.options.pairs;
        let mut started = Vec::with_capacity(pairs);
        for index in 0..pairs {
            match self.start_pair(case, self.pin_of_pair(index)) {
                Ok(pair) => started.push(pair),
                Err(e) => {
                    let error = match pairs {
                        1 => e,
                        _ => pair_error(index, e),
                    };
                    return self.tear_down_all(started, RunOutcome::failed(error));
                }
            }
        }
        let mut outcomes = self.run_clients(case, &started, progress);
        if self.options.workload == Workload::OneWay {
            for (outcome, pair) in outcomes.iter_mut().zip(&started) {
                self.take_one_way_latencies(pair, outcome);
            }
        }
        let outcome = match pairs {
            1 => outcomes.pop().unwrap_or_default(),
            _ => merge(outcomes),
        };
        self.tear_down_all(started, outcome)
    }

    /// Tears every started pair down, as `outcome` went.
    fn tear_down_all(&self, pairs: Vec<Pair>, mut outcome: RunOutcome) -> RunOutcome {
        let several = self.options.pairs > 1;
        for (index, pair) in pairs.into_iter().enumerate() {
            self.tear_down(pair, several.then_some(index + 1), &mut outcome);
        }
        outcome
    }
}

/// Whether `error` is only that another pair failed first.
fn stopped_for_another(error: &RunError) -> bool {
    matches!(error, RunError::Measure(MeasureError::AnotherPairFailed))
}

/// `error`, said of pair `index` (counted from 0, named from 1).
fn pair_error(index: usize, error: RunError) -> RunError {
    RunError::Pair {
        pair: index + 1,
        source: Box::new(error),
    }
}

/// The pairs' outcomes as one run's: every measurement merged, and the error of the first
/// pair that failed of itself (not only stopped because another had failed).
pub fn merge(outcomes: Vec<RunOutcome>) -> RunOutcome {
    let mut error: Option<RunError> = None;
    let mut merged: Option<RunMeasurement> = None;
    for (index, outcome) in outcomes.into_iter().enumerate() {
        let replaces = |e: &RunError| match &error {
            None => true,
            Some(RunError::Pair { source, .. }) => {
                stopped_for_another(source) && !stopped_for_another(e)
            }
            Some(_) => false,
        };
        if let Some(e) = outcome.error.filter(|e| replaces(e)) {
            error = Some(pair_error(index, e));
        }
        if let Some(run) = outcome.measurement {
            merged = Some(match merged {
                None => first_of_pairs(run),
                Some(sum) => add_pair(sum, &run),
            });
        }
    }
    RunOutcome {
        measurement: merged,
        error,
    }
}

/// The first pair's run, as the start of the merged one.
fn first_of_pairs(run: RunMeasurement) -> RunMeasurement {
    RunMeasurement {
        per_pair: vec![PairRun::of(&run)],
        ..run
    }
}

/// `sum` with one more pair's `run` in it.
fn add_pair(mut sum: RunMeasurement, run: &RunMeasurement) -> RunMeasurement {
    sum.latencies.merge(&run.latencies);
    if let (Some(service), Some(more)) = (&mut sum.service, &run.service) {
        service.merge(more);
    }
    sum.behind_schedule += run.behind_schedule;
    sum.elapsed = sum.elapsed.max(run.elapsed);
    sum.stream_messages += run.stream_messages;
    sum.cpu = match (sum.cpu, run.cpu) {
        // Every pair's client and server is a process of its own: their times add up.
        (Some(a), Some(b)) => Some(CpuSpent {
            driver: a.driver + b.driver,
            server: a.server.zip(b.server).map(|(a, b)| a + b),
            driver_modes: a.driver_modes.zip(b.driver_modes).map(|(a, b)| a.plus(b)),
            server_modes: a.server_modes.zip(b.server_modes).map(|(a, b)| a.plus(b)),
        }),
        _ => None,
    };
    sum.per_pair.push(PairRun::of(run));
    sum
}
