//! The benchmark's command line: clap derive structs whose doc comments are the help text
//! ([`Cli`], its [`BenchArgs`] and subcommands). Single values are parsed by
//! [`crate::values`], which server mode shares (clap names the flag and exits 2); [`options`] checks them together and turns them into one
//! validated [`options::Mode`], [`memory`] holds what its cases will take against what the
//! machine has. Server mode has a command line of its own,
//! [`crate::peer::server_args::ServerArgs`].

pub mod completion_values;
pub mod generated;
pub mod injected_fault;
pub mod manual;
pub mod memory;
pub mod options;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::peer::client_args::ClientFault;
use crate::peer::external::ExternalPeer;
use crate::peer::server::Fault;
use crate::system::placement::PinMode;
use crate::transport::{registry, Addressing, Pattern, TransportKind};
use crate::values::{
    parse_buffer_size, parse_ci_target, parse_in_flight, parse_interval, parse_min_runs,
    parse_pairs, parse_percent, parse_pin, parse_positive_u64, parse_ring_depth,
    parse_run_duration, parse_runs, parse_runs_arg, parse_size_list, parse_spin_budget,
    parse_timeout, parse_transport, parse_transport_list, parse_u64, Runs, SizeList, TransportList,
};
use completion_values::{
    parse_pattern, pattern_words, pin_words, size_list_words, transport_list_words,
    transport_names, Completing,
};
use injected_fault::{parse_injected_client_fault, parse_injected_fault};

#[derive(Debug, Parser)]
#[command(
    name = "transport-bench",
    version,
    about = "Measures round-trip latency and throughput of IPC transports between two processes",
    long_about = "Measures round-trip latency and throughput of IPC transports between two \
processes on this host. For every (message size, transport) case it starts itself as an echo \
server, sends fixed-size messages and times each full round trip (request + echo).",
    after_help = manual::after_help(),
    after_long_help = manual::after_long_help(),
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub bench: BenchArgs,
}

/// `--transports`' help: every transport the registry has, in its order, and its defaults.
fn transports_help() -> String {
    let names = |kinds: &[TransportKind]| -> Vec<&str> { kinds.iter().map(|k| k.name()).collect() };
    format!(
        "Transports to compare, comma-separated: {}, or all. [default: {}, the pair that shm-rpc-bridge's Python benchmark, which this tool \
         began as a port of, compares]",
        names(TransportKind::all()).join(", "),
        names(registry::DEFAULT_TRANSPORTS).join(",")
    )
}

/// `--transports`' long help (`--help`): the short help, then each transport with the one line
/// its spec says of it.
fn transports_long_help() -> String {
    let width = TransportKind::all()
        .iter()
        .map(|k| k.name().len())
        .max()
        .unwrap_or(0);
    let lines: Vec<String> = TransportKind::all()
        .iter()
        .map(|k| format!("  {:width$}  {}", k.name(), k.summary()))
        .collect();
    format!("{}\n{}", transports_help(), lines.join("\n"))
}

/// `--connect`'s help: the address of each transport in the registry that can be reached from
/// outside (all but those whose server inherits its pipes), as its addressing writes it.
fn connect_help() -> String {
    let forms: Vec<String> = (TransportKind::all().iter())
        .filter_map(|kind| {
            let address = match kind.addressing() {
                Addressing::Channel => "CHANNEL".to_string(),
                Addressing::SocketFile { scheme } => format!("[{scheme}]/PATH"),
                Addressing::Tcp {
                    scheme: Some(scheme),
                } => format!("[{scheme}]HOST:PORT"),
                Addressing::Tcp { scheme: None } => "HOST:PORT".to_string(),
                Addressing::InheritedPipes => return None,
            };
            Some(format!("{}:{address}", kind.name()))
        })
        .collect();
    format!(
        "Measure a server that is already running instead of spawning one, as \
         TRANSPORT:ADDRESS: {} (the scheme in brackets may be left out). Nothing of the \
         server's is created or removed.",
        forms.join(", ")
    )
}

