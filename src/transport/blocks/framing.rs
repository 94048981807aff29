//! Framing for every byte-stream transport (Unix stream, pipes, TCP): a message is a 4-byte
//! native-endian `u32` length, then the payload, as in SHM POSIX. Also the client of every one
//! of them ([`FramedClient`]), and the server of the socket transports, which serve one
//! connection at a time from their [`Listener`] ([`ConnectionServer`]).
//!
//! It is written for the syscall floor of a stream: a message goes out in one `writev` of
//! [header, payload] and, in the common case, comes in with one `readv` of [header, the caller's
//! buffer], straight into that buffer, so per round trip each side makes two system calls and
//! adds no copy. Reads loop only when a message arrives in parts (above the socket buffer size,
//! or from a peer that writes in pieces).
//!
//! A one-way stream ([`Pattern::Stream`](crate::transport::spec::Pattern)) is the same frames
//! without the answers: the client's [`send`](TransportClient::send) is the request's `writev`
//! and nothing else, so it waits only while the kernel's buffer is full (the stream's flow
//! control), in the same slices and within the same timeout as a round trip's write. The server
//! takes each message as it takes a request, and [`consume`](TransportServer::consume) lets it
//! go unanswered. Its `readv` then often takes several messages at once: the ones beyond the
//! first are kept ([`FramedStream`]'s carried bytes) and handed out from there, in order.
//!
//! Requests in flight (`--in-flight N`): [`submit`](TransportClient::submit) writes a request's
//! frame and reads no reply, [`collect`](TransportClient::collect) receives the oldest reply,
//! from the carried bytes first. The server still answers one request at a time (its reads take
//! several requests at once, kept as a stream's messages are). A deadlock would need both sides
//! blocked on a write at once: the server on a reply nobody reads, the client on a request the
//! server cannot take yet (4 × 2 MiB in flight fill both directions' kernel buffers). So a
//! submit never blocks on its write: its writes do not wait ([`NonBlockingStream`]), and while
//! the kernel has no room it polls both directions and reads whatever replies arrive into the
//! carried bytes, which lets the server finish its reply and go on to read. What it reads is
//! bounded by the replies it is owed. Round trips keep their own path, untouched.
//!
//! What this code needs from a stream `S: Read + Write`: vectored reads and writes (or the
//! messages are still right, in more calls), and a blocking read or write that waits for one
//! *slice* of time at most, then fails with `WouldBlock`, `TimedOut` or `Interrupted` (for
//! sockets, the wait watchdog's `EINTR`, see [`watched_socket`](super::watched_socket), or
//! without a watchdog their own `SO_RCVTIMEO`/`SO_SNDTIMEO`; for pipes, a `poll`). Any of them
//! ends a slice, as does a signal. A slice costs nothing while traffic flows;
//! when one runs out, the wait's [`WaitBudget`] asks its [`PeerWatch`] and
//! checks the deadline, and an idle server looks at its stop flag.

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::transport::blocks::payload::{check_message_fits, decode_len, zeroed_buffer};
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::os::readiness::readable_within;
use crate::transport::spec::{EchoOutcome, Reply, TransportClient, TransportServer};
use crate::transport::wait::{
    idle_until_request, ready_before, PeerWatch, StopFlag, WaitBudget, IDLE_SLICE, WAIT_SLICE,
};
use crate::transport::wire::{encode_len, payload_capacity, HEADER_LEN};

/// A byte stream that carries framed messages both ways.
pub struct FramedStream<S> {
    stream: S,
    /// Bytes received after the end of the last message: the start of the next one. Empty
    /// unless the peer sent again before reading our answer (see [`Incoming::read_from`]): in a
    /// one-way stream, often many messages; for a client with requests in flight, the replies
    /// it read while it sent ([`FramedStream::send_reading`]).
    carried: Carried,
}

/// Bytes received ahead of the message being handed out, in the order they came. Taken bytes
/// are skipped, not drained, so that a read that brought many messages costs one copy per
/// message, not a shift of all the rest each time; and the buffer is kept, so that once it has
/// grown to what a connection holds in flight nothing is allocated per message.
#[derive(Default)]
struct Carried {
    /// Every byte initialised, so that reads can land in it; `start..end` are the unread ones.
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Carried {
    fn unread(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// `n` of the unread bytes were handed out.
    fn take(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            // All taken: the next bytes go to the front, and the allocation stays.
            self.start = 0;
            self.end = 0;
        }
    }

    /// The free space after the unread bytes, at least `min` bytes of it.
    fn room(&mut self, min: usize) -> Result<&mut [u8], TransportError> {
        if self.bytes.len() - self.end < min {
            self.make_room(min)?;
        }
        Ok(&mut self.bytes[self.end..])
    }

    /// `n` bytes were placed at the start of [`room`](Carried::room).
    fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.bytes.len());
    }

    fn append(&mut self, more: &[u8]) -> Result<(), TransportError> {
        self.room(more.len())?[..more.len()].copy_from_slice(more);
        self.filled(more.len());
        Ok(())
    }

    /// Moves the unread bytes to the front when at least as many were taken before them (so
    /// that each byte moves about once at most), and grows the buffer, doubling, if that is not
    /// enough room for `min` more.
    fn make_room(&mut self, min: usize) -> Result<(), TransportError> {
        let unread = self.end - self.start;
        if self.start >= unread {
            self.bytes.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = unread;
        }
        let needed = self.end.saturating_add(min);
        if self.bytes.len() >= needed {
            return Ok(());
        }
        let grown = needed.max(self.bytes.len().saturating_mul(2));
        (self.bytes)
            .try_reserve_exact(grown - self.bytes.len())
            .map_err(|source| TransportError::Allocation {
                what: "bytes received ahead of their message",
                bytes: grown,
                source,
            })?;
        self.bytes.resize(grown, 0);
        Ok(())
    }
}

