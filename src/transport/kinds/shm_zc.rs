//! SHM zero-copy: the loan-based design of iceoryx2, for a request and its echo. The client
//! writes each request straight into a slot of the shared segment, lent to it by
//! [`TransportClient::loan`]; publishing hands the slot to the server, which echoes by handing
//! the same slot back: no staging buffer, no copy in transit, one write by the producer. The
//! client reads the echo where it lies.
//!
//! The handing over is SHM spin's: a [`SequenceSignal`] per direction (spin for the spin budget,
//! then sleep on a futex). Where iceoryx2 sends a sample's offset through a queue and returns
//! it through another, a control line here carries the slot's index and length, and the reply's
//! line returns them.
//!
//! Layout of `/srb_<channel>_zc` (`CONTROL_BYTES + SLOTS × slot` bytes, where a slot is the
//! capacity, `buffer_size − HEADER_LEN` as for the other transports, rounded up to a page):
//! - offset 0: header, zero: round trips (see the stream below);
//! - offset 64: request line: `seq`, `waiters` (the [`SequenceSignal`]), `len`, `slot` (u32 each);
//! - offset 128: response line, the same; each line on its own cache line;
//! - offset 4096: slot 0, then, a whole number of pages later, slot 1.
//!
//! Two slots, lent in turn: the smallest pool in which a loan is a choice, and in which a reply
//! that names the wrong slot is caught by the index as well as by the sequence number. One
//! request is in flight at a time, so the client always owns the slot it lends.
//!
//! **Ownership.** A slot belongs to the client, except from the client's publish of a request
//! naming it until the client acquires the reply that names it again; meanwhile it belongs to
//! the server. Only a slot's owner touches its bytes (and the server, echoing, does not touch
//! them at all). The request line is written only by the client, and only while no request is
//! in flight; the response line only by the server, between acquiring a request and publishing
//! its reply.
//!
//! **Memory ordering.** The store that publishes a slot is the Release store of `seq` in
//! [`SequenceSignal::publish`]: the client's writes to the slot's bytes and to the line's `len`
//! and `slot` words precede it in program order. The load that acquires it is the Acquire load
//! of `seq` in [`SequenceSignal::wait_for`] that first sees the new number: everything written
//! before the publish is visible after it, so `len` and `slot` are Relaxed atomics, ordered by
//! that pair. The reply is the same in the other direction: the server's Release store of the
//! response `seq`, after its `len` and `slot` (and any byte it tampered with), and the client's
//! Acquire load. No ordering is needed for the payload beyond that pair: the server reads none
//! of it, and the client's own writes are in its own program order. Whether a sleeper must be
//! woken is decided by a Dekker pairing of SeqCst fences, described at [`SequenceSignal`].
//!
//! **A stream** (`--pattern stream`) goes through a ring of slots instead
//! ([`ring`](crate::transport::blocks::ring)), as iceoryx2's publish-subscribe does: a loan
//! lends the ring's next free slot (waiting while the ring is full), [`send_loaned`] publishes
//! it by the ring's write index, and the server reads each message in place and frees its slot
//! by the read index; nothing is copied on the way. The server makes the ring `--ring-depth`
//! slots deep (by default 64, fewer for large messages) and says so in the header, which the
//! client reads on connect (a client of the other pattern is refused). Layout of a stream's
//! segment (the ring's end: `4096 + whole pages of 4 × depth + depth × slot` bytes):
//! - offset 0: header: `pattern` (1), `depth` (u32 each);
//! - offset 64: request line: `seq` is the ring's write index, `waiters` (`len` and `slot`
//!   unused: the ring's length table says each message's length);
//! - offset 128: response line, as in round trips: the end's acknowledgement;
//! - offset 256: read line: the ring's read index, `waiters`;
//! - offset 4096: the length of each slot's message (u32 each), in whole pages;
//! - then `depth` slots, each the capacity rounded up to a page.
//!
//! The stream's last message, its end, is lent and sent through the ring too, as a round trip:
//! the server hands its slot back on the response line (`len`, `slot`) under the write index
//! past the end, and the client reads the echo in that slot, which is the client's again. The
//! server frees the slot only after that hand-over; the writer reaches the slot again only
//! `depth` loans later, after the caller's echo is gone.
//!
//! Every touch of the segment runs under an [`ObjectAccess`], the
//! caller's reads and writes of a loan too ([`SharedBytes`] holds one), so a peer that
//! truncates the segment ends the exchange with [`TransportError::Truncated`].
//!
//! [`send_loaned`]: TransportClient::send_loaned

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::transport::blocks::channel::{bind_on_channel, connect_on_channel, ChannelClient};
use crate::transport::blocks::payload::{check_announced_len, check_message_fits};
use crate::transport::blocks::ring::{RingEntry, RingGeometry, Shape};
use crate::transport::blocks::segment::{
    segment_footprint, segment_objects, whole_pages, SegmentClient, SegmentEcho, SegmentLayout,
    SegmentServer, Slots, Taken, SEGMENT_PAGE,
};
use crate::transport::blocks::sequence::{SequenceSignal, SEQUENCE_SPIN_BUDGET};
use crate::transport::error::TransportError;
use crate::transport::os::shm::{ObjectAccess, SharedBytes};
use crate::transport::spec::{
    Addressing, Reply, TransportClient, TransportKind, TransportOptions, TransportSpec,
};
use crate::transport::wait::PeerWatch;
use crate::transport::workload::one_request_at_a_time;

