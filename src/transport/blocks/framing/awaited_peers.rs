//! The client and the server of the tokio transports: the benchmark's synchronous calls, each
//! one `block_on` of an async exchange on the [awaited](super::awaited) framing, and the runtime
//! they run on, current-thread or multi-thread ([`TokioRuntime`]).
//!
//! One `block_on` per round trip, of an async "write the frame, read the echo", is what an
//! application awaiting a response does; the server's echo is likewise one `block_on` of "await
//! the request, write the echo" ([`TokioServer::echo`]). `Runtime::block_on` polls its future on
//! the calling thread. On the current-thread runtime that thread also runs the I/O driver
//! (`epoll_wait`) and the timers: no thread is started. On the multi-thread runtime the I/O
//! driver runs on a worker thread (one per CPU, tokio's default, as under `#[tokio::main]`), which
//! wakes the calling thread (a futex) when the socket is ready: every wake-up crosses threads,
//! as for the `main` future of a `#[tokio::main]` program that awaits its peer itself.

use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};

use super::awaited::{bounded, Phase, TokioIo, TokioSocket};
use super::listener::accept_unless_stopped;
use super::{Arrival, ConnectionServer, Exchange, FramedStream, Listener, PAYLOAD_PAGE_OFFSET};
use crate::transport::blocks::payload::check_message_fits;
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::spec::{EchoOutcome, Reply, TransportClient, TransportServer};
use crate::transport::wait::{ready_before, PeerWatch, WaitBudget};
use crate::transport::wire::{payload_capacity, HEADER_LEN};

/// Which of tokio's runtimes a side runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokioRuntime {
    /// Everything on the calling thread: the future, the I/O driver, the timers.
    CurrentThread,
    /// tokio's worker threads (one per CPU) drive I/O and timers; `block_on` polls the future on
    /// the calling thread.
    MultiThread,
}

impl TokioRuntime {
    /// Starts the runtime, with the I/O driver and the timers the framing awaits.
    pub fn start(self) -> Result<Runtime, TransportError> {
        let mut builder = match self {
            TokioRuntime::CurrentThread => Builder::new_current_thread(),
            TokioRuntime::MultiThread => Builder::new_multi_thread(),
        };
        builder
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| TransportError::io("starting tokio's runtime", e))
    }
}

/// The requesting side: one connected tokio socket, and the runtime its exchanges run on.
pub struct TokioClient<S> {
    // Field order is drop order: the socket leaves tokio's driver before the runtime ends.
    connection: FramedStream<TokioIo<S>>,
    capacity: usize,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
    /// Requests submitted whose replies were not collected yet.
    in_flight: usize,
    runtime: Runtime,
}

impl<S: TokioSocket> TokioClient<S> {
    /// A client on `connected`, a socket the standard library connected (once, before anything
    /// is measured), handed to a new runtime of `flavour`; its server has a `buffer_size`-byte
    /// buffer, and every exchange is bounded by `timeout`, in slices that ask `watch`.
    pub fn new(
        connected: S::Std,
        flavour: TokioRuntime,
        buffer_size: usize,
        timeout: Duration,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<TokioClient<S>, TransportError> {
        let runtime = flavour.start()?;
        let socket = {
            let _entered = runtime.enter();
            S::from_std(connected)
                .map_err(|e| TransportError::io("handing the socket to tokio", e))?
        };
        Ok(TokioClient {
            connection: FramedStream::new(TokioIo(socket)),
            capacity: payload_capacity(buffer_size),
            timeout,
            watch,
            in_flight: 0,
            runtime,
        })
    }

    /// Sends `message` in one `block_on`, reading replies ahead meanwhile if `owed` says so.
    fn send_one(
        &mut self,
        message: &[u8],
        owed: Option<usize>,
        what: &'static str,
    ) -> Result<(), TransportError> {
        check_message_fits(message.len(), self.capacity)?;
        let (timeout, watch) = (self.timeout, self.watch.as_ref());
        let connection = &mut self.connection;
        let send = async {
            let mut budget = WaitBudget::new(timeout, watch);
            connection
                .send_awaited(message, owed, &mut budget, what)
                .await
        };
        (self.runtime).block_on(bounded(send, timeout, watch, &Cell::new(what)))
    }

    /// Receives one message into `payload` in one `block_on`.
    fn receive_one(
        &mut self,
        payload: &mut [u8],
        what: &'static str,
    ) -> Result<usize, TransportError> {
        let accepted = self.capacity.min(payload.len());
        let (timeout, watch) = (self.timeout, self.watch.as_ref());
        let connection = &mut self.connection;
        let receive = async {
            let mut budget = WaitBudget::new(timeout, watch);
            (connection.receive_awaited(&mut payload[..accepted], &mut budget, what)).await
        };
        (self.runtime).block_on(bounded(receive, timeout, watch, &Cell::new(what)))
    }
}

impl<S: TokioSocket> TransportClient for TokioClient<S> {
    /// Away from the kernel's page-led buffers (see [`PAYLOAD_PAGE_OFFSET`]).
    fn payload_page_offset(&self) -> usize {
        PAYLOAD_PAGE_OFFSET
    }

