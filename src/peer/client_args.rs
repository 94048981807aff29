//! The command line of client mode, `transport-bench --client JSON`: the hidden mode in which
//! the driver runs each case's client in a process of its own (as JMH forks a JVM per trial),
//! so that a library's fault, an abort or an OOM kill while measuring fails that case and not
//! the driver with every result it held. The driver renders a [`ClientArgs`]
//! ([`ClientArgs::to_args`]) and the child parses it back ([`ClientArgs::from_args`]); a
//! round-trip test keeps the two sides together. The endpoint travels in the address syntax a
//! server's command line uses ([`address`]), so both children read one syntax.
//!
//! One JSON argument rather than a flag per field: nobody types this command line, and serde
//! writes and reads every field the same way on both sides, durations included.

use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::peer::address::{self, AddressError, Written};
use crate::system::placement;
use crate::transport::{Endpoint, PipeFds, TransportError, TransportKind, TransportOptions};
use crate::transport::{Pattern, Workload};
use crate::values::{parse_transport, ValueError};

/// The flag that selects client mode; the JSON follows it.
pub const CLIENT_FLAG: &str = "--client";

/// Where a client finds inherited pipe ends: the numbers a server has them at too.
pub const CLIENT_PIPE_FDS: PipeFds = PipeFds {
    receive: 3,
    send: 4,
};

/// Everything one client process needs to measure one run of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientArgs {
    /// The transport, by its name.
    pub transport: String,
    /// The server's address, as [`address::render`] writes it for a server.
    pub address: String,
    /// The endpoint's buffer size (a header plus the payload).
    pub buffer_size: usize,
    /// The message size measured.
    pub size_bytes: usize,
    /// The largest reply the client accepts: the server's payload capacity.
    pub capacity: usize,
    pub pattern: Pattern,
    pub in_flight: usize,
    pub ring_depth: Option<usize>,
    pub warmup: u64,
    pub iterations: u64,
    pub verify_all: bool,
    pub interval: Option<Duration>,
    pub duration: Option<Duration>,
    pub timeout: Duration,
    pub spin_budget: Option<Duration>,
    /// The spawned server's pid, whose placement and CPU time are watched; None for `--connect`.
    pub server_pid: Option<u32>,
    /// The CPU the client pins itself to (`--pin`).
    pub cpu: Option<usize>,
    /// The CPU its server is pinned to (`--pin`): with `cpu`, whether the two share one.
    pub server_cpu: Option<usize>,
    /// With `--pairs`: the client waits at the start line the driver keeps for all pairs.
    pub start_line: bool,
    /// Only this client's progress is forwarded (the first pair's stands for all).
    pub reports_progress: bool,
    /// Testing aid: die on purpose once the timed run has started.
    pub fault: Option<ClientFault>,
}

/// Why a client's command line was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientArgsError {
    #[error("client mode takes one JSON argument after {CLIENT_FLAG}")]
    Missing,
    #[error("client mode's JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Transport(#[from] ValueError),
    #[error("the server's address: {0}")]
    Address(#[from] AddressError),
}

impl ClientArgs {
    /// The arguments, without the program name, that parse back into `self`.
    pub fn to_args(&self) -> Vec<String> {
        // A struct of plain values always serializes.
        let json = serde_json::to_string(self).expect("client arguments serialize");
        vec![CLIENT_FLAG.to_string(), json]
    }

    /// The arguments `to_args` wrote, program name first.
    pub fn from_args(args: &[OsString]) -> Result<ClientArgs, ClientArgsError> {
        let json = args.get(2).and_then(|arg| arg.to_str());
        Ok(serde_json::from_str(json.ok_or(ClientArgsError::Missing)?)?)
    }

    /// Whether the client and its server run on one CPU: pinned to the same one, or, not
    /// pinned, with one CPU allowed to the client (an external server's CPU is not known).
    pub fn shares_a_cpu_with_server(&self) -> bool {
        match (self.cpu, self.server_cpu) {
            (Some(client), Some(server)) => client == server,
            (Some(_), None) => false,
            (None, _) => placement::allowed_cpus().is_ok_and(|cpus| cpus.len() == 1),
        }
    }

    /// The transport this client measures.
    pub fn kind(&self) -> Result<TransportKind, ClientArgsError> {
        Ok(parse_transport(&self.transport)?)
    }

    /// Where the client reaches its server.
    pub fn endpoint(&self) -> Result<Endpoint, ClientArgsError> {
        let kind = self.kind()?;
        Ok(address::parse(
            kind,
            &self.address,
            Written::ForServer,
            self.buffer_size,
        )?)
    }

    /// The address of `endpoint` as a client's command line carries it: pipes at
    /// [`CLIENT_PIPE_FDS`], where the driver hands the client's ends down.
    pub fn render_address(
        kind: TransportKind,
        endpoint: &Endpoint,
    ) -> Result<String, TransportError> {
        match endpoint {
            Endpoint::Pipes { buffer_size, .. } => address::render(
                kind,
                &Endpoint::Pipes {
                    fds: CLIENT_PIPE_FDS,
                    buffer_size: *buffer_size,
                },
            ),
            other => address::render(kind, other),
        }
    }

