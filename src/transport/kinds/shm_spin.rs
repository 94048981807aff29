//! SHM spin: one shared-memory segment, an atomic sequence number per direction, and waits that
//! spin (yielding the CPU) for up to the spin budget (`--spin-budget`, by default
//! [`SEQUENCE_SPIN_BUDGET`], 20 µs) before sleeping on a futex: a [`SequenceSignal`] per
//! direction.
//!
//! With both processes awake on separate CPUs a round trip never enters the kernel: the floor
//! of what two processes can do here, two memcpys and two cache-line hand-offs. When the peer
//! does sleep, it is woken with one `FUTEX_WAKE`, and an idle server sleeps rather than spins.
//!
//! Layout of `/srb_<channel>_spin` (`CONTROL_BYTES + 2 × lane` bytes, where the lane is the
//! capacity, `buffer_size − HEADER_LEN` as for the other transports, rounded up to a page):
//! - offset 64: request line: `seq` (u32), `waiters` (u32), `len` (u32);
//! - offset 128: response line, the same; each on its own cache line;
//! - offset 4096: request payload, then, a whole number of pages later, response payload.
//!
//! Both payload areas start on a page boundary, so the server's request-to-response copy is
//! 0 mod 4096 apart, and so are the client's copies from and to its page-aligned buffers
//! (`payload_page_offset` is 0): no copy depends on where an allocator put something.
//!
//! Each round trip, and each of the server's two steps (taking a request, answering it), runs
//! under an [`ObjectAccess`] of the segment, checked after every
//! step and on every futex slice, so a peer that truncates the segment ends the exchange with
//! [`TransportError::Truncated`] instead of SIGBUS.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::transport::blocks::channel::{bind_on_channel, connect_on_channel};
use crate::transport::blocks::payload::{check_announced_len, check_message_fits};
use crate::transport::blocks::segment::{
    segment_objects, whole_pages, Segment, SegmentClient, SegmentEcho, SegmentLayout,
    SegmentServer, Taken, SEGMENT_PAGE,
};
use crate::transport::blocks::sequence::{SequenceSignal, SEQUENCE_SPIN_BUDGET};
use crate::transport::error::TransportError;
use crate::transport::os::shm::ObjectAccess;
use crate::transport::spec::{Addressing, Reply, TransportClient, TransportKind, TransportSpec};

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
    max_message: |_| None,
    spin_budget: Some(SEQUENCE_SPIN_BUDGET),
    peer_buffer_size: None,
    summary: "one shared segment, atomic sequence numbers, spin then futex",
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

    fn size(capacity: usize) -> usize {
        CONTROL_BYTES + 2 * whole_pages(capacity)
    }

    unsafe fn over(base: *mut u8, capacity: usize) -> Lanes {
        // SAFETY: base is at least Lanes::size(capacity), page-aligned, and outlives the lanes
        // (the caller's promise).
        unsafe {
            Lanes {
                request: Lane::new(base, REQUEST_LINE, CONTROL_BYTES),
                response: Lane::new(base, RESPONSE_LINE, CONTROL_BYTES + whole_pages(capacity)),
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
        } = &self.segment;
        let access = memory.access();
        let previous = back.seq().load(Ordering::Acquire);
        // SAFETY: request fits the payload area; the server reads it only after seeing `seq`,
        // and has finished with the previous request (we hold its reply).
        unsafe { std::ptr::copy_nonoverlapping(request.as_ptr(), out.data, request.len()) };
        out.len().store(request.len() as u32, Ordering::Relaxed);
        access.checked(out.signal.publish(seq))?;

        self.await_reply(previous, &access)?;
        let announced = back.len().load(Ordering::Relaxed) as usize;
        let len = access.checked(check_announced_len(
            announced,
            (*capacity).min(response.len()),
        ))?;
        // SAFETY: len fits both buffers; the server wrote the reply before publishing it and
        // will not touch it again until our next request.
        unsafe { std::ptr::copy_nonoverlapping(back.data, response.as_mut_ptr(), len) };
        access.check()?;
        Ok(len)
    }
}

/// The echoing side: creates the segment (exclusively, 0600) and unlinks it when dropped.
/// Publishing never waits (there is one slot per direction and the client waits for its reply
/// before writing again), so the server needs no timeout.
type ShmSpinServer = SegmentServer<Lanes>;

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
        let Lanes { request, response } = self;
        // SAFETY: len <= capacity; the client wrote the request before publishing `seq` and
        // waits for our reply before touching either payload area again.
        unsafe { std::ptr::copy_nonoverlapping(request.data, response.data, len) };
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
