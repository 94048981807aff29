//! The framing's messages over a tokio socket, awaited: the same frames as [`FramedStream`]'s
//! (a 4-byte native-endian length, then the payload), written with one `writev` and read with
//! one `readv` of [header, the caller's buffer] in the common case, with the same carried bytes
//! and the same reads ahead of a request in flight; only the waits differ. Where the blocking
//! framing waits in a read or write of one slice, this one tries the call without waiting
//! (tokio's `try_read_vectored`/`try_write_vectored`, which skip the system call while tokio
//! knows the socket is not ready) and awaits the socket's readiness from tokio's I/O driver
//! (`epoll`), as any tokio application's reads and writes do.
//!
//! How the waits are bounded: an exchange runs inside [`bounded`], which awaits it in slices of
//! [`WAIT_SLICE`] with `tokio::time::timeout` and, whenever a slice runs out, asks the
//! [`WaitBudget`] (the peer's watch, the deadline of `--timeout`, or a server's stop flag). A
//! timer per exchange is tokio's price for a bounded wait: it is registered only if the exchange
//! has to wait at all (a `Timeout` polls its future before its timer), and removed when the
//! exchange ends. An idle server awaits a request's first bytes in slices of [`IDLE_SLICE`],
//! looking at its stop flag between them ([`FramedStream::await_request`]), so SIGTERM is
//! noticed within a slice although tokio's driver carries on after the signal's `EINTR`.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use super::in_flight::NonBlockingStream;
use super::partial_read::Incoming;
use super::transfer::{progress, Direction};
use super::{arrival, exchange, Arrival, Exchange, FramedStream};
use crate::transport::error::TransportError;
use crate::transport::spec::Reply;
use crate::transport::wait::{PeerWatch, StopFlag, WaitBudget, IDLE_SLICE, WAIT_SLICE};
use crate::transport::wire::encode_len;

/// What the awaited framing needs of a tokio socket (its `UnixStream` and `TcpStream` alike):
/// readiness to await, and reads and writes that never wait.
pub trait TokioSocket: AsFd + Send + Sized {
    /// The standard library's socket of the same kind, which connects and accepts.
    type Std;
    /// `std`, made non-blocking and registered with the runtime entered.
    fn from_std(std: Self::Std) -> std::io::Result<Self>;
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>;
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>;
    fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize>;
    fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize>;
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize>;
}

macro_rules! tokio_socket {
    ($socket:ty, $std:ty) => {
        impl TokioSocket for $socket {
            type Std = $std;
            fn from_std(std: $std) -> std::io::Result<$socket> {
                std.set_nonblocking(true)?;
                <$socket>::from_std(std)
            }
            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
                <$socket>::poll_read_ready(self, cx)
            }
            fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
                <$socket>::poll_write_ready(self, cx)
            }
            fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                <$socket>::try_read(self, buf)
            }
            fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
                <$socket>::try_read_vectored(self, bufs)
            }
            fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                <$socket>::try_write(self, buf)
            }
            fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
                <$socket>::try_write_vectored(self, bufs)
            }
        }
    };
}

tokio_socket!(tokio::net::UnixStream, std::os::unix::net::UnixStream);
tokio_socket!(tokio::net::TcpStream, std::net::TcpStream);

/// A tokio socket seen as the framing's stream: every read and write is tried once and fails
/// with `WouldBlock` rather than wait, so that the awaited framing decides how to wait.
pub struct TokioIo<S>(pub S);

impl<S: TokioSocket> TokioIo<S> {
    /// A socket the standard library accepted, registered with the runtime entered.
    pub fn accepted(std: S::Std) -> std::io::Result<TokioIo<S>> {
        S::from_std(std).map(TokioIo)
    }
}

impl<S: TokioSocket> Read for TokioIo<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.try_read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
        self.0.try_read_vectored(bufs)
    }
}

impl<S: TokioSocket> Write for TokioIo<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<S: TokioSocket> NonBlockingStream for TokioIo<S> {
    fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.try_read(buf)
    }

    /// One part (a staged frame) is a `write`, not a `writev` of one.
    fn write_now(&mut self, parts: &[IoSlice<'_>]) -> std::io::Result<usize> {
        match parts {
            [one] => self.0.try_write(one),
            _ => self.0.try_write_vectored(parts),
        }
    }

    fn ends(&self) -> (BorrowedFd<'_>, BorrowedFd<'_>) {
        (self.0.as_fd(), self.0.as_fd())
    }
}

/// What an awaited exchange is waiting for, named in the error of a slice that runs out: the
/// exchange sets it before each of its phases.
pub type Phase = Cell<&'static str>;

/// Awaits `exchange` in slices of [`WAIT_SLICE`]: after each slice that runs out, the budget of
/// `timeout` asks `watch` and checks the deadline, and its error (a dead peer, a stop, the
/// timeout, naming `phase`) ends the exchange. A peer that trickles bytes is bounded too: the
/// slices run out whether or not bytes moved.
pub async fn bounded<T>(
    exchange: impl Future<Output = Result<T, TransportError>>,
    timeout: Duration,
    watch: &dyn PeerWatch,
    phase: &Phase,
) -> Result<T, TransportError> {
    let mut exchange = pin!(exchange);
    let mut budget = WaitBudget::new(timeout, watch);
    loop {
        if let Ok(done) = tokio::time::timeout(WAIT_SLICE, exchange.as_mut()).await {
            return done;
        }
        budget.slice_expired(phase.get())?;
    }
}

