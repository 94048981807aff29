//! One-way latency (`--pattern one-way`, [`Workload::OneWay`](crate::transport::Workload)):
//! the client's loop. The driver's taking of the server's latencies after it is in
//! [`one_way_latencies`](crate::benchmark::one_way_latencies).
//!
//! The client streams as [`stream`](crate::benchmark::stream) does (the same protocol, the same
//! acknowledgement at the end), back to back or paced by `--interval`, and writes into each
//! message, beside its sequence number, its `CLOCK_MONOTONIC` just before the send: after the
//! copy into a zero-copy transport's loan, before a copying transport's `send` (whose copy
//! into the kernel is part of sending). The latencies are the server's: it reads the same
//! clock when the message is whole and records the difference (`peer/server.rs`). So the
//! client records nothing per message, and its run reports how many messages the stream
//! delivered, the stream's wall time (the rate, messages/s) and the number of its end.
//!
//! Paced (`--interval`), each message leaves at its slot and its latency still runs from its
//! actual send (the stamp), as the definition has it: unlike a paced round trip, a message
//! that leaves after its slot is not charged the lateness.

use crate::benchmark::deadline::{Deadline, Looks};
use crate::benchmark::measure::{
    wait_out_if_paced, Between, LoopInput, MeasureError, ProgressSink, RunMeasurement, StopCheck,
    TimedLoop, TimedRegion, Watchers,
};
use crate::benchmark::stats::LatencyRecorder;
use crate::benchmark::stream::CHECK_EVERY;
use crate::system::clock::Tick;
use crate::transport::stream::FIRST_SEQUENCE;

/// Whether the run is over at this look: a signal or another pair's failure (an error), or
/// its `deadline` passed (or, paced, its next slot would be past it). Tells `between` of the
/// progress, `sent` messages so far.
fn look(
    stop: StopCheck<'_>,
    between: Option<&mut Between<'_>>,
    deadline: Option<Deadline>,
    sent: u64,
) -> Result<bool, MeasureError> {
    stop.check()?;
    let now = Tick::now();
    let Some(between) = between else {
        return Ok(deadline.is_some_and(|d| d.passed(now)));
    };
    between.round_trip_done(now, sent);
    let next = between
        .pacer
        .as_ref()
        .map_or(now, |p| p.next_slot().max(now));
    Ok(deadline.is_some_and(|d| d.passed(next)))
}

/// Streams stamped messages `first..=last` (or until `deadline`), paced if `between` holds a
/// pacer, and has them acknowledged. Returns how many were sent, and the end's number.
fn one_way(
    input: &mut LoopInput<'_>,
    (first, last): (u64, u64),
    deadline: Option<Deadline>,
    mut between: Option<&mut Between<'_>>,
) -> (u64, Result<u64, MeasureError>) {
    let (client, buffers, stop) = (&mut *input.client, &mut *input.buffers, input.stop);
    let paced = between.as_ref().is_some_and(|b| b.pacer.is_some());
    let start = Tick::now();
    let mut looks = match deadline {
        Some(_) => Looks::adapted(start),
        None => Looks::every(CHECK_EVERY, start),
    };
    let mut sent = 0;
    for sequence in first..=last {
        if paced || looks.due() {
            match look(stop, between.as_deref_mut(), deadline, sent) {
                Err(e) => return (sent, Err(e)),
                Ok(true) => break,
                Ok(false) => looks.looked(Tick::now()),
            }
        }
        if let Some(pacer) = between.as_deref_mut().and_then(|b| b.pacer.as_mut()) {
            if let Err(e) = pacer.wait_for_slot(|| stop.check()) {
                return (sent, Err(e));
            }
        }
        if let Err(e) = buffers.send_message(client, sequence, true) {
            return (sent, Err(e.into()));
        }
        sent += 1;
    }
    (sent, buffers.acknowledge(client))
}

/// One-way latencies ([`Workload::OneWay`](crate::transport::Workload)): a stamped stream,
/// timed message by message by the server.
pub struct OneWay;

impl TimedLoop for OneWay {
    /// One short stamped stream of `config.warmup` messages, acknowledged; the server's
    /// latencies of it are handed over under its own end, which the driver passes over.
    fn warm_up(&self, input: &mut LoopInput<'_>) -> Result<(), MeasureError> {
        if input.config.warmup == 0 {
            return Ok(());
        }
        one_way(input, (FIRST_SEQUENCE, input.config.warmup), None, None)
            .1
            .map(|_end| ())
    }

    /// `config.iterations` messages (or as many as `config.duration` allows), numbered on from
    /// the warm-up's, paced by `config.interval` if given. A stream that fails counts nothing
    /// as delivered, and names no end.
    fn timed_run(
        &self,
        input: &mut LoopInput<'_>,
        progress: &mut dyn ProgressSink,
        watchers: Watchers,
    ) -> RunMeasurement {
        let config = input.config;
        let mut region = TimedRegion::start(watchers, progress, config.interval);
        let span = (config.warmup + FIRST_SEQUENCE, config.last_sequence());
        let deadline = region.deadline(config);
        let (sent, result) = one_way(input, span, deadline, Some(&mut region.between));
        let result =
            result.and_then(|end| wait_out_if_paced(config, deadline, input.stop).map(|()| end));
        let (delivered, end, error) = match result {
            Ok(end) => (sent, Some(end), None),
            Err(e) => (0, None, Some(e)),
        };
        let mut run = region.end(LatencyRecorder::new(), None, delivered, sent, error);
        run.one_way_end = end;
        run
    }
}
