//! Turns the parsed command line into one validated [`Mode`]. Validation happens here, once;
//! everything downstream trusts these values. A bad combination exits with clap's usage error
//! (code 2) before anything is started.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::CommandFactory;

use crate::cleanup::CleanupScope;
use crate::cli::{Cli, Command};
use crate::server::ServerOptions;
use crate::size::MessageSize;
use crate::transport::{validate_channel, ChannelName, Endpoint, TransportKind, HEADER_LEN};

/// The buffer size the seed benchmark used, and our minimum default.
pub const DEFAULT_BUFFER_SIZE: usize = 2_500_000;

pub enum Mode {
    Benchmark(Options),
    Server(ServerOptions),
    Cleanup(CleanupScope),
}

/// A validated benchmark configuration.
#[derive(Debug, Clone)]
pub struct Options {
    pub iterations: u64,
    pub warmup: u64,
    pub runs: u32,
    pub sizes: Vec<MessageSize>,
    pub transports: Vec<TransportKind>,
    pub buffer_size: usize,
    pub timeout: Duration,
    pub baseline: TransportKind,
    pub verify_all: bool,
    pub exports: Exports,
    pub injected_fault: Option<(TransportKind, String)>,
}

/// Where to write results, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub plot: Option<PathBuf>,
}

fn usage_error(kind: ErrorKind, message: String) -> ! {
    Cli::command().error(kind, message).exit()
}

impl Mode {
    /// Validates `cli`; on a bad value prints a usage error and exits 2.
    pub fn from_cli(cli: Cli) -> Mode {
        if let Some(Command::Cleanup { channel, all }) = cli.command {
            return Mode::Cleanup(match (channel, all) {
                (_, true) => CleanupScope::All,
                (Some(channel), false) => match ChannelName::new(&channel) {
                    Ok(channel) => CleanupScope::Channel(channel),
                    Err(e) => usage_error(ErrorKind::ValueValidation, format!("--channel: {e}")),
                },
                (None, false) => CleanupScope::Stale,
            });
        }
        if cli.server.server {
            return Mode::Server(server_options(cli));
        }
        Mode::Benchmark(benchmark_options(cli))
    }
}

fn server_options(cli: Cli) -> ServerOptions {
    let args = cli.server;
    let Some(transport) = args.transport else {
        usage_error(
            ErrorKind::MissingRequiredArgument,
            "--server needs --transport".into(),
        );
    };
    let buffer_size = cli.bench.buffer_size.unwrap_or(DEFAULT_BUFFER_SIZE);
    if buffer_size <= HEADER_LEN {
        usage_error(
            ErrorKind::ValueValidation,
            format!("--buffer-size must be more than {HEADER_LEN} bytes"),
        );
    }
    let endpoint = match transport.socket_scheme() {
        None => {
            let Some(channel) = args.channel else {
                usage_error(
                    ErrorKind::MissingRequiredArgument,
                    format!(
                        "--server --transport {} needs --channel NAME",
                        transport.name()
                    ),
                );
            };
            if let Err(e) = validate_channel(&channel) {
                usage_error(ErrorKind::ValueValidation, format!("--channel: {e}"));
            }
            Endpoint::ShmChannel {
                channel,
                buffer_size,
            }
        }
        Some(scheme) => {
            let path = args
                .endpoint
                .as_deref()
                .and_then(|e| e.strip_prefix(scheme))
                .filter(|p| !p.is_empty());
            let Some(path) = path else {
                usage_error(
                    ErrorKind::MissingRequiredArgument,
                    format!(
                        "--server --transport {} needs --endpoint {scheme}PATH",
                        transport.name()
                    ),
                );
            };
            Endpoint::SocketFile {
                path: path.into(),
                buffer_size,
            }
        }
    };
    ServerOptions {
        transport,
        endpoint,
        timeout: cli.bench.timeout,
        fault: args.fault,
    }
}

fn benchmark_options(cli: Cli) -> Options {
    let args = cli.bench;
    let sizes = args
        .sizes
        .map(|list| list.0)
        .unwrap_or_else(MessageSize::named_defaults);
    let transports = args
        .transports
        .map(|list| list.0)
        .unwrap_or_else(|| TransportKind::DEFAULT.to_vec());
    let largest = sizes.iter().map(|s| s.bytes).max().unwrap_or(0);
    let needed = largest + HEADER_LEN;
    let buffer_size = match args.buffer_size {
        Some(b) if b < needed => usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--buffer-size {b} is too small: the largest message ({largest} bytes) needs {needed} (a {HEADER_LEN}-byte header plus the payload)"
            ),
        ),
        Some(b) => b,
        None => DEFAULT_BUFFER_SIZE.max(needed),
    };
    let baseline = match args.baseline {
        Some(b) if !transports.contains(&b) => usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--baseline {} is not among the transports being run",
                b.name()
            ),
        ),
        Some(b) => b,
        None if transports.contains(&TransportKind::ShmPosix) => TransportKind::ShmPosix,
        None => transports[0],
    };
    let exports = Exports {
        json: args.export_json,
        csv: args.export_csv,
        markdown: args.export_markdown,
        plot: args.plot,
    };
    Options {
        iterations: args.iterations,
        warmup: args.warmup,
        runs: args.runs,
        sizes,
        transports,
        buffer_size,
        timeout: args.timeout,
        baseline,
        verify_all: args.verify_all,
        exports,
        injected_fault: args.inject_server_fault,
    }
}
