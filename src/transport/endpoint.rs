//! Where a server listens and a client connects, one variant per way of addressing a
//! transport: a channel of named POSIX objects, a socket file, a TCP address, inherited pipes.

use std::path::{Path, PathBuf};

use crate::transport::error::TransportError;
use crate::transport::names::PipeFds;

/// Where a server listens and a client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The named POSIX objects of a channel: `/srb_<channel>_*` shared memory and semaphores,
    /// or `/<channel>_req` and `_resp` message queues.
    ShmChannel { channel: String, buffer_size: usize },
    /// A Unix socket file, inside a private directory.
    SocketFile { path: PathBuf, buffer_size: usize },
    /// A TCP address. Port 0 asks the server for an ephemeral port, which it reports in its
    /// `READY` line; the driver then connects to the address reported.
    Tcp {
        addr: std::net::SocketAddr,
        buffer_size: usize,
    },
    /// Two anonymous pipes, by the descriptors at which the process that uses the endpoint
    /// holds its ends: for a server, the ones it inherited ([`SERVER_FDS`](super::names::SERVER_FDS), `--fds 3,4`);
    /// for the driver's client, its own ends of the run's pipes. Both sides work on copies of
    /// them, so whoever holds these descriptors keeps owning them.
    Pipes { fds: PipeFds, buffer_size: usize },
}

impl Endpoint {
    /// The channel and buffer size of a channel endpoint; `transport` names who asks, for the
    /// error when the endpoint is of another kind.
    pub fn channel(&self, transport: &'static str) -> Result<(&str, usize), TransportError> {
        match self {
            Endpoint::ShmChannel {
                channel,
                buffer_size,
            } => Ok((channel, *buffer_size)),
            _ => Err(self.mismatch(transport)),
        }
    }

    /// The socket path and buffer size of a socket-file endpoint.
    pub fn socket_file(&self, transport: &'static str) -> Result<(&Path, usize), TransportError> {
        match self {
            Endpoint::SocketFile { path, buffer_size } => Ok((path, *buffer_size)),
            _ => Err(self.mismatch(transport)),
        }
    }

    /// The address and buffer size of a TCP endpoint.
    pub fn tcp(
        &self,
        transport: &'static str,
    ) -> Result<(std::net::SocketAddr, usize), TransportError> {
        match self {
            Endpoint::Tcp { addr, buffer_size } => Ok((*addr, *buffer_size)),
            _ => Err(self.mismatch(transport)),
        }
    }

    /// The pipe ends and buffer size of a pipe endpoint.
    pub fn pipes(&self, transport: &'static str) -> Result<(PipeFds, usize), TransportError> {
        match self {
            Endpoint::Pipes { fds, buffer_size } => Ok((*fds, *buffer_size)),
            _ => Err(self.mismatch(transport)),
        }
    }

    /// The same endpoint at the address a server reported in its `READY` line, for endpoints
    /// whose address the server chooses (an ephemeral TCP port, a one-shot socket's path).
    pub fn at_reported_address(&self, reported: &str) -> Result<Endpoint, TransportError> {
        match self {
            Endpoint::Tcp { buffer_size, .. } => {
                let addr = reported.trim().parse().map_err(|_| {
                    TransportError::Protocol(format!(
                        "the server reported {reported:?}, not an address such as 127.0.0.1:40123"
                    ))
                })?;
                Ok(Endpoint::Tcp {
                    addr,
                    buffer_size: *buffer_size,
                })
            }
            // A server that cannot choose its socket's path (ipc-channel's one-shot server
            // makes its own) reports the path it got.
            Endpoint::SocketFile { buffer_size, .. } if !reported.trim().is_empty() => {
                Ok(Endpoint::SocketFile {
                    path: PathBuf::from(reported.trim()),
                    buffer_size: *buffer_size,
                })
            }
            other => Ok(other.clone()),
        }
    }

    fn mismatch(&self, transport: &'static str) -> TransportError {
        TransportError::WrongEndpoint {
            endpoint: format!("{self:?}"),
            transport,
        }
    }
}
