//! TCP loopback: a TCP connection to `127.0.0.1`, each message framed as in Unix stream (a
//! 4-byte native-endian `u32` length, then the payload) by [`super::stream_framing`].
//!
//! The same exchange as Unix stream (per direction one `writev` and, in the common case, one
//! `readv`, the payload copied user → kernel → user), but through the network stack: TCP
//! segments and their acknowledgements, over the loopback device. Both sides set `TCP_NODELAY`,
//! so that the last segment of a message is never held back waiting for the acknowledgement of
//! the one before (Nagle's algorithm).
//!
//! The server listens where `--listen` says (the driver asks for `127.0.0.1:0`, any free
//! port) and reports the address it got in its ready line, `READY 127.0.0.1:40123`; it serves
//! one connection at a time until SIGTERM, and a client that hangs up, stalls or announces a
//! frame over its buffer ends only its own connection ([`ConnectionServer`]). By hand, on an
//! address other hosts reach, that makes it a standalone echo server (README, "Server mode").
//! Its listening socket closes with it, so no port stays open after a run. Waits are sliced as
//! for Unix stream, by the sockets' own timeouts.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::blocks::framing::{accept_unless_stopped, ConnectionServer, FramedStream};
use crate::transport::error::TransportError;
use crate::transport::spec::{
    Addressing, EchoOutcome, Tamper, TransportClient, TransportKind, TransportOptions,
    TransportServer, TransportSpec,
};
use crate::transport::wait::{retry_until_created, PeerWatch, WaitBudget, IDLE_SLICE, WAIT_SLICE};
use crate::transport::wire::payload_capacity;

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "tcp",
    display_name: "TCP loopback",
    addressing: Addressing::Tcp { scheme: None },
    connect: |endpoint, options, watch| {
        let (addr, buffer_size) = endpoint.tcp(KIND.name())?;
        Ok(Box::new(TcpClient::connect(
            addr,
            buffer_size,
            options,
            watch,
        )?))
    },
    bind: |endpoint, options| {
        let (addr, buffer_size) = endpoint.tcp(KIND.name())?;
        Ok(Box::new(TcpServer::bind(addr, buffer_size, options)?))
    },
    channel_objects: |_| Vec::new(),
    max_message: |_| None,
    spin_budget: None,
    peer_buffer_size: None,
    summary: "a TCP connection on 127.0.0.1, length-framed",
};

/// Readies a connected stream for framed messages: no Nagle delay, and every blocking read and
/// write waits for at most one `slice`, the unit in which [`FramedStream`] budgets its waits
/// (the kernel applies it inside the wait it does anyway, so it costs no system call).
fn prepare(stream: &TcpStream, slice: Duration) -> Result<(), TransportError> {
    stream
        .set_nodelay(true)
        .map_err(|e| TransportError::io("setting TCP_NODELAY", e))?;
    stream
        .set_read_timeout(Some(slice))
        .and_then(|()| stream.set_write_timeout(Some(slice)))
        .map_err(|e| TransportError::io("setting socket timeouts", e))
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

/// The requesting side: one connected stream.
pub struct TcpClient {
    connection: FramedStream<TcpStream>,
    capacity: usize,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl TcpClient {
    /// Connects to `addr`, retrying until `options.timeout` while nobody listens there yet.
    pub fn connect(
        addr: SocketAddr,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<TcpClient, TransportError> {
        // One attempt waits one slice at most, so that the watch is asked between attempts
        // even where a connection is not refused at once (an address beyond loopback).
        let connect = || {
            TcpStream::connect_timeout(&addr, WAIT_SLICE)
                .map_err(|e| TransportError::io(format!("connecting to {addr}"), e))
        };
        let stream = retry_until_created(
            &mut WaitBudget::new(options.timeout, watch.as_ref()),
            connect,
            no_server_yet(addr),
        )?;
        // Slices of WAIT_SLICE: between them the watch asks waitpid whether the server died.
        prepare(&stream, WAIT_SLICE)?;
        Ok(TcpClient {
            connection: FramedStream::new(stream),
            capacity: payload_capacity(buffer_size),
            timeout: options.timeout,
            watch,
        })
    }
}

impl TransportClient for TcpClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.connection.round_trip(
            request,
            response,
            self.capacity,
            self.timeout,
            self.watch.as_ref(),
        )
    }
}

/// The echoing side: a listener, and the connection being served with one reusable buffer.
pub struct TcpServer {
    connections: ConnectionServer<TcpStream>,
    listener: TcpListener,
    /// Where the listener is bound: the port the system chose, when asked for port 0.
    local_addr: SocketAddr,
}

impl TcpServer {
    pub fn bind(
        addr: SocketAddr,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<TcpServer, TransportError> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| TransportError::io(format!("listening on {addr}"), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| TransportError::io("reading the listening address", e))?;
        Ok(TcpServer {
            connections: ConnectionServer::new(buffer_size, options.timeout)?,
            listener,
            local_addr,
        })
    }
}

/// Accepts the next client; None if `stop` was set while waiting for one. The idle server's
/// reads wait in IDLE_SLICE slices, after each of which it looks at its stop flag; a signal
/// ends such a wait at once anyway (see unix_stream.rs).
fn accept_client(
    listener: &TcpListener,
    stop: &AtomicBool,
) -> Result<Option<TcpStream>, TransportError> {
    let accept = |listener: &TcpListener| listener.accept().map(|(stream, _)| stream);
    accept_unless_stopped(listener, stop, accept, |stream| prepare(stream, IDLE_SLICE))
}

impl TransportServer for TcpServer {
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError> {
        let listener = &self.listener;
        self.connections
            .echo_one(stop, tamper, |stop| accept_client(listener, stop))
    }

    fn closing_words(&mut self) -> Option<String> {
        self.connections.closing_words()
    }

    fn ready_address(&self) -> Option<String> {
        Some(self.local_addr.to_string())
    }
}
