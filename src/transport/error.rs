//! The one error type of every transport. Each variant that wraps a failure of the system keeps
//! it as its `source`; the texts are what users see (and what tests match), so they stay put.

use std::time::Duration;

use crate::report::format::thousands;

use super::pipe::PipeEndError;
use super::sigbus::SigbusError;
use super::socket_file::SocketPathError;
use super::toolkit::{ChannelNameError, HEADER_LEN};
use super::{Endpoint, PosixObject};

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

    #[error("ZeroMQ {op}: {source}")]
    Zmq {
        op: String,
        #[source]
        source: zmq::Error,
    },

    #[error(transparent)]
    InvalidChannel(#[from] ChannelNameError),

    #[error(transparent)]
    SocketPath(#[from] SocketPathError),

    #[error("endpoint {endpoint:?} does not belong to transport {transport}")]
    WrongEndpoint {
        endpoint: Endpoint,
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
    #[error("nothing to send: no loan of {len} bytes (this transport lends no memory, or the loan was smaller or already sent)")]
    NotLoaned { len: usize },

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
        TransportError::Zmq {
            op: op.into(),
            source,
        }
    }
}

/// `1.0 MB`, or `unknown` when the file system did not say.
fn free_text(free: Option<u64>) -> String {
    free.map_or("unknown".into(), |bytes| {
        format!("{:.1} MB", bytes as f64 / 1e6)
    })
}
