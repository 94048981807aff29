//! Pipe: two anonymous pipes between the driver and the server it spawns, one per direction,
//! each message framed as in Unix stream (a 4-byte native-endian `u32` length, then the
//! payload) by [`framing`](crate::transport::blocks::framing).
//!
//! The driver creates the pipes for every run
//! ([`PipePair`](crate::transport::os::pipe::PipePair), all four ends close-on-exec) and the
//! server child inherits its two ends at fixed descriptors,
//! [`SERVER_FDS`](crate::transport::names::SERVER_FDS) (`--fds 3,4`): never its stdin or stdout, which carry `READY` and nothing else. The driver closes its copies
//! of the server's ends as soon as the server is spawned, so that a server that dies takes the
//! last write end of the reply pipe with it and the client reads EOF at once.
//!
//! Waiting. Pipes have no `SO_RCVTIMEO`, so the ends are blocking and every blocking call runs
//! under the wait watchdog, as the sockets' do: a call that lasts is cut by its signal (`EINTR`),
//! which the framing takes as an empty slice; after it the server looks at its stop flag and the
//! client asks its watch. Per round trip each side makes two system calls (`writev`, `readv`),
//! as `perf bench sched pipe` does. Where the watchdog cannot watch, or the kernel refuses
//! `RWF_NOWAIT` on a pipe, [`PipeStream`] falls back to `O_NONBLOCK` ends and a `poll` of one
//! slice (the server's idle slice of 100 ms, the client's 50 ms) before each read.
//!
//! A one-way stream (`--pattern stream`) is the request pipe alone: each message is one
//! `writev`, which polls only while the pipe is full, and the server reads on without writing
//! (see [`framing`](crate::transport::blocks::framing)); the reply pipe carries the end's
//! acknowledgement only.
//!
//! Requests in flight (`--in-flight N`) are frames written one after another on the request
//! pipe; the server answers them one at a time. While a submit finds the request pipe full, it
//! polls both of its ends and reads the replies that arrive (non-blocking reads and writes on
//! the ends, which are `O_NONBLOCK` anyway), so that a server blocked on a full reply pipe can
//! go on to read: see [`framing`](crate::transport::blocks::framing).
//!
//! Pipe size. A pipe holds 64 KiB by default; a larger message needs the reader to drain it
//! before the writer can go on. The server raises both pipes towards its buffer size with
//! `F_SETPIPE_SZ`, as far as `/proc/sys/fs/pipe-max-size` allows an unprivileged process
//! (1 MiB by default; the user's `pipe-user-pages-soft` quota can refuse it, and then the
//! default stays), and says the size it got in its closing words on stderr.

use nix::poll::{poll, PollFd, PollTimeout};
use std::io::IoSlice;
use std::os::fd::BorrowedFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::blocks::aligned::AlignedBuffer;
use crate::transport::blocks::framing::{
    pending_message, request_buffer, Arrival, Exchange, FramedClient, FramedStream,
    NonBlockingStream,
};
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::names::PipeFds;
use crate::transport::os::pipe::{PipeSizes, PipeStream};
use crate::transport::spec::{
    any_workload, Addressing, EchoOutcome, Reply, TransportKind, TransportOptions, TransportServer,
    TransportSpec,
};
use crate::transport::wait::{idle_until_request, PeerWatch, IDLE_SLICE, WAIT_SLICE};

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "pipe",
    display_name: "Pipe",
    addressing: Addressing::InheritedPipes,
    connect: |endpoint, options, watch| {
        let (fds, buffer_size) = endpoint.pipes(KIND.name())?;
        Ok(Box::new(connect(fds, buffer_size, options, watch)?))
    },
    bind: |endpoint, options| {
        let (fds, buffer_size) = endpoint.pipes(KIND.name())?;
        Ok(Box::new(PipeServer::bind(fds, buffer_size, options)?))
    },
    summary: "two anonymous pipes to the spawned server, length-framed",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

/// The requesting side: the reply pipe's read end and the request pipe's write end.
type PipeClient = FramedClient<PipeStream>;

