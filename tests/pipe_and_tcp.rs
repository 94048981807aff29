//! What is particular to the pipe and TCP transports: the pipe ends a server inherits (and no
//! other end of its pipes), the pipes a driver holds across runs and closes after each, the pipe
//! size a server reports, `--fds` checked in server mode, clients without a peer, frozen
//! servers, and a TCP port that closes with its server.
//!
//! Pipe ends are told apart through `/proc`: `/proc/PID/fd/N` links to `pipe:[INODE]` for both
//! ends of a pipe, and `/proc/PID/fdinfo/N` gives the access mode that says which end it is.

mod common {
    pub mod busy;
    pub mod channel;
    pub mod client;
    pub mod driver;
    pub mod process;
    pub mod reached;
    pub mod server;
    pub mod signals;
    pub mod usage;
}

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::busy::{wait_for_server, wait_until_busy};
use common::channel::unique_channel;
use common::client::connect;
use common::driver::{eventually, servers_of, Driver};
use common::process::{bin, Spawned, PATIENCE};
use common::reached::{start_reachable, ReachableServer};
use common::signals::{signal, stop_server_clean};
use common::usage::assert_usage_error;
use nix::sys::signal::Signal;
use transport_bench::peer::lease::EndpointLease;
use transport_bench::peer::spawn::{hand_down, InheritedFd};
use transport_bench::transport::kinds::{pipe, tcp};
use transport_bench::transport::names::SERVER_FDS;
use transport_bench::transport::os::pipe::PipePair;
use transport_bench::transport::{Endpoint, TransportClient, TransportError, TransportKind};

const BUFFER: usize = 64 * 1024;

/// One open descriptor on a pipe: the pipe (its inode) and which end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PipeEnd {
    fd: u32,
    inode: u64,
    write: bool,
}

/// The pipe ends process `pid` holds (descriptors it closes meanwhile are skipped).
fn pipe_ends_of(pid: u32) -> Vec<PipeEnd> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let end = |entry: std::fs::DirEntry| -> Option<PipeEnd> {
        let fd: u32 = entry.file_name().to_str()?.parse().ok()?;
        let target = std::fs::read_link(entry.path()).ok()?;
        let inode = target.to_str()?.strip_prefix("pipe:[")?.strip_suffix(']')?;
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
        let flags = info.lines().find_map(|line| line.strip_prefix("flags:"))?;
        let flags = u32::from_str_radix(flags.trim(), 8).ok()?;
        Some(PipeEnd {
            fd,
            inode: inode.parse().ok()?,
            write: flags & libc::O_ACCMODE as u32 == libc::O_WRONLY as u32,
        })
    };
    entries.flatten().filter_map(end).collect()
}

/// The request and reply pipes of a pipe server: the pipes of its descriptors 3 and 4.
fn pipes_of_server(pid: u32) -> (u64, u64) {
    let ends = pipe_ends_of(pid);
    let inode_at = |fd: i32| {
        let end = ends.iter().find(|end| end.fd == fd as u32);
        end.unwrap_or_else(|| panic!("server {pid} has no pipe at {fd}: {ends:?}"))
            .inode
    };
    (inode_at(SERVER_FDS.receive), inode_at(SERVER_FDS.send))
}

/// Asserts that `pid` holds only `write` ends of the pipe `inode`, and says how many.
fn ends_held(pid: u32, inode: u64, write: bool) -> usize {
    let held: Vec<PipeEnd> = pipe_ends_of(pid)
        .into_iter()
        .filter(|end| end.inode == inode)
        .collect();
    assert!(
        held.iter().all(|end| end.write == write),
        "process {pid} holds the wrong end of pipe {inode}: {held:?}"
    );
    held.len()
}

fn start(kind: TransportKind, buffer_size: usize) -> ReachableServer {
    let dir = Path::new("unused: neither transport needs a directory");
    let endpoint = kind.endpoint(&unique_channel("pt"), dir, buffer_size);
    start_reachable(kind, endpoint, PATIENCE, None)
}

fn echo(client: &mut dyn TransportClient, len: usize) {
    let request: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
    let mut response = vec![0u8; len.max(1)];
    assert_eq!(client.round_trip(&request, &mut response).unwrap(), len);
    assert_eq!(&response[..len], &request[..]);
}

/// Stops a server that has no channel: SIGTERM, exit 0; returns its stderr.
fn stop(server: Spawned) -> String {
    signal(server.pid(), Signal::SIGTERM);
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "server exit {status:?}: {stderr}");
    stderr
}