/// The requesting side of a byte-stream transport: its stream, the payload capacity of the
/// server's buffer, and what bounds its waits.
pub struct FramedClient<S> {
    connection: FramedStream<S>,
    capacity: usize,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
    /// Requests submitted whose replies were not collected yet.
    in_flight: usize,
}

/// What a client with requests in flight needs of its stream beyond `Read + Write`: a read and a
/// write that never wait (whatever slices the stream's own calls wait in), and the descriptors
/// to poll for either direction.
pub trait NonBlockingStream {
    /// One read of whatever has arrived; `WouldBlock` when nothing has.
    fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// One write of what fits; `WouldBlock` when nothing does.
    fn write_now(&mut self, parts: &[IoSlice<'_>]) -> std::io::Result<usize>;
    /// Where replies arrive and where requests go: one socket, or two pipes.
    fn ends(&self) -> (BorrowedFd<'_>, BorrowedFd<'_>);
}

/// The most a submit reads ahead at once, when it has room for more.
const READ_AHEAD: usize = 64 * 1024;

impl<S: Read + Write> FramedClient<S> {
    /// A client on `stream`, connected to a server with a `buffer_size`-byte buffer; every wait
    /// is bounded by `timeout`, in the stream's slices, between which it asks `watch`.
    pub fn new(
        stream: S,
        buffer_size: usize,
        timeout: Duration,
        watch: Arc<dyn PeerWatch>,
    ) -> FramedClient<S> {
        FramedClient {
            connection: FramedStream::new(stream),
            capacity: payload_capacity(buffer_size),
            timeout,
            watch,
            in_flight: 0,
        }
    }
}

impl<S> FramedClient<S> {
    /// The most the replies to the requests in flight can add up to: what a read ahead of
    /// them may take.
    fn owed(&self) -> usize {
        (self.in_flight).saturating_mul(HEADER_LEN + self.capacity)
    }
}

impl<S: Read + Write + NonBlockingStream + Send> TransportClient for FramedClient<S> {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.connection.round_trip(
            request,
            response,
            self.capacity,
            self.timeout,
            self.watch.as_ref(),
        )
    }

    /// The request's half of a round trip: the framed message goes out and nothing is read.
    /// A full kernel buffer makes the write wait, in slices that ask the watch, at most the
    /// timeout, as a round trip's write does.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        check_message_fits(message.len(), self.capacity)?;
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        self.connection
            .send(message, &mut budget, "a stream message")
    }

    /// The request's frame goes out whole, reading the replies that arrive while the kernel has
    /// no room (see the module's doc), within the timeout as a round trip's write.
    fn submit(&mut self, request: &[u8]) -> Result<(), TransportError> {
        check_message_fits(request.len(), self.capacity)?;
        let owed = self.owed();
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        (self.connection).send_reading(request, owed, &mut budget, "a request in flight")?;
        self.in_flight += 1;
        Ok(())
    }

    /// The oldest reply, from the bytes read ahead first, then read as a round trip's is.
    fn collect<'a>(&'a mut self, scratch: &'a mut [u8]) -> Result<&'a [u8], TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let accepted = self.capacity.min(scratch.len());
        let mut budget = WaitBudget::new(self.timeout, self.watch.as_ref());
        let len = (self.connection).receive(&mut scratch[..accepted], &mut budget, "a reply")?;
        self.in_flight -= 1;
        Ok(&scratch[..len])
    }

    /// Reads what arrives into the carried bytes until they hold the oldest reply whole (at
    /// the cost of one more copy of it, out of the carried bytes, in `collect`), so that a
    /// large reply arriving in parts does not hold up the next request's slot.
    fn await_reply_until(&mut self, until: Instant) -> Result<bool, TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let owed = self.owed();
        let capacity = self.capacity;
        let watch = Arc::clone(&self.watch);
        let mut budget = WaitBudget::new(self.timeout, watch.as_ref());
        let connection = &mut self.connection;
        ready_before(until, watch.as_ref(), |slice| {
            if connection.holds_whole_message(capacity) {
                return Ok(true);
            }
            let (receive, _) = connection.stream.ends();
            let readable = readable_within(receive, slice)
                .map_err(|e| TransportError::os("polling for a reply", e))?;
            if readable {
                connection.read_ahead(owed, &mut budget, "a request in flight")?;
            }
            Ok(connection.holds_whole_message(capacity))
        })
    }
}

