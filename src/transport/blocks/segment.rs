//! The skeleton of the spinning transports (SHM spin, SHM zero-copy): one segment per channel,
//! created by the server, opened by the client, with a control line per direction that holds a
//! [`SequenceSignal`]. What else the segment holds, and where, each transport says in its
//! [`SegmentLayout`]; the rest is here, once:
//!
//! - [`Segment`]: the mapping, the layout over it, the payload capacity and the [`Shape`] (round
//!   trips, or a stream through a ring); [`create_segment`], [`whole_pages`] and
//!   [`SEGMENT_PAGE`] for how it is sized, [`Slots`] for payload areas one after another;
//! - [`SegmentClient`]: the connect (read the segment's header, refuse the other pattern, open
//!   the whole segment, continue its sequence or its ring), the numbering of requests, the wait
//!   for a reply and, in a stream, the wait for a free slot of the ring;
//! - [`SegmentServer`]: the create (with the header and, for a stream, the ring), and the server
//!   itself: the wait for the next request or message, the number last seen and the request
//!   held until it is answered or consumed. How a request is read and answered is the
//!   transport's [`SegmentEcho`];
//! - the segment's name on a channel ([`segment_name`], [`segment_objects`]), and how either
//!   side is built from a channel ([`ChannelClient`], [`ChannelServer`]).
//!
//! Every segment starts with the header at offset 0 and, in a stream, keeps the ring's read
//! line at 256 and its length table and slots from 4096 on ([`ring`](super::ring)); the
//! transports' own request and response lines are at 64 and 128. In round trips the segment
//! is exactly what it was before streams (a zero header), and so is every step of a round trip.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::transport::blocks::channel::{ChannelClient, ChannelServer};
use crate::transport::blocks::payload::{
    check_shm_space, checked_payload_capacity, shm_object_missing,
};
use crate::transport::blocks::ring::{
    Ring, RingEntry, RingGeometry, RingReader, RingWriter, Shape,
};
use crate::transport::blocks::sequence::SequenceSignal;
pub use crate::transport::blocks::slots::{whole_pages, Slots, SEGMENT_PAGE};
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::names::{ChannelName, PosixObject};
use crate::transport::os::shm::{ObjectAccess, SharedBytes, SharedMemory};
use crate::transport::spec::{
    buffers_only, CaseShape, EchoOutcome, Footprint, Pattern, Reply, TransportKind,
    TransportOptions, TransportServer,
};
use crate::transport::wait::{retry_until_created, PeerWatch, WaitBudget, WAIT_SLICE};
use crate::transport::wire::HEADER_LEN;

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

    /// The bytes a segment of payload capacity `capacity` takes, laid out for `shape` (in a
    /// stream: the ring's end, [`RingGeometry::end`], and whatever the transport keeps after it).
    fn size(capacity: usize, shape: Shape) -> usize;

    /// The layout of a segment of payload capacity `capacity` at `base`, laid out for `shape`.
    ///
    /// # Safety
    /// `base` must point to a live mapping of at least `size(capacity, shape)` bytes,
    /// page-aligned (so every u32 in it is aligned), that outlives the layout.
    unsafe fn over(base: *mut u8, capacity: usize, shape: Shape) -> Self;

    /// The signal of the request line, which the client publishes: in a stream, the ring's
    /// write index.
    fn request(&self) -> &SequenceSignal;

    /// The signal of the response line, which the server publishes.
    fn response(&self) -> &SequenceSignal;
}

/// What a pair of a spinning transport takes for `case`: its one segment, laid out as the server
/// lays it out (a stream's ring of `--ring-depth` slots, or the default for the size), and
/// both sides' buffers. A buffer too small for a payload or a ring too deep takes nothing here:
/// the server refuses it with its own error.
pub fn segment_footprint<L: SegmentLayout>(case: &CaseShape) -> Footprint {
    let buffers = buffers_only(case);
    let Ok(capacity) = checked_payload_capacity(case.buffer_size) else {
        return buffers;
    };
    match Shape::asked(&case.options, capacity) {
        Ok(shape) => buffers.with_shared(L::size(capacity, shape) as u64),
        Err(_) => buffers,
    }
}

