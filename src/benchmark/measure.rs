//! What every workload's measuring loop shares: the [`TimedLoop`] trait each workload's file
//! implements (round trips in `round_trip`, requests in flight in `in_flight`, a stream in
//! `stream`; `workload::timed_loop` picks one), what a loop takes ([`LoopInput`],
//! [`Watchers`]) and returns ([`RunMeasurement`]), the buffers, the echo checks, and the timed
//! region. A loop takes nothing of the driver, so that it can run in a process of its own.
//!
//! The timed region holds nothing but the round trip. Stamping the sequence number, checking
//! the echo and updating progress happen outside it, and progress is updated at most every
//! [`PROGRESS_INTERVAL`] (reusing the clock read the timing already made).
//!
//! A zero-copy transport lends the request's memory ([`TransportClient::loan`]): the whole
//! request, sequence number and payload, is written into the loan before the clock starts (the
//! producer's one write of its message), and the echo is checked where it lies, after the clock
//! stopped. The timed region then holds the hand-over of the slot and of its echo, and no copy.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::benchmark::cpu::{CpuMark, CpuSpent, CpuWatch};
use crate::benchmark::deadline::Deadline;
use crate::benchmark::pacing::Pacer;
use crate::benchmark::placement::{PlacementSampler, PlacementTally, SAMPLE_INTERVAL};
use crate::benchmark::stats::LatencyRecorder;
use crate::system::clock::Tick;
use crate::system::signals;
use crate::transport::blocks::aligned::AlignedBuffer;
use crate::transport::request_room::RequestWithRoom;
use crate::transport::stream::{payload_byte, END_MARK};
use crate::transport::{SharedBytes, TransportClient, TransportError};

/// How often the progress display is updated during a timed run.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

pub use crate::transport::stream::SEQUENCE_LEN;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("round trip {round_trip}: {problem}")]
    BadEcho {
        round_trip: u64,
        problem: EchoMismatch,
    },
    /// The echo of a stream's last message, which acknowledges the stream, was wrong.
    #[error("the stream's acknowledgement: {problem}")]
    BadAcknowledgement { problem: EchoMismatch },
    /// The echo of another stream's end came where this one's was due: one a client before
    /// this one left unread (it died waiting for it), which the server's channel still held.
    /// One of several pairs (`--pairs`) failed, which fails the run: the others stop too,
    /// rather than run on for nothing.
    #[error("stopped: another pair failed")]
    AnotherPairFailed,
    #[error("the stream's acknowledgement is that of another stream (its end was {other:#x}, this one's {end:#x}): a client before this one left it unread; restart the server")]
    OtherAcknowledgement { end: u64, other: u64 },
}

/// How an echo differed from its request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EchoMismatch {
    #[error("the reply has {got} bytes, the request had {sent}")]
    Length { got: usize, sent: usize },
    #[error("the reply differs from the request at byte offset {offset} ({}): sent 0x{sent:02x}, got 0x{got:02x}", if *.offset < SEQUENCE_LEN { "sequence number" } else { "payload" })]
    Byte { offset: usize, sent: u8, got: u8 },
}

impl MeasureError {
    pub fn is_interrupt(&self) -> bool {
        matches!(self, MeasureError::Transport(TransportError::Interrupted))
    }
}

/// Receives progress from the loop; implemented by the output module.
pub trait ProgressSink {
    fn update(&mut self, round_trips_done: u64);
}

/// What to do and how carefully.
#[derive(Debug, Clone, Copy)]
pub struct MeasureConfig {
    pub warmup: u64,
    pub iterations: u64,
    /// Compare every reply byte for byte, not only its length and sequence number.
    pub verify_all: bool,
    /// Send on a fixed timeline with this spacing instead of back to back.
    pub interval: Option<Duration>,
    /// `--duration`: the timed loop lasts this long, and `iterations` does not count.
    pub duration: Option<Duration>,
    /// The client and its server run on one CPU: no reply can come while the client works,
    /// so none of the loop's work is done while a reply is awaited.
    pub peers_share_a_cpu: bool,
}

