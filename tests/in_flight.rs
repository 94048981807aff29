//! Requests in flight (`--in-flight N`) over every transport of the registry whose spec says it
//! holds them ([`TransportKind::supports`]), each against a real server process started with
//! `--in-flight`, with the library's client:
//! 1. four requests outstanding, for 200 requests of 100 B and for 40 of 2 MiB (or the
//!    transport's largest message, if smaller: mqueue's): submit four, then collect one and
//!    submit one, then drain. 4 × 2 MiB in flight fill both directions' kernel buffers, where a
//!    byte stream that did not read while it wrote would deadlock. Every request carries its
//!    sequence number in its first 8 bytes; every reply must be its request, whole, in order;
//!    Sixteen of 2 MiB in flight (where a transport holds sixteen): more than TCP's loopback
//!    buffers hold;
//! 2. a client with one in flight (the default, and a server started without `--in-flight`)
//!    has nothing to collect before it submits ([`TransportError::NoRequest`]), then collects
//!    each reply as a round trip would, with round trips in between;
//! 3. a server that exits while requests are in flight (`--fault exit@N`) fails the client
//!    within its timeout, with a timeout or a peer gone: never a hang, never a wrong reply;
//! 4. an mqueue client refuses a server whose queues are shallower than its requests in flight;
//! 5. a ZeroMQ DEALER puts REP's empty delimiter before each request, and a reply without that
//!    envelope (a part missing, a part too many) is a protocol error (against a ROUTER the test
//!    drives by hand);
//! 6. every transport either holds requests in flight or says why not (the ones with one slot
//!    do), and mqueue refuses more than `msg_max`.
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

use std::process::ExitStatus;
use std::time::Duration;

use common::bounded::within;
use common::channel::{channel_leftovers, unique_channel};
use common::client::{connect, connect_with};
use common::process::{Spawned, PATIENCE};
use common::reached::{start_reachable, start_reachable_as, ReachableServer};
use common::signals::stop_server_clean;
use transport_bench::peer::lease::EndpointLease;
use transport_bench::peer::server::{Fault, FAULT_EXIT_CODE};
use transport_bench::transport::kinds as transports;
use transport_bench::transport::os::mqueue::MSG_MAX_FILE;
use transport_bench::transport::stream::payload_byte;
use transport_bench::transport::{
    payload_capacity, Endpoint, Pattern, Reason, TransportClient, TransportError, TransportKind,
    Workload, HEADER_LEN,
};

/// Requests outstanding at once.
const IN_FLIGHT: usize = 4;

/// The large requests: four of them fill a pipe, a socket's buffers, both ways.
const LARGE: usize = 2 * 1024 * 1024;

/// Room for a 2 MiB message behind its length header.
const BUFFER: usize = LARGE + HEADER_LEN;

/// How many requests of each size.
const SMALL_COUNT: u64 = 200;
const LARGE_COUNT: u64 = 40;

/// Bytes of the sequence number at the front of every request.
const SEQUENCE_LEN: usize = 8;

/// A client's timeout where the case expects it to run out (a server gone that nothing but the
/// timeout reports): long enough for a healthy reply on a loaded machine.
const GIVE_UP: Duration = Duration::from_secs(3);

/// The transports of the registry that hold `depth` requests in flight, as their specs say.
fn holding(depth: usize) -> impl Iterator<Item = TransportKind> {
    (TransportKind::all().iter().copied())
        .filter(move |kind| kind.supports(Workload::InFlight(depth)).is_ok())
}

/// The kind of a transport error and its text, so that an assertion on it names both.
fn describe(error: &TransportError) -> String {
    let kind = match error {
        TransportError::Timeout { .. } => "Timeout",
        TransportError::PeerGone(_) => "PeerGone",
        TransportError::NoRequest => "NoRequest",
        TransportError::Protocol(_) => "Protocol",
        _ => "Other",
    };
    format!("{kind}: {error}")
}

/// The largest request `kind` carries with a [`BUFFER`]-byte buffer, up to [`LARGE`].
fn large_request(kind: TransportKind) -> usize {
    kind.max_message(BUFFER)
        .map_or(payload_capacity(BUFFER), |limit| limit.bytes)
        .min(LARGE)
}