#[test]
fn a_pipe_server_holds_its_own_two_ends_and_no_other_end_of_its_pipes() {
    let server = start(pipe::KIND, BUFFER);
    let (request, reply) = pipes_of_server(server.server.pid());
    // Had it inherited the client's ends too, it would never see the client hang up.
    assert!(ends_held(server.server.pid(), request, false) >= 1);
    assert!(ends_held(server.server.pid(), reply, true) >= 1);
    // And the client's ends here are the other ends of the same two pipes.
    let here = std::process::id();
    assert!(ends_held(here, request, true) >= 1);
    assert!(ends_held(here, reply, false) >= 1);
    let mut client = connect(pipe::KIND, &server.endpoint, PATIENCE).unwrap();
    echo(client.as_mut(), 100);
    drop(client);
    // With every client end closed, the server sees the hang-up, then waits to be stopped.
    drop(server.lease);
    let stderr = stop(server.server);
    assert!(
        stderr.contains("pipe size 65,536 bytes each way"),
        "{stderr}"
    );
}

#[test]
fn a_pipe_server_raises_the_pipe_size_and_says_what_it_got() {
    let buffer = 3_000_000;
    let server = start(pipe::KIND, buffer);
    let mut client = connect(pipe::KIND, &server.endpoint, PATIENCE).unwrap();
    echo(client.as_mut(), buffer - 4);
    drop(client);
    let Endpoint::Pipes { fds, .. } = server.endpoint else {
        panic!("not a pipe endpoint: {:?}", server.endpoint)
    };
    let size = nix::fcntl::fcntl(fds.receive, nix::fcntl::FcntlArg::F_GETPIPE_SZ).unwrap();
    let stderr = stop(server.server);
    let said = format!("pipe size {} bytes each way", thousands(size as usize));
    assert!(stderr.contains(&said), "{said:?} not in {stderr}");
    let max_size: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Unless the user's pipe quota refused it (the words then say so), the pipes grew.
    if !stderr.contains("EPERM") {
        assert!(size as usize >= buffer.min(max_size), "{stderr}");
    }
}

fn thousands(n: usize) -> String {
    transport_bench::report::format::thousands(n as u64)
}

#[test]
fn a_driver_holds_no_pipe_of_a_finished_run_and_each_server_only_its_own() {
    // Three cases, one server each; each is killed mid-run, so the driver also closes the
    // pipes of runs that failed.
    let driver = Driver::start(&[
        "--iterations",
        "100000000",
        "--sizes",
        "100,200,300",
        "--timeout",
        "20s",
        "--transports",
        "pipe",
    ]);
    let mut finished_pipes: Vec<u64> = Vec::new();
    for _ in 0..3 {
        let server = wait_for_server(&driver, "pipe");
        wait_until_busy(server);
        let (request, reply) = pipes_of_server(server);
        assert!(ends_held(driver.pid(), request, true) >= 1);
        assert!(ends_held(driver.pid(), reply, false) >= 1);
        ends_held(server, request, false);
        ends_held(server, reply, true);
        for process in [driver.pid(), server] {
            let held = pipe_ends_of(process);
            let stale: Vec<&PipeEnd> = (held.iter())
                .filter(|end| finished_pipes.contains(&end.inode))
                .collect();
            assert!(stale.is_empty(), "{process} holds {stale:?}");
        }
        signal(server, Signal::SIGKILL);
        eventually("the killed server to go", || {
            !servers_of(driver.pid()).contains(&server)
        });
        finished_pipes.extend([request, reply]);
    }
    let (status, out, _) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{out}");
    let failure = "✗ Pipe benchmark failed: server exited: killed by signal 9 (SIGKILL)";
    assert_eq!(out.matches(failure).count(), 3, "{out}");
}

