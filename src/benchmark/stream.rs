//! The measuring loop of a one-way stream (`--pattern stream`, the protocol of
//! [`crate::transport::stream`]): messages back to back, then the one round trip that asks the
//! server to acknowledge them all.
//!
//! The timed region runs from the first send to the acknowledgement, and holds every message's
//! stamping and (for a zero-copy transport) its write into the loaned slot: in a stream they
//! are the producer's work, as the copy into a socket is. No clock is read per message (at
//! millions of messages a second two clock reads would be a large share of each); the loop
//! looks at the clock, for progress and for signals, every [`CHECK_EVERY`] messages, or, bounded
//! by time (`--duration`), as often as [`Looks::adapted`] finds, for its deadline too. When
//! the time is up, the next message is the end, and its echo acknowledges all before it.

use crate::benchmark::deadline::{Deadline, Looks};
use crate::benchmark::measure::{
    verify_echo, Between, EchoBuffers, LoopInput, MeasureError, ProgressSink, RunMeasurement,
    TimedLoop, TimedRegion, Watchers,
};
use crate::benchmark::stats::LatencyRecorder;
use crate::system::clock::{self, Tick};
use crate::transport::stream::{is_end, next_end, sequence_of, write_send_time, FIRST_SEQUENCE};
use crate::transport::{TransportClient, TransportError};

/// How many messages go between two looks at the clock, the progress and the signals.
pub(super) const CHECK_EVERY: u64 = 256;

impl EchoBuffers {
    /// Sends stream message `sequence` one way: stamped, and written into the transport's loan
    /// when it lends one, where it is sent from without another copy. With `send_time`, a
    /// one-way message's: its `CLOCK_MONOTONIC` is written in last, into the loan after the
    /// copy, or into the request just before `send` (whose copy into the kernel is sending).
    pub(super) fn send_message(
        &mut self,
        client: &mut dyn TransportClient,
        sequence: u64,
        send_time: bool,
    ) -> Result<(), TransportError> {
        self.stamp(sequence);
        let len = self.request_len();
        let loaned = self.write_into_loan(client, |loan| {
            if send_time {
                write_send_time(loan, clock::monotonic_ns());
            }
        })?;
        if loaned {
            return client.send_loaned(len);
        }
        if send_time {
            write_send_time(self.request_mut(), clock::monotonic_ns());
        }
        client.send_with_room(self.request_with_room())
    }

    /// Ends the stream: its last message, numbered as no other stream's end, as a round trip,
    /// whose echo (checked byte for byte) is the server's acknowledgement of every message
    /// before it. The echo of another end is another stream's: a client that died waiting for
    /// it left it where this one's was due. Returns the end's number.
    pub(super) fn acknowledge(
        &mut self,
        client: &mut dyn TransportClient,
    ) -> Result<u64, MeasureError> {
        let end = next_end();
        self.prepare(client, end)?;
        let (request, reply) = self.round_trip(client);
        let reply = reply?;
        let verdict = verify_echo(request, &reply, true);
        let other = sequence_of(&reply).filter(|&number| is_end(number) && number != end);
        reply.release()?;
        if let Some(other) = other {
            return Err(MeasureError::OtherAcknowledgement { end, other });
        }
        verdict.map_err(|problem| MeasureError::BadAcknowledgement { problem })?;
        Ok(end)
    }
}

/// Streams messages `first..=last`, or until `deadline` when given, and has them acknowledged;
/// `between` (if given) is told of progress at each look at the clock. Returns how many were
/// sent (before a failure, or before the end).
fn stream(
    input: &mut LoopInput<'_>,
    (first, last): (u64, u64),
    deadline: Option<Deadline>,
    mut between: Option<&mut Between<'_>>,
) -> (u64, Result<(), MeasureError>) {
    let (client, buffers) = (&mut *input.client, &mut *input.buffers);
    let stop = input.stop;
    let start = Tick::now();
    let mut looks = match deadline {
        Some(_) => Looks::adapted(start),
        None => Looks::every(CHECK_EVERY, start),
    };
    let mut sent = 0;
    for sequence in first..=last {
        if looks.due() {
            if let Err(e) = stop.check() {
                return (sent, Err(e));
            }
            let now = Tick::now();
            if let Some(between) = between.as_deref_mut() {
                between.round_trip_done(now, sent);
            }
            if deadline.is_some_and(|d| d.passed(now)) {
                break;
            }
            looks.looked(now);
        }
        if let Err(e) = buffers.send_message(client, sequence, false) {
            return (sent, Err(e.into()));
        }
        sent += 1;
    }
    (sent, buffers.acknowledge(client).map(|_end| ()))
}

/// A one-way stream ([`Workload::Stream`](crate::transport::Workload)), acknowledged at its
/// end, timed as a whole.
pub struct Stream;

impl TimedLoop for Stream {
    /// One short stream of `config.warmup` messages, acknowledged, untimed.
    fn warm_up(&self, input: &mut LoopInput<'_>) -> Result<(), MeasureError> {
        if input.config.warmup == 0 {
            return Ok(());
        }
        stream(input, (FIRST_SEQUENCE, input.config.warmup), None, None).1
    }

    /// `config.iterations` messages (or as many as `config.duration` allows) numbered on from
    /// the warm-up's, from the first send to the acknowledgement. A stream that fails counts
    /// nothing as delivered: without the acknowledgement nobody knows how many arrived.
    fn timed_run(
        &self,
        input: &mut LoopInput<'_>,
        progress: &mut dyn ProgressSink,
        watchers: Watchers,
    ) -> RunMeasurement {
        let config = input.config;
        let mut region = TimedRegion::start(watchers, progress, None);
        let span = (config.warmup + FIRST_SEQUENCE, config.last_sequence());
        let deadline = region.deadline(config);
        let (sent, result) = stream(input, span, deadline, Some(&mut region.between));
        let delivered = if result.is_ok() { sent } else { 0 };
        region.end(LatencyRecorder::new(), None, delivered, sent, result.err())
    }
}