/// A real server of one transport, on a fresh channel, socket file or pair of pipes.
struct InFlightServer {
    kind: TransportKind,
    channel: String,
    server: Spawned,
    /// Where a client reaches the server.
    endpoint: Endpoint,
    /// Holds the pipes of a pipe endpoint.
    _lease: EndpointLease,
    dir: tempfile::TempDir,
}

impl InFlightServer {
    /// A ready server for clients with `in_flight` requests outstanding (1: the command line
    /// the driver gives any server), misbehaving as `fault` says.
    fn start(kind: TransportKind, in_flight: usize, fault: Option<Fault>) -> InFlightServer {
        let channel = unique_channel("inflight");
        let dir = tempfile::Builder::new()
            .prefix("in-flight-")
            .tempdir()
            .unwrap();
        let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
        let ReachableServer {
            server,
            endpoint,
            lease,
        } = match in_flight {
            1 => start_reachable(kind, endpoint, PATIENCE, fault),
            n => start_reachable_as(kind, endpoint, PATIENCE, fault, |args| {
                args.with_in_flight(n)
            }),
        };
        InFlightServer {
            kind,
            channel,
            server,
            endpoint,
            _lease: lease,
            dir,
        }
    }

    /// Runs `body` with a fresh client keeping `in_flight` requests outstanding, whose every
    /// wait is bounded by `timeout`, on a thread of its own: if it does not return well after
    /// that, the test fails saying that the client hung, instead of hanging itself.
    fn with_client<T: Send + 'static>(
        &self,
        in_flight: usize,
        timeout: Duration,
        body: impl FnOnce(&mut dyn TransportClient) -> T + Send + 'static,
    ) -> T {
        let (kind, endpoint) = (self.kind, self.endpoint.clone());
        let what = format!("{kind:?}: the client (its own timeout was {timeout:?})");
        within(timeout + PATIENCE, &what, move || {
            let mut client = match in_flight {
                1 => connect(kind, &endpoint, timeout),
                n => connect_with(kind, &endpoint, timeout, Pattern::RoundTrip, n),
            }
            .unwrap_or_else(|e| panic!("{kind:?}: connecting: {e}"));
            body(client.as_mut())
        })
    }

    /// Stops the server as the driver does (SIGTERM): it exits 0 and leaves nothing.
    fn stop(self) {
        stop_server_clean(self.server, &self.channel);
        assert_eq!(files_in(&self.dir), Vec::<String>::new(), "{:?}", self.kind);
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

/// A `len`-byte request: the payload pattern, under the sequence number that [`stamp`] puts
/// in front.
fn request_of(len: usize) -> Vec<u8> {
    (0..len).map(payload_byte).collect()
}

fn stamp(request: &mut [u8], sequence: u64) {
    request[..SEQUENCE_LEN].copy_from_slice(&sequence.to_le_bytes());
}

/// Checks that `reply` is request `sequence` of the pattern `request` holds: its length, its
/// number (so that replies come back in order), and every byte after it.
fn check_reply(reply: &[u8], request: &[u8], sequence: u64) -> Result<(), String> {
    if reply.len() != request.len() {
        return Err(format!(
            "reply {sequence}: {} bytes, its request had {}",
            reply.len(),
            request.len()
        ));
    }
    let number = u64::from_le_bytes(reply[..SEQUENCE_LEN].try_into().unwrap());
    if number != sequence {
        return Err(format!(
            "reply {sequence} carries sequence number {number}: out of order"
        ));
    }
    match (reply.iter().zip(request).skip(SEQUENCE_LEN)).position(|(got, sent)| got != sent) {
        Some(at) => Err(format!(
            "reply {sequence} differs from its request at byte {}",
            at + SEQUENCE_LEN
        )),
        None => Ok(()),
    }
}

/// `count` requests of `len` bytes, numbered from 0, with `depth` of them outstanding: submits
/// `depth`, then collects one and submits one while any are left to send, then drains.
fn pipeline(
    client: &mut dyn TransportClient,
    len: usize,
    count: u64,
    depth: usize,
) -> Result<(), String> {
    let mut request = request_of(len);
    let mut scratch = vec![0u8; BUFFER];
    let (mut next, mut oldest) = (0u64, 0u64);
    while oldest < count {
        while next < count && next - oldest < depth as u64 {
            stamp(&mut request, next);
            (client.submit(&request))
                .map_err(|e| format!("submitting request {next}: {}", describe(&e)))?;
            next += 1;
        }
        let reply = (client.collect(&mut scratch))
            .map_err(|e| format!("collecting reply {oldest}: {}", describe(&e)))?;
        check_reply(reply, &request, oldest)?;
        oldest += 1;
    }
    Ok(())
}

/// `depth` in flight, for `count` requests of `len` bytes: every reply is its request, in order.
fn echo_in_order(kind: TransportKind, depth: usize, len: usize, count: u64) {
    let server = InFlightServer::start(kind, depth, None);
    server.with_client(depth, PATIENCE, move |client| {
        pipeline(client, len, count, depth).unwrap_or_else(|e| {
            panic!("{kind:?}: {count} requests of {len} B, {depth} in flight: {e}")
        });
    });
    server.stop();
}

/// With one in flight, a client has nothing to collect before it submits; then each submit
/// and collect is a round trip's exchange, and real round trips go on between them.
fn one_in_flight_collects_like_a_round_trip(kind: TransportKind) {
    let server = InFlightServer::start(kind, 1, None);
    server.with_client(1, PATIENCE, move |client| {
        let mut scratch = vec![0u8; BUFFER];
        let early = client.collect(&mut scratch).map(<[u8]>::len);
        assert!(
            matches!(early, Err(TransportError::NoRequest)),
            "{kind:?}: collected before anything was submitted: {early:?}"
        );
        let mut request = request_of(100);
        for sequence in 0..20 {
            stamp(&mut request, sequence);
            if sequence % 2 == 0 {
                client.submit(&request).unwrap();
                let reply = client.collect(&mut scratch).unwrap();
                check_reply(reply, &request, sequence).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            } else {
                let len = client.round_trip(&request, &mut scratch).unwrap();
                check_reply(&scratch[..len], &request, sequence)
                    .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            }
        }
    });
    server.stop();
}

/// A server that exits on request 10, while requests are in flight, fails the client within
/// its timeout: every reply it collected was right (a wrong one fails the pipeline with its
/// own error), and then a timeout or a peer gone.
fn a_server_gone_with_requests_in_flight_fails_the_client(kind: TransportKind) {
    let server = InFlightServer::start(kind, IN_FLIGHT, Some(Fault::ExitAt(10)));
    let len = large_request(kind);
    let outcome = server.with_client(IN_FLIGHT, GIVE_UP, move |client| {
        pipeline(client, len, LARGE_COUNT, IN_FLIGHT)
    });
    let error = outcome.expect_err("requests to a server that exited were all answered");
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

#[test]
fn four_in_flight_small_requests_echo_in_order() {
    for kind in holding(IN_FLIGHT) {
        echo_in_order(kind, IN_FLIGHT, 100, SMALL_COUNT);
    }
}

#[test]
fn four_in_flight_large_requests_echo_in_order() {
    for kind in holding(IN_FLIGHT) {
        echo_in_order(kind, IN_FLIGHT, large_request(kind), LARGE_COUNT);
    }
}

#[test]
fn with_one_in_flight_a_client_collects_like_a_round_trip() {
    for kind in holding(IN_FLIGHT) {
        one_in_flight_collects_like_a_round_trip(kind);
    }
}

#[test]
fn a_server_gone_with_requests_in_flight_fails_its_client() {
    for kind in holding(IN_FLIGHT) {
        a_server_gone_with_requests_in_flight_fails_the_client(kind);
    }
}

/// Sixteen requests of 2 MiB in flight: more than TCP's loopback buffers hold both ways (which
/// autotune to megabytes, and take four), so that TCP too depends on its client reading
/// replies while it writes; on every transport that holds sixteen.
#[test]
fn sixteen_large_requests_in_flight_echo_in_order() {
    const DEPTH: usize = 16;
    for kind in holding(DEPTH) {
        echo_in_order(kind, DEPTH, large_request(kind), LARGE_COUNT);
    }
}

/// Every transport carries round trips; one that cannot hold requests in flight says why in
/// its spec, and a transport with one request slot is one of them.
#[test]
fn a_transport_holds_requests_in_flight_or_says_why_not() {
    for &kind in TransportKind::all() {
        assert_eq!(kind.supports(Workload::RoundTrip), Ok(()), "{kind:?}");
        match kind.supports(Workload::InFlight(IN_FLIGHT)) {
            Ok(()) => {}
            Err(Reason::Protocol(why)) => assert!(!why.is_empty(), "{kind:?}"),
            Err(other) => panic!("{kind:?}: {other}"),
        }
    }
    let one_slot = [
        transports::shm_posix::KIND,
        transports::shm_spin::KIND,
        transports::shm_zc::KIND,
    ];
    for kind in one_slot {
        assert!(
            kind.supports(Workload::InFlight(IN_FLIGHT)).is_err(),
            "{kind:?}"
        );
    }
}

#[test]
fn mqueue_refuses_more_in_flight_than_msg_max() {
    let mqueue = transports::mqueue::KIND;
    let refusal = mqueue.supports(Workload::InFlight(1000)).unwrap_err();
    assert!(refusal.to_string().contains("msg_max"), "{refusal}");
    // The kernel's limit as this machine has it, where it can be read.
    if let Some(msg_max) = (std::fs::read_to_string(MSG_MAX_FILE).ok())
        .and_then(|text| text.trim().parse::<usize>().ok())
    {
        assert_eq!(mqueue.supports(Workload::InFlight(msg_max)), Ok(()));
        let over = mqueue
            .supports(Workload::InFlight(msg_max + 1))
            .unwrap_err();
        assert_eq!(
            over,
            Reason::QueueTooShallow {
                setting: "msg_max",
                most: msg_max
            }
        );
    }
}

/// A server started without `--in-flight` has queues of one message: a client that keeps four
/// in flight refuses it at once, instead of waiting on it until its timeout.
#[test]
fn an_mqueue_client_refuses_queues_shallower_than_its_requests_in_flight() {
    let server = InFlightServer::start(transports::mqueue::KIND, 1, None);
    let refused = connect_with(
        transports::mqueue::KIND,
        &server.endpoint,
        PATIENCE,
        Pattern::RoundTrip,
        IN_FLIGHT,
    )
    .map(drop);
    match refused {
        Err(TransportError::Protocol(why)) => {
            assert!(why.contains("--in-flight 4"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    server.stop();
}

/// A ZeroMQ client with requests in flight sends each behind the empty delimiter REP expects,
/// and checks each reply for REP's envelope: one without the delimiter, with a part in its
/// place or with a part too many is a protocol error, and the next well-formed reply is
/// collected as ever. The server is a ROUTER the test drives, which sees what REP would.
#[test]
fn a_zmq_reply_without_rep_s_envelope_is_a_protocol_error() {
    let dir = tempfile::Builder::new()
        .prefix("in-flight-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("echo.sock");
    let context = zmq::Context::new();
    let router = context.socket(zmq::ROUTER).unwrap();
    router.set_linger(0).unwrap();
    router.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    router.bind(&format!("ipc://{}", path.display())).unwrap();
    let endpoint = Endpoint::SocketFile {
        path,
        buffer_size: 4096,
    };
    let kind = transports::zmq_ipc::KIND;
    let mut client =
        connect_with(kind, &endpoint, PATIENCE, Pattern::RoundTrip, IN_FLIGHT).unwrap();
    let mut scratch = vec![0u8; 4096];
    let answer = |client: &mut dyn TransportClient, envelope: &[&[u8]]| {
        client.submit(b"echo").unwrap();
        let mut parts = router.recv_multipart(0).unwrap();
        assert_eq!(
            parts[1..],
            [b"".to_vec(), b"echo".to_vec()],
            "what REP would get"
        );
        parts.truncate(1);
        parts.extend(envelope.iter().map(|part| part.to_vec()));
        router.send_multipart(parts, 0).unwrap();
    };
    let broken: [&[&[u8]]; 3] = [&[b"echo"], &[b"x", b"echo"], &[b"", b"echo", b"more"]];
    for envelope in broken {
        answer(client.as_mut(), envelope);
        match client.collect(&mut scratch) {
            Err(TransportError::Protocol(_)) => {}
            other => panic!("{envelope:?}: {other:?}"),
        }
    }
    answer(client.as_mut(), &[b"", b"echo"]);
    assert_eq!(client.collect(&mut scratch).unwrap(), b"echo");
}
