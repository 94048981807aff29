//! ZeroMQ IPC: a REQ socket (client) and a REP socket (server) over an `ipc://` Unix socket in
//! a private directory; for a one-way stream a DEALER and a ROUTER. With requests in flight
//! (`--in-flight N` above 1) the client is a DEALER in front of the same REP server, sending each
//! request behind the empty delimiter REP expects; libzmq's I/O threads hold the requests and
//! replies in flight, and REP answers them one at a time, in order. The sockets themselves are
//! `zmq_reqrep.rs`'s, shared with ZeroMQ TCP; this file says where they meet, and owns the
//! socket file.

use std::path::Path;

use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::blocks::zmq_reqrep::{ZmqClient, ZmqServer};
use crate::transport::error::TransportError;
use crate::transport::names::checked_path;
use crate::transport::spec::{
    any_workload, Addressing, TransportKind, TransportOptions, TransportSpec,
};

fn endpoint_of(path: &Path) -> Result<String, TransportError> {
    Ok(format!("ipc://{}", checked_path(path)?))
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "zmq-ipc",
    display_name: "ZeroMQ IPC",
    addressing: Addressing::SocketFile { scheme: "ipc://" },
    connect: |endpoint, options, watch| {
        let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
        Ok(Box::new(ZmqClient::connect(
            &endpoint_of(path)?,
            buffer_size,
            options,
            watch,
        )?))
    },
    bind: |endpoint, options| {
        let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
        Ok(Box::new(bind(path, buffer_size, options)?))
    },
    summary: "ZeroMQ REQ/REP over an ipc:// Unix socket",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

/// The echoing side: a REP (or a stream's ROUTER) socket bound to a socket file in a private directory, which it
/// removes once the socket is closed.
fn bind(
    path: &Path,
    buffer_size: usize,
    options: TransportOptions,
) -> Result<ZmqServer, TransportError> {
    let endpoint = endpoint_of(path)?;
    let file = SocketFile::claim(path)?;
    let server = ZmqServer::bind(&endpoint, buffer_size, options)?;
    Ok(server.keeping(file))
}
