//! The one error type of every transport. Each variant that wraps a failure of the system keeps
//! it as its `source`; the texts are what users see (and what tests match), so they stay put.

use std::os::fd::RawFd;
use std::time::Duration;

use nix::errno::Errno;

use crate::numbers::thousands;

use super::names::{ChannelNameError, PosixObject, SocketPathError};
use super::pattern::Pattern;
use super::wire::HEADER_LEN;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("timed out after {} waiting for {what}", humantime::format_duration(*.timeout))]
    Timeout { what: String, timeout: Duration },

    #[error("{op}: {source}")]
    Os {
        op: String,
        #[source]
        source: nix::Error,
    },

    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },

    /// A library a transport is built on (ZeroMQ, and any library wrapped as a transport)
    /// failed: `library` names it, `op` says what we asked of it, and its own error is kept.
    #[error("{library} {op}: {source}")]
    Library {
        library: &'static str,
        op: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A wait ran out while this process could open no descriptor (`ulimit -n`): the library
    /// it waited on (libzmq retries a connection whose socket it cannot open, silently) never
    /// said why.
    #[error("timed out after {} waiting for {what}: this process cannot open another file descriptor ({source}), so {library} could not open its connection (raise ulimit -n)", humantime::format_duration(*.timeout))]
    OutOfDescriptors {
        library: &'static str,
        what: String,
        timeout: Duration,
        #[source]
        source: Errno,
    },

    /// A ZeroMQ client's wait ran out on a connection whose peer broke ZeroMQ's handshake off
    /// (failed it, or hung up before it completed): the peer does not speak ZMTP.
    #[error("timed out after {} waiting for {what}: the peer at {endpoint} accepted the connection but broke off ZeroMQ's handshake, so it looks like a server of another protocol (a plain tcp or unix-stream server?), not a ZeroMQ one", humantime::format_duration(*.timeout))]
    NotZeroMq {
        what: String,
        timeout: Duration,
        endpoint: String,
    },

    /// A byte stream's peer sent another protocol's bytes where a length-framed message was
    /// due (a ZeroMQ peer's greeting to a plain TCP client or server).
    #[error("the peer sent {protocol} where {what} was due, not a length-framed message: it looks like {peer}, not this transport's")]
    OtherProtocol {
        what: String,
        protocol: &'static str,
        peer: &'static str,
    },

    /// A library that aborts when it cannot start a thread was not handed the work: the threads
    /// it starts could not (`ulimit -u`).
    #[error("cannot start the {count} threads {library} needs: {source}")]
    LibraryThreads {
        library: &'static str,
        count: usize,
        #[source]
        source: std::io::Error,
    },

    /// A library that aborts the process when it cannot open a descriptor (libzmq's
    /// `epoll.cpp`) would need more than this process may still open.
    #[error(
        "this process cannot open the {count} file descriptors {library} needs for a context and \
         its socket ({errno}): raise the open-files limit (ulimit -n)"
    )]
    LibraryDescriptors {
        library: &'static str,
        count: usize,
        errno: nix::errno::Errno,
    },

    #[error(transparent)]
    InvalidChannel(#[from] ChannelNameError),

    #[error(transparent)]
    SocketPath(#[from] SocketPathError),

    /// `endpoint` is the endpoint as `{:?}` shows it.
    #[error("endpoint {endpoint} does not belong to transport {transport}")]
    WrongEndpoint {
        endpoint: String,
        transport: &'static str,
    },

    #[error("name {name:?} contains NUL")]
    InvalidObjectName {
        name: String,
        #[source]
        source: std::ffi::NulError,
    },

    #[error("buffer size {buffer_size} must be more than {HEADER_LEN} bytes and fit a u32 length")]
    BufferSize { buffer_size: usize },

    #[error("buffer size {len} is too large")]
    BufferTooLarge {
        len: usize,
        #[source]
        source: std::num::TryFromIntError,
    },

    /// /dev/shm cannot hold what a server was about to create.
    #[error("not enough space in /dev/shm for {what}: {} bytes ({} free)", thousands(*.bytes as u64), free_text(*.free))]
    NoSpace {
        what: String,
        bytes: usize,
        free: Option<u64>,
    },

    /// `mq_open` said EMFILE while this process could open another descriptor: the user's
    /// message queues (every process's of the user) would pass `RLIMIT_MSGQUEUE`.
    #[error("creating message queue {name} ({sizes}): the user's message queues would pass the per-user limit RLIMIT_MSGQUEUE (ulimit -q) of {} bytes; this queue takes about {} of them, the user's other queues (this run's other servers among them) the rest ({source})", thousands(*.limit_bytes), thousands(*.queue_bytes))]
    MessageQueueLimit {
        name: String,
        sizes: String,
        queue_bytes: u64,
        limit_bytes: u64,
        #[source]
        source: Errno,
    },

    #[error("not enough space in /dev/shm for {count} × {} bytes ({} free)", thousands(*.bytes as u64), free_text(Some(*.free)))]
    ShmTooFull {
        count: usize,
        bytes: usize,
        free: u64,
    },

    #[error("cannot allocate {bytes} bytes for the {what}: {source}")]
    Allocation {
        what: &'static str,
        bytes: usize,
        #[source]
        source: std::collections::TryReserveError,
    },

    #[error("shared memory {name} has {actual} bytes, fewer than the buffer size {required}")]
    ObjectTooSmall {
        name: String,
        actual: usize,
        required: usize,
    },

    /// Under an object's name lies something no server makes (a FIFO, a directory, a link),
    /// planted there by someone else: it is looked at, never used as the object.
    #[error("{path} is {found}, not a {}: no server makes that; something else put it there", .object.kind())]
    NotAnObject {
        object: PosixObject,
        path: String,
        found: &'static str,
    },

    /// Another process shrank a mapped object under us (see `sigbus`): what we read was zeros,
    /// what we wrote reached no one, and the object is lost to this transport.
    #[error("the {} {} was truncated by another process", .object.kind(), .object.name())]
    Truncated { object: PosixObject },

    #[error("cannot watch {name} for truncation: {source}")]
    TruncationWatch {
        name: String,
        #[source]
        source: SigbusError,
    },

    #[error("a {len}-byte message does not fit: the buffer carries at most {capacity} bytes")]
    MessageTooLarge { len: usize, capacity: usize },

    #[error(
        "peer announced a {len}-byte message, more than the {capacity} bytes the buffer can carry"
    )]
    BadLengthHeader { len: usize, capacity: usize },

    /// `round_trip_loaned` without a loan of at least `len` bytes to send.
    #[error("nothing to send: no loan of {len} bytes (the transport lends no memory, or the loan was smaller or already sent)")]
    NotLoaned { len: usize },

    /// A pattern the transport's protocol cannot carry as it was connected (`send` on a
    /// ZeroMQ client connected for round trips).
    #[error("{transport} cannot carry the {pattern} pattern: {why}")]
    PatternUnsupported {
        transport: &'static str,
        pattern: Pattern,
        why: &'static str,
    },

    /// A client method the transport does not implement: its spec's
    /// [`supports`](crate::transport::TransportKind::supports) should have refused the workload
    /// that needs it, before anything started.
    #[error("the client does not implement {operation}: its transport's spec should have refused the workload")]
    NotImplemented { operation: &'static str },

    /// The two sides of a channel were set up for different patterns: the server made its
    /// segment for one, the client connected for the other.
    #[error("the {transport} server on this channel was started for the {server} pattern, this client for {client}: give both sides the same --pattern")]
    PatternMismatch {
        transport: &'static str,
        server: Pattern,
        client: Pattern,
    },

    /// A stream's ring asked to be deeper than a ring can be, or empty.
    #[error(
        "a ring of {depth} slots: a stream's ring has 1 to {} slots",
        crate::transport::stream::MAX_RING_DEPTH
    )]
    RingDepth { depth: usize },

    /// A server's `reply` with no request handed out by `next_request` to answer.
    #[error("nothing to reply to: no request was handed out, or it was already answered")]
    NoRequest,

    /// The peer broke the exchange's rules in a way no other variant names (a multipart ZeroMQ
    /// message, a reply longer than the receive buffer).
    #[error("{0}")]
    Protocol(String),

    /// The peer process is gone; the text says how (e.g. `server exited: killed by signal 9`).
    #[error("{0}")]
    PeerGone(String),

    #[error("interrupted by signal")]
    Interrupted,

    #[error(transparent)]
    PipeEnd(#[from] PipeEndError),
}

