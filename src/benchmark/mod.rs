//! Running the benchmark: for each (size, transport) case and run, a fresh server process, a
//! warm-up, the timed round trips, and an orderly teardown. Data flows one way:
//! options → cases → measurements → [`result::Report`] → table and exports.

pub mod clock;
pub mod measure;
pub mod result;
pub mod stats;

use std::process::ExitCode;
use std::time::Duration;

use crate::driver::ServerProcess;
use crate::export::ExportSet;
use crate::naming::RunNames;
use crate::options::Options;
use crate::output;
use crate::output::progress::CaseProgress;
use crate::size::{format_bytes, MessageSize};
use crate::transport::{TransportError, TransportKind, TransportOptions};
use crate::{cleanup, machine, signals};

use measure::{EchoBuffers, MeasureConfig, MeasureError, RunMeasurement};
use result::{CaseTally, Config, Report, Status};

/// How long a server whose case failed gets to exit on SIGTERM before it is killed.
const TEARDOWN_GRACE: Duration = Duration::from_secs(1);

/// Runs the whole benchmark and returns the exit code: 0 all ok, 1 a case or an export failed,
/// 128 + signal number when interrupted.
pub fn run(options: &Options) -> ExitCode {
    if let Err(e) = signals::install() {
        eprintln!("error: installing signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    let mut report = Report {
        tool: "transport-bench",
        version: env!("CARGO_PKG_VERSION"),
        config: Config {
            iterations: options.iterations,
            warmup: options.warmup,
            runs: options.runs,
            buffer_size: options.buffer_size,
            timeout_s: options.timeout.as_secs_f64(),
            transports: options.transports.clone(),
            sizes: options.sizes.iter().map(|s| s.bytes).collect(),
            baseline: options.baseline,
            verify_all: options.verify_all,
        },
        machine: machine::describe(),
        clock_overhead_ns: clock::clock_overhead_ns(),
        state: "running".into(),
        results: Vec::new(),
    };
    let exports = ExportSet::new(&options.exports);
    // Writing once before any server starts turns an unwritable path into a usage error.
    if let Err(e) = exports.write(&report) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }

    output::print_header(&report);
    let removed = cleanup::remove_all(&cleanup::stale_objects(&std::env::temp_dir()));
    output::print_cleanup(&removed);

    let mut names = RunNames::new();
    let mut export_failed = false;
    'sizes: for size in &options.sizes {
        output::print_section(&size.title(), size.bytes);
        for (index, &transport) in options.transports.iter().enumerate() {
            if signals::received().is_some() {
                break 'sizes;
            }
            let label = |run: u32| {
                let runs = if options.runs > 1 {
                    format!(" (run {run}/{})", options.runs)
                } else {
                    String::new()
                };
                format!(
                    "[{}/{}] Running {} benchmark{runs}...",
                    index + 1,
                    options.transports.len(),
                    transport.display_name()
                )
            };
            let result = run_case(options, *size, transport, &mut names, label);
            report.results.push(result);
            if let Err(e) = exports.write(&report) {
                eprintln!("error: {e}");
                export_failed = true;
            }
        }
    }

    let interrupted_by = signals::received();
    report.state = match interrupted_by {
        Some(signal) => format!("interrupted by {}", signal.as_str()),
        None => "complete".into(),
    };
    if let Err(e) = exports.write(&report) {
        eprintln!("error: {e}");
        export_failed = true;
    }
    output::print_summary(&report, interrupted_by.map(|s| s.as_str()));
    match interrupted_by {
        Some(signal) => ExitCode::from(signals::exit_code(signal)),
        None if report.any_failed() || export_failed => ExitCode::FAILURE,
        None => ExitCode::SUCCESS,
    }
}

/// All runs of one case.
fn run_case(
    options: &Options,
    size: MessageSize,
    transport: TransportKind,
    names: &mut RunNames,
    label: impl Fn(u32) -> String,
) -> result::BenchmarkResult {
    let mut tally = CaseTally::new();
    let mut status = Status::Ok;
    let mut error = None;
    for run in 1..=options.runs {
        let mut progress = CaseProgress::start(label(run), options.iterations);
        let (measurement, failure) = run_once(options, size, transport, names, &mut progress);
        if let Some(m) = &measurement {
            tally.latencies.merge(&m.latencies);
            tally.total_s += m.elapsed.as_secs_f64();
            tally.progress_s += m.progress_time.as_secs_f64();
        }
        match failure {
            None => {
                let m = measurement.as_ref();
                let stats = m.and_then(|m| m.latencies.stats());
                tally.run_means_ns.push(stats.map_or(0.0, |s| s.mean_ns));
                let detail = stats.as_ref().map_or(String::new(), output::case_detail);
                progress.finish_ok(m.map_or(Duration::ZERO, |m| m.elapsed), &detail);
            }
            Some(CaseFailure::Interrupted) => {
                let signal = signals::received().map_or("signal", |s| s.as_str());
                progress.finish_interrupted(signal);
                status = Status::Interrupted;
                break;
            }
            Some(CaseFailure::Failed(cause)) => {
                progress.finish_failed(
                    transport.display_name(),
                    &format!("{cause} ({} messages)", format_bytes(size.bytes)),
                );
                status = Status::Failed;
                error = Some(cause);
                break;
            }
        }
    }
    let result = tally.into_result(transport, size.bytes, status, error);
    if let Some(line) = output::runs_line(&result) {
        println!("{}{line}", output::progress::INDENT);
    }
    result
}

