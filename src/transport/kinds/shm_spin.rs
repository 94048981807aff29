//! SHM spin: one shared-memory segment, an atomic sequence number per direction, and waits that
//! spin (yielding the CPU) for up to the spin budget (`--spin-budget`, by default
//! [`SEQUENCE_SPIN_BUDGET`], 20 µs) before sleeping on a futex: a [`SequenceSignal`] per
//! direction.
//!
//! With both processes awake on separate CPUs a round trip never enters the kernel: the floor
//! of what two processes can do here, two memcpys and two cache-line hand-offs. When the peer
//! does sleep, it is woken with one `FUTEX_WAKE`, and an idle server sleeps rather than spins.
//!
//! Layout of `/srb_<channel>_spin` for round trips (`CONTROL_BYTES + 2 × lane` bytes, where the
//! lane is the capacity, `buffer_size − HEADER_LEN` as for the other transports, rounded up to
//! a page):
//! - offset 0: header, zero: round trips (see the stream below);
//! - offset 64: request line: `seq` (u32), `waiters` (u32), `len` (u32);
//! - offset 128: response line, the same; each on its own cache line;
//! - offset 4096: request payload, then, a whole number of pages later, response payload.
//!
//! Both payload areas start on a page boundary, so the server's request-to-response copy is
//! 0 mod 4096 apart, and so are the client's copies from and to its page-aligned buffers
//! (`payload_page_offset` is 0): no copy depends on where an allocator put something.
//!
//! **A stream** (`--pattern stream`) goes through a ring of slots instead of the request lane
//! ([`ring`](crate::transport::blocks::ring)): the client copies each message into the ring's
//! next free slot and publishes the ring's write index, without waiting for anything but room;
//! the server reads each message where it lies and frees its slot. The server makes the ring
//! `--ring-depth` slots deep (by default 64, fewer for large messages) and says so in the
//! header, which the client reads on connect (a client of the other pattern is refused).
//! Layout of a stream's segment (`RING + lane` bytes, where `RING` is the ring's end:
//! `4096 + whole pages of 4 × depth + depth × lane`):
//! - offset 0: header: `pattern` (1), `depth` (u32 each);
//! - offset 64: request line: `seq` is the ring's write index, `waiters` (`len` unused: the
//!   ring's length table says each message's length);
//! - offset 128: response line, as in round trips: the end's acknowledgement;
//! - offset 256: read line: the ring's read index, `waiters`;
//! - offset 4096: the length of each slot's message (u32 each), in whole pages;
//! - then `depth` slots of a lane each, then the response payload area (a lane).
//!
//! The stream's last message, its end, goes through the ring too, as a round trip: the server
//! copies it from its slot to the response payload area and publishes the response line under
//! the write index past the end, which the client checks.
//!
//! Each round trip, each message of a stream, and each of the server's steps (taking a request,
//! answering it, freeing a slot), runs under an [`ObjectAccess`] of the segment, checked after
//! every step and on every futex slice, so a peer that truncates the segment ends the exchange
//! with [`TransportError::Truncated`] instead of SIGBUS.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::transport::blocks::channel::{bind_on_channel, connect_on_channel};
use crate::transport::blocks::payload::{check_announced_len, check_message_fits};
use crate::transport::blocks::ring::{
    check_acknowledgement, RingEntry, RingGeometry, RingWriter, Shape,
};
use crate::transport::blocks::segment::{
    segment_footprint, segment_objects, whole_pages, Segment, SegmentClient, SegmentEcho,
    SegmentLayout, SegmentServer, Taken, SEGMENT_PAGE,
};
use crate::transport::blocks::sequence::{SequenceSignal, SEQUENCE_SPIN_BUDGET};
use crate::transport::error::TransportError;
use crate::transport::os::shm::ObjectAccess;
use crate::transport::spec::{Addressing, Reply, TransportClient, TransportKind, TransportSpec};
use crate::transport::workload::one_request_at_a_time;

/// Offsets of the two control lines, and the bytes they take before the payload areas. Each
/// line holds the [`SequenceSignal`] (`seq`, `waiters`), then the payload's length.
const REQUEST_LINE: usize = 64;
const RESPONSE_LINE: usize = 128;
const CONTROL_BYTES: usize = SEGMENT_PAGE;
const LEN_OFFSET: usize = 8;

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "shm-spin",
    display_name: "SHM spin",
    addressing: Addressing::Channel,
    connect: connect_on_channel::<ShmSpinClient>,
    bind: bind_on_channel::<ShmSpinServer>,
    channel_objects: segment_objects::<Lanes>,
    footprint: segment_footprint::<Lanes>,
    spin_budget: Some(SEQUENCE_SPIN_BUDGET),
    summary: "one shared segment, atomic sequence numbers, spin then futex",
    supports: |workload| {
        one_request_at_a_time(
            workload,
            "one slot per direction for round trips (its ring carries streams only)",
        )
    },
    ..TransportSpec::DEFAULTS
};

/// One direction: its control line in the header and its payload area.
struct Lane {
    signal: SequenceSignal,
    len: NonNull<AtomicU32>,
    data: *mut u8,
}

