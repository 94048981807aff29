//! The command line of server mode, rendered by the driver that spawns a server and parsed by
//! the server, with a round-trip test so that the two cannot drift apart.

use std::time::Duration;

use clap::Parser;

use crate::cli::values::{
    parse_buffer_size, parse_fault, parse_max_size, parse_pipe_fds, parse_spin_budget,
    parse_timeout, parse_transport,
};
use crate::peer::server::Fault;
use crate::transport::socket_file::checked_path;
use crate::transport::{Addressing, Endpoint, PipeFds, TransportError, TransportKind};

/// The command line of server mode, `transport-bench --server ...`: parsed by clap in the
/// server, and rendered by the driver that spawns it (and by tests), so the two cannot drift
/// apart. Documented in the README's "Server mode"; options of the benchmark have no meaning
/// here and are usage errors.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "transport-bench --server",
    about = "Runs the echo server of one transport until SIGTERM or SIGINT"
)]
pub struct ServerArgs {
    /// Selects server mode.
    #[arg(long, required = true)]
    server: bool,

    /// The transport to serve.
    #[arg(long, value_parser = parse_transport)]
    pub transport: TransportKind,

    /// Channel name, for transports addressed by one (shm-posix, shm-spin, mqueue).
    #[arg(long, conflicts_with = "endpoint")]
    pub channel: Option<String>,

    /// Socket URL, for transports addressed by a file (ipc://PATH, unix://PATH) or by a
    /// ZeroMQ TCP address (tcp://ADDR:PORT).
    #[arg(long)]
    pub endpoint: Option<String>,

    /// Address to listen on, for the plain TCP transport (ADDR:PORT; port 0 for any free one).
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["channel", "endpoint"])]
    pub listen: Option<String>,

    /// The inherited descriptors of the pipe transport: the read end of the request pipe, then
    /// the write end of the reply pipe (the driver passes 3,4).
    #[arg(long, value_name = "RECEIVE,SEND", value_parser = parse_pipe_fds,
          conflicts_with_all = ["channel", "endpoint", "listen"])]
    pub fds: Option<PipeFds>,

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

    /// How long a wait spins before it sleeps, for shm-posix, shm-spin and shm-zc.
    /// [default: the transport's own: 0 for shm-posix, 20us for the others]
    #[arg(long, value_name = "DURATION", value_parser = parse_spin_budget)]
    pub spin_budget: Option<Duration>,

    /// Testing aid: misbehave on purpose (no-ready, exit@N, flip@N:OFFSET, bad-length@N).
    #[arg(long, hide = true, value_parser = parse_fault)]
    pub fault: Option<Fault>,
}

impl ServerArgs {
    /// The command line that serves `kind` at `endpoint`.
    pub fn new(
        kind: TransportKind,
        endpoint: &Endpoint,
        timeout: Duration,
        fault: Option<Fault>,
    ) -> Result<ServerArgs, TransportError> {
        let mut args = ServerArgs {
            server: true,
            transport: kind,
            channel: None,
            endpoint: None,
            listen: None,
            fds: None,
            buffer_size: None,
            max_size: None,
            timeout,
            cpu: None,
            spin_budget: None,
            fault,
        };
        match endpoint {
            Endpoint::ShmChannel {
                channel,
                buffer_size,
            } => (args.channel, args.buffer_size) = (Some(channel.clone()), Some(*buffer_size)),
            Endpoint::SocketFile { path, buffer_size } => {
                let scheme = kind.socket_scheme().unwrap_or_default();
                let url = format!("{scheme}{}", checked_path(path)?);
                (args.endpoint, args.buffer_size) = (Some(url), Some(*buffer_size));
            }
            Endpoint::Tcp { addr, buffer_size } => {
                args.buffer_size = Some(*buffer_size);
                match kind.addressing() {
                    Addressing::Tcp {
                        scheme: Some(scheme),
                    } => args.endpoint = Some(format!("{scheme}{addr}")),
                    _ => args.listen = Some(addr.to_string()),
                }
            }
            Endpoint::Pipes { fds, buffer_size } => {
                (args.fds, args.buffer_size) = (Some(*fds), Some(*buffer_size));
            }
        }
        Ok(args)
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

    /// The arguments, without the program name, that parse back into `self`.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--server".to_string(),
            "--transport".into(),
            self.transport.name().into(),
        ];
        if let Some(channel) = &self.channel {
            args.extend(["--channel".into(), channel.clone()]);
        }
        if let Some(endpoint) = &self.endpoint {
            args.extend(["--endpoint".into(), endpoint.clone()]);
        }
        if let Some(listen) = &self.listen {
            args.extend(["--listen".into(), listen.clone()]);
        }
        if let Some(fds) = self.fds {
            args.extend(["--fds".into(), fds.to_string()]);
        }
        if let Some(buffer_size) = self.buffer_size {
            args.extend(["--buffer-size".into(), buffer_size.to_string()]);
        }
        if let Some(max_size) = self.max_size {
            args.extend(["--max-size".into(), max_size.to_string()]);
        }
        args.extend([
            "--timeout".into(),
            humantime::format_duration(self.timeout).to_string(),
        ]);
        if let Some(cpu) = self.cpu {
            args.extend(["--cpu".into(), cpu.to_string()]);
        }
        if let Some(budget) = self.spin_budget {
            let budget = humantime::format_duration(budget).to_string();
            args.extend(["--spin-budget".into(), budget]);
        }
        if let Some(fault) = self.fault {
            args.extend(["--fault".into(), fault.to_string()]);
        }
        args
    }
}

/// Whether a command line asks for server mode (which has a command line of its own).
pub fn is_server_mode(args: &[std::ffi::OsString]) -> bool {
    args.iter().skip(1).any(|arg| arg == "--server")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::transport::{
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
            assert_eq!(parse(&args.to_args()), args);
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
    fn benchmark_options_are_not_server_options() {
        let argv = ["tb", "--server", "--transport", "shm-posix", "--sizes", "5"];
        let error = ServerArgs::try_parse_from(argv).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
