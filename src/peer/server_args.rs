//! The command line of server mode, `transport-bench --server ...`: rendered by the driver that
//! spawns a server ([`ServerArgs::new`], [`ServerArgs::to_args`]) and parsed by the server, which
//! checks it once into its [`ServerOptions`] ([`ServerArgs::into_options`]; bad usage exits 2
//! before anything starts). The endpoint travels as one address flag, written and read by the
//! peer's one address syntax ([`address`]); a round-trip test keeps the two sides together.

use std::ffi::OsString;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use crate::peer::address::{self, AddressError, PipeFdsError, Written};
use crate::peer::server::{Fault, ServerOptions};
use crate::transport::os::pipe::check_ends;
use crate::transport::{
    payload_capacity, registry, Addressing, Endpoint, Pattern, TransportError, TransportKind,
    HEADER_LEN,
};
use crate::values::{
    parse_buffer_size, parse_in_flight, parse_max_size, parse_ring_depth, parse_spin_budget,
    parse_timeout, parse_transport, DEFAULT_BUFFER_SIZE, DEFAULT_MAX_SIZE,
};

/// The command line of server mode. Documented in docs/server-and-connect.md; options of the
/// benchmark have no meaning here and are usage errors.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "transport-bench --server",
    about = "Runs the echo server of one transport until SIGTERM, SIGINT, SIGHUP or SIGQUIT"
)]
pub struct ServerArgs {
    /// Selects server mode.
    #[arg(long, required = true)]
    server: bool,

    /// The transport to serve.
    #[arg(long, value_parser = parse_transport)]
    pub transport: TransportKind,

    // The help names the transports addressed by a channel, from the registry.
    #[arg(long, conflicts_with = "endpoint", help = channel_help())]
    channel: Option<String>,

    /// Socket URL, for transports addressed by a file (ipc://PATH, unix://PATH) or by a
    /// ZeroMQ TCP address (tcp://ADDR:PORT).
    #[arg(long)]
    endpoint: Option<String>,

    /// Address to listen on, for the plain TCP transport (ADDR:PORT; port 0 for any free one).
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["channel", "endpoint"])]
    listen: Option<String>,

    /// The inherited descriptors of the pipe transport: the read end of the request pipe, then
    /// the write end of the reply pipe (the driver passes 3,4).
    #[arg(long, value_name = "RECEIVE,SEND", value_parser = pipe_fds_text,
          conflicts_with_all = ["channel", "endpoint", "listen"])]
    fds: Option<String>,

    /// Buffer size per direction (a 4-byte header plus the payload).
    /// [default: 2500000; for tcp and zmq-tcp, --max-size + 4]
    #[arg(long, value_name = "BYTES", value_parser = parse_buffer_size)]
    pub buffer_size: Option<usize>,

    /// The largest message a tcp or zmq-tcp server accepts (e.g. 16MiB, 4096); a client whose
    /// frame announces more is dropped, and counted. It sets the server's buffer to this + 4.
    /// [default: 16MiB, or --buffer-size - 4 when that is given]
    #[arg(long, value_name = "BYTES", value_parser = parse_max_size)]
    pub max_size: Option<usize>,

    /// Longest a started exchange may wait for its client.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// The CPU to pin the server to before it says READY.
    #[arg(long, value_name = "CPU")]
    pub cpu: Option<usize>,

    // The help names the transports that spin, and their defaults, from the registry.
    #[arg(long, value_name = "DURATION", value_parser = parse_spin_budget, help = spin_budget_help())]
    pub spin_budget: Option<Duration>,

    /// What the clients exchange with it: round-trip (echo every request) or stream (take
    /// messages one way, check each, acknowledge the end).
    #[arg(long, value_name = "PATTERN", default_value = "round-trip")]
    pub pattern: Pattern,

    /// Slots in the ring of a shm-spin or shm-zc stream. [default: 64, fewer for large
    /// messages]
    #[arg(long, value_name = "SLOTS", value_parser = parse_ring_depth)]
    pub ring_depth: Option<usize>,

    /// In a stream, check every byte of every message, not only its length and sequence number.
    #[arg(long)]
    pub verify_all: bool,

    /// Requests each client keeps in flight: mqueue makes its queues that deep.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_in_flight)]
    pub in_flight: u32,

    /// Testing aid: misbehave on purpose (no-ready, exit@N, flip@N:OFFSET, bad-length@N, stall@N,
    /// lose-latencies, cut-latencies).
    #[arg(long, hide = true, value_parser = str::parse::<Fault>)]
    pub fault: Option<Fault>,
}

