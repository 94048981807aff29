//! Framing for every byte-stream transport (Unix stream, pipes, TCP): a message is a 4-byte
//! native-endian `u32` length, then the payload, as in SHM POSIX. Also the client of every one
//! of them ([`FramedClient`]), and the server of the socket transports, which serve one
//! connection at a time from their [`Listener`] ([`ConnectionServer`]).
//!
//! It is written for the syscall floor of a stream: a message goes out in one `writev` of
//! [header, payload] and, in the common case, comes in with one `readv` of [header, the
//! caller's buffer], straight into that buffer, so per round trip each side makes two system
//! calls and adds no copy. Up to 4 KiB a message is staged instead: one `write` of its
//! header and payload copied together ([`codec`]), one `read` into a small buffer copied out
//! ([`Incoming::read_from`]), because the kernel's import of a two-part iovec costs more than
//! copying that little. Reads loop only when a message arrives in parts (above the socket
//! buffer size, or from a peer that writes in pieces).
//!
//! A one-way stream ([`Pattern::Stream`](crate::transport::spec::Pattern)) is the same frames
//! without the answers: the client's [`send`](TransportClient::send) is the request's `writev`
//! and nothing else, so it waits only while the kernel's buffer is full (the stream's flow
//! control), in the same slices and within the same timeout as a round trip's write. The server
//! takes each message as it takes a request, and [`consume`](TransportServer::consume) lets it
//! go unanswered. Its `readv` asks for one message of the last one's length, as iperf3 and a C
//! loop read (see [`Incoming::read_from`] for why not all the socket holds); bytes beyond a
//! message (the next ones, when sizes change) are kept ([`FramedStream`]'s carried bytes) and
//! handed out from there, in order.
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
//!
//! One file per job: [`codec`] writes a frame (header, then payload) and [`transfer`] judges
//! each read or write of one; [`partial_read`] is a message on its way in (and spots ZeroMQ's
//! greeting); [`carried`] keeps the bytes that came ahead of their message; [`in_flight`] is the
//! non-blocking write that reads replies while it waits; [`client`] is [`FramedClient`]; and
//! [`listener`] is the one-connection [`ConnectionServer`]. This file is the stream itself and
//! its receive. The tokio transports use the same frames and the same state (the partial read,
//! the carried bytes, the reads ahead) with awaited waits: [`awaited`] is the async framing on a
//! tokio socket, [`awaited_peers`] their client and server, one `block_on` per exchange.

mod awaited;
mod awaited_peers;
mod carried;
mod client;
mod codec;
mod in_flight;
mod listener;
mod partial_read;
mod transfer;

pub use awaited::{bounded, TokioIo, TokioSocket};
pub use awaited_peers::{TokioClient, TokioRuntime, TokioServer};
pub use client::FramedClient;
pub use codec::Outgoing;
pub use in_flight::NonBlockingStream;
pub use listener::{client_waiting_unless_stopped, pending_message, ConnectionServer, Listener};

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::transport::blocks::aligned::AlignedBuffer;
use crate::transport::blocks::payload::check_message_fits;
use crate::transport::error::TransportError;
use crate::transport::spec::Reply;
use crate::transport::wait::{is_hang_up, PeerWatch, StopFlag, WaitBudget};
use crate::transport::wire::{encode_len, payload_capacity, HEADER_LEN};
use carried::Carried;
use partial_read::{Incoming, NO_EXPECTATION};
use transfer::{is_timeout, progress, Direction};

/// Where both ends keep a payload, in bytes past a page boundary: 64 bytes past where a payload
/// behind its header starts a page. The kernel copies a message between a process and a buffer
/// that starts a page (a pipe's fresh page, a socket buffer's head, each of its page fragments),
/// so the payload it copies sits at 4 or 0 past a page; on AMD Zen a copy whose destination is 1
/// to 15 bytes ahead of its source modulo a page runs several times slower
/// ([`crate::transport::blocks::aligned`]). At 4 a buffer matches a header-led page exactly but
/// reads from a fragment 4 bytes ahead of it (a 128 KiB Unix stream message's last fragment
/// did: twice the copy time); at 16, where glibc's `mmap` puts a large buffer, it reads a
/// header-led page 12 bytes ahead. 68 keeps every copy 64 bytes or more away either way, on a
/// cache line's stride.
pub const PAYLOAD_PAGE_OFFSET: usize = HEADER_LEN + 64;

