//! SHM spin: one shared-memory segment, an atomic sequence number per direction, and waits that
//! spin (yielding the CPU) for up to the spin budget (`--spin-budget`, by default
//! [`SEQUENCE_SPIN_BUDGET`](super::spin_wait::SEQUENCE_SPIN_BUDGET), 20 µs) before sleeping on a
//! futex: a [`SequenceSignal`] per direction.
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
//! Each round trip (and each echo) runs under one [`ObjectAccess`](super::posix::ObjectAccess)
//! of the segment, checked after every step and on every futex slice, so a peer that truncates
//! the segment ends the exchange with [`TransportError::Truncated`] instead of SIGBUS.

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
use crate::transport::os::shm::SharedMemory;
use crate::transport::spec::{
    Addressing, EchoOutcome, Tamper, TransportClient, TransportKind, TransportOptions,
    TransportServer, TransportSpec,
};
use crate::transport::wait::{retry_until_created, PeerWatch, WaitBudget, WAIT_SLICE};

/// Offsets of the two control lines, and the bytes they take before the payload areas. Each
/// line holds the [`SequenceSignal`] (`seq`, `waiters`), then the payload's length.
const REQUEST_LINE: usize = 64;
const RESPONSE_LINE: usize = 128;
const CONTROL_BYTES: usize = SEGMENT_PAGE;
const LEN_OFFSET: usize = 8;

/// The channel's one segment, `/srb_<channel>_spin`.
fn segment_name(channel: &ChannelName) -> String {
    channel.object_name("spin")
}

fn channel_objects(channel: &ChannelName) -> Vec<PosixObject> {
    vec![PosixObject::SharedMemory(segment_name(channel))]
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "shm-spin",
    display_name: "SHM spin",
    addressing: Addressing::Channel,
    connect: |endpoint, options, watch| {
        let (channel, buffer_size) = endpoint.channel(KIND.name())?;
        let client = ShmSpinClient::connect(channel, buffer_size, options, watch)?;
        Ok(Box::new(client))
    },
    bind: |endpoint, options| {
        let (channel, buffer_size) = endpoint.channel(KIND.name())?;
        Ok(Box::new(ShmSpinServer::create(
            channel,
            buffer_size,
            options,
        )?))
    },
    channel_objects,
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
    /// `base` must point to a live mapping of at least `Segment::size(capacity)` bytes,
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

/// The mapping and its two lanes.
struct Segment {
    request: Lane,
    response: Lane,
    capacity: usize,
    // Last: the lanes point into it.
    memory: SharedMemory,
}

// SAFETY: the lanes point into `memory`, which the segment owns and which moves with it (so
// they stay valid wherever it goes); access is atomic or guarded by the sequence protocol, and nothing
// is tied to the thread that mapped it. The SIGBUS guard follows the segment to another thread:
// an access is begun on the thread that touches the memory (SharedMemory's Send says why).
unsafe impl Send for Segment {}

impl Segment {
    fn new(memory: SharedMemory, capacity: usize) -> Segment {
        let base = memory.as_ptr();
        // SAFETY: memory is at least Segment::size(capacity) (its creator or opener sized
        // it so), page-aligned, and owned by the segment for as long as the lanes live.
        let (request, response) = unsafe {
            (
                Lane::new(base, REQUEST_LINE, CONTROL_BYTES),
                Lane::new(base, RESPONSE_LINE, CONTROL_BYTES + whole_pages(capacity)),
            )
        };
        Segment {
            request,
            response,
            capacity,
            memory,
        }
    }

    fn size(capacity: usize) -> usize {
        CONTROL_BYTES + 2 * whole_pages(capacity)
    }
}

/// The requesting side.
pub struct ShmSpinClient {
    segment: Segment,
    next_seq: u32,
    timeout: Duration,
    spin_budget: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl ShmSpinClient {
    pub fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<ShmSpinClient, TransportError> {
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
            .seq()
            .load(Ordering::Acquire)
            .wrapping_add(1);
        access.check()?;
        drop(access);
        Ok(ShmSpinClient {
            segment,
            next_seq,
            timeout: options.timeout,
            spin_budget: KIND.spin_budget_under(&options),
            watch,
        })
    }
}

impl TransportClient for ShmSpinClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let Segment {
            request: out,
            response: back,
            capacity,
            memory,
        } = &self.segment;
        check_message_fits(request.len(), *capacity)?;
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let access = memory.access();
        let previous = back.seq().load(Ordering::Acquire);
        // SAFETY: request fits the payload area; the server reads it only after seeing `seq`,
        // and has finished with the previous request (we hold its reply).
        unsafe { std::ptr::copy_nonoverlapping(request.as_ptr(), out.data, request.len()) };
        out.len().store(request.len() as u32, Ordering::Relaxed);
        access.checked(out.signal.publish(seq))?;

        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        let waited = back
            .signal
            .wait_for(previous, self.spin_budget, WAIT_SLICE, &access, || {
                budget.slice_expired("the reply (response sequence number)")
            });
        access.checked(waited)?;
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
pub struct ShmSpinServer {
    segment: Segment,
    last_seen: u32,
    spin_budget: Duration,
}

impl ShmSpinServer {
    /// Publishing never waits (there is one slot per direction and the client waits for its
    /// reply before writing again), so the server needs no timeout.
    pub fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<ShmSpinServer, TransportError> {
        let name = segment_name(&ChannelName::new(channel)?);
        let (memory, capacity) = create_segment(&name, buffer_size, Segment::size)?;
        Ok(ShmSpinServer {
            segment: Segment::new(memory, capacity),
            last_seen: 0,
            spin_budget: KIND.spin_budget_under(&options),
        })
    }
}

impl TransportServer for ShmSpinServer {
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError> {
        let Segment {
            request,
            response,
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
        let announced = request.len().load(Ordering::Relaxed) as usize;
        let len = access.checked(check_announced_len(announced, *capacity))?;
        if tamper == Tamper::Swallow {
            return Ok(EchoOutcome::Echoed);
        }
        // SAFETY: len <= capacity; the client wrote the request before publishing `seq` and
        // waits for our reply before touching either payload area again.
        unsafe { std::ptr::copy_nonoverlapping(request.data, response.data, len) };
        let mut reply_len = len as u32;
        match tamper {
            // SAFETY: offset < len <= capacity.
            Tamper::FlipByte(offset) if offset < len => unsafe {
                *response.data.add(offset) ^= 0xff
            },
            Tamper::BadLength => reply_len = *capacity as u32 + 1,
            _ => {}
        }
        response.len().store(reply_len, Ordering::Relaxed);
        access.checked(response.signal.publish(seq))?;
        Ok(EchoOutcome::Echoed)
    }
}
