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
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::transport::blocks::payload::{
    check_announced_len, check_message_fits, checked_payload_capacity, shm_object_missing,
};
use crate::transport::blocks::sequence::{
    create_segment, whole_pages, SequenceSignal, SEGMENT_PAGE, SEQUENCE_SPIN_BUDGET,
};
use crate::transport::error::TransportError;
use crate::transport::names::{ChannelName, PosixObject};
use crate::transport::os::shm::{ObjectAccess, SharedBytes, SharedMemory};
use crate::transport::spec::{
    Addressing, EchoOutcome, Tamper, TransportClient, TransportKind, TransportOptions,
    TransportServer, TransportSpec,
};
use crate::transport::wait::{retry_until_created, PeerWatch, WaitBudget, WAIT_SLICE};

/// How many slots the segment lends, in turn.
const SLOTS: usize = 2;

/// Offsets of the two control lines, of the words in a line after its [`SequenceSignal`], and
/// the bytes the control lines take before the slots.
const REQUEST_LINE: usize = 64;
const RESPONSE_LINE: usize = 128;
const LEN_OFFSET: usize = 8;
const SLOT_OFFSET: usize = 12;
const CONTROL_BYTES: usize = SEGMENT_PAGE;

/// The channel's one segment, `/srb_<channel>_zc`.
fn segment_name(channel: &ChannelName) -> String {
    channel.object_name("zc")
}