impl TransportError {
    /// A wait ran out, whatever else is known about why.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            TransportError::Timeout { .. }
                | TransportError::OutOfDescriptors { .. }
                | TransportError::NotZeroMq { .. }
        )
    }

    pub fn os(op: impl Into<String>, source: nix::Error) -> Self {
        TransportError::Os {
            op: op.into(),
            source,
        }
    }

    pub fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        TransportError::Io {
            op: op.into(),
            source,
        }
    }

    pub fn zmq(op: impl Into<String>, source: zmq::Error) -> Self {
        TransportError::library("ZeroMQ", op, source)
    }

    /// A failure of the library a transport wraps, with its error as the source.
    pub fn library(
        library: &'static str,
        op: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        TransportError::Library {
            library,
            op: op.into(),
            source: Box::new(source),
        }
    }
}

/// `1.0 MB`, or `unknown` when the file system did not say.
fn free_text(free: Option<u64>) -> String {
    free.map_or("unknown".into(), |bytes| {
        format!("{:.1} MB", bytes as f64 / 1e6)
    })
}

/// Why descriptors cannot be the pipe ends of an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum PipeEndError {
    #[error("descriptor {fd} is not open: {source}")]
    NotOpen {
        fd: RawFd,
        #[source]
        source: Errno,
    },
    #[error("descriptor {fd} is not a pipe")]
    NotAPipe { fd: RawFd },
    #[error("descriptor {fd} is not the {end} end of a pipe")]
    WrongEnd { fd: RawFd, end: &'static str },
}