impl<S: TokioSocket> FramedStream<TokioIo<S>> {
    /// Until tokio's driver says the socket has bytes to read (or has hung up).
    pub async fn readable(&self) -> Result<(), TransportError> {
        poll_fn(|cx| self.stream.0.poll_read_ready(cx))
            .await
            .map_err(|e| TransportError::io("awaiting bytes to read", e))
    }

    /// Sends `payload` behind its length header. With `owed` (a client with requests in
    /// flight), it reads the replies that arrive while the kernel has no room, as
    /// [`send_reading`](FramedStream::send_reading) does, bounded by the `owed` bytes.
    pub async fn send_awaited(
        &mut self,
        payload: &[u8],
        owed: Option<usize>,
        budget: &mut WaitBudget<'_>,
        what: &'static str,
    ) -> Result<(), TransportError> {
        if let Some(staged) = self.stage(payload) {
            let parts = &mut [staged.frame()];
            let sent = self.write_awaited(parts, owed, budget, what).await;
            self.staging = staged.buffer;
            return sent;
        }
        let header = encode_len(payload.len());
        let mut parts = [IoSlice::new(&header), IoSlice::new(payload)];
        self.write_awaited(&mut parts, owed, budget, what).await
    }

    /// Writes all of `parts`: one `write` (one part) or `writev` of what is left per try.
    async fn write_awaited(
        &mut self,
        mut parts: &mut [IoSlice<'_>],
        owed: Option<usize>,
        budget: &mut WaitBudget<'_>,
        what: &'static str,
    ) -> Result<(), TransportError> {
        while !parts.is_empty() {
            match self.stream.write_now(parts) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.await_room_awaited(owed, budget, what).await?;
                }
                written => {
                    if let Some(n) = progress(written, budget, Direction::Send, what)? {
                        IoSlice::advance_slices(&mut parts, n);
                    }
                }
            }
        }
        Ok(())
    }

    /// Until the socket has room to write; with `owed`, or until replies arrive, which it
    /// reads ahead into the carried bytes, so that a server blocked on sending them goes on.
    async fn await_room_awaited(
        &mut self,
        owed: Option<usize>,
        budget: &mut WaitBudget<'_>,
        what: &'static str,
    ) -> Result<(), TransportError> {
        let socket = &self.stream.0;
        let readable = poll_fn(|cx| {
            if owed.is_some() {
                if let Poll::Ready(ready) = socket.poll_read_ready(cx) {
                    return Poll::Ready(ready.map(|()| true));
                }
            }
            socket
                .poll_write_ready(cx)
                .map(|ready| ready.map(|()| false))
        })
        .await
        .map_err(|e| TransportError::io(format!("awaiting room to send {what}"), e))?;
        match owed {
            Some(owed) if readable => self.read_ahead(owed, budget, what),
            _ => Ok(()),
        }
    }

    /// Receives one message into `payload` (the most the caller accepts) and returns its
    /// length, from the carried bytes first.
    pub async fn receive_awaited(
        &mut self,
        payload: &mut [u8],
        budget: &mut WaitBudget<'_>,
        what: &'static str,
    ) -> Result<usize, TransportError> {
        let mut incoming = self.incoming(payload);
        self.take_carried(&mut incoming)?;
        self.receive_rest_awaited(&mut incoming, budget, what).await
    }

    /// Reads until `incoming` is complete; returns its length.
    async fn receive_rest_awaited(
        &mut self,
        incoming: &mut Incoming<'_>,
        budget: &mut WaitBudget<'_>,
        what: &'static str,
    ) -> Result<usize, TransportError> {
        while !incoming.is_complete() {
            match incoming.read_from(&mut self.stream, &mut self.staging_in) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.readable().await?,
                read => {
                    let progressed = progress(read, budget, Direction::Receive, what);
                    if let Some(n) = progressed.map_err(|e| incoming.explain(e, what))? {
                        (self.account(incoming, n)).map_err(|e| incoming.explain(e, what))?;
                    }
                }
            }
        }
        self.expected = incoming.payload_filled;
        Ok(incoming.payload_filled)
    }

    /// An idle server's wait for a request, as [`receive_request`](FramedStream::receive_request):
    /// as long as it takes for the request to begin, looking at `stop` every [`IDLE_SLICE`];
    /// then the rest within `timeout`, given up if `stop` is set meanwhile.
    pub async fn await_request(
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
            if !incoming.has_begun() {
                // Whatever this slice ends with (bytes, or nothing), the loop reads again.
                if let Ok(ready) = tokio::time::timeout(IDLE_SLICE, self.readable()).await {
                    ready?;
                }
            }
        }
        let watch = StopFlag(stop);
        let mut budget = WaitBudget::new(timeout, &watch);
        let rest = self.receive_rest_awaited(&mut incoming, &mut budget, "a request");
        arrival(bounded(rest, timeout, &watch, &Cell::new("a request")).await)
    }

    /// The server's answer to the `len`-byte request in `buffer`, as
    /// [`reply`](FramedStream::reply) gives it: echoed, or tampered with as `reply` says.
    pub async fn reply_awaited(
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
        if let Reply::FlipByte(offset) = reply {
            if let Some(byte) = message.get_mut(offset) {
                *byte ^= 0xff;
            }
        }
        // Misframed: announce more than a buffer of this size carries, and send no payload.
        let misframed = encode_len(capacity + 1);
        let send = async {
            match reply {
                Reply::Misframed => {
                    let mut parts = [IoSlice::new(&misframed)];
                    (self.write_awaited(&mut parts, None, &mut budget, "the reply")).await
                }
                Reply::Echo | Reply::FlipByte(_) => {
                    (self.send_awaited(message, None, &mut budget, "the reply")).await
                }
            }
        };
        exchange(bounded(send, timeout, &watch, &Cell::new("the reply")).await)
    }
}
