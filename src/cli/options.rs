//! Turns the parsed command line into one validated [`Mode`]. Validation happens here, once;
//! everything downstream trusts these values. A bad combination exits with clap's usage error
//! (code 2) before anything is started.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use clap_complete::Shell;

use crate::cli::memory::{check_room, MachineRoom, NoRoom, RoomRefusal, RunShape};
use crate::cli::{BenchArgs, Cli, Command};
use crate::compare::gate::GatePolicy;
use crate::compare::CompareRequest;
use crate::export::replot::PlotRequest;
use crate::export::target::{Destination, STDOUT_PATH};
use crate::export::{conflicts, ExportSet, Exports};
use crate::peer::cleanup::CleanupScope;
use crate::peer::client_args::{is_client_mode, ClientArgs, ClientFault};
use crate::peer::external::ExternalPeer;
use crate::peer::server::{Fault, ServerOptions};
use crate::peer::server_args::{is_server_mode, ServerArgs};
use crate::report::saved::STDIN_PATH;
use crate::report::size::MessageSize;
use crate::system::placement::{PinMode, Pinning};
use crate::transport::kinds::shm_posix;
use crate::transport::registry::spinning_transport_names;
use crate::transport::{
    registry, ChannelName, Pattern, TransportKind, TransportOptions, Workload, HEADER_LEN,
};
use crate::values::{
    ConfidenceTarget, Runs, DEFAULT_BUFFER_SIZE, DEFAULT_CI_TARGET_PCT, DEFAULT_MAX_RUNS,
    DEFAULT_MIN_RUNS,
};

/// What the program was asked to do.
pub enum Mode {
    Benchmark(Box<Options>),
    Server(ServerOptions),
    /// A client process of the driver's (hidden): one run of one pair.
    Client(Box<ClientArgs>),
    Cleanup(CleanupScope),
    /// Draw the plot of a saved report.
    Plot(PlotRequest),
    /// Compare two saved reports.
    Compare(CompareRequest),
    /// Print the completion script of a shell.
    Completions(Shell),
    /// Print the man page, or write every page into a directory.
    Man(Option<PathBuf>),
}

/// A validated benchmark configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Timed round trips per run, unless `duration` bounds the runs instead.
    pub iterations: u64,
    /// `--duration`: each run's timed loop lasts this long, whatever it counts.
    pub duration: Option<Duration>,
    pub warmup: u64,
    /// Runs per case; with `--runs auto`, the most (`--max-runs`).
    pub runs: u32,
    /// `--runs auto`: a case stops repeating once its mean is known this well.
    pub until_confident: Option<ConfidenceTarget>,
    pub sizes: Vec<MessageSize>,
    pub transports: Vec<TransportKind>,
    pub buffer_size: usize,
    pub timeout: Duration,
    pub baseline: TransportKind,
    pub verify_all: bool,
    pub exports: Exports,
    /// `--label`: free text recorded in the JSON report's provenance.
    pub label: Option<String>,
    /// `--record-hostname`: the host's name goes into the JSON report's provenance.
    pub record_hostname: bool,
    pub injected_fault: Option<(TransportKind, Fault)>,
    /// `--inject-client-fault`: the client processes of one transport die on purpose.
    pub injected_client_fault: Option<(TransportKind, ClientFault)>,
    /// The CPUs of driver and server, when pinned.
    pub pin: Option<Pinning>,
    /// Paced mode: one request every `interval`, instead of back to back.
    pub interval: Option<Duration>,
    /// `--spin-budget`, for the transports that spin; None: each one's default.
    pub spin_budget: Option<Duration>,
    /// `--connect`: the running server to measure, instead of spawned ones.
    pub connect: Option<ExternalPeer>,
    /// What each case measures (`--pattern` with `--in-flight`).
    pub workload: Workload,
    /// `--ring-depth`: a stream's ring, for the transports that keep one; None: their default.
    pub ring_depth: Option<usize>,
    /// `--pairs`: client/server pairs measured at once.
    pub pairs: usize,
    /// The cases the machine has no room for (checked before anything starts): skipped with
    /// the reason.
    pub refused_for_room: Vec<RoomRefusal>,
    /// `--verbose`: the header shows every fact read of the machine.
    pub verbose: bool,
}

