//! The driver's side of a one-way run (`--pattern one-way`): after a pair's client reported
//! its run, the latencies come from the pair's server, handed over under the end the client
//! reports (`peer::one_way`). The driver checks that the server reads the client's clock (the
//! same time namespace: `system::clock::same_clock_as`; both are its children on this host),
//! and that the latencies count every message the stream delivered. They replace the run's
//! (empty) latencies, so the case has percentiles, a histogram, `.hgrm` files and a spectrum
//! as round trips do. A run that cannot have them whole fails, never reports an empty "ok".

use std::time::Duration;

use crate::benchmark::executor::{Pair, ProcessExecutor};
use crate::benchmark::measure::RunMeasurement;
use crate::benchmark::outcome::{OneWayError, RunError, RunOutcome};
use crate::system::clock;

impl ProcessExecutor<'_> {
    /// Puts the latencies `pair`'s server handed over into the run its client reported in
    /// `outcome`; a run that cannot have them whole fails, naming why.
    pub(super) fn take_one_way_latencies(&self, pair: &Pair, outcome: &mut RunOutcome) {
        if outcome.error.is_some() {
            return;
        }
        let Some(run) = outcome.measurement.as_mut() else {
            return;
        };
        if let Err(e) = server_latencies(pair, run, self.options.timeout) {
            *outcome = RunOutcome::failed(RunError::OneWay(e));
        }
    }
}

/// The latencies of `run`'s stream from `pair`'s server, checked, in place of the run's.
fn server_latencies(
    pair: &Pair,
    run: &mut RunMeasurement,
    timeout: Duration,
) -> Result<(), OneWayError> {
    let end = run.one_way_end.ok_or(OneWayError::NoEnd)?;
    let server = pair.server.pid();
    if !clock::same_clock_as(server)? {
        return Err(OneWayError::OtherClock { server });
    }
    let latencies = pair.server.one_way_latencies(end, timeout)?;
    if latencies.count() != run.stream_messages {
        return Err(OneWayError::Count {
            timed: latencies.count(),
            delivered: run.stream_messages,
        });
    }
    run.latencies = latencies;
    run.stream_messages = 0;
    Ok(())
}
