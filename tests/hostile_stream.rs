//! What a hostile user or peer can do to a stream (`--pattern stream`) and to `--pairs`, and
//! what must come of it:
//! - a standalone stream server whose client hangs up mid-stream (a driver stopped with
//!   Ctrl-C), on every transport that serves one client after another, and through a full ring
//!   one slot deep: the server goes on, and serves the next client;
//! - a client of SHM spin or SHM zero-copy whose buffer size is not its server's (its slots
//!   would lie elsewhere): refused on connect with the remedy, and the server goes on;
//! - a client that died waiting for its stream's acknowledgement, which stays in the message
//!   queue: the next client does not take it for its own;
//! - 64 SHM POSIX pairs, each client with six mappings watched for truncation: all measured;
//! - one pair's server killed mid-run: the other pair stops too, and the run names the cause.
//!
//! Nothing is timed; every wait is bounded; nothing may be left behind.

mod common {
    pub mod bounded;
    pub mod busy;
    pub mod channel;
    pub mod driver;
    pub mod process;
    pub mod reached;
    pub mod server;
    pub mod signals;
    pub mod streaming;
}

use std::time::Duration;

use common::busy::{wait_for_server, wait_until_busy};
use common::channel::unique_channel;
use common::driver::Driver;
use common::process::{Spawned, PATIENCE};
use common::reached::{start_reachable, start_reachable_as, ReachableServer};
use common::signals::{signal, stop_server_clean};
use common::streaming::{
    connect_for, stamp, stream_message, stream_server_args, within_patience, ProcessWatch,
};
use nix::sys::signal::Signal;
use std::sync::Arc;
use transport_bench::peer::lease::EndpointLease;
use transport_bench::transport::stream::STREAM_END;
use transport_bench::transport::{
    Endpoint, Pattern, TransportClient, TransportError, TransportKind, HEADER_LEN,
};

/// The buffer of every server here: room for a few kilobytes.
const BUFFER: usize = 16 * 1024 + HEADER_LEN;

/// The size of every message here.
const LEN: usize = 100;

/// A client's timeout where the case expects it to run out.
const GIVE_UP: Duration = Duration::from_secs(3);

/// A standalone `--pattern stream` server that checks every byte, on a fresh channel or
/// socket file; killed (and what it left removed) if a test fails half-way.
struct StreamServer {
    kind: TransportKind,
    channel: String,
    server: Option<Spawned>,
    endpoint: Endpoint,
    _lease: EndpointLease,
    _dir: tempfile::TempDir,
}

impl StreamServer {
    fn start(kind: TransportKind, timeout: Duration) -> StreamServer {
        StreamServer::serving(kind, timeout, Pattern::Stream, None)
    }

    /// A server of `pattern` (for round trips, a plain echo server), of a ring `ring_depth`
    /// deep if given (SHM spin, SHM zero-copy).
    fn serving(
        kind: TransportKind,
        timeout: Duration,
        pattern: Pattern,
        ring_depth: Option<usize>,
    ) -> StreamServer {
        let channel = unique_channel("hostile_stream");
        let dir = tempfile::Builder::new()
            .prefix("hostile-stream-")
            .tempdir()
            .unwrap();
        let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
        let ReachableServer {
            server,
            endpoint,
            lease,
        } = match (pattern, ring_depth) {
            (Pattern::RoundTrip, _) => start_reachable(kind, endpoint, timeout, None),
            (Pattern::Stream, None) => start_reachable_as(kind, endpoint, timeout, None, |args| {
                args.exchanging(Pattern::Stream, None, true)
            }),
            // A ring's depth: a channel's, whose endpoint the lease keeps as it is.
            (Pattern::Stream, depth) => {
                let mut args = stream_server_args(kind, &endpoint, depth, None);
                args.timeout = timeout;
                start_reachable_as(kind, endpoint, timeout, None, |_| args)
            }
            (Pattern::OneWay, _) => {
                panic!("{kind:?}: these hostile servers serve round trips and streams")
            }
        };
        StreamServer {
            kind,
            channel,
            server: Some(server),
            endpoint,
            _lease: lease,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.server.as_ref().expect("a running server").pid()
    }

    fn client(&self, timeout: Duration) -> Box<dyn TransportClient> {
        let watch = Arc::new(ProcessWatch(self.pid()));
        connect_for(self.kind, &self.endpoint, Pattern::Stream, timeout, watch)
            .unwrap_or_else(|e| panic!("{:?}: connecting: {e}", self.kind))
    }

    fn stderr(&self) -> String {
        let server = self.server.as_ref().expect("a running server");
        let text = server.stderr.lock().unwrap().clone();
        text
    }

    /// SIGTERM: it must still be running, exit 0 and leave nothing.
    fn stop(mut self) {
        let server = self.server.take().expect("a running server");
        stop_server_clean(server, &self.channel);
    }
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server);
            self.endpoint.remove_leftovers();
        }
    }
}

