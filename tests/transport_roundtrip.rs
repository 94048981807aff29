//! Each transport against a real server process: payload sizes at the edges, oversize
//! messages, a missing server, and cleanup of every object afterwards.

mod common {
    pub mod channel;
    pub mod client;
    pub mod process;
    pub mod server;
    pub mod shm;
    pub mod signals;
    pub mod zmq_peer;
}

use std::time::{Duration, Instant};

use common::channel::*;
use common::client::connect;
use common::process::{Spawned, PATIENCE};
use common::server::*;
use common::shm::{shm_endpoint, start_shm_server};
use common::signals::*;
use common::zmq_peer::ZmqTestServer;
use nix::sys::signal::Signal;
use transport_bench::transport::{
    shm_posix, shm_spin, unix_stream, zmq_ipc, Endpoint, TransportClient, TransportError,
    TransportKind, HEADER_LEN,
};

const BUFFER: usize = 64 * 1024;

fn echo(client: &mut dyn TransportClient, len: usize) {
    let request: Vec<u8> = (0..len).map(|i| (i % 253) as u8 ^ 0x5a).collect();
    let mut response = vec![0u8; BUFFER];
    let got = client.round_trip(&request, &mut response).unwrap();
    assert_eq!(got, len, "reply length for a {len}-byte request");
    assert_eq!(
        &response[..got],
        &request[..],
        "reply bytes for a {len}-byte request"
    );
}

/// A real server process for one transport, on a fresh channel or private socket.
struct TestServer {
    kind: TransportKind,
    endpoint: Endpoint,
    channel: String,
    server: Spawned,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// `timeout` bounds the server's waits inside an exchange.
    fn start(kind: TransportKind, timeout: Duration) -> TestServer {
        let channel = unique_channel("rt");
        let dir = tempfile::Builder::new().prefix("rt-").tempdir().unwrap();
        let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
        let server = start_server(&server_args(kind, &endpoint, timeout));
        TestServer {
            kind,
            endpoint,
            channel,
            server,
            _dir: dir,
        }
    }

    fn connect(&self) -> Box<dyn TransportClient> {
        connect(self.kind, &self.endpoint, Duration::from_secs(30)).unwrap()
    }

    /// Stops the server and checks that it exited 0 and left nothing behind.
    fn stop(self) {
        stop_server_clean(self.server, &self.channel);
        if let Endpoint::SocketFile { path, .. } = &self.endpoint {
            assert!(!path.exists(), "socket file left behind");
        }
    }
}

/// Starts a server for `kind`, hands a connected client to `body`, then stops the server.
fn with_server(kind: TransportKind, body: impl FnOnce(&mut dyn TransportClient)) {
    let server = TestServer::start(kind, PATIENCE);
    body(server.connect().as_mut());
    server.stop();
}

#[test]
fn every_transport_echoes_edge_sizes() {
    for kind in TransportKind::all().iter().copied() {
        with_server(kind, |client| {
            for len in [0, 1, 100, BUFFER - HEADER_LEN] {
                echo(client, len);
            }
        });
    }
}

#[test]
fn an_oversize_request_is_refused_before_sending_and_the_channel_keeps_working() {
    // ZeroMQ has no buffer of its own to overflow; the other three share the SHM capacity.
    for kind in [shm_posix::KIND, unix_stream::KIND, shm_spin::KIND] {
        with_server(kind, |client| {
            let request = vec![1u8; BUFFER - HEADER_LEN + 1];
            let mut response = vec![0u8; BUFFER];
            let err = client.round_trip(&request, &mut response).unwrap_err();
            assert!(
                matches!(err, TransportError::MessageTooLarge { len, capacity }
                    if len == BUFFER - HEADER_LEN + 1 && capacity == BUFFER - HEADER_LEN),
                "{kind:?}: {err}"
            );
            assert!(err.to_string().contains("does not fit"), "{kind:?}: {err}");
            echo(client, 100);
        });
    }
}

#[test]
fn a_reply_larger_than_the_receive_buffer_is_an_error_not_a_truncation() {
    for (kind, expected) in [
        (zmq_ipc::KIND, "2048-byte reply does not fit"),
        (
            unix_stream::KIND,
            "peer announced a 2048-byte message, more than the 1024 bytes",
        ),
        (
            shm_spin::KIND,
            "peer announced a 2048-byte message, more than the 1024 bytes",
        ),
    ] {
        with_server(kind, |client| {
            let mut response = vec![0u8; 1024];
            let err = client.round_trip(&[1u8; 2048], &mut response).unwrap_err();
            assert!(err.to_string().contains(expected), "{kind:?}: {err}");
        });
    }
}

