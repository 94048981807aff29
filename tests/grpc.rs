//! What is particular to `grpc-uds` (tonic over a Unix socket), through the real binary with its
//! own TMPDIR, checked empty afterwards with no object and no process of the run left:
//! - 100 B, 10 KB, 500 KB and 2 MB (past HTTP/2's 64 KiB default window) in every workload:
//!   round trips (unary calls), four requests in flight (four calls open on the one
//!   connection), a stream and one-way latencies (one bidirectional call), every message
//!   verified;
//! - 5 MB, past tonic's default 4 MiB decoding limit, in round trips, in flight and a stream;
//! - a server killed in the middle of each workload fails its case with the signal; one sent
//!   SIGTERM while busy stops (exit 0) and fails its case with that exit;
//! - a server that stops answering (the injected stall), or that is stopped with SIGSTOP, is
//!   reported as timed out, within `--timeout` and a slack for a loaded machine, in every
//!   workload; a bound on a hang, not a measure;
//! - an idle server, its client connected and silent, stops on SIGTERM (its stop flag, looked
//!   at between slices, then tonic's shutdown), exit 0, its socket file gone.
//!
//! The conformance set (`tests/conformance.rs`) runs the rest of the contract over it.

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

use std::time::{Duration, Instant};

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
use serde_json::Value;
use transport_bench::transport::kinds::grpc_uds;

/// Each workload the binary runs, by its options.
const WORKLOADS: [&[&str]; 4] = [
    &["--pattern", "round-trip"],
    &["--pattern", "round-trip", "--in-flight", "4"],
    &["--pattern", "stream"],
    &["--pattern", "one-way"],
];

#[test]
fn grpc_carries_every_size_in_every_workload_verified_and_leaves_nothing() {
    for workload in WORKLOADS {
        let mut args = vec!["--transports", "grpc-uds", "--sizes", "100,10KB,500KB,2MB"];
        args.extend(["--iterations", "8", "--warmup", "2", "--verify-all"]);
        args.extend(["--timeout", "30s"]);
        args.extend(workload);
        let (code, doc, out) = run_reported(&args);
        assert_eq!(code, Some(0), "{workload:?}: {out}");
        let results = results(&doc);
        let sizes: Vec<&Value> = results.iter().map(|r| &r["size_bytes"]).collect();
        assert_eq!(
            sizes,
            [100, 10_000, 500_000, 2_000_000],
            "{workload:?}: {results:?}"
        );
        for result in results {
            assert_eq!(result["transport"], "grpc-uds", "{workload:?}: {result}");
            assert_eq!(result["status"], "ok", "{workload:?}: {result}");
        }
    }
}

#[test]
fn a_message_past_tonics_default_4_mib_limit_is_carried_verified() {
    for workload in &WORKLOADS[..3] {
        let mut args = vec!["--transports", "grpc-uds", "--sizes", "5MB"];
        args.extend(["--iterations", "3", "--warmup", "1", "--verify-all"]);
        args.extend(["--timeout", "30s"]);
        args.extend(*workload);
        let (code, doc, out) = run_reported(&args);
        assert_eq!(code, Some(0), "{workload:?}: {out}");
        let result = &results(&doc)[0];
        assert_eq!(result["size_bytes"], 5_000_000, "{workload:?}: {result}");
        assert_eq!(result["status"], "ok", "{workload:?}: {result}");
    }
}

/// A driver running `grpc-uds` at 100 B in `workload` for 10^8 iterations with `timeout`,
/// exporting JSON to standard output, once its server is echoing; and the server's pid.
fn busy_run(workload: &[&str], timeout: &str) -> (Driver, u32) {
    busy_run_at("100", workload, timeout)
}

/// [`busy_run`] at `size`.
fn busy_run_at(size: &str, workload: &[&str], timeout: &str) -> (Driver, u32) {
    let mut args = vec!["--transports", "grpc-uds", "--sizes", size];
    args.extend(["--iterations", "100000000", "--timeout", timeout]);
    args.extend(["--export-json", "-"]);
    args.extend(workload);
    let driver = Driver::start(&args);
    let server = wait_for_server(&driver, "grpc-uds");
    wait_until_busy(server);
    (driver, server)
}

#[test]
fn a_grpc_server_killed_mid_run_fails_its_case_naming_the_signal_in_every_workload() {
    for workload in WORKLOADS {
        let (driver, server) = busy_run(workload, "20s");
        signal(server, Signal::SIGKILL);
        let what = format!("{workload:?}");
        let killed = "server exited: killed by signal 9 (SIGKILL)";
        assert_one_case_failed(driver.finish_clean(), &what, killed);
    }
}

