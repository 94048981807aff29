//! [`ExternalExecutor`]: the runs of `--connect`, against a server that was running before the
//! benchmark and goes on after it.
//!
//! Nothing is spawned, and nothing of the peer's is created, truncated or unlinked: the
//! transports' clients only open what a server made, and this executor neither sweeps stale
//! objects nor removes leftovers. Each run's client is a process of its own (`clients.rs`),
//! which connects afresh and measures as a spawned server's run does, every echo verified. With no child to wait for, a dead peer shows as a connection
//! error or a timeout, and every error names the peer's address.

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::benchmark::clients::{client_args, run_clients, Launch};
use crate::benchmark::executor::Executor;
use crate::benchmark::measure::ProgressSink;
use crate::benchmark::outcome::{Case, RunError, RunOutcome};
use crate::cli::options::Options;
use crate::peer::cleanup::IpcObject;
use crate::peer::external::ExternalPeer;
use crate::system::signals;
use crate::transport::{payload_capacity, Addressing, Endpoint, MessageLimit};

/// Runs every case against the one server `--connect` names.
pub struct ExternalExecutor<'a> {
    options: &'a Options,
    peer: &'a ExternalPeer,
    /// The peer's buffer size, once read, for a transport whose server's objects say it (the
    /// request memory of a shm-posix peer): the peer made it, so it decides which sizes fit.
    peer_buffer_size: Option<usize>,
    /// Why the peer's channel is out of step, once a case failed in the middle of an exchange.
    out_of_step: Option<String>,
}

impl<'a> ExternalExecutor<'a> {
    /// Reads the peer's buffer size now, where its transport can and its objects exist already; a peer that is
    /// not there yet is looked for again by each run, which fails within `--timeout`.
    pub fn new(options: &'a Options, peer: &'a ExternalPeer) -> ExternalExecutor<'a> {
        let mut executor = ExternalExecutor {
            options,
            peer,
            peer_buffer_size: None,
            out_of_step: None,
        };
        executor.read_peer_buffer_size();
        executor
    }

    fn read_peer_buffer_size(&mut self) {
        if self.peer_buffer_size.is_none() {
            let endpoint = self.peer.endpoint(self.options.buffer_size);
            self.peer_buffer_size = self.peer.transport.peer_buffer_size(&endpoint);
        }
    }

    /// The buffer the client maps and receives into: the peer's where it was read, otherwise
    /// `--buffer-size`.
    fn buffer_size(&self) -> usize {
        self.peer_buffer_size.unwrap_or(self.options.buffer_size)
    }

    /// The error, with the peer's address in its text.
    fn at_peer(&self, error: RunError) -> RunError {
        RunError::External {
            peer: self.peer.to_string(),
            source: Box::new(error),
        }
    }
}

/// Whether the transport's server keeps its exchange's state from one client to the next: its
/// channel's named objects (semaphores, a segment's sequence numbers, message queues) outlive
/// a connection, where a socket's server drops what a closed connection left. A case that
/// failed after it began exchanging (a wait that timed out, a reply that was not its request's)
/// may leave a request the server still answers, or a reply nobody took: the next case's client
/// would take it for its own, and blame what it saw (a length, a semaphore), not the cause.
fn keeps_state(case: &Case) -> bool {
    case.transport.addressing() == Addressing::Channel
}

/// A TCP peer (tcp, zmq-tcp) that refuses a connection is not running, and that is said at
/// once: the client would retry until `--timeout` (it waits for a spawned server that is still
/// starting) and libzmq retries without ever reporting. One connection is made and closed
/// before the client's; a peer that does not answer within a second (an address beyond
/// loopback) is left to the client and its timeout. Socket files and channels are still
/// waited for within `--timeout`: a server a script started in the background makes them when
/// it is ready, and the timeout's message names what was missing.
fn refused_connection(endpoint: &Endpoint, timeout: Duration) -> Option<RunError> {
    let Endpoint::Tcp { addr, .. } = endpoint else {
        return None;
    };
    let probe_timeout = timeout.min(Duration::from_secs(1));
    match TcpStream::connect_timeout(addr, probe_timeout) {
        Err(source) if source.kind() == io::ErrorKind::ConnectionRefused => {
            Some(RunError::Refused {
                addr: *addr,
                source,
            })
        }
        _ => None,
    }
}

impl Executor for ExternalExecutor<'_> {
    /// None: every object on the peer's side is the peer's, so nothing is swept.
    fn remove_stale_objects(&mut self) -> Option<Vec<IpcObject>> {
        None
    }

    fn message_limit(&self, case: &Case) -> Option<MessageLimit> {
        match self.peer_buffer_size {
            Some(buffer_size) => {
                let capacity = payload_capacity(buffer_size);
                Some(MessageLimit {
                    bytes: capacity,
                    reason: format!(
                        "larger than the {capacity} bytes the peer's {buffer_size}-byte buffer holds"
                    ),
                })
            }
            None => case.transport.max_message(self.options.buffer_size),
        }
    }

    /// A case after one that failed mid-exchange on a channel is not run: see [`keeps_state`].
    fn run(&mut self, case: &Case, progress: &mut dyn ProgressSink) -> RunOutcome {
        if let Some(earlier) = &self.out_of_step {
            let error = RunError::ChannelOutOfStep {
                earlier: earlier.clone(),
            };
            return RunOutcome::failed(self.at_peer(error));
        }
        self.read_peer_buffer_size();
        let buffer_size = self.buffer_size();
        let endpoint = self.peer.endpoint(buffer_size);
        if let Some(refused) = refused_connection(&endpoint, self.options.timeout) {
            return RunOutcome::failed(self.at_peer(refused));
        }
        let launch =
            client_args(self.options, case, &endpoint, payload_capacity(buffer_size)).map(|args| {
                Launch {
                    args,
                    inherited: Vec::new(),
                    server: None,
                }
            });
        let (mut outcome, exchanged) = match launch {
            Ok(launch) => {
                let ended = run_clients(vec![launch], progress, self.options.timeout);
                let ended = ended.into_iter().next().unwrap_or_default();
                (ended.outcome, ended.connected)
            }
            Err(e) => (RunOutcome::failed(e), false),
        };
        if let Some(error) = outcome.error.as_ref().filter(|e| !e.is_interrupt()) {
            if keeps_state(case) && exchanged {
                self.out_of_step = Some(error.to_string());
            }
        }
        outcome.error = outcome.error.take().map(|e| self.at_peer(e));
        outcome
    }

    fn interrupted(&self) -> Option<Signal> {
        signals::received()
    }
}
