//! A ZeroMQ IPC server of ours, started directly, and a raw REQ socket to talk to it as a
//! hostile client would, byte for byte, without our client's checks.

use std::path::PathBuf;

use transport_bench::transport::kinds::zmq_ipc;
use transport_bench::transport::Endpoint;

use super::process::{Spawned, PATIENCE};
use super::server::{server_args, start_server};

pub struct ZmqTestServer {
    pub server: Spawned,
    pub socket_path: PathBuf,
    _context: zmq::Context,
    _dir: tempfile::TempDir,
}

impl ZmqTestServer {
    /// A ready server with a `buffer_size`-byte buffer, in a fresh private directory.
    pub fn start(buffer_size: usize) -> ZmqTestServer {
        let dir = tempfile::tempdir().unwrap();
        let socket_path = dir.path().join("echo.sock");
        let endpoint = Endpoint::SocketFile {
            path: socket_path.clone(),
            buffer_size,
        };
        let server = start_server(&server_args(zmq_ipc::KIND, &endpoint, PATIENCE), &[]);
        ZmqTestServer {
            server,
            socket_path,
            _context: zmq::Context::new(),
            _dir: dir,
        }
    }

    /// A REQ socket connected to the server, which does only what the test tells it.
    pub fn raw_client(&self) -> zmq::Socket {
        let socket = self._context.socket(zmq::REQ).unwrap();
        socket.set_linger(0).unwrap();
        let url = format!("ipc://{}", self.socket_path.display());
        socket.connect(&url).unwrap();
        socket
    }
}
