//! TCP: a TCP connection (to `127.0.0.1` when the tool spawns its server; to any host with
//! `--connect`), each message framed as in Unix stream (a 4-byte native-endian `u32` length,
//! then the payload) by
//! [`framing`](crate::transport::blocks::framing).
//!
//! The same exchange as Unix stream (per direction one `writev` and, in the common case, one
//! `readv`, the payload copied user → kernel → user), but through the network stack: TCP
//! segments and their acknowledgements, over the loopback device. Both sides set `TCP_NODELAY`,
//! so that the last segment of a message is never held back waiting for the acknowledgement of
//! the one before (Nagle's algorithm). A one-way stream's messages are the same frames, written
//! without waiting for answers: the socket buffers (and TCP's window) are its flow control.
//! Requests in flight (`--in-flight N`) are frames written one after another on the connection,
//! answered in order; while a submit finds the socket buffer full it reads the replies that
//! arrive, as Unix stream's does, so that the two sides never both wait on a write (see
//! [`framing`](crate::transport::blocks::framing)).
//!
//! The server listens where `--listen` says (the driver asks for `127.0.0.1:0`, any free
//! port) and reports the address it got in its ready line, `READY 127.0.0.1:40123`; it serves
//! one connection at a time until SIGTERM, and a client that hangs up, stalls or announces a
//! frame over its buffer ends only its own connection ([`ConnectionServer`]). By hand, on an
//! address other hosts reach, that makes it a standalone echo server (docs/server-and-connect.md).
//! Its listening socket closes with it, so no port stays open after a run. Waits are sliced as
//! for Unix stream, by the sockets' own timeouts.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

use crate::transport::blocks::framing::{ConnectionServer, FramedClient, Listener};
use crate::transport::blocks::watched_socket::WatchedSocket;
use crate::transport::endpoint::Endpoint;
use crate::transport::error::TransportError;
use crate::transport::spec::{
    any_workload, Addressing, TransportKind, TransportOptions, TransportSpec,
};
use crate::transport::wait::{retry_until_created, PeerWatch, WaitBudget, IDLE_SLICE, WAIT_SLICE};

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "tcp",
    display_name: "TCP",
    addressing: Addressing::Tcp { scheme: None },
    connect: |endpoint, options, watch| Ok(Box::new(connect(endpoint, options, watch)?)),
    bind: |endpoint, options| Ok(Box::new(bind(endpoint, options)?)),
    summary: "a TCP connection on 127.0.0.1, length-framed",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

/// Readies a connected stream for framed messages: no Nagle delay.
fn set_no_delay(stream: &TcpStream) -> Result<(), TransportError> {
    stream
        .set_nodelay(true)
        .map_err(|e| TransportError::io("setting TCP_NODELAY", e))
}

/// For [`retry_until_created`]: nobody listening at `addr` yet (or no answer within a slice).
fn no_server_yet(addr: SocketAddr) -> impl Fn(&TransportError) -> Option<String> {
    move |e| match e {
        TransportError::Io { source, .. }
            if matches!(
                source.kind(),
                ErrorKind::ConnectionRefused | ErrorKind::TimedOut
            ) =>
        {
            Some(format!("a server at {addr} ({source})"))
        }
        _ => None,
    }
}

/// A connection to `addr` with `TCP_NODELAY`, retrying within `timeout` while nobody listens
/// there yet: the socket under `tcp` and `tokio-tcp` alike.
pub(crate) fn connect_stream(
    addr: SocketAddr,
    timeout: Duration,
    watch: &dyn PeerWatch,
) -> Result<TcpStream, TransportError> {
    // One attempt waits one slice at most, so that the watch is asked between attempts
    // even where a connection is not refused at once (an address beyond loopback).
    let connect = || {
        TcpStream::connect_timeout(&addr, WAIT_SLICE)
            .map_err(|e| TransportError::io(format!("connecting to {addr}"), e))
    };
    let stream = retry_until_created(
        &mut WaitBudget::new(timeout, watch),
        connect,
        no_server_yet(addr),
    )?;
    set_no_delay(&stream)?;
    Ok(stream)
}

/// The requesting side: one connected stream.
type TcpClient = FramedClient<WatchedSocket<TcpStream>>;

/// Connects to the endpoint's address, retrying until `options.timeout` while nobody listens
/// there yet.
fn connect(
    endpoint: &Endpoint,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
) -> Result<TcpClient, TransportError> {
    let (addr, buffer_size) = endpoint.tcp(KIND.name())?;
    let stream = connect_stream(addr, options.timeout, watch.as_ref())?;
    // Slices of the watchdog's periods (or, without it, of WAIT_SLICE): between them the
    // watch asks waitpid whether the server died.
    Ok(FramedClient::new(
        WatchedSocket::new(stream, WAIT_SLICE),
        buffer_size,
        options.timeout,
        watch,
    ))
}

/// The listening socket, and where it is bound: the port the system chose, when asked for
/// port 0.
struct TcpSocket {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Listener for TcpSocket {
    type Stream = WatchedSocket<TcpStream>;

    /// The idle server's reads wait in slices (IDLE_SLICE without the watchdog), after each of
    /// which it looks at its stop flag (see unix_stream.rs).
    fn accept(&self) -> std::io::Result<Self::Stream> {
        let (stream, _) = self.listener.accept()?;
        Ok(WatchedSocket::new(stream, IDLE_SLICE))
    }

    fn prepare(stream: &Self::Stream) -> Result<(), TransportError> {
        set_no_delay(stream.get_ref())
    }

    fn ready_address(&self) -> Option<String> {
        Some(self.local_addr.to_string())
    }
}

/// The echoing side: a listener, and the connection being served with one reusable buffer.
type TcpServer = ConnectionServer<TcpSocket>;

fn bind(endpoint: &Endpoint, options: TransportOptions) -> Result<TcpServer, TransportError> {
    let (addr, buffer_size) = endpoint.tcp(KIND.name())?;
    let listener = TcpListener::bind(addr)
        .map_err(|e| TransportError::io(format!("listening on {addr}"), e))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| TransportError::io("reading the listening address", e))?;
    let socket = TcpSocket {
        listener,
        local_addr,
    };
    ConnectionServer::new(socket, buffer_size, options.timeout)
}
