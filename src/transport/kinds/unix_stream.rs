//! Unix stream: a plain `SOCK_STREAM` Unix domain socket, each message framed as in SHM POSIX
//! (a 4-byte native-endian `u32` length, then the payload) by
//! [`framing`](crate::transport::blocks::framing).
//!
//! It is the kernel primitive under ZeroMQ IPC without ZeroMQ: per direction one `writev` and
//! (in the common case) one `readv`, the payload copied user → kernel → user. Comparing the two
//! shows what ZeroMQ's framing and I/O threads cost. A one-way stream's messages are the same
//! frames, written without waiting for answers: the socket buffer is its flow control.
//! Requests in flight (`--in-flight N`) are frames written one after another on the one
//! connection, answered in order; while a submit finds the socket buffer full it reads the
//! replies that arrive (non-blocking `sendmsg`/`recv` and a poll of both directions), so that
//! the two sides never both wait on a write (see [`framing`](crate::transport::blocks::framing)).
//! This file holds only what is particular to Unix sockets: the socket file, connecting, accepting,
//! and the slices of its waits ([`WatchedSocket`]).

use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::blocks::framing::{ConnectionServer, FramedClient, Listener};
use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::blocks::watched_socket::WatchedSocket;
use crate::transport::endpoint::Endpoint;
use crate::transport::error::TransportError;
use crate::transport::names::checked_path;
use crate::transport::spec::{
    any_workload, Addressing, TransportKind, TransportOptions, TransportSpec,
};
use crate::transport::wait::{retry_until_created, PeerWatch, WaitBudget, IDLE_SLICE, WAIT_SLICE};

/// For [`retry_until_created`]: no socket file yet, or nobody listening on it yet.
fn no_server_yet(path: &Path) -> impl Fn(&TransportError) -> Option<String> + '_ {
    move |e| match e {
        TransportError::Io { source, .. }
            if matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused
            ) =>
        {
            Some(format!("a server at {} ({source})", path.display()))
        }
        _ => None,
    }
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "unix-stream",
    display_name: "Unix stream",
    addressing: Addressing::SocketFile { scheme: "unix://" },
    connect: |endpoint, options, watch| Ok(Box::new(connect(endpoint, options, watch)?)),
    bind: |endpoint, options| Ok(Box::new(bind(endpoint, options)?)),
    summary: "a SOCK_STREAM Unix domain socket, length-framed",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

/// A connection to the socket file at `path`, retrying within `timeout` while the file or a
/// listener on it is not there yet: the socket under `unix-stream` and `tokio-unix` alike.
pub(crate) fn connect_stream(
    path: &Path,
    timeout: Duration,
    watch: &dyn PeerWatch,
) -> Result<UnixStream, TransportError> {
    checked_path(path)?;
    let connect = || {
        UnixStream::connect(path)
            .map_err(|e| TransportError::io(format!("connecting to {}", path.display()), e))
    };
    retry_until_created(
        &mut WaitBudget::new(timeout, watch),
        connect,
        no_server_yet(path),
    )
}

/// The requesting side: one connected stream.
type UnixStreamClient = FramedClient<WatchedSocket<UnixStream>>;

/// Connects to the endpoint's socket file, retrying until `options.timeout` while the server is
/// not there yet.
fn connect(
    endpoint: &Endpoint,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
) -> Result<UnixStreamClient, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
    let stream = connect_stream(path, options.timeout, watch.as_ref())?;
    // Slices of the watchdog's periods (or, without it, of WAIT_SLICE): between them the
    // watch asks waitpid whether the server died.
    Ok(FramedClient::new(
        WatchedSocket::new(stream, WAIT_SLICE),
        buffer_size,
        options.timeout,
        watch,
    ))
}

/// The listening socket and its file.
struct UnixSocket {
    // Field order is drop order: close the socket before removing the file.
    listener: UnixListener,
    _file: SocketFile,
}

impl AsFd for UnixSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Listener for UnixSocket {
    type Stream = WatchedSocket<UnixStream>;

    /// How the idle server notices SIGTERM without a poll before every read: its reads wait in
    /// slices (the watchdog's periods, or without it IDLE_SLICE given to SO_RCVTIMEO) and it
    /// looks at the stop flag after each. While requests flow a slice never runs out, so this
    /// costs no system call. SIGTERM's handler is installed with SA_RESTART, which would restart
    /// a plain blocking read, and a signal that lands between the flag check and the read would
    /// be lost: the slice closes both holes (50 ms at worst with the watchdog, 100 ms without)
    /// and leaves the signal setup, shared with the driver, as it is.
    fn accept(&self) -> std::io::Result<Self::Stream> {
        let (stream, _) = self.listener.accept()?;
        Ok(WatchedSocket::new(stream, IDLE_SLICE))
    }
}

type UnixStreamServer = ConnectionServer<UnixSocket>;

fn bind(
    endpoint: &Endpoint,
    options: TransportOptions,
) -> Result<UnixStreamServer, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
    let file = SocketFile::claim(path)?;
    let listener = UnixListener::bind(path)
        .map_err(|e| TransportError::io(format!("binding {}", path.display()), e))?;
    let socket = UnixSocket {
        listener,
        _file: file,
    };
    ConnectionServer::new(socket, buffer_size, options.timeout)
}
