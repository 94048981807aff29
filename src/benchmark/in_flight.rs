//! Round trips with several requests in flight (`--in-flight N`), as netperf's burst and
//! sockperf's under-load mode keep them: the client sends until N requests are outstanding,
//! then collects the oldest reply and sends the next, so that N are outstanding throughout.
//! Each request is timed from its own send to its own reply; replies come back in the order
//! of their requests, and each is checked against its own sequence number.
//!
//! The timed region of a request holds its send, whatever the client did for the others
//! while it was outstanding (their sends and the checks of their replies), and its reply:
//! what a caller with N requests outstanding sees.
//!
//! Paced (`--interval`), it is an open-loop load in the sense of wrk2: request `k` is meant to
//! leave at `start + k × interval`, whatever became of the others, with up to N outstanding.
//! Between slots the client collects each reply as it comes
//! ([`await_reply_until`](TransportClient::await_reply_until)); a slot that comes while N are
//! outstanding is missed, its request leaves as soon as a reply makes room, and counts as
//! behind schedule. Each latency is counted from the intended send time (the service time,
//! from the actual send, beside it), so a server that falls behind shows its queue.

use std::collections::VecDeque;

use crate::benchmark::deadline::Deadline;
use crate::benchmark::measure::{
    wait_out_if_paced, Between, EchoBuffers, EchoMismatch, LoopInput, MeasureError, ProgressSink,
    Recorders, RunMeasurement, StopCheck, TimedLoop, TimedRegion, Watchers,
};
use crate::benchmark::pacing::Pacer;
use crate::system::clock::Tick;
use crate::transport::stream::SEQUENCE_LEN;
use crate::transport::TransportClient;

/// A request sent and not yet answered: its number, when it was meant to leave (paced), and
/// when it left.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    sequence: u64,
    intended: Option<Tick>,
    sent: Tick,
}

/// The requests of one run in flight, oldest first.
struct Window {
    outstanding: VecDeque<Outstanding>,
    depth: usize,
}

impl Window {
    fn new(depth: usize) -> Window {
        Window {
            outstanding: VecDeque::with_capacity(depth),
            depth: depth.max(1),
        }
    }

    fn has_room(&self) -> bool {
        self.outstanding.len() < self.depth
    }
}

/// What a sender does next.
enum Next {
    /// Sends nothing more: a time-bounded run's next slot is past its deadline.
    TooLate,
    /// Sends the next request, meant to leave at this moment (None: unpaced, as soon as it can).
    Send(Option<Tick>),
    /// Collects the oldest reply, which is there.
    Collect,
    /// Looks again: it waited until the next slot.
    Waited,
}

/// When the next request may leave: at once unpaced; paced, once its slot came, waiting for it
/// meanwhile: asleep with nothing outstanding, else watching for the oldest reply, which it
/// collects as soon as it comes (an open-loop load: the slots do not wait for replies).
/// `delayed`: the window was full when the slot came, so the request is behind schedule.
fn next_step(
    client: &mut dyn TransportClient,
    window: &Window,
    (pacer, deadline): (Option<&mut Pacer>, Option<Deadline>),
    delayed: bool,
    stop: StopCheck<'_>,
) -> Result<Next, MeasureError> {
    let Some(pacer) = pacer else {
        return Ok(Next::Send(None));
    };
    let slot = pacer.next_slot();
    if deadline.is_some_and(|deadline| slot >= deadline.at()) {
        return Ok(Next::TooLate);
    }
    if Tick::now() >= slot {
        return Ok(Next::Send(Some(pacer.take_slot(!delayed))));
    }
    if window.outstanding.is_empty() {
        pacer.sleep_until_next_slot(|| stop.check())?;
        return Ok(Next::Waited);
    }
    match client.await_reply_until(slot.instant())? {
        true => Ok(Next::Collect),
        false => Ok(Next::Waited),
    }
}

