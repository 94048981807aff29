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
//! Every touch of the segment runs under an [`ObjectAccess`], the
//! caller's reads and writes of a loan too ([`SharedBytes`] holds one), so a peer that
//! truncates the segment ends the exchange with [`TransportError::Truncated`].

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::transport::blocks::channel::{bind_on_channel, connect_on_channel, ChannelClient};
use crate::transport::blocks::payload::{check_announced_len, check_message_fits};
use crate::transport::blocks::segment::{
    segment_objects, whole_pages, SegmentClient, SegmentEcho, SegmentLayout, SegmentServer, Taken,
    SEGMENT_PAGE,
};
use crate::transport::blocks::sequence::{SequenceSignal, SEQUENCE_SPIN_BUDGET};
use crate::transport::error::TransportError;
use crate::transport::os::shm::{ObjectAccess, SharedBytes};
use crate::transport::spec::{
    Addressing, Reply, TransportClient, TransportKind, TransportOptions, TransportSpec,
};
use crate::transport::wait::PeerWatch;

/// How many slots the segment lends, in turn.
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
    max_message: |_| None,
    spin_budget: Some(SEQUENCE_SPIN_BUDGET),
    peer_buffer_size: None,
    summary: "zero-copy: requests written into loaned shared-memory slots",
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

    /// The slot and length a line announces, read after acquiring its `seq`; a slot or a
    /// length the segment does not have is the peer's error, never an access out of bounds.
    fn announced(&self, capacity: usize) -> Result<(usize, usize), TransportError> {
        let slot = self.slot().load(Ordering::Relaxed) as usize;
        if slot >= SLOTS {
            return Err(TransportError::Protocol(format!(
                "the peer named slot {slot}; the segment has {SLOTS}"
            )));
        }
        let len = check_announced_len(self.len().load(Ordering::Relaxed) as usize, capacity)?;
        Ok((slot, len))
    }
}

/// The segment's two control lines and where its slots start.
struct Lines {
    request: Line,
    response: Line,
    slots: [NonNull<u8>; SLOTS],
}

// SAFETY: the lines and slots point only into the mapping they are built over; access is atomic
// or guarded by the ownership protocol, and nothing is tied to a thread.
unsafe impl SegmentLayout for Lines {
    const KIND: TransportKind = KIND;
    const OBJECT: &'static str = "zc";

    fn size(capacity: usize) -> usize {
        CONTROL_BYTES + SLOTS * whole_pages(capacity)
    }

    unsafe fn over(base: *mut u8, capacity: usize) -> Lines {
        // SAFETY: base is at least Lines::size(capacity) (the caller's promise), page-aligned,
        // and outlives the lines and slots.
        unsafe {
            let slot = |i: usize| {
                NonNull::new_unchecked(base.add(CONTROL_BYTES + i * whole_pages(capacity)))
            };
            Lines {
                request: Line::new(base.add(REQUEST_LINE)),
                response: Line::new(base.add(RESPONSE_LINE)),
                slots: std::array::from_fn(slot),
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
    /// Lends the next slot's first `len` bytes, which the client owns: no request is in flight.
    fn lend(&mut self, len: usize) -> Result<SharedBytes<'_>, TransportError> {
        check_message_fits(len, self.client.segment.capacity)?;
        let slot = self.next_slot;
        self.loan = Some(Loan { slot, len });
        let segment = &self.client.segment;
        let access = segment.memory.access();
        // A segment truncated earlier is lost: say so now rather than lend zeros.
        access.check()?;
        // SAFETY: len <= capacity, inside the slot; the slot is the client's (module notes).
        Ok(unsafe { SharedBytes::new(access, segment.layout.slots[slot], len) })
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
        let (slot, len) = access.checked(segment.layout.response.announced(segment.capacity))?;
        if replied != seq || slot != loan.slot {
            return Err(TransportError::Protocol(format!(
                "the reply hands back slot {slot} as number {replied}; request {seq} was in slot {}",
                loan.slot
            )));
        }
        Ok(len)
    }
}

impl TransportClient for ShmZcClient {
    fn loan(&mut self, len: usize) -> Result<Option<SharedBytes<'_>>, TransportError> {
        self.lend(len).map(Some)
    }

    fn round_trip_loaned(&mut self, len: usize) -> Result<SharedBytes<'_>, TransportError> {
        let loan = match self.loan.take() {
            Some(loan) if len <= loan.len => loan,
            _ => return Err(TransportError::NotLoaned { len }),
        };
        let seq = self.client.take_seq();
        // One access for the whole exchange, handed on to the caller with the echo.
        let segment = &self.client.segment;
        let access = segment.memory.access();
        let previous = self.publish_request(&access, loan, seq, len)?;
        let reply_len = self.await_reply(&access, loan, seq, previous)?;
        self.next_slot = (loan.slot + 1) % SLOTS;
        // SAFETY: reply_len <= capacity, inside the slot, which is the client's again: the
        // server handed it back and will not touch it until the client publishes it anew.
        Ok(unsafe { SharedBytes::new(access, segment.layout.slots[loan.slot], reply_len) })
    }

    /// The copying round trip, for callers whose request is in a buffer of their own: one copy
    /// into the loan and one out of the echo, as SHM spin makes.
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let mut loan = self.lend(request.len())?;
        loan.copy_from_slice(request);
        loan.release()?;
        let reply = self.round_trip_loaned(request.len())?;
        let fits = check_announced_len(reply.len(), response.len());
        if let Ok(len) = fits {
            response[..len].copy_from_slice(&reply[..len]);
        }
        // A truncation explains whatever else went wrong.
        reply.release()?;
        fits
    }
}

/// The echoing side: creates the segment (exclusively, 0600) and unlinks it when dropped.
/// Handing a slot back never waits (one request is in flight at a time), so the server needs no
/// timeout.
type ShmZcServer = SegmentServer<Lines>;

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
        let (slot, len) = access.checked(self.request.announced(capacity))?;
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
        let reply_len = match reply {
            Reply::FlipByte(offset) if offset < len => {
                // SAFETY: offset < len <= capacity, inside the slot, which is ours.
                unsafe { *self.slots[slot].as_ptr().add(offset) ^= 0xff };
                len
            }
            Reply::Misframed => capacity + 1,
            Reply::Echo | Reply::FlipByte(_) => len,
        };
        // The echo: the same slot, handed back untouched.
        access.checked(self.response.hand_over(seq, slot, reply_len))
    }
}