/// The channel's one segment, `/srb_<channel>_<OBJECT>`.
pub fn segment_name<L: SegmentLayout>(channel: &ChannelName) -> String {
    channel.object_name(L::OBJECT)
}

/// The objects a channel of the transport is made of: its segment.
pub fn segment_objects<L: SegmentLayout>(channel: &ChannelName) -> Vec<PosixObject> {
    vec![PosixObject::SharedMemory(segment_name::<L>(channel))]
}

/// The mapping, the layout over it, its payload capacity and what it is laid out for.
pub struct Segment<L> {
    pub layout: L,
    pub capacity: usize,
    pub shape: Shape,
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
    fn new(memory: SharedMemory, capacity: usize, shape: Shape) -> Segment<L> {
        // SAFETY: memory is at least L::size(capacity, shape) (its creator or opener sized it
        // so), page-aligned, and owned by the segment for as long as the layout lives.
        let layout = unsafe { L::over(memory.as_ptr(), capacity, shape) };
        Segment {
            layout,
            capacity,
            shape,
            memory,
        }
    }

    /// The ring of a stream's segment; None for round trips.
    fn ring(&self) -> Option<Ring> {
        match self.shape {
            Shape::RoundTrip => None,
            // SAFETY: a stream's segment is at least its ring's end (L::size says so), mapped,
            // page-aligned, and outlives the ring: its owner keeps both.
            Shape::Stream { depth } => Some(unsafe {
                Ring::over(
                    self.memory.as_ptr(),
                    RingGeometry::new(self.capacity, depth),
                )
            }),
        }
    }
}

/// The shape the header of `memory` (at least its first page) announces.
fn shape_of(memory: &SharedMemory) -> Result<Shape, TransportError> {
    let access = memory.access();
    // SAFETY: every segment is at least its first page, mapped page-aligned; the header is
    // touched only atomically.
    let shape = unsafe { Shape::read(memory.as_ptr()) };
    access.checked(shape)
}

/// The requesting side's segment, the number of its next request, and how it waits for replies.
pub struct SegmentClient<L> {
    pub segment: Segment<L>,
    next_seq: u32,
    timeout: Duration,
    spin_budget: Duration,
    watch: Arc<dyn PeerWatch>,
    /// In a stream: the ring and where the client is in it.
    stream: Option<RingWriter>,
}

