//! Standalone echo servers, as another host's driver would measure them: `--server --transport
//! tcp --listen ADDR:PORT` and `--server --transport zmq-tcp --endpoint tcp://ADDR:PORT`, run by
//! hand, serving clients one after the other until SIGTERM. Loopback only: a test binds
//! `0.0.0.0` to see the warning, but connects to 127.0.0.1.

mod common {
    pub mod client;
    pub mod process;
    pub mod server;
    pub mod usage;
}

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::client::connect;
use common::process::{bin, shm_entries, Spawned, PATIENCE};
use common::server::{server_args, start_server, wait_for_line};
use common::usage::assert_usage_error;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use transport_bench::transport::kinds::{tcp, zmq_tcp};
use transport_bench::transport::{Endpoint, TransportClient, TransportKind};

/// A standalone server started by hand, and where it listens.
struct Standalone {
    server: Spawned,
    /// The port it reported, on loopback (where the test connects, whatever it bound).
    addr: SocketAddr,
}

impl Standalone {
    /// Starts a `kind` server bound to `bind` with the defaults a person gets (no
    /// `--buffer-size`), or `--max-size` when given, and waits for READY.
    fn start(kind: TransportKind, bind: &str, max_size: Option<usize>) -> Standalone {
        let endpoint = Endpoint::Tcp {
            addr: bind.parse().unwrap(),
            buffer_size: 0,
        };
        let mut args = server_args(kind, &endpoint, PATIENCE);
        (args.buffer_size, args.max_size) = (None, max_size);
        let rendered = args.to_args().join(" ");
        assert!(!rendered.contains("--buffer-size"), "{rendered}");
        let server = start_server(&args, &[]);
        let line = wait_for_line(&server, "READY");
        let reported: SocketAddr = line.trim().strip_prefix("READY ").unwrap().parse().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], reported.port()));
        Standalone { server, addr }
    }

    /// A client of the library, whose buffer holds `buffer_size` bytes.
    fn client(&self, kind: TransportKind, buffer_size: usize) -> Box<dyn TransportClient> {
        let endpoint = Endpoint::Tcp {
            addr: self.addr,
            buffer_size,
        };
        connect(kind, &endpoint, PATIENCE).unwrap()
    }

    /// Stops the server with SIGTERM; asserts that it exited 0, closed its port and left
    /// nothing in /dev/shm; returns its stderr.
    fn stop(self) -> String {
        let pid = self.server.pid();
        kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
        let (status, _, stderr) = self.server.finish();
        assert!(status.success(), "exit {status:?}: {stderr}");
        assert!(!stderr.contains("error"), "{stderr}");
        let refused = TcpStream::connect(self.addr).map(drop).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused}");
        assert_eq!(shm_entries(&pid.to_string()), Vec::<String>::new());
        stderr
    }
}

/// The two network servers.
const NETWORK_SERVERS: [TransportKind; 2] = [tcp::KIND, zmq_tcp::KIND];

fn echo(client: &mut dyn TransportClient, len: usize) {
    let request: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut reply = vec![0u8; len];
    assert_eq!(client.round_trip(&request, &mut reply).unwrap(), len);
    assert!(reply == request, "the echo of {len} bytes differs");
}

#[test]
fn standalone_tcp_and_zmq_tcp_servers_serve_clients_one_after_another() {
    // Over the 2,500,000 bytes of the driver's default buffer: the default --max-size is 16 MiB.
    let large = 3_000_000;
    for kind in NETWORK_SERVERS {
        let server = Standalone::start(kind, "127.0.0.1:0", None);
        for _ in 0..2 {
            let mut client = server.client(kind, large + 4);
            echo(client.as_mut(), 100);
            echo(client.as_mut(), large);
        }
        let stderr = server.stop();
        assert!(!stderr.contains("warning"), "{kind:?}: {stderr}");
    }
}

#[test]
fn a_client_over_max_size_is_dropped_and_counted_and_the_next_is_served() {
    for kind in NETWORK_SERVERS {
        let server = Standalone::start(kind, "127.0.0.1:0", Some(1024));
        if kind == tcp::KIND {
            send_oversized_tcp_frame(server.addr);
        } else {
            send_oversized_zmq_frame(server.addr);
        }
        let mut client = server.client(kind, 1024 + 4);
        echo(client.as_mut(), 1024);
        drop(client);
        let stderr = server.stop();
        let counted = if kind == tcp::KIND {
            "dropped 1 client(s) whose frame announced more than the 1024-byte limit"
        } else {
            "sent a frame over the 1024-byte ZMQ_MAXMSGSIZE"
        };
        assert!(stderr.contains(counted), "{kind:?}: {stderr}");
    }
}