/// The reads and writes that must not wait: `RWF_NOWAIT` on the blocking ends (see
/// [`PipeStream::read_now`]).
impl NonBlockingStream for PipeStream {
    fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        PipeStream::read_now(self, buf)
    }

    fn write_now(&mut self, parts: &[IoSlice<'_>]) -> std::io::Result<usize> {
        PipeStream::write_now(self, parts)
    }

    fn ends(&self) -> (BorrowedFd<'_>, BorrowedFd<'_>) {
        (self.receive_end(), self.send_end())
    }
}

/// A client on copies of the ends `fds` names; the caller keeps its own.
fn connect(
    fds: PipeFds,
    buffer_size: usize,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
) -> Result<PipeClient, TransportError> {
    // Slices of WAIT_SLICE: between them the watch asks waitpid whether the server died
    // (a dead server also closes the reply pipe, which ends the wait at once).
    let stream = PipeStream::open(fds, WAIT_SLICE)?;
    Ok(FramedClient::new(
        stream,
        buffer_size,
        options.timeout,
        watch,
    ))
}

/// The echoing side: its inherited ends, and one reusable buffer.
pub struct PipeServer {
    pipes: FramedStream<PipeStream>,
    buffer: AlignedBuffer,
    /// The length of the request in `buffer` handed out and not answered yet.
    pending: Option<usize>,
    timeout: Duration,
    sizes: PipeSizes,
    /// The client closed its ends. Pipes have no next client, so all that is left is to wait
    /// for SIGTERM, which the driver sends once the run is over.
    hung_up: bool,
}

impl PipeServer {
    /// A server on copies of the ends `fds` names (its inherited 3 and 4), which it enlarges
    /// towards `buffer_size` bytes each.
    pub fn bind(
        fds: PipeFds,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<PipeServer, TransportError> {
        // The idle server's wait for a request is cut by the watchdog (or, without it, a poll
        // of IDLE_SLICE), after which it looks at its stop flag (see the module's doc).
        let stream = PipeStream::open(fds, IDLE_SLICE)?;
        let sizes = PipeSizes::raise(&stream, buffer_size)?;
        Ok(PipeServer {
            pipes: FramedStream::new(stream),
            buffer: request_buffer(buffer_size)?,
            pending: None,
            timeout: options.timeout,
            sizes,
            hung_up: false,
        })
    }
}

/// Waits, in idle slices, until `stop` is set: for a server that has nothing left to serve.
/// A `poll` on no descriptor is a sleep that a signal interrupts at once.
fn idle_until_stopped(stop: &AtomicBool) -> Result<(), TransportError> {
    let slice = PollTimeout::try_from(IDLE_SLICE).unwrap_or(PollTimeout::MAX);
    idle_until_request(stop, || {
        let mut no_fds: [PollFd<'_>; 0] = [];
        let _ = poll(&mut no_fds, slice);
        Ok(false)
    })
    .map(drop)
}

impl PipeServer {
    /// Drops a request handed out and not answered, and waits for the next one; its length,
    /// or None once stopped. Once the client has closed its ends there is nothing left to
    /// serve: it waits for the stop.
    fn take_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = None;
        if !self.hung_up {
            match (self.pipes).receive_request(&mut self.buffer, stop, self.timeout)? {
                Arrival::Message(len) => return Ok(Some(len)),
                Arrival::Stopped => return Ok(None),
                Arrival::HungUp => self.hung_up = true,
            }
        }
        idle_until_stopped(stop)?;
        Ok(None)
    }

    /// Sends the answer to the `len`-byte request in the buffer. Once the client has closed
    /// its ends there is nothing left to serve: it waits for the stop.
    #[inline(always)]
    fn answer(
        &mut self,
        len: usize,
        stop: &AtomicBool,
        reply: Reply,
    ) -> Result<EchoOutcome, TransportError> {
        match (self.pipes).reply(&mut self.buffer, len, stop, self.timeout, reply)? {
            Exchange::Echoed => return Ok(EchoOutcome::Echoed),
            Exchange::Stopped => return Ok(EchoOutcome::Stopped),
            Exchange::HungUp => self.hung_up = true,
        }
        idle_until_stopped(stop)?;
        Ok(EchoOutcome::Stopped)
    }
}

impl TransportServer for PipeServer {
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = self.take_request(stop)?;
        Ok(self.pending)
    }

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

    fn closing_words(&mut self) -> Option<String> {
        Some(self.sizes.to_string())
    }
}