/// How many slots the segment lends in turn, in round trips.
const SLOTS: usize = 2;

/// Offsets of the two control lines, of the words in a line after its [`SequenceSignal`], and
/// the bytes the control lines take before the slots.
const REQUEST_LINE: usize = 64;
const RESPONSE_LINE: usize = 128;
const LEN_OFFSET: usize = 8;
const SLOT_OFFSET: usize = 12;
const CONTROL_BYTES: usize = SEGMENT_PAGE;

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "shm-zc",
    display_name: "SHM zero-copy",
    addressing: Addressing::Channel,
    connect: connect_on_channel::<ShmZcClient>,
    bind: bind_on_channel::<ShmZcServer>,
    channel_objects: segment_objects::<Lines>,
    footprint: segment_footprint::<Lines>,
    spin_budget: Some(SEQUENCE_SPIN_BUDGET),
    summary: "zero-copy: requests written into loaned shared-memory slots",
    supports: |workload| {
        one_request_at_a_time(
            workload,
            "one slot per direction for round trips (its ring carries streams only)",
        )
    },
    ..TransportSpec::DEFAULTS
};

/// One direction's control line: who may go on, and which slot holds how many bytes.
struct Line {
    signal: SequenceSignal,
    len: NonNull<AtomicU32>,
    slot: NonNull<AtomicU32>,
}

impl Line {
    /// # Safety
    /// `line` must point to 16 bytes, 4-aligned, of a live shared mapping that outlives the
    /// line, touched by every process only through atomics.
    unsafe fn new(line: *mut u8) -> Line {
        // SAFETY: the caller promises 16 valid, aligned bytes; every offset is within them.
        unsafe {
            Line {
                signal: SequenceSignal::new(line),
                len: NonNull::new_unchecked(line.add(LEN_OFFSET).cast()),
                slot: NonNull::new_unchecked(line.add(SLOT_OFFSET).cast()),
            }
        }
    }

    fn len(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping; both processes only touch it atomically.
        unsafe { self.len.as_ref() }
    }

    fn slot(&self) -> &AtomicU32 {
        // SAFETY: as for len.
        unsafe { self.slot.as_ref() }
    }

    /// Writes which slot holds how many bytes, then publishes `seq`: from here on the slot
    /// belongs to the reader (see the module's ordering notes).
    fn hand_over(&self, seq: u32, slot: usize, len: usize) -> Result<(), TransportError> {
        // Relaxed: publish's Release store of seq orders both before it.
        self.len().store(len as u32, Ordering::Relaxed);
        self.slot().store(slot as u32, Ordering::Relaxed);
        self.signal.publish(seq)
    }