impl Lane {
    /// # Safety
    /// `base` must point to a live mapping of at least `Lanes::size(capacity)` bytes,
    /// page-aligned (so every u32 below is aligned), that outlives the lane.
    unsafe fn new(base: *mut u8, line: usize, data_offset: usize) -> Lane {
        // SAFETY: offsets are inside the header (checked by the caller's size) and 4-aligned;
        // the control line is touched only atomically, by both processes.
        unsafe {
            Lane {
                signal: SequenceSignal::new(base.add(line)),
                len: NonNull::new_unchecked(base.add(line + LEN_OFFSET).cast()),
                data: base.add(data_offset),
            }
        }
    }

    fn seq(&self) -> &AtomicU32 {
        self.signal.seq()
    }

    fn len(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping; both processes only touch it atomically.
        unsafe { self.len.as_ref() }
    }
}

/// The segment's two lanes.
struct Lanes {
    request: Lane,
    response: Lane,
}

// SAFETY: the lanes point only into the mapping they are built over; access is atomic or
// guarded by the sequence protocol, and nothing is tied to a thread.
unsafe impl SegmentLayout for Lanes {
    const KIND: TransportKind = KIND;
    const OBJECT: &'static str = "spin";

    fn size(capacity: usize, shape: Shape) -> usize {
        match shape {
            Shape::RoundTrip => CONTROL_BYTES + 2 * whole_pages(capacity),
            Shape::Stream { depth } => {
                RingGeometry::new(capacity, depth).end + whole_pages(capacity)
            }
        }
    }

    unsafe fn over(base: *mut u8, capacity: usize, shape: Shape) -> Lanes {
        let (request_data, response_data) = match shape {
            Shape::RoundTrip => (CONTROL_BYTES, CONTROL_BYTES + whole_pages(capacity)),
            // A stream's messages go through the ring's slots: the request lane's area is the
            // ring's first slot, which nothing reaches through the lane.
            Shape::Stream { depth } => {
                let ring = RingGeometry::new(capacity, depth);
                (ring.slots_at, ring.end)
            }
        };
        // SAFETY: base is at least Lanes::size(capacity, shape), page-aligned, and outlives
        // the lanes (the caller's promise); both areas lie inside it.
        unsafe {
            Lanes {
                request: Lane::new(base, REQUEST_LINE, request_data),
                response: Lane::new(base, RESPONSE_LINE, response_data),
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

/// The requesting side.
type ShmSpinClient = SegmentClient<Lanes>;

impl TransportClient for ShmSpinClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.exchange(request, response, || ())
    }

    fn overlaps_reply_wait(&self) -> bool {
        self.spins_for_replies()
    }

    fn round_trip_in_place_meanwhile<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
        meanwhile: &mut dyn FnMut(),
    ) -> Result<&'a [u8], TransportError> {
        let len = self.exchange(request, scratch, meanwhile)?;
        Ok(&scratch[..len])
    }

    /// Copies `message` into the ring's next free slot (waiting for one while the ring is
    /// full) and publishes it.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        let ring = self.stream_writer()?;
        check_message_fits(message.len(), self.segment.capacity)?;
        let access = self.segment.memory.access();
        let slot = self.reserve_slot(ring, &access)?;
        // SAFETY: the message fits the slot, which is the client's until it publishes it
        // (the ring's ownership rule): the server has freed it and reads it only after that.
        unsafe { copy_into_slot(ring, slot, message) };
        ring.publish(&self.segment.layout.request.signal, message.len(), &access)?;
        Ok(())
    }
}

impl ShmSpinClient {
    /// A round trip (or a stream's end) that runs `meanwhile` once the request is published,
    /// while the server answers, before the reply is awaited.
    fn exchange(
        &mut self,
        request: &[u8],
        response: &mut [u8],
        meanwhile: impl FnOnce(),
    ) -> Result<usize, TransportError> {
        if let Some(ring) = self.streaming() {
            meanwhile();
            return self.end_stream(ring, request, response);
        }
        check_message_fits(request.len(), self.segment.capacity)?;
        let seq = self.take_seq();
        let Segment {
            layout:
                Lanes {
                    request: out,
                    response: back,
                },
            capacity,
            memory,
            ..
        } = &self.segment;
        let access = memory.access();
        let previous = back.seq().load(Ordering::Acquire);
        // SAFETY: request fits the payload area; the server reads it only after seeing `seq`,
        // and has finished with the previous request (we hold its reply).
        unsafe { std::ptr::copy_nonoverlapping(request.as_ptr(), out.data, request.len()) };
        out.len().store(request.len() as u32, Ordering::Relaxed);
        access.checked(out.signal.publish(seq))?;
        meanwhile();
        self.await_reply(previous, &access)?;
        copy_reply(back, *capacity, response, &access)
    }