/// `--channel`'s help: the transports addressed by a channel, as the registry has them.
fn channel_help() -> String {
    let channel_kinds =
        (TransportKind::all().iter()).filter(|k| k.addressing() == Addressing::Channel);
    let names: Vec<&str> = channel_kinds.map(|kind| kind.name()).collect();
    format!(
        "Channel name, for transports addressed by one ({})",
        names.join(", ")
    )
}

/// `--spin-budget`'s help: each spinning transport's own default, as the registry has them.
fn spin_budget_help() -> String {
    format!(
        "How long a wait spins before it sleeps, for the transports that spin. [default: the \
         transport's own: {}]",
        registry::spin_budget_defaults()
    )
}

/// `--fds` as given, once it is two pipe ends a server can inherit.
fn pipe_fds_text(text: &str) -> Result<String, PipeFdsError> {
    address::parse_pipe_fds(text).map(|_| text.to_string())
}

/// Whether a command line asks for server mode (which has a command line of its own).
pub fn is_server_mode(args: &[OsString]) -> bool {
    args.iter().skip(1).any(|arg| arg == "--server")
}

/// The flag that carries a server's address, by how its transport is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressFlag {
    Channel,
    Endpoint,
    Listen,
    Fds,
}

impl AddressFlag {
    fn of(addressing: Addressing) -> AddressFlag {
        match addressing {
            Addressing::Channel => AddressFlag::Channel,
            Addressing::SocketFile { .. } | Addressing::Tcp { scheme: Some(_) } => {
                AddressFlag::Endpoint
            }
            Addressing::Tcp { scheme: None } => AddressFlag::Listen,
            Addressing::InheritedPipes => AddressFlag::Fds,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AddressFlag::Channel => "--channel",
            AddressFlag::Endpoint => "--endpoint",
            AddressFlag::Listen => "--listen",
            AddressFlag::Fds => "--fds",
        }
    }
}

/// The address flag of `addressing` with what follows it, as a usage error names it:
/// `--channel NAME`, `--endpoint ipc://PATH`, `--listen ADDR:PORT`.
fn address_usage(addressing: Addressing) -> String {
    let value = match addressing {
        Addressing::Channel => "NAME".to_string(),
        Addressing::SocketFile { scheme } => format!("{scheme}PATH"),
        Addressing::Tcp { scheme } => format!("{}ADDR:PORT", scheme.unwrap_or_default()),
        Addressing::InheritedPipes => "RECEIVE,SEND".to_string(),
    };
    format!("{} {value}", AddressFlag::of(addressing).name())
}

impl ServerArgs {
    /// The command line that serves `kind` at `endpoint`.
    pub fn new(
        kind: TransportKind,
        endpoint: &Endpoint,
        timeout: Duration,
        fault: Option<Fault>,
    ) -> Result<ServerArgs, TransportError> {
        let address = address::render(kind, endpoint)?;
        let flag = AddressFlag::of(kind.addressing());
        let carried = |wanted: AddressFlag| (flag == wanted).then(|| address.clone());
        Ok(ServerArgs {
            server: true,
            transport: kind,
            channel: carried(AddressFlag::Channel),
            endpoint: carried(AddressFlag::Endpoint),
            listen: carried(AddressFlag::Listen),
            fds: carried(AddressFlag::Fds),
            buffer_size: Some(address::buffer_size(endpoint)),
            max_size: None,
            timeout,
            cpu: None,
            spin_budget: None,
            pattern: Pattern::RoundTrip,
            ring_depth: None,
            verify_all: false,
            in_flight: 1,
            fault,
        })
    }

