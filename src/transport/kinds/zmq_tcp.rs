//! ZeroMQ TCP: the sockets of ZeroMQ IPC (`zmq_reqrep.rs`: REQ/REP, and a stream's
//! DEALER/ROUTER) over `tcp://` on loopback, so that ZeroMQ's two kernel paths can be compared
//! with everything else equal. Requests in flight (`--in-flight N` above 1) are held as in
//! ZeroMQ IPC: a DEALER client in front of the REP server, each request behind REP's empty
//! delimiter, libzmq's I/O threads holding what is in flight.
//!
//! The server binds the address it is given; port 0 becomes libzmq's wildcard
//! (`tcp://127.0.0.1:*`), and the port the system chose, read back from `ZMQ_LAST_ENDPOINT`, is
//! what the server reports in its `READY` line. libzmq sets `TCP_NODELAY` on every TCP
//! connection itself. A listening socket ends with its process, so nothing is left to clean up.

use std::net::SocketAddr;

use crate::transport::blocks::zmq_reqrep::{ZmqClient, ZmqServer};
use crate::transport::error::TransportError;
use crate::transport::spec::{
    any_workload, Addressing, TransportKind, TransportOptions, TransportSpec,
};

const SCHEME: &str = "tcp://";

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "zmq-tcp",
    display_name: "ZeroMQ TCP",
    addressing: Addressing::Tcp {
        scheme: Some(SCHEME),
    },
    connect: |endpoint, options, watch| {
        let (addr, buffer_size) = endpoint.tcp(KIND.name())?;
        let endpoint = format!("{SCHEME}{addr}");
        Ok(Box::new(ZmqClient::connect(
            &endpoint,
            buffer_size,
            options,
            watch,
        )?))
    },
    bind: |endpoint, options| {
        let (addr, buffer_size) = endpoint.tcp(KIND.name())?;
        Ok(Box::new(bind(addr, buffer_size, options)?))
    },
    summary: "ZeroMQ REQ/REP over tcp:// on loopback",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

/// The echoing side: a REP (or a stream's ROUTER) socket listening on `addr`, reporting `ADDR:PORT` as bound in its
/// `READY` line; port 0 asks the system for a free one.
fn bind(
    addr: SocketAddr,
    buffer_size: usize,
    options: TransportOptions,
) -> Result<ZmqServer, TransportError> {
    let endpoint = match addr.port() {
        // The wildcard port, as zmq_tcp(7) documents "any free port".
        0 => format!("{SCHEME}{}:*", bracketed_ip(addr)),
        _ => format!("{SCHEME}{addr}"),
    };
    let server = ZmqServer::bind(&endpoint, buffer_size, options)?;
    let last = server.bound_endpoint()?;
    let bound = last.strip_prefix(SCHEME).map(String::from).ok_or_else(|| {
        TransportError::Protocol(format!("libzmq reported {last:?}, not a tcp:// endpoint"))
    })?;
    Ok(server.announcing(bound))
}

/// The IP of `addr` as it stands before `:PORT` (IPv6 in brackets).
fn bracketed_ip(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    }
}
