//! The one error type of every transport.

use std::time::Duration;

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

    #[error("ZeroMQ {op}: {source}")]
    Zmq {
        op: String,
        #[source]
        source: zmq::Error,
    },

    #[error("a {len}-byte message does not fit: the buffer carries at most {capacity} bytes")]
    MessageTooLarge { len: usize, capacity: usize },

    #[error(
        "peer announced a {len}-byte message, more than the {capacity} bytes the buffer can carry"
    )]
    BadLengthHeader { len: usize, capacity: usize },

    #[error("{0}")]
    Protocol(String),

    /// The peer process is gone; the text says how (e.g. `server exited: killed by signal 9`).
    #[error("{0}")]
    PeerGone(String),

    #[error("interrupted by signal")]
    Interrupted,
}

impl TransportError {
    pub fn os(op: impl Into<String>, source: nix::Error) -> Self {
        TransportError::Os {
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