impl Options {
    /// Why the machine has no room for `transport` at `size_bytes`, if it has none.
    pub fn room_refusal(&self, size_bytes: usize, transport: TransportKind) -> Option<&NoRoom> {
        (self.refused_for_room.iter())
            .find(|refusal| refusal.size_bytes == size_bytes && refusal.transport == transport)
            .map(|refusal| &refusal.reason)
    }

    /// What a client of `kind` is given: `--timeout`, and `--spin-budget` where `kind` spins
    /// (its own default when not given); a spawned server gets the same budget.
    pub fn transport_options(&self, kind: TransportKind) -> TransportOptions {
        TransportOptions {
            timeout: self.timeout,
            spin_budget: kind.spin_budget(self.spin_budget),
            pattern: self.workload.pattern().on_the_transport(),
            ring_depth: self.ring_depth,
            in_flight: self.workload.in_flight(),
        }
    }
}

fn usage_error(kind: ErrorKind, message: String) -> ! {
    Cli::command().error(kind, message).exit()
}

impl Mode {
    /// Parses and validates the command line `args` (program name first); on bad input prints
    /// a usage error and exits 2, before anything is started. Server mode has a command line
    /// of its own, so benchmark options given to a server are usage errors.
    pub fn from_args(args: Vec<OsString>) -> Mode {
        if is_client_mode(&args) {
            match ClientArgs::from_args(&args) {
                Ok(client) => return Mode::Client(Box::new(client)),
                Err(e) => usage_error(ErrorKind::ValueValidation, e.to_string()),
            }
        }
        if is_server_mode(&args) {
            return Mode::Server(ServerArgs::parse_from(args).into_options());
        }
        let cli = Cli::parse_from(args);
        if let Some(Command::Plot { report, out }) = &cli.command {
            if let Err(e) = check_svg_name("--out", out) {
                plot_usage_error(e.to_string());
            }
            return Mode::Plot(PlotRequest {
                report: report.clone(),
                out: out.clone(),
            });
        }
        if let Some(request) = cli.command.as_ref().and_then(compare_request) {
            return Mode::Compare(request);
        }
        match &cli.command {
            Some(Command::Completions { shell }) => return Mode::Completions(*shell),
            Some(Command::Man { out_dir }) => return Mode::Man(out_dir.clone()),
            _ => {}
        }
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
        Mode::Benchmark(Box::new(benchmark_options(cli)))
    }
}

/// `compare`'s request, checked, if `command` is `compare`.
fn compare_request(command: &Command) -> Option<CompareRequest> {
    let Command::Compare {
        base,
        new,
        fail_above,
        allow_missing,
        allow_unassessable,
    } = command
    else {
        return None;
    };
    if base == new && base == Path::new(STDIN_PATH) {
        usage_error(
            ErrorKind::ArgumentConflict,
            "BASE and NEW are both - (standard input), which holds one report; name a file for one of them".into(),
        );
    }
    Some(CompareRequest {
        base: base.clone(),
        new: new.clone(),
        gate: fail_above.map(|threshold_pct| GatePolicy {
            threshold_pct,
            allow_missing: *allow_missing,
            allow_unassessable: *allow_unassessable,
        }),
    })
}

fn benchmark_options(cli: Cli) -> Options {
    let args = cli.bench;
    let transports = match &args.connect {
        Some(peer) => connect_transports(peer, &args),
        None => args
            .transports
            .clone()
            .map(|list| list.0)
            .unwrap_or_else(|| registry::DEFAULT_TRANSPORTS.to_vec()),
    };
    let (runs, until_confident) = runs(&args);
    let workload = workload(&args);
    let exports = exports(&args);
    let sizes = args
        .sizes
        .map(|list| list.0)
        .unwrap_or_else(MessageSize::named_defaults);
    check_round_trip_count(args.warmup, args.iterations);
    check_spin_budget(args.spin_budget, &transports, args.timeout);
    if let Some(peer) = &args.connect {
        check_one_client_server(peer, runs, sizes.len());
        check_one_way_peer(peer, workload);
    }
    if args.pairs > 1 && args.connect.is_some() {
        usage_error(
            ErrorKind::ArgumentConflict,
            "--pairs starts a server per pair; --connect measures one running server".into(),
        );
    }
    let options = Options {
        iterations: args.iterations,
        duration: args.duration,
        warmup: args.warmup,
        runs,
        until_confident,
        buffer_size: buffer_size(args.buffer_size, &sizes),
        baseline: baseline(args.baseline, &transports),
        sizes,
        transports,
        timeout: args.timeout,
        verify_all: args.verify_all,
        exports,
        label: args.label,
        record_hostname: args.record_hostname,
        injected_fault: args.inject_server_fault,
        injected_client_fault: args.inject_client_fault,
        interval: args.interval,
        spin_budget: args.spin_budget,
        workload,
        ring_depth: args.ring_depth,
        pairs: args.pairs as usize,
        connect: args.connect,
        refused_for_room: Vec::new(),
        verbose: args.verbose,
        pin: resolved_pin(&args.pin),
    };
    with_room_checked(options)
}

