//! Peers and readers that defeat a deadline by being slow rather than silent, through the real
//! binary: a peer that trickles its bytes (one every 40 ms) never lets a wait's slice run out,
//! a crowd of clients that hang up mid-message could each cost the server a pause, and a reader
//! of `--export-json -` that never reads held the driver in its write through every signal.
//! `--timeout` bounds a whole message, on both sides of every byte stream; a hang-up costs
//! nothing; a stop signal ends a write nobody reads.

mod common {
    #[allow(dead_code)]
    pub mod process;
    #[allow(dead_code)]
    pub mod server;
    pub mod syscall;
}

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{bin, Spawned};
use common::server::wait_for_line;
#[cfg(target_arch = "x86_64")]
use common::syscall::thread_in_syscall;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How far apart a trickling peer sends its bytes: far inside a 50 ms wait slice.
const TRICKLE: Duration = Duration::from_millis(40);

/// The bytes of a framed 100-byte message: its length header, then the payload.
fn framed(payload_len: usize) -> Vec<u8> {
    let mut bytes = (payload_len as u32).to_ne_bytes().to_vec();
    bytes.extend((0..payload_len).map(|i| i as u8));
    bytes
}

/// An echo peer on loopback that reads each framed request whole and sends it back one byte
/// every [`TRICKLE`]; returns its port.
fn trickling_echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || loop {
                let mut header = [0u8; 4];
                if stream.read_exact(&mut header).is_err() {
                    return;
                }
                let mut payload = vec![0u8; u32::from_ne_bytes(header) as usize];
                if stream.read_exact(&mut payload).is_err() {
                    return;
                }
                for byte in header.iter().chain(&payload) {
                    std::thread::sleep(TRICKLE);
                    if stream.write_all(&[*byte]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A driver whose server trickles its echo (104 bytes at 40 ms: over 4 s) fails the case with
/// `--timeout 1s`, where it used to wait for the whole echo and call it ok.
#[test]
fn an_echo_trickled_past_the_timeout_fails_the_round_trip() {
    let port = trickling_echo_server();
    let output = Command::new(bin())
        .args(["--connect", &format!("tcp:127.0.0.1:{port}")])
        .args(["--sizes", "100", "--iterations", "3", "--warmup", "0"])
        .args(["--timeout", "1s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("timed out"), "{stdout}");
}

/// Whether the server closed (or reset) the connection: readable, and a read finds the end.
fn closed_by_peer(stream: &mut impl ReadFd) -> bool {
    let mut fds = [PollFd::new(stream.fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) == 0 {
        return false;
    }
    let mut byte = [0u8; 1];
    match stream.read_once(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the server answered a request it never had whole"),
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
    }
}

/// The two streams a trickling client is tested on.
trait ReadFd {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_>;
    fn read_once(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
    fn write_byte(&mut self, byte: u8) -> std::io::Result<()>;
}

macro_rules! read_fd {
    ($($stream:ty),*) => {$(
        impl ReadFd for $stream {
            fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.as_fd()
            }
            fn read_once(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.read(buf)
            }
            fn write_byte(&mut self, byte: u8) -> std::io::Result<()> {
                self.write_all(&[byte])
            }
        }
    )*};
}

read_fd!(TcpStream, UnixStream);

/// Trickles a 100-byte request to `stream` (over 4 s) and says whether the server gave up on
/// it before the last byte: a write refused, or the connection closed.
fn server_gives_up_on_a_trickled_request(stream: &mut impl ReadFd) -> bool {
    for byte in framed(100) {
        if stream.write_byte(byte).is_err() || closed_by_peer(stream) {
            return true;
        }
        std::thread::sleep(TRICKLE);
    }
    // Everything sent: the server had its request whole, which it must not have waited for.
    std::thread::sleep(TRICKLE);
    closed_by_peer(stream)
}

/// A standalone `transport` server with `--timeout 1s` (`where_args` say where it listens);
/// returns it and the address it printed after READY (empty when it prints none).
fn standalone_server(transport: &str, where_args: &[&str]) -> (Spawned, String) {
    let server = Spawned::start(
        Command::new(bin())
            .args(["--server", "--transport", transport, "--timeout", "1s"])
            .args(where_args),
    );
    let ready = wait_for_line(&server, "READY");
    let address = ready.trim_start_matches("READY").trim().to_string();
    (server, address)
}

/// Stops a standalone server with SIGTERM; it exits 0, and says it ended the connections
/// whose exchange failed.
fn stop(server: Spawned) -> String {
    kill(Pid::from_raw(server.pid() as i32), Signal::SIGTERM).unwrap();
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "{status}: {stderr}");
    stderr
}

#[test]
fn a_tcp_server_gives_up_on_a_request_trickled_past_its_timeout() {
    let (server, address) = standalone_server("tcp", &["--listen", "127.0.0.1:0"]);
    let mut client = TcpStream::connect(&address).unwrap();
    assert!(server_gives_up_on_a_trickled_request(&mut client));
    let stderr = stop(server);
    assert!(stderr.contains("timed out"), "{stderr}");
}

#[test]
fn a_unix_stream_server_gives_up_on_a_request_trickled_past_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trickle.sock");
    let endpoint = format!("unix://{}", path.display());
    let (server, _) = standalone_server("unix-stream", &["--endpoint", &endpoint]);
    let mut client = UnixStream::connect(&path).unwrap();
    assert!(server_gives_up_on_a_trickled_request(&mut client));
    let stderr = stop(server);
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(!path.exists(), "the socket file is removed");
}

/// A hundred clients that each send a byte and hang up cost the server nothing: the next
/// good client is served well within a 3 s timeout (a 100 ms pause per hang-up made it wait
/// 10 s, past its timeout, in the listen backlog).
#[test]
fn clients_that_hang_up_mid_message_do_not_hold_up_the_next() {
    let (server, address) = standalone_server("tcp", &["--listen", "127.0.0.1:0"]);
    for _ in 0..100 {
        let mut client = TcpStream::connect(&address).unwrap();
        client.write_all(&[7]).unwrap();
    }
    let output = Command::new(bin())
        .args(["--connect", &format!("tcp:{address}")])
        .args(["--sizes", "100", "--iterations", "20", "--timeout", "3s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    stop(server);
}

/// Whether `pid`'s thread that writes an export into a stream (named so, its first 15 bytes
/// in `comm`) is blocked in `write` (syscall 1 on x86_64).
#[cfg(target_arch = "x86_64")]
fn writing_to_stdout(pid: u32) -> bool {
    thread_in_syscall(pid, 1, |comm| "writing an export".starts_with(comm))
}

/// `--export-json -` into a pipe that nobody reads: the report (60 cases, beyond the pipe's
/// 64 KiB) blocks the final write; SIGINT or SIGTERM then ends the driver, saying the export
/// was abandoned, where it used to stay blocked through every signal.
#[cfg(target_arch = "x86_64")]
#[test]
fn an_export_into_a_pipe_nobody_reads_ends_at_a_stop_signal() {
    let sizes: Vec<String> = (1..=60).map(|n| (n * 64).to_string()).collect();
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let stderr_file = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(bin())
            .args(["--export-json", "-", "--transports", "pipe"])
            .args([
                "--sizes",
                &sizes.join(","),
                "--iterations",
                "20",
                "--warmup",
                "2",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_file.reopen().unwrap())
            .spawn()
            .unwrap();
        // The pipe's read end stays open and unread until the driver has exited.
        let _unread = child.stdout.take();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(180);
        while !writing_to_stdout(pid) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the driver ended before it wrote"
            );
            assert!(
                Instant::now() < deadline,
                "the driver never began its export"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        kill(Pid::from_raw(pid as i32), signal).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{signal:?}: the driver stayed blocked in its export's write");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::fs::read_to_string(stderr_file.path()).unwrap();
        assert!(!status.success(), "{signal:?}: {status}: {stderr}");
        assert!(stderr.contains("abandoned"), "{signal:?}: {stderr}");
    }
}