/// What an idle server's wait for a request ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A whole request of this many bytes is in the caller's buffer.
    Message(usize),
    /// The stop flag was set.
    Stopped,
    /// The peer closed or reset the connection (before a request, or in the middle of one).
    HungUp,
}

/// What became of one exchange on the server's side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    Echoed,
    Stopped,
    /// The connection is over; the server may serve another.
    HungUp,
}

impl<S: Read + Write> FramedStream<S> {
    pub fn new(stream: S) -> FramedStream<S> {
        FramedStream {
            stream,
            carried: Carried::default(),
        }
    }

    /// The client's side of one exchange: sends `request`, receives the reply into `response`
    /// and returns its length. Neither message may be longer than `capacity`, and the reply no
    /// longer than `response`; every wait is bounded by `timeout`, in slices that ask `watch`.
    pub fn round_trip(
        &mut self,
        request: &[u8],
        response: &mut [u8],
        capacity: usize,
        timeout: Duration,
        watch: &dyn PeerWatch,
    ) -> Result<usize, TransportError> {
        check_message_fits(request.len(), capacity)?;
        let mut budget = WaitBudget::new(timeout, watch);
        self.send(request, &mut budget, "the request")?;
        let accepted = capacity.min(response.len());
        self.receive(&mut response[..accepted], &mut budget, "the reply")
    }

    /// The server's answer to the `len`-byte request that
    /// [`receive_request`](FramedStream::receive_request) put in `buffer` (whose length is the
    /// server's capacity): echoes it, or tampers with it, as `reply` says. Every wait is bounded
    /// by `timeout`, and a stop is honoured.
    pub fn reply(
        &mut self,
        buffer: &mut [u8],
        len: usize,
        stop: &AtomicBool,
        timeout: Duration,
        reply: Reply,
    ) -> Result<Exchange, TransportError> {
        let capacity = buffer.len();
        let watch = StopFlag(stop);
        let mut budget = WaitBudget::new(timeout, &watch);
        let message = &mut buffer[..len];
        let sent = match reply {
            Reply::Echo => self.send(message, &mut budget, "the reply"),
            Reply::FlipByte(offset) => {
                if let Some(byte) = message.get_mut(offset) {
                    *byte ^= 0xff;
                }
                self.send(message, &mut budget, "the reply")
            }
            // Announce more than a buffer of this size carries, and send no payload.
            Reply::Misframed => self
                .stream
                .write_all(&encode_len(capacity + 1))
                .map_err(|e| TransportError::io("sending the reply", e)),
        };
        match sent {
            Ok(()) => Ok(Exchange::Echoed),
            Err(TransportError::Interrupted) => Ok(Exchange::Stopped),
            Err(TransportError::PeerGone(_)) => Ok(Exchange::HungUp),
            Err(e) => Err(e),
        }
    }