    /// The slot (of `slots`) and length a line announces, read after acquiring its `seq`; a
    /// slot or a length the segment does not have is the peer's error, never an access out of
    /// bounds.
    fn announced(&self, capacity: usize, slots: usize) -> Result<(usize, usize), TransportError> {
        let slot = self.slot().load(Ordering::Relaxed) as usize;
        if slot >= slots {
            return Err(TransportError::Protocol(format!(
                "the peer named slot {slot}; the segment has {slots}"
            )));
        }
        let len = check_announced_len(self.len().load(Ordering::Relaxed) as usize, capacity)?;
        Ok((slot, len))
    }
}

/// The segment's two control lines and its slots: the two lent in turn in round trips, the
/// ring's in a stream.
struct Lines {
    request: Line,
    response: Line,
    slots: Slots,
}

// SAFETY: the lines and slots point only into the mapping they are built over; access is atomic
// or guarded by the ownership protocol, and nothing is tied to a thread.
unsafe impl SegmentLayout for Lines {
    const KIND: TransportKind = KIND;
    const OBJECT: &'static str = "zc";

    fn size(capacity: usize, shape: Shape) -> usize {
        match shape {
            Shape::RoundTrip => CONTROL_BYTES + SLOTS * whole_pages(capacity),
            Shape::Stream { depth } => RingGeometry::new(capacity, depth).end,
        }
    }

    unsafe fn over(base: *mut u8, capacity: usize, shape: Shape) -> Lines {
        let (first, count) = match shape {
            Shape::RoundTrip => (CONTROL_BYTES, SLOTS),
            Shape::Stream { depth } => (RingGeometry::new(capacity, depth).slots_at, depth),
        };
        // SAFETY: base is at least Lines::size(capacity, shape) (the caller's promise),
        // page-aligned, and outlives the lines and slots; the slots lie inside it.
        unsafe {
            Lines {
                request: Line::new(base.add(REQUEST_LINE)),
                response: Line::new(base.add(RESPONSE_LINE)),
                slots: Slots::new(base.add(first), whole_pages(capacity), count),
            }
        }
    }

    fn request(&self) -> &SequenceSignal {
        &self.request.signal
    }

    fn response(&self) -> &SequenceSignal {
        &self.response.signal
    }
}

/// The slot lent to the caller, and how much of it.
#[derive(Debug, Clone, Copy)]
struct Loan {
    slot: usize,
    len: usize,
}

/// The requesting side: lends its slots to the caller and sends them.
pub struct ShmZcClient {
    client: SegmentClient<Lines>,
    /// The slot the next loan lends.
    next_slot: usize,
    loan: Option<Loan>,
}

impl ChannelClient for ShmZcClient {
    const KIND: TransportKind = KIND;

    fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<ShmZcClient, TransportError> {
        Ok(ShmZcClient {
            client: SegmentClient::connect(channel, buffer_size, options, watch)?,
            next_slot: 0,
            loan: None,
        })
    }
}

