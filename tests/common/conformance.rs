//! The conformance set's peers (`tests/conformance.rs`), and every library item that set uses,
//! in this one file: if the restructure of `src/` moves one, this is where to re-point it.
//!
//! A [`Peer`] is a real `--server` process of one transport, started as the driver starts one
//! (a fresh channel, private directory or pair of pipes; optionally with an injected fault),
//! and the test plays the driver's client against it. Whatever way it ends, the peer checks
//! that nothing of it is left: the channel's objects (`/dev/shm` entries and message queues,
//! asked of the kernel by name), and anything in its private directory (a socket file). If a
//! test fails half-way, dropping the peer still kills its server and removes its objects.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitStatus;
use std::time::Duration;

pub use transport_bench::peer::server::{Fault, FAULT_EXIT_CODE};
pub use transport_bench::transport::{TransportClient, TransportError, TransportKind};

use nix::sys::signal::Signal;
use transport_bench::peer::lease::EndpointLease;
use transport_bench::transport::{payload_capacity, Endpoint};

use super::bounded::within;
use super::channel::{channel_leftovers, unique_channel};
use super::client::connect;
use super::driver::eventually;
use super::process::{Spawned, PATIENCE};
use super::server::{server_args, start_server, wait_for_line};
use super::signals::{signal, stop_server_clean};

/// The buffer size every peer of the set is given (a header and the payload).
pub const BUFFER: usize = 64 * 1024;

/// Every transport in the registry: the set runs over these, so a new transport gets every
/// case by its registry line alone.
pub fn transports() -> &'static [TransportKind] {
    TransportKind::all()
}

/// The largest message `kind` carries with a `buffer`-byte buffer: a limit of its own (a
/// message queue's `msgsize_max`) or the buffer's payload capacity.
pub fn largest_message(kind: TransportKind, buffer: usize) -> usize {
    kind.max_message(buffer)
        .map_or(payload_capacity(buffer), |limit| limit.bytes)
}

/// Why `kind` skips messages larger than its own limit with a `buffer`-byte buffer, when it has
/// one below the buffer's payload capacity (as the driver's table and JSON say it).
pub fn own_limit(kind: TransportKind, buffer: usize) -> Option<String> {
    kind.max_message(buffer).map(|limit| limit.reason)
}

/// A request of `len` bytes whose every byte depends on its position and on `len`, so that a
/// reply cut short, shifted or left over from another request differs from it.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (len % 256) as u8 ^ 0x5a)
        .collect()
}

/// A real server process of one transport, and where its client reaches it.
pub struct Peer {
    pub kind: TransportKind,
    /// None once the server was waited for.
    server: Option<Spawned>,
    /// Where a client reaches the server (the client's ends of the pipes, the reported port).
    endpoint: Endpoint,
    /// The server's endpoint, and the pipes of a pipe endpoint.
    lease: EndpointLease,
    channel: String,
    dir: tempfile::TempDir,
}

/// How a server ended, as it said it.
pub struct Ended {
    pub status: ExitStatus,
    pub stderr: String,
}

impl Peer {
    /// A ready `kind` server with a [`BUFFER`]-byte buffer, misbehaving as `fault` says.
    pub fn start(kind: TransportKind, fault: Option<Fault>) -> Peer {
        let channel = unique_channel("conf");
        let dir = tempfile::Builder::new()
            .prefix("conformance-")
            .tempdir()
            .expect("a private directory");
        let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
        let mut lease = EndpointLease::new(endpoint).expect("preparing the endpoint");
        let mut args = server_args(kind, &lease.endpoint, PATIENCE);
        args.fault = fault;
        let server = start_server(&args, &lease.inherited_fds());
        lease.close_server_ends();
        let ready = wait_for_line(&server, "READY");
        let endpoint = lease
            .client_endpoint(ready.trim().strip_prefix("READY "))
            .unwrap_or_else(|e| panic!("{kind:?}: no reachable address in {ready:?}: {e}"));
        Peer {
            kind,
            server: Some(server),
            endpoint,
            lease,
            channel,
            dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.server.as_ref().expect("a running server").pid()
    }

    /// Runs `body` with a fresh client whose every wait is bounded by `timeout` (nothing watches
    /// the server for it: the server is the test's child), in a thread of its own: if it does not return within [`PATIENCE`], the test fails saying that the
    /// client hung, instead of hanging itself.
    pub fn with_client<T: Send + 'static>(
        &self,
        timeout: Duration,
        body: impl FnOnce(&mut dyn TransportClient) -> T + Send + 'static,
    ) -> T {
        let (kind, endpoint) = (self.kind, self.endpoint.clone());
        let what = format!("{kind:?}: the client (its own timeout was {timeout:?})");
        within(PATIENCE, &what, move || {
            let mut client = connect(kind, &endpoint, timeout)
                .unwrap_or_else(|e| panic!("{kind:?}: connecting: {e}"));
            body(client.as_mut())
        })
    }