    /// The same command line, with the server pinned to `cpu`.
    pub fn pinned_to(self, cpu: Option<usize>) -> ServerArgs {
        ServerArgs { cpu, ..self }
    }

    /// The same command line, with the server's waits spinning for `spin_budget` (None: the
    /// transport's default).
    pub fn spinning_for(self, spin_budget: Option<Duration>) -> ServerArgs {
        ServerArgs {
            spin_budget,
            ..self
        }
    }

    /// The same command line, for clients that exchange `pattern` (a stream's ring
    /// `ring_depth` deep, its messages checked byte for byte with `verify_all`).
    pub fn exchanging(
        self,
        pattern: Pattern,
        ring_depth: Option<usize>,
        verify_all: bool,
    ) -> ServerArgs {
        ServerArgs {
            pattern,
            ring_depth,
            verify_all,
            ..self
        }
    }

    /// The same command line, for clients that keep `in_flight` requests outstanding.
    pub fn with_in_flight(self, in_flight: usize) -> ServerArgs {
        ServerArgs {
            in_flight: u32::try_from(in_flight).unwrap_or(u32::MAX),
            ..self
        }
    }

    /// The text of the flag that carries the address, as its transport is addressed.
    fn address(&self) -> Option<&str> {
        let text = match AddressFlag::of(self.transport.addressing()) {
            AddressFlag::Channel => &self.channel,
            AddressFlag::Endpoint => &self.endpoint,
            AddressFlag::Listen => &self.listen,
            AddressFlag::Fds => &self.fds,
        };
        text.as_deref()
    }

    /// The arguments, without the program name, that parse back into `self`.
    pub fn to_args(&self) -> Vec<String> {
        let duration = |d: Duration| humantime::format_duration(d).to_string();
        let texts = [
            ("--channel", self.channel.clone()),
            ("--endpoint", self.endpoint.clone()),
            ("--listen", self.listen.clone()),
            ("--fds", self.fds.clone()),
            ("--buffer-size", self.buffer_size.map(|n| n.to_string())),
            ("--max-size", self.max_size.map(|n| n.to_string())),
            ("--timeout", Some(duration(self.timeout))),
            ("--cpu", self.cpu.map(|cpu| cpu.to_string())),
            ("--spin-budget", self.spin_budget.map(duration)),
            (
                "--pattern",
                (self.pattern != Pattern::RoundTrip).then(|| self.pattern.to_string()),
            ),
            ("--ring-depth", self.ring_depth.map(|n| n.to_string())),
            (
                "--in-flight",
                (self.in_flight > 1).then(|| self.in_flight.to_string()),
            ),
            ("--fault", self.fault.map(|fault| fault.to_string())),
        ];
        let mut args = vec![
            "--server".into(),
            "--transport".into(),
            self.transport.name().into(),
        ];
        if self.verify_all {
            args.push("--verify-all".into());
        }
        for (flag, text) in texts {
            args.extend(
                text.map(|text| [flag.to_string(), text])
                    .into_iter()
                    .flatten(),
            );
        }
        args
    }

    /// Checks the command line into what the server needs; on bad usage prints the error with
    /// server mode's usage line and exits 2.
    pub fn into_options(self) -> ServerOptions {
        let buffer_size = self.buffer_size_to_serve();
        if buffer_size <= HEADER_LEN {
            usage_error(
                ErrorKind::ValueValidation,
                format!("--buffer-size must be more than {HEADER_LEN} bytes"),
            );
        }
        ServerOptions {
            transport: self.transport,
            endpoint: self.endpoint_to_serve(buffer_size),
            timeout: self.timeout,
            fault: self.fault,
            cpu: self.cpu,
            spin_budget: self.spin_budget,
            pattern: self.pattern,
            ring_depth: self.ring_depth,
            verify_all: self.verify_all,
            in_flight: self.in_flight as usize,
        }
    }

