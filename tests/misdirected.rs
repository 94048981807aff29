//! Messages that must point the right way: a client of one protocol against a server of
//! another is told so, not only that it timed out; a list word given with other items is
//! refused as such, not as an unknown item.

mod common {
    pub mod process;
    pub mod server;
    pub mod usage;
}

use std::process::Command;
use std::time::Duration;

use common::process::{bin, shm_entries, Spawned, PATIENCE};
use common::server::{server_args, start_server, wait_for_line};
use common::usage::assert_usage_error;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use transport_bench::transport::kinds::{grpc_uds, tcp, unix_stream, zmq_tcp};
use transport_bench::transport::{Endpoint, TransportKind};

/// A standalone `kind` server on loopback, given `timeout`, and the address it reported.
fn standalone(kind: TransportKind, timeout: Duration) -> (Spawned, String) {
    let endpoint = Endpoint::Tcp {
        addr: "127.0.0.1:0".parse().unwrap(),
        buffer_size: 4096,
    };
    let server = start_server(&server_args(kind, &endpoint, timeout), &[]);
    let line = wait_for_line(&server, "READY");
    let address = line.trim().trim_start_matches("READY").trim().to_string();
    (server, address)
}

/// Stops `server` with SIGTERM, checks it left nothing in /dev/shm, and returns its stderr.
fn stop(server: Spawned) -> String {
    let pid = server.pid();
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "{status:?}: {stderr}");
    assert_eq!(shm_entries(&pid.to_string()), Vec::<String>::new());
    stderr
}

/// A benchmark against `peer` (`--connect`), which must fail its case; returns the output.
fn connect_fails(peer: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(bin())
        .args(["--connect", peer, "--sizes", "small", "--iterations", "5"])
        .args(["--timeout", "2s"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout).to_string();
    assert_eq!(output.status.code(), Some(1), "{out}");
    out
}

#[test]
fn a_zmq_tcp_client_of_a_plain_tcp_server_is_told_the_handshake_was_broken_off() {
    let (server, address) = standalone(tcp::KIND, PATIENCE);
    let out = connect_fails(&format!("zmq-tcp:tcp://{address}"));
    assert!(out.contains("broke off ZeroMQ's handshake"), "{out}");
    assert!(out.contains("another protocol"), "{out}");
    stop(server);
}

#[test]
fn a_plain_tcp_client_of_a_zmq_tcp_server_is_told_it_got_a_zeromq_greeting() {
    let (server, address) = standalone(zmq_tcp::KIND, PATIENCE);
    let out = connect_fails(&format!("tcp:{address}"));
    assert!(out.contains("ZeroMQ's greeting (ZMTP"), "{out}");
    assert!(!out.contains("timed out"), "{out}");
    stop(server);
}

#[test]
fn a_plain_tcp_server_says_a_zeromq_client_greeted_it() {
    // Its own wait for the rest of the "request" ends before the client's.
    let (server, address) = standalone(tcp::KIND, Duration::from_secs(1));
    connect_fails(&format!("zmq-tcp:tcp://{address}"));
    let stderr = stop(server);
    assert!(stderr.contains("ZeroMQ's greeting"), "{stderr}");
}

/// A standalone `kind` server on a socket file in `dir`, given `timeout`; returns its path.
fn standalone_on_file(
    kind: TransportKind,
    dir: &std::path::Path,
    timeout: Duration,
) -> (Spawned, String) {
    let path = dir.join("echo.sock");
    let endpoint = Endpoint::SocketFile {
        path: path.clone(),
        buffer_size: 4096,
    };
    let server = start_server(&server_args(kind, &endpoint, timeout), &[]);
    (server, path.to_str().unwrap().to_string())
}

#[test]
fn a_unix_stream_client_of_a_grpc_server_is_told_it_got_an_http2_settings_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (server, path) = standalone_on_file(grpc_uds::KIND, dir.path(), PATIENCE);
    let out = connect_fails(&format!("unix-stream:{path}"));
    // Its first four bytes, read as a length, announce 68,288,512 bytes.
    assert!(out.contains("an HTTP/2 SETTINGS frame"), "{out}");
    assert!(out.contains("an HTTP/2 server (grpc-uds)"), "{out}");
    stop(server);
}

#[test]
fn a_unix_stream_server_says_an_http2_client_sent_its_preface() {
    let dir = tempfile::tempdir().unwrap();
    let (server, path) = standalone_on_file(unix_stream::KIND, dir.path(), PATIENCE);
    connect_fails(&format!("grpc-uds:{path}"));
    let stderr = stop(server);
    assert!(stderr.contains("HTTP/2's connection preface"), "{stderr}");
}

#[test]
fn sweep_with_other_sizes_is_refused_as_not_combinable() {
    assert_usage_error(
        &["--sizes", "sweep,64"],
        "'sweep' stands for a whole list and cannot be combined",
    );
}

#[test]
fn all_with_other_transports_is_refused_as_not_combinable() {
    assert_usage_error(
        &["--transports", "tcp,all"],
        "'all' stands for a whole list and cannot be combined",
    );
}