    /// One `block_on` of "write the frame, read the echo".
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        check_message_fits(request.len(), self.capacity)?;
        let accepted = self.capacity.min(response.len());
        let (timeout, watch) = (self.timeout, self.watch.as_ref());
        let phase: Phase = Cell::new("the request");
        let connection = &mut self.connection;
        let exchange = async {
            let mut budget = WaitBudget::new(timeout, watch);
            (connection.send_awaited(request, None, &mut budget, "the request")).await?;
            phase.set("the reply");
            let response = &mut response[..accepted];
            (connection.receive_awaited(response, &mut budget, "the reply")).await
        };
        (self.runtime).block_on(bounded(exchange, timeout, watch, &phase))
    }

    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        self.send_one(message, None, "a stream message")
    }

    /// The request's frame goes out whole, reading the replies that arrive while the kernel has
    /// no room, so that neither side waits on a write the other does not read.
    fn submit(&mut self, request: &[u8]) -> Result<(), TransportError> {
        let owed = self.in_flight.saturating_mul(HEADER_LEN + self.capacity);
        self.send_one(request, Some(owed), "a request in flight")?;
        self.in_flight += 1;
        Ok(())
    }

    fn collect<'a>(&'a mut self, scratch: &'a mut [u8]) -> Result<&'a [u8], TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let len = self.receive_one(scratch, "a reply")?;
        self.in_flight -= 1;
        Ok(&scratch[..len])
    }

    /// Awaits replies in slices (one `block_on` each) until the oldest is whole in the carried
    /// bytes, or `until` came.
    fn await_reply_until(&mut self, until: Instant) -> Result<bool, TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let owed = self.in_flight.saturating_mul(HEADER_LEN + self.capacity);
        let (capacity, watch) = (self.capacity, Arc::clone(&self.watch));
        let mut budget = WaitBudget::new(self.timeout, watch.as_ref());
        let (connection, runtime) = (&mut self.connection, &self.runtime);
        ready_before(until, watch.as_ref(), |slice| {
            if !connection.holds_whole_message(capacity) {
                let readable = async { tokio::time::timeout(slice, connection.readable()).await };
                if let Ok(ready) = runtime.block_on(readable) {
                    ready?;
                    connection.read_ahead(owed, &mut budget, "a request in flight")?;
                }
            }
            Ok(connection.holds_whole_message(capacity))
        })
    }
}

/// The echoing side: a [`ConnectionServer`] (its listener, the connection being served, its
/// buffer and its tally of dropped clients) whose exchanges are awaited on `runtime`.
pub struct TokioServer<L: Listener> {
    // Field order is drop order: the connection leaves tokio's driver before the runtime ends.
    served: ConnectionServer<L>,
    runtime: Runtime,
}

impl<S: TokioSocket, L: Listener<Stream = TokioIo<S>>> TokioServer<L> {
    /// A server on `listener` whose accepted sockets register with a new runtime of `flavour`.
    pub fn new(
        listener: L,
        flavour: TokioRuntime,
        buffer_size: usize,
        timeout: Duration,
    ) -> Result<TokioServer<L>, TransportError> {
        let served = ConnectionServer::new(listener, buffer_size, timeout)?;
        let runtime = flavour.start()?;
        Ok(TokioServer { served, runtime })
    }

