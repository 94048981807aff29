//! The skeleton of the spinning transports (SHM spin, SHM zero-copy): one segment per channel,
//! created by the server, opened by the client, with a control line per direction that holds a
//! [`SequenceSignal`]. What else the segment holds, and where, each transport says in its
//! [`SegmentLayout`]; the rest is here, once:
//!
//! - [`Segment`]: the mapping, the layout over it and the payload capacity; [`create_segment`],
//!   [`whole_pages`] and [`SEGMENT_PAGE`] for how it is sized;
//! - [`SegmentClient`]: the connect (open the server's segment, continue its sequence), the
//!   numbering of requests and the wait for a reply;
//! - [`SegmentServer`]: the create, and the server itself: the wait for the next request, the
//!   number last seen and the request held until it is answered. How a request is read and
//!   answered is the transport's [`SegmentEcho`];
//! - the segment's name on a channel ([`segment_name`], [`segment_objects`]), and how either
//!   side is built from a channel ([`ChannelClient`], [`ChannelServer`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::transport::blocks::channel::{ChannelClient, ChannelServer};
use crate::transport::blocks::payload::{
    check_shm_space, checked_payload_capacity, shm_object_missing,
};
use crate::transport::blocks::sequence::SequenceSignal;
use crate::transport::error::TransportError;
use crate::transport::names::{ChannelName, PosixObject};
use crate::transport::os::shm::{ObjectAccess, SharedMemory};
use crate::transport::spec::{
    EchoOutcome, Reply, TransportKind, TransportOptions, TransportServer,
};
use crate::transport::wait::{retry_until_created, PeerWatch, WaitBudget, WAIT_SLICE};

/// The page the spinning transports' segments are laid out in: the control lines take one,
/// and every payload area starts on a page boundary (a copy between two of them is 0 mod 4096
/// apart: never glibc's slow offsets).
pub const SEGMENT_PAGE: usize = 4096;

/// `bytes` rounded up to whole [`SEGMENT_PAGE`]s: what a payload area of that capacity takes.
pub fn whole_pages(bytes: usize) -> usize {
    bytes.div_ceil(SEGMENT_PAGE) * SEGMENT_PAGE
}

/// A server's fresh segment `name` of `size(capacity)` bytes for a `buffer_size`, created
/// exclusively and zero-filled (sequence numbers start at 0, no waiters); returns it with the
/// payload capacity.
pub fn create_segment(
    name: &str,
    buffer_size: usize,
    size: impl Fn(usize) -> usize,
) -> Result<(SharedMemory, usize), TransportError> {
    let capacity = checked_payload_capacity(buffer_size)?;
    check_shm_space(1, size(capacity))?;
    Ok((SharedMemory::create(name, size(capacity))?, capacity))
}

/// How a spinning transport lays out its segment: how big it is, what points where in it, and
/// which signal each direction publishes.
///
/// # Safety
/// A layout points only into the mapping it was built over ([`over`](SegmentLayout::over)),
/// and touches it only through atomics or under its transport's protocol, nothing of it tied
/// to a thread: a [`Segment`], which owns the mapping, is `Send` on that promise.
pub unsafe trait SegmentLayout: Sized + 'static {
    /// The transport whose segment this is: the spin budget it waits with, and the name an
    /// endpoint of another kind is told.
    const KIND: TransportKind;

    /// What its segment is called on a channel: `/srb_<channel>_<OBJECT>`.
    const OBJECT: &'static str;

    /// The bytes a segment of payload capacity `capacity` takes.
    fn size(capacity: usize) -> usize;

    /// The layout of a segment of payload capacity `capacity` at `base`.
    ///
    /// # Safety
    /// `base` must point to a live mapping of at least `size(capacity)` bytes, page-aligned (so
    /// every u32 in it is aligned), that outlives the layout.
    unsafe fn over(base: *mut u8, capacity: usize) -> Self;

    /// The signal of the request line, which the client publishes.
    fn request(&self) -> &SequenceSignal;

    /// The signal of the response line, which the server publishes.
    fn response(&self) -> &SequenceSignal;
}

/// The channel's one segment, `/srb_<channel>_<OBJECT>`.
pub fn segment_name<L: SegmentLayout>(channel: &ChannelName) -> String {
    channel.object_name(L::OBJECT)
}

/// The objects a channel of the transport is made of: its segment.
pub fn segment_objects<L: SegmentLayout>(channel: &ChannelName) -> Vec<PosixObject> {
    vec![PosixObject::SharedMemory(segment_name::<L>(channel))]
}

/// The mapping, the layout over it and its payload capacity.
pub struct Segment<L> {
    pub layout: L,
    pub capacity: usize,
    // Last: the layout points into it.
    pub memory: SharedMemory,
}

// SAFETY: the layout points into `memory`, which the segment owns and which moves with it (so
// the pointers stay valid wherever it goes); access is atomic or guarded by the transport's
// protocol, and nothing is tied to the thread that mapped it (SegmentLayout's promise). The
// SIGBUS guard follows the segment to another thread: an access is begun on the thread that
// touches the memory (SharedMemory's Send says why).
unsafe impl<L: SegmentLayout> Send for Segment<L> {}

impl<L: SegmentLayout> Segment<L> {
    fn new(memory: SharedMemory, capacity: usize) -> Segment<L> {
        // SAFETY: memory is at least L::size(capacity) (its creator or opener sized it so),
        // page-aligned, and owned by the segment for as long as the layout lives.
        let layout = unsafe { L::over(memory.as_ptr(), capacity) };
        Segment {
            layout,
            capacity,
            memory,
        }
    }
}