/// The CPUs `--pin` names, on this machine; a usage error when it has not got them.
fn resolved_pin(pin: &PinMode) -> Option<Pinning> {
    pin.resolve()
        .unwrap_or_else(|e| usage_error(ErrorKind::ValueValidation, format!("--pin {pin}: {e}")))
}

/// `options` with the cases the machine has no room for, which the scheduler skips; a usage
/// error when it has room for none of them.
fn with_room_checked(options: Options) -> Options {
    let run = RunShape {
        sizes: &options.sizes,
        transports: &options.transports,
        buffer_size: options.buffer_size,
        workload: options.workload,
        ring_depth: options.ring_depth,
        pairs: options.pairs,
        external_server: options.connect.is_some(),
        transport_options: &|kind| options.transport_options(kind),
    };
    match check_room(&run, &MachineRoom::now()) {
        Ok(refusals) => Options {
            refused_for_room: refusals,
            ..options
        },
        Err(refusal) => usage_error(ErrorKind::ValueValidation, refusal.to_string()),
    }
}

/// How many runs each case gets: `--runs N`, or with `--runs auto` the most of them and the
/// target that stops them sooner. The options of `auto` are usage errors without it, and its
/// fewest runs may not be more than its most.
fn runs(args: &BenchArgs) -> (u32, Option<ConfidenceTarget>) {
    let runs = match args.runs {
        Runs::Fixed(runs) => runs,
        Runs::Auto => return auto_runs(args),
    };
    let given = [
        ("--ci-target", args.ci_target.is_some()),
        ("--min-runs", args.min_runs.is_some()),
        ("--max-runs", args.max_runs.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        usage_error(
            ErrorKind::ArgumentConflict,
            format!("{flag} goes with --runs auto; --runs {runs} repeats each case {runs} times"),
        );
    }
    (runs, None)
}

/// `--runs auto`'s most runs and its target.
fn auto_runs(args: &BenchArgs) -> (u32, Option<ConfidenceTarget>) {
    let target = ConfidenceTarget {
        target_pct: args.ci_target.unwrap_or(DEFAULT_CI_TARGET_PCT),
        min_runs: args.min_runs.unwrap_or(DEFAULT_MIN_RUNS),
        max_runs: args.max_runs.unwrap_or(DEFAULT_MAX_RUNS),
    };
    if target.min_runs > target.max_runs {
        usage_error(
            ErrorKind::ArgumentConflict,
            format!(
                "--min-runs {} is more than --max-runs {}{}",
                target.min_runs,
                target.max_runs,
                match args.max_runs {
                    Some(_) => "",
                    None => " (the default)",
                }
            ),
        );
    }
    (target.max_runs, Some(target))
}

/// The one transport of `--connect`, which `--transports` may repeat but not contradict. The
/// server is not ours: faults cannot be injected into it, nor can it be pinned.
fn connect_transports(peer: &ExternalPeer, args: &BenchArgs) -> Vec<TransportKind> {
    let conflict = |option: &str, why: &str| -> ! {
        usage_error(
            ErrorKind::ArgumentConflict,
            format!("--connect {peer} cannot be combined with {option}: {why}"),
        )
    };
    if let Some(list) = &args.transports {
        if list.0 != [peer.transport] {
            let names: Vec<&str> = list.0.iter().map(|kind| kind.name()).collect();
            let given = format!("--transports {}", names.join(","));
            conflict(&given, "the external server speaks only its own transport");
        }
    }
    if args.inject_server_fault.is_some() {
        conflict(
            "--inject-server-fault",
            "the server is not ours to tamper with",
        );
    }
    if args.pin != PinMode::None {
        conflict(
            &format!("--pin {}", args.pin),
            "--pin places both processes, and the server is not ours to place",
        );
    }
    vec![peer.transport]
}

/// A `--connect` server that serves one client (ipc-channel's one-shot rendezvous) can answer
/// one run of one case: each run connects anew, and the second would find nobody listening.
/// Refused before anything starts rather than failed after the first run.
fn check_one_client_server(peer: &ExternalPeer, runs: u32, sizes: usize) {
    if !peer.transport.serves_one_client() || (runs <= 1 && sizes <= 1) {
        return;
    }
    let asked = match (runs > 1, sizes > 1) {
        (true, true) => format!("{runs} runs of each of {sizes} sizes"),
        (true, false) => format!("{runs} runs (--runs)"),
        _ => format!("{sizes} sizes (--sizes)"),
    };
    usage_error(
        ErrorKind::ArgumentConflict,
        format!(
            "--connect {peer}: a {} server serves one connection, and each run of each size \
             connects anew; {asked} would need more. Give one size and --runs 1, and start \
             the server again for the next",
            peer.transport.name()
        ),
    );
}

/// The buffer asked for, which must hold the largest message, or the default that does.
fn buffer_size(asked: Option<usize>, sizes: &[MessageSize]) -> usize {
    let largest = sizes.iter().map(|s| s.bytes).max().unwrap_or(0);
    // Sizes are at most MAX_MESSAGE_BYTES (checked when parsed), so this cannot overflow.
    let needed = largest + HEADER_LEN;
    match asked {
        Some(b) if b < needed => usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--buffer-size {b} is too small: the largest message ({largest} bytes) needs {needed} (a {HEADER_LEN}-byte header plus the payload)"
            ),
        ),
        Some(b) => b,
        None => DEFAULT_BUFFER_SIZE.max(needed),
    }
}