impl MeasureConfig {
    /// The sequence number of the last timed round trip (or stream message): the count's, or,
    /// bounded by time, one that no run reaches before its deadline (below [`END_MARK`],
    /// which numbers a stream's end).
    pub fn last_sequence(&self) -> u64 {
        match self.duration {
            None => self.warmup + self.iterations,
            Some(_) => END_MARK - 1,
        }
    }
}

/// The outcome of one timed run; on failure, what was measured before it. A client process
/// hands it to the driver serialized; its error travels beside it, typed
/// (`client_report::ReportedError`), and `per_pair` is the driver's to fill.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RunMeasurement {
    /// Round-trip latencies; when paced, from each request's intended send time.
    pub latencies: LatencyRecorder,
    /// When paced: round-trip latencies from the actual send time.
    pub service: Option<LatencyRecorder>,
    /// When paced: requests that could not leave on time.
    pub behind_schedule: u64,
    pub elapsed: Duration,
    /// Wall time spent updating progress inside the timed loop.
    pub progress_time: Duration,
    /// Where the peers ran, when the loop was told whom to watch.
    pub placement: Option<PlacementTally>,
    /// The CPU time both processes used over `elapsed`; None if the driver's clock failed.
    pub cpu: Option<CpuSpent>,
    /// A stream's messages sent and acknowledged (0 for round trips, which `latencies` counts,
    /// and for one-way latencies once the server's have replaced the stream's count).
    pub stream_messages: u64,
    /// A one-way run's: the number of its stream's end, under which the server hands its
    /// latencies to the driver (`peer::one_way`).
    #[serde(default)]
    pub one_way_end: Option<u64>,
    /// With `--pairs`: each pair's own figures, the first pair's first; empty for one pair.
    #[serde(skip)]
    pub per_pair: Vec<PairRun>,
    #[serde(skip)]
    pub error: Option<MeasureError>,
}

/// One pair's own figures in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairRun {
    /// Round trips timed, or stream messages acknowledged.
    pub completed: u64,
    pub elapsed: Duration,
    /// Its mean round trip, or its stream's time per message.
    pub mean_ns: f64,
}

impl RunMeasurement {
    /// Round trips timed, or stream messages acknowledged.
    pub fn completed(&self) -> u64 {
        self.latencies.count() + self.stream_messages
    }

    /// The run's mean: of its round trips, or a stream's time per message.
    pub fn mean_ns(&self) -> f64 {
        match self.stream_messages {
            0 => self.latencies.stats().map_or(0.0, |s| s.mean_ns),
            messages => self.elapsed.as_nanos() as f64 / messages as f64,
        }
    }
}

impl PairRun {
    /// The figures of one pair's `run`.
    pub fn of(run: &RunMeasurement) -> PairRun {
        PairRun {
            completed: run.completed(),
            elapsed: run.elapsed,
            mean_ns: run.mean_ns(),
        }
    }
}

/// A request buffer and a reply buffer, reused for every round trip. With a zero-copy
/// transport the request buffer is only what the echo is checked against, and the reply buffer
/// goes unused: both travel in the transport's own memory.
pub struct EchoBuffers {
    request: AlignedBuffer,
    response: AlignedBuffer,
    /// The request of the next round trip was written into the transport's loan.
    loaned: bool,
    /// Whether to ask the transport for a loan: until it first says it lends none (a
    /// transport lends for every message or for none), which spares every other transport a
    /// call per message.
    ask_for_loans: bool,
    /// Requests kept in flight (`--in-flight`).
    in_flight: usize,
}

/// An echo to check: in the reply buffer or a transport's own message, or where a zero-copy
/// transport handed it back in shared memory.
pub(super) enum Reply<'a> {
    Received(&'a [u8]),
    InPlace(SharedBytes<'a>),
}

impl Deref for Reply<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Reply::Received(bytes) => bytes,
            Reply::InPlace(bytes) => bytes,
        }
    }
}