impl<L: SegmentLayout> SegmentClient<L> {
    /// The number of the request about to be sent; the next call gives the one after it.
    pub fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    /// Whether its waits for a reply spin before they sleep (a spin budget above zero): what
    /// [`TransportClient::overlaps_reply_wait`](crate::transport::TransportClient::overlaps_reply_wait)
    /// says for a segment's round trips.
    pub fn spins_for_replies(&self) -> bool {
        !self.spin_budget.is_zero() && self.stream.is_none()
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

    /// The ring's writer, if the client streams (None for round trips).
    pub fn streaming(&self) -> Option<&RingWriter> {
        self.stream.as_ref()
    }

    /// The ring's writer, or why a client connected for round trips cannot send one way.
    pub fn stream_writer(&self) -> Result<&RingWriter, TransportError> {
        self.stream
            .as_ref()
            .ok_or(TransportError::PatternUnsupported {
                transport: L::KIND.display_name(),
                pattern: Pattern::Stream,
                why: "this client connected for round trips (connect with the stream pattern)",
            })
    }

    /// The ring's next slot, once it is free: while the ring is full, waits within `access`
    /// for the server to free one as replies are waited for (spin, then sleep in slices
    /// bounded by the timeout and the peer watch).
    pub fn reserve_slot(
        &self,
        ring: &RingWriter,
        access: &ObjectAccess<'_>,
    ) -> Result<usize, TransportError> {
        ring.reserve(|read, old| {
            let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
            let waited = read.wait_for(old, self.spin_budget, WAIT_SLICE, access, || {
                budget.slice_expired(
                    "a free slot in the ring (the server took none of the messages in it)",
                )
            });
            access.checked(waited)
        })
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

    /// Where the bytes of a round-trip request that `held` describes lie.
    fn request_at(&self, held: Self::Held) -> NonNull<u8>;

    /// Answers, within `access`, the end of a stream, which lies in its ring slot, as `reply`
    /// says, on the response line under the end's number ([`RingEntry::seq`]). The slot stays
    /// the server's until the call returns.
    fn answer_end(
        &self,
        end: RingEntry,
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
/// Publishing a reply never waits (the client waits for it before it sends again), and neither
/// does freeing a ring's slot, so the server needs no timeout.
pub struct SegmentServer<L: SegmentEcho> {
    segment: Segment<L>,
    last_seen: u32,
    spin_budget: Duration,
    /// The request handed out and not answered yet.
    pending: Option<Taken<L::Held>>,
    /// In a stream: the ring, where the server is in it, and the message handed out.
    stream: Option<StreamServer>,
}

/// A server's side of a stream: the ring's reader, and the message handed out and not yet
/// consumed or answered.
struct StreamServer {
    reader: RingReader,
    message: Option<RingEntry>,
}

impl StreamServer {
    /// The next message of the ring (its length), after freeing the one handed out before if
    /// it was neither consumed nor answered; None once `stop` was set while none came.
    fn next<L: SegmentLayout>(
        &mut self,
        segment: &Segment<L>,
        spin_budget: Duration,
        stop: &AtomicBool,
    ) -> Result<Option<usize>, TransportError> {
        let access = segment.memory.access();
        if self.message.take().is_some() {
            self.reader.release(&access)?;
        }
        let write = segment.layout.request();
        let next = (self.reader).next(write, spin_budget, segment.capacity, &access, stop)?;
        self.message = next;
        Ok(next.map(|message| message.len))
    }

    /// Frees the slot of the message handed out, unanswered.
    fn consume<L: SegmentLayout>(&mut self, segment: &Segment<L>) -> Result<(), TransportError> {
        self.message.take().or_no_request()?;
        self.reader.release(&segment.memory.access())
    }

    /// Answers the message handed out (the stream's end) on the response line, then frees its
    /// slot and publishes the read index: the stream is over, and the writer may start anew.
    fn reply<L: SegmentEcho>(
        &mut self,
        segment: &Segment<L>,
        reply: Reply,
    ) -> Result<(), TransportError> {
        let end = self.message.take().or_no_request()?;
        let access = segment.memory.access();
        (segment.layout).answer_end(end, segment.capacity, reply, &access)?;
        self.reader.release(&access)?;
        self.reader.publish_read(&access)
    }
}

/// The wait for the next request, its number, and the hand-over to the layout's echo; in a
/// stream, the ring's reader.
impl<L: SegmentEcho> TransportServer for SegmentServer<L> {
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        if let Some(stream) = self.stream.as_mut() {
            return stream.next(&self.segment, self.spin_budget, stop);
        }
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
        if let Some(stream) = self.stream.as_mut() {
            stream.reply(&self.segment, reply)?;
            return Ok(EchoOutcome::Echoed);
        }
        let request = self.pending.take().or_no_request()?;
        let segment = &self.segment;
        let access = segment.memory.access();
        (segment.layout).answer(request, segment.capacity, reply, &access)?;
        Ok(EchoOutcome::Echoed)
    }

    /// Lends `look` the request or message where it lies, under the segment's guard.
    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        let held = match (&self.stream, &self.pending) {
            (Some(stream), _) => stream.message.map(|message| (message.at, message.len)),
            (None, Some(request)) => {
                Some((self.segment.layout.request_at(request.held), request.len))
            }
            (None, None) => None,
        };
        let (at, len) = held.or_no_request()?;
        // SAFETY: len <= capacity (checked when the request was taken), inside its payload
        // area; the bytes are the server's until it answers or consumes the request, which it
        // cannot do while they are lent here.
        let bytes = unsafe { SharedBytes::new(self.segment.memory.access(), at, len) };
        look(&bytes);
        bytes.release()
    }

    fn consume(&mut self) -> Result<(), TransportError> {
        match self.stream.as_mut() {
            Some(stream) => stream.consume(&self.segment),
            // A round trip's request holds no slot: dropping it is all there is to free.
            None => self.pending.take().map(drop).or_no_request(),
        }
    }
}

/// Opens the server's segment `name` for payloads of `capacity` bytes as a client of `pattern`
/// would: waits within the budget for the server to create it, reads its header, refuses a
/// segment made for the other pattern, or laid out for another buffer size (its slots would
/// lie elsewhere than the client puts them), then maps all of it.
fn open_segment<L: SegmentLayout>(
    name: &str,
    capacity: usize,
    pattern: Pattern,
    budget: &mut WaitBudget<'_>,
) -> Result<Segment<L>, TransportError> {
    // The header first: how much to map depends on it.
    let header = retry_until_created(
        budget,
        || SharedMemory::open(name, SEGMENT_PAGE),
        shm_object_missing,
    )?;
    let shape = shape_of(&header)?;
    drop(header);
    if shape.pattern() != pattern {
        return Err(TransportError::PatternMismatch {
            transport: L::KIND.display_name(),
            server: shape.pattern(),
            client: pattern,
        });
    }
    let size = L::size(capacity, shape);
    let actual = SharedMemory::size_of(name)?;
    if actual != size {
        return Err(TransportError::Protocol(format!(
            "the {} server's segment {name} has {actual} bytes, where one for this client's buffer size {} has {size}: give both sides the same --buffer-size",
            L::KIND.display_name(),
            capacity + HEADER_LEN,
        )));
    }
    let memory = SharedMemory::open(name, size)?;
    if shape_of(&memory)? != shape {
        return Err(TransportError::Protocol(format!(
            "the segment {name} changed its header while the client connected"
        )));
    }
    Ok(Segment::new(memory, capacity, shape))
}

/// The connect of a spinning transport's client.
impl<L: SegmentLayout> ChannelClient for SegmentClient<L> {
    const KIND: TransportKind = L::KIND;

    /// Opens the server's segment on `channel` for a `buffer_size`, waiting within
    /// `options.timeout` for the server to create it, and joins its sequence (round trips) or
    /// its ring (a stream), as its header says; refuses one made for another pattern than
    /// `options.pattern`. The ring's depth is the server's, from the header:
    /// `options.ring_depth` is not looked at. Waits spinning for the transport's spin budget
    /// under `options`.
    fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<SegmentClient<L>, TransportError> {
        let name = segment_name::<L>(&ChannelName::new(channel)?);
        let capacity = checked_payload_capacity(buffer_size)?;
        let mut budget = WaitBudget::new(options.timeout, watch.as_ref());
        let segment = open_segment::<L>(&name, capacity, options.pattern, &mut budget)?;
        let access = segment.memory.access();
        // Continue from wherever a previous client left the sequence.
        let request = segment.layout.request();
        let next_seq = request.seq().load(Ordering::Acquire).wrapping_add(1);
        let stream = match segment.ring() {
            Some(ring) => Some(RingWriter::join(ring, request, &access)?),
            None => None,
        };
        access.check()?;
        drop(access);
        Ok(SegmentClient {
            segment,
            next_seq,
            timeout: options.timeout,
            spin_budget: L::KIND.spin_budget_under(&options),
            watch,
            stream,
        })
    }
}

/// The create of a spinning transport's server.
impl<L: SegmentEcho> ChannelServer for SegmentServer<L> {
    const KIND: TransportKind = L::KIND;

    /// Creates the segment on `channel` for a `buffer_size`, laid out for `options.pattern`
    /// (a stream: a ring of `options.ring_depth` slots, or the default for their size), with
    /// the header that tells its clients so; waits for requests spinning for the transport's
    /// spin budget under `options`. Publishing a reply never waits (the client waits for it
    /// before it sends again), so the server needs no timeout.
    fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<SegmentServer<L>, TransportError> {
        let name = segment_name::<L>(&ChannelName::new(channel)?);
        let shape = Shape::asked(&options, checked_payload_capacity(buffer_size)?)?;
        let (memory, capacity) = create_segment(&name, buffer_size, |c| L::size(c, shape))?;
        let access = memory.access();
        // SAFETY: a fresh mapping of at least a page, page-aligned, whose header every
        // process touches only atomically; no client reads it before READY.
        unsafe { shape.write(memory.as_ptr()) };
        access.check()?;
        drop(access);
        let segment = Segment::new(memory, capacity, shape);
        let stream = segment.ring().map(|ring| StreamServer {
            reader: RingReader::new(ring),
            message: None,
        });
        Ok(SegmentServer {
            segment,
            last_seen: 0,
            spin_budget: L::KIND.spin_budget_under(&options),
            pending: None,
            stream,
        })
    }
}