enum CaseFailure {
    Interrupted,
    Failed(String),
}

impl From<MeasureError> for CaseFailure {
    fn from(e: MeasureError) -> CaseFailure {
        if e.is_interrupt() {
            CaseFailure::Interrupted
        } else {
            CaseFailure::Failed(e.to_string())
        }
    }
}

impl From<TransportError> for CaseFailure {
    fn from(e: TransportError) -> CaseFailure {
        MeasureError::from(e).into()
    }
}

/// One run: a fresh server, warm-up, timed loop, teardown. Returns what was measured (if the
/// timed loop started) and why the run ended early, if it did.
fn run_once(
    options: &Options,
    size: MessageSize,
    transport: TransportKind,
    names: &mut RunNames,
    progress: &mut CaseProgress,
) -> (Option<RunMeasurement>, Option<CaseFailure>) {
    let lease = match names.next_endpoint(transport, options.buffer_size) {
        Ok(lease) => lease,
        Err(e) => {
            let cause = format!("cannot create a private directory for the endpoint: {e}");
            return (None, Some(CaseFailure::Failed(cause)));
        }
    };
    let fault = options
        .injected_fault
        .as_ref()
        .filter(|(kind, _)| *kind == transport)
        .map(|(_, fault)| fault.as_str());
    let server = match ServerProcess::spawn(transport, &lease.endpoint, options.timeout, fault) {
        Ok(server) => server,
        Err(cause) => return (None, Some(CaseFailure::Failed(cause))),
    };

    let (measurement, mut failure) = exercise(options, size, transport, &lease, &server, progress);

    // Teardown. A healthy server is asked to stop and must exit 0; otherwise dropping it kills
    // and reaps it. Either way, anything left at the endpoint is removed and, after a clean
    // exit, reported: a server that leaks objects is a bug worth failing for.
    let clean_exit = match failure {
        None => match server.stop(options.timeout) {
            Ok(()) => true,
            Err(cause) => {
                failure = Some(CaseFailure::Failed(cause));
                false
            }
        },
        Some(_) => {
            // Give it a moment to clean up after itself; dropping it kills whatever remains.
            let _ = server.stop(TEARDOWN_GRACE);
            false
        }
    };
    let leftovers = lease.endpoint.remove_leftovers();
    if clean_exit && !leftovers.is_empty() {
        failure = Some(CaseFailure::Failed(format!(
            "the server exited but left {} behind",
            leftovers.join(", ")
        )));
    }
    (measurement, failure)
}

/// Waits for READY, connects, warms up and measures.
fn exercise(
    options: &Options,
    size: MessageSize,
    transport: TransportKind,
    lease: &crate::naming::EndpointLease,
    server: &ServerProcess,
    progress: &mut CaseProgress,
) -> (Option<RunMeasurement>, Option<CaseFailure>) {
    let transport_options = TransportOptions {
        timeout: options.timeout,
    };
    let connected = server
        .wait_ready(options.timeout)
        .and_then(|()| transport.connect(&lease.endpoint, transport_options, server.watch()));
    let mut client = match connected {
        Ok(client) => client,
        Err(e) => return (None, Some(e.into())),
    };
    let config = MeasureConfig {
        warmup: options.warmup,
        iterations: options.iterations,
        verify_all: options.verify_all,
    };
    let capacity = crate::transport::payload_capacity(options.buffer_size);
    let mut buffers = EchoBuffers::new(size.bytes, capacity);
    if let Err(e) = measure::warm_up(client.as_mut(), &mut buffers, &config) {
        return (None, Some(e.into()));
    }
    let mut measurement = measure::timed_run(client.as_mut(), &mut buffers, &config, progress);
    let failure = measurement.error.take().map(CaseFailure::from);
    (Some(measurement), failure)
}