impl Reply<'_> {
    /// Done with the echo: fails if shared memory it lay in was truncated meanwhile, which
    /// explains whatever the check of it found.
    pub(super) fn release(self) -> Result<(), TransportError> {
        match self {
            Reply::Received(_) => Ok(()),
            Reply::InPlace(bytes) => bytes.release(),
        }
    }
}

impl EchoBuffers {
    /// `response_capacity` bounds what a reply may be; a longer one is an error, not truncation.
    /// Both buffers start `page_offset` bytes past a page boundary: where the transport asks
    /// (see [`crate::transport::blocks::aligned`] for why it matters).
    /// Fails, rather than aborting, when the memory cannot be had.
    pub fn new(
        size_bytes: usize,
        response_capacity: usize,
        page_offset: usize,
    ) -> Result<EchoBuffers, MeasureError> {
        let mut request = AlignedBuffer::zeroed("request buffer", size_bytes, page_offset)?;
        // A pattern that varies with the offset, so a shifted or stale copy does not pass.
        for (i, byte) in request.iter_mut().enumerate() {
            *byte = payload_byte(i);
        }
        // Written once (zeroed) so the pages are faulted in before the clock starts.
        let response_len = response_capacity.max(size_bytes);
        let response = AlignedBuffer::zeroed("reply buffer", response_len, page_offset)?;
        Ok(EchoBuffers {
            request,
            response,
            loaned: false,
            ask_for_loans: true,
            in_flight: 1,
        })
    }

    pub(super) fn stamp(&mut self, sequence: u64) {
        let bytes = sequence.to_le_bytes();
        let n = self.request.len().min(SEQUENCE_LEN);
        self.request[..n].copy_from_slice(&bytes[..n]);
    }

    /// Makes round trip `sequence`'s request, before the clock starts: stamps its sequence
    /// number, and, if the transport lends memory for it, writes the whole request into the
    /// loan, where the transport sends it from without a copy.
    pub(super) fn prepare(
        &mut self,
        client: &mut dyn TransportClient,
        sequence: u64,
    ) -> Result<(), TransportError> {
        self.stamp(sequence);
        self.loaned = self.write_into_loan(client, |_| ())?;
        Ok(())
    }

    /// Writes the request into the transport's loan, if it lends one, then `finish`es it
    /// there (a one-way message's send time goes in last); whether it did.
    #[inline]
    pub(super) fn write_into_loan(
        &mut self,
        client: &mut dyn TransportClient,
        finish: impl FnOnce(&mut [u8]),
    ) -> Result<bool, TransportError> {
        if !self.ask_for_loans {
            return Ok(false);
        }
        match client.loan(self.request.len())? {
            Some(mut loan) => {
                loan.copy_from_slice(&self.request);
                finish(&mut loan);
                loan.release()?;
                Ok(true)
            }
            None => {
                self.ask_for_loans = false;
                Ok(false)
            }
        }
    }

