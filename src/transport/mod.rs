//! The IPC transports under test, each in its own file behind one trait pair.
//!
//! A transport has a client side that performs one round trip into a caller's buffer
//! ([`TransportClient`]) and a server side that echoes one request ([`TransportServer`]).
//! [`TransportKind`] is the factory: it names a transport, allocates a fresh endpoint for it,
//! and builds either side. Adding a transport means adding a file here and a variant below.

mod error;
pub mod owner_lock;
pub mod posix;
pub mod shm_posix;
pub mod shm_spin;
pub mod socket_file;
pub mod toolkit;
pub mod unix_stream;
pub mod zmq_ipc;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use error::TransportError;
pub use toolkit::{
    payload_capacity, validate_channel, ChannelName, ChannelNameError, WaitBudget, HEADER_LEN,
    WAIT_SLICE,
};

/// Client side of a transport: sends a request and waits for its echo.
pub trait TransportClient {
    /// Sends `request`, receives the reply into `response` and returns the reply's length.
    /// A reply longer than `response` is an error, never a silent truncation.
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError>;
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
    /// `/srb_<channel>_*` POSIX shared-memory objects and semaphores.
    ShmChannel { channel: String, buffer_size: usize },
    /// A Unix socket file, inside a private directory.
    SocketFile { path: PathBuf, buffer_size: usize },
}

impl Endpoint {
    /// Removes whatever a server that died without cleaning up left at this endpoint.
    /// Returns the names of the objects it removed.
    pub fn remove_leftovers(&self) -> Vec<String> {
        match self {
            Endpoint::ShmChannel { channel, .. } => match ChannelName::new(channel) {
                Ok(channel) => {
                    let mut removed = shm_posix::unlink_channel(&channel);
                    removed.extend(shm_spin::unlink_channel(&channel));
                    removed
                }
                // No transport creates objects for a name it refuses.
                Err(_) => Vec::new(),
            },
            Endpoint::SocketFile { path, .. } => match std::fs::remove_file(path) {
                Ok(()) => vec![path.display().to_string()],
                Err(_) => Vec::new(),
            },
        }
    }
}

/// Options shared by both sides of every transport.
#[derive(Debug, Clone, Copy)]
pub struct TransportOptions {
    /// Bound on any single wait inside a round trip (and on connecting).
    pub timeout: Duration,
}

/// The transports this tool knows. The order here is the order in which they run and print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum TransportKind {
    #[serde(rename = "shm-posix")]
    ShmPosix,
    #[serde(rename = "zmq-ipc")]
    ZmqIpc,
    #[serde(rename = "unix-stream")]
    UnixStream,
    #[serde(rename = "shm-spin")]
    ShmSpin,
}

impl TransportKind {
    pub const ALL: [TransportKind; 4] = [
        TransportKind::ShmPosix,
        TransportKind::ZmqIpc,
        TransportKind::UnixStream,
        TransportKind::ShmSpin,
    ];

    /// What runs without `--transports`: the seed benchmark's pair.
    pub const DEFAULT: [TransportKind; 2] = [TransportKind::ShmPosix, TransportKind::ZmqIpc];