/// The requesting side's segment, the number of its next request, and how it waits for replies.
pub struct SegmentClient<L> {
    pub segment: Segment<L>,
    next_seq: u32,
    timeout: Duration,
    spin_budget: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl<L: SegmentLayout> SegmentClient<L> {
    /// The number of the request about to be sent; the next call gives the one after it.
    pub fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    /// Waits, within `access`, until the response number differs from `previous` (read before
    /// the request was published) and returns it: spins for the spin budget, then sleeps in
    /// `WAIT_SLICE`s, each bounded by the timeout and the peer watch.
    pub fn await_reply(
        &self,
        previous: u32,
        access: &ObjectAccess<'_>,
    ) -> Result<u32, TransportError> {
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        let waited = self.segment.layout.response().wait_for(
            previous,
            self.spin_budget,
            WAIT_SLICE,
            access,
            || budget.slice_expired("the reply (response sequence number)"),
        );
        access.checked(waited)
    }
}

/// How a spinning transport's server takes a request from its segment and answers it.
pub trait SegmentEcho: SegmentLayout {
    /// What the server holds of a request besides its number and length until it answers it
    /// (the slot it came in, for a transport that lends slots).
    type Held: Copy + Send;

    /// Reads, within `access`, what the request just acquired announces: its length and what
    /// else the answer needs. A length over `capacity` is the peer's error.
    fn take(
        &self,
        capacity: usize,
        access: &ObjectAccess<'_>,
    ) -> Result<(usize, Self::Held), TransportError>;

    /// Answers, within `access`, `request` as `reply` says, publishing the answer under the
    /// request's number.
    fn answer(
        &self,
        request: Taken<Self::Held>,
        capacity: usize,
        reply: Reply,
        access: &ObjectAccess<'_>,
    ) -> Result<(), TransportError>;
}

/// A request a [`SegmentServer`] took and has not answered yet.
#[derive(Debug, Clone, Copy)]
pub struct Taken<H> {
    /// Its number, which the answer is published under.
    pub seq: u32,
    pub len: usize,
    /// What else the layout holds of it ([`SegmentEcho::Held`]).
    pub held: H,
}

/// The echoing side: creates the segment (exclusively, 0600) and unlinks it when dropped.
/// Publishing a reply never waits (the client waits for it before it sends again), so the
/// server needs no timeout.
pub struct SegmentServer<L: SegmentEcho> {
    segment: Segment<L>,
    last_seen: u32,
    spin_budget: Duration,
    /// The request handed out and not answered yet.
    pending: Option<Taken<L::Held>>,
}

/// The wait for the next request, its number, and the hand-over to the layout's echo.
impl<L: SegmentEcho> TransportServer for SegmentServer<L> {
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = None;
        let segment = &self.segment;
        let access = segment.memory.access();
        let next = segment.layout.request().next_request(
            self.last_seen,
            self.spin_budget,
            &access,
            stop,
        )?;
        let Some(seq) = next else {
            return Ok(None);
        };
        self.last_seen = seq;
        let (len, held) = segment.layout.take(segment.capacity, &access)?;
        self.pending = Some(Taken { seq, len, held });
        Ok(Some(len))
    }

    fn reply(&mut self, _stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let request = self.pending.take().ok_or(TransportError::NoRequest)?;
        let segment = &self.segment;
        let access = segment.memory.access();
        (segment.layout).answer(request, segment.capacity, reply, &access)?;
        Ok(EchoOutcome::Echoed)
    }
}

/// The connect of a spinning transport's client.
impl<L: SegmentLayout> ChannelClient for SegmentClient<L> {
    const KIND: TransportKind = L::KIND;

    /// Opens the server's segment on `channel` for a `buffer_size`, waiting within
    /// `options.timeout` for the server to create it; waits for replies spinning for the
    /// transport's spin budget under `options`.
    fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<SegmentClient<L>, TransportError> {
        let name = segment_name::<L>(&ChannelName::new(channel)?);
        let capacity = checked_payload_capacity(buffer_size)?;
        let memory = retry_until_created(
            &mut WaitBudget::new(options.timeout, watch.as_ref()),
            || SharedMemory::open(&name, L::size(capacity)),
            shm_object_missing,
        )?;
        let segment = Segment::<L>::new(memory, capacity);
        let access = segment.memory.access();
        // Continue from wherever a previous client left the sequence.
        let next_seq = segment
            .layout
            .request()
            .seq()
            .load(Ordering::Acquire)
            .wrapping_add(1);
        access.check()?;
        drop(access);
        Ok(SegmentClient {
            segment,
            next_seq,
            timeout: options.timeout,
            spin_budget: L::KIND.spin_budget_under(&options),
            watch,
        })
    }
}

/// The create of a spinning transport's server.
impl<L: SegmentEcho> ChannelServer for SegmentServer<L> {
    const KIND: TransportKind = L::KIND;

    /// Creates the segment on `channel` for a `buffer_size`; waits for requests spinning for
    /// the transport's spin budget under `options`. Publishing a reply never waits (the client
    /// waits for it before it sends again), so the server needs no timeout.
    fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<SegmentServer<L>, TransportError> {
        let name = segment_name::<L>(&ChannelName::new(channel)?);
        let (memory, capacity) = create_segment(&name, buffer_size, L::size)?;
        Ok(SegmentServer {
            segment: Segment::new(memory, capacity),
            last_seen: 0,
            spin_budget: L::KIND.spin_budget_under(&options),
            pending: None,
        })
    }
}
