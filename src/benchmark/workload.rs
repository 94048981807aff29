//! A workload's measuring, behind one trait: [`TimedLoop`] has a warm-up and a timed run, and
//! each workload's file implements it (round trips in [`measure`], requests in flight in
//! [`in_flight`], a one-way stream in [`stream`]); [`timed_loop`] picks the one for a
//! [`Workload`]. The value itself, with everything the reports say of it, sits in the
//! transport vocabulary (`transport::workload`), where the transports name it too.
//!
//! The loop is chosen once per run, so a run pays one virtual call for its warm-up and one for
//! its timed run, never one per round trip. A loop takes its client, its buffers, its config
//! and what may stop it ([`LoopInput`]), a progress sink and what watches the peers
//! ([`Watchers`]), and returns a [`RunMeasurement`]: nothing of the driver, so that the loop
//! can run in a process of its own.
//!
//! Adding a workload: its variant in `transport::workload`, its file here implementing
//! [`TimedLoop`], and its line in [`timed_loop`].

use std::sync::atomic::{AtomicBool, Ordering};

use crate::benchmark::cpu::CpuWatch;
use crate::benchmark::in_flight;
use crate::benchmark::measure::{
    self, EchoBuffers, MeasureConfig, MeasureError, ProgressSink, RunMeasurement,
};
use crate::benchmark::placement::PlacementSampler;
use crate::benchmark::stream;
use crate::system::signals;
use crate::transport::{TransportClient, TransportError, Workload};

/// What ends a loop early, looked at between round trips (or every so many stream messages):
/// a stop signal, or, with `--pairs`, the flag the pairs of a run share, set once one of them
/// failed.
#[derive(Debug, Clone, Copy)]
pub struct StopCheck<'a> {
    another_pair_failed: &'a AtomicBool,
}

impl<'a> StopCheck<'a> {
    /// Looks at the signals, and at `another_pair_failed`, which the pairs of a run share.
    pub fn new(another_pair_failed: &'a AtomicBool) -> StopCheck<'a> {
        StopCheck {
            another_pair_failed,
        }
    }

    /// Err once the loop must stop: a signal asked to, or another pair failed.
    pub fn check(self) -> Result<(), MeasureError> {
        match signals::received() {
            Some(_) => Err(TransportError::Interrupted.into()),
            None if self.another_pair_failed.load(Ordering::Relaxed) => {
                Err(MeasureError::AnotherPairFailed)
            }
            None => Ok(()),
        }
    }
}

/// What a loop works with: the client, its buffers, what to do, and what stops it.
pub struct LoopInput<'a> {
    pub client: &'a mut dyn TransportClient,
    pub buffers: &'a mut EchoBuffers,
    pub config: &'a MeasureConfig,
    pub stop: StopCheck<'a>,
}

/// What watches the peers over a timed run: where they run (when told whom to watch) and the
/// CPU time they use.
pub struct Watchers {
    pub sampler: Option<PlacementSampler>,
    pub cpu: CpuWatch,
}

/// A workload's measuring: an untimed warm-up, then the timed run.
pub trait TimedLoop: Sync {
    /// The warm-up: untimed, every reply checked byte for byte.
    fn warm_up(&self, input: &mut LoopInput<'_>) -> Result<(), MeasureError>;

    /// The timed run, numbered on from the warm-up; on failure, what was measured before it.
    fn timed_run(
        &self,
        input: &mut LoopInput<'_>,
        progress: &mut dyn ProgressSink,
        watchers: Watchers,
    ) -> RunMeasurement;
}

/// The loop that measures `workload`.
pub fn timed_loop(workload: Workload) -> &'static dyn TimedLoop {
    match workload {
        Workload::RoundTrip => &measure::RoundTrips,
        Workload::InFlight(_) => &in_flight::InFlight,
        Workload::Stream => &stream::Stream,
    }
}
