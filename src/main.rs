//! The `transport-bench` binary: the command line is parsed and checked once, then the one mode
//! it asks for runs: a benchmark, a server, a cleanup, a plot of a saved report, a comparison,
//! or the shell completions or man page.

use std::process::ExitCode;

use transport_bench::benchmark::executor::ProcessExecutor;
use transport_bench::benchmark::external::ExternalExecutor;
use transport_bench::benchmark::scheduler::Scheduler;
use transport_bench::cli::generated;
use transport_bench::cli::options::{Mode, Options};
use transport_bench::export::events::Reporters;
use transport_bench::export::{replot, ExportSet};
use transport_bench::output::console::Console;
use transport_bench::output::terminal::TerminalReporter;
use transport_bench::peer::{cleanup, server};
use transport_bench::system::{signals, stdout};
use transport_bench::{benchmark, compare};

/// std's runtime opens `/dev/null` on a closed descriptor 1 before `main`; this ELF
/// constructor runs before it, so that a write to a closed standard output (`>&-`) is told
/// as the failure it is (see [`stdout`]).
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STDOUT: extern "C" fn() = stdout::note_if_closed;

fn main() -> ExitCode {
    // Parse and validate (bad usage exits 2 here, before anything starts), then run one mode.
    let code = match Mode::from_args(std::env::args_os().collect()) {
        Mode::Benchmark(options) => run_benchmark(&options),
        Mode::Server(options) => server::run(&options),
        Mode::Client(args) => benchmark::client_mode::run(&args),
        Mode::Cleanup(scope) => cleanup::run(&scope),
        Mode::Plot(request) => replot::run(&request),
        Mode::Compare(request) => compare::run(&request),
        Mode::Completions(shell) => generated::print_completions(shell),
        Mode::Man(out_dir) => generated::man(out_dir.as_deref()),
    };
    // A write to standard output that failed (a full disk, a closed descriptor) fails the run.
    stdout::finish(code)
}

/// Exit codes: 0 all ok, 1 a case or an export failed, 2 an export path cannot be written,
/// 128 + the signal's number when interrupted.
fn run_benchmark(options: &Options) -> ExitCode {
    if let Err(e) = signals::install() {
        eprintln!("error: installing signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    let report = benchmark::new_report(options);
    let finished = match &options.connect {
        Some(peer) => {
            let executor = ExternalExecutor::new(options, peer);
            Scheduler::new(options, executor, reporters(options), report).run()
        }
        None => match ProcessExecutor::new(options) {
            Ok(executor) => Scheduler::new(options, executor, reporters(options), report).run(),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    match finished {
        Ok(outcome) => {
            if outcome.measured_nothing() {
                eprintln!("error: no case was measured: every case was skipped (see the notes)");
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The exports first, so that a file that cannot be written stops the run before anything is
/// shown; then the terminal, on standard error when an export takes standard output.
fn reporters(options: &Options) -> Reporters {
    let console = if ExportSet::uses_stdout(&options.exports) {
        Console::Stderr
    } else {
        Console::Stdout
    };
    Reporters::new(vec![
        Box::new(ExportSet::new(&options.exports)),
        Box::new(TerminalReporter::new(console, options.verbose)),
    ])
}