#[test]
fn a_pipe_client_whose_server_does_not_answer_times_out_and_one_without_server_fails_at_once() {
    let endpoint = pipe::KIND.endpoint("unused", Path::new("unused"), BUFFER);
    let mut lease = EndpointLease::new(endpoint).unwrap();
    let endpoint = lease.client_endpoint(None).unwrap();
    let timeout = Duration::from_millis(300);
    // The server's ends are open (here), but nobody reads or writes them.
    let mut client = connect(pipe::KIND, &endpoint, timeout).unwrap();
    let mut response = [0u8; 16];
    let err = client.round_trip(b"hello", &mut response).unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "timed out after 300ms waiting for the reply"
    );
    // Nobody holds them any more: the request has nowhere to go.
    lease.close_server_ends();
    let err = client.round_trip(b"hello", &mut response).unwrap_err();
    assert!(matches!(err, TransportError::PeerGone(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("the connection to the peer broke: "),
        "{err}"
    );
}

#[test]
fn a_tcp_client_without_server_times_out_clearly() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is closed: nobody listens at that port now.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let endpoint = Endpoint::Tcp {
        addr,
        buffer_size: BUFFER,
    };
    let err = connect(tcp::KIND, &endpoint, Duration::from_millis(300))
        .err()
        .expect("connecting without a server must fail");
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    let expected = format!("timed out after 300ms waiting for a server at {addr}");
    assert!(err.to_string().starts_with(&expected), "{err}");
}

#[test]
fn frozen_pipe_and_tcp_servers_time_the_round_trip_out() {
    for kind in [pipe::KIND, tcp::KIND] {
        let channel = unique_channel("frozen");
        let dir = Path::new("unused");
        let server = start_reachable(kind, kind.endpoint(&channel, dir, BUFFER), PATIENCE, None);
        let timeout = Duration::from_millis(300);
        let mut client = connect(kind, &server.endpoint, timeout).unwrap();
        echo(client.as_mut(), 100);
        signal(server.server.pid(), Signal::SIGSTOP);
        let mut response = vec![0u8; BUFFER];
        let err = client.round_trip(b"ping", &mut response).unwrap_err();
        signal(server.server.pid(), Signal::SIGCONT);
        assert_eq!(
            err.to_string(),
            "timed out after 300ms waiting for the reply",
            "{kind:?}"
        );
        drop(client);
        stop_server_clean(server.server, &channel);
    }
}

#[test]
fn a_tcp_server_reports_an_ephemeral_loopback_port_and_closes_it_when_it_stops() {
    let server = start(tcp::KIND, BUFFER);
    let Endpoint::Tcp { addr, .. } = server.endpoint else {
        panic!("not a TCP endpoint: {:?}", server.endpoint)
    };
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let mut client = connect(tcp::KIND, &server.endpoint, PATIENCE).unwrap();
    echo(client.as_mut(), 1000);
    drop(client);
    stop(server.server);
    let refused = TcpStream::connect(addr).map(drop).unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{addr}: {refused}"
    );
}

/// Runs a pipe server (`--fds 3,4`) with `inherited` handed down, and returns its exit code
/// and stderr.
fn pipe_server_with(inherited: &[InheritedFd<'_>]) -> (Option<i32>, String) {
    let mut command = Command::new(bin());
    command.args(["--server", "--transport", "pipe", "--fds", "3,4"]);
    hand_down(&mut command, inherited);
    let output = command.output().unwrap();
    assert!(output.stdout.is_empty(), "it said READY");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output.status.code(), stderr)
}

#[test]
fn a_pipe_server_refuses_descriptors_that_are_not_its_pipe_ends() {
    assert_usage_error(
        &["--server", "--transport", "pipe", "--fds", "900,901"],
        "--fds 900,901: descriptor 900 is not open",
    );
    assert_usage_error(
        &["--server", "--transport", "pipe", "--fds", "1,4"],
        "'1,4' is not two different descriptors",
    );
    assert_usage_error(
        &["--server", "--transport", "pipe"],
        "needs --fds RECEIVE,SEND",
    );
    let pipes = PipePair::new().unwrap();
    let [(request_read, _), (reply_write, _)] = pipes.server_ends().unwrap();
    // Each end where the other belongs.
    let swapped = [
        InheritedFd {
            fd: reply_write,
            at: 3,
        },
        InheritedFd {
            fd: request_read,
            at: 4,
        },
    ];
    let (code, stderr) = pipe_server_with(&swapped);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("descriptor 3 is not the read end of a pipe"),
        "{stderr}"
    );
    let file = std::fs::File::open("/dev/null").unwrap();
    let not_a_pipe = [
        InheritedFd {
            fd: file.as_fd(),
            at: 3,
        },
        InheritedFd {
            fd: reply_write,
            at: 4,
        },
    ];
    let (code, stderr) = pipe_server_with(&not_a_pipe);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("descriptor 3 is not a pipe"), "{stderr}");
}