/// A server kept busy never waits a whole idle slice, so SIGTERM must be looked at before each
/// request: it exits 0 and the driver fails the case with that exit, instead of the server
/// echoing on until the run's 10^8 messages are done.
#[test]
fn a_busy_grpc_server_stops_on_sigterm_in_every_workload() {
    for workload in WORKLOADS {
        let (driver, server) = busy_run_at("10KB", workload, "20s");
        signal(server, Signal::SIGTERM);
        let finished = within(PATIENCE, "grpc-uds", move || driver.finish_clean());
        let what = format!("{workload:?}");
        assert_one_case_failed(finished, &what, "server exited: exit code 0");
    }
}

#[test]
fn a_grpc_server_that_stops_answering_is_reported_timed_out_within_the_timeout_and_a_slack() {
    // A stream's client sends until the stalled server's stream window is full: at the default
    // buffer size a window of 2.5 MB, 23,000 messages of 100 B, which this debug build took
    // up to 26 s to send beside three other copies of this file's tests (3.8-7 s mostly);
    // with 64 KiB buffers, 600 messages, and 2.2-2.5 s the same way. The timeout's bound is
    // what is tested, not the window's fill.
    for workload in WORKLOADS {
        let args = [workload, &["--buffer-size", "65536"][..]].concat();
        assert_stall_reported_in_time("grpc-uds", &args);
    }
}

#[test]
fn a_grpc_server_stopped_with_sigstop_is_reported_timed_out_within_the_timeout_and_a_slack() {
    // The slack is for a loaded machine: a wait the timeout did not bound would last for ever.
    let (timeout, slack) = (Duration::from_secs(2), Duration::from_secs(20));
    for workload in WORKLOADS {
        let (driver, server) = busy_run(workload, "2s");
        signal(server, Signal::SIGSTOP);
        let stopped = Instant::now();
        let what = format!("{workload:?}");
        let (status, stdout, out) = within(timeout + slack, &what, move || driver.finish_clean());
        let took = stopped.elapsed();
        assert_eq!(status.code(), Some(1), "{what}: {out}");
        let doc: Value = serde_json::from_str(&stdout).expect("JSON");
        let result = &results(&doc)[0];
        let error = result["error"].as_str().unwrap_or_default();
        let expected = format!("server {server} stopped (SIGSTOP): timed out after 2s");
        assert!(error.starts_with(&expected), "{what}: {error}");
        assert!(took < timeout + slack, "{what}: reported after {took:?}");
    }
}

/// Starts a `grpc-uds` server in `dir` as the driver would; returns it and its channel.
fn start(dir: &tempfile::TempDir) -> (ReachableServer, String) {
    let channel = unique_channel("grpc");
    let endpoint = grpc_uds::KIND.endpoint(&channel, dir.path(), 4 * 1024 * 1024);
    (
        start_reachable(grpc_uds::KIND, endpoint, PATIENCE, None),
        channel,
    )
}

#[test]
fn an_idle_grpc_server_stops_on_sigterm_with_its_client_connected_and_removes_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (server, channel) = start(&dir);
    let mut client = connect(grpc_uds::KIND, &server.endpoint, PATIENCE).unwrap();
    let mut reply = [0u8; 100];
    assert_eq!(client.round_trip(&[7; 100], &mut reply).unwrap(), 100);
    assert_eq!(reply, [7; 100]);
    // The server now awaits the next call on the open connection: only its stop flag can end
    // that wait.
    let ReachableServer { server, lease, .. } = server;
    within(PATIENCE, "grpc-uds", move || {
        stop_server_clean(server, &channel)
    });
    drop(lease);
    drop(client);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "left {left:?}");
}

/// A stream of small messages to a server that reads more slowly than they come fills a stream
/// window with small DATA frames: h2 fails a connection whose unread small frames overrun a
/// budget of half the connection's window, which with both windows one message long it did
/// (`h2 protocol error: error reading a body from connection`). The connection's window is now
/// HTTP/2's largest, whose budget a stream window cannot reach: a server that reads none ends
/// in the timeout once the window is full. The test's windows are 64 KiB (2,800 messages of
/// 16 B fill one); with the windows made equal again it failed with h2's error. It used to
/// send 300,000 messages to a server that read them all, which in this debug build never fell
/// far enough behind to show the fault (in release it did, for 3 of 4 patterns and placements)
/// and took 37 s.
#[test]
fn a_stream_of_small_messages_to_a_server_that_reads_none_stays_within_h2s_small_frame_budget() {
    for pattern in ["stream", "one-way"] {
        let mut args = vec!["--transports", "grpc-uds", "--sizes", "16"];
        args.extend(["--pattern", pattern, "--buffer-size", "65536"]);
        args.extend(["--iterations", "100000000", "--warmup", "0"]);
        args.extend([
            "--timeout",
            "2s",
            "--inject-server-fault",
            "grpc-uds:stall@1",
        ]);
        let (code, doc, out) = run_reported(&args);
        assert_eq!(code, Some(1), "{pattern}: {out}");
        let result = &results(&doc)[0];
        assert_eq!(
            result["error"], "timed out after 2s waiting for room in the stream",
            "{pattern}: {result}"
        );
    }
}
