//! The IPC transports under test, each in its own file behind one trait pair.
//!
//! A transport has a client side that performs one round trip into a caller's buffer
//! ([`TransportClient`]) and a server side that echoes one request ([`TransportServer`]). A
//! zero-copy client also lends the caller its shared memory to build the request in and returns
//! the echo where it lies ([`TransportClient::loan`], [`SharedBytes`]).
//! Each transport's file describes it in one [`TransportSpec`] (names, addressing, how to build
//! either side, which named objects it creates, the largest message it carries), and
//! [`registry`] lists them. Adding a transport means adding its file here, its `mod` line below
//! and one line in the registry.

mod error;
pub mod owner_lock;
pub mod posix;
pub mod registry;
pub mod sigbus;
pub mod socket_file;
pub mod spin_wait;
pub mod stream_framing;
pub mod toolkit;
pub mod zmq_reqrep;

// The transports.
pub mod mqueue;
pub mod pipe;
pub mod shm_posix;
pub mod shm_spin;
pub mod shm_zc;
pub mod tcp;
pub mod unix_stream;
pub mod zmq_ipc;
pub mod zmq_tcp;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

pub use error::TransportError;
pub use pipe::PipeFds;
pub use posix::{PosixObject, SharedBytes};
pub use toolkit::{
    payload_capacity, validate_channel, ChannelName, ChannelNameError, WaitBudget, HEADER_LEN,
    WAIT_SLICE,
};

/// Client side of a transport: sends a request and waits for its echo.
pub trait TransportClient {
    /// Sends `request`, receives the reply into `response` and returns the reply's length.
    /// A reply longer than `response` is an error, never a silent truncation.
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError>;

    /// A round trip that leaves the reply where the transport received it, when it can (a
    /// ZeroMQ message), instead of copying it into `scratch`. The reply is valid until the next
    /// call. Transports that receive into a caller's buffer anyway use `scratch`.
    fn round_trip_in_place<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
    ) -> Result<&'a [u8], TransportError> {
        let len = self.round_trip(request, scratch)?;
        Ok(&scratch[..len])
    }

    /// How far past a page boundary the transport keeps payloads in shared memory, so that the
    /// caller can put its buffers at the same offset and every copy runs page-aligned.
    fn payload_page_offset(&self) -> usize {
        0
    }

    /// A zero-copy transport lends the caller `len` bytes of its shared memory to write the
    /// next request into, where the server will find it: no staging buffer, no copy on the way.
    /// Send it with [`round_trip_loaned`](TransportClient::round_trip_loaned). The default,
    /// None, is for transports that carry copies of a caller's buffer: use `round_trip`.
    fn loan(&mut self, _len: usize) -> Result<Option<SharedBytes<'_>>, TransportError> {
        Ok(None)
    }

    /// Sends the first `len` bytes of the last loan and returns the echo where it lies in the
    /// transport's shared memory, valid until the next call. [`SharedBytes::release`] says
    /// whether another process truncated the memory while the caller read it.
    fn round_trip_loaned(&mut self, len: usize) -> Result<SharedBytes<'_>, TransportError> {
        Err(TransportError::NotLoaned { len })
    }
}

/// Server side of a transport: echoes requests back unchanged (unless told to tamper, for tests).
pub trait TransportServer {
    /// Waits for the next request, however long that takes, and echoes it.
    /// Returns [`EchoOutcome::Stopped`] once `stop` is set while no request is in progress.
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError>;

    /// What the server should say on stderr when it stops, if anything (for example what its
    /// library dropped).
    fn closing_words(&mut self) -> Option<String> {
        None
    }

    /// What follows `READY` on the server's ready line: the address it actually listens on,
    /// when it chose one (an ephemeral TCP port). None prints a bare `READY`.
    fn ready_address(&self) -> Option<String> {
        None
    }
}

/// What became of one [`TransportServer::echo_one`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoOutcome {
    Echoed,
    Stopped,
}

/// A deliberate fault in one echo, injected by the server's hidden `--fault` option so that
/// tests can prove the driver detects broken peers through the real transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// Flip every bit of the byte at this offset of the reply (if the reply is that long).
    FlipByte(usize),
    /// Announce a reply longer than the transport can carry.
    BadLength,
    /// Receive the request and never reply.
    Swallow,
}

/// Checked by a client between the slices of a long wait, so that a dead server or a Ctrl-C
/// ends the wait promptly instead of after the full timeout.
pub trait PeerWatch: Send + Sync {
    fn check(&self) -> Result<(), TransportError>;
}

/// A watch that never objects: for clients whose peer is not a child process.
pub struct NoWatch;