impl ShmZcClient {
    /// Lends the next slot's first `len` bytes, which the client owns: in round trips no
    /// request is in flight; in a stream it is the ring's next slot, once the server freed it.
    fn lend(&mut self, len: usize) -> Result<SharedBytes<'_>, TransportError> {
        check_message_fits(len, self.client.segment.capacity)?;
        let segment = &self.client.segment;
        let access = segment.memory.access();
        let slot = match self.client.streaming() {
            Some(ring) => self.client.reserve_slot(ring, &access)?,
            None => self.next_slot,
        };
        self.loan = Some(Loan { slot, len });
        // A segment truncated earlier is lost: say so now rather than lend zeros.
        access.check()?;
        // SAFETY: len <= capacity, inside the slot; the slot is the client's (module notes).
        Ok(unsafe { SharedBytes::new(access, segment.layout.slots.at(slot), len) })
    }

    /// A stream's end, sent in `loan` with `len` bytes: published through the ring, and
    /// acknowledged by the hand-back of its slot under the write index past it.
    fn end_stream(&self, loan: Loan, len: usize) -> Result<SharedBytes<'_>, TransportError> {
        let ring = self.client.stream_writer()?;
        let segment = &self.client.segment;
        let Lines {
            request,
            response,
            slots,
        } = &segment.layout;
        let access = segment.memory.access();
        let previous = response.signal.seq().load(Ordering::Acquire);
        // From here on the slot is the server's, until it hands it back.
        let end = ring.publish(&request.signal, len, &access)?;
        let reply_len = self.await_reply(&access, loan, end, previous)?;
        // SAFETY: reply_len <= capacity, inside the slot, which is the client's again: the
        // server handed it back, and the ring lends it again only `depth` loans later.
        Ok(unsafe { SharedBytes::new(access, slots.at(loan.slot), reply_len) })
    }

    /// Publishes the loan's slot with `len` bytes as request `seq`; returns the response
    /// sequence number seen before, which the reply will change.
    fn publish_request(
        &self,
        access: &ObjectAccess<'_>,
        loan: Loan,
        seq: u32,
        len: usize,
    ) -> Result<u32, TransportError> {
        let Lines {
            request, response, ..
        } = &self.client.segment.layout;
        let previous = response.signal.seq().load(Ordering::Acquire);
        // From here on the slot is the server's, until its reply.
        access.checked(request.hand_over(seq, loan.slot, len))?;
        Ok(previous)
    }

    /// Waits for the reply to request `seq` (sent in `loan`) and returns its length: the slot
    /// is the client's again, holding the echo.
    fn await_reply(
        &self,
        access: &ObjectAccess<'_>,
        loan: Loan,
        seq: u32,
        previous: u32,
    ) -> Result<usize, TransportError> {
        let replied = self.client.await_reply(previous, access)?;
        let segment = &self.client.segment;
        let Lines {
            response, slots, ..
        } = &segment.layout;
        let (slot, len) = access.checked(response.announced(segment.capacity, slots.count()))?;
        if replied != seq || slot != loan.slot {
            return Err(TransportError::Protocol(format!(
                "the reply hands back slot {slot} as number {replied}; request {seq} was in slot {}",
                loan.slot
            )));
        }
        Ok(len)
    }

    /// A round trip (or a stream's end) of the first `len` bytes of the loan, that runs
    /// `meanwhile` once the request is handed over, while the server answers, before the reply
    /// is awaited.
    fn exchange(
        &mut self,
        len: usize,
        meanwhile: impl FnOnce(),
    ) -> Result<SharedBytes<'_>, TransportError> {
        let loan = match self.loan.take() {
            Some(loan) if len <= loan.len => loan,
            _ => return Err(TransportError::NotLoaned { len }),
        };
        if self.client.streaming().is_some() {
            meanwhile();
            return self.end_stream(loan, len);
        }
        let seq = self.client.take_seq();
        // One access for the whole exchange, handed on to the caller with the echo.
        let segment = &self.client.segment;
        let access = segment.memory.access();
        let previous = self.publish_request(&access, loan, seq, len)?;
        meanwhile();
        let reply_len = self.await_reply(&access, loan, seq, previous)?;
        self.next_slot = (loan.slot + 1) % SLOTS;
        // SAFETY: reply_len <= capacity, inside the slot, which is the client's again: the
        // server handed it back and will not touch it until the client publishes it anew.
        Ok(unsafe { SharedBytes::new(access, segment.layout.slots.at(loan.slot), reply_len) })
    }

    /// The copying round trip, for callers whose request is in a buffer of their own: one copy
    /// into the loan and one out of the echo, as SHM spin makes; `meanwhile` runs as in
    /// [`exchange`](ShmZcClient::exchange).
    fn copying_exchange(
        &mut self,
        request: &[u8],
        response: &mut [u8],
        meanwhile: impl FnOnce(),
    ) -> Result<usize, TransportError> {
        let mut loan = self.lend(request.len())?;
        loan.copy_from_slice(request);
        loan.release()?;
        let reply = self.exchange(request.len(), meanwhile)?;
        let fits = check_announced_len(reply.len(), response.len());
        if let Ok(len) = fits {
            response[..len].copy_from_slice(&reply[..len]);
        }
        // A truncation explains whatever else went wrong.
        reply.release()?;
        fits
    }
}

