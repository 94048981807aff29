//! `--pairs N`: N independent client/server pairs at once, each with its own server process and
//! endpoint, each client on a thread of its own, pinned as [`Pinning::for_pair`] says. Every
//! pair warms up, then all start their timed runs together (a barrier), and their measurements
//! are merged into one run of the case ([`merge`]): every round trip or stream message of every
//! pair in the distribution and the counts, the longest pair's wall time as the run's (so
//! that messages/s is the aggregate), and each pair's own figures beside them.
//!
//! Once a pair fails, the run has failed: it sets the flag the pairs of the run share (no
//! process-wide state: each run has its own), the others stop at their next look for signals
//! ([`MeasureError::AnotherPairFailed`]) instead of running on for nothing, and the run reports
//! the error of the pair that failed first of itself. Every workload runs so: the pairs
//! measure through the one `measure_client`, which picks the workload's loop.
//!
//! The driver's CPU clock counts its whole process, every pair's thread, over each pair's
//! timed run: the run takes the largest of them (the pairs' runs overlap), and the sum of the
//! servers'. Placement and progress are the first pair's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Barrier;
use std::thread::{Scope, ScopedJoinHandle};

use crate::benchmark::cpu::CpuSpent;
use crate::benchmark::executor::{
    measure_client, Case, Pair, PairsShare, ProcessExecutor, RunError, RunOutcome,
};
use crate::benchmark::measure::{MeasureError, PairRun, ProgressSink, RunMeasurement};
use crate::system::placement::{self, Pinning};
use crate::system::threads::{self, ThreadError};
use crate::transport::TransportClient;

/// A pair's progress goes nowhere: the first pair's stands for all.
struct Unwatched;

impl ProgressSink for Unwatched {
    fn update(&mut self, _done: u64) {}
}

impl ProcessExecutor<'_> {
    /// One run of `case` with `pairs` pairs.
    pub(super) fn run_pairs(
        &mut self,
        case: &Case,
        pairs: usize,
        progress: &mut dyn ProgressSink,
    ) -> RunOutcome {
        let mut started = Vec::with_capacity(pairs);
        for index in 0..pairs {
            let pin = self
                .options
                .pin
                .map(|p| p.for_pair(index, &self.allowed_cpus));
            match self.start_pair(case, pin) {
                Ok(pair) => started.push(pair),
                Err(e) => {
                    return self.tear_down_all(started, RunOutcome::failed(pair_error(index, e)))
                }
            }
        }
        let clients: Result<Vec<_>, RunError> = (started.iter().enumerate())
            .map(|(index, pair)| self.connect(case, pair).map_err(|e| pair_error(index, e)))
            .collect();
        let outcome = match clients {
            Ok(clients) => merge(self.measure_pairs(case, clients, &started, progress)),
            Err(e) => RunOutcome::failed(e),
        };
        self.tear_down_all(started, outcome)
    }

    /// Measures every pair on a thread of its own, the first on this one (already pinned to
    /// its CPU), all timed runs starting together. The pairs' threads wait at a gate until all
    /// of them have started: one the system refuses (`ulimit -u`) would otherwise leave the
    /// others waiting at the start line for ever.
    fn measure_pairs(
        &self,
        case: &Case,
        clients: Vec<Box<dyn TransportClient>>,
        pairs: &[Pair],
        progress: &mut dyn ProgressSink,
    ) -> Vec<RunOutcome> {
        let line = Barrier::new(clients.len());
        let failed = AtomicBool::new(false);
        let share = PairsShare {
            start_line: &line,
            failed: &failed,
        };
        let mut clients = clients.into_iter();
        let (Some(mut first), Some((first_pair, pairs))) = (clients.next(), pairs.split_first())
        else {
            return Vec::new();
        };
        let outcomes = std::thread::scope(|scope| {
            // The first client is this thread's: the others go with the pairs after it.
            let mut gates = Vec::new();
            let mut others = Vec::new();
            for (other, (client, pair)) in clients.zip(pairs).enumerate() {
                let (gate, opened) = mpsc::channel();
                match self.start_pair_thread(scope, case, other + 1, client, pair, share, opened) {
                    Ok(thread) => (gates.push(gate), others.push(thread)),
                    Err(e) => {
                        // Closing the gates turns the threads already started back.
                        drop(gates);
                        return refused(others, RunError::Thread(e));
                    }
                };
            }
            for gate in &gates {
                // A thread that is gone already (it panicked) is reported when joined.
                let _ = gate.send(());
            }
            let server = self.server_side(first_pair, Some(share));
            let first = measure_client(first.as_mut(), case, self.options, server, progress);
            stop_the_others_if_failed(&first, &failed);
            let mut outcomes = vec![first];
            outcomes.extend(others.into_iter().map(joined));
            outcomes
        });
        outcomes
    }

    /// Starts pair `index`'s measuring thread, which waits for `opened` before it measures.
    #[allow(clippy::too_many_arguments)]
    fn start_pair_thread<'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        case: &'scope Case,
        index: usize,
        mut client: Box<dyn TransportClient>,
        pair: &Pair,
        share: PairsShare<'scope>,
        opened: Receiver<()>,
    ) -> Result<ScopedJoinHandle<'scope, RunOutcome>, ThreadError> {
        let server = self.server_side(pair, Some(share));
        let pin = (self.options.pin).map(|p| p.for_pair(index, &self.allowed_cpus));
        threads::start_scoped(scope, "a pair's measurement", move || {
            if opened.recv().is_err() {
                return RunOutcome::failed(RunError::Measure(MeasureError::AnotherPairFailed));
            }
            if let Err(e) = pin_pair_thread(pin) {
                share.failed.store(true, Ordering::Relaxed);
                share.start_line.wait();
                return RunOutcome::failed(e);
            }
            let outcome =
                measure_client(client.as_mut(), case, self.options, server, &mut Unwatched);
            stop_the_others_if_failed(&outcome, share.failed);
            outcome
        })
    }

    /// Tears every started pair down, as `outcome` went.
    fn tear_down_all(&self, pairs: Vec<Pair>, mut outcome: RunOutcome) -> RunOutcome {
        for pair in pairs {
            self.tear_down(pair, &mut outcome);
        }
        outcome
    }
}