    /// The buffer of the server: `--buffer-size`, or for the servers reachable from other hosts
    /// (`tcp`, `zmq-tcp`) the one that holds `--max-size`, their bound on what a client can make
    /// them allocate. Given alone, `--buffer-size` keeps meaning what it means for the driver's
    /// servers (the largest message is its payload capacity); given both, `--max-size` is the
    /// limit and must fit the buffer.
    fn buffer_size_to_serve(&self) -> usize {
        let networked = matches!(self.transport.addressing(), Addressing::Tcp { .. });
        match (self.buffer_size, self.max_size) {
            (_, Some(max_size)) if !networked => usage_error(
                ErrorKind::ArgumentConflict,
                format!(
                    "--max-size {max_size}: only the tcp and zmq-tcp servers take it; the {} server's largest message is --buffer-size - {HEADER_LEN}",
                    self.transport.name()
                ),
            ),
            (Some(buffer_size), Some(max_size)) if max_size > payload_capacity(buffer_size) => {
                usage_error(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "--max-size {max_size} does not fit --buffer-size {buffer_size} (a {HEADER_LEN}-byte header plus the payload); give one of them"
                    ),
                )
            }
            (Some(buffer_size), None) => buffer_size,
            (None, None) if !networked => DEFAULT_BUFFER_SIZE,
            // Sizes are at most MAX_MESSAGE_BYTES (checked when parsed), so this cannot overflow.
            (_, max_size) => max_size.unwrap_or(DEFAULT_MAX_SIZE) + HEADER_LEN,
        }
    }

    /// The endpoint the address flag names, as the transport expects it.
    fn endpoint_to_serve(&self, buffer_size: usize) -> Endpoint {
        let addressing = self.transport.addressing();
        let usage = address_usage(addressing);
        let missing = || -> ! {
            usage_error(
                ErrorKind::MissingRequiredArgument,
                format!(
                    "--server --transport {} needs {usage}",
                    self.transport.name()
                ),
            )
        };
        let Some(text) = self.address() else {
            missing()
        };
        match address::parse(self.transport, text, Written::ForServer, buffer_size) {
            Ok(endpoint) => checked_pipe_ends(endpoint),
            Err(AddressError::Missing) => missing(),
            Err(AddressError::NotTcpAddress { address, .. }) => usage_error(
                ErrorKind::ValueValidation,
                format!("{address:?} is not an address such as 127.0.0.1:0 ({usage})"),
            ),
            Err(e) => usage_error(
                ErrorKind::ValueValidation,
                format!("{}: {e}", AddressFlag::of(addressing).name()),
            ),
        }
    }
}

/// `endpoint`, if it is not pipes or its pipe ends are open pipes of the right directions. A
/// descriptor that is closed, not a pipe, or the wrong end would fail the first exchange or
/// hang it: a usage error, before READY.
fn checked_pipe_ends(endpoint: Endpoint) -> Endpoint {
    if let Endpoint::Pipes { fds, .. } = endpoint {
        if let Err(e) = check_ends(fds) {
            usage_error(ErrorKind::ValueValidation, format!("--fds {fds}: {e}"));
        }
    }
    endpoint
}