#[test]
fn shm_clients_without_server_time_out_naming_the_missing_object() {
    for (kind, object) in [(shm_posix::KIND, "req"), (shm_spin::KIND, "spin")] {
        let channel = unique_channel("absent");
        let started = Instant::now();
        let err = connect(
            kind,
            &shm_endpoint(&channel, BUFFER),
            Duration::from_millis(300),
        )
        .err()
        .expect("connecting without a server must fail");
        assert!(
            matches!(err, TransportError::Timeout { .. }),
            "{kind:?}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains("timed out after 300ms"), "{kind:?}: {text}");
        assert!(
            text.contains(&format!("/srb_{channel}_{object}")),
            "{kind:?}: {text}"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
    }
}

#[test]
fn zmq_ipc_client_without_server_times_out_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::SocketFile {
        path: dir.path().join("nobody.sock"),
        buffer_size: BUFFER,
    };
    let mut client = connect(zmq_ipc::KIND, &endpoint, Duration::from_millis(300)).unwrap();
    let mut response = vec![0u8; 16];
    let err = client.round_trip(b"hello", &mut response).unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("timed out after 300ms"), "{err}");
    drop(client);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn shm_posix_client_refuses_a_buffer_smaller_than_requested() {
    let channel = unique_channel("small");
    let server = start_shm_server(&channel, 1024);
    let err = connect(
        shm_posix::KIND,
        &shm_endpoint(&channel, 4096),
        Duration::from_secs(5),
    )
    .err()
    .expect("a smaller object must be refused");
    assert!(
        err.to_string().contains("fewer than the buffer size 4096"),
        "{err}"
    );
    stop_server_clean(server, &channel);
}

#[test]
fn a_frozen_server_makes_the_round_trip_time_out_naming_the_semaphore() {
    let channel = unique_channel("frozen");
    let server = start_shm_server(&channel, 4096);
    let endpoint = shm_endpoint(&channel, 4096);
    let mut client = connect(shm_posix::KIND, &endpoint, Duration::from_millis(300)).unwrap();
    signal(server.pid(), nix::sys::signal::Signal::SIGSTOP);
    let mut response = vec![0u8; 4096];
    let err = client.round_trip(b"ping", &mut response).unwrap_err();
    signal(server.pid(), nix::sys::signal::Signal::SIGCONT);
    assert!(
        err.to_string().contains(&format!(
            "timed out after 300ms waiting for semaphore /srb_{channel}_resp_full"
        )),
        "{err}"
    );
    drop(client);
    stop_server_clean(server, &channel);
}

#[test]
fn an_idle_server_waits_longer_than_its_timeout() {
    for kind in TransportKind::all().iter().copied() {
        let server = TestServer::start(kind, Duration::from_millis(100));
        // Idle for several of the server's timeouts: waiting for a client is not a request.
        std::thread::sleep(Duration::from_millis(600));
        echo(server.connect().as_mut(), 100);
        server.stop();
    }
}

#[test]
fn unix_stream_client_without_server_times_out_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::SocketFile {
        path: dir.path().join("nobody.sock"),
        buffer_size: BUFFER,
    };
    let err = connect(unix_stream::KIND, &endpoint, Duration::from_millis(300))
        .err()
        .expect("connecting without a server must fail");
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("timed out after 300ms waiting for a server at"),
        "{err}"
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn unix_stream_server_serves_one_client_after_another() {
    let server = TestServer::start(unix_stream::KIND, PATIENCE);
    for _ in 0..3 {
        echo(server.connect().as_mut(), 100);
    }
    server.stop();
}

#[test]
fn shm_spin_echoes_edge_sizes_across_clients() {
    let server = TestServer::start(shm_spin::KIND, PATIENCE);
    for _ in 0..2 {
        let mut client = server.connect();
        for len in [0, 1, 100, BUFFER - HEADER_LEN] {
            echo(client.as_mut(), len);
        }
    }
    server.stop();
}

#[test]
fn shm_spin_frozen_server_times_out() {
    let server = TestServer::start(shm_spin::KIND, PATIENCE);
    let mut client = connect(shm_spin::KIND, &server.endpoint, Duration::from_millis(300)).unwrap();
    signal(server.server.pid(), nix::sys::signal::Signal::SIGSTOP);
    let mut response = vec![0u8; 64];
    let err = client.round_trip(b"ping", &mut response).unwrap_err();
    signal(server.server.pid(), nix::sys::signal::Signal::SIGCONT);
    assert!(
        err.to_string()
            .contains("timed out after 300ms waiting for the reply"),
        "{err}"
    );
    drop(client);
    server.stop();
}

#[test]
fn an_oversized_zmq_frame_is_dropped_before_it_is_allocated_and_the_server_goes_on() {
    let peer = ZmqTestServer::start(4096);
    let hostile = peer.raw_client();
    hostile.set_rcvtimeo(300).unwrap();
    hostile.send(vec![7u8; 1 << 20], 0).unwrap();
    assert!(
        hostile.recv_bytes(0).is_err(),
        "a 1 MiB frame got an answer"
    );
    // The server is still there, and serves a well-behaved client.
    let endpoint = Endpoint::SocketFile {
        path: peer.socket_path.clone(),
        buffer_size: 4096,
    };
    let mut client = connect(zmq_ipc::KIND, &endpoint, PATIENCE).unwrap();
    let mut reply = [0u8; 4096];
    assert_eq!(client.round_trip(b"still here", &mut reply).unwrap(), 10);
    drop(client);
    signal(peer.server.pid(), Signal::SIGTERM);
    let (status, _, stderr) = peer.server.finish();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("libzmq disconnected"), "{stderr}");
    assert!(!peer.socket_path.exists());
}