fn baseline(asked: Option<TransportKind>, transports: &[TransportKind]) -> TransportKind {
    match asked {
        Some(b) if !transports.contains(&b) => usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--baseline {} is not among the transports being run",
                b.name()
            ),
        ),
        Some(b) => b,
        None if transports.contains(&shm_posix::KIND) => shm_posix::KIND,
        None => transports[0],
    }
}

/// A plot file whose name does not say SVG.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {}: the plot is SVG; name the file *.svg", path.display())]
struct NotSvgName {
    flag: &'static str,
    path: PathBuf,
}

/// A plot is SVG, whatever its name: so its name must say so (or be `-`, standard output).
fn check_svg_name(flag: &'static str, path: &Path) -> Result<(), NotSvgName> {
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if svg || path == Path::new(STDOUT_PATH) {
        return Ok(());
    }
    Err(NotSvgName {
        flag,
        path: path.to_path_buf(),
    })
}

/// A usage error of the `plot` subcommand, with that subcommand's usage line.
fn plot_usage_error(message: String) -> ! {
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand_mut("plot") {
        Some(plot) => plot.error(ErrorKind::ValueValidation, message).exit(),
        None => usage_error(ErrorKind::ValueValidation, message),
    }
}

/// Two exports into one file would overwrite each other, and two writers of one stream
/// (standard output under any of its names) would interleave; an export onto a directory, or
/// the `.hgrm` directory onto a file, cannot be written: each is a usage error, found before
/// anything is made ([`conflicts`]).
fn check_exports(exports: &Exports) {
    if let Some(Err(e)) = exports.plot.as_ref().map(|p| check_svg_name("--plot", p)) {
        usage_error(ErrorKind::ValueValidation, e.to_string());
    }
    if let Err(conflict) = conflicts::check(exports) {
        usage_error(ErrorKind::ArgumentConflict, conflict.to_string());
    }
    check_console_stream(exports);
}