/// `--spin-budget`'s help: what it does, then each spinning transport's default.
fn spin_budget_help() -> String {
    format!(
        "How long a waiting process spins before it sleeps (e.g. 0, 5us, 100us; at most 10ms): \
         a spinning transport polls the peer's signal (a sequence number, sem_trywait) before \
         its blocking wait. 0 always sleeps. Both processes use it. Only for the transports \
         that spin. [default: {}]",
        registry::spin_budget_defaults()
    )
}

// The headings `--help` groups the options under. An option without one of its own (a new
// export flag) falls under OUTPUT, the struct's heading.
const MEASURE: &str = "What to measure";
const HOW: &str = "How to measure";
const PLACEMENT: &str = "Placement";
const OUTPUT: &str = "Output and exports";
const PEERS: &str = "Peers";

#[derive(Debug, Args)]
#[command(next_help_heading = OUTPUT)]
pub struct BenchArgs {
    /// Timed round trips per case (and per run).
    #[arg(long, default_value = "50000", value_parser = parse_positive_u64, allow_negative_numbers = true)]
    #[arg(help_heading = MEASURE)]
    pub iterations: u64,

    /// Time-bounded runs instead of counted ones (e.g. 5s, 500ms; 1 ms to 24 h): each run's
    /// timed loop starts round trips (or sends a stream's messages) until DURATION has passed,
    /// and the report counts what was done. Not with --iterations.
    #[arg(long, value_name = "DURATION", value_parser = parse_run_duration, conflicts_with = "iterations")]
    #[arg(help_heading = MEASURE)]
    pub duration: Option<Duration>,

    /// Untimed round trips before the timed ones, each verified byte for byte.
    #[arg(long, default_value = "100", value_parser = parse_u64, allow_negative_numbers = true)]
    #[arg(help_heading = MEASURE)]
    pub warmup: u64,

    /// Message sizes, comma-separated: small (100 B), medium (10 KB), large (500 KB), big (2 MB),
    /// or byte counts such as 4096, 64KiB (binary) or 1MB (decimal); or sweep (every power of
    /// two from 64 B to 4 MiB). [default: all four names]
    #[arg(long, value_name = "LIST", value_parser = Completing::new(parse_size_list, size_list_words), hide_possible_values = true)]
    #[arg(help_heading = MEASURE)]
    pub sizes: Option<SizeList>,

