//! tokio TCP: tokio's `TcpStream`, the same TCP connection (to `127.0.0.1` when the tool spawns
//! its server; to any host with `--connect`/`--listen`), the same `TCP_NODELAY` and the same
//! frames as TCP (a 4-byte native-endian `u32` length, then the payload), so that the two rows
//! differ only by the runtime. As for tokio Unix, each exchange is one `block_on` of an async
//! "write the frame, read the echo", and there are two transports, one per runtime, on both
//! sides alike: `tokio-tcp` (current-thread) and `tokio-tcp-mt` (multi-thread); see
//! [`tokio_unix`](super::tokio_unix) for why.
//!
//! The server listens where `--listen` says and reports the address it got in its ready line,
//! as TCP's does; connecting and accepting are the standard library's, the sockets then handed
//! to tokio (`from_std`), so only the exchanges are tokio's.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use crate::transport::blocks::framing::{
    Listener, TokioClient, TokioIo, TokioRuntime, TokioServer,
};
use crate::transport::endpoint::Endpoint;
use crate::transport::error::TransportError;
use crate::transport::kinds::tcp::connect_stream;
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
    name: "tokio-tcp",
    display_name: "tokio TCP",
    addressing: Addressing::Tcp { scheme: None },
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
    summary: "tokio's TcpStream on 127.0.0.1, current-thread runtime, length-framed",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

const MULTI_THREAD_SPEC: TransportSpec = TransportSpec {
    name: "tokio-tcp-mt",
    display_name: "tokio TCP (multi-thread)",
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
    summary: "tokio's TcpStream on 127.0.0.1, multi-thread runtime, length-framed",
    ..SPEC
};

type TokioTcpClient = TokioClient<tokio::net::TcpStream>;

/// Connects to the endpoint's address, retrying until `options.timeout` while nobody listens
/// there yet (one slice at most per attempt), and hands the socket to a runtime of `flavour`.
fn connect(
    endpoint: &Endpoint,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
    flavour: TokioRuntime,
) -> Result<TokioTcpClient, TransportError> {
    let (addr, buffer_size) = endpoint.tcp(kind(flavour).name())?;
    let stream = connect_stream(addr, options.timeout, watch.as_ref())?;
    TokioClient::new(stream, flavour, buffer_size, options.timeout, watch)
}

/// The listening socket, and where it is bound (the port the system chose, for port 0).
struct TokioTcpSocket {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl AsFd for TokioTcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Listener for TokioTcpSocket {
    type Stream = TokioIo<tokio::net::TcpStream>;

    /// Called with the server's runtime entered ([`TokioServer`]).
    fn accept(&self) -> std::io::Result<Self::Stream> {
        let (stream, _) = self.listener.accept()?;
        stream.set_nodelay(true)?;
        TokioIo::accepted(stream)
    }

    fn ready_address(&self) -> Option<String> {
        Some(self.local_addr.to_string())
    }
}

fn bind(
    endpoint: &Endpoint,
    options: TransportOptions,
    flavour: TokioRuntime,
) -> Result<TokioServer<TokioTcpSocket>, TransportError> {
    let (addr, buffer_size) = endpoint.tcp(kind(flavour).name())?;
    let listener = TcpListener::bind(addr)
        .map_err(|e| TransportError::io(format!("listening on {addr}"), e))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| TransportError::io("reading the listening address", e))?;
    let socket = TokioTcpSocket {
        listener,
        local_addr,
    };
    TokioServer::new(socket, flavour, buffer_size, options.timeout)
}