    /// The connection to serve: the current one, or the next client accepted (None once `stop`
    /// was set while waiting for one). Accepting is not awaited: a server waits for its client
    /// once, before anything is measured; the listener's `accept` registers the socket with the
    /// runtime entered here.
    fn connected(&mut self, stop: &AtomicBool) -> Result<bool, TransportError> {
        if self.served.connection.is_none() {
            let _entered = self.runtime.enter();
            match accept_unless_stopped(&self.served.listener, stop)? {
                Some(stream) => self.served.connection = Some(FramedStream::new(stream)),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The connection failed (not the server): count why, and serve the next one.
    fn drop_connection(&mut self, failure: Option<&TransportError>) {
        if let Some(failure) = failure {
            self.served.dropped.record(failure);
        }
        self.served.connection = None;
    }
}

impl<S, L> TransportServer for TokioServer<L>
where
    S: TokioSocket,
    L: Listener<Stream = TokioIo<S>>,
    TokioIo<S>: Read + Write,
{
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.served.pending = None;
        loop {
            if !self.connected(stop)? {
                return Ok(None);
            }
            let served = &mut self.served;
            let Some(connection) = served.connection.as_mut() else {
                continue;
            };
            let arrival = connection.await_request(&mut served.buffer, stop, served.timeout);
            match self.runtime.block_on(arrival) {
                Ok(Arrival::Message(len)) => {
                    self.served.pending = Some(len);
                    return Ok(Some(len));
                }
                Ok(Arrival::Stopped) => return Ok(None),
                Ok(Arrival::HungUp) => self.drop_connection(None),
                Err(e) => self.drop_connection(Some(&e)),
            }
        }
    }

    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let len = self.served.pending.take().or_no_request()?;
        let served = &mut self.served;
        let Some(connection) = served.connection.as_mut() else {
            return Err(TransportError::NoRequest);
        };
        let answer = connection.reply_awaited(&mut served.buffer, len, stop, served.timeout, reply);
        match self.runtime.block_on(answer) {
            Ok(Exchange::Echoed) => return Ok(EchoOutcome::Echoed),
            Ok(Exchange::Stopped) => return Ok(EchoOutcome::Stopped),
            Ok(Exchange::HungUp) => self.drop_connection(None),
            Err(e) => self.drop_connection(Some(&e)),
        }
        Ok(EchoOutcome::PeerLeft)
    }

    /// One `block_on` of "await the request, write the echo": the outcome of `next_request`
    /// then `reply`, with one runtime entry per exchange, as the client's round trip.
    fn echo(&mut self, stop: &AtomicBool) -> Result<EchoOutcome, TransportError> {
        loop {
            if !self.connected(stop)? {
                return Ok(EchoOutcome::Stopped);
            }
            let served = &mut self.served;
            let Some(connection) = served.connection.as_mut() else {
                continue;
            };
            let (buffer, timeout) = (&mut served.buffer, served.timeout);
            let exchange = async {
                match connection.await_request(buffer, stop, timeout).await {
                    Ok(Arrival::Message(len)) => {
                        let echoed =
                            connection.reply_awaited(buffer, len, stop, timeout, Reply::Echo);
                        Ok(Some(echoed.await))
                    }
                    Ok(Arrival::Stopped) => Ok(Some(Ok(Exchange::Stopped))),
                    Ok(Arrival::HungUp) => Ok(None),
                    Err(e) => Err(e),
                }
            };
            match self.runtime.block_on(exchange) {
                Ok(Some(Ok(Exchange::Echoed))) => return Ok(EchoOutcome::Echoed),
                Ok(Some(Ok(Exchange::Stopped))) => return Ok(EchoOutcome::Stopped),
                // The reply's connection ended: as `reply` says it.
                Ok(Some(Ok(Exchange::HungUp))) => self.drop_connection(None),
                Ok(Some(Err(e))) => self.drop_connection(Some(&e)),
                // Before a request: as `next_request`, which serves the next connection.
                Ok(None) => {
                    self.drop_connection(None);
                    continue;
                }
                Err(e) => {
                    self.drop_connection(Some(&e));
                    continue;
                }
            }
            return Ok(EchoOutcome::PeerLeft);
        }
    }

    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        self.served.inspect(look)
    }

    fn consume(&mut self) -> Result<(), TransportError> {
        self.served.consume()
    }

    fn closing_words(&mut self) -> Option<String> {
        self.served.closing_words()
    }

    fn ready_address(&self) -> Option<String> {
        self.served.ready_address()
    }
}
