//! What is particular to the transports that are libraries (`ipc-channel`, `interprocess`): a
//! killed server and a stalled one end each case with a clear error through the real binary
//! and leave nothing behind; ipc-channel's waits, which its API cannot bound, are ended by its
//! watchdog (a stalled reader of a stream, a stop signal before and after its one client); and
//! its one-shot socket lives inside the endpoint's private directory, where a killed server's
//! leftover is removed with the directory.

mod common {
    pub mod busy;
    pub mod client;
    pub mod driver;
    pub mod process;
    pub mod reached;
    pub mod server;
}

use std::path::Path;

use common::busy::{wait_for_server, wait_until_busy};
use common::client::connect;
use common::driver::Driver;
use common::process::{Spawned, PATIENCE};
use common::reached::start_reachable;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use transport_bench::transport::kinds::{interprocess, ipc_channel};
use transport_bench::transport::{Endpoint, TransportKind};

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).expect("sending a signal");
}

const LIBRARIES: [TransportKind; 2] = [ipc_channel::KIND, interprocess::KIND];

/// A run of the binary, checked to leave nothing behind; its exit code, the first result of
/// its JSON and its human output.
fn run(args: &[&str]) -> (Option<i32>, Value, String) {
    let args = [args, &["--export-json", "-"]].concat();
    let (status, stdout, stderr) = Driver::start(&args).finish_clean();
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{stderr}"));
    (status.code(), doc["results"][0].clone(), stderr)
}

#[test]
fn a_killed_library_server_fails_its_case_with_its_death_and_leaves_nothing() {
    for kind in LIBRARIES {
        let driver = Driver::start(&[
            "--transports",
            kind.name(),
            "--sizes",
            "100",
            "--iterations",
            "100000000",
            "--timeout",
            "30s",
        ]);
        let server = wait_for_server(&driver, kind.name());
        wait_until_busy(server);
        signal(server, Signal::SIGKILL);
        let (status, out, _) = driver.finish_clean();
        assert_eq!(status.code(), Some(1), "{kind:?}: {out}");
        let line = format!(
            "✗ {} benchmark failed: server exited: killed by signal 9 (SIGKILL)",
            kind.display_name()
        );
        assert!(out.contains(&line), "{kind:?}: no {line:?} in:\n{out}");
    }
}

#[test]
fn a_library_server_that_stops_answering_times_the_round_trip_out() {
    for kind in LIBRARIES {
        let fault = format!("{}:stall@20", kind.name());
        let (code, result, out) = run(&[
            "--transports",
            kind.name(),
            "--sizes",
            "100",
            "--iterations",
            "50",
            "--warmup",
            "5",
            "--timeout",
            "500ms",
            "--inject-server-fault",
            &fault,
        ]);
        assert_eq!(code, Some(1), "{kind:?}: {out}");
        assert_eq!(result["status"], "failed", "{kind:?}: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(error.contains("timed out after 500ms"), "{kind:?}: {error}");
    }
}

/// A stream of 100 KB messages to a reader that stops taking them fills the kernel's buffer:
/// the client's send blocks inside ipc-channel, which has no send timeout, and only the
/// watchdog's signal ends it at the client's timeout.
#[test]
fn a_library_stream_whose_reader_stalls_ends_its_blocked_send_at_the_timeout() {
    for kind in LIBRARIES {
        let fault = format!("{}:stall@10", kind.name());
        let (code, result, out) = run(&[
            "--pattern",
            "stream",
            "--transports",
            kind.name(),
            "--sizes",
            "100000",
            "--iterations",
            "200",
            "--warmup",
            "5",
            "--timeout",
            "500ms",
            "--inject-server-fault",
            &fault,
        ]);
        assert_eq!(code, Some(1), "{kind:?}: {out}");
        assert_eq!(result["status"], "failed", "{kind:?}: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("timed out after 500ms waiting for a stream message"),
            "{kind:?}: {error}"
        );
    }
}

/// A fresh private directory, and the endpoint of an ipc-channel server in it.
fn private_endpoint() -> (tempfile::TempDir, Endpoint) {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = ipc_channel::KIND.endpoint("unused", dir.path(), 4096);
    (dir, endpoint)
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    (std::fs::read_dir(dir).unwrap().flatten())
        .map(|entry| entry.path())
        .collect()
}

fn stop_and_expect_success(server: Spawned, what: &str) {
    signal(server.pid(), Signal::SIGTERM);
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "{what}: exit {status:?}: {stderr}");
}

#[test]
fn an_ipc_channel_server_stops_at_sigterm_before_its_client_came_and_leaves_nothing() {
    let (dir, endpoint) = private_endpoint();
    let reached = start_reachable(ipc_channel::KIND, endpoint, PATIENCE, None);
    // The one-shot socket the crate made, reported after READY, is inside the directory.
    let Endpoint::SocketFile { path, .. } = &reached.endpoint else {
        panic!("not a socket file: {:?}", reached.endpoint);
    };
    assert!(path.starts_with(dir.path()), "{path:?} outside {dir:?}");
    assert!(path.exists(), "{path:?}");
    // Blocked in the crate's accept, which only the watchdog's signal ends.
    stop_and_expect_success(reached.server, "an idle ipc-channel server");
    drop(reached.lease);
    assert_eq!(entries(dir.path()), Vec::<std::path::PathBuf>::new());
}

#[test]
fn an_ipc_channel_server_stops_at_sigterm_while_its_client_is_idle_and_after_it_left() {
    for client_stays in [true, false] {
        let (dir, endpoint) = private_endpoint();
        let reached = start_reachable(ipc_channel::KIND, endpoint, PATIENCE, None);
        let mut client = connect(ipc_channel::KIND, &reached.endpoint, PATIENCE).unwrap();
        let mut reply = [0u8; 4];
        assert_eq!(client.round_trip(b"ping", &mut reply).unwrap(), 4);
        assert_eq!(&reply, b"ping");
        // Accepted: the crate removed its one-shot directory.
        assert_eq!(entries(dir.path()), Vec::<std::path::PathBuf>::new());
        if !client_stays {
            drop(client);
            stop_and_expect_success(reached.server, "a server whose client left");
            drop(reached.lease);
        } else {
            // Blocked in the crate's recv for the next request.
            stop_and_expect_success(reached.server, "a server with an idle client");
            drop(reached.lease);
            let mut reply = [0u8; 4];
            let gone = client.round_trip(b"ping", &mut reply);
            assert!(gone.is_err(), "a stopped server answered: {gone:?}");
        }
    }
}

#[test]
fn a_killed_ipc_channel_server_leaves_its_one_shot_socket_only_in_the_private_directory() {
    let (dir, endpoint) = private_endpoint();
    let reached = start_reachable(ipc_channel::KIND, endpoint, PATIENCE, None);
    signal(reached.server.pid(), Signal::SIGKILL);
    let _ = reached.server.finish();
    drop(reached.lease);
    let left = entries(dir.path());
    assert_eq!(left.len(), 1, "{left:?}");
    // The driver's lease removes its private directory with all inside: nothing elsewhere.
    let path = dir.path().to_path_buf();
    drop(dir);
    assert!(!path.exists());
}
