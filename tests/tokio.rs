//! What is particular to the tokio transports (`tokio-unix`, `tokio-tcp`, each on the
//! current-thread runtime and, as `-mt`, on the multi-thread one), through the real binary with
//! its own TMPDIR, checked empty afterwards with no object and no process of the run left:
//! - both runtimes, on both sockets, carry 100 B, 10 KB, 500 KB and 2 MB in every workload
//!   (round trips, requests in flight, a one-way stream) with every message verified;
//! - a server killed in the middle of a stream or of requests in flight fails its case with
//!   the signal, on both runtimes (the conformance set kills them mid round trips);
//! - a server that stops answering is reported as timed out, within `--timeout` and a slack for
//!   a loaded machine, on both runtimes, in every workload; a bound on a hang, not a measure;
//! - an idle server, its client connected and silent, stops on SIGTERM (its stop flag, looked
//!   at between the slices of its awaited wait), exit 0, its socket file gone;
//! - the frames are Unix stream's and TCP's: a tokio client echoes through their servers, and
//!   their clients through a tokio server.
//!
//! The conformance set (`tests/conformance.rs`) runs the rest of the contract over them.

mod common {
    pub mod bounded;
    pub mod busy;
    pub mod channel;
    pub mod client;
    pub mod driver;
    pub mod process;
    pub mod reached;
    pub mod reported;
    pub mod server;
    pub mod signals;
}

use common::bounded::within;
use common::busy::{wait_for_server, wait_until_busy};
use common::channel::unique_channel;
use common::client::connect;
use common::driver::Driver;
use common::process::PATIENCE;
use common::reached::{start_reachable, ReachableServer};
use common::reported::{
    assert_one_case_failed, assert_stall_reported_in_time, results, run_reported,
};
use common::signals::{signal, stop_server_clean};
use nix::sys::signal::Signal;
use transport_bench::transport::kinds::{tcp, tokio_tcp, tokio_unix, unix_stream};
use transport_bench::transport::{Endpoint, TransportKind};

/// Every tokio transport: two sockets, two runtimes.
const TOKIO_TRANSPORTS: [&str; 4] = ["tokio-unix", "tokio-unix-mt", "tokio-tcp", "tokio-tcp-mt"];

/// Each workload the binary runs, by its options.
const WORKLOADS: [&[&str]; 3] = [
    &["--pattern", "round-trip"],
    &["--pattern", "round-trip", "--in-flight", "4"],
    &["--pattern", "stream"],
];

#[test]
fn both_runtimes_carry_every_size_in_every_workload_verified_and_leave_nothing() {
    let transports = TOKIO_TRANSPORTS.join(",");
    for workload in WORKLOADS {
        let mut args = vec!["--transports", &transports, "--sizes", "100,10KB,500KB,2MB"];
        args.extend(["--iterations", "8", "--warmup", "2", "--verify-all"]);
        args.extend(["--timeout", "30s"]);
        args.extend(workload);
        let (code, doc, out) = run_reported(&args);
        assert_eq!(code, Some(0), "{workload:?}: {out}");
        let results = results(&doc);
        assert_eq!(results.len(), 16, "{workload:?}: {results:?}");
        for result in results {
            assert_eq!(result["status"], "ok", "{workload:?}: {result}");
        }
        for transport in TOKIO_TRANSPORTS {
            let runs = results
                .iter()
                .filter(|r| r["transport"] == transport)
                .count();
            assert_eq!(runs, 4, "{workload:?}: {transport} ran {runs} sizes");
        }
    }
}

#[test]
fn a_server_killed_mid_stream_or_mid_requests_in_flight_fails_its_case_naming_the_signal() {
    for transport in TOKIO_TRANSPORTS {
        for workload in &WORKLOADS[1..] {
            let mut args = vec!["--transports", transport, "--sizes", "100"];
            args.extend(["--iterations", "100000000", "--timeout", "20s"]);
            args.extend(["--export-json", "-"]);
            args.extend(*workload);
            let driver = Driver::start(&args);
            let server = wait_for_server(&driver, transport);
            wait_until_busy(server);
            signal(server, Signal::SIGKILL);
            let what = format!("{transport} {workload:?}");
            let killed = "server exited: killed by signal 9 (SIGKILL)";
            assert_one_case_failed(driver.finish_clean(), &what, killed);
        }
    }
}

#[test]
fn a_server_that_stops_answering_is_reported_timed_out_within_the_timeout_and_a_slack() {
    for transport in TOKIO_TRANSPORTS {
        for workload in WORKLOADS {
            assert_stall_reported_in_time(transport, workload);
        }
    }
}

/// Starts a `kind` server in `dir` (for a socket file) as the driver would; returns it and its
/// channel.
fn start(kind: TransportKind, dir: &tempfile::TempDir) -> (ReachableServer, String) {
    let channel = unique_channel("tokio");
    let endpoint = kind.endpoint(&channel, dir.path(), 4 * 1024 * 1024);
    (start_reachable(kind, endpoint, PATIENCE, None), channel)
}

/// Stops `server` as the driver does (SIGTERM: exit 0, nothing of `channel` left), within
/// [`PATIENCE`], else the test fails naming the hang.
fn stop_within(server: ReachableServer, channel: String, what: &str) {
    let ReachableServer { server, lease, .. } = server;
    within(PATIENCE, what, move || stop_server_clean(server, &channel));
    drop(lease);
}

#[test]
fn an_idle_server_of_either_runtime_stops_on_sigterm_with_its_client_connected() {
    let kinds = [
        tokio_unix::KIND,
        tokio_unix::MULTI_THREAD_KIND,
        tokio_tcp::KIND,
        tokio_tcp::MULTI_THREAD_KIND,
    ];
    for kind in kinds {
        let dir = tempfile::tempdir().unwrap();
        let (server, channel) = start(kind, &dir);
        let mut client = connect(kind, &server.endpoint, PATIENCE).unwrap();
        let mut reply = [0u8; 100];
        assert_eq!(client.round_trip(&[7; 100], &mut reply).unwrap(), 100);
        // The server now awaits the next request on the open connection: only its stop flag
        // can end that wait.
        stop_within(server, channel, kind.name());
        drop(client);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "{}: left {left:?}", kind.name());
    }
}

/// Echoes 100 B and 3 MB through `client` of `server`'s transport.
fn echo_through(client_kind: TransportKind, endpoint: &Endpoint) {
    let mut client = connect(client_kind, endpoint, PATIENCE).unwrap();
    for len in [100, 3_000_000] {
        let request: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut reply = vec![0u8; len];
        assert_eq!(client.round_trip(&request, &mut reply).unwrap(), len);
        assert!(reply == request, "{}: the echo differs", client_kind.name());
    }
}

#[test]
fn tokio_clients_and_servers_exchange_frames_with_unix_stream_and_tcp_peers() {
    let pairs = [
        (tokio_unix::KIND, unix_stream::KIND),
        (unix_stream::KIND, tokio_unix::MULTI_THREAD_KIND),
        (tokio_tcp::MULTI_THREAD_KIND, tcp::KIND),
        (tcp::KIND, tokio_tcp::KIND),
    ];
    for (client_kind, server_kind) in pairs {
        let dir = tempfile::tempdir().unwrap();
        let (server, channel) = start(server_kind, &dir);
        echo_through(client_kind, &server.endpoint);
        stop_within(server, channel, server_kind.name());
    }
}
