//! tokio Unix: tokio's `UnixStream`, the same `SOCK_STREAM` Unix domain socket and the same
//! frames as Unix stream (a 4-byte native-endian `u32` length, then the payload), so that the
//! two rows differ only by the runtime: each exchange is an async "write the frame, read the
//! echo" run with one `block_on`, its waits awaited on tokio's I/O driver (`epoll`) and bounded
//! by tokio's timers (see [`awaited`](crate::transport::blocks::framing) in the framing).
//!
//! Two transports, one per runtime, on both sides alike: `tokio-unix` on the current-thread
//! runtime (the future, the driver and the timers on the calling thread, no thread started) and
//! `tokio-unix-mt` on the multi-thread runtime (tokio's default worker threads, one per CPU, run
//! the driver; `block_on` polls the exchange on the calling thread, so each wake-up crosses
//! threads). The runtime is part of the stack measured, so it is part of the row's name: every
//! table, export and comparison tells the two apart with nothing else to read.
//!
//! The socket file, connecting and accepting are Unix stream's, by the standard library; the
//! sockets are then handed to tokio (`from_std`), so only the exchanges are tokio's.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::sync::Arc;

use crate::transport::blocks::framing::{
    Listener, TokioClient, TokioIo, TokioRuntime, TokioServer,
};
use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::endpoint::Endpoint;
use crate::transport::error::TransportError;
use crate::transport::kinds::unix_stream::connect_stream;
use crate::transport::spec::{
    any_workload, Addressing, TransportKind, TransportOptions, TransportSpec,
};
use crate::transport::wait::PeerWatch;

/// On the current-thread runtime.
pub const KIND: TransportKind = TransportKind::new(&SPEC);

/// On the multi-thread runtime.
pub const MULTI_THREAD_KIND: TransportKind = TransportKind::new(&MULTI_THREAD_SPEC);

/// The transport of a runtime, for the errors that name it.
fn kind(flavour: TokioRuntime) -> TransportKind {
    match flavour {
        TokioRuntime::CurrentThread => KIND,
        TokioRuntime::MultiThread => MULTI_THREAD_KIND,
    }
}

const SPEC: TransportSpec = TransportSpec {
    name: "tokio-unix",
    display_name: "tokio Unix",
    addressing: Addressing::SocketFile { scheme: "unix://" },
    connect: |endpoint, options, watch| {
        Ok(Box::new(connect(
            endpoint,
            options,
            watch,
            TokioRuntime::CurrentThread,
        )?))
    },
    bind: |endpoint, options| {
        Ok(Box::new(bind(
            endpoint,
            options,
            TokioRuntime::CurrentThread,
        )?))
    },
    summary: "tokio's UnixStream on the current-thread runtime, length-framed",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

const MULTI_THREAD_SPEC: TransportSpec = TransportSpec {
    name: "tokio-unix-mt",
    display_name: "tokio Unix (multi-thread)",
    connect: |endpoint, options, watch| {
        Ok(Box::new(connect(
            endpoint,
            options,
            watch,
            TokioRuntime::MultiThread,
        )?))
    },
    bind: |endpoint, options| {
        Ok(Box::new(bind(
            endpoint,
            options,
            TokioRuntime::MultiThread,
        )?))
    },
    summary: "tokio's UnixStream on the multi-thread runtime, length-framed",
    ..SPEC
};

type TokioUnixClient = TokioClient<tokio::net::UnixStream>;

/// Connects to the endpoint's socket file, retrying until `options.timeout` while the server is
/// not there yet, and hands the socket to a runtime of `flavour`.
fn connect(
    endpoint: &Endpoint,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
    flavour: TokioRuntime,
) -> Result<TokioUnixClient, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(kind(flavour).name())?;
    let stream = connect_stream(path, options.timeout, watch.as_ref())?;
    TokioClient::new(stream, flavour, buffer_size, options.timeout, watch)
}

/// The listening socket and its file.
struct TokioUnixSocket {
    // Field order is drop order: close the socket before removing the file.
    listener: UnixListener,
    _file: SocketFile,
}

impl AsFd for TokioUnixSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Listener for TokioUnixSocket {
    type Stream = TokioIo<tokio::net::UnixStream>;

    /// Called with the server's runtime entered ([`TokioServer`]).
    fn accept(&self) -> std::io::Result<Self::Stream> {
        let (stream, _) = self.listener.accept()?;
        TokioIo::accepted(stream)
    }
}

fn bind(
    endpoint: &Endpoint,
    options: TransportOptions,
    flavour: TokioRuntime,
) -> Result<TokioServer<TokioUnixSocket>, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(kind(flavour).name())?;
    let file = SocketFile::claim(path)?;
    let listener = UnixListener::bind(path)
        .map_err(|e| TransportError::io(format!("binding {}", path.display()), e))?;
    let socket = TokioUnixSocket {
        listener,
        _file: file,
    };
    TokioServer::new(socket, flavour, buffer_size, options.timeout)
}