/// Checks the reply to request `sequence`: its length, its sequence number, and with `full`
/// every payload byte (the payload is the same in every request; only the number differs).
fn check_reply(
    request: &[u8],
    sequence: u64,
    reply: &[u8],
    full: bool,
) -> Result<(), MeasureError> {
    let mismatch = |problem| MeasureError::BadEcho {
        round_trip: sequence,
        problem,
    };
    if reply.len() != request.len() {
        return Err(mismatch(EchoMismatch::Length {
            got: reply.len(),
            sent: request.len(),
        }));
    }
    let number = sequence.to_le_bytes();
    let stamped = request.len().min(SEQUENCE_LEN);
    let expected = |offset: usize| match offset < stamped {
        true => number[offset],
        false => request[offset],
    };
    let checked = if full { request.len() } else { stamped };
    match (0..checked).find(|&offset| reply[offset] != expected(offset)) {
        None => Ok(()),
        Some(offset) => Err(mismatch(EchoMismatch::Byte {
            offset,
            sent: expected(offset),
            got: reply[offset],
        })),
    }
}

/// The requests of one exchange: numbered `first..=last`, every reply checked byte for byte
/// with `full` (and the last always); past `deadline` (read off the clock reading after each
/// reply, or a paced slot's time) no request is sent: the last one sent becomes the last.
struct Span {
    first: u64,
    last: u64,
    full: bool,
    deadline: Option<Deadline>,
}

/// Where a timed exchange tells its times and its progress (a warm-up has none).
struct Timing<'t, 'p> {
    recorders: &'t mut Recorders,
    between: &'t mut Between<'p>,
}

/// Sends the span's requests keeping up to the window's depth outstanding (on schedule when
/// `timing` paces them), and checks every reply. Each reply's times go to `timing`'s
/// recorders, and its progress to its `between`.
fn exchange(
    input: &mut LoopInput<'_>,
    mut span: Span,
    mut timing: Option<Timing<'_, '_>>,
) -> Result<(), MeasureError> {
    let (client, buffers) = (&mut *input.client, &mut *input.buffers);
    let stop = input.stop;
    let mut window = Window::new(buffers.in_flight_depth());
    let mut next = span.first;
    let mut delayed = false;
    while next <= span.last || !window.outstanding.is_empty() {
        stop.check()?;
        if next <= span.last && window.has_room() {
            let pacer = timing.as_mut().and_then(|t| t.between.pacer.as_mut());
            match next_step(client, &window, (pacer, span.deadline), delayed, stop)? {
                Next::TooLate => span.last = next - 1,
                Next::Send(intended) => {
                    submit(client, buffers, &mut window, next, intended)?;
                    next += 1;
                    delayed = false;
                }
                Next::Waited => delayed = false,
                Next::Collect => {
                    collect(client, buffers, &mut window, next, &mut span, &mut timing)?
                }
            }
            continue;
        }
        if next <= span.last {
            // A full window: a slot that comes meanwhile is missed.
            delayed = true;
        }
        collect(client, buffers, &mut window, next, &mut span, &mut timing)?;
    }
    Ok(())
}

/// Sends request `sequence`, meant to leave at `intended` (paced), and keeps it in the window.
// Inlined into the exchange's loop, which it was written in before the loop was split.
#[inline(always)]
fn submit(
    client: &mut dyn TransportClient,
    buffers: &mut EchoBuffers,
    window: &mut Window,
    sequence: u64,
    intended: Option<Tick>,
) -> Result<(), MeasureError> {
    buffers.stamp(sequence);
    let sent = Tick::now();
    client.submit(buffers.request())?;
    window.outstanding.push_back(Outstanding {
        sequence,
        intended,
        sent,
    });
    Ok(())
}