    /// One round trip with the request as prepared; returns the reply wherever the transport
    /// left it (the reply buffer, its own message, or shared memory), and the request to check
    /// it against.
    pub(super) fn round_trip<'a>(
        &'a mut self,
        client: &'a mut dyn TransportClient,
    ) -> (&'a [u8], Result<Reply<'a>, TransportError>) {
        let EchoBuffers {
            request,
            response,
            loaned,
            ..
        } = self;
        let reply = if *loaned {
            client.round_trip_loaned(request.len()).map(Reply::InPlace)
        } else {
            (client.round_trip_with_room(request.with_room_in_front(), response))
                .map(Reply::Received)
        };
        (request, reply)
    }

    /// [`round_trip`](EchoBuffers::round_trip) that runs `meanwhile` while the reply is on
    /// its way, where the client overlaps its wait
    /// ([`TransportClient::round_trip_in_place_meanwhile`]).
    pub(super) fn round_trip_meanwhile<'a>(
        &'a mut self,
        client: &'a mut dyn TransportClient,
        meanwhile: &mut dyn FnMut(),
    ) -> (&'a [u8], Result<Reply<'a>, TransportError>) {
        let EchoBuffers {
            request,
            response,
            loaned,
            ..
        } = self;
        let reply = if *loaned {
            (client.round_trip_loaned_meanwhile(request.len(), meanwhile)).map(Reply::InPlace)
        } else {
            (client.round_trip_in_place_meanwhile(request, response, meanwhile))
                .map(Reply::Received)
        };
        (request, reply)
    }

    pub(super) fn request(&self) -> &[u8] {
        &self.request
    }

    /// The request with the room in front of it, to send.
    pub(super) fn request_with_room(&mut self) -> RequestWithRoom<'_> {
        self.request.with_room_in_front()
    }

    /// The request to write into before it is sent (a one-way message's send time).
    pub(super) fn request_mut(&mut self) -> &mut [u8] {
        &mut self.request
    }

    pub(super) fn request_len(&self) -> usize {
        self.request.len()
    }

    /// The request as stamped last, and the reply buffer to receive into.
    pub(super) fn request_and_scratch(&mut self) -> (&[u8], &mut [u8]) {
        (&self.request, &mut self.response)
    }

    /// How many requests the run keeps in flight.
    pub(super) fn in_flight_depth(&self) -> usize {
        self.in_flight
    }

    /// The same buffers, for a run that keeps `depth` requests in flight.
    pub fn keeping_in_flight(self, depth: usize) -> EchoBuffers {
        EchoBuffers {
            in_flight: depth.max(1),
            ..self
        }
    }

    /// Where the request and the reply buffers start, modulo a page.
    pub fn page_offsets(&self) -> (usize, usize) {
        (self.request.page_offset(), self.response.page_offset())
    }
}

/// Checks `reply` against `request`: its length and sequence number, and every byte if `full`.
pub(super) fn verify_echo(request: &[u8], reply: &[u8], full: bool) -> Result<(), EchoMismatch> {
    let sent = request.len();
    if reply.len() != sent {
        return Err(EchoMismatch::Length {
            got: reply.len(),
            sent,
        });
    }
    let checked = if full { sent } else { sent.min(SEQUENCE_LEN) };
    // Slice equality is a vectorised memcmp; the offset is searched only on a mismatch.
    if reply[..checked] == request[..checked] {
        return Ok(());
    }
    match (0..checked).find(|&i| reply[i] != request[i]) {
        Some(offset) => Err(EchoMismatch::Byte {
            offset,
            sent: request[offset],
            got: reply[offset],
        }),
        None => Ok(()),
    }
}

/// Checks round trip `sequence`'s `reply` against its `request` (every byte if `full`) and is
/// done with it. A truncation of the memory it lay in is reported before any mismatch.
pub(super) fn check_reply(
    request: &[u8],
    reply: Reply<'_>,
    full: bool,
    sequence: u64,
) -> Result<(), MeasureError> {
    let verdict = verify_echo(request, &reply, full);
    reply.release()?;
    verdict.map_err(|problem| MeasureError::BadEcho {
        round_trip: sequence,
        problem,
    })
}

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

/// What the timed loop does between round trips, outside the timed region: progress, placement
/// samples and pacing.
pub(super) struct Between<'a> {
    pub(super) progress: &'a mut dyn ProgressSink,
    pub(super) progress_time: Duration,
    /// When progress is next updated, and the placement next sampled: kept as moments, so
    /// that a round trip compares clock readings instead of subtracting them.
    next_update: Tick,
    pub(super) sampler: Option<PlacementSampler>,
    next_sample: Tick,
    /// The earlier of the two: all that a round trip compares its end with, one comparison
    /// in the loop whose own cost docs/own-cost.md holds to 1.10× of the round trip.
    next_look: Tick,
    pub(super) pacer: Option<Pacer>,
}

