//! Each transport against a real server process: payload sizes at the edges, oversize
//! messages, a missing server, and cleanup of every object afterwards.
//!
//! Then the byte-stream framing against hostile peers on real Unix sockets: the test binds its
//! own listener and plays a server that writes its reply in pieces, hangs up or stalls, against
//! the library's real client; or it connects as a raw client that does the same to a real
//! server process. "In pieces" is not left to the scheduler: after each piece the hostile peer
//! waits until the other side has read every byte of it (`SIOCOUTQ`, the bytes it sent that are
//! still unread, drops to 0), so the receiver must have put the message together from several
//! reads.

mod common {
    pub mod channel;
    pub mod client;
    pub mod process;
    pub mod reached;
    pub mod server;
    pub mod shm;
    pub mod signals;
    pub mod zmq_peer;
}

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::channel::*;
use common::client::connect;
use common::process::{Spawned, PATIENCE};
use common::reached::start_reachable;
use common::shm::{shm_endpoint, start_shm_server};
use common::signals::*;
use common::zmq_peer::ZmqTestServer;
use nix::sys::signal::Signal;
use transport_bench::peer::lease::EndpointLease;
use transport_bench::peer::server::Fault;
use transport_bench::transport::kinds::{
    mqueue, shm_posix, shm_spin, shm_zc, unix_stream, zmq_ipc, zmq_tcp,
};
use transport_bench::transport::{
    Endpoint, TransportClient, TransportError, TransportKind, HEADER_LEN,
};

const BUFFER: usize = 64 * 1024;

/// The largest message `kind` carries with a `BUFFER`-byte buffer.
fn largest_message(kind: TransportKind) -> usize {
    kind.max_message(BUFFER)
        .map_or(BUFFER - HEADER_LEN, |limit| limit.bytes)
}

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

/// A real server process for one transport, on a fresh channel, private socket or pipes.
struct TestServer {
    kind: TransportKind,
    endpoint: Endpoint,
    channel: String,
    server: Spawned,
    _lease: EndpointLease,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// `timeout` bounds the server's waits inside an exchange.
    fn start(kind: TransportKind, timeout: Duration) -> TestServer {
        TestServer::with_fault(kind, timeout, None)
    }

    /// A server with `fault` injected (server mode's hidden `--fault`).
    fn with_fault(kind: TransportKind, timeout: Duration, fault: Option<Fault>) -> TestServer {
        let channel = unique_channel("rt");
        let dir = tempfile::Builder::new().prefix("rt-").tempdir().unwrap();
        let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
        let reachable = start_reachable(kind, endpoint, timeout, fault);
        TestServer {
            kind,
            endpoint: reachable.endpoint,
            channel,
            server: reachable.server,
            _lease: reachable.lease,
            _dir: dir,
        }
    }

    fn connect(&self) -> Box<dyn TransportClient> {
        connect(self.kind, &self.endpoint, Duration::from_secs(30)).unwrap()
    }

    /// The socket of a server addressed by a socket file.
    fn socket_path(&self) -> &Path {
        match &self.endpoint {
            Endpoint::SocketFile { path, .. } => path,
            _ => panic!("{:?} has no socket file", self.kind),
        }
    }

    /// A raw connection to a server addressed by a socket file.
    fn raw_client(&self) -> UnixStream {
        bounded(UnixStream::connect(self.socket_path()).unwrap())
    }