    // The help lists the transports of the registry, and its defaults.
    #[arg(long, value_name = "LIST", value_parser = Completing::new(parse_transport_list, transport_list_words), hide_possible_values = true, help = transports_help(),
          long_help = transports_long_help())]
    #[arg(help_heading = MEASURE)]
    pub transports: Option<TransportList>,

    /// Shared-memory buffer size per direction (a 4-byte header plus the payload).
    /// [default: max(2500000, largest size + 4)]
    #[arg(long, value_name = "BYTES", value_parser = parse_buffer_size, allow_negative_numbers = true)]
    #[arg(help_heading = HOW)]
    pub buffer_size: Option<usize>,

    /// Longest any single wait may take before the case fails (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    #[arg(help_heading = HOW)]
    pub timeout: Duration,

    /// Where the two processes run: none (wherever the scheduler puts them), same (one CPU),
    /// split (two CPUs), or CPU numbers A,B (client on A, server on B).
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = Completing::new(parse_pin, pin_words), hide_possible_values = true)]
    #[arg(help_heading = PLACEMENT)]
    pub pin: PinMode,

    /// Paced mode: send one request every DURATION (e.g. 100us, 1ms) instead of back to back;
    /// latencies count from each request's intended send time.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    #[arg(help_heading = HOW)]
    pub interval: Option<Duration>,

    // The help names the transports that spin, and their defaults, from the registry.
    #[arg(long, value_name = "DURATION", value_parser = parse_spin_budget, help = spin_budget_help())]
    #[arg(help_heading = HOW)]
    pub spin_budget: Option<Duration>,

    /// What the two processes exchange: round-trip (a request and its echo, timed one by one),
    /// stream (messages one way, back to back, acknowledged at the end: messages/s) or one-way
    /// (the stream, each message's latency from its send to the server, on one clock).
    #[arg(long, value_name = "PATTERN", default_value = "round-trip", value_parser = Completing::new(parse_pattern, pattern_words), hide_possible_values = true)]
    #[arg(help_heading = MEASURE)]
    pub pattern: Pattern,

    /// Slots in the ring a stream of shm-spin or shm-zc runs ahead in (at most 4096).
    /// [default: 64, fewer for large messages: at most 64 MiB of slots]
    #[arg(long, value_name = "SLOTS", value_parser = parse_ring_depth, allow_negative_numbers = true)]
    #[arg(help_heading = HOW)]
    pub ring_depth: Option<usize>,

    /// Round trips the client keeps outstanding (at most 4096), each timed from its send to
    /// its own reply. Transports whose protocol holds one request (shm-posix's single slot)
    /// are skipped, with the reason. With --interval: requests leave on schedule, up to N
    /// outstanding.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_in_flight, allow_negative_numbers = true)]
    #[arg(help_heading = HOW)]
    pub in_flight: u32,

    /// Client/server pairs measured at once (at most 64), each with its own server process,
    /// endpoint and client thread: messages/s is their sum. --pin places pair i on CPUs 2i and
    /// 2i+1 (split) or on CPU i (same), sharing CPUs when there are too few.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_pairs, allow_negative_numbers = true)]
    #[arg(help_heading = PLACEMENT)]
    pub pairs: u32,

    /// Repeat each case this many times (at most 100), each with a fresh server process; or
    /// auto: until the 95% confidence interval of the mean of its run means is within
    /// --ci-target, from --min-runs to --max-runs runs.
    #[arg(long, value_name = "N|auto", default_value = "1", value_parser = parse_runs_arg, allow_negative_numbers = true)]
    #[arg(help_heading = HOW)]
    pub runs: Runs,

    /// With --runs auto: stop repeating a case once the 95% confidence interval of its mean is
    /// within ±PERCENT of the mean (above 0, at most 100). [default: 5]
    #[arg(long, value_name = "PERCENT", value_parser = parse_ci_target, allow_negative_numbers = true)]
    #[arg(help_heading = HOW)]
    pub ci_target: Option<f64>,

    /// With --runs auto: the fewest runs of each case (at least 2). [default: 3]
    #[arg(long, value_name = "N", value_parser = parse_min_runs, allow_negative_numbers = true)]
    #[arg(help_heading = HOW)]
    pub min_runs: Option<u32>,

    /// With --runs auto: the most runs of each case (at most 100). [default: 30]
    #[arg(long, value_name = "N", value_parser = parse_runs, allow_negative_numbers = true)]
    #[arg(help_heading = HOW)]
    pub max_runs: Option<u32>,

    /// The transport the relative column compares against. [default: shm-posix]
    #[arg(long, value_name = "TRANSPORT", value_parser = Completing::new(parse_transport, transport_names), hide_possible_values = true)]
    #[arg(help_heading = OUTPUT)]
    pub baseline: Option<TransportKind>,

    /// Say more: the header shows every setting of the machine that was read (each
    /// cpuidle-haltpoll parameter, the raw SMT state), not only those that matter.
    #[arg(long, short = 'v', help_heading = OUTPUT)]
    pub verbose: bool,

    /// Compare every echo byte for byte (slower: adds a memcmp per round trip outside the
    /// timed region). By default the length and sequence number of every echo are checked,
    /// and every byte during warm-up and on the last round trip.
    #[arg(long)]
    #[arg(help_heading = HOW)]
    pub verify_all: bool,

    /// Write all results as JSON.
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = OUTPUT)]
    pub export_json: Option<PathBuf>,

    /// Write one CSV row per case.
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = OUTPUT)]
    pub export_csv: Option<PathBuf>,

    /// Write the summary table as Markdown.
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = OUTPUT)]
    pub export_markdown: Option<PathBuf>,

    /// Draw latency and throughput against message size, and the latency spectrum of each
    /// size, as an SVG chart.
    #[arg(long, value_name = "FILE.svg")]
    #[arg(help_heading = OUTPUT)]
    pub plot: Option<PathBuf>,

    /// Write the whole report as one self-contained HTML page: the setup, the summary table,
    /// the plot, each case's latency spectrum and the warnings.
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = OUTPUT)]
    pub export_html: Option<PathBuf>,

    /// Write one HdrHistogram percentile distribution (.hgrm, in µs) per round-trip case into
    /// DIR, created if missing: TRANSPORT_SIZEB_PATTERN.hgrm.
    #[arg(long, value_name = "DIR")]
    #[arg(help_heading = OUTPUT)]
    pub export_hgrm: Option<PathBuf>,

    // Continuous benchmarking and provenance (issue 29): one block, kept together.
    /// Write each case's mean latency (ns) and throughput (per second) in the Bencher Metric
    /// Format, for `bencher run --adapter json --file FILE`.
    #[arg(long, value_name = "FILE")]
    pub export_bencher: Option<PathBuf>,

    /// Write each case's mean latency (ns) for github-action-benchmark's
    /// customSmallerIsBetter tool.
    #[arg(long, value_name = "FILE")]
    pub export_benchmark_action: Option<PathBuf>,

    /// Free text recorded in the JSON report's provenance (e.g. a CI job or a machine's role).
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Record this host's name in the JSON report's provenance (left out by default: a host
    /// name can be private).
    #[arg(long)]
    pub record_hostname: bool,

    // The help gives the address of every transport of the registry that can be reached.
    #[arg(long, value_name = "TRANSPORT:ADDRESS", help = connect_help())]
    #[arg(help_heading = PEERS)]
    pub connect: Option<ExternalPeer>,

    /// Testing aid: make the servers of one transport misbehave, as TRANSPORT:FAULT
    /// (faults: no-ready, exit@N, flip@N:OFFSET, bad-length@N).
    #[arg(long, hide = true, value_name = "TRANSPORT:FAULT", value_parser = parse_injected_fault)]
    pub inject_server_fault: Option<(TransportKind, Fault)>,

    /// Testing aid: make the client process of one transport (the first pair's) die once its
    /// timed run has begun, as TRANSPORT:FAULT (faults: abort, kill, bus).
    #[arg(long, hide = true, value_name = "TRANSPORT:FAULT", value_parser = parse_injected_client_fault)]
    pub inject_client_fault: Option<(TransportKind, ClientFault)>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Remove leftover IPC objects: by default those of transport-bench runs that are no longer
    /// alive.
    Cleanup {
        /// Remove the objects of one channel: /srb_<NAME>_* and the /<NAME>_req, /<NAME>_resp
        /// message queues.
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,

        /// Remove every /srb_* object on the machine, and every message queue named like a
        /// driver's where /dev/mqueue is mounted, including those of running programs.
        #[arg(long, conflicts_with = "channel")]
        all: bool,
    },
    /// Draw the SVG plot of --plot from a JSON report saved by --export-json, without running
    /// anything.
    Plot {
        /// The JSON report, as --export-json wrote it: a file, or - for standard input (a FIFO,
        /// a device or a directory is refused: pipe it in as -).
        #[arg(value_name = "REPORT.json")]
        report: PathBuf,

        /// Where to write the SVG (its name ends in .svg; - is standard output).
        #[arg(long, value_name = "FILE.svg")]
        out: PathBuf,
    },
    /// Compare two JSON reports saved by --export-json: the change of mean, p50 and p99 of
    /// every case in both, and whether it stands out from the noise (Welch's t-test on the run
    /// means, 95%, with --runs 3 or more on both sides).
    Compare {
        /// The earlier report, the reference: a file, or - for standard input.
        #[arg(value_name = "BASE.json")]
        base: PathBuf,

        /// The later report, compared against BASE: a file, or - for standard input.
        #[arg(value_name = "NEW.json")]
        new: PathBuf,

        /// Exit 1 when any case's mean got slower by more than PERCENT and the change stands
        /// out from the noise (a CI gate). The gate fails closed: a case of BASE that failed,
        /// was skipped or is missing in NEW, or whose change the test cannot judge (fewer than
        /// 3 runs a side), fails it too, named with the reason.
        #[arg(long, value_name = "PERCENT", value_parser = parse_percent, allow_negative_numbers = true)]
        fail_above: Option<f64>,

        /// With --fail-above: a case of BASE that NEW lacks or skipped does not fail the gate.
        #[arg(long, requires = "fail_above")]
        allow_missing: bool,

        /// With --fail-above: a change the test cannot judge (too few runs, no spread, a case
        /// BASE did not measure) does not fail the gate.
        #[arg(long, requires = "fail_above")]
        allow_unassessable: bool,
    },
    /// Print the completion script for SHELL on standard output (see the README for where
    /// each shell looks for it).
    Completions {
        /// The shell to complete in.
        #[arg(value_name = "SHELL")]
        shell: Shell,
    },
    /// Print the man page (roff) on standard output: `transport-bench man | man -l -`.
    Man {
        /// Write the page, and one per subcommand (transport-bench-plot.1, ...), into DIR
        /// instead: a man1 directory of the manual path.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every transport but one whose server inherits its pipes can be measured with
    /// `--connect`, and the help says how to write its address; the addresses it gives parse.
    #[test]
    fn the_connect_help_gives_every_reachable_transport_an_address() {
        let help = Cli::command().render_help().to_string();
        let unwrapped = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for kind in TransportKind::all() {
            let named = unwrapped.contains(&format!(" {}:", kind.name()));
            let reachable = kind.addressing() != Addressing::InheritedPipes;
            assert_eq!(named, reachable, "{kind:?}:\n{help}");
        }
        for example in [
            "shm-posix:CHANNEL",
            "zmq-ipc:[ipc://]/PATH",
            "tcp:HOST:PORT",
        ] {
            assert!(unwrapped.contains(example), "{example}:\n{help}");
        }
        let written = [
            "shm-posix:app",
            "zmq-ipc:ipc:///run/a.sock",
            "zmq-ipc:/run/a.sock",
        ];
        for text in written {
            assert!(text.parse::<ExternalPeer>().is_ok(), "{text}");
        }
    }

    #[test]
    fn the_transports_help_lists_the_registry_and_its_defaults() {
        // clap wraps the help: the names are looked for in it with its line breaks undone.
        let help = Cli::command().render_help().to_string();
        let unwrapped = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut every: Vec<&str> = TransportKind::all().iter().map(|k| k.name()).collect();
        every.push("or all");
        assert!(unwrapped.contains(&every.join(", ")), "{help}");
        let defaults: Vec<&str> = (registry::DEFAULT_TRANSPORTS.iter())
            .map(|k| k.name())
            .collect();
        let default = format!(
            "[default: {}, the pair that shm-rpc-bridge's",
            defaults.join(",")
        );
        assert!(unwrapped.contains(&default), "{help}");
        // Unwrapped (clap wraps at the terminal's width): a summary ends its line.
        let long = Cli::command().term_width(0).render_long_help().to_string();
        for kind in TransportKind::all() {
            let listed = long.lines().any(|line| {
                line.trim_start().starts_with(kind.name()) && line.ends_with(kind.summary())
            });
            assert!(listed, "{kind:?} missing from --help:\n{long}");
        }
    }
}
