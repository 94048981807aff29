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
use std::time::Instant;

use crate::benchmark::cpu::CpuWatch;
use crate::benchmark::deadline::Deadline;
use crate::benchmark::measure::{
    check_interrupt, wait_out_if_paced, Between, EchoBuffers, EchoMismatch, MeasureConfig,
    MeasureError, ProgressSink, Recorders, RunMeasurement, TimedRegion,
};
use crate::benchmark::pacing::Pacer;
use crate::benchmark::placement::PlacementSampler;
use crate::transport::stream::SEQUENCE_LEN;
use crate::transport::TransportClient;

/// A request sent and not yet answered: its number, when it was meant to leave (paced), and
/// when it left.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    sequence: u64,
    intended: Option<Instant>,
    sent: Instant,
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

/// What a paced sender does next.
enum Next {
    /// Sends the next request, meant to leave at this moment (None: unpaced, as soon as it can).
    Send(Option<Instant>),
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
    pacer: Option<&mut Pacer>,
    delayed: bool,
) -> Result<Next, MeasureError> {
    let Some(pacer) = pacer else {
        return Ok(Next::Send(None));
    };
    let slot = pacer.next_slot();
    if Instant::now() >= slot {
        return Ok(Next::Send(Some(pacer.take_slot(!delayed))));
    }
    if window.outstanding.is_empty() {
        pacer.sleep_until_next_slot(check_interrupt)?;
        return Ok(Next::Waited);
    }
    match client.await_reply_until(slot)? {
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

/// Sends requests `first..=last` keeping up to the window's depth outstanding (on schedule
/// when `between` paces them), and checks every reply (byte for byte with `full`, and the last
/// always). Each reply's times go to `recorders`; `between` hears of progress. Past
/// `deadline` (read off the clock reading after each reply, or a paced slot's time), no
/// request is sent: the last one sent is the last, and the outstanding are collected.
fn exchange(
    client: &mut dyn TransportClient,
    buffers: &mut EchoBuffers,
    (first, mut last): (u64, u64),
    full: bool,
    deadline: Option<Deadline>,
    mut recorders: Option<&mut Recorders>,
    mut between: Option<&mut Between<'_>>,
) -> Result<(), MeasureError> {
    let mut window = Window::new(buffers.in_flight_depth());
    let mut next = first;
    let mut delayed = false;
    while next <= last || !window.outstanding.is_empty() {
        check_interrupt()?;
        if next <= last && window.has_room() {
            let pacer = between.as_deref_mut().and_then(|b| b.pacer.as_mut());
            let slot_too_late = (deadline.zip(pacer.as_deref()))
                .is_some_and(|(deadline, pacer)| pacer.next_slot() >= deadline.at());
            if slot_too_late {
                last = next - 1;
                continue;
            }
            match next_step(client, &window, pacer, delayed)? {
                Next::Send(intended) => {
                    buffers.stamp(next);
                    let sent = Instant::now();
                    client.submit(buffers.request())?;
                    window.outstanding.push_back(Outstanding {
                        sequence: next,
                        intended,
                        sent,
                    });
                    next += 1;
                    delayed = false;
                    continue;
                }
                Next::Waited => {
                    delayed = false;
                    continue;
                }
                Next::Collect => {}
            }
        } else if next <= last {
            // A full window: a slot that comes meanwhile is missed.
            delayed = true;
        }
        let Some(oldest) = window.outstanding.pop_front() else {
            break;
        };
        let (request, scratch) = buffers.request_and_scratch();
        let reply = client.collect(scratch)?;
        let after = Instant::now();
        if next <= last && deadline.is_some_and(|d| d.passed(after)) {
            last = next - 1;
        }
        if let Some(recorders) = recorders.as_deref_mut() {
            recorders.record(oldest.intended, oldest.sent, after);
        }
        let checked = full || oldest.sequence == last;
        check_reply(request, oldest.sequence, reply, checked)?;
        if let Some(between) = between.as_deref_mut() {
            between.round_trip_done(after, oldest.sequence + 1 - first);
        }
    }
    Ok(())
}

/// The warm-up: `config.warmup` requests with as many in flight, untimed, every byte checked.
pub fn warm_up(
    client: &mut dyn TransportClient,
    buffers: &mut EchoBuffers,
    config: &MeasureConfig,
) -> Result<(), MeasureError> {
    if config.warmup == 0 {
        return Ok(());
    }
    exchange(client, buffers, (1, config.warmup), true, None, None, None)
}

/// The timed requests, numbered on from the warm-up's, each timed from its send to its reply:
/// `config.iterations` of them, or as many as are sent within `config.duration`.
pub fn timed_run(
    client: &mut dyn TransportClient,
    buffers: &mut EchoBuffers,
    config: &MeasureConfig,
    progress: &mut dyn ProgressSink,
    sampler: Option<PlacementSampler>,
    cpu: CpuWatch,
) -> RunMeasurement {
    let mut recorders = Recorders::new(config.interval.is_some());
    let mut region = TimedRegion::start(cpu, progress, sampler, config.interval);
    let span = (config.warmup + 1, config.last_sequence());
    let deadline = region.deadline(config);
    let result = exchange(
        client,
        buffers,
        span,
        config.verify_all,
        deadline,
        Some(&mut recorders),
        Some(&mut region.between),
    )
    .and_then(|()| wait_out_if_paced(config, deadline));
    let done = recorders.latencies.count();
    region.end(
        recorders.latencies,
        recorders.service,
        0,
        done,
        result.err(),
    )
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
