//! Round trips one at a time ([`Workload::RoundTrip`](crate::transport::Workload)): warm-up,
//! then timed round trips, each verified.
//!
//! The timed region holds the round trip and none of the tool's own work, except the recording
//! of a latency where it runs while the server answers. Stamping the sequence number, checking
//! the echo and updating progress happen outside it, and progress is updated at most every
//! [`PROGRESS_INTERVAL`](crate::benchmark::measure::PROGRESS_INTERVAL) (reusing the clock read
//! the timing already made). Recording a latency does too, except where the client spins for
//! its replies ([`TransportClient::overlaps_reply_wait`]) and the two sides may run at once
//! (not pinned to one CPU, not paced): there each round trip's latency is recorded during the
//! next one, between handing its request over and waiting for the reply, while the server
//! answers, which takes longer than the recording; the loop's wall time per round trip then
//! carries less of the tool's own work.
//!
//! [`TransportClient::overlaps_reply_wait`]: crate::transport::TransportClient::overlaps_reply_wait
//!
//! A zero-copy transport lends the request's memory
//! ([`TransportClient::loan`](crate::transport::TransportClient::loan)): the whole request,
//! sequence number and payload, is written into the loan before the clock starts (the
//! producer's one write of its message), and the echo is checked where it lies, after the clock
//! stopped. The timed region then holds the hand-over of the slot and of its echo, and no copy.

use crate::benchmark::deadline::Deadline;
use crate::benchmark::measure::{
    check_reply, wait_out_if_paced, Between, LoopInput, MeasureError, ProgressSink, Recorders,
    RunMeasurement, Timed, TimedLoop, TimedRegion, Watchers,
};
use crate::system::clock::Tick;

/// Round trips one at a time ([`Workload::RoundTrip`](crate::transport::Workload)), each
/// timed from its send to its echo.
pub struct RoundTrips;

impl TimedLoop for RoundTrips {
    fn warm_up(&self, input: &mut LoopInput<'_>) -> Result<(), MeasureError> {
        let (client, buffers) = (&mut *input.client, &mut *input.buffers);
        for sequence in 1..=input.config.warmup {
            input.stop.check()?;
            buffers.prepare(client, sequence)?;
            let (request, reply) = buffers.round_trip(client);
            check_reply(request, reply?, true, sequence)?;
        }
        Ok(())
    }

    /// Sequence numbers continue after the warm-up's.
    fn timed_run(
        &self,
        input: &mut LoopInput<'_>,
        progress: &mut dyn ProgressSink,
        watchers: Watchers,
    ) -> RunMeasurement {
        let config = input.config;
        let mut recorders = Recorders::new(config.interval.is_some());
        let mut region = TimedRegion::start(watchers, progress, config.interval);
        let deadline = region.deadline(config);
        let between = &mut region.between;
        let error = round_trips(input, deadline, &mut recorders, between)
            .and_then(|()| wait_out_if_paced(config, deadline, input.stop))
            .err();
        let done = recorders.latencies.count();
        region.end(recorders.latencies, recorders.service, 0, done, error)
    }
}

/// The round trips themselves; the first failure ends them, and so does the `deadline` of a
/// time-bounded run (read off the clock reading that ends each round trip, so it costs no
/// read of its own; a paced run stops when its next slot is past it). The timed region is the
/// round trip between `before` and `after` (and, where the client overlaps its wait, the
/// recording of the latency before, while the server answers). A latency left unrecorded by a client that overlaps its wait (the last one, or the one
/// before a round trip that failed) is recorded after the loop.
fn round_trips(
    input: &mut LoopInput<'_>,
    deadline: Option<Deadline>,
    recorders: &mut Recorders,
    between: &mut Between<'_>,
) -> Result<(), MeasureError> {
    let mut unrecorded = None;
    let outcome = timed_round_trips(input, deadline, recorders, &mut unrecorded, between);
    if let Some(timed) = unrecorded {
        recorders.record_timed(timed);
    }
    outcome
}

/// The loop of [`round_trips`]; `unrecorded` holds the latency that waits for the next round
/// trip's `meanwhile`.
fn timed_round_trips(
    input: &mut LoopInput<'_>,
    deadline: Option<Deadline>,
    recorders: &mut Recorders,
    unrecorded: &mut Option<Timed>,
    between: &mut Between<'_>,
) -> Result<(), MeasureError> {
    let (client, buffers) = (&mut *input.client, &mut *input.buffers);
    let (config, stop) = (input.config, input.stop);
    // Paced, the loop waits between round trips anyway; on one CPU the server cannot answer
    // while the client records.
    let overlapped =
        client.overlaps_reply_wait() && !config.peers_share_a_cpu && config.interval.is_none();
    let last = config.last_sequence();
    for sequence in config.warmup + 1..=last {
        stop.check()?;
        if let (Some(deadline), Some(pacer)) = (deadline, &between.pacer) {
            if pacer.next_slot() >= deadline.at() {
                break;
            }
        }
        buffers.prepare(client, sequence)?;
        let slot = between
            .pacer
            .as_mut()
            .map(|p| p.wait_for_slot(|| stop.check()));
        let intended = slot.transpose()?;
        let before = Tick::now();
        let (request, result) = if overlapped {
            let mut record_the_last = || {
                if let Some(timed) = unrecorded.take() {
                    recorders.record_timed(timed);
                }
            };
            buffers.round_trip_meanwhile(client, &mut record_the_last)
        } else {
            buffers.round_trip(client)
        };
        let after = Tick::now();
        let reply = result?;
        let timed = Timed {
            intended,
            sent: before,
            after,
        };
        if !overlapped {
            recorders.record_timed(timed);
        } else if let Some(earlier) = unrecorded.replace(timed) {
            // A client that did not run its `meanwhile` loses nothing: recorded now.
            recorders.record_timed(earlier);
        }
        let time_up = deadline.is_some_and(|d| d.passed(after));
        let full = config.verify_all || sequence == last || time_up;
        check_reply(request, reply, full, sequence)?;
        between.round_trip_done(after, sequence - config.warmup);
        if time_up {
            break;
        }
    }
    Ok(())
}