    /// A stream's end: copied into the ring as its last message, and acknowledged on the
    /// response lane under the write index past it.
    fn end_stream(
        &self,
        ring: &RingWriter,
        request: &[u8],
        response: &mut [u8],
    ) -> Result<usize, TransportError> {
        check_message_fits(request.len(), self.segment.capacity)?;
        let Lanes {
            request: out,
            response: back,
        } = &self.segment.layout;
        let access = self.segment.memory.access();
        let slot = self.reserve_slot(ring, &access)?;
        let previous = back.seq().load(Ordering::Acquire);
        // SAFETY: as in `send`: the slot is the client's until it publishes it.
        unsafe { copy_into_slot(ring, slot, request) };
        let end = ring.publish(&out.signal, request.len(), &access)?;
        let acknowledged = self.await_reply(previous, &access)?;
        access.checked(check_acknowledgement(acknowledged, end))?;
        copy_reply(back, self.segment.capacity, response, &access)
    }
}

/// Copies `message` into slot `slot` of the ring.
///
/// # Safety
/// `message` fits a slot (at most the capacity), and the slot is the client's: reserved and
/// not yet published.
unsafe fn copy_into_slot(ring: &RingWriter, slot: usize, message: &[u8]) {
    let at = ring.slots().at(slot).as_ptr();
    // SAFETY: the caller's promise: inside the slot, which no one else touches meanwhile.
    unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), at, message.len()) };
}

/// Copies the reply the response lane announces into `response`, within `access`, after its
/// number was acquired; returns its length. A length over what either side holds is refused.
fn copy_reply(
    back: &Lane,
    capacity: usize,
    response: &mut [u8],
    access: &ObjectAccess<'_>,
) -> Result<usize, TransportError> {
    let announced = back.len().load(Ordering::Relaxed) as usize;
    let len = access.checked(check_announced_len(announced, capacity.min(response.len())))?;
    // SAFETY: len fits both buffers; the server wrote the reply before publishing it and
    // will not touch it again until our next request.
    unsafe { std::ptr::copy_nonoverlapping(back.data, response.as_mut_ptr(), len) };
    access.check()?;
    Ok(len)
}

/// The echoing side: creates the segment (exclusively, 0600) and unlinks it when dropped.
/// Publishing never waits (there is one slot per direction and the client waits for its reply
/// before writing again; a stream's reader only frees slots), so the server needs no timeout.
type ShmSpinServer = SegmentServer<Lanes>;

impl Lanes {
    /// Copies the `len` bytes at `from` to the response lane, tampered with as `reply` says,
    /// and publishes them under `seq`.
    ///
    /// # Safety
    /// `from` points to `len` (at most `capacity`) bytes of the segment that are the server's:
    /// a request or a stream's end it took and has not answered.
    unsafe fn echo_from(
        &self,
        from: *const u8,
        (seq, len): (u32, usize),
        capacity: usize,
        reply: Reply,
        access: &ObjectAccess<'_>,
    ) -> Result<(), TransportError> {
        let response = &self.response;
        // SAFETY: len <= capacity, and the bytes at `from` are ours (the caller's promise);
        // the client waits for our reply before touching the response area again.
        unsafe { std::ptr::copy_nonoverlapping(from, response.data, len) };
        let mut reply_len = len as u32;
        match reply {
            // SAFETY: offset < len <= capacity.
            Reply::FlipByte(offset) if offset < len => unsafe {
                *response.data.add(offset) ^= 0xff
            },
            Reply::Misframed => reply_len = capacity as u32 + 1,
            Reply::Echo | Reply::FlipByte(_) => {}
        }
        response.len().store(reply_len, Ordering::Relaxed);
        access.checked(response.signal.publish(seq))
    }
}

/// The echo: the request's bytes copied to the response lane (and tampered with there).
impl SegmentEcho for Lanes {
    type Held = ();

    fn take(
        &self,
        capacity: usize,
        access: &ObjectAccess<'_>,
    ) -> Result<(usize, ()), TransportError> {
        let announced = self.request.len().load(Ordering::Relaxed) as usize;
        let len = access.checked(check_announced_len(announced, capacity))?;
        Ok((len, ()))
    }

    fn answer(
        &self,
        Taken { seq, len, .. }: Taken<()>,
        capacity: usize,
        reply: Reply,
        access: &ObjectAccess<'_>,
    ) -> Result<(), TransportError> {
        // SAFETY: len <= capacity; the client wrote the request before publishing `seq` and
        // waits for our reply before touching either payload area again.
        unsafe { self.echo_from(self.request.data, (seq, len), capacity, reply, access) }
    }

    fn request_at(&self, (): ()) -> NonNull<u8> {
        // SAFETY: the request lane's area, inside the live mapping: not null.
        unsafe { NonNull::new_unchecked(self.request.data) }
    }

    fn answer_end(
        &self,
        end: RingEntry,
        capacity: usize,
        reply: Reply,
        access: &ObjectAccess<'_>,
    ) -> Result<(), TransportError> {
        // SAFETY: end.len <= capacity (checked when it was taken), inside its slot, which is
        // the server's until it frees it after this answer.
        unsafe { self.echo_from(end.at.as_ptr(), (end.seq, end.len), capacity, reply, access) }
    }
}