/// Collects the oldest outstanding request's reply (if any is outstanding) and checks it, with
/// `next` the request that would be sent next; the deadline, once passed, makes the last sent
/// the last.
// Inlined into the exchange's loop, which it was written in before the loop was split.
#[inline(always)]
fn collect(
    client: &mut dyn TransportClient,
    buffers: &mut EchoBuffers,
    window: &mut Window,
    next: u64,
    span: &mut Span,
    timing: &mut Option<Timing<'_, '_>>,
) -> Result<(), MeasureError> {
    let Some(oldest) = window.outstanding.pop_front() else {
        return Ok(());
    };
    let (request, scratch) = buffers.request_and_scratch();
    let reply = client.collect(scratch)?;
    let after = Tick::now();
    if next <= span.last && span.deadline.is_some_and(|d| d.passed(after)) {
        span.last = next - 1;
    }
    if let Some(timing) = timing.as_mut() {
        timing.recorders.record(oldest.intended, oldest.sent, after);
    }
    let checked = span.full || oldest.sequence == span.last;
    check_reply(request, oldest.sequence, reply, checked)?;
    if let Some(timing) = timing.as_mut() {
        (timing.between).round_trip_done(after, oldest.sequence + 1 - span.first);
    }
    Ok(())
}

/// Round trips with several requests outstanding
/// ([`Workload::InFlight`](crate::transport::Workload)), as deep as the buffers say.
pub struct InFlight;

impl TimedLoop for InFlight {
    /// `config.warmup` requests with as many in flight, every byte checked.
    fn warm_up(&self, input: &mut LoopInput<'_>) -> Result<(), MeasureError> {
        if input.config.warmup == 0 {
            return Ok(());
        }
        let span = Span {
            first: 1,
            last: input.config.warmup,
            full: true,
            deadline: None,
        };
        exchange(input, span, None)
    }

    /// Each request timed from its send to its reply: `config.iterations` of them, or as many
    /// as are sent within `config.duration`.
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
        let span = Span {
            first: config.warmup + 1,
            last: config.last_sequence(),
            full: config.verify_all,
            deadline,
        };
        let timing = Timing {
            recorders: &mut recorders,
            between: &mut region.between,
        };
        let result = exchange(input, span, Some(timing))
            .and_then(|()| wait_out_if_paced(config, deadline, input.stop));
        let done = recorders.latencies.count();
        region.end(
            recorders.latencies,
            recorders.service,
            0,
            done,
            result.err(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(sequence: u64, len: usize) -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..len)
            .map(crate::transport::stream::payload_byte)
            .collect();
        let n = len.min(SEQUENCE_LEN);
        bytes[..n].copy_from_slice(&sequence.to_le_bytes()[..n]);
        bytes
    }

    /// The request buffer holds the latest number stamped; an older request's reply is
    /// checked against its own.
    #[test]
    fn a_reply_is_checked_against_its_own_request_not_the_latest() {
        let latest = request(9, 100);
        assert!(check_reply(&latest, 6, &request(6, 100), true).is_ok());
        let error = check_reply(&latest, 6, &request(7, 100), false).unwrap_err();
        assert!(
            error.to_string().contains("offset 0 (sequence number)"),
            "{error}"
        );
        let mut corrupt = request(6, 100);
        corrupt[60] ^= 1;
        assert!(check_reply(&latest, 6, &corrupt, false).is_ok());
        let error = check_reply(&latest, 6, &corrupt, true).unwrap_err();
        assert!(error.to_string().contains("offset 60 (payload)"), "{error}");
        let error = check_reply(&latest, 6, &request(6, 99), true).unwrap_err();
        assert!(error.to_string().contains("99 bytes"), "{error}");
    }

    #[test]
    fn tiny_requests_carry_part_of_their_number() {
        assert!(check_reply(&request(0x0102, 2), 0x0102, &[0x02, 0x01], true).is_ok());
        assert!(check_reply(&request(3, 2), 0x0102, &[0x03, 0x00], true).is_err());
        assert!(check_reply(&[], 5, &[], true).is_ok());
    }
}