    /// Sends `payload` behind its length header: one `writev`, more only when the kernel takes
    /// part of it (a message larger than the socket buffer).
    pub fn send(
        &mut self,
        payload: &[u8],
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        let header = encode_len(payload.len());
        let mut parts = [IoSlice::new(&header), IoSlice::new(payload)];
        let mut parts: &mut [IoSlice<'_>] = &mut parts;
        while !parts.is_empty() {
            let written = self.stream.write_vectored(parts);
            if let Some(n) = progress(written, budget, Direction::Send, what)? {
                IoSlice::advance_slices(&mut parts, n);
                if !parts.is_empty() {
                    budget.made_progress(what)?;
                }
            }
        }
        Ok(())
    }

    /// Receives one message into `payload`, whose length is the most the caller accepts, and
    /// returns the message's length. A longer announced length is an error, never a truncation.
    /// Every wait is bounded by `budget`.
    pub fn receive(
        &mut self,
        payload: &mut [u8],
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<usize, TransportError> {
        let mut incoming = Incoming::new(payload);
        self.take_carried(&mut incoming)?;
        self.receive_rest(&mut incoming, budget, what)
    }

    /// An idle server's receive: waits as long as it takes for a request to begin, looking at
    /// `stop` whenever the stream's read slice runs out or a signal interrupts the read; once a
    /// byte has arrived, receives the rest like [`FramedStream::receive`] within `timeout`, and
    /// still gives up if `stop` is set (so SIGTERM is not held up by a client that stalled).
    pub fn receive_request(
        &mut self,
        payload: &mut [u8],
        stop: &AtomicBool,
        timeout: Duration,
    ) -> Result<Arrival, TransportError> {
        let mut incoming = Incoming::new(payload);
        self.take_carried(&mut incoming)?;
        while !incoming.has_begun() {
            if stop.load(Ordering::Relaxed) {
                return Ok(Arrival::Stopped);
            }
            match incoming.read_from(&mut self.stream) {
                Ok(0) => return Ok(Arrival::HungUp),
                Ok(n) => self.account(&mut incoming, n)?,
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_hang_up(&e) => return Ok(Arrival::HungUp),
                Err(e) => return Err(TransportError::io("reading a request", e)),
            }
        }
        let watch = StopFlag(stop);
        let mut budget = WaitBudget::new(timeout, &watch);
        match self.receive_rest(&mut incoming, &mut budget, "a request") {
            Ok(len) => Ok(Arrival::Message(len)),
            Err(TransportError::Interrupted) => Ok(Arrival::Stopped),
            Err(TransportError::PeerGone(_)) => Ok(Arrival::HungUp),
            Err(e) => Err(e),
        }
    }

    /// Reads until `incoming` is complete; returns its length.
    fn receive_rest(
        &mut self,
        incoming: &mut Incoming<'_>,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<usize, TransportError> {
        while !incoming.is_complete() {
            let read = incoming.read_from(&mut self.stream);
            let progressed = progress(read, budget, Direction::Receive, what);
            match progressed.map_err(|e| incoming.explain(e, what))? {
                Some(n) => {
                    self.account(incoming, n)?;
                    if !incoming.is_complete() {
                        budget.made_progress(what)?;
                    }
                }
                // A stall: a ZeroMQ peer's greeting waits for ours, and would until the timeout.
                None => incoming.refuse_other_protocol(what)?,
            }
        }
        Ok(incoming.payload_filled)
    }

    /// Takes `n` bytes just read into `incoming`, and keeps those beyond its end for the next
    /// receive. Reads only happen once every carried byte was taken (`take_carried` either
    /// completes the message or uses them all, and then empties `carried`), so appending keeps
    /// the stream's order.
    #[inline(always)]
    fn account(&mut self, incoming: &mut Incoming<'_>, n: usize) -> Result<(), TransportError> {
        let beyond = incoming.advance(n)?;
        if beyond.is_empty() {
            return Ok(());
        }
        self.carried.append(&incoming.payload[beyond])
    }

    /// Starts `incoming` with the bytes a previous receive took beyond its own message.
    #[inline(always)]
    fn take_carried(&mut self, incoming: &mut Incoming<'_>) -> Result<(), TransportError> {
        let rest = self.carried.unread();
        if rest.is_empty() {
            return Ok(());
        }
        let taken = incoming.fill_from(rest)?;
        self.carried.take(taken);
        Ok(())
    }
}

impl<S: Read + Write + NonBlockingStream> FramedStream<S> {
    /// [`send`](FramedStream::send) for a client with requests in flight: while the kernel has
    /// no room for the rest of the frame, it reads the replies that arrive into the carried
    /// bytes, where [`receive`](FramedStream::receive) finds them first, so that a server
    /// blocked on sending them goes on to take this request. `owed` bounds what it reads: the
    /// most the replies to the requests already sent add up to.
    pub fn send_reading(
        &mut self,
        payload: &[u8],
        owed: usize,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        let header = encode_len(payload.len());
        let mut parts = [IoSlice::new(&header), IoSlice::new(payload)];
        let mut parts: &mut [IoSlice<'_>] = &mut parts;
        while !parts.is_empty() {
            match self.stream.write_now(parts) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.await_room(owed, budget, what)?;
                }
                written => {
                    if let Some(n) = progress(written, budget, Direction::Send, what)? {
                        IoSlice::advance_slices(&mut parts, n);
                        if !parts.is_empty() {
                            budget.made_progress(what)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the carried bytes hold a whole message (or a header no message of `capacity`
    /// bytes has: the receive that takes it says so).
    fn holds_whole_message(&self, capacity: usize) -> bool {
        let unread = self.carried.unread();
        let Some(header) = unread.first_chunk::<HEADER_LEN>() else {
            return false;
        };
        decode_len(*header, capacity).map_or(true, |len| unread.len() - HEADER_LEN >= len)
    }

    /// Waits one slice at most for room to write, reading what arrived meanwhile, if anything.
    fn await_room(
        &mut self,
        owed: usize,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        match poll_both(&self.stream, WAIT_SLICE) {
            Ok(Ready { readable: true, .. }) => self.read_ahead(owed, budget, what),
            Ok(Ready { writable: true, .. }) => Ok(()),
            Ok(_) => budget.slice_expired(what),
            // A signal ends the slice; it may be the one that asks us to stop: the watch knows.
            Err(Errno::EINTR) => budget.slice_expired(what),
            Err(e) => Err(TransportError::os(
                format!("polling while sending {what}"),
                e,
            )),
        }
    }

    /// One read of the replies that have arrived, kept in the carried bytes; a peer that sends
    /// more than the `owed` bytes of its replies is broken, and is not read on for ever.
    fn read_ahead(
        &mut self,
        owed: usize,
        budget: &mut WaitBudget<'_>,
        what: &str,
    ) -> Result<(), TransportError> {
        let unread = self.carried.unread().len();
        // At least one byte, so that a peer sending too much is told from one that closed.
        let most = owed.saturating_sub(unread).max(1);
        let room = self.carried.room(most.min(READ_AHEAD))?;
        let limit = room.len().min(most);
        match self.stream.read_now(&mut room[..limit]) {
            Ok(0) => Err(peer_gone(budget, &format!("closed while we sent {what}"))),
            Ok(n) if unread + n > owed => Err(TransportError::Protocol(format!(
                "the peer sent more than the {owed} bytes of the replies it owes"
            ))),
            Ok(n) => {
                self.carried.filled(n);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => budget.slice_expired(what),
            Err(e) if is_hang_up(&e) => Err(peer_gone(budget, &e.to_string())),
            Err(e) => Err(TransportError::io(
                format!("reading replies while sending {what}"),
                e,
            )),
        }
    }
}

/// What a poll of both directions of a stream found.
struct Ready {
    readable: bool,
    writable: bool,
}

/// Waits one `slice` at most until `stream` has bytes to read or room to write. An end that
/// hung up or failed counts as ready: the next read or write says how.
fn poll_both(stream: &impl NonBlockingStream, slice: Duration) -> nix::Result<Ready> {
    let (receive, send) = stream.ends();
    let mut fds = [
        PollFd::new(receive, PollFlags::POLLIN),
        PollFd::new(send, PollFlags::POLLOUT),
    ];
    poll(
        &mut fds,
        PollTimeout::try_from(slice).unwrap_or(PollTimeout::MAX),
    )?;
    let ready = |fd: &PollFd<'_>, wanted: PollFlags| {
        let broken = PollFlags::POLLERR | PollFlags::POLLHUP;
        fd.revents()
            .is_some_and(|got| got.intersects(wanted | broken))
    };
    Ok(Ready {
        readable: ready(&fds[0], PollFlags::POLLIN),
        writable: ready(&fds[1], PollFlags::POLLOUT),
    })
}

/// One message on its way in: its header, the caller's buffer for the payload, and how much
/// of each has arrived.
/// The first bytes of ZeroMQ's greeting: 0xFF, eight bytes of padding, 0x7F.
const ZMTP_SIGNATURE_LEN: usize = 10;

/// Whether `start`, the first bytes a peer sent, is ZeroMQ's signature.
fn is_zmtp_signature(start: &[u8]) -> bool {
    start.len() >= ZMTP_SIGNATURE_LEN && start[0] == 0xFF && start[9] == 0x7F
}

struct Incoming<'p> {
    header: [u8; HEADER_LEN],
    header_filled: usize,
    payload: &'p mut [u8],
    payload_filled: usize,
    /// The payload's length, once the whole header is in (and checked against the buffer).
    len: Option<usize>,
}

impl<'p> Incoming<'p> {
    #[inline(always)]
    fn new(payload: &'p mut [u8]) -> Incoming<'p> {
        Incoming {
            header: [0; HEADER_LEN],
            header_filled: 0,
            payload,
            payload_filled: 0,
            len: None,
        }
    }

    #[inline(always)]
    fn has_begun(&self) -> bool {
        self.header_filled > 0
    }

    /// `failed`, or what the bytes in so far say instead: a message that never completes may be
    /// another protocol's, whose first bytes read as a length (ZeroMQ's greeting, `0xFF`, eight
    /// bytes, `0x7F`, reads as 255 bytes to come, which never do).
    fn explain(&self, failed: TransportError, what: &str) -> TransportError {
        match failed {
            TransportError::Interrupted => failed,
            failed => self.refuse_other_protocol(what).err().unwrap_or(failed),
        }
    }

    /// Fails if the bytes in so far, stalled, are ZeroMQ's greeting: the peer is waiting for
    /// ours, and no length-framed message will come. Only asked when a read slice ran out, so
    /// that a real message whose first bytes happen to match, arriving whole, is never refused.
    fn refuse_other_protocol(&self, what: &str) -> Result<(), TransportError> {
        let mut start = self.header[..self.header_filled].to_vec();
        let payload_in = self.payload_filled.min(ZMTP_SIGNATURE_LEN - HEADER_LEN);
        if self.header_filled == HEADER_LEN {
            start.extend_from_slice(&self.payload[..payload_in]);
        }
        if is_zmtp_signature(&start) {
            return Err(TransportError::OtherProtocol {
                what: what.to_string(),
                protocol: "ZeroMQ's greeting (ZMTP: 0xFF … 0x7F)",
                peer: "a ZeroMQ peer (zmq-tcp or zmq-ipc)",
            });
        }
        Ok(())
    }

    #[inline(always)]
    fn is_complete(&self) -> bool {
        self.len == Some(self.payload_filled)
    }

    /// One read of what is missing.
    ///
    /// Until the header is complete, the message's end is unknown, so this is one `readv` of
    /// [rest of the header, the whole payload buffer]: the common case, a whole message in one
    /// call. It may take bytes of the *next* message when the peer sent one before waiting for
    /// our answer: the request/response protocol never does, but a pipelining or broken peer
    /// may. [`Incoming::advance`] reports such bytes and [`FramedStream`] keeps them as the
    /// start of its next receive (copied only in that case; the common case copies nothing).
    /// Once the length is known, reads ask for exactly the missing bytes, never past the end.
    #[inline(always)]
    fn read_from(&mut self, stream: &mut impl Read) -> std::io::Result<usize> {
        match self.len {
            None => stream.read_vectored(&mut [
                IoSliceMut::new(&mut self.header[self.header_filled..]),
                IoSliceMut::new(self.payload),
            ]),
            Some(len) => stream.read(&mut self.payload[self.payload_filled..len]),
        }
    }

    /// Accounts for `n` bytes placed by [`Incoming::read_from`]: the rest of the header first,
    /// then the payload. Returns where in the payload buffer bytes beyond the message's end
    /// landed (an empty range, normally).
    #[inline(always)]
    fn advance(&mut self, n: usize) -> Result<Range<usize>, TransportError> {
        if self.len.is_some() {
            self.payload_filled += n;
            return Ok(0..0);
        }
        let into_header = n.min(HEADER_LEN - self.header_filled);
        self.header_filled += into_header;
        if self.header_filled < HEADER_LEN {
            return Ok(0..0);
        }
        let len = decode_len(self.header, self.payload.len())?;
        self.len = Some(len);
        // The header was incomplete before this read, so its payload bytes start at 0.
        let into_payload = n - into_header;
        self.payload_filled = into_payload.min(len);
        Ok(self.payload_filled..into_payload)
    }

    /// Copies the start of `bytes` into the message, never past its end; returns how many
    /// bytes it took.
    fn fill_from(&mut self, bytes: &[u8]) -> Result<usize, TransportError> {
        let mut taken = 0;
        if self.len.is_none() {
            taken = bytes.len().min(HEADER_LEN - self.header_filled);
            self.header[self.header_filled..][..taken].copy_from_slice(&bytes[..taken]);
            self.advance(taken)?;
        }
        if let Some(len) = self.len {
            let more = (bytes.len() - taken).min(len - self.payload_filled);
            self.payload[self.payload_filled..][..more].copy_from_slice(&bytes[taken..][..more]);
            self.payload_filled += more;
            taken += more;
        }
        Ok(taken)
    }
}

/// Which way a transfer moves bytes, for its error texts.
#[derive(Clone, Copy)]
enum Direction {
    Receive,
    Send,
}

/// Judges one read or write of a transfer of `what`: Some(bytes moved), or None to try again
/// (a signal interrupted it, or a slice ran out within the budget). Bytes moved, the case of
/// every message, inline; the rest out of line, as every call on a round trip's path is kept
/// small (docs/own-cost.md).
#[inline(always)]
fn progress(
    result: std::io::Result<usize>,
    budget: &mut WaitBudget<'_>,
    direction: Direction,
    what: &str,
) -> Result<Option<usize>, TransportError> {
    match result {
        Ok(n) if n > 0 => Ok(Some(n)),
        other => no_progress(other, budget, direction, what),
    }
}

#[cold]
#[inline(never)]
fn no_progress(
    result: std::io::Result<usize>,
    budget: &mut WaitBudget<'_>,
    direction: Direction,
    what: &str,
) -> Result<Option<usize>, TransportError> {
    let (closed_while, op) = match direction {
        Direction::Receive => ("we waited for", "reading"),
        Direction::Send => ("we sent", "sending"),
    };
    match result {
        Ok(0) => Err(peer_gone(
            budget,
            &format!("closed while {closed_while} {what}"),
        )),
        Ok(n) => Ok(Some(n)),
        // The watchdog's signal ends a slice (see `watched_socket`); another signal may be
        // the one that asks us to stop, which the watch knows.
        Err(e) if e.kind() == ErrorKind::Interrupted => budget.slice_expired(what).map(|()| None),
        Err(e) if is_hang_up(&e) => Err(peer_gone(budget, &e.to_string())),
        Err(e) if is_timeout(&e) => budget.slice_expired(what).map(|()| None),
        Err(e) => Err(TransportError::io(format!("{op} {what}"), e)),
    }
}

/// The connection broke: give the watch a moment to say why (a dead server is reported from
/// waitpid, which may lag the socket's news by a moment), else report the socket's own words.
fn peer_gone(budget: &WaitBudget<'_>, how: &str) -> TransportError {
    let pauses = if budget.watch().follows_a_process() {
        10
    } else {
        0
    };
    for _ in 0..pauses {
        if let Err(e) = budget.watch().check() {
            return e;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    TransportError::PeerGone(format!("the connection to the peer broke: {how}"))
}

fn is_hang_up(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
    )
}

/// A slice of the stream's own timeout ran out.
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The listening socket of a transport served by a [`ConnectionServer`]: how it accepts a
/// client and readies the stream, and what the server's ready line says.
pub trait Listener: AsFd + Send {
    type Stream: Read + Write + Send;

    /// Accepts a client that is waiting (the server polls for one first).
    fn accept(&self) -> std::io::Result<Self::Stream>;

    /// Readies an accepted stream for framed messages (TCP's `TCP_NODELAY`).
    fn prepare(_stream: &Self::Stream) -> Result<(), TransportError> {
        Ok(())
    }

    /// What follows `READY` on the server's ready line
    /// ([`TransportServer::ready_address`]).
    fn ready_address(&self) -> Option<String> {
        None
    }
}

/// The server's side of a socket transport that serves one connection at a time (Unix stream,
/// TCP): its listener, the connection being served, if any, and one reusable buffer. Whatever a
/// client does ends at most its own connection, after which the server accepts the next one: a
/// hang-up, even mid-exchange; a frame that announces more than the buffer holds (the stream
/// cannot be resynchronised, so the connection is dropped before anything is allocated for
/// it); a stall mid-exchange beyond the timeout. Those the server ends itself are counted, for
/// its closing words.
pub struct ConnectionServer<L: Listener> {
    // Field order is drop order: the connection closes before the listener (and whatever the
    // listener owns, such as its socket file).
    connection: Option<FramedStream<L::Stream>>,
    buffer: Vec<u8>,
    /// The length of the request in `buffer` handed out and not answered yet.
    pending: Option<usize>,
    timeout: Duration,
    dropped: DroppedClients,
    listener: L,
}

/// The connections a server ended itself, by why.
#[derive(Debug, Default)]
struct DroppedClients {
    /// Their frame announced more than the server's capacity.
    oversized: u64,
    /// Their exchange failed otherwise (a stall beyond the timeout, a socket error).
    failed: u64,
    last_failure: Option<String>,
}

impl DroppedClients {
    fn record(&mut self, error: &TransportError) {
        match error {
            TransportError::BadLengthHeader { .. } => self.oversized += 1,
            other => {
                self.failed += 1;
                self.last_failure = Some(other.to_string());
            }
        }
    }

    /// What to say at exit about the clients dropped, if any were.
    fn summary(&self, capacity: usize) -> Option<String> {
        let mut parts = Vec::new();
        if self.oversized > 0 {
            parts.push(format!(
                "dropped {} client(s) whose frame announced more than the {capacity}-byte limit",
                self.oversized
            ));
        }
        if let Some(last) = self.last_failure.as_ref().filter(|_| self.failed > 0) {
            parts.push(format!(
                "ended {} connection(s) whose exchange failed (the last: {last})",
                self.failed
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

impl<L: Listener> ConnectionServer<L> {
    /// A server on `listener` whose requests may fill a `buffer_size`-byte buffer; `timeout`
    /// bounds every wait once an exchange has begun.
    pub fn new(
        listener: L,
        buffer_size: usize,
        timeout: Duration,
    ) -> Result<ConnectionServer<L>, TransportError> {
        Ok(ConnectionServer {
            connection: None,
            buffer: zeroed_buffer("request buffer", payload_capacity(buffer_size))?,
            pending: None,
            timeout,
            dropped: DroppedClients::default(),
            listener,
        })
    }
}

impl<L: Listener> TransportServer for ConnectionServer<L> {
    /// Waits for the next request, first accepting a connection when there is none, waiting
    /// for one as long as it takes (None once `stop` was set meanwhile). An error of the
    /// connection, or its hang-up, ends it, not the server, which goes on to the next; errors
    /// of accepting end the server.
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = None;
        loop {
            if self.connection.is_none() {
                match accept_unless_stopped(&self.listener, stop)? {
                    Some(stream) => self.connection = Some(FramedStream::new(stream)),
                    None => return Ok(None),
                }
            }
            let Some(connection) = self.connection.as_mut() else {
                continue;
            };
            match connection.receive_request(&mut self.buffer, stop, self.timeout) {
                Ok(Arrival::Message(len)) => {
                    self.pending = Some(len);
                    return Ok(Some(len));
                }
                Ok(Arrival::Stopped) => return Ok(None),
                Ok(Arrival::HungUp) => self.connection = None,
                Err(e) => {
                    self.dropped.record(&e);
                    self.connection = None;
                }
            }
        }
    }

    /// Answers the request on the current connection. If that connection ends meanwhile (a
    /// hang-up, an error), it ends only that connection: [`EchoOutcome::PeerLeft`], and the
    /// exchange goes on with the next request, on the next connection.
    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let len = self.pending.take().or_no_request()?;
        let Some(connection) = self.connection.as_mut() else {
            return Err(TransportError::NoRequest);
        };
        match connection.reply(&mut self.buffer, len, stop, self.timeout, reply) {
            Ok(Exchange::Echoed) => return Ok(EchoOutcome::Echoed),
            Ok(Exchange::Stopped) => return Ok(EchoOutcome::Stopped),
            Ok(Exchange::HungUp) => {}
            Err(e) => self.dropped.record(&e),
        }
        self.connection = None;
        Ok(EchoOutcome::PeerLeft)
    }

    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        look(pending_message(&self.buffer, self.pending)?);
        Ok(())
    }

    /// A stream's message needs no answer: the next `next_request` reads on.
    fn consume(&mut self) -> Result<(), TransportError> {
        self.pending.take().map(drop).or_no_request()
    }

    /// How many connections the server ended itself, and why; None if it ended none.
    fn closing_words(&mut self) -> Option<String> {
        self.dropped.summary(self.buffer.len())
    }

    fn ready_address(&self) -> Option<String> {
        self.listener.ready_address()
    }
}

/// The request of `pending` bytes a framed server received into `buffer` (its own memory, so
/// nothing else can change it while it is read), as it arrived.
pub fn pending_message(buffer: &[u8], pending: Option<usize>) -> Result<&[u8], TransportError> {
    let len = pending.or_no_request()?;
    buffer.get(..len).or_no_request()
}

/// Accepts the next client of `listener` and readies it; None if `stop` was set while waiting
/// for one.
fn accept_unless_stopped<L: Listener>(
    listener: &L,
    stop: &AtomicBool,
) -> Result<Option<L::Stream>, TransportError> {
    loop {
        if !client_waiting_unless_stopped(listener.as_fd(), stop)? {
            return Ok(None);
        }
        match listener.accept() {
            Ok(stream) => {
                L::prepare(&stream)?;
                return Ok(Some(stream));
            }
            // A client that reset its connection before we took it: wait for the next one.
            Err(e) if e.kind() == ErrorKind::ConnectionAborted => continue,
            Err(e) => return Err(TransportError::io("accepting a client", e)),
        }
    }
}

/// Waits until `listener` has a client to accept; false if `stop` was set first. Never times
/// out by itself. Only waiting for a connection polls; messages never do.
pub fn client_waiting_unless_stopped(
    listener: BorrowedFd<'_>,
    stop: &AtomicBool,
) -> Result<bool, TransportError> {
    let idle_slice = PollTimeout::try_from(IDLE_SLICE).unwrap_or(PollTimeout::MAX);
    idle_until_request(stop, || {
        let mut fds = [PollFd::new(listener, PollFlags::POLLIN)];
        match poll(&mut fds, idle_slice) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(TransportError::os("polling the listening socket", e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::blocks::watched_socket::WatchedSocket;
    use crate::transport::wait::NoWatch;
    use std::os::unix::net::UnixStream;

    #[test]
    fn carried_bytes_keep_their_order_and_their_buffer() {
        let mut carried = Carried::default();
        carried.append(b"abcdef").unwrap();
        carried.take(2);
        assert_eq!(carried.unread(), b"cdef");
        carried.append(b"gh").unwrap();
        assert_eq!(carried.unread(), b"cdefgh");
        carried.take(6);
        assert_eq!(
            (carried.unread(), carried.start, carried.end),
            (&b""[..], 0, 0)
        );
        let allocated = carried.bytes.len();
        carried.append(b"xyz").unwrap();
        assert_eq!(
            (carried.unread(), carried.bytes.len()),
            (&b"xyz"[..], allocated)
        );
    }

    /// The unread bytes move to the front when as many were taken before them, and only
    /// otherwise does the buffer grow (doubling).
    #[test]
    fn room_is_made_by_moving_the_unread_bytes_before_growing() {
        let mut carried = Carried::default();
        carried.append(&[1; 8]).unwrap();
        carried.take(6);
        assert_eq!(carried.room(6).unwrap().len(), 6);
        assert_eq!((carried.unread(), carried.bytes.len()), (&[1u8, 1][..], 8));
        assert_eq!(carried.room(7).unwrap().len(), 14);
        assert_eq!(carried.unread(), &[1, 1]);
    }

    /// A client that reads while it writes reads no more than the replies it is owed: a peer
    /// that sends unasked while it takes nothing is an error, not a buffer without end.
    #[test]
    fn a_peer_that_sends_more_than_it_owes_is_a_protocol_error() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(&[9; 100]).unwrap();
        let mut stream = FramedStream::new(WatchedSocket::new(ours, Duration::from_secs(1)));
        let request = vec![0u8; 4 << 20];
        let mut budget = WaitBudget::new(Duration::from_secs(30), &NoWatch);
        let sent = stream.send_reading(&request, 0, &mut budget, "a request in flight");
        assert!(
            matches!(&sent, Err(TransportError::Protocol(why)) if why.contains("more than the 0 bytes")),
            "{sent:?}"
        );
    }
}