impl TransportClient for ShmZcClient {
    fn loan(&mut self, len: usize) -> Result<Option<SharedBytes<'_>>, TransportError> {
        self.lend(len).map(Some)
    }

    fn round_trip_loaned(&mut self, len: usize) -> Result<SharedBytes<'_>, TransportError> {
        self.exchange(len, || ())
    }

    fn overlaps_reply_wait(&self) -> bool {
        self.client.spins_for_replies()
    }

    fn round_trip_loaned_meanwhile(
        &mut self,
        len: usize,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<SharedBytes<'_>, TransportError> {
        self.exchange(len, meanwhile)
    }

    /// The copying round trip ([`copying_exchange`](ShmZcClient::copying_exchange)).
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.copying_exchange(request, response, || ())
    }

    fn round_trip_in_place_meanwhile<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
        meanwhile: &mut dyn FnMut(),
    ) -> Result<&'a [u8], TransportError> {
        let len = self.copying_exchange(request, scratch, meanwhile)?;
        Ok(&scratch[..len])
    }

    /// Publishes the first `len` bytes of the loan, the ring's next slot, one way.
    fn send_loaned(&mut self, len: usize) -> Result<(), TransportError> {
        let ring = self.client.stream_writer()?;
        match self.loan.take() {
            Some(loan) if len <= loan.len => {}
            _ => return Err(TransportError::NotLoaned { len }),
        }
        let segment = &self.client.segment;
        let access = segment.memory.access();
        // From here on the slot is the server's, until it frees it.
        ring.publish(&segment.layout.request.signal, len, &access)?;
        Ok(())
    }

    /// The copying send, for callers whose message is in a buffer of their own: one copy into
    /// the loan, as SHM spin makes.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        // Refused before anything is lent.
        self.client.stream_writer()?;
        let mut loan = self.lend(message.len())?;
        loan.copy_from_slice(message);
        loan.release()?;
        self.send_loaned(message.len())
    }
}

/// The echoing side: creates the segment (exclusively, 0600) and unlinks it when dropped.
/// Handing a slot back never waits (one request is in flight at a time; a stream's reader only
/// frees slots), so the server needs no timeout.
type ShmZcServer = SegmentServer<Lines>;

impl Lines {
    /// Hands slot `slot`, holding `len` bytes the server took, back under `seq`, tampered with
    /// as `reply` says.
    fn hand_back(
        &self,
        (seq, slot, len): (u32, usize, usize),
        capacity: usize,
        reply: Reply,
        access: &ObjectAccess<'_>,
    ) -> Result<(), TransportError> {
        let reply_len = match reply {
            Reply::FlipByte(offset) if offset < len.min(capacity) => {
                // SAFETY: offset < capacity, inside the slot, which is ours until handed back.
                unsafe { *self.slots.at(slot).as_ptr().add(offset) ^= 0xff };
                len
            }
            Reply::Misframed => capacity + 1,
            Reply::Echo | Reply::FlipByte(_) => len,
        };
        // The echo: the same slot, handed back untouched.
        access.checked(self.response.hand_over(seq, slot, reply_len))
    }
}

/// The echo: the request's slot handed back, untouched unless told to tamper with it.
impl SegmentEcho for Lines {
    /// The slot the request came in, which is the server's until the hand-over in `answer`.
    type Held = usize;

    fn take(
        &self,
        capacity: usize,
        access: &ObjectAccess<'_>,
    ) -> Result<(usize, usize), TransportError> {
        // The slot is ours from here until the hand-over in `answer`.
        let (slot, len) = access.checked(self.request.announced(capacity, self.slots.count()))?;
        Ok((len, slot))
    }

    fn answer(
        &self,
        Taken {
            seq,
            len,
            held: slot,
        }: Taken<usize>,
        capacity: usize,
        reply: Reply,
        access: &ObjectAccess<'_>,
    ) -> Result<(), TransportError> {
        self.hand_back((seq, slot, len), capacity, reply, access)
    }

    fn request_at(&self, slot: usize) -> NonNull<u8> {
        self.slots.at(slot)
    }

    /// The end's slot handed back, as a round trip's is.
    fn answer_end(
        &self,
        end: RingEntry,
        capacity: usize,
        reply: Reply,
        access: &ObjectAccess<'_>,
    ) -> Result<(), TransportError> {
        self.hand_back((end.seq, end.slot, end.len), capacity, reply, access)
    }
}