    /// The name used on the command line and in exports.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::ShmPosix => "shm-posix",
            TransportKind::ZmqIpc => "zmq-ipc",
            TransportKind::UnixStream => "unix-stream",
            TransportKind::ShmSpin => "shm-spin",
        }
    }

    /// The name printed for people, as the seed benchmark printed it.
    pub fn display_name(self) -> &'static str {
        match self {
            TransportKind::ShmPosix => "SHM POSIX",
            TransportKind::ZmqIpc => "ZeroMQ IPC",
            TransportKind::UnixStream => "Unix stream",
            TransportKind::ShmSpin => "SHM spin",
        }
    }

    pub fn from_name(name: &str) -> Option<TransportKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The URL scheme of a socket-file endpoint on the command line (`ipc://PATH`), or None for
    /// transports addressed by a channel name.
    pub fn socket_scheme(self) -> Option<&'static str> {
        match self {
            TransportKind::ShmPosix | TransportKind::ShmSpin => None,
            TransportKind::ZmqIpc => Some("ipc://"),
            TransportKind::UnixStream => Some("unix://"),
        }
    }

    /// Builds the endpoint for one server process. `unique_name` is unique per run and case;
    /// `private_dir` is a fresh 0700 directory the caller owns, for transports that need a file.
    pub fn endpoint(
        self,
        unique_name: &str,
        private_dir: &std::path::Path,
        buffer_size: usize,
    ) -> Endpoint {
        match self.socket_scheme() {
            None => Endpoint::ShmChannel {
                channel: unique_name.to_string(),
                buffer_size,
            },
            Some(_) => Endpoint::SocketFile {
                path: private_dir.join("echo.sock"),
                buffer_size,
            },
        }
    }

    /// Whether the endpoint lives in the file system and so needs a private directory.
    pub fn needs_private_dir(self) -> bool {
        self.socket_scheme().is_some()
    }

    /// The arguments that tell a `--server` process of this transport where to listen.
    pub fn server_args(self, endpoint: &Endpoint) -> Vec<OsString> {
        let (mut args, buffer_size): (Vec<OsString>, usize) = match endpoint {
            Endpoint::ShmChannel {
                channel,
                buffer_size,
            } => (vec!["--channel".into(), channel.into()], *buffer_size),
            Endpoint::SocketFile { path, buffer_size } => {
                let mut url = OsString::from(self.socket_scheme().unwrap_or_default());
                url.push(path);
                (vec!["--endpoint".into(), url], *buffer_size)
            }
        };
        args.extend(["--buffer-size".into(), buffer_size.to_string().into()]);
        args
    }

    pub fn connect(
        self,
        endpoint: &Endpoint,
        options: TransportOptions,
        watch: std::sync::Arc<dyn PeerWatch>,
    ) -> Result<Box<dyn TransportClient>, TransportError> {
        Ok(match (self, endpoint) {
            (
                TransportKind::ShmPosix,
                Endpoint::ShmChannel {
                    channel,
                    buffer_size,
                },
            ) => Box::new(shm_posix::ShmPosixClient::connect(
                channel,
                *buffer_size,
                options,
                watch,
            )?),
            (TransportKind::ZmqIpc, Endpoint::SocketFile { path, .. }) => {
                Box::new(zmq_ipc::ZmqIpcClient::connect(path, options, watch)?)
            }
            (TransportKind::UnixStream, Endpoint::SocketFile { path, buffer_size }) => Box::new(
                unix_stream::UnixStreamClient::connect(path, *buffer_size, options, watch)?,
            ),
            (
                TransportKind::ShmSpin,
                Endpoint::ShmChannel {
                    channel,
                    buffer_size,
                },
            ) => Box::new(shm_spin::ShmSpinClient::connect(
                channel,
                *buffer_size,
                options,
                watch,
            )?),
            _ => return Err(self.mismatch(endpoint)),
        })
    }

    pub fn bind(
        self,
        endpoint: &Endpoint,
        options: TransportOptions,
    ) -> Result<Box<dyn TransportServer>, TransportError> {
        Ok(match (self, endpoint) {
            (
                TransportKind::ShmPosix,
                Endpoint::ShmChannel {
                    channel,
                    buffer_size,
                },
            ) => Box::new(shm_posix::ShmPosixServer::create(
                channel,
                *buffer_size,
                options,
            )?),
            (TransportKind::ZmqIpc, Endpoint::SocketFile { path, .. }) => {
                Box::new(zmq_ipc::ZmqIpcServer::bind(path, options)?)
            }
            (TransportKind::UnixStream, Endpoint::SocketFile { path, buffer_size }) => Box::new(
                unix_stream::UnixStreamServer::bind(path, *buffer_size, options)?,
            ),
            (
                TransportKind::ShmSpin,
                Endpoint::ShmChannel {
                    channel,
                    buffer_size,
                },
            ) => Box::new(shm_spin::ShmSpinServer::create(channel, *buffer_size)?),
            _ => return Err(self.mismatch(endpoint)),
        })
    }

    fn mismatch(self, endpoint: &Endpoint) -> TransportError {
        TransportError::WrongEndpoint {
            endpoint: endpoint.clone(),
            transport: self.name(),
        }
    }
}

/// Prefix of the private directories the driver makes for file-based endpoints.
pub const PRIVATE_DIR_PREFIX: &str = "transport-bench-";
