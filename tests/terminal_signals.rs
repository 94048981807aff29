//! The signals a terminal sends besides Ctrl-C: SIGHUP (the terminal closed) is taken as
//! SIGTERM and SIGQUIT (Ctrl-\) as SIGINT, by the driver and by every server. A driver stops
//! its server, prints and exports what it measured marked as interrupted, and exits 129 / 131;
//! a server started by hand unlinks its objects (or removes its socket file) and exits 0.
//! Every test checks that nothing is left in /dev/shm, the message queues or the temp dir.

mod common {
    pub mod busy;
    pub mod channel;
    pub mod driver;
    pub mod interrupt;
    pub mod process;
    pub mod server;
}

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::channel::{channel_leftovers, unique_channel};
use common::interrupt::interrupt_mid_measurement;
use common::process::{bin, Spawned, PATIENCE};
use common::server::{server_args, start_server, wait_for_line};
use nix::sys::signal::{
    kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use nix::unistd::Pid;
use transport_bench::transport::kinds::tcp;
use transport_bench::transport::{Addressing, Endpoint, TransportKind};

fn send(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).expect("sending a signal");
}

#[test]
fn sighup_ends_a_driver_as_sigterm_does_exit_129_with_summary_and_export() {
    interrupt_mid_measurement("shm-posix", Signal::SIGHUP, 129);
}

#[test]
fn sigquit_ends_a_driver_as_sigint_does_exit_131_with_summary_and_export() {
    interrupt_mid_measurement("zmq-ipc", Signal::SIGQUIT, 131);
}

#[test]
fn sighup_of_a_driver_measuring_message_queues_removes_them() {
    interrupt_mid_measurement("mqueue", Signal::SIGHUP, 129);
}

#[test]
fn sigquit_of_a_driver_measuring_a_unix_socket_removes_its_file() {
    interrupt_mid_measurement("unix-stream", Signal::SIGQUIT, 131);
}

/// A server of `kind` at `endpoint` started by hand, as a person would (no driver named in its
/// environment); ready.
fn start_by_hand(kind: TransportKind, endpoint: &Endpoint) -> Spawned {
    start_server(&server_args(kind, endpoint, PATIENCE), &[])
}

/// The same under `nohup`, which starts a program with SIGHUP ignored; ready.
fn start_under_nohup(kind: TransportKind, endpoint: &Endpoint) -> Spawned {
    let mut command = Command::new(bin());
    command.args(server_args(kind, endpoint, PATIENCE).to_args());
    // SAFETY: only sigaction between fork and exec, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
            sigaction(Signal::SIGHUP, &ignore)?;
            Ok(())
        })
    };
    let server = Spawned::start(&mut command);
    wait_for_line(&server, "READY");
    server
}

/// The transports whose server leaves something behind if it is not stopped cleanly: named
/// objects of a channel, or a socket file.
fn kinds_that_leave_objects() -> Vec<TransportKind> {
    let leaves = |kind: &TransportKind| {
        matches!(
            kind.addressing(),
            Addressing::Channel | Addressing::SocketFile { .. }
        )
    };
    TransportKind::all()
        .iter()
        .copied()
        .filter(leaves)
        .collect()
}

/// What is left of `endpoint`: its channel's objects, or its socket file and anything else in
/// its directory.
fn leftovers(endpoint: &Endpoint, dir: &Path) -> Vec<String> {
    match endpoint {
        Endpoint::ShmChannel { channel, .. } => channel_leftovers(channel),
        _ => std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path().display().to_string())
            .collect(),
    }
}

/// Starts every server that leaves objects by hand, sends it `signal`, and checks that it
/// exited 0 and left nothing.
fn every_hand_run_server_cleans_up_on(signal: Signal) {
    let kinds = kinds_that_leave_objects();
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    for expected in ["shm-posix", "mqueue", "unix-stream", "zmq-ipc"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    for kind in kinds {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = kind.endpoint(&unique_channel("hup"), dir.path(), 4096);
        let server = start_by_hand(kind, &endpoint);
        assert!(
            !leftovers(&endpoint, dir.path()).is_empty(),
            "{kind:?}: nothing made"
        );
        send(server.pid(), signal);
        let (status, _, stderr) = server.finish();
        assert!(status.success(), "{kind:?}: {status:?}: {stderr}");
        assert_eq!(
            leftovers(&endpoint, dir.path()),
            Vec::<String>::new(),
            "{kind:?}"
        );
    }
}

#[test]
fn sighup_stops_every_hand_run_server_and_it_removes_its_objects() {
    every_hand_run_server_cleans_up_on(Signal::SIGHUP);
}

#[test]
fn sigquit_stops_every_hand_run_server_and_it_removes_its_objects() {
    every_hand_run_server_cleans_up_on(Signal::SIGQUIT);
}

#[test]
fn sighup_stops_a_standalone_tcp_server_and_closes_its_port() {
    let endpoint = Endpoint::Tcp {
        addr: "127.0.0.1:0".parse().unwrap(),
        buffer_size: 4096,
    };
    let server = start_by_hand(tcp::KIND, &endpoint);
    let line = wait_for_line(&server, "READY");
    let addr: std::net::SocketAddr = line.trim()["READY ".len()..].parse().unwrap();
    send(server.pid(), Signal::SIGHUP);
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening on {addr}"
    );
}

#[test]
fn a_server_started_under_nohup_keeps_serving_through_sighup_and_stops_on_sigterm() {
    let channel = unique_channel("nohup");
    let endpoint = Endpoint::ShmChannel {
        channel: channel.clone(),
        buffer_size: 4096,
    };
    let kind = TransportKind::from_name("shm-posix").unwrap();
    let server = start_under_nohup(kind, &endpoint);
    send(server.pid(), Signal::SIGHUP);
    // Still serving: a benchmark against it completes.
    let connected = Command::new(bin())
        .args(["--connect", &format!("shm-posix:{channel}")])
        .args(["--sizes", "small", "--iterations", "20", "--warmup", "2"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&connected.stdout);
    assert_eq!(connected.status.code(), Some(0), "{out}");
    send(server.pid(), Signal::SIGTERM);
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "{status:?}: {stderr}");
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

/// A process started with the wait watchdog's signal blocked (a mask passed on by a Python
/// subprocess or a supervisor) still reports a stalled server within its timeout on every
/// transport whose waits the watchdog bounds: each watched thread unblocks the signal for
/// itself. Before, its waits had no bound at all, and `finish` would give up on it.
#[test]
fn a_blocked_watchdog_signal_inherited_at_start_leaves_every_wait_bounded() {
    for transport in ["shm-posix", "unix-stream", "tcp", "zmq-ipc"] {
        let fault = format!("{transport}:stall@20");
        let mut command = Command::new(bin());
        command.args([
            "--transports",
            transport,
            "--sizes",
            "100",
            "--iterations",
            "100000",
            "--warmup",
            "0",
            "--timeout",
            "500ms",
            "--inject-server-fault",
            &fault,
        ]);
        // SAFETY: only sigprocmask between fork and exec, which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                let mut urg = SigSet::empty();
                urg.add(Signal::SIGURG);
                nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&urg), None)?;
                Ok(())
            })
        };
        let (status, out, err) = Spawned::start(&mut command).finish();
        assert_eq!(status.code(), Some(1), "{transport}: {out}{err}");
        assert!(
            out.contains("timed out after 500ms"),
            "{transport}: no timeout in:\n{out}{err}"
        );
    }
}
