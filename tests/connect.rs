//! `--connect`: the driver measures a server it did not start (here, one of ours started by
//! hand), leaves it and its objects alone, and fails a case, never hangs, when that server is
//! missing or dies.

mod common {
    pub mod channel;
    pub mod planted;
    pub mod process;
    pub mod reached;
    pub mod server;
    pub mod signals;
    pub mod usage;
}

use std::process::{Command, Output};
use std::time::Duration;

use nix::sys::signal::Signal;

use common::channel::{channel_leftovers, unique_channel};
use common::planted::{Planted, What};
use common::process::{bin, Spawned};
use common::reached::{start_reachable, ReachableServer};
use common::server::wait_for_line;
use common::signals::{signal, stop_server_clean};
use common::usage::assert_usage_error;
use transport_bench::transport::kinds::{
    mqueue, shm_posix, shm_spin, tcp, unix_stream, zmq_ipc, zmq_tcp,
};
use transport_bench::transport::{Endpoint, TransportKind};

const BUFFER: usize = 64 * 1024;
/// An ipc-channel server's address, as its READY line gives one (nobody listens at this one).
const ONE_SHOT: &str = "ipc-channel:/tmp/transport-bench-none/ipc-channel-server";
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The `--connect` value that reaches `endpoint`.
fn connect_value(kind: TransportKind, endpoint: &Endpoint) -> String {
    let address = match endpoint {
        Endpoint::ShmChannel { channel, .. } => channel.clone(),
        Endpoint::SocketFile { path, .. } => {
            format!(
                "{}{}",
                kind.socket_scheme().unwrap_or_default(),
                path.display()
            )
        }
        Endpoint::Tcp { addr, .. } if kind == zmq_tcp::KIND => format!("tcp://{addr}"),
        Endpoint::Tcp { addr, .. } => addr.to_string(),
        Endpoint::Pipes { .. } => unreachable!("pipes are not reachable from outside"),
    };
    format!("{}:{address}", kind.name())
}

/// Runs the driver against `peer` with `extra` options, and its JSON report.
fn run_driver(peer: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let output = Command::new(bin())
        .args(["--connect", peer, "--iterations", "50", "--warmup", "5"])
        .args(extra)
        .arg("--export-json")
        .arg(&json)
        .output()
        .expect("running the driver");
    let report = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        panic!("{peer}: no JSON report ({e}): {stderr}")
    });
    (output, serde_json::from_str(&report).unwrap())
}