fn channel_objects(channel: &ChannelName) -> Vec<PosixObject> {
    vec![PosixObject::SharedMemory(segment_name(channel))]
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "shm-zc",
    display_name: "SHM zero-copy",
    addressing: Addressing::Channel,
    connect: |endpoint, options, watch| {
        let (channel, buffer_size) = endpoint.channel(KIND.name())?;
        let client = ShmZcClient::connect(channel, buffer_size, options, watch)?;
        Ok(Box::new(client))
    },
    bind: |endpoint, options| {
        let (channel, buffer_size) = endpoint.channel(KIND.name())?;
        Ok(Box::new(ShmZcServer::create(
            channel,
            buffer_size,
            options,
        )?))
    },
    channel_objects,
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

/// The mapping, its two control lines and where its slots start.
struct Segment {
    request: Line,
    response: Line,
    slots: [NonNull<u8>; SLOTS],
    capacity: usize,
    // Last: the lines and slots point into it.
    memory: SharedMemory,
}

// SAFETY: the lines and slots point into `memory`, which the segment owns and which moves with it (so
// they stay valid wherever it goes); access is atomic or guarded by the ownership protocol, and nothing
// is tied to the thread that mapped it. The SIGBUS guard follows the segment to another thread:
// an access is begun on the thread that touches the memory (SharedMemory's Send says why).
unsafe impl Send for Segment {}

impl Segment {
    fn new(memory: SharedMemory, capacity: usize) -> Segment {
        let base = memory.as_ptr();
        // SAFETY: memory is at least Segment::size(capacity) (its creator or opener sized it
        // so), page-aligned, and owned by the segment for as long as the lines and slots live.
        let (request, response, slots) = unsafe {
            let slot = |i: usize| {
                NonNull::new_unchecked(base.add(CONTROL_BYTES + i * whole_pages(capacity)))
            };
            (
                Line::new(base.add(REQUEST_LINE)),
                Line::new(base.add(RESPONSE_LINE)),
                std::array::from_fn(slot),
            )
        };
        Segment {
            request,
            response,
            slots,
            capacity,
            memory,
        }
    }

    fn size(capacity: usize) -> usize {
        CONTROL_BYTES + SLOTS * whole_pages(capacity)
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
    segment: Segment,
    next_seq: u32,
    /// The slot the next loan lends.
    next_slot: usize,
    loan: Option<Loan>,
    timeout: Duration,
    spin_budget: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl ShmZcClient {
    pub fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<ShmZcClient, TransportError> {
        let name = segment_name(&ChannelName::new(channel)?);
        let capacity = checked_payload_capacity(buffer_size)?;
        let memory = retry_until_created(
            &mut WaitBudget::new(options.timeout, watch.as_ref()),
            || SharedMemory::open(&name, Segment::size(capacity)),
            shm_object_missing,
        )?;
        let segment = Segment::new(memory, capacity);
        let access = segment.memory.access();
        // Continue from wherever a previous client left the sequence.
        let next_seq = segment
            .request
            .signal
            .seq()
            .load(Ordering::Acquire)
            .wrapping_add(1);
        access.check()?;
        drop(access);
        Ok(ShmZcClient {
            segment,
            next_seq,
            next_slot: 0,
            loan: None,
            timeout: options.timeout,
            spin_budget: KIND.spin_budget_under(&options),
            watch,
        })
    }

    /// Lends the next slot's first `len` bytes, which the client owns: no request is in flight.
    fn lend(&mut self, len: usize) -> Result<SharedBytes<'_>, TransportError> {
        check_message_fits(len, self.segment.capacity)?;
        let slot = self.next_slot;
        self.loan = Some(Loan { slot, len });
        let access = self.segment.memory.access();
        // A segment truncated earlier is lost: say so now rather than lend zeros.
        access.check()?;
        // SAFETY: len <= capacity, inside the slot; the slot is the client's (module notes).
        Ok(unsafe { SharedBytes::new(access, self.segment.slots[slot], len) })
    }

    /// Publishes the loan's slot with `len` bytes as request `seq`; returns the response
    /// sequence number seen before, which the reply will change.
    fn send(
        &self,
        access: &ObjectAccess<'_>,
        loan: Loan,
        seq: u32,
        len: usize,
    ) -> Result<u32, TransportError> {
        let Segment {
            request, response, ..
        } = &self.segment;
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
        let response = &self.segment.response;
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        let waited =
            response
                .signal
                .wait_for(previous, self.spin_budget, WAIT_SLICE, access, || {
                    budget.slice_expired("the reply (response sequence number)")
                });
        let replied = access.checked(waited)?;
        let (slot, len) = access.checked(response.announced(self.segment.capacity))?;
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
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        // One access for the whole exchange, handed on to the caller with the echo.
        let access = self.segment.memory.access();
        let previous = self.send(&access, loan, seq, len)?;
        let reply_len = self.await_reply(&access, loan, seq, previous)?;
        self.next_slot = (loan.slot + 1) % SLOTS;
        // SAFETY: reply_len <= capacity, inside the slot, which is the client's again: the
        // server handed it back and will not touch it until the client publishes it anew.
        Ok(unsafe { SharedBytes::new(access, self.segment.slots[loan.slot], reply_len) })
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
pub struct ShmZcServer {
    segment: Segment,
    last_seen: u32,
    spin_budget: Duration,
}

impl ShmZcServer {
    /// Handing a slot back never waits (one request is in flight at a time), so the server
    /// needs no timeout.
    pub fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<ShmZcServer, TransportError> {
        let name = segment_name(&ChannelName::new(channel)?);
        let (memory, capacity) = create_segment(&name, buffer_size, Segment::size)?;
        Ok(ShmZcServer {
            segment: Segment::new(memory, capacity),
            last_seen: 0,
            spin_budget: KIND.spin_budget_under(&options),
        })
    }
}

impl TransportServer for ShmZcServer {
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError> {
        let Segment {
            request,
            response,
            slots,
            capacity,
            memory,
        } = &self.segment;
        let access = memory.access();
        let next = request
            .signal
            .next_request(self.last_seen, self.spin_budget, &access, stop)?;
        let Some(seq) = next else {
            return Ok(EchoOutcome::Stopped);
        };
        self.last_seen = seq;
        // The slot is ours from here until the hand-over below.
        let (slot, len) = access.checked(request.announced(*capacity))?;
        let reply_len = match tamper {
            Tamper::Swallow => return Ok(EchoOutcome::Echoed),
            Tamper::FlipByte(offset) if offset < len => {
                // SAFETY: offset < len <= capacity, inside the slot, which is ours.
                unsafe { *slots[slot].as_ptr().add(offset) ^= 0xff };
                len
            }
            Tamper::BadLength => *capacity + 1,
            Tamper::None | Tamper::FlipByte(_) => len,
        };
        // The echo: the same slot, handed back untouched.
        access.checked(response.hand_over(seq, slot, reply_len))?;
        Ok(EchoOutcome::Echoed)
    }
}