/// A raw TCP client announcing a 2 KiB frame: the server ends the connection unanswered.
fn send_oversized_tcp_frame(addr: SocketAddr) {
    let mut hostile = TcpStream::connect(addr).unwrap();
    hostile.set_read_timeout(Some(PATIENCE)).unwrap();
    hostile.write_all(&2048u32.to_ne_bytes()).unwrap();
    hostile.write_all(&[7u8; 16]).unwrap();
    let mut answer = Vec::new();
    match hostile.read_to_end(&mut answer) {
        Ok(_) => assert!(answer.is_empty(), "{} bytes of answer", answer.len()),
        // Our unread bytes make the server's close a reset.
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
}

/// A raw ZeroMQ REQ client sending a 2 KiB frame: libzmq drops it (and the peer) unanswered.
fn send_oversized_zmq_frame(addr: SocketAddr) {
    let context = zmq::Context::new();
    let hostile = context.socket(zmq::REQ).unwrap();
    hostile.set_linger(0).unwrap();
    hostile.set_rcvtimeo(300).unwrap();
    hostile.connect(&format!("tcp://{addr}")).unwrap();
    hostile.send(vec![7u8; 2048], 0).unwrap();
    assert!(
        hostile.recv_bytes(0).is_err(),
        "a 2 KiB frame got an answer"
    );
}

#[test]
fn a_server_bound_beyond_loopback_warns_that_it_has_no_authentication() {
    for kind in NETWORK_SERVERS {
        let server = Standalone::start(kind, "0.0.0.0:0", None);
        let port = server.addr.port();
        // Bound to every address, it answers on loopback too.
        echo(server.client(kind, 104).as_mut(), 100);
        let stderr = server.stop();
        let warning = format!(
            "warning: listening on 0.0.0.0:{port}, reachable from other hosts; this echo server has no authentication"
        );
        assert!(stderr.contains(&warning), "{kind:?}: {stderr}");
    }
}

#[test]
fn a_server_bound_to_ipv4_mapped_loopback_does_not_warn() {
    // `::ffff:127.0.0.1` is IPv4's loopback seen through an IPv6 socket: only this host
    // reaches it (issue 27, #16: it warned "reachable from other hosts").
    let server = Standalone::start(tcp::KIND, "[::ffff:127.0.0.1]:0", None);
    echo(server.client(tcp::KIND, 104).as_mut(), 100);
    let stderr = server.stop();
    assert!(!stderr.contains("reachable from other hosts"), "{stderr}");
}

#[test]
fn max_sizes_that_cannot_work_are_usage_errors() {
    let tcp = ["--server", "--transport", "tcp", "--listen", "127.0.0.1:0"];
    // Written out by hand here (not rendered), as a person types them.
    let zmq = [
        "--server",
        "--transport",
        "zmq-tcp",
        "--endpoint",
        "tcp://127.0.0.1:0",
    ];
    let unix = [
        "--server",
        "--transport",
        "unix-stream",
        "--endpoint",
        "unix:///nonexistent/e.sock",
    ];
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&tcp, &["--max-size", "0"], "--max-size"),
        (&zmq, &["--max-size", "lots"], "--max-size"),
        (&tcp, &["--max-size", "4294967292"], "larger than"),
        (
            &zmq,
            &["--max-size", "2048", "--buffer-size", "2048"],
            "does not fit --buffer-size 2048",
        ),
        (
            &unix,
            &["--max-size", "1024"],
            "only the tcp and zmq-tcp servers",
        ),
    ];
    for (server, extra, needle) in cases {
        let args: Vec<&str> = server.iter().chain(extra.iter()).copied().collect();
        assert_usage_error(&args, needle);
    }
}

#[test]
fn a_server_started_by_hand_outlives_the_shell_that_started_it() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("server.log");
    // The shell starts the server in the background and exits once it is ready: its child is
    // orphaned, as under nohup or a closed ssh session. A driver's server would get SIGTERM
    // here (PR_SET_PDEATHSIG, set before READY).
    let script = r#""$0" --server --transport tcp --listen 127.0.0.1:0 >"$1" 2>&1 &
        i=0; until grep -q READY "$1" || [ $i -gt 6000 ]; do sleep 0.01; i=$((i+1)); done
        echo $!"#;
    let output = Command::new("sh")
        .args(["-c", script])
        .arg(bin())
        .arg(&log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success());
    let pid: i32 = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let line = wait_for_log_line(&log, "READY");
    let addr: SocketAddr = line.trim().strip_prefix("READY ").unwrap().parse().unwrap();
    let endpoint = Endpoint::Tcp {
        addr,
        buffer_size: 104,
    };
    echo(
        connect(tcp::KIND, &endpoint, PATIENCE).unwrap().as_mut(),
        100,
    );
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    // Not our child, so no exit status: its port closing is the sign that it stopped.
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the file at `path` has a line containing `needle`, and returns that line.
fn wait_for_log_line(path: &std::path::Path, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|line| line.contains(needle)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no {needle:?} in {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