/// Stops the other pairs' loops once `outcome`, a pair's, failed: the run has failed.
fn stop_the_others_if_failed(outcome: &RunOutcome, failed: &AtomicBool) {
    if outcome.error.is_some() {
        failed.store(true, Ordering::Relaxed);
    }
}

/// A pair's outcome, from its thread.
fn joined(thread: ScopedJoinHandle<'_, RunOutcome>) -> RunOutcome {
    thread
        .join()
        .unwrap_or_else(|_| RunOutcome::failed(RunError::Panicked))
}

/// The outcomes of a run whose next pair's thread was refused with `error`: the first pair
/// (this thread's) never measured, the `started` ones were turned back at their gate.
fn refused(started: Vec<ScopedJoinHandle<'_, RunOutcome>>, error: RunError) -> Vec<RunOutcome> {
    let not_run = || RunOutcome::failed(RunError::Measure(MeasureError::AnotherPairFailed));
    let mut outcomes = vec![not_run()];
    outcomes.extend(started.into_iter().map(joined));
    outcomes.push(RunOutcome::failed(error));
    outcomes
}

/// Whether `error` is only that another pair failed first.
fn stopped_for_another(error: &RunError) -> bool {
    matches!(error, RunError::Measure(MeasureError::AnotherPairFailed))
}

/// Pins a pair's measuring thread where its pinning puts the driver.
fn pin_pair_thread(pin: Option<Pinning>) -> Result<(), RunError> {
    match pin {
        Some(pin) => placement::pin_current_thread(pin.driver_cpu).map_err(RunError::Pin),
        None => Ok(()),
    }
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
        // Every pair's client is a thread of the one driver process, whose clock each reads
        // whole: the longest reading has them all. The servers are processes of their own.
        (Some(a), Some(b)) => Some(CpuSpent {
            driver: a.driver.max(b.driver),
            server: a.server.zip(b.server).map(|(a, b)| a + b),
            driver_modes: match a.driver >= b.driver {
                true => a.driver_modes,
                false => b.driver_modes,
            },
            server_modes: a.server_modes.zip(b.server_modes).map(|(a, b)| a.plus(b)),
        }),
        _ => None,
    };
    sum.per_pair.push(PairRun::of(run));
    sum
}