impl<'a> Between<'a> {
    /// Nothing done yet, at `start`; paced by `interval` if given.
    pub(super) fn new(
        progress: &'a mut dyn ProgressSink,
        sampler: Option<PlacementSampler>,
        interval: Option<Duration>,
        start: Tick,
    ) -> Between<'a> {
        let next_update = start.plus(PROGRESS_INTERVAL);
        // Without a sampler, never: the look is then the progress's alone.
        let next_sample = match sampler {
            Some(_) => start.plus(SAMPLE_INTERVAL),
            None => start.plus(Duration::MAX),
        };
        Between {
            progress,
            progress_time: Duration::ZERO,
            next_update,
            sampler,
            next_sample,
            next_look: next_update.min(next_sample),
            pacer: interval.map(Pacer::start),
        }
    }

    /// After a round trip that ended at `after`, with `done` timed round trips so far.
    #[inline]
    pub(super) fn round_trip_done(&mut self, after: Tick, done: u64) {
        if after >= self.next_look {
            self.look(after, done);
        }
    }

    /// Samples the placement and updates the progress, each when it is due.
    #[cold]
    fn look(&mut self, after: Tick, done: u64) {
        if let Some(sampler) = &mut self.sampler {
            if after >= self.next_sample {
                sampler.sample();
                self.next_sample = after.plus(SAMPLE_INTERVAL);
            }
        }
        if after >= self.next_update {
            self.progress.update(done);
            let updated = Tick::now();
            self.next_update = updated.plus(PROGRESS_INTERVAL);
            self.progress_time += updated.since(after);
        }
        self.next_look = self.next_update.min(self.next_sample);
    }
}

/// A timed loop's region: begun just after both CPU clocks were read, ended just before they
/// are read again. Every pattern's timed run is one; what happens between round trips (or
/// between looks at the clock) is its [`Between`].
pub(super) struct TimedRegion<'a> {
    cpu: CpuWatch,
    cpu_start: CpuMark,
    start: Tick,
    pub(super) between: Between<'a>,
}

impl<'a> TimedRegion<'a> {
    pub(super) fn start(
        Watchers { sampler, cpu }: Watchers,
        progress: &'a mut dyn ProgressSink,
        interval: Option<Duration>,
    ) -> TimedRegion<'a> {
        let cpu_start = cpu.mark_start();
        let start = Tick::now();
        TimedRegion {
            cpu,
            cpu_start,
            start,
            between: Between::new(progress, sampler, interval, start),
        }
    }

    /// When a time-bounded run's loop ends: `--duration` after the region began.
    pub(super) fn deadline(&self, config: &MeasureConfig) -> Option<Deadline> {
        config.duration.map(|d| Deadline::after(self.start, d))
    }

    /// Ends the region with what the loop recorded: its latencies (and service times, paced),
    /// or a stream's messages acknowledged; `shown` is the last count the progress shows.
    pub(super) fn end(
        self,
        latencies: LatencyRecorder,
        service: Option<LatencyRecorder>,
        stream_messages: u64,
        shown: u64,
        error: Option<MeasureError>,
    ) -> RunMeasurement {
        let elapsed = self.start.elapsed();
        let cpu = self.cpu.mark_end().since(self.cpu_start);
        let between = self.between;
        between.progress.update(shown);
        let done = latencies.count() + stream_messages;
        RunMeasurement {
            behind_schedule: between.pacer.as_ref().map_or(0, Pacer::behind_schedule),
            placement: between.sampler.map(|s| s.finish(done)),
            latencies,
            service,
            elapsed,
            progress_time: between.progress_time,
            cpu,
            stream_messages,
            one_way_end: None,
            per_pair: Vec::new(),
            error,
        }
    }
}