/// Sends messages `first..first + count` one way.
fn send_messages(
    client: &mut dyn TransportClient,
    first: u64,
    count: u64,
) -> Result<(), TransportError> {
    let mut message = stream_message(first, LEN);
    for sequence in first..first + count {
        stamp(&mut message, sequence);
        client.send(&message)?;
    }
    Ok(())
}

/// Ends a stream: the end message as a round trip, whose echo must be the end itself.
fn end_stream(client: &mut dyn TransportClient) -> Result<(), String> {
    let end = stream_message(STREAM_END, LEN);
    let mut ack = vec![0u8; LEN];
    let got = (client.round_trip(&end, &mut ack)).map_err(|e| format!("the end: {e}"))?;
    if ack[..got] != end[..] {
        return Err(format!("the acknowledgement is not the end ({got} bytes)"));
    }
    Ok(())
}

/// A whole stream from a fresh client, numbered from 1 as the driver numbers it.
fn whole_stream(client: &mut dyn TransportClient, count: u64) -> Result<(), String> {
    send_messages(client, 1, count).map_err(|e| format!("sending: {e}"))?;
    end_stream(client)
}

/// A client that hangs up mid-stream (a driver stopped with Ctrl-C) breaks no rule: the
/// server goes on, and the next client's stream, numbered from 1 again, is acknowledged.
fn the_next_client_after_one_that_hung_up_mid_stream_is_served(kind: TransportKind) {
    hung_up_then_served(StreamServer::start(kind, GIVE_UP));
}

/// The same through a ring one slot deep, which the client that hung up left full.
#[test]
fn the_next_client_after_one_that_left_a_full_ring_is_served() {
    use transport_bench::transport::kinds::{shm_spin, shm_zc};
    for kind in [shm_spin::KIND, shm_zc::KIND] {
        hung_up_then_served(StreamServer::serving(
            kind,
            GIVE_UP,
            Pattern::Stream,
            Some(1),
        ));
    }
}

fn hung_up_then_served(server: StreamServer) {
    let kind = server.kind;
    let mut first = server.client(GIVE_UP);
    within_patience(move || {
        send_messages(first.as_mut(), 1, 50).expect("the first client's messages");
        drop(first);
    });
    let mut second = server.client(PATIENCE);
    let outcome = within_patience(move || whole_stream(second.as_mut(), 20));
    assert_eq!(
        outcome,
        Ok(()),
        "{kind:?}: server said:\n{}",
        server.stderr()
    );
    server.stop();
}

/// The cases of each transport whose standalone server serves one client after another (a
/// pipe server has the one pair of pipes it inherited), as tests named after it.
macro_rules! per_standalone_transport {
    ($($transport:ident),* $(,)?) => {$(
        mod $transport {
            #[test]
            fn the_next_client_after_one_that_hung_up_mid_stream_is_served() {
                super::the_next_client_after_one_that_hung_up_mid_stream_is_served(
                    transport_bench::transport::kinds::$transport::KIND,
                );
            }
        }
    )*};
}

per_standalone_transport!(
    unix_stream,
    tcp,
    mqueue,
    shm_posix,
    zmq_ipc,
    zmq_tcp,
    shm_spin,
    shm_zc
);