    /// What is left of the peer: its channel's objects, and what is in its private directory.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = channel_leftovers(&self.channel);
        left.extend(
            std::fs::read_dir(self.dir.path())
                .expect("the private directory")
                .flatten()
                .map(|entry| entry.path().display().to_string()),
        );
        left
    }

    fn assert_nothing_left(&self, after: &str) {
        assert_eq!(
            self.leftovers(),
            Vec::<String>::new(),
            "{:?}: objects left after {after}",
            self.kind
        );
    }

    /// Stops the server as the driver does (SIGTERM) and asserts that it exited 0 and removed
    /// every object of its own.
    pub fn stop(mut self) {
        stop_server_clean(self.server.take().expect("a running server"), &self.channel);
        self.assert_nothing_left("a clean stop");
    }

    /// Waits for the server to exit by itself, and asserts that it removed every object of its
    /// own on the way out.
    pub fn finish(mut self) -> Ended {
        let server = self.server.take().expect("a running server");
        let (status, _, stderr) = server.finish();
        self.assert_nothing_left("the server exited by itself");
        Ended { status, stderr }
    }

    /// Reaps a server that was SIGKILLed ([`kill_and_wait_until_dead`]) and asserts that the
    /// signal killed it. What it left is the driver's to remove.
    pub fn reap_killed(&mut self) {
        let server = self.server.take().expect("a server");
        let (status, _, _) = server.finish();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(Signal::SIGKILL as i32),
            "{:?}: the server was not killed: {status:?}",
            self.kind
        );
    }

    /// After a killed server, what the driver does after every failed case: removes whatever
    /// is left at the server's endpoint (`Endpoint::remove_leftovers`); then nothing may be left.
    pub fn sweep_after_kill(self) {
        assert!(self.server.is_none(), "sweeping under a live server");
        self.lease.endpoint.remove_leftovers();
        self.assert_nothing_left("the driver's sweep of a killed server's endpoint");
    }
}

impl Drop for Peer {
    /// A test that failed half-way leaves nothing either: the server is killed and its objects
    /// removed.
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server);
            self.lease.endpoint.remove_leftovers();
        }
    }
}

/// SIGKILLs process `pid` and waits until it is dead (a zombie, or reaped).
pub fn kill_and_wait_until_dead(pid: u32) {
    signal(pid, Signal::SIGKILL);
    eventually(&format!("process {pid} to die"), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
    });
}

/// A process signalled through a pidfd, opened while it is the test's live child: once it is
/// reaped (a test that gave up on its client thread, whose peer was then killed), a signal
/// fails instead of reaching whatever process gets its pid next.
pub struct Signalled {
    pid: u32,
    pidfd: OwnedFd,
}

impl Signalled {
    pub fn new(pid: u32) -> Signalled {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        assert!(
            fd >= 0,
            "pidfd_open({pid}): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a non-negative result is a descriptor the call has just made for us.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Signalled { pid, pidfd }
    }

    /// Sends `signal`; panics if the process is gone.
    pub fn send(&self, signal: Signal) {
        // SAFETY: pidfd_send_signal takes a pidfd, a signal, no siginfo and no flags.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                signal as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        assert_eq!(
            sent,
            0,
            "{signal:?} to {}: {}",
            self.pid,
            std::io::Error::last_os_error()
        );
    }
}

/// SIGSTOPs `process` and waits until it is stopped: from then on it takes no request.
pub fn stop_and_wait_until_stopped(process: &Signalled) {
    process.send(Signal::SIGSTOP);
    let pid = process.pid;
    eventually(&format!("process {pid} to stop"), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('T'))
        })
    });
}

/// One round trip of `request` into a reply buffer of `reply_capacity` bytes: the reply, or
/// the error as [`describe`] puts it.
pub fn round_trip(
    client: &mut dyn TransportClient,
    request: &[u8],
    reply_capacity: usize,
) -> Result<Vec<u8>, String> {
    let mut reply = vec![0u8; reply_capacity];
    client
        .round_trip(request, &mut reply)
        .map(|len| reply[..len].to_vec())
        .map_err(|e| describe(&e))
}

/// The kind of a transport error and its text, e.g. `Timeout: timed out after 2s waiting for
/// the reply`, so that an assertion on it names both.
pub fn describe(error: &TransportError) -> String {
    let kind = match error {
        TransportError::Timeout { .. } => "Timeout",
        TransportError::PeerGone(_) => "PeerGone",
        TransportError::MessageTooLarge { .. } => "MessageTooLarge",
        TransportError::BadLengthHeader { .. } => "BadLengthHeader",
        TransportError::Protocol(_) => "Protocol",
        TransportError::Io { .. } => "Io",
        TransportError::Os { .. } => "Os",
        TransportError::Library { .. } => "Library",
        _ => "Other",
    };
    format!("{kind}: {error}")
}

pub use transport_bench::transport::Workload;

/// One of each workload the binary runs, with four requests for the one that keeps several in
/// flight: the set runs each over every transport that supports it.
pub fn workloads() -> [Workload; 4] {
    Workload::each(4)
}

/// The binary's options that ask for `workload` (`--pattern`, and `--in-flight` where it keeps
/// requests in flight).
pub fn workload_args(workload: Workload) -> Vec<String> {
    let mut args = vec!["--pattern".to_string(), workload.pattern().to_string()];
    if workload.in_flight() > 1 {
        args.extend(["--in-flight".to_string(), workload.in_flight().to_string()]);
    }
    args
}
