//! The one-way stream (`--pattern stream`) over every transport of the registry whose spec says
//! it carries one ([`TransportKind::supports`]), each against a real `--pattern stream` server
//! process, with the library's stream client:
//! 1. on one connection, streams of 100 B and of 64 KiB messages (or the transport's largest,
//!    if smaller), each size twice, each message stamped with its sequence number and checked
//!    byte for byte by the server, each stream ended by a round trip whose echo (the
//!    acknowledgement) is the end message itself;
//! 2. a message corrupted on the way (`--fault flip@N:OFFSET`, checked on a corrupted copy)
//!    ends the server with an error that names the message and the byte, and fails the client;
//! 3. a server that exits mid-stream (`--fault exit@N`) fails the client, within its timeout,
//!    with a timeout or a peer gone: never ok, never a hang;
//! 4. a server's `inspect` and `consume` with no message handed out say so
//!    ([`TransportError::NoRequest`]);
//! 5. a ZeroMQ client connected for round trips (REQ) refuses to send one way, and its round
//!    trips go on.
//!
//! After each, nothing is left: no channel object (`/dev/shm`, message queues), no socket file.

mod common {
    pub mod bounded;
    pub mod channel;
    pub mod client;
    pub mod process;
    pub mod reached;
    pub mod server;
    pub mod signals;
}

use std::os::fd::AsRawFd;
use std::process::ExitStatus;
use std::time::Duration;

use common::bounded::within;
use common::channel::{channel_leftovers, unique_channel};
use common::client::{connect, connect_for};
use common::process::{Spawned, PATIENCE};
use common::reached::{start_reachable, start_reachable_as, ReachableServer};
use common::signals::stop_server_clean;
use transport_bench::peer::lease::EndpointLease;
use transport_bench::peer::server::{Fault, FAULT_EXIT_CODE};
use transport_bench::transport::os::pipe::PipePair;
use transport_bench::transport::stream::{payload_byte, SEQUENCE_LEN, STREAM_END};
use transport_bench::transport::{
    payload_capacity, Endpoint, Pattern, PipeFds, TransportClient, TransportError, TransportKind,
    TransportOptions, TransportServer, Workload, HEADER_LEN,
};

/// Room for a 64 KiB message behind its length header.
const BUFFER: usize = 64 * 1024 + HEADER_LEN;

/// The message sizes of the streams, where the transport carries them.
const SIZES: [usize; 2] = [100, 64 * 1024];

/// Messages per stream, before its end.
const COUNT: u64 = 200;

/// A client's timeout where the case expects it to run out (a server gone that nothing but
/// the timeout reports): long enough for a healthy message on a loaded machine.
const GIVE_UP: Duration = Duration::from_secs(3);

/// The stream message numbered `sequence`: its number, then the payload pattern.
fn message(sequence: u64, len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(payload_byte).collect();
    stamp(&mut bytes, sequence);
    bytes
}

fn stamp(message: &mut [u8], sequence: u64) {
    message[..SEQUENCE_LEN].copy_from_slice(&sequence.to_le_bytes());
}

/// The largest message `kind` carries with a [`BUFFER`]-byte buffer.
fn largest_message(kind: TransportKind) -> usize {
    kind.max_message(BUFFER)
        .map_or(payload_capacity(BUFFER), |limit| limit.bytes)
}

/// The kind of a transport error and its text, so that an assertion on it names both.
fn describe(error: &TransportError) -> String {
    let kind = match error {
        TransportError::Timeout { .. } => "Timeout",
        TransportError::PeerGone(_) => "PeerGone",
        _ => "Other",
    };
    format!("{kind}: {error}")
}

/// A real `--pattern stream` server of one transport, on a fresh channel, socket file or
/// pair of pipes.
struct StreamServer {
    kind: TransportKind,
    channel: String,
    server: Spawned,
    /// Where a client reaches the server.
    endpoint: Endpoint,
    /// Holds the pipes of a pipe endpoint.
    _lease: EndpointLease,
    dir: tempfile::TempDir,
}

impl StreamServer {
    /// A ready server that checks every byte of every message, misbehaving as `fault` says.
    fn start(kind: TransportKind, fault: Option<Fault>) -> StreamServer {
        let channel = unique_channel("stream");
        let dir = tempfile::Builder::new()
            .prefix("stream-")
            .tempdir_in(std::env::temp_dir())
            .unwrap();
        let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
        let ReachableServer {
            server,
            endpoint,
            lease,
        } = start_reachable_as(kind, endpoint, PATIENCE, fault, |args| {
            args.exchanging(Pattern::Stream, None, true)
        });
        StreamServer {
            kind,
            channel,
            server,
            endpoint,
            _lease: lease,
            dir,
        }
    }