    /// What the client measures.
    pub fn workload(&self) -> Workload {
        Workload::new(self.pattern, self.in_flight)
    }

    /// What the transport's client is given.
    pub fn transport_options(&self) -> TransportOptions {
        TransportOptions {
            timeout: self.timeout,
            spin_budget: self.spin_budget,
            pattern: self.pattern.on_the_transport(),
            ring_depth: self.ring_depth,
            in_flight: self.in_flight,
        }
    }
}

/// Whether a command line asks for client mode.
pub fn is_client_mode(args: &[OsString]) -> bool {
    args.get(1).is_some_and(|arg| arg == CLIENT_FLAG)
}

/// How an injected client fault kills its process, once its timed run has started: at the
/// first progress report, outside the timed region (`--inject-client-fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFault {
    /// `abort()`: SIGABRT, as a library's failed assertion ends a process.
    Abort,
    /// SIGKILL, as the kernel's OOM killer ends one.
    Kill,
    /// SIGBUS, as a read of truncated shared memory does.
    Bus,
}

/// A client fault that is none of `abort`, `kill`, `bus`.
#[derive(Debug, thiserror::Error)]
#[error("unknown client fault '{0}': use abort, kill or bus")]
pub struct ClientFaultError(String);

impl FromStr for ClientFault {
    type Err = ClientFaultError;

    fn from_str(text: &str) -> Result<ClientFault, ClientFaultError> {
        match text {
            "abort" => Ok(ClientFault::Abort),
            "kill" => Ok(ClientFault::Kill),
            "bus" => Ok(ClientFault::Bus),
            other => Err(ClientFaultError(other.to_string())),
        }
    }
}

impl fmt::Display for ClientFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientFault::Abort => "abort",
            ClientFault::Kill => "kill",
            ClientFault::Bus => "bus",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: TransportKind, endpoint: &Endpoint) -> ClientArgs {
        ClientArgs {
            transport: kind.name().to_string(),
            address: ClientArgs::render_address(kind, endpoint).unwrap(),
            buffer_size: address::buffer_size(endpoint),
            size_bytes: 100,
            capacity: 2_499_996,
            pattern: Pattern::Stream,
            in_flight: 1,
            ring_depth: Some(8),
            warmup: 10,
            iterations: 1000,
            verify_all: true,
            interval: Some(Duration::from_micros(50)),
            duration: Some(Duration::from_millis(1500)),
            timeout: Duration::from_secs(10),
            spin_budget: Some(Duration::from_nanos(1500)),
            server_pid: Some(42),
            cpu: Some(1),
            server_cpu: Some(0),
            start_line: true,
            reports_progress: false,
            fault: Some(ClientFault::Abort),
        }
    }

    #[test]
    fn what_the_driver_renders_the_client_parses_back() {
        for &kind in TransportKind::all() {
            let dir = std::path::Path::new("/tmp/transport-bench-1-x");
            let endpoint = kind.endpoint("tb_1_1", dir, 4096);
            let args = sample(kind, &endpoint);
            let mut argv: Vec<OsString> = vec!["transport-bench".into()];
            argv.extend(args.to_args().into_iter().map(OsString::from));
            assert!(is_client_mode(&argv));
            let parsed = ClientArgs::from_args(&argv).unwrap();
            assert_eq!(parsed, args, "{}", kind.name());
            assert_eq!(parsed.kind().unwrap(), kind);
            let back = parsed.endpoint().unwrap();
            assert_eq!(address::buffer_size(&back), 4096, "{}", kind.name());
        }
    }

    #[test]
    fn faults_read_as_they_are_written() {
        for fault in [ClientFault::Abort, ClientFault::Kill, ClientFault::Bus] {
            assert_eq!(fault.to_string().parse::<ClientFault>().unwrap(), fault);
        }
        assert!("explode".parse::<ClientFault>().is_err());
    }

    #[test]
    fn a_broken_command_line_is_an_error() {
        let argv: Vec<OsString> = vec!["transport-bench".into(), CLIENT_FLAG.into()];
        assert!(matches!(
            ClientArgs::from_args(&argv),
            Err(ClientArgsError::Missing)
        ));
        let argv: Vec<OsString> = vec!["tb".into(), CLIENT_FLAG.into(), "{".into()];
        assert!(ClientArgs::from_args(&argv).is_err());
    }

    #[test]
    fn a_client_shares_a_cpu_with_its_server_when_both_are_pinned_to_it() {
        let kind = TransportKind::all()[0];
        let endpoint = kind.endpoint("tb_1_1", std::path::Path::new("/tmp/tb-1-x"), 4096);
        let args = |cpu, server_cpu| ClientArgs {
            cpu,
            server_cpu,
            ..sample(kind, &endpoint)
        };
        assert!(args(Some(1), Some(1)).shares_a_cpu_with_server());
        assert!(!args(Some(0), Some(1)).shares_a_cpu_with_server());
        // An external server (`--connect`): its CPU is not known.
        assert!(!args(Some(0), None).shares_a_cpu_with_server());
        let one_cpu = placement::allowed_cpus().unwrap().len() == 1;
        assert_eq!(args(None, None).shares_a_cpu_with_server(), one_cpu);
    }
}