/// A staging buffer: a header and a payload of up to [`codec::STAGED_MAX`] bytes, the payload
/// at [`PAYLOAD_PAGE_OFFSET`].
fn staging_buffer() -> AlignedBuffer {
    AlignedBuffer::small(
        HEADER_LEN + codec::STAGED_MAX,
        PAYLOAD_PAGE_OFFSET - HEADER_LEN,
    )
}

/// A server's request buffer: the payload capacity of a `buffer_size`-byte buffer, where the
/// client keeps its payloads too ([`PAYLOAD_PAGE_OFFSET`]).
pub fn request_buffer(buffer_size: usize) -> Result<AlignedBuffer, TransportError> {
    AlignedBuffer::zeroed(
        "request buffer",
        payload_capacity(buffer_size),
        PAYLOAD_PAGE_OFFSET,
    )
}

/// A byte stream that carries framed messages both ways.
pub struct FramedStream<S> {
    stream: S,
    /// Bytes received after the end of the last message: the start of the next one. Empty
    /// unless the peer sent again before reading our answer (see [`Incoming::read_from`]): in a
    /// one-way stream, often many messages; for a client with requests in flight, the replies
    /// it read while it sent ([`FramedStream::send_reading`]).
    carried: Carried,
    /// The length of the last message received: how many payload bytes the next read asks for
    /// before that message's header is in (see [`Incoming::read_from`]).
    expected: usize,
    /// A small frame's header and payload, copied together to go out in one `write`
    /// ([`codec`]). Both staging buffers start a header before [`PAYLOAD_PAGE_OFFSET`], so that
    /// their payloads sit where the caller's do: glibc copies 2 KiB and more with `rep movsb`
    /// where the CPU has FSRM, and meets AMD's slow path as the kernel's copies do.
    staging: AlignedBuffer,
    /// Where a small message's one `read` lands before its bytes go where a `readv` would have
    /// put them ([`Incoming::read_from`]).
    staging_in: AlignedBuffer,
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

/// What the rest of a request that began came to: a stop or a hang-up meanwhile are arrivals,
/// not errors.
fn arrival(received: Result<usize, TransportError>) -> Result<Arrival, TransportError> {
    match received {
        Ok(len) => Ok(Arrival::Message(len)),
        Err(TransportError::Interrupted) => Ok(Arrival::Stopped),
        Err(TransportError::PeerGone(_)) => Ok(Arrival::HungUp),
        Err(e) => Err(e),
    }
}

/// What a reply's sending came to: a stop or a hang-up meanwhile end the exchange, not the
/// server.
fn exchange(sent: Result<(), TransportError>) -> Result<Exchange, TransportError> {
    match sent {
        Ok(()) => Ok(Exchange::Echoed),
        Err(TransportError::Interrupted) => Ok(Exchange::Stopped),
        Err(TransportError::PeerGone(_)) => Ok(Exchange::HungUp),
        Err(e) => Err(e),
    }
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
            expected: NO_EXPECTATION,
            staging: staging_buffer(),
            staging_in: staging_buffer(),
        }
    }

    /// The next message to come into `payload`, expected as long as the last one.
    #[inline(always)]
    fn incoming<'p>(&self, payload: &'p mut [u8]) -> Incoming<'p> {
        Incoming::new(payload, self.expected)
    }

    /// The client's side of one exchange: sends `request`, receives the reply into `response`
    /// and returns its length. Neither message may be longer than `capacity`, and the reply no
    /// longer than `response`; every wait is bounded by `timeout`, in slices that ask `watch`.
    pub fn round_trip(
        &mut self,
        request: Outgoing<'_>,
        response: &mut [u8],
        capacity: usize,
        timeout: Duration,
        watch: &dyn PeerWatch,
    ) -> Result<usize, TransportError> {
        check_message_fits(request.message().len(), capacity)?;
        let mut budget = WaitBudget::new(timeout, watch);
        self.send_outgoing(request, &mut budget, "the request")?;
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
        exchange(sent)
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
        let mut incoming = self.incoming(payload);
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
        let mut incoming = self.incoming(payload);
        self.take_carried(&mut incoming)?;
        while !incoming.has_begun() {
            if stop.load(Ordering::Relaxed) {
                return Ok(Arrival::Stopped);
            }
            if let Some(hung_up) = self.idle_read(&mut incoming)? {
                return Ok(hung_up);
            }
        }
        let watch = StopFlag(stop);
        let mut budget = WaitBudget::new(timeout, &watch);
        arrival(self.receive_rest(&mut incoming, &mut budget, "a request"))
    }

    /// One read of a request that has not begun, for an idle server: Some([`Arrival::HungUp`])
    /// if the client left, None to look at the stop flag and read on (whether bytes came, or
    /// the read's slice ran out, or it would have waited).
    fn idle_read(
        &mut self,
        incoming: &mut Incoming<'_>,
    ) -> Result<Option<Arrival>, TransportError> {
        match incoming.read_from(&mut self.stream, &mut self.staging_in) {
            Ok(0) => Ok(Some(Arrival::HungUp)),
            Ok(n) => (self.account(incoming, n))
                .map_err(|e| incoming.explain(e, "a request"))
                .map(|()| None),
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => Ok(None),
            Err(e) if is_hang_up(&e) => Ok(Some(Arrival::HungUp)),
            Err(e) => Err(TransportError::io("reading a request", e)),
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
            let read = incoming.read_from(&mut self.stream, &mut self.staging_in);
            let progressed = progress(read, budget, Direction::Receive, what);
            match progressed.map_err(|e| incoming.explain(e, what))? {
                Some(n) => {
                    (self.account(incoming, n)).map_err(|e| incoming.explain(e, what))?;
                    if !incoming.is_complete() {
                        budget.made_progress(what)?;
                    }
                }
                // A stall: a ZeroMQ peer's greeting waits for ours, and would until the timeout.
                None => incoming.refuse_other_protocol(what)?,
            }
        }
        self.expected = incoming.payload_filled;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::blocks::watched_socket::WatchedSocket;
    use crate::transport::wait::NoWatch;
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn payloads_sit_clear_of_the_kernels_page_led_buffers_both_ways() {
        use crate::transport::blocks::aligned::PAGE;
        // A copy is slow on AMD Zen when its destination is 1–15 bytes ahead of its source
        // (mod a page); the kernel's side of a copy sits at 0 or 4 past a page.
        let slow = |destination: usize, source: usize| {
            (1..=15).contains(&((PAGE + destination - source) % PAGE))
        };
        for kernel in [0, HEADER_LEN] {
            assert!(
                !slow(kernel, PAYLOAD_PAGE_OFFSET),
                "a send from {PAYLOAD_PAGE_OFFSET} to {kernel}"
            );
            assert!(
                !slow(PAYLOAD_PAGE_OFFSET, kernel),
                "a receive from {kernel} to {PAYLOAD_PAGE_OFFSET}"
            );
        }
        assert_eq!(
            PAYLOAD_PAGE_OFFSET % 64,
            HEADER_LEN,
            "a header-led page's cache-line stride"
        );
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut bytes = encode_len(payload.len()).to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Bytes waiting in the socket, unread (FIONREAD).
    fn queued(socket: &UnixStream) -> usize {
        let mut n: libc::c_int = 0;
        assert_eq!(
            unsafe { libc::ioctl(socket.as_raw_fd(), libc::FIONREAD, &mut n) },
            0
        );
        n as usize
    }

    /// After the first message, a receive reads one message of the last one's length, as
    /// iperf3 and the C loops read, and leaves the rest in the socket; a longer or a shorter
    /// message than expected still arrives whole and in order.
    #[test]
    fn a_receive_reads_one_message_of_the_last_ones_length() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let watched = ours.try_clone().unwrap();
        let mut stream = FramedStream::new(WatchedSocket::new(watched, Duration::from_secs(1)));
        let mut buffer = vec![0u8; 1 << 16];
        let mut budget = WaitBudget::new(Duration::from_secs(30), &NoWatch);
        let mut receive = |stream: &mut FramedStream<_>, buffer: &mut [u8]| {
            let len = stream.receive(buffer, &mut budget, "a message").unwrap();
            buffer[..len].to_vec()
        };
        theirs.write_all(&frame(&[1; 100])).unwrap();
        assert_eq!(receive(&mut stream, &mut buffer), [1; 100]);
        for byte in 2..=4 {
            theirs.write_all(&frame(&[byte; 100])).unwrap();
        }
        assert_eq!(receive(&mut stream, &mut buffer), [2; 100]);
        assert_eq!((stream.carried.unread().len(), queued(&ours)), (0, 2 * 104));
        assert_eq!(receive(&mut stream, &mut buffer), [3; 100]);
        assert_eq!(receive(&mut stream, &mut buffer), [4; 100]);
        theirs.write_all(&frame(&[5; 300])).unwrap();
        theirs.write_all(&frame(&[6; 10])).unwrap();
        theirs.write_all(&frame(&[7; 10])).unwrap();
        assert_eq!(receive(&mut stream, &mut buffer), [5; 300]);
        assert_eq!(receive(&mut stream, &mut buffer), [6; 10]);
        assert_eq!(receive(&mut stream, &mut buffer), [7; 10]);
        assert_eq!((stream.carried.unread().len(), queued(&ours)), (0, 0));
    }

    /// A stream that hands out `bytes` as they are asked for and keeps which call asked:
    /// "read" or "readv".
    struct Feeder {
        bytes: Vec<u8>,
        calls: Vec<&'static str>,
    }

    impl Feeder {
        fn give(&mut self, into: &mut [u8]) -> usize {
            let n = into.len().min(self.bytes.len());
            into[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes.drain(..n);
            n
        }
    }

    impl Read for Feeder {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls.push("read");
            Ok(self.give(buf))
        }

        fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
            self.calls.push("readv");
            Ok(bufs.iter_mut().map(|buf| self.give(buf)).sum())
        }
    }

    impl Write for Feeder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Once a message is expected to be small, its header and payload come in one `read`
    /// (staged, then copied where a `readv` would have put them); a large one, or a
    /// connection's first, in a `readv` straight into the caller's buffer. Bytes of the next
    /// message that the staged read took are kept for it.
    #[test]
    fn a_small_message_is_read_with_one_read_and_a_large_one_with_one_readv() {
        let big = codec::STAGED_MAX + 1;
        let mut bytes = Vec::new();
        for (len, byte) in [(100, 1), (100, 2), (10, 3), (10, 4), (big, 5), (big, 6)] {
            bytes.extend_from_slice(&frame(&vec![byte; len]));
        }
        let feeder = Feeder {
            bytes,
            calls: Vec::new(),
        };
        let mut stream = FramedStream::new(feeder);
        let mut buffer = vec![0u8; 1 << 16];
        let mut budget = WaitBudget::new(Duration::from_secs(30), &NoWatch);
        let mut received = Vec::new();
        for _ in 0..6 {
            let len = stream
                .receive(&mut buffer, &mut budget, "a message")
                .unwrap();
            received.push((
                len,
                buffer[0],
                buffer[..len].iter().all(|&b| b == buffer[0]),
            ));
        }
        let want = [(100, 1), (100, 2), (10, 3), (10, 4), (big, 5), (big, 6)];
        let want: Vec<_> = want.iter().map(|&(len, byte)| (len, byte, true)).collect();
        assert_eq!(received, want);
        // The first: a readv of [header, all the buffer] (it takes everything). The rest came
        // from the carried bytes, so nothing more was read.
        assert_eq!(stream.stream.calls, ["readv"]);

        let mut stream = FramedStream::new(Feeder {
            bytes: Vec::new(),
            calls: Vec::new(),
        });
        let mut receive_one = |stream: &mut FramedStream<Feeder>, len: usize, byte: u8| {
            stream.stream.bytes = frame(&vec![byte; len]);
            let got = stream
                .receive(&mut buffer, &mut budget, "a message")
                .unwrap();
            assert_eq!((got, buffer[..got].iter().all(|&b| b == byte)), (len, true));
        };
        receive_one(&mut stream, 100, 7);
        receive_one(&mut stream, 100, 8);
        receive_one(&mut stream, 40, 9);
        receive_one(&mut stream, big, 10);
        receive_one(&mut stream, big, 11);
        // 100 B after 100 B: one read; 40 B after 100: one read; STAGED_MAX + 1 after 40: a
        // read of 44 bytes, then a read of the rest; STAGED_MAX + 1 after it: one readv.
        assert_eq!(
            stream.stream.calls,
            ["readv", "read", "read", "read", "read", "readv"]
        );
    }
}