    /// Waits for the server to exit by itself; returns its exit code and stderr, and checks
    /// that it left nothing behind.
    fn finish(self) -> (Option<i32>, String) {
        let (status, _, stderr) = self.server.finish();
        assert_eq!(channel_leftovers(&self.channel), Vec::<String>::new());
        if let Endpoint::SocketFile { path, .. } = &self.endpoint {
            assert!(!path.exists(), "socket file left behind");
        }
        (status.code(), stderr)
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
fn an_oversize_request_is_refused_before_sending_and_the_channel_keeps_working() {
    // ZeroMQ has no buffer of its own to overflow; the SHM and stream transports share the
    // SHM capacity, and a message queue has its message size.
    for kind in [
        shm_posix::KIND,
        unix_stream::KIND,
        shm_spin::KIND,
        mqueue::KIND,
        shm_zc::KIND,
    ] {
        let largest = largest_message(kind);
        with_server(kind, |client| {
            let request = vec![1u8; largest + 1];
            let mut response = vec![0u8; BUFFER];
            let err = client.round_trip(&request, &mut response).unwrap_err();
            assert!(
                matches!(err, TransportError::MessageTooLarge { len, capacity }
                    if len == largest + 1 && capacity == largest),
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
        (zmq_tcp::KIND, "2048-byte reply does not fit"),
        (
            mqueue::KIND,
            "a 2048-byte reply does not fit the 1024-byte receive buffer",
        ),
        (
            unix_stream::KIND,
            "peer announced a 2048-byte message, more than the 1024 bytes",
        ),
        (
            shm_spin::KIND,
            "peer announced a 2048-byte message, more than the 1024 bytes",
        ),
        (
            shm_zc::KIND,
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
    for (kind, object) in [
        (shm_posix::KIND, "req"),
        (shm_spin::KIND, "spin"),
        (shm_zc::KIND, "zc"),
    ] {
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
fn zmq_tcp_client_without_server_times_out_clearly() {
    // A port nobody listens on: the system's pick, given back at once.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = Endpoint::Tcp {
        addr: free.local_addr().unwrap(),
        buffer_size: BUFFER,
    };
    drop(free);
    let mut client = connect(zmq_tcp::KIND, &endpoint, Duration::from_millis(300)).unwrap();
    let mut response = vec![0u8; 16];
    let err = client.round_trip(b"hello", &mut response).unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("timed out after 300ms"), "{err}");
}

#[test]
fn a_stopped_zmq_tcp_server_leaves_no_port_listening() {
    let server = TestServer::start(zmq_tcp::KIND, PATIENCE);
    let Endpoint::Tcp { addr, .. } = server.endpoint else {
        panic!("a TCP endpoint");
    };
    assert_ne!(addr.port(), 0, "the server reports the port it chose");
    echo(server.connect().as_mut(), 100);
    server.stop();
    // The port was the system's pick; another test is unlikely to be given it again at once.
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{addr}"
    );
}

#[test]
fn mqueue_client_without_server_times_out_naming_the_queue() {
    let channel = unique_channel("absent");
    let started = Instant::now();
    let endpoint = shm_endpoint(&channel, BUFFER);
    let err = connect(mqueue::KIND, &endpoint, Duration::from_millis(300))
        .err()
        .expect("connecting without a server must fail");
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("timed out after 300ms"), "{text}");
    assert!(text.contains(&format!("/{channel}_req")), "{text}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

#[test]
fn mqueue_frozen_server_times_out_naming_the_reply_queue() {
    let server = TestServer::start(mqueue::KIND, PATIENCE);
    let mut client = connect(mqueue::KIND, &server.endpoint, Duration::from_millis(300)).unwrap();
    signal(server.server.pid(), Signal::SIGSTOP);
    let mut response = vec![0u8; BUFFER];
    let err = client.round_trip(b"ping", &mut response).unwrap_err();
    signal(server.server.pid(), Signal::SIGCONT);
    let expected = format!(
        "timed out after 300ms waiting for a message in queue /{}_resp",
        server.channel
    );
    assert!(err.to_string().contains(&expected), "{err}");
    drop(client);
    server.stop();
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
fn sequence_transports_echo_edge_sizes_across_clients() {
    for kind in [shm_spin::KIND, shm_zc::KIND] {
        let server = TestServer::start(kind, PATIENCE);
        for _ in 0..2 {
            let mut client = server.connect();
            for len in [0, 1, 100, BUFFER - HEADER_LEN] {
                echo(client.as_mut(), len);
            }
        }
        server.stop();
    }
}

#[test]
fn sequence_transports_time_out_on_a_frozen_server() {
    for kind in [shm_spin::KIND, shm_zc::KIND] {
        let server = TestServer::start(kind, PATIENCE);
        let mut client = connect(kind, &server.endpoint, Duration::from_millis(300)).unwrap();
        signal(server.server.pid(), nix::sys::signal::Signal::SIGSTOP);
        let mut response = vec![0u8; 64];
        let err = client.round_trip(b"ping", &mut response).unwrap_err();
        signal(server.server.pid(), nix::sys::signal::Signal::SIGCONT);
        assert!(
            err.to_string()
                .contains("timed out after 300ms waiting for the reply"),
            "{kind:?}: {err}"
        );
        drop(client);
        server.stop();
    }
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

// Byte-stream framing against hostile peers.

/// A message as it travels: the native-endian length, then the payload.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_ne_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// Waits until the peer of `stream` has read every byte written to it.
fn wait_until_peer_took_everything(stream: &UnixStream) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut unread: libc::c_int = 0;
        // SAFETY: the descriptor is an open socket, borrowed for the call; TIOCOUTQ (SIOCOUTQ)
        // writes one c_int, through a pointer to a live local of that type.
        let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut unread) };
        assert_eq!(rc, 0, "SIOCOUTQ: {}", std::io::Error::last_os_error());
        if unread == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the peer never read {unread} bytes"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Writes `bytes` in pieces cut at `cuts`, each read by the peer before the next is written.
fn write_in_pieces(stream: &mut UnixStream, bytes: &[u8], cuts: &[usize]) {
    let mut start = 0;
    for &end in cuts.iter().chain([bytes.len()].iter()) {
        stream.write_all(&bytes[start..end]).unwrap();
        wait_until_peer_took_everything(stream);
        start = end;
    }
}

/// A raw stream whose reads fail, rather than hang the test, if a message never comes.
fn bounded(stream: UnixStream) -> UnixStream {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Reads one framed message from a raw stream.
fn read_message(stream: &mut UnixStream) -> Vec<u8> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).unwrap();
    let mut payload = vec![0u8; u32::from_ne_bytes(header) as usize];
    stream.read_exact(&mut payload).unwrap();
    payload
}

/// A private directory with a socket path in it.
struct SocketDir {
    dir: tempfile::TempDir,
}

impl SocketDir {
    fn new() -> SocketDir {
        let dir = tempfile::Builder::new()
            .prefix("framing-")
            .tempdir()
            .unwrap();
        SocketDir { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("echo.sock")
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::SocketFile {
            path: self.path(),
            buffer_size: BUFFER,
        }
    }
}

/// The test as a hostile server: accepts one connection of the library's client and runs
/// `script` on it, in a thread, while the test's own thread makes the client's round trips.
fn hostile_server(path: &Path, script: impl FnOnce(UnixStream) + Send + 'static) -> JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || script(bounded(listener.accept().unwrap().0)))
}

fn round_trip(client: &mut dyn TransportClient, request: &[u8]) -> Result<Vec<u8>, TransportError> {
    let mut response = vec![0u8; BUFFER];
    let len = client.round_trip(request, &mut response)?;
    response.truncate(len);
    Ok(response)
}

#[test]
fn a_reply_in_pieces_is_received_whole_with_its_header_split_across_reads() {
    let dir = SocketDir::new();
    let server = hostile_server(&dir.path(), |mut stream| {
        for _ in 0..2 {
            let request = read_message(&mut stream);
            let reply = framed(&request);
            // One header byte, then three; then the payload in three chunks.
            let third = request.len() / 3;
            let cuts = [1, HEADER_LEN, HEADER_LEN + third, HEADER_LEN + 2 * third];
            write_in_pieces(&mut stream, &reply, &cuts);
        }
    });
    let mut client = connect(unix_stream::KIND, &dir.endpoint(), PATIENCE).unwrap();
    for len in [3000, 30_000] {
        let request = payload(len, 0x5a);
        assert_eq!(round_trip(client.as_mut(), &request).unwrap(), request);
    }
    server.join().unwrap();
}

#[test]
fn bytes_past_the_end_of_a_reply_start_the_next_one() {
    let dir = SocketDir::new();
    let (first, second, third) = (payload(10, 1), payload(20, 2), payload(30, 3));
    let replies = (first.clone(), second.clone(), third.clone());
    let server = hostile_server(&dir.path(), move |mut stream| {
        read_message(&mut stream);
        // The whole first reply, the whole second one and half a header of the third, in one
        // write: the client's first read takes them all.
        let mut burst = framed(&replies.0);
        burst.extend(framed(&replies.1));
        let third = framed(&replies.2);
        burst.extend(&third[..2]);
        stream.write_all(&burst).unwrap();
        wait_until_peer_took_everything(&stream);
        read_message(&mut stream);
        read_message(&mut stream);
        stream.write_all(&third[2..]).unwrap();
    });
    let mut client = connect(unix_stream::KIND, &dir.endpoint(), PATIENCE).unwrap();
    for expected in [first, second, third] {
        assert_eq!(round_trip(client.as_mut(), b"next").unwrap(), expected);
    }
    server.join().unwrap();
}

#[test]
fn a_server_that_hangs_up_mid_reply_breaks_the_round_trip() {
    let request = payload(100, 7);
    let reply = framed(&request);
    for hang_up_after in [2, HEADER_LEN + 50] {
        let dir = SocketDir::new();
        let part = reply[..hang_up_after].to_vec();
        let server = hostile_server(&dir.path(), move |mut stream| {
            read_message(&mut stream);
            stream.write_all(&part).unwrap();
        });
        let mut client = connect(unix_stream::KIND, &dir.endpoint(), PATIENCE).unwrap();
        let err = round_trip(client.as_mut(), &request).unwrap_err();
        assert!(
            matches!(err, TransportError::PeerGone(_)),
            "after {hang_up_after} bytes: {err}"
        );
        assert_eq!(
            err.to_string(),
            "the connection to the peer broke: closed while we waited for the reply"
        );
        server.join().unwrap();
    }
}

#[test]
fn a_server_that_stalls_times_the_round_trip_out_wherever_it_stalls() {
    let request = payload(100, 9);
    let reply = framed(&request);
    for stall_after in [0, 2, HEADER_LEN + 50] {
        let dir = SocketDir::new();
        let part = reply[..stall_after].to_vec();
        let (done, client_done) = std::sync::mpsc::channel::<()>();
        let server = hostile_server(&dir.path(), move |mut stream| {
            read_message(&mut stream);
            stream.write_all(&part).unwrap();
            // Stall with the connection open until the client has given up.
            client_done.recv().unwrap();
        });
        let timeout = Duration::from_millis(300);
        let mut client = connect(unix_stream::KIND, &dir.endpoint(), timeout).unwrap();
        let err = round_trip(client.as_mut(), &request).unwrap_err();
        done.send(()).unwrap();
        assert!(
            matches!(err, TransportError::Timeout { .. }),
            "after {stall_after} bytes: {err}"
        );
        assert_eq!(
            err.to_string(),
            "timed out after 300ms waiting for the reply"
        );
        server.join().unwrap();
    }
}

#[test]
fn a_request_in_pieces_is_echoed_whole_with_its_header_split_across_reads() {
    let server = TestServer::start(unix_stream::KIND, PATIENCE);
    let mut client = server.raw_client();
    for len in [3000, 30_000] {
        let request = payload(len, 0x33);
        let third = len / 3;
        let cuts = [1, 3, HEADER_LEN, HEADER_LEN + third, HEADER_LEN + 2 * third];
        write_in_pieces(&mut client, &framed(&request), &cuts);
        assert_eq!(read_message(&mut client), request);
    }
    drop(client);
    server.stop();
}

#[test]
fn requests_sent_back_to_back_are_echoed_one_by_one() {
    let server = TestServer::start(unix_stream::KIND, PATIENCE);
    let mut client = server.raw_client();
    let requests: Vec<Vec<u8>> = (1..=4).map(|i| payload(i * 10, i as u8)).collect();
    // Three whole requests and half the header of a fourth in one write: the server's first
    // read takes them all, and must echo each on its own.
    let mut burst: Vec<u8> = requests[..3].iter().flat_map(|r| framed(r)).collect();
    let fourth = framed(&requests[3]);
    burst.extend(&fourth[..2]);
    client.write_all(&burst).unwrap();
    for request in &requests[..3] {
        assert_eq!(&read_message(&mut client), request);
    }
    client.write_all(&fourth[2..]).unwrap();
    assert_eq!(read_message(&mut client), requests[3]);
    drop(client);
    server.stop();
}

#[test]
fn a_client_that_hangs_up_mid_request_ends_only_its_connection() {
    let server = TestServer::start(unix_stream::KIND, PATIENCE);
    for sent in [2, HEADER_LEN + 10] {
        let mut hostile = server.raw_client();
        write_in_pieces(&mut hostile, &framed(&payload(100, 1))[..sent], &[]);
    }
    let mut client = server.connect();
    let request = payload(100, 2);
    assert_eq!(round_trip(client.as_mut(), &request).unwrap(), request);
    drop(client);
    server.stop();
}

#[test]
fn a_fault_meant_for_a_request_whose_client_left_is_judged_on_the_next_request() {
    // flip@1:10: the first request answered gets byte 10 flipped, if it has one. A client that
    // sends a 4-byte request and can no longer receive (its reading side shut, so the reply
    // fails with EPIPE) is not answered; the next client's 100-byte request is the first one,
    // and its own length decides the flip.
    let fault = Fault::FlipByteAt {
        request: 1,
        offset: 10,
    };
    let server = TestServer::with_fault(unix_stream::KIND, PATIENCE, Some(fault));
    let left = server.raw_client();
    left.shutdown(std::net::Shutdown::Read).unwrap();
    (&left).write_all(&framed(&payload(4, 1))).unwrap();
    drop(left);
    let mut next = server.raw_client();
    let request = payload(100, 2);
    next.write_all(&framed(&request)).unwrap();
    let reply = read_message(&mut next);
    let changed: Vec<usize> = (0..request.len())
        .filter(|&i| reply[i] != request[i])
        .collect();
    assert_eq!(changed, vec![10], "the reply to the first answered request");
    drop(next);
    server.stop();
}

#[test]
fn a_client_that_stalls_mid_request_is_timed_out_and_the_next_is_served() {
    let server = TestServer::start(unix_stream::KIND, Duration::from_millis(300));
    let mut stalled = server.raw_client();
    write_in_pieces(
        &mut stalled,
        &framed(&payload(100, 1))[..HEADER_LEN + 10],
        &[],
    );
    // The server ends this connection once the request has stalled for its timeout.
    let mut rest = Vec::new();
    let ended = stalled.read_to_end(&mut rest);
    assert!(ended.is_ok() && rest.is_empty(), "{ended:?}, {rest:?}");
    let mut client = server.connect();
    let request = payload(100, 2);
    assert_eq!(round_trip(client.as_mut(), &request).unwrap(), request);
    drop(client);
    signal(server.server.pid(), Signal::SIGTERM);
    let (code, stderr) = server.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("ended 1 connection(s) whose exchange failed (the last: timed out after 300ms waiting for a request)"),
        "{stderr}"
    );
}

#[test]
fn sigterm_stops_a_server_whose_client_stalls_mid_request() {
    // A timeout far beyond the test's patience: only the stop flag can end this wait in time.
    let server = TestServer::start(unix_stream::KIND, Duration::from_secs(3600));
    let mut stalled = server.raw_client();
    write_in_pieces(
        &mut stalled,
        &framed(&payload(100, 1))[..HEADER_LEN + 10],
        &[],
    );
    server.stop();
}