impl PeerWatch for NoWatch {
    fn check(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

/// A watch for a server mid-request: gives up once its stop flag is set, so SIGTERM is not
/// held up by a client that vanished half-way through an exchange.
pub struct StopFlag<'a>(pub &'a AtomicBool);

impl PeerWatch for StopFlag<'_> {
    fn check(&self) -> Result<(), TransportError> {
        if self.0.load(std::sync::atomic::Ordering::Relaxed) {
            Err(TransportError::Interrupted)
        } else {
            Ok(())
        }
    }
}

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
    /// holds its ends: for a server, the ones it inherited ([`pipe::SERVER_FDS`], `--fds 3,4`);
    /// for the driver's client, its own ends of the run's pipes. Both sides work on copies of
    /// them, so whoever holds these descriptors keeps owning them.
    Pipes { fds: PipeFds, buffer_size: usize },
}

impl Endpoint {
    /// The channel and buffer size of a channel endpoint; `transport` names who asks, for the
    /// error when the endpoint is of another kind.
    pub fn channel(&self, transport: TransportKind) -> Result<(&str, usize), TransportError> {
        match self {
            Endpoint::ShmChannel {
                channel,
                buffer_size,
            } => Ok((channel, *buffer_size)),
            _ => Err(transport.mismatch(self)),
        }
    }

    /// The socket path and buffer size of a socket-file endpoint.
    pub fn socket_file(&self, transport: TransportKind) -> Result<(&Path, usize), TransportError> {
        match self {
            Endpoint::SocketFile { path, buffer_size } => Ok((path, *buffer_size)),
            _ => Err(transport.mismatch(self)),
        }
    }

    /// The address and buffer size of a TCP endpoint.
    pub fn tcp(
        &self,
        transport: TransportKind,
    ) -> Result<(std::net::SocketAddr, usize), TransportError> {
        match self {
            Endpoint::Tcp { addr, buffer_size } => Ok((*addr, *buffer_size)),
            _ => Err(transport.mismatch(self)),
        }
    }

    /// The pipe ends and buffer size of a pipe endpoint.
    pub fn pipes(&self, transport: TransportKind) -> Result<(PipeFds, usize), TransportError> {
        match self {
            Endpoint::Pipes { fds, buffer_size } => Ok((*fds, *buffer_size)),
            _ => Err(transport.mismatch(self)),
        }
    }

    /// The same endpoint at the address a server reported in its `READY` line, for endpoints
    /// whose address the server chooses (an ephemeral TCP port).
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
            other => Ok(other.clone()),
        }
    }

    /// Removes whatever a server that died without cleaning up left at this endpoint.
    /// Returns the names of the objects it removed.
    pub fn remove_leftovers(&self) -> Vec<String> {
        match self {
            Endpoint::ShmChannel { channel, .. } => match ChannelName::new(channel) {
                Ok(channel) => unlink_channel_objects(&channel),
                // No transport creates objects for a name it refuses.
                Err(_) => Vec::new(),
            },
            Endpoint::SocketFile { path, .. } => match std::fs::remove_file(path) {
                Ok(()) => vec![path.display().to_string()],
                Err(_) => Vec::new(),
            },
            // A listening socket ends with its process, and pipes with their last holder;
            // nothing stays behind.
            Endpoint::Tcp { .. } | Endpoint::Pipes { .. } => Vec::new(),
        }
    }
}

/// Every object any transport may create for `channel`.
pub fn channel_objects(channel: &ChannelName) -> Vec<PosixObject> {
    registry::TRANSPORTS
        .iter()
        .flat_map(|kind| (kind.0.channel_objects)(channel))
        .collect()
}

/// Unlinks every object of `channel` that exists, whichever transport made it; returns the
/// names it removed.
pub fn unlink_channel_objects(channel: &ChannelName) -> Vec<String> {
    channel_objects(channel)
        .into_iter()
        .filter(PosixObject::unlink)
        .map(|object| object.name().to_string())
        .collect()
}

/// Options shared by both sides of every transport.
#[derive(Debug, Clone, Copy)]
pub struct TransportOptions {
    /// Bound on any single wait inside a round trip (and on connecting).
    pub timeout: Duration,
    /// How long a waiter spins before it sleeps, for the transports that spin
    /// ([`spin_wait::spin_budget_for`]); None: the transport's default. Others ignore it.
    pub spin_budget: Option<Duration>,
}

