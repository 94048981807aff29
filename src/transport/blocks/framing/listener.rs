//! The server of the socket transports (Unix stream, TCP, interprocess): a [`Listener`] and the
//! [`ConnectionServer`] that serves one connection at a time from it, dropping a connection
//! that misbehaves, never itself.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{request_buffer, Arrival, Exchange, FramedStream};
use crate::transport::blocks::aligned::AlignedBuffer;
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::spec::{EchoOutcome, Reply, TransportServer};
use crate::transport::wait::{idle_until_request, IDLE_SLICE};

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
    pub(super) connection: Option<FramedStream<L::Stream>>,
    pub(super) buffer: AlignedBuffer,
    /// The length of the request in `buffer` handed out and not answered yet.
    pub(super) pending: Option<usize>,
    pub(super) timeout: Duration,
    pub(super) dropped: DroppedClients,
    pub(super) listener: L,
}

/// The connections a server ended itself, by why.
#[derive(Debug, Default)]
pub(super) struct DroppedClients {
    /// Their frame announced more than the server's capacity.
    oversized: u64,
    /// Their exchange failed otherwise (a stall beyond the timeout, a socket error).
    failed: u64,
    last_failure: Option<String>,
}

impl DroppedClients {
    pub(super) fn record(&mut self, error: &TransportError) {
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
            buffer: request_buffer(buffer_size)?,
            pending: None,
            timeout,
            dropped: DroppedClients::default(),
            listener,
        })
    }
}

impl<L: Listener> ConnectionServer<L> {
    /// Drops a request handed out and not answered, and waits for the next one, first
    /// accepting a connection when there is none, waiting for one as long as it takes (None
    /// once `stop` was set meanwhile). An error of the connection, or its hang-up, ends it, not
    /// the server, which goes on to the next; errors of accepting end the server.
    fn take_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
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
                Ok(Arrival::Message(len)) => return Ok(Some(len)),
                Ok(Arrival::Stopped) => return Ok(None),
                Ok(Arrival::HungUp) => self.connection = None,
                Err(e) => {
                    self.dropped.record(&e);
                    self.connection = None;
                }
            }
        }
    }

    /// Answers the `len`-byte request in the buffer on the current connection. If that
    /// connection ends meanwhile (a hang-up, an error), it ends only that connection:
    /// [`EchoOutcome::PeerLeft`], and the exchange goes on with the next request, on the next
    /// connection.
    #[inline(always)]
    fn answer(
        &mut self,
        len: usize,
        stop: &AtomicBool,
        reply: Reply,
    ) -> Result<EchoOutcome, TransportError> {
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
}

impl<L: Listener> TransportServer for ConnectionServer<L> {
    /// Waits for the next request ([`ConnectionServer::take_request`]) and holds it until the
    /// reply.
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = self.take_request(stop)?;
        Ok(self.pending)
    }

    /// Answers the request handed out, on the current connection (see `answer`).
    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let len = self.pending.take().or_no_request()?;
        self.answer(len, stop, reply)
    }

    /// [`next_request`](TransportServer::next_request) and [`reply`](TransportServer::reply)
    /// in one call, with no request handed out between them, as SHM POSIX's: the server's loop
    /// per round trip (callgrind: about 25 instructions fewer than the two calls,
    /// docs/own-cost.md).
    fn echo(&mut self, stop: &AtomicBool) -> Result<EchoOutcome, TransportError> {
        match self.take_request(stop)? {
            Some(len) => self.answer(len, stop, Reply::Echo),
            None => Ok(EchoOutcome::Stopped),
        }
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
pub(super) fn accept_unless_stopped<L: Listener>(
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
