//! Round trips with several requests in flight (`--in-flight N`), as netperf's burst and
//! sockperf's under-load mode keep them: the client sends until N requests are outstanding,
//! then collects the oldest reply and sends the next, so that N are outstanding throughout.
//! Each request is timed from its own send to its own reply; replies come back in the order
//! of their requests, and each is checked against its own sequence number.
//!
//! The timed region of a request holds its send, whatever the client did for the others
//! while it was outstanding (their sends and the checks of their replies), and its reply:
//! what a caller with N requests outstanding sees.

use std::collections::VecDeque;
use std::time::Instant;

use crate::benchmark::cpu::CpuWatch;
use crate::benchmark::measure::{
    check_interrupt, Between, EchoBuffers, EchoMismatch, MeasureConfig, MeasureError, ProgressSink,
    RunMeasurement, TimedRegion,
};
use crate::benchmark::placement::PlacementSampler;
use crate::benchmark::stats::LatencyRecorder;
use crate::transport::stream::SEQUENCE_LEN;
use crate::transport::TransportClient;

/// A request sent and not yet answered: its number and when it left.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    sequence: u64,
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

/// Sends requests `first..=last` keeping up to the window's depth outstanding, and checks
/// every reply (byte for byte with `full`, and the last always). Each reply's time from its
/// request's send goes to `record`; `between` hears of progress.
fn exchange(
    client: &mut dyn TransportClient,
    buffers: &mut EchoBuffers,
    (first, last): (u64, u64),
    full: bool,
    mut record: impl FnMut(u64),
    mut between: Option<&mut Between<'_>>,
) -> Result<(), MeasureError> {
    let mut window = Window::new(buffers.in_flight_depth());
    let mut next = first;
    while next <= last || !window.outstanding.is_empty() {
        check_interrupt()?;
        while next <= last && window.outstanding.len() < window.depth {
            buffers.stamp(next);
            let sent = Instant::now();
            client.submit(buffers.request())?;
            window.outstanding.push_back(Outstanding {
                sequence: next,
                sent,
            });
            next += 1;
        }
        let Some(oldest) = window.outstanding.pop_front() else {
            break;
        };
        let (request, scratch) = buffers.request_and_scratch();
        let reply = client.collect(scratch)?;
        let after = Instant::now();
        record((after - oldest.sent).as_nanos() as u64);
        check_reply(
            request,
            oldest.sequence,
            reply,
            full || oldest.sequence == last,
        )?;
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
    exchange(client, buffers, (1, config.warmup), true, |_| {}, None)
}

/// The timed requests, numbered on from the warm-up's, each timed from its send to its reply.
pub fn timed_run(
    client: &mut dyn TransportClient,
    buffers: &mut EchoBuffers,
    config: &MeasureConfig,
    progress: &mut dyn ProgressSink,
    sampler: Option<PlacementSampler>,
    cpu: CpuWatch,
) -> RunMeasurement {
    let mut latencies = LatencyRecorder::new();
    let mut region = TimedRegion::start(cpu, progress, sampler, None);
    let span = (config.warmup + 1, config.warmup + config.iterations);
    let record = |ns| latencies.record(ns);
    let full = config.verify_all;
    let result = exchange(
        client,
        buffers,
        span,
        full,
        record,
        Some(&mut region.between),
    );
    let done = latencies.count();
    region.end(latencies, None, 0, done, result.err())
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