/// When an export takes standard output, people's output moves to standard error; an export
/// into standard error as well would have the two interleave. (Unless standard error is
/// standard output already, as on a terminal or after `2>&1`: the user joined them.)
fn check_console_stream(exports: &Exports) {
    let stderr = Destination::standard_error();
    if !ExportSet::uses_stdout(exports) || stderr == Destination::standard_output() {
        return;
    }
    let into_stderr = exports
        .paths()
        .find(|path| Some(Destination::of(path)) == stderr);
    if let Some(path) = into_stderr {
        usage_error(
            ErrorKind::ArgumentConflict,
            format!(
                "{} is standard error, where the progress and summary go when an export takes standard output; give the export a file of its own",
                path.display()
            ),
        );
    }
}

/// The exports asked for, checked.
fn exports(args: &BenchArgs) -> Exports {
    let exports = Exports {
        json: args.export_json.clone(),
        csv: args.export_csv.clone(),
        markdown: args.export_markdown.clone(),
        plot: args.plot.clone(),
        html: args.export_html.clone(),
        bencher: args.export_bencher.clone(),
        benchmark_action: args.export_benchmark_action.clone(),
        hgrm_dir: args.export_hgrm.clone(),
    };
    check_exports(&exports);
    exports
}

/// The workload of `--pattern` and `--in-flight`, checked against the options that go with
/// one workload only.
fn workload(args: &BenchArgs) -> Workload {
    check_pattern(args.pattern, args.interval, args.in_flight);
    if args.ring_depth.is_some() && args.pattern.on_the_transport() != Pattern::Stream {
        usage_error(
            ErrorKind::ArgumentConflict,
            "--ring-depth sizes a --pattern stream's ring (or a one-way run's); round trips use one slot per direction"
                .into(),
        );
    }
    Workload::new(args.pattern, args.in_flight as usize)
}

/// A stream runs back to back and one way: pacing and requests in flight are for round trips.
/// One-way latencies may be paced (light load), and keep no requests in flight either.
fn check_pattern(pattern: Pattern, interval: Option<Duration>, in_flight: u32) {
    if pattern == Pattern::Stream && interval.is_some() {
        usage_error(
            ErrorKind::ArgumentConflict,
            "--interval paces round trips; --pattern stream sends back to back".into(),
        );
    }
    if pattern.on_the_transport() == Pattern::Stream && in_flight > 1 {
        usage_error(
            ErrorKind::ArgumentConflict,
            format!("--in-flight keeps round trips outstanding; a --pattern {pattern} has no replies to wait for"),
        );
    }
}

/// One-way latencies subtract the client's clock from the server's, so both must read the same
/// `CLOCK_MONOTONIC`, and the server hands its histogram to the driver that started it. Of a
/// server this tool did not start the driver knows neither: a TCP address can be another host,
/// and so can a loopback port forwarded from one, and a server on this host can run in another
/// time namespace, whose `CLOCK_MONOTONIC` is offset. Refused, naming the reason.
fn check_one_way_peer(peer: &ExternalPeer, workload: Workload) {
    if workload == Workload::OneWay {
        usage_error(
            ErrorKind::ArgumentConflict,
            format!(
                "--pattern one-way cannot measure --connect {peer}: one-way latency compares the \
                 client's clock with the server's, and a server this tool did not start may run on \
                 another host (a different clock) and cannot hand its histogram to the driver; \
                 drop --connect to measure it against servers the tool starts on this host"
            ),
        );
    }
}

/// A spin budget needs a transport that spins, and must end well before a wait times out: the
/// spinning part of a wait does not look at the deadline.
fn check_spin_budget(asked: Option<Duration>, transports: &[TransportKind], timeout: Duration) {
    let Some(budget) = asked else { return };
    let text = humantime::format_duration(budget);
    if !transports.iter().any(|&kind| kind.spins()) {
        usage_error(
            ErrorKind::ArgumentConflict,
            format!(
                "--spin-budget {text}: none of the transports being run spins (it applies to {})",
                spinning_transport_names().join(", ")
            ),
        );
    }
    if budget >= timeout {
        usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--spin-budget {text} must be shorter than --timeout {}",
                humantime::format_duration(timeout)
            ),
        );
    }
}

/// Sequence numbers run from 1 through warm-up plus timed round trips, so their sum must be
/// a u64: a sum that wraps would leave a case with nothing to measure.
fn check_round_trip_count(warmup: u64, iterations: u64) {
    if warmup.checked_add(iterations).is_none() {
        usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--warmup {warmup} plus --iterations {iterations} is more than the {} round trips a sequence number counts",
                u64::MAX
            ),
        );
    }
}