/// A round trip's times: when it was meant to leave (paced), when it was sent, when its echo
/// was back.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timed {
    pub(super) intended: Option<Tick>,
    pub(super) sent: Tick,
    pub(super) after: Tick,
}

/// What a timed loop records per round trip.
pub(super) struct Recorders {
    /// From the intended send time when paced, else from the actual one.
    pub(super) latencies: LatencyRecorder,
    /// Paced only: from the actual send time.
    pub(super) service: Option<LatencyRecorder>,
}

impl Recorders {
    pub(super) fn new(paced: bool) -> Recorders {
        Recorders {
            latencies: LatencyRecorder::new(),
            service: paced.then(LatencyRecorder::new),
        }
    }

    /// A round trip as [`record`](Recorders::record) takes it.
    #[inline]
    pub(super) fn record_timed(&mut self, timed: Timed) {
        self.record(timed.intended, timed.sent, timed.after);
    }

    /// A round trip that ended at `after`, meant to leave at `intended` (paced) and sent at `sent`.
    #[inline]
    pub(super) fn record(&mut self, intended: Option<Tick>, sent: Tick, after: Tick) {
        let from = intended.unwrap_or(sent);
        self.latencies.record(after.ns_since(from));
        if let Some(service) = &mut self.service {
            service.record(after.ns_since(sent));
        }
    }
}

/// A paced, time-bounded run waits out its deadline after its last slot: it lasts the
/// duration, and its rate is the pacing's.
pub(super) fn wait_out_if_paced(
    config: &MeasureConfig,
    deadline: Option<Deadline>,
    stop: StopCheck<'_>,
) -> Result<(), MeasureError> {
    match (config.interval, deadline) {
        (Some(_), Some(deadline)) => deadline.wait_out(|| stop.check()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_reports_the_first_differing_offset() {
        let mut buffers = EchoBuffers::new(100, 200, 0).unwrap();
        buffers.stamp(42);
        let request = buffers.request.to_vec();
        let mut reply = request.clone();
        let check = |reply: &[u8], full| verify_echo(&request, reply, full);
        assert!(check(&reply, true).is_ok());
        let short = check(&reply[..99], true).unwrap_err().to_string();
        assert!(short.contains("99 bytes"), "{short}");
        reply[57] ^= 0xff;
        assert!(check(&reply, false).is_ok(), "only the sequence is checked");
        let payload = check(&reply, true).unwrap_err().to_string();
        assert!(payload.contains("offset 57"), "{payload}");
        reply[3] ^= 0xff;
        let sequence = check(&reply, false).unwrap_err().to_string();
        assert!(
            sequence.contains("offset 3 (sequence number)"),
            "{sequence}"
        );
    }

    #[test]
    fn a_buffer_the_machine_cannot_hold_is_an_error_not_an_abort() {
        let error = EchoBuffers::new(100, usize::MAX, 0).err().unwrap();
        assert!(error.to_string().starts_with(&format!(
            "cannot allocate {} bytes for the reply buffer",
            usize::MAX
        )));
    }

    #[test]
    fn both_buffers_sit_at_the_transports_page_offset() {
        // SHM POSIX keeps its payload 4 bytes into a page: copies to and from it are then
        // 0 mod 4096 apart, whatever the allocator did.
        for offset in [0, 4, 68, 256] {
            let buffers = EchoBuffers::new(500_000, 2_499_996, offset).unwrap();
            assert_eq!(buffers.page_offsets(), (offset, offset));
        }
    }

    #[test]
    fn tiny_messages_carry_part_of_the_sequence() {
        let mut buffers = EchoBuffers::new(2, 2, 0).unwrap();
        buffers.stamp(0x0102);
        assert_eq!(buffers.request[..], [0x02, 0x01]);
        let mut empty = EchoBuffers::new(0, 0, 0).unwrap();
        empty.stamp(7);
        assert!(verify_echo(&empty.request, &[], true).is_ok());
    }
}