fn statuses(report: &serde_json::Value) -> Vec<(u64, String)> {
    let results = report["results"].as_array().unwrap();
    (results.iter())
        .map(|r| {
            (
                r["size_bytes"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn connect_measures_a_hand_started_server_of_each_reachable_transport() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [
        shm_posix::KIND,
        shm_spin::KIND,
        unix_stream::KIND,
        tcp::KIND,
        zmq_ipc::KIND,
        zmq_tcp::KIND,
    ] {
        let channel = unique_channel("connect");
        let place = dir.path().join(kind.name());
        std::fs::create_dir(&place).unwrap();
        let endpoint = kind.endpoint(&channel, &place, BUFFER);
        let ReachableServer {
            mut server,
            endpoint,
            lease: _lease,
        } = start_reachable(kind, endpoint, SERVER_TIMEOUT, None);
        let peer = connect_value(kind, &endpoint);
        let buffer = BUFFER.to_string();
        let (output, report) = run_driver(
            &peer,
            &["--sizes", "1,1000", "--runs", "2", "--buffer-size", &buffer],
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{peer}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("Server: external, at {peer}")),
            "{stdout}"
        );
        // Nothing is swept for a server the tool did not start, so no sweep is announced.
        assert!(!stdout.contains("Cleaning up"), "{stdout}");
        assert_eq!(report["config"]["connect"]["transport"], kind.name());
        assert_eq!(
            report["config"]["connect"]["address"],
            peer.split_once(':').unwrap().1
        );
        let ok = |size: u64| (size, "ok".to_string());
        assert_eq!(statuses(&report), [ok(1), ok(1000)], "{peer}");
        // The driver's CPU is ours to read; the peer's is not.
        for cpu in report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["cpu"])
        {
            assert!(
                cpu["driver_us_per_round_trip"].as_f64().unwrap() > 0.0,
                "{cpu}"
            );
            assert!(cpu["server_us_per_round_trip"].is_null(), "{peer}: {cpu}");
            assert!(cpu["server_cpus"].is_null(), "{peer}: {cpu}");
        }
        // The server outlived the benchmark, and still serves.
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "{peer}: the server exited"
        );
        let (again, _) = run_driver(&peer, &["--sizes", "1", "--buffer-size", &buffer]);
        assert!(again.status.success(), "{peer}: a second benchmark failed");
        stop_server_clean(server, &channel);
    }
}

#[test]
fn connect_reaches_zmq_and_tcp_servers_listening_on_ipv6_loopback() {
    for kind in [zmq_tcp::KIND, tcp::KIND] {
        let endpoint = Endpoint::Tcp {
            addr: "[::1]:0".parse().unwrap(),
            buffer_size: BUFFER,
        };
        let ReachableServer {
            server, endpoint, ..
        } = start_reachable(kind, endpoint, SERVER_TIMEOUT, None);
        let peer = connect_value(kind, &endpoint);
        assert!(peer.contains("[::1]:"), "{peer}");
        let buffer = BUFFER.to_string();
        let (output, report) = run_driver(&peer, &["--sizes", "100", "--buffer-size", &buffer]);
        assert!(
            output.status.success(),
            "{peer}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(statuses(&report), [(100, "ok".to_string())], "{peer}");
        // A TCP server makes no channel objects: a name never used has none left.
        stop_server_clean(server, &unique_channel("connect6"));
    }
}

#[test]
fn a_small_shm_posix_buffer_skips_larger_sizes_and_stays_the_peers() {
    let channel = unique_channel("small");
    let endpoint = shm_posix::KIND.endpoint(&channel, std::path::Path::new("/unused"), 4096);
    let reached = start_reachable(shm_posix::KIND, endpoint, SERVER_TIMEOUT, None);
    let peer = format!("shm-posix:{channel}");
    let (output, report) = run_driver(&peer, &["--sizes", "100,4092,4093,10KB"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let expected = [
        (100, "ok"),
        (4092, "ok"),
        (4093, "skipped"),
        (10_000, "skipped"),
    ]
    .map(|(size, status)| (size, status.to_string()));
    assert_eq!(statuses(&report), expected);
    let reason = report["results"][2]["skip_reason"].as_str().unwrap();
    assert!(
        reason.contains("4092 bytes the peer's 4096-byte buffer holds"),
        "{reason}"
    );
    // Every object is still the server's, until the server itself removes them.
    assert_eq!(
        channel_leftovers(&channel).len(),
        6,
        "{:?}",
        channel_leftovers(&channel)
    );
    stop_server_clean(reached.server, &channel);
}

#[test]
fn a_missing_peer_fails_within_the_timeout_naming_its_address() {
    let channel = unique_channel("missing");
    let peer = format!("shm-posix:{channel}");
    let (output, report) = run_driver(&peer, &["--sizes", "100", "--timeout", "300ms"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("external server {peer}: timed out")),
        "{stdout}"
    );
    assert_eq!(statuses(&report), [(100, "failed".to_string())]);
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

#[test]
fn a_tcp_peer_that_refuses_the_connection_fails_every_case_saying_so() {
    // A port that was just free: nothing listens there, so connecting is refused.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    for peer in [format!("tcp:{addr}"), format!("zmq-tcp:tcp://{addr}")] {
        let (output, report) = run_driver(&peer, &["--sizes", "100,200"]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{stdout}");
        let said = format!("external server {peer}: nothing listens at {addr}");
        for size in ["100 B", "200 B"] {
            let noted = (stdout.lines()).any(|l| l.contains(&format!(" at {size}: {said}")));
            assert!(noted, "{size}: {stdout}");
        }
        assert!(!stdout.contains("timed out"), "{stdout}");
        let failed = [(100, "failed".to_string()), (200, "failed".to_string())];
        assert_eq!(statuses(&report), failed);
    }
}

#[test]
fn a_peer_killed_mid_run_fails_its_case_and_the_run_ends() {
    let endpoint = tcp::KIND.endpoint("unused", std::path::Path::new("/unused"), BUFFER);
    let reached = start_reachable(tcp::KIND, endpoint, SERVER_TIMEOUT, None);
    let peer = connect_value(tcp::KIND, &reached.endpoint);
    let driver = Spawned::start(Command::new(bin()).args([
        "--connect",
        &peer,
        "--iterations",
        "1000000000",
        "--sizes",
        "100",
        "--timeout",
        "2s",
    ]));
    wait_for_line(&driver, "Running");
    signal(reached.server.pid(), Signal::SIGKILL);
    let (status, stdout, _) = driver.finish();
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("external server {peer}")),
        "{stdout}"
    );
}

/// A case that fails mid-exchange against a channel's server (here a server that is stopped,
/// SIGSTOP, so the first request times out) leaves the channel out of step: the next case is
/// not run, and says why, where it used to time out in turn and blame a semaphore
/// (`req_empty`), or take the late reply for its own. Then the server, continued, stops
/// cleanly and leaves nothing.
#[test]
fn a_case_after_one_that_failed_mid_exchange_on_a_channel_says_why_it_did_not_run() {
    for kind in [shm_posix::KIND, mqueue::KIND] {
        let channel = unique_channel("outofstep");
        let endpoint = kind.endpoint(&channel, std::path::Path::new("/unused"), BUFFER);
        let reached = start_reachable(kind, endpoint, SERVER_TIMEOUT, None);
        let peer = connect_value(kind, &reached.endpoint);
        signal(reached.server.pid(), Signal::SIGSTOP);
        let (output, report) = run_driver(&peer, &["--sizes", "100,200", "--timeout", "1s"]);
        signal(reached.server.pid(), Signal::SIGCONT);
        // Stopped first, so that a failed assertion below leaves no server and no objects.
        stop_server_clean(reached.server, &channel);
        assert_eq!(output.status.code(), Some(1), "{kind:?}");
        let results = report["results"].as_array().unwrap();
        let first = results[0]["error"].as_str().unwrap_or_default();
        assert!(first.contains("timed out"), "{kind:?}: {first}");
        let second = results[1]["error"].as_str().unwrap_or_default();
        assert!(
            second.contains("not run: an earlier case left the channel mid-exchange (timed out"),
            "{kind:?}: {second}"
        );
    }
}

#[test]
fn what_an_external_server_cannot_do_is_a_usage_error() {
    for (args, needle) in [
        (
            &["--connect", "pipe:x"][..],
            "pipe cannot be reached from outside",
        ),
        (
            &["--connect", "tcp:127.0.0.1:9", "--pin", "split"],
            "not ours to place",
        ),
        (&["--connect", "tcp:127.0.0.1:9", "--pin", "0,1"], "--pin"),
        (
            &["--connect", "tcp:127.0.0.1:9", "--transports", "shm-posix"],
            "speaks only its own",
        ),
        (
            &[
                "--connect",
                "tcp:127.0.0.1:9",
                "--inject-server-fault",
                "tcp:no-ready",
            ],
            "not ours to tamper with",
        ),
        // ipc-channel's server serves one connection; each run and each size connects anew
        // (issue 27, #17: run 2 timed out, "No such file or directory").
        (
            &["--connect", ONE_SHOT, "--runs", "2", "--sizes", "100"],
            "serves one connection",
        ),
        (
            &["--connect", ONE_SHOT, "--sizes", "100,200"],
            "2 sizes (--sizes)",
        ),
        (
            &["--connect", ONE_SHOT, "--runs", "auto", "--sizes", "100"],
            "serves one connection",
        ),
    ] {
        assert_usage_error(args, needle);
    }
}

/// A short `--connect` run against `transport:channel`, bounded (`Spawned::finish` kills the
/// binary and fails the test if it hangs); its stdout and stderr together.
fn connect_briefly(transport: &str, channel: &str) -> (std::process::ExitStatus, String) {
    let peer = format!("{transport}:{channel}");
    let mut command = Command::new(bin());
    command.args(["--connect", &peer, "--timeout", "3s", "--iterations", "10"]);
    command.args(["--warmup", "1", "--sizes", "small"]);
    let (status, out, err) = Spawned::start(&mut command).finish();
    (status, format!("{out}\n{err}"))
}

fn srb_path(channel: &str, suffix: &str) -> String {
    format!("/dev/shm/srb_{channel}_{suffix}")
}

#[test]
fn a_fifo_where_a_peers_shared_memory_should_be_fails_the_connect_at_once_naming_it() {
    let channel = unique_channel("fifo");
    let fifo = Planted::new(srb_path(&channel, "req"), What::Fifo);
    let (status, out) = connect_briefly("shm-posix", &channel);
    assert_eq!(status.code(), Some(1), "{out}");
    let expected = format!("{} is a FIFO", fifo.path().display());
    assert!(out.contains(&expected), "{out}");
    drop(fifo);
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

#[test]
fn a_directory_or_a_link_where_a_peers_memory_should_be_is_named_not_measured() {
    let channel = unique_channel("dir");
    let dir = Planted::new(srb_path(&channel, "req"), What::Dir);
    let (status, out) = connect_briefly("shm-posix", &channel);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("{} is a directory", dir.path().display())),
        "{out}"
    );
    assert!(!out.contains("40-byte buffer"), "{out}");
    drop(dir);
    // A link to a plain file of the right size: never followed, so never mapped.
    let target = tempfile::tempdir().unwrap();
    let file = Planted::new(target.path().join("memory"), What::File(4096));
    let link = Planted::new(srb_path(&channel, "req"), What::Link(file.path()));
    let (status, out) = connect_briefly("shm-posix", &channel);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("is a symbolic link"), "{out}");
    drop(link);
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

#[test]
fn a_fifo_where_a_peers_semaphore_or_segment_should_be_is_named() {
    // Both memories plain files, the first semaphore a FIFO: the client gets that far.
    let channel = unique_channel("sem");
    let memories =
        ["req", "resp"].map(|dir| Planted::new(srb_path(&channel, dir), What::File(4096)));
    let sem_path = format!("/dev/shm/sem.srb_{channel}_req_empty");
    let sem = Planted::new(&sem_path, What::Fifo);
    let (status, out) = connect_briefly("shm-posix", &channel);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("{sem_path} is a FIFO")), "{out}");
    drop((sem, memories));
    // shm-spin's one segment.
    let segment = Planted::new(srb_path(&channel, "spin"), What::Fifo);
    let (status, out) = connect_briefly("shm-spin", &channel);
    assert_eq!(status.code(), Some(1), "{out}");
    let expected = format!("{} is a FIFO", segment.path().display());
    assert!(out.contains(&expected), "{out}");
    drop(segment);
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}
