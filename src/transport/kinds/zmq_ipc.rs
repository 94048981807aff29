//! ZeroMQ IPC: a REQ socket (client) and a REP socket (server) over an `ipc://` Unix socket in
//! a private directory. The sockets themselves are `zmq_reqrep.rs`'s, shared with ZeroMQ TCP;
//! this file says where they meet, and owns the socket file.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::blocks::zmq_reqrep::{ZmqClient, ZmqServer};
use crate::transport::error::TransportError;
use crate::transport::names::checked_path;
use crate::transport::spec::{
    Addressing, EchoOutcome, Tamper, TransportKind, TransportOptions, TransportServer,
    TransportSpec,
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
        Ok(Box::new(ZmqIpcServer::bind(path, buffer_size, options)?))
    },
    channel_objects: |_| Vec::new(),
    max_message: |_| None,
    spin_budget: None,
    peer_buffer_size: None,
    summary: "ZeroMQ REQ/REP over an ipc:// Unix socket",
};

/// The echoing side: a REP socket bound to a socket file in a private directory.
pub struct ZmqIpcServer {
    // Field order is drop order: close the socket, then remove its file.
    server: ZmqServer,
    _file: SocketFile,
}

impl ZmqIpcServer {
    pub fn bind(
        path: &Path,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<ZmqIpcServer, TransportError> {
        let endpoint = endpoint_of(path)?;
        let file = SocketFile::claim(path)?;
        let server = ZmqServer::bind(&endpoint, buffer_size, options)?;
        Ok(ZmqIpcServer {
            server,
            _file: file,
        })
    }
}

impl TransportServer for ZmqIpcServer {
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError> {
        self.server.echo_one(stop, tamper)
    }

    fn closing_words(&mut self) -> Option<String> {
        self.server.closing_words()
    }
}