/// A client of a ring transport whose buffer size is not its server's would put its messages
/// where the server does not look for them (the slots are a whole number of pages of the
/// buffer apart), and the server would die of the sequence numbers it found there: the client
/// is refused on connect, naming the remedy, and the server goes on.
#[test]
fn a_ring_client_of_another_buffer_size_is_refused_and_the_server_goes_on() {
    use transport_bench::transport::kinds::{shm_spin, shm_zc};
    for kind in [shm_spin::KIND, shm_zc::KIND] {
        for pattern in [Pattern::Stream, Pattern::RoundTrip] {
            let server = StreamServer::serving(kind, GIVE_UP, pattern, None);
            let endpoint = |buffer_size| Endpoint::ShmChannel {
                channel: server.channel.clone(),
                buffer_size,
            };
            for client_buffer in [4096 + HEADER_LEN, 4 * BUFFER] {
                let watch = Arc::new(ProcessWatch(server.pid()));
                let refused = connect_for(kind, &endpoint(client_buffer), pattern, GIVE_UP, watch)
                    .err()
                    .unwrap_or_else(|| {
                        panic!("{kind:?} {pattern}: a client of buffer {client_buffer} connected")
                    });
                let text = refused.to_string();
                assert!(
                    text.contains(&format!("this client's buffer size {client_buffer}"))
                        && text.contains("give both sides the same --buffer-size"),
                    "{kind:?} {pattern}: {text}"
                );
            }
            // One of the server's own buffer size is served.
            let watch = Arc::new(ProcessWatch(server.pid()));
            let mut client = connect_for(kind, &endpoint(BUFFER), pattern, PATIENCE, watch)
                .unwrap_or_else(|e| panic!("{kind:?} {pattern}: {e}"));
            let served = within_patience(move || match pattern {
                Pattern::Stream => whole_stream(client.as_mut(), 20),
                Pattern::OneWay => Err("not tried here".to_string()),
                Pattern::RoundTrip => {
                    let request = stream_message(1, LEN);
                    let mut reply = vec![0u8; LEN];
                    match client.round_trip(&request, &mut reply) {
                        Ok(len) if reply[..len] == request[..] => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
            });
            assert_eq!(served, Ok(()), "{kind:?} {pattern}");
            server.stop();
        }
    }
}

/// `--pairs` goes up to 64, and the driver holds every pair's client at once: 64 SHM POSIX
/// clients map 384 objects, each watched for truncation. Every pair is measured.
#[test]
fn sixty_four_shm_posix_pairs_are_all_measured() {
    let driver = Driver::start(&[
        "--pairs",
        "64",
        "--pattern",
        "stream",
        "--transports",
        "shm-posix",
        "--sizes",
        "100",
        "--iterations",
        "20",
        "--warmup",
        "2",
        "--timeout",
        "30s",
        "--export-json",
        "-",
    ]);
    let (status, out, err) = driver.finish_clean();
    assert!(status.success(), "{status:?}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let result = &report["results"][0];
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["per_pair"].as_array().map(Vec::len), Some(64));
}

/// A client that died waiting for its stream's acknowledgement leaves it in a message queue,
/// where the next client's is due: that one must not take it for its own (it would say its
/// stream was acknowledged before the server had looked at it), but say what happened.
#[test]
fn an_acknowledgement_left_by_a_dead_client_is_not_taken_for_the_next_ones() {
    use transport_bench::transport::kinds::mqueue;
    let server = StreamServer::start(mqueue::KIND, PATIENCE);
    let mut hostile = server.client(GIVE_UP);
    within_patience(move || {
        send_messages(hostile.as_mut(), 1, 10)?;
        // The end, as the driver's would be, and gone before its echo.
        hostile.send(&stream_message(STREAM_END, LEN))
    })
    .expect("the first client's stream");
    let connect = format!("mqueue:{}", server.channel);
    let buffer = BUFFER.to_string();
    let driver = Driver::start(&[
        "--connect",
        &connect,
        "--pattern",
        "stream",
        "--buffer-size",
        &buffer,
        "--sizes",
        &LEN.to_string(),
        "--iterations",
        "20",
        "--warmup",
        "2",
        "--timeout",
        "10s",
        "--export-json",
        "-",
    ]);
    let (status, out, err) = driver.finish_clean();
    let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let result = &report["results"][0];
    assert_eq!(result["status"], "failed", "{result}\n{err}");
    let error = result["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the stream's acknowledgement is that of another stream"),
        "{error}"
    );
    assert_eq!(status.code(), Some(1), "{err}");
    server.stop();
}

/// A pair whose server is killed mid-run fails the run: the other pair stops too, rather than
/// run its (here endless) round trips or stream for nothing, and the run names the pair that
/// failed and why.
#[test]
fn a_pair_whose_server_is_killed_stops_the_other_pairs_run() {
    for pattern in ["round-trip", "stream"] {
        let driver = Driver::start(&[
            "--pairs",
            "2",
            "--pattern",
            pattern,
            "--transports",
            "unix-stream",
            "--sizes",
            "100",
            "--iterations",
            "1000000000",
            "--warmup",
            "2",
            "--export-json",
            "-",
        ]);
        let server = wait_for_server(&driver, "unix-stream");
        wait_until_busy(server);
        signal(server, Signal::SIGKILL);
        // Bounded by PATIENCE: without the stop, the other pair would run on for hours.
        let (status, out, err) = driver.finish_clean();
        assert_eq!(status.code(), Some(1), "{pattern}: {err}");
        let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
        let error = report["results"][0]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("server exited: killed by signal 9"),
            "{pattern}: {error}"
        );
        assert!(!error.contains("another pair failed"), "{pattern}: {error}");
    }
}