/// What a server holds of a request, or [`TransportError::NoRequest`] if it holds none. Unlike
/// `ok_or(TransportError::NoRequest)`, which builds the error and drops it again on every
/// request (a call to the error's drop glue on the server's hot path), it builds the error
/// only when it is returned.
pub trait HeldRequest<T> {
    fn or_no_request(self) -> Result<T, TransportError>;
}

impl<T> HeldRequest<T> for Option<T> {
    #[inline]
    fn or_no_request(self) -> Result<T, TransportError> {
        match self {
            Some(held) => Ok(held),
            None => Err(TransportError::NoRequest),
        }
    }
}

/// Why a mapping cannot be watched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigbusError {
    #[error("installing the SIGBUS handler: {0}")]
    Install(#[source] Errno),
    #[error("all {capacity} slots for watched mappings are taken")]
    RegistryFull { capacity: usize },
    /// The handler replaces whole pages, so it only accepts mappings that start on one.
    #[error("the mapping at {start:#x} does not start on a page boundary")]
    Unaligned { start: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_error_names_the_library_and_keeps_its_source() {
        let error = TransportError::zmq("receiving the reply", zmq::Error::EAGAIN);
        assert_eq!(
            error.to_string(),
            format!("ZeroMQ receiving the reply: {}", zmq::Error::EAGAIN)
        );
        let source = std::error::Error::source(&error).expect("the library's error is kept");
        assert_eq!(
            source.downcast_ref::<zmq::Error>(),
            Some(&zmq::Error::EAGAIN)
        );
    }
}