    /// Runs `body` with a fresh stream client whose every wait is bounded by `timeout`, in a
    /// thread of its own: if it does not return well after that, the test fails saying that
    /// the client hung, instead of hanging itself.
    fn with_client<T: Send + 'static>(
        &self,
        timeout: Duration,
        body: impl FnOnce(&mut dyn TransportClient) -> T + Send + 'static,
    ) -> T {
        let (kind, endpoint) = (self.kind, self.endpoint.clone());
        let what = format!("{kind:?}: the client (its own timeout was {timeout:?})");
        within(timeout + PATIENCE, &what, move || {
            let mut client = connect_for(kind, &endpoint, timeout, Pattern::Stream)
                .unwrap_or_else(|e| panic!("{kind:?}: connecting: {e}"));
            body(client.as_mut())
        })
    }

    /// Stops the server as the driver does (SIGTERM): it exits 0 and leaves nothing.
    fn stop(self) {
        stop_server_clean(self.server, &self.channel);
        let left = files_in(&self.dir);
        assert_eq!(left, Vec::<String>::new(), "{:?}: files left", self.kind);
    }

    /// Waits for the server to exit by itself; its status and stderr. It leaves nothing.
    fn finish(self) -> (ExitStatus, String) {
        let (status, _, stderr) = self.server.finish();
        let mut left = channel_leftovers(&self.channel);
        left.extend(files_in(&self.dir));
        assert_eq!(left, Vec::<String>::new(), "{:?}: objects left", self.kind);
        (status, stderr)
    }
}

/// What is in a private directory (a socket file left behind).
fn files_in(dir: &tempfile::TempDir) -> Vec<String> {
    (std::fs::read_dir(dir.path()).unwrap().flatten())
        .map(|entry| entry.path().display().to_string())
        .collect()
}

/// Sends `count` messages of `len` bytes numbered from `first`, then the end as a round trip;
/// the acknowledgement must be the end message itself.
fn stream(
    client: &mut dyn TransportClient,
    first: u64,
    count: u64,
    len: usize,
) -> Result<(), String> {
    let mut next = message(first, len);
    for sequence in first..first + count {
        stamp(&mut next, sequence);
        (client.send(&next))
            .map_err(|e| format!("sending message {sequence}: {}", describe(&e)))?;
    }
    let end = message(STREAM_END, len);
    let mut ack = vec![0u8; len];
    let got = (client.round_trip(&end, &mut ack))
        .map_err(|e| format!("the end's round trip: {}", describe(&e)))?;
    if ack[..got] != end[..] {
        return Err(format!(
            "the acknowledgement differs from the end: {got} bytes, the end had {len}"
        ));
    }
    Ok(())
}

/// Two streams of each size on one connection, every one acknowledged.
fn two_streams_of_each_size_are_acknowledged(kind: TransportKind) {
    let server = StreamServer::start(kind, None);
    let sizes: Vec<usize> = SIZES.map(|size| size.min(largest_message(kind))).to_vec();
    server.with_client(PATIENCE, move |client| {
        // The numbers run on across streams, as the driver's do after its warm-up.
        let mut first = 1;
        for len in sizes {
            for round in 1..=2 {
                stream(client, first, COUNT, len)
                    .unwrap_or_else(|e| panic!("{kind:?}: stream {round} of {len} B: {e}"));
                first += COUNT;
            }
        }
    });
    server.stop();
}

/// A message corrupted on the way ends the server with the reason, and the client fails.
fn a_corrupt_message_ends_the_server_naming_it(kind: TransportKind) {
    let fault = Fault::FlipByteAt {
        request: 5,
        offset: 50,
    };
    let server = StreamServer::start(kind, Some(fault));
    let outcome = server.with_client(GIVE_UP, |client| stream(client, 1, 20, 100));
    assert!(
        outcome.is_err(),
        "{kind:?}: a corrupt stream was acknowledged"
    );
    let (status, stderr) = server.finish();
    assert_eq!(
        status.code(),
        Some(1),
        "{kind:?}: {status:?}; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("stream message 5 ") && stderr.contains("at byte offset 50"),
        "{kind:?}: the server's error does not name the message and the byte:\n{stderr}"
    );
}

/// A server that exits mid-stream fails the client within its timeout, never ok.
fn a_server_gone_mid_stream_fails_the_client(kind: TransportKind) {
    let server = StreamServer::start(kind, Some(Fault::ExitAt(50)));
    let outcome = server.with_client(GIVE_UP, |client| stream(client, 1, COUNT, 100));
    let error = outcome.expect_err("a stream to a server that exited was acknowledged");
    assert!(
        error.contains("Timeout: ") || error.contains("PeerGone: "),
        "{kind:?}: not a clear error: {error}"
    );
    let (status, stderr) = server.finish();
    assert_eq!(
        status.code(),
        Some(i32::from(FAULT_EXIT_CODE)),
        "{kind:?}: {status:?}; stderr:\n{stderr}"
    );
}