/// How a transport's endpoints are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// Named POSIX IPC objects derived from a channel name.
    Channel,
    /// A socket file in a private directory, written `<scheme>PATH` on a command line.
    SocketFile { scheme: &'static str },
    /// A TCP address on loopback, written `<scheme>ADDR` with `--endpoint` when the transport
    /// has a scheme (`tcp://` for ZeroMQ), else plain with `--listen`.
    Tcp { scheme: Option<&'static str> },
    /// Two anonymous pipes the driver creates for each server, which inherits its ends at
    /// fixed descriptors, written `--fds RECEIVE,SEND` on its command line.
    InheritedPipes,
}

/// Builds the client side of a transport, connected to `endpoint`.
pub type ConnectFn = fn(
    &Endpoint,
    TransportOptions,
    Arc<dyn PeerWatch>,
) -> Result<Box<dyn TransportClient>, TransportError>;

/// Builds the server side of a transport, listening at `endpoint`.
pub type BindFn =
    fn(&Endpoint, TransportOptions) -> Result<Box<dyn TransportServer>, TransportError>;

/// Everything the rest of the tool knows about one transport. Each transport's file defines
/// one, as the constant behind its `KIND`.
pub struct TransportSpec {
    /// The name used on the command line and in exports.
    pub name: &'static str,
    /// The name printed for people.
    pub display_name: &'static str,
    pub addressing: Addressing,
    pub connect: ConnectFn,
    pub bind: BindFn,
    /// The objects it creates for a channel, so that cleanup can find them (none for
    /// transports addressed by a socket file).
    pub channel_objects: fn(&ChannelName) -> Vec<PosixObject>,
    /// The largest message it carries with a `buffer_size`-byte buffer, when that is less
    /// than the buffer's payload capacity (a kernel limit): larger sizes are skipped, not run.
    pub max_message: fn(buffer_size: usize) -> Option<MessageLimit>,
}

/// A transport's own limit on message size, and why larger messages are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLimit {
    pub bytes: usize,
    /// Why a larger message is skipped, as the table says it: `larger than msgsize_max 8192`.
    pub reason: String,
}

/// A transport, as the rest of the tool handles it: a cheap, comparable handle on its
/// [`TransportSpec`]. The registry's order is the order in which transports run and print.
#[derive(Clone, Copy)]
pub struct TransportKind(&'static TransportSpec);

impl TransportKind {
    pub const fn new(spec: &'static TransportSpec) -> TransportKind {
        TransportKind(spec)
    }

    /// Every transport, in the registry's order.
    pub fn all() -> &'static [TransportKind] {
        &registry::TRANSPORTS
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn display_name(self) -> &'static str {
        self.0.display_name
    }

    pub fn from_name(name: &str) -> Option<TransportKind> {
        Self::all().iter().copied().find(|kind| kind.name() == name)
    }

    /// The URL scheme of a socket-file endpoint on the command line (`ipc://PATH`), or None for
    /// transports addressed by a channel name.
    pub fn socket_scheme(self) -> Option<&'static str> {
        match self.0.addressing {
            Addressing::SocketFile { scheme } => Some(scheme),
            Addressing::Channel | Addressing::Tcp { .. } | Addressing::InheritedPipes => None,
        }
    }

    /// How the transport's endpoints are named.
    pub fn addressing(self) -> Addressing {
        self.0.addressing
    }

    /// The largest message the transport carries with a `buffer_size`-byte buffer, when a
    /// limit of its own makes that less than the buffer's payload capacity.
    pub fn max_message(self, buffer_size: usize) -> Option<MessageLimit> {
        (self.0.max_message)(buffer_size)
    }

    /// Builds the endpoint for one server process. `unique_name` is unique per run and case;
    /// `private_dir` is a fresh 0700 directory the caller owns, for transports that need a file.
    /// For pipes this is the server's side; the pipes themselves come with the endpoint's lease
    /// (`naming::EndpointLease`), which also knows the client's side.
    pub fn endpoint(self, unique_name: &str, private_dir: &Path, buffer_size: usize) -> Endpoint {
        match self.0.addressing {
            Addressing::Channel => Endpoint::ShmChannel {
                channel: unique_name.to_string(),
                buffer_size,
            },
            Addressing::SocketFile { .. } => Endpoint::SocketFile {
                path: private_dir.join("echo.sock"),
                buffer_size,
            },
            Addressing::Tcp { .. } => Endpoint::Tcp {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                buffer_size,
            },
            Addressing::InheritedPipes => Endpoint::Pipes {
                fds: pipe::SERVER_FDS,
                buffer_size,
            },
        }
    }

    /// Whether the endpoint lives in the file system and so needs a private directory.
    pub fn needs_private_dir(self) -> bool {
        self.socket_scheme().is_some()
    }

    pub fn connect(
        self,
        endpoint: &Endpoint,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<Box<dyn TransportClient>, TransportError> {
        (self.0.connect)(endpoint, options, watch)
    }

    pub fn bind(
        self,
        endpoint: &Endpoint,
        options: TransportOptions,
    ) -> Result<Box<dyn TransportServer>, TransportError> {
        (self.0.bind)(endpoint, options)
    }

    fn mismatch(self, endpoint: &Endpoint) -> TransportError {
        TransportError::WrongEndpoint {
            endpoint: endpoint.clone(),
            transport: self.name(),
        }
    }
}

/// Transports are the same when their names are: a name is what the command line, the
/// exports and the registry know them by.
impl PartialEq for TransportKind {
    fn eq(&self, other: &TransportKind) -> bool {
        self.name() == other.name()
    }
}

impl Eq for TransportKind {}

impl std::hash::Hash for TransportKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl std::fmt::Debug for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for TransportKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Prefix of the private directories the driver makes for file-based endpoints.
pub const PRIVATE_DIR_PREFIX: &str = "transport-bench-";