/// A usage error of server mode, with its usage line; exits 2.
fn usage_error(kind: ErrorKind, message: String) -> ! {
    ServerArgs::command().error(kind, message).exit()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::transport::kinds::{
        mqueue, pipe, shm_posix, shm_spin, shm_zc, tcp, unix_stream, zmq_ipc, zmq_tcp,
    };

    fn parse(args: &[String]) -> ServerArgs {
        let mut argv = vec!["transport-bench".to_string()];
        argv.extend_from_slice(args);
        ServerArgs::try_parse_from(argv).unwrap()
    }

    #[test]
    fn server_args_parse_back_from_what_they_render() {
        let channel = Endpoint::ShmChannel {
            channel: "tb_1_2".into(),
            buffer_size: 4096,
        };
        let socket = Endpoint::SocketFile {
            path: "/tmp/transport-bench-1-x/echo.sock".into(),
            buffer_size: 2_500_000,
        };
        let tcp = Endpoint::Tcp {
            addr: ([127, 0, 0, 1], 0).into(),
            buffer_size: 4096,
        };
        let fault = Fault::FlipByteAt {
            request: 3,
            offset: 17,
        };
        let listen = Endpoint::Tcp {
            addr: ([127, 0, 0, 1], 0).into(),
            buffer_size: 4096,
        };
        let pipes = pipe::KIND.endpoint("unused", Path::new("unused"), 65536);
        for (kind, endpoint, fault) in [
            (zmq_tcp::KIND, &tcp, None),
            (mqueue::KIND, &channel, Some(Fault::BadLengthAt(2))),
            (shm_posix::KIND, &channel, None),
            (shm_spin::KIND, &channel, Some(Fault::NoReady)),
            (zmq_ipc::KIND, &socket, Some(fault)),
            (unix_stream::KIND, &socket, Some(Fault::ExitAt(9))),
            (tcp::KIND, &listen, Some(Fault::BadLengthAt(2))),
            (pipe::KIND, &pipes, None),
        ] {
            let args = ServerArgs::new(kind, endpoint, Duration::from_millis(1500), fault).unwrap();
            let parsed = parse(&args.to_args());
            assert_eq!(parsed, args);
            // Pipe ends are checked where they are open, in the server; these are not.
            if kind != pipe::KIND {
                assert_eq!(&parsed.into_options().endpoint, endpoint, "{kind:?}");
            }
        }
    }

    #[test]
    fn a_spin_budget_reaches_the_servers_command_line_and_parses_back() {
        let channel = Endpoint::ShmChannel {
            channel: "tb_1_3".into(),
            buffer_size: 4096,
        };
        for (kind, budget) in [
            (shm_zc::KIND, Duration::from_micros(5)),
            (shm_spin::KIND, Duration::ZERO),
            (shm_posix::KIND, Duration::from_nanos(1500)),
        ] {
            let args = ServerArgs::new(kind, &channel, Duration::from_secs(10), None)
                .unwrap()
                .spinning_for(Some(budget));
            let rendered = args.to_args();
            let flag = rendered.iter().position(|a| a == "--spin-budget").unwrap();
            assert_eq!(
                humantime::parse_duration(&rendered[flag + 1]).unwrap(),
                budget
            );
            assert_eq!(parse(&rendered), args);
        }
        let unspecified = ServerArgs::new(shm_zc::KIND, &channel, Duration::from_secs(1), None);
        assert!(!unspecified
            .unwrap()
            .to_args()
            .contains(&"--spin-budget".into()));
    }

    #[test]
    fn a_pipe_server_finds_its_ends_after_stdio() {
        let pipes = pipe::KIND.endpoint("unused", Path::new("unused"), 65536);
        let args = ServerArgs::new(pipe::KIND, &pipes, Duration::from_secs(1), None).unwrap();
        let rendered = args.to_args().join(" ");
        assert!(rendered.contains("--fds 3,4"), "{rendered}");
    }

    #[test]
    fn the_channel_help_names_every_transport_addressed_by_a_channel() {
        let help = ServerArgs::command().render_help().to_string();
        let unwrapped = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let channel_kinds =
            (TransportKind::all().iter()).filter(|k| k.addressing() == Addressing::Channel);
        let names: Vec<&str> = channel_kinds.map(|kind| kind.name()).collect();
        assert!(names.contains(&"shm-posix"), "{names:?}");
        assert!(!names.contains(&"unix-stream"), "{names:?}");
        assert!(
            unwrapped.contains(&format!("({})", names.join(", "))),
            "{help}"
        );
    }

    #[test]
    fn benchmark_options_are_not_server_options() {
        let argv = ["tb", "--server", "--transport", "shm-posix", "--sizes", "5"];
        let error = ServerArgs::try_parse_from(argv).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