/// A ZeroMQ client connected for round trips is a REQ socket, which cannot send one way: its
/// `send` is refused, and its round trips go on.
fn a_round_trip_client_refuses_to_send(kind: TransportKind) {
    let channel = unique_channel("stream_req");
    let dir = tempfile::Builder::new()
        .prefix("stream-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
    let reachable = start_reachable(kind, endpoint, PATIENCE, None);
    let mut client = connect(kind, &reachable.endpoint, PATIENCE).unwrap();
    let refused = client.send(&message(1, 100));
    assert!(
        matches!(
            refused,
            Err(TransportError::PatternUnsupported {
                pattern: Pattern::Stream,
                ..
            })
        ),
        "{kind:?}: {refused:?}"
    );
    let request = message(2, 100);
    let mut reply = vec![0u8; 100];
    let len = client.round_trip(&request, &mut reply).unwrap();
    assert_eq!(
        reply[..len],
        request[..],
        "{kind:?}: the echo after a refused send"
    );
    drop(client);
    stop_server_clean(reachable.server, &channel);
    assert_eq!(files_in(&dir), Vec::<String>::new());
}

/// A stream server bound in this process, on `endpoint` (the server's side).
fn bind_stream_server(kind: TransportKind, endpoint: &Endpoint) -> Box<dyn TransportServer> {
    common::process::leave_library_dirs_as_found(kind);
    let options = TransportOptions {
        timeout: PATIENCE,
        spin_budget: None,
        pattern: Pattern::Stream,
        ring_depth: None,
        in_flight: 1,
    };
    (kind.bind(endpoint, options)).unwrap_or_else(|e| panic!("{kind:?}: binding: {e}"))
}

/// With no message handed out, a server has nothing to inspect or consume.
fn nothing_handed_out_is_no_request(kind: TransportKind) {
    let channel = unique_channel("stream_none");
    let dir = tempfile::Builder::new()
        .prefix("stream-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    // A pipe server binds to ends of pipes of this process's own.
    let pipes = PipePair::new().unwrap();
    let endpoint = match kind.endpoint(&channel, dir.path(), BUFFER) {
        Endpoint::Pipes { buffer_size, .. } => {
            let [(receive, _), (send, _)] = pipes.server_ends().unwrap();
            let fds = PipeFds {
                receive: receive.as_raw_fd(),
                send: send.as_raw_fd(),
            };
            Endpoint::Pipes { fds, buffer_size }
        }
        endpoint => endpoint,
    };
    let mut server = bind_stream_server(kind, &endpoint);
    let looked = server.inspect(&mut |_| panic!("{kind:?}: inspected a message never sent"));
    assert!(
        matches!(looked, Err(TransportError::NoRequest)),
        "{kind:?}: {looked:?}"
    );
    let consumed = server.consume();
    assert!(
        matches!(consumed, Err(TransportError::NoRequest)),
        "{kind:?}: {consumed:?}"
    );
    drop(server);
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
    assert_eq!(files_in(&dir), Vec::<String>::new());
}

/// The transports of the registry that carry a stream, as their specs say. (Each test's
/// directories are made in the system's temporary directory by name: an ipc-channel server
/// bound in this process points tempfile's own default elsewhere, once per process.)
fn streaming() -> impl Iterator<Item = TransportKind> {
    (TransportKind::all().iter().copied()).filter(|kind| kind.supports(Workload::Stream).is_ok())
}

#[test]
fn two_streams_of_each_size_are_acknowledged_on_every_transport() {
    streaming().for_each(two_streams_of_each_size_are_acknowledged);
}

#[test]
fn a_corrupt_message_ends_the_server_naming_it_on_every_transport() {
    streaming().for_each(a_corrupt_message_ends_the_server_naming_it);
}

#[test]
fn a_server_gone_mid_stream_fails_the_client_on_every_transport() {
    streaming().for_each(a_server_gone_mid_stream_fails_the_client);
}

#[test]
fn nothing_handed_out_is_no_request_on_every_transport() {
    streaming().for_each(nothing_handed_out_is_no_request);
}

#[test]
fn a_zmq_ipc_round_trip_client_refuses_to_send() {
    a_round_trip_client_refuses_to_send(transport_bench::transport::kinds::zmq_ipc::KIND);
}

#[test]
fn a_zmq_tcp_round_trip_client_refuses_to_send() {
    a_round_trip_client_refuses_to_send(transport_bench::transport::kinds::zmq_tcp::KIND);
}
